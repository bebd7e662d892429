"""Data: real series and images that installed packages carry, generated tasks, and loaders."""
