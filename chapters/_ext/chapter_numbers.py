"""Book-build extension: number equations, figures and exercises per chapter, as (8.3) in chapter 8.

Sphinx numbers them across the whole book unless the table of contents is numbered, and this
book's is not (each chapter's title carries its own number). After Sphinx has numbered them, this
renumbers each chapter's items of each kind 1, 2, 3, ... in Sphinx's own order, prefixed with the
chapter's number from its file name (``chapters/08_causal_convolutions`` -> 8,
``chapters/appendix_a_misconceptions`` -> A). References to them ({eq}, {numref}) and the
single-page build read the same numbers. Pages without a chapter number keep Sphinx's.
"""

from __future__ import annotations

import re

_CHAPTER = re.compile(r"(?:^|/)(?:(\d+)_|appendix_([a-z])_)[^/]*$")


def chapter_label(docname: str) -> str | None:
    """``"8"`` for ``chapters/08_x``, ``"A"`` for ``chapters/appendix_a_x``, else ``None``."""
    match = _CHAPTER.search(docname)
    if match is None:
        return None
    return str(int(match.group(1))) if match.group(1) else match.group(2).upper()


def renumber(app, env) -> list[str]:
    for docname, by_kind in env.toc_fignumbers.items():
        label = chapter_label(docname)
        if label is None:
            continue
        for kind, numbers in by_kind.items():
            in_order = sorted(numbers, key=numbers.__getitem__)
            by_kind[kind] = {node_id: (label, k) for k, node_id in enumerate(in_order, start=1)}
    return []


def setup(app):
    # after Sphinx's toctree collector (priority 500), which assigns the book-wide numbers
    app.connect("env-get-updated", renumber, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
