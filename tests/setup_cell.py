"""The first code cell of every chapter: make ``import seqnets`` work outside the repository.

The book's download and launch buttons hand a reader one ``.ipynb`` (in their own Jupyter, on
Colab, on Binder), where the companion package may be missing. Each chapter's first code cell
therefore checks for it: on Colab or Binder it installs the companion from the book's repository
(``repository.url`` and ``branch`` in ``_config.yml``, the one place they are configured), with
its ``book`` extra (the other packages chapters import: pandas, scipy, hypothesis, nbval); on
anyone else's machine it says in one sentence how to install it, rather than changing their
environment unasked; inside the repository, where ``make`` installed it, it does nothing.

``python tests/setup_cell.py`` writes the cell into every chapter (after the repository moves, or
when a chapter is added); ``tests/test_setup_cell.py`` checks that every chapter has it, as
rendered from the current ``_config.yml``, and runs its logic in each situation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
CELL_ID = "setup-companion"
TEMPLATE = """\
# Outside the book's repository (Colab, Binder, a downloaded notebook) the
# companion package may be missing: install it there, or say how.
import importlib.util
import os
import subprocess
import sys

REPO = "{url}"
COMPANION = f"seqnets[book] @ git+{{REPO}}@{branch}#subdirectory=companion"
if importlib.util.find_spec("seqnets") is None:
    if "google.colab" in sys.modules or "BINDER_SERVICE_HOST" in os.environ:
        pip = [sys.executable, "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, COMPANION], check=True)
        importlib.invalidate_caches()
    else:
        raise ModuleNotFoundError(
            "this chapter needs the companion package seqnets: install it "
            f"with `pip install '{{COMPANION}}'`, then restart the kernel"
        )"""


def chapter_notebooks() -> list[Path]:
    """Every chapter and appendix notebook of the book."""
    return sorted((ROOT / "chapters").glob("*.ipynb"))


def render(config_path: Path = ROOT / "_config.yml") -> str:
    """The setup cell's source for the repository configured in ``config_path``."""
    repository = yaml.safe_load(config_path.read_text())["repository"]
    return TEMPLATE.format(url=repository["url"].rstrip("/"), branch=repository["branch"])


def first_code_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    return next((cell for cell in nb.cells if cell.cell_type == "code"), None)


def write(path: Path, source: str) -> bool:
    """Put the setup cell first among ``path``'s code cells; return whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    first = first_code_cell(nb)
    if first is not None and first.get("id") == CELL_ID:
        if first.source == source:
            return False
        first.source = source
    else:
        cell = nbformat.v4.new_code_cell(source, id=CELL_ID)
        cell.metadata["tags"] = ["hide-cell"]  # in the HTML a reader opens it on request
        index = nb.cells.index(first) if first is not None else len(nb.cells)
        nb.cells.insert(index, cell)
    nbformat.write(nb, path)
    return True


if __name__ == "__main__":
    source = render()
    changed = [p.name for p in chapter_notebooks() if write(p, source)]
    print("updated:", ", ".join(changed) if changed else "nothing", file=sys.stderr)
