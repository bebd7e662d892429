"""Checks on the built book (run after `make build`): the execution-time budget of every chapter.

Each chapter must execute in under 60 s on a 2-core CPU, and the whole book in under 12 minutes.
Chapter 19 may take up to 120 s: its table needs 48 training runs (4 tasks, 4 models, 3 seeds).
The times are the ones myst-nb recorded in its execution cache when it last ran each notebook.
"""

from __future__ import annotations

import pytest
from test_book import NOTEBOOKS, ROOT
from test_browser import _need

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
