"""pytest plugin: the notebooks nbval executes become the book's executed notebooks.

`make test` checks every chapter under nbval and then builds the book. Without this plugin each
chapter would run twice, once per step. With it, each notebook whose cells all pass under nbval is
stored, outputs included, in the execution cache that the book build reads
(`_config.yml`: `execute_notebooks: cache`), keyed by the hash of its code as myst-nb keys it.
The build then renders those outputs instead of running the notebook again; a notebook with a
failing cell is not stored, so the build runs it (and fails on it) itself.

Used by `make notebooks` as `-p book_cache` with `tests/` on the path. The recorded
`execution_seconds` run from the kernel's start to the end of the last cell, as myst-nb records
its own runs, so `tests/test_built_book.py` checks the same budget either way.
"""

from __future__ import annotations

import fcntl
import time
from pathlib import Path

import nbformat
import pytest

CACHE = Path(__file__).resolve().parents[1] / "_build" / ".jupyter_cache"

_started: dict[str, float] = {}  # notebook path -> time its kernel was started
_failed: set[str] = set()  # notebooks with a cell that failed or was skipped


def _is_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


def _key(item: pytest.Item) -> str:
    return str(item.parent.path)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_cell(item):
        _started.setdefault(_key(item), time.perf_counter())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    if not _is_cell(item):
        return
    report = outcome.get_result()
    if not report.passed:
        _failed.add(_key(item))
    elif call.when == "call":
        item.cell.outputs = item.test_outputs  # nbval's cell is the one in item.parent.nb
        item.cell.execution_count = item.cell_num + 1


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if not _is_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    key = _key(item)
    if key not in _failed and key in _started:
        _store(item.parent.nb, key, time.perf_counter() - _started[key])


def _store(nb: nbformat.NotebookNode, path: str, seconds: float) -> None:
    """Add one executed notebook to the cache (two nbval workers may write at once)."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / ".jupyter_cache.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = get_cache(str(CACHE))
        record = cache.add_nb_to_project(path)
        bundle = CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds})
        cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
