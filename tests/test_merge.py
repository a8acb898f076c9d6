"""Merging runs from several machines (a CPU runner and a GPU runner) into one matrix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from seedmatrix.errors import ResultsError
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.results import Results, RunDirectory, SkippedCell, load_results, merge

from builders import case, environment, float32_value, repeated, results


def on_host(part: Results, hostname: str, run_id: str) -> Results:
    return dataclasses.replace(part, host={"hostname": hostname, "docker": "27.0"}, run_id=run_id)


CPU_RUN = on_host(
    results(
        [environment("cpu-env")],
        [case("c")],
        repeated("cpu-env", "c", [float32_value("x", 1.0)]),
    ),
    "cpu-runner",
    "20261125T100000Z-aaaaaa",
)
GPU_RUN = on_host(
    dataclasses.replace(
        results(
            [environment("gpu-env")],
            [case("c")],
            repeated("gpu-env", "c", [float32_value("x", 1.0000001)]),
        ),
        skipped=(SkippedCell(environment="cpu-env", case="c", reason="not this machine's"),),
    ),
    "gpu-runner",
    "20261125T100500Z-bbbbbb",
)


def test_merged_results_keep_every_environment_with_its_host() -> None:
    merged = merge([CPU_RUN, GPU_RUN])
    assert [(env.name, env.host) for env in merged.environments] == [
        ("cpu-env", "cpu-runner"),
        ("gpu-env", "gpu-runner"),
    ]
    assert len(merged.records) == 6
    assert merged.reference == "cpu-env"
    assert merged.skipped == ()  # the cell ran on the other machine
    assert [part["hostname"] for part in merged.host["merged_from"]] == ["cpu-runner", "gpu-runner"]


def test_an_environment_from_two_runs_is_refused() -> None:
    with pytest.raises(
        ResultsError, match=r"environment cpu-env is in run .* and in run .*--shard, --device"
    ):
        merge([CPU_RUN, dataclasses.replace(CPU_RUN, run_id="other")])


def test_different_repeats_or_scripts_are_refused() -> None:
    with pytest.raises(ResultsError, match="repeats"):
        merge([CPU_RUN, dataclasses.replace(GPU_RUN, repeats=5)])
    changed = dataclasses.replace(
        GPU_RUN, cases=(dataclasses.replace(GPU_RUN.cases[0], script_sha256="f" * 64),)
    )
    with pytest.raises(ResultsError, match="case c ran different scripts"):
        merge([CPU_RUN, changed])


def test_report_over_several_runs_writes_one_matrix(tmp_path: Path) -> None:
    paths = []
    for part in (CPU_RUN, GPU_RUN):
        store = RunDirectory(tmp_path / part.run_id)
        store.path.mkdir()
        store.save_results(part)
        paths.append(store.path)
    into = tmp_path / "merged"
    assert report_job(paths, Output(env={}), into=into) == 0
    merged = load_results(into / "results.json")
    assert {env.host for env in merged.environments} == {"cpu-runner", "gpu-runner"}
    matrix = (into / "MATRIX.md").read_text(encoding="utf-8")
    assert "| cpu-env (reference) | cpu-runner |" in matrix
    assert "| gpu-env | gpu-runner |" in matrix
    assert "on host `cpu-runner, gpu-runner`" in matrix
