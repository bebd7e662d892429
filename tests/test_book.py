"""Hygiene of the book's sources: what every chapter must satisfy before it is executed or built."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def toc_files() -> list[str]:
    """Every ``file:`` entry of ``_toc.yml``, in order, including the root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []))
    return files


def load(nb: Path) -> dict:
    return json.loads(nb.read_text(encoding="utf-8"))


def code_source(nb: Path) -> str:
    return "\n".join("".join(c["source"]) for c in load(nb)["cells"] if c["cell_type"] == "code")


def markdown_source(nb: Path) -> str:
    return "\n".join("".join(c["source"]) for c in load(nb)["cells"] if c["cell_type"] == "markdown")


def test_there_are_chapters():
    assert NOTEBOOKS, f"no chapter notebooks found in {CHAPTERS}"


def test_every_toc_entry_exists():
    for entry in toc_files():
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml lists {entry!r} but no such .md/.ipynb file exists"


def test_every_chapter_is_in_the_toc():
    listed = set(toc_files())
    for nb in NOTEBOOKS:
        rel = nb.relative_to(ROOT).with_suffix("").as_posix()
        assert rel in listed, f"{rel} is not listed in _toc.yml"


def test_no_stray_pages():
    """Every page in chapters/ is in the table of contents (nothing is silently left out)."""
    listed = set(toc_files())
    for page in sorted(CHAPTERS.glob("*.md")) + NOTEBOOKS:
        rel = page.relative_to(ROOT).with_suffix("").as_posix()
        assert rel in listed, f"{page.name} is in chapters/ but not in _toc.yml"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(nb):
    for i, cell in enumerate(load(nb)["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{nb.name} cell {i} has stored outputs: run nbstripout"
            assert cell.get("execution_count") is None, f"{nb.name} cell {i} has an execution count"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_the_python3_kernel(nb):
    spec = load(nb)["metadata"].get("kernelspec", {})
    assert spec.get("name") == "python3", f"{nb.name}: kernelspec name is {spec.get('name')!r}, expected 'python3'"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_checks_its_claims(nb):
    assert re.search(r"^\s*assert\b", code_source(nb), re.M), f"{nb.name} asserts nothing"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_title_exercises_solutions_and_citations(nb):
    md = markdown_source(nb)
    first = next(c for c in load(nb)["cells"] if c["cell_type"] == "markdown")
    number = int(nb.name[:2])
    assert "".join(first["source"]).startswith(f"# {number}. "), f"{nb.name}: first cell must be '# {number}. Title'"
    assert "{exercise}" in md, f"{nb.name} has no exercises"
    assert re.search(r"\{solution(-start)?\}", md), f"{nb.name} has no solutions"
    assert "{cite" in md, f"{nb.name} cites nothing"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_downloads_nothing(nb):
    src = code_source(nb)
    pattern = r"urlopen|requests\.get|urlretrieve|wget |curl |download=True|fetch_openml|hf_hub|from_pretrained"
    assert not re.search(pattern, src), f"{nb.name} seems to download at run time"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_sets_a_seed(nb):
    assert "seed_everything(" in code_source(nb) or "manual_seed(" in code_source(nb), f"{nb.name} sets no seed"


def test_exercise_labels_are_unique():
    labels: dict[str, str] = {}
    for nb in NOTEBOOKS:
        for label in re.findall(r"\{exercise(?:-start)?\}[^\n]*\n:label:\s*(\S+)", markdown_source(nb)):
            assert label not in labels, f"exercise label {label!r} used in {labels[label]} and {nb.name}"
            labels[label] = nb.name


def test_cited_keys_exist_in_the_bibliography():
    bib = (CHAPTERS / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,\s]+),", bib))
    for nb in NOTEBOOKS:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", markdown_source(nb)):
            for key in group.split(","):
                assert key.strip() in keys, f"{nb.name} cites {key.strip()!r}, which references.bib lacks"


def test_config_builds_strictly_and_offline():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"], "math must render without a CDN"
    assert sphinx["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["timeout"] >= 60
    assert "intersphinx_mapping" not in sphinx["config"], "intersphinx needs the network"
    makefile = (ROOT / "Makefile").read_text()
    assert "--warningiserror" in makefile and "--nitpick" in makefile, "the book build must be strict"
