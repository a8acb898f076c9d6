"""The JSON Schemas of matrix.yaml and results.json: generated from the code, committed, and usable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from seedmatrix.config import matrix_schema
from seedmatrix.results import results_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "schema"
MATRIX_FILES = [ROOT / "matrix.yaml", *sorted((ROOT / "examples").rglob("*.yaml"))]


@pytest.mark.parametrize(("name", "generate"), [("matrix", matrix_schema), ("results", results_schema)])
def test_the_committed_schema_is_the_generated_one(name: str, generate: object) -> None:
    committed = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    assert callable(generate)
    assert committed == generate(), f"run `seedmatrix schema {name} > docs/schema/{name}.schema.json`"
    printed = subprocess.run(
        [sys.executable, "-m", "seedmatrix", "schema", name], capture_output=True, text=True, check=True
    )
    assert json.loads(printed.stdout) == committed


@pytest.mark.parametrize("path", MATRIX_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_matrix_file_here_satisfies_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), matrix_schema())


def test_the_schema_catches_what_an_editor_should_flag() -> None:
    document = yaml.safe_load((ROOT / "matrix.yaml").read_text(encoding="utf-8"))
    document["environments"][0]["numpi"] = "2.0.2"
    with pytest.raises(jsonschema.ValidationError, match="numpi"):
        jsonschema.validate(document, matrix_schema())


def test_the_default_matrix_tells_editors_where_its_schema_is() -> None:
    first = (ROOT / "matrix.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=docs/schema/matrix.schema.json"


def test_stored_results_satisfy_the_results_schema() -> None:
    baseline = json.loads((ROOT / "examples" / "numpy-upgrade" / "baseline.json").read_text(encoding="utf-8"))
    jsonschema.validate(baseline, results_schema())
