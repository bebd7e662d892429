"""Book-build extension: the single-page HTML build that ``make pdf`` prints.

Sphinx gives a builder the node handlers registered under its own name, and falls back to those
of its format ("html") only when none are registered under its name. Some extensions register
handlers for "singlehtml", so that builder then lacks the ones registered for "html" alone
(myst-nb's hidden code cells, for one) and stops. This gives it the "html" handlers it lacks.
"""

from __future__ import annotations


def inherit_html_handlers(app) -> None:
    handlers = app.registry.translation_handlers
    if app.builder.name == "singlehtml" and "singlehtml" in handlers:
        for node, visit_depart in handlers.get("html", {}).items():
            handlers["singlehtml"].setdefault(node, visit_depart)


def setup(app):
    app.connect("builder-inited", inherit_html_handlers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
