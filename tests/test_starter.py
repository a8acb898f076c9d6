"""`seedmatrix init`: a starting matrix.yaml that loads, from a project's declared dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seedmatrix.config import load_matrix
from seedmatrix.errors import ConfigError
from seedmatrix.starter import starter, write_starter

PYPROJECT = """
[project]
name = "trainer"
version = "0.1.0"
dependencies = [
    "tensorflow==2.18.1", "numpy>=1.26", "scikit-learn", "pandas ; python_version > '3.8'", "rich"
]
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (tmp_path / "train.py").write_text("print(1)\n", encoding="utf-8")
    return tmp_path


def installed(name: str) -> str | None:
    return {"numpy": "2.0.2", "scikit-learn": "1.6.1", "pandas": "2.2.3"}.get(name)


def test_pins_come_from_the_project_or_this_interpreter_and_the_rest_is_a_todo(tmp_path: Path) -> None:
    text = starter(project(tmp_path), [Path("train.py")], python="3.11", installed=installed)
    assert '    tensorflow: "2.18.1"\n' in text  # pinned by the project
    assert '    numpy: "2.0.2"   # installed here (the project asks for >=1.26): check it' in text
    assert "      - scikit-learn==1.6.1   # installed here: check it is the one you want" in text
    assert "      # - rich==…   TODO: pin an exact version (rich)" in text
    assert "    install: ." in text
    assert "    debian: bookworm" in text
    (tmp_path / "matrix.yaml").write_text(text, encoding="utf-8")
    matrix = load_matrix(tmp_path / "matrix.yaml")
    env = matrix.environments[0]
    assert (env.tensorflow, env.numpy, env.packages) == (
        "2.18.1",
        "2.0.2",
        ("scikit-learn==1.6.1", "pandas==2.2.3"),
    )
    assert [case.name for case in matrix.cases] == ["train"]


def test_a_python_without_a_debian_suite_uses_a_registry_image(tmp_path: Path) -> None:
    text = starter(project(tmp_path), [], python="3.12", installed=lambda _: None)
    assert "    base_image: python:3.12-slim" in text
    (tmp_path / "matrix.yaml").write_text(
        text.replace("script: train.py", "script: train.py"), encoding="utf-8"
    )
    assert load_matrix(tmp_path / "matrix.yaml").environments[0].base_image == "python:3.12-slim"


def test_init_writes_the_file_and_a_schema_and_never_overwrites_unasked(tmp_path: Path) -> None:
    project(tmp_path)
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "seedmatrix",
            "init",
            str(tmp_path),
            "--script",
            "train.py",
            "--python",
            "3.11",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "matrix.schema.json").is_file()
    load_matrix(tmp_path / "matrix.yaml")
    with pytest.raises(ConfigError, match="exists; give --force"):
        write_starter(tmp_path, [Path("train.py")], python="3.11", force=False)
    with pytest.raises(ConfigError, match="--script: no such file"):
        write_starter(tmp_path, [Path("absent.py")], python="3.11", force=True)
