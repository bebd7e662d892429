"""`pip install ./companion` must give a complete package: every module, and the py.typed marker."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from test_book import ROOT

SRC = ROOT / "companion" / "src" / "seqnets"


def test_wheel_contains_every_module_and_the_typing_marker(tmp_path):
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources it builds
    project = shutil.copytree(
        ROOT / "companion", tmp_path / "companion", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(project),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("seqnets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"seqnets/" + p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")} | {"seqnets/py.typed"}
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks {missing}"
