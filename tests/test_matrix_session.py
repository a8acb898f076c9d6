"""The whole main job, `nox -s matrix`, on a reduced matrix, twice: cold (or warm) then warm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from seedmatrix.backends.docker.container import RUN_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def nox_matrix(results: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nox",
            "--noxfile",
            str(ROOT / "noxfile.py"),
            "-s",
            "matrix",
            "--",
            "--config",
            str(ROOT / "tests" / "data" / "small.yaml"),
            "--results",
            str(results),
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        cwd=ROOT,
        check=False,
        timeout=1200,
    )


def test_nox_matrix_writes_the_report_and_a_second_run_rebuilds_nothing(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    results_root = tmp_path / "results"
    first = nox_matrix(results_root)
    assert first.returncode == 0, first.stderr[-3000:]

    latest = results_root / "latest"
    assert latest.is_symlink()
    data = json.loads((latest / "results.json").read_text(encoding="utf-8"))
    assert data["schema"] == "seedmatrix/results/3"
    assert [(r["case"], r["repeat"], r["status"]) for r in data["records"]] == [
        ("seed_numpy", 1, "ok"),
        ("seed_numpy", 2, "ok"),
        ("seed_random", 1, "ok"),
        ("seed_random", 2, "ok"),
    ]
    random_values = {v["label"]: v["values"][0] for v in data["records"][2]["values"]}
    assert random_values["4"] == random_values["1"]
    assert data["environments"][0]["build"]["observed"]["frameworks"]["numpy"] == "2.0.2"

    matrix = (latest / "MATRIX.md").read_text(encoding="utf-8")
    assert "| [`seed_random`](#case-seed-random) | ✅ A |" in matrix
    assert "| [`seed_tensorflow1`](#case-seed-tensorflow1) | ➖ not-applicable |" in matrix
    assert f"✅ `{random_values['1']!r}`" in matrix

    second = nox_matrix(results_root)
    assert second.returncode == 0, second.stderr[-3000:]
    warm = json.loads((results_root / "latest" / "results.json").read_text(encoding="utf-8"))
    assert warm["run_id"] != data["run_id"]
    assert [env["build"]["status"] for env in warm["environments"]] == ["cached"]
    assert warm["environments"][0]["build"]["image_id"] == data["environments"][0]["build"]["image_id"]
    assert "building" not in second.stderr
    # Nothing changed, so the second run reused the first run's records instead of running containers.
    assert {r["reused_from"] for r in warm["records"]} == {data["run_id"]}
    assert [r["values"] for r in warm["records"]] == [r["values"] for r in data["records"]]
    assert "♻️ 4 of 4 records were reused" in (results_root / "latest" / "MATRIX.md").read_text(
        encoding="utf-8"
    )

    fresh = nox_matrix(results_root, "--fresh")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    rerun = json.loads((results_root / "latest" / "results.json").read_text(encoding="utf-8"))
    assert {r["reused_from"] for r in rerun["records"]} == {None}
    for run_id in (data["run_id"], warm["run_id"]):
        assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []
