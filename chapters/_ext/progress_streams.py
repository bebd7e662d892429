"""Book-build extension: show each text progress bar in its final state, as a terminal would.

myst-nb's ``nb_merge_streams`` joins a cell's stream outputs, but it ends every chunk with a
newline before it resolves carriage returns, so each update of a text progress bar (tqdm, as used
by ``seqnets.train.fit``) becomes a line of its own in the HTML. This replaces that merge with one
that joins the chunks exactly as they were written, then drops whatever a carriage return
overwrites. Written for myst-nb 1.x (pinned through jupyter-book 1.0.4.post1).
"""

from __future__ import annotations

import re

from myst_nb.core import render
from nbformat import NotebookNode

_OVERWRITTEN = re.compile(r"[^\n]*\r(?=[^\n])")  # text on a line that a later \r overwrites


def coalesce_streams(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Merge stream outputs by name (stdout, stderr), keeping each line's last state."""
    merged: list[NotebookNode] = []
    streams: dict[str, NotebookNode] = {}
    for output in outputs:
        if output["output_type"] != "stream":
            merged.append(output)
        elif output["name"] in streams:
            streams[output["name"]]["text"] += output["text"]
        else:
            streams[output["name"]] = NotebookNode(output)  # a copy: the cached notebook is untouched
            merged.append(streams[output["name"]])
    for stream in streams.values():
        stream["text"] = _OVERWRITTEN.sub("", stream["text"])
    return merged


def setup(app):
    render.coalesce_streams = coalesce_streams
    return {"parallel_read_safe": True, "parallel_write_safe": True}
