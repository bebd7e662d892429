"""Hygiene of the book's sources: what every chapter must satisfy before it is executed or built."""

from __future__ import annotations

import ast
import itertools
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
CHAPTER_NOTEBOOKS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
#: Every executable page: the numbered chapters, then the appendices that run code.
NOTEBOOKS = CHAPTER_NOTEBOOKS + sorted(CHAPTERS.glob("appendix_[a-z]_*.ipynb"))


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


def code_tree(nb: Path) -> ast.Module:
    """The notebook's code cells parsed as one Python module (IPython magics and shell lines blanked)."""
    lines = [
        "" if line.lstrip().startswith(("%", "!")) else line
        for cell in load(nb)["cells"]
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
    ]
    return ast.parse("\n".join(lines), filename=nb.name)


def computes_something(test: ast.expr) -> bool:
    """Whether an assert's condition depends on a value computed in the notebook (a name, an
    attribute or a call), so that it can fail: ``assert True`` or ``assert 1 < 2`` cannot."""
    return any(isinstance(node, (ast.Name, ast.Attribute, ast.Call)) for node in ast.walk(test))


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
    asserts = [node for node in ast.walk(code_tree(nb)) if isinstance(node, ast.Assert)]
    assert len(asserts) >= 3, f"{nb.name} has {len(asserts)} assert(s); a chapter checks its claims"
    for node in asserts:
        assert computes_something(node.test), f"{nb.name} line {node.lineno}: this assert cannot fail"


def test_the_assert_check_can_fail():
    fake = [ast.parse(src).body[0].test for src in ("assert True", "assert 1 < 2", "assert (3, 4)")]
    assert not any(computes_something(t) for t in fake)
    real = [ast.parse(src).body[0].test for src in ("assert rmse < 0.3", "assert len(x) == 2", "assert m.ok")]
    assert all(computes_something(t) for t in real)


#: Widest code line the HTML shows without a horizontal scroll bar (1280-pixel window).
MAX_CODE_LINE = 79


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(nb):
    long = [
        f"cell {i}: {len(line)} characters: {line.strip()[:50]}"
        for i, cell in enumerate(load(nb)["cells"])
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > MAX_CODE_LINE
    ]
    assert not long, f"{nb.name}: code lines longer than {MAX_CODE_LINE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_title_exercises_solutions_and_citations(nb):
    md = markdown_source(nb)
    first = next(c for c in load(nb)["cells"] if c["cell_type"] == "markdown")
    number = str(int(nb.name[:2])) if nb.name[0].isdigit() else "Appendix " + nb.name.split("_")[1].upper()
    assert "".join(first["source"]).startswith(f"# {number}. "), f"{nb.name}: first cell must be '# {number}. Title'"
    assert "{exercise}" in md, f"{nb.name} has no exercises"
    assert re.search(r"\{solution(-start)?\}", md), f"{nb.name} has no solutions"
    assert "{cite" in md, f"{nb.name} cites nothing"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_solution_start_has_its_end_and_its_exercise(nb):
    """sphinx-exercise's gated solutions: an unclosed solution-start fails the whole build late."""
    md = markdown_source(nb)
    exercises = set(re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", md))
    starts = re.findall(r"```\{solution-start\} (\S+)", md)
    assert len(starts) == md.count("```{solution-end}"), (
        f"{nb.name}: {len(starts)} solution-start directives but {md.count('```{solution-end}')} solution-end"
    )
    assert set(starts) <= exercises, f"{nb.name}: solutions for exercises that do not exist: {set(starts) - exercises}"
    # each start is closed before the next one opens
    events = re.findall(r"```\{solution-(start|end)\}", md)
    assert events == ["start", "end"] * len(starts), f"{nb.name}: solution directives out of order: {events}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_downloads_nothing(nb):
    src = code_source(nb)
    pattern = r"urlopen|requests\.get|urlretrieve|wget |curl |download=True|fetch_openml|hf_hub|from_pretrained"
    assert not re.search(pattern, src), f"{nb.name} seems to download at run time"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_progress_bars_are_plain_text(nb):
    # tqdm.auto wants ipywidgets, which the book does not install: without it, it prints a
    # TqdmWarning with the reader's local path into the built page. Plain tqdm writes text,
    # which chapters/_ext/progress_streams.py shows in its final state.
    assert "tqdm.auto" not in code_source(nb), f"{nb.name}: use `from tqdm import tqdm`"


SEEDING = {"seed_everything", "manual_seed"}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_sets_a_seed(nb):
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(code_tree(nb))
        if isinstance(node, ast.Call)
    }
    assert called & SEEDING, f"{nb.name} never calls seed_everything(...) or torch.manual_seed(...)"


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


def glossary_terms() -> list[str]:
    """The glossary's terms, in the order the page lists them."""
    text = (CHAPTERS / "glossary.md").read_text(encoding="utf-8")
    body = text.split("```{glossary}\n", 1)[1].rsplit("```", 1)[0]
    return [line for line in body.splitlines() if line and not line[0].isspace()]


def test_glossary_is_alphabetical():
    terms = glossary_terms()
    key = [t.lower().lstrip("(") for t in terms]
    assert len(set(key)) == len(key), "the glossary defines a term twice"
    pairs = itertools.pairwise(zip(terms, key, strict=True))
    misplaced = [f"{a!r} before {b!r}" for (a, ka), (b, kb) in pairs if ka > kb]
    assert not misplaced, f"glossary out of alphabetical order: {misplaced}"


def test_every_linked_term_is_in_the_glossary():
    defined = {t.lower() for t in glossary_terms()}
    pages = NOTEBOOKS + sorted(CHAPTERS.glob("*.md"))
    for page in pages:
        text = markdown_source(page) if page.suffix == ".ipynb" else page.read_text(encoding="utf-8")
        for role in re.findall(r"\{term\}`([^`]+)`", text):
            term = re.fullmatch(r"(?s).*<(.+)>", role)  # {term}`text <Term>`
            name = (term.group(1) if term else role).strip()
            assert name.lower() in defined, f"{page.name} links {{term}}`{role}`, which the glossary lacks"


def test_config_builds_strictly_and_offline():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"], "math must render without a CDN"
    assert sphinx["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["timeout"] >= 60
    assert "intersphinx_mapping" not in sphinx["config"], "intersphinx needs the network"
    makefile = "\n".join(line.split("#", 1)[0] for line in (ROOT / "Makefile").read_text().splitlines())
    build = re.search(r"^JB_BUILD\s*:?=(.*)$", makefile, re.M)
    assert build, "the Makefile defines no JB_BUILD command"
    assert "--warningiserror" in build.group(1) and "--nitpick" in build.group(1), "the book build must be strict"
    assert re.search(r"^build:.*\n(\t.*\n)*\t.*\$\(JB_BUILD\)", makefile, re.M), "`make build` must run JB_BUILD"


#: The book's parts in the plan's order, with the chapter numbers each holds.
PLAN_PARTS = [
    ("Concepts", range(1, 5)),
    ("Principles", range(5, 10)),
    ("Implementation", range(10, 12)),
    ("Applications", range(12, 20)),
    ("Optimization", range(20, 24)),
    ("Outlook", range(24, 25)),
]
#: Chapters of the plan not written yet; a gap in the numbering is allowed only for these, and a
#: chapter that lands must be removed from here.
NOT_YET_WRITTEN: set[int] = set()


def chapter_number(entry: str) -> int | None:
    match = re.fullmatch(r"chapters/(\d\d)_\w+", entry)
    return int(match.group(1)) if match else None


def test_chapters_are_numbered_without_gaps():
    numbers = sorted(int(nb.name[:2]) for nb in CHAPTER_NOTEBOOKS)
    assert len(numbers) == len(set(numbers)), f"two chapters share a number: {numbers}"
    expected = [n for n in range(1, 25) if n not in NOT_YET_WRITTEN]
    assert numbers == expected, (
        f"chapters {numbers}; the plan with the unwritten ones ({sorted(NOT_YET_WRITTEN)}) left out gives {expected}"
    )


def test_toc_parts_follow_the_plan():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    order = [name for name, _ in PLAN_PARTS]
    seen = []
    for part in toc["parts"]:
        numbers = [chapter_number(c["file"]) for c in part.get("chapters", [])]
        numbers = [n for n in numbers if n is not None]
        if not numbers:
            continue  # front or back matter (glossary, appendices)
        name = next((p for p in order if p in part["caption"]), None)
        assert name is not None, f"part {part['caption']!r} names none of the plan's parts {order}"
        allowed = dict(PLAN_PARTS)[name]
        assert all(n in allowed for n in numbers), (
            f"part {name!r} holds chapters {numbers}; the plan gives it {list(allowed)}"
        )
        assert numbers == sorted(numbers), f"part {name!r} lists its chapters out of order: {numbers}"
        seen.append(name)
    assert seen == [p for p in order if p in seen], f"parts in the order {seen}, the plan's is {order}"
