"""What the package declares about itself matches what its code needs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "runner" / "seedmatrix"
INSIDE = PACKAGE / "inside"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def minimum_python(paths: list[Path]) -> tuple[int, int]:
    """The oldest Python the files can run on, as vermin finds it from the syntax and library they use."""
    finished = subprocess.run(
        [str(Path(sys.executable).parent / "vermin"), "--no-tips", "--eval-annotations", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Minimum required versions: ([\d.]+)", finished.stdout)
    assert found, finished.stdout
    major, minor = found.group(1).split(".")[:2]
    return int(major), int(minor)


def declared_minimum() -> tuple[int, int]:
    declared = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert declared, PYPROJECT["project"]["requires-python"]
    return int(declared.group(1)), int(declared.group(2))


def test_requires_python_is_what_the_runner_needs() -> None:
    """pip then refuses an older Python with a clear message instead of an ImportError at run time."""
    runner = [path for path in PACKAGE.rglob("*.py") if INSIDE not in path.parents]
    assert minimum_python(runner) == declared_minimum()


def test_what_runs_inside_the_images_needs_no_more_than_python_3_9() -> None:
    """The recorder, launcher and probe run under every image's Python; Debian bullseye has 3.9."""
    inside = [*INSIDE.glob("*.py"), *(ROOT / "seeds").glob("*.py")]
    assert minimum_python(inside) <= (3, 9)


def test_linters_target_the_declared_python() -> None:
    major, minor = declared_minimum()
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py{major}{minor}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == f"{major}.{minor}"
