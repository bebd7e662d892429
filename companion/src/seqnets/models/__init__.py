"""Models, each named after the idea a chapter teaches."""
