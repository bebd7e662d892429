"""Checks on the built book (run after `make build` and `make pdf`): each chapter's execution time,
the API reference's coverage, the per-chapter numbering, and the PDF.

Each chapter must execute in under 60 s on a 2-core CPU, and the whole book in under 12 minutes;
chapters 15 and 19 may take up to 120 s (n-grams up to order 16 and three LSTM seeds; the
benchmark table's 48 training runs). The times are the ones myst-nb recorded in its execution
cache when it last ran each notebook.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from sphinx.util.inventory import InventoryFile
from test_book import NOTEBOOKS, ROOT
from test_browser import _need

import seqnets

pytestmark = pytest.mark.browser

CACHE = ROOT / "_build" / ".jupyter_cache"
PER_CHAPTER_S = 60.0
LONGER_S = {
    "15_language_models.ipynb": 120.0,  # n-grams up to order 16 and three LSTM seeds
    "19_long_range.ipynb": 120.0,  # the benchmark table: 48 runs
}
WHOLE_BOOK_S = 12 * 60.0


@pytest.fixture(scope="module")
def seconds() -> dict[str, float]:
    """Execution time of each chapter *as it is now*: the cache record whose hash matches the
    notebook's current code, not whatever record was written last for that file name."""
    _need(CACHE.exists(), f"{CACHE} is missing: run `make build` first")
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(str(CACHE))
    times = {}
    for nb in NOTEBOOKS:
        try:
            record = cache.match_cache_notebook(nbformat.read(nb, as_version=4))
        except KeyError:
            continue  # reported by the test below
        if "execution_seconds" in record.data:
            times[nb.name] = float(record.data["execution_seconds"])
    return times


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_executes_within_budget(seconds, nb):
    assert nb.name in seconds, f"{nb.name} has no execution record for its current code: run `make build`"
    budget = LONGER_S.get(nb.name, PER_CHAPTER_S)
    assert seconds[nb.name] < budget, f"{nb.name} took {seconds[nb.name]:.1f} s (budget {budget:.0f} s)"


def test_whole_book_executes_within_budget(seconds):
    total = sum(seconds.get(nb.name, 0.0) for nb in NOTEBOOKS)
    print(f"book execution: {total:.0f} s for {len(NOTEBOOKS)} chapters")
    assert total < WHOLE_BOOK_S, f"the chapters took {total:.0f} s together (budget {WHOLE_BOOK_S:.0f} s)"


HTML = ROOT / "_build" / "html"


def test_api_reference_covers_every_public_name():
    """Appendix B documents every name in every module's ``__all__`` (where the object is defined,
    for the names the top level re-exports)."""
    inventory = HTML / "objects.inv"
    _need(inventory.exists(), f"{inventory} is missing: run `make build` first")
    with inventory.open("rb") as f:
        documented = {name for objects in InventoryFile.load(f, "", lambda base, uri: uri).values() for name in objects}
    modules = ["seqnets"] + [m.name for m in pkgutil.walk_packages(seqnets.__path__, "seqnets.")]
    missing = []
    for name in modules:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", []):
            home = getattr(getattr(module, public), "__module__", name)
            if f"{name}.{public}" not in documented and f"{home}.{public}" not in documented:
                missing.append(f"{name}.{public}")
    assert not missing, f"appendix B does not document {missing}"


def test_equations_and_exercises_are_numbered_per_chapter():
    page = (HTML / "chapters" / "08_causal_convolutions.html").read_text(encoding="utf-8")
    equations = re.findall(r'class="eqno">\(([^)]*)\)', page)
    exercises = re.findall(r'class="caption-number">Exercise ([\d.]+)', page)
    assert equations[:3] == ["8.1", "8.2", "8.3"], equations[:3]
    assert exercises[:2] == ["8.1", "8.2"], exercises[:2]


def test_pdf_of_the_whole_book():
    pdf = HTML / "book.pdf"
    _need(pdf.exists(), f"{pdf} is missing: run `make pdf`")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-"), f"{pdf} is not a PDF"
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages > 10 * len(NOTEBOOKS), f"{pdf} has {pages} pages for {len(NOTEBOOKS)} chapters"
    assert b"/Outlines" in data, f"{pdf} has no outline (bookmarks)"
    assert pdf.stat().st_mtime >= (HTML / "objects.inv").stat().st_mtime, f"{pdf} is older than the HTML build"
