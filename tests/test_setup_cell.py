"""Every chapter's first code cell installs the companion where it is missing (tests/setup_cell.py).

The cell runs in a fresh interpreter started with ``-I -S`` (no site-packages, so no ``seqnets``)
to play a reader's lone notebook, with a stand-in ``google.colab`` module or Binder's environment
variable to play those services, and with ``seqnets`` importable to play the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
import setup_cell
from test_book import ROOT

SOURCE = setup_cell.render()

# Runs the cell with subprocess.run replaced by a recorder; prints what it would have run.
RECORDER = """\
import json, subprocess, sys, types
calls = []
subprocess.run = lambda args, **kw: calls.append(args)
if {colab}:
    sys.modules["google.colab"] = types.ModuleType("google.colab")
exec(compile({source!r}, "setup-cell", "exec"), {{}})
print(json.dumps(calls))
"""


def run_cell(*, colab: bool = False, binder: bool = False, seqnets_on_path: str | None = None):
    """Run the setup cell as a reader would; return the completed process."""
    env = {"PATH": os.environ.get("PATH", "")}
    if binder:
        env["BINDER_SERVICE_HOST"] = "10.0.0.1"
    program = RECORDER.format(colab=colab, source=SOURCE)
    if seqnets_on_path is not None:
        program = f"import sys; sys.path.insert(0, {seqnets_on_path!r})\n" + program
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", program], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("path", setup_cell.chapter_notebooks(), ids=lambda p: p.stem)
def test_every_chapter_starts_with_the_setup_cell(path):
    first = setup_cell.first_code_cell(nbformat.read(path, as_version=4))
    assert first is not None and first.get("id") == setup_cell.CELL_ID, (
        f"{path.name}: the first code cell is not the setup cell; run `python tests/setup_cell.py`"
    )
    assert first.source == SOURCE, (
        f"{path.name}: the setup cell differs from the one _config.yml's repository gives; "
        "run `python tests/setup_cell.py`"
    )


def test_the_cell_uses_the_repository_in_the_config(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://example.org/someone/fork/\n  branch: dev\n")
    source = setup_cell.render(config)
    assert 'REPO = "https://example.org/someone/fork"' in source
    assert 'COMPANION = f"seqnets[book] @ git+{REPO}@dev#subdirectory=companion"' in source


def test_in_the_repository_the_cell_does_nothing():
    done = run_cell(colab=True, seqnets_on_path=str(ROOT / "companion" / "src"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("service", ["colab", "binder"])
def test_on_colab_and_binder_the_cell_installs_the_companion(service):
    done = run_cell(colab=service == "colab", binder=service == "binder")
    assert done.returncode == 0, done.stderr
    (call,) = json.loads(done.stdout)
    assert call[1:5] == ["-m", "pip", "install", "--quiet"]
    assert call[5] == "seqnets[book] @ git+https://github.com/seqnets/seqnets-course@main#subdirectory=companion"


def test_elsewhere_the_cell_says_how_to_install_it():
    done = run_cell()
    assert done.returncode != 0 and done.stdout == ""
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ModuleNotFoundError: this chapter needs the companion package seqnets")
    assert (
        "pip install 'seqnets[book] @ git+https://github.com/seqnets/seqnets-course@main#subdirectory=companion'"
        in last_line
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_install_command_installs_the_companion(tmp_path):
    # The same requirement string, pointed at a local copy of the repository instead of the web.
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT / "companion",
        repo / "companion",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".mypy_cache"),
    )
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-C", str(repo)]
    for args in (["init", "--quiet", "--initial-branch", "main"], ["add", "."], ["commit", "--quiet", "-m", "c"]):
        subprocess.run([*git, *args], check=True)
    (call,) = json.loads(run_cell(colab=True).stdout)
    requirement = call[5].replace("https://github.com/seqnets/seqnets-course", repo.as_uri())
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            requirement,
        ],
        check=True,
    )
    assert (target / "seqnets" / "__init__.py").is_file()
    # ...after which the cell finds the package and does nothing.
    done = run_cell(colab=True, seqnets_on_path=str(target))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
