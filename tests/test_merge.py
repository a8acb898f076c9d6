"""Merging runs from several machines (a CPU runner and a GPU runner) into one matrix."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from seedmatrix.compare import Versus, compare
from seedmatrix.errors import ResultsError
from seedmatrix.log import Output
from seedmatrix.merge import merge
from seedmatrix.pipeline import report_job
from seedmatrix.results import Results, SkippedCell, encode
from seedmatrix.store import RunDirectory, load_results

from builders import case, environment, float32_value, repeated, results

MATRIX = ("cpu-env", "gpu-env", "other-cpu")


def shard(names: list[str], hostname: str, run_id: str, value: float = 1.0) -> Results:
    part = results(
        [environment(name) for name in names],
        [case("c")],
        [record for name in names for record in repeated(name, "c", [float32_value("x", value)])],
        reference="cpu-env",
        run_id=run_id,
        matrix_environments=MATRIX,
    )
    return dataclasses.replace(part, host={"hostname": hostname, "docker": "27.0"})


CPU_RUN = shard(["cpu-env"], "cpu-runner", "20261125T100000.000000Z-aaaaaa")
GPU_RUN = dataclasses.replace(
    shard(["gpu-env"], "gpu-runner", "20261125T100500.000000Z-bbbbbb", value=1.0000001),
    skipped=(SkippedCell(environment="cpu-env", case="c", reason="not this machine's"),),
)
OTHER_RUN = shard(["other-cpu"], "cpu-runner-2", "20261125T100100.000000Z-cccccc")


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


def test_a_shard_without_the_reference_keeps_it_and_compares_nothing_to_it() -> None:
    """Before: a shard's results named its own first environment the reference."""
    assert GPU_RUN.reference == "cpu-env"
    cell = compare(GPU_RUN).cell("gpu-env", "c")
    assert cell.versus is Versus.NO_REFERENCE
    assert cell.group == "B"


@pytest.mark.parametrize("order", list(itertools.permutations([CPU_RUN, GPU_RUN, OTHER_RUN])))
def test_merging_gives_the_same_result_in_any_order(order: tuple[Results, ...]) -> None:
    merged = merge(list(order))
    assert encode(merged) == encode(merge([CPU_RUN, GPU_RUN, OTHER_RUN]))
    assert [env.name for env in merged.environments] == list(MATRIX)  # the matrix file's order
    assert merged.reference == "cpu-env"
    assert compare(merged).cell("other-cpu", "c").versus is Versus.EQUAL


def test_an_environment_from_two_runs_is_refused() -> None:
    with pytest.raises(
        ResultsError, match=r"environment cpu-env is in run .* and in run .*--shard, --device"
    ):
        merge([CPU_RUN, dataclasses.replace(CPU_RUN, run_id="other")])


def test_different_repeats_scripts_references_or_matrices_are_refused() -> None:
    with pytest.raises(ResultsError, match="repeats"):
        merge([CPU_RUN, dataclasses.replace(GPU_RUN, repeats=5)])
    changed = dataclasses.replace(
        GPU_RUN, cases=(dataclasses.replace(GPU_RUN.cases[0], script_sha256="f" * 64),)
    )
    with pytest.raises(ResultsError, match="case c ran different scripts"):
        merge([CPU_RUN, changed])
    with pytest.raises(ResultsError, match="reference environment"):
        merge([CPU_RUN, dataclasses.replace(GPU_RUN, reference="gpu-env")])
    with pytest.raises(ResultsError, match="other environments"):
        merge([CPU_RUN, dataclasses.replace(GPU_RUN, matrix_environments=("gpu-env",))])


def test_report_over_several_runs_writes_one_matrix(tmp_path: Path) -> None:
    paths = []
    for part in (CPU_RUN, GPU_RUN):
        run = RunDirectory(tmp_path / part.run_id)
        run.path.mkdir()
        run.save_results(part)
        paths.append(run.path)
    into = tmp_path / "merged"
    assert report_job(paths, Output(env={}), into=into) == 0
    merged = load_results(into / "results.json")
    assert {env.host for env in merged.environments} == {"cpu-runner", "gpu-runner"}
    matrix = (into / "MATRIX.md").read_text(encoding="utf-8")
    assert "| cpu-env (reference) | cpu-runner |" in matrix
    assert "| gpu-env | gpu-runner |" in matrix
    assert "on host cpu-runner, gpu-runner" in matrix


def test_a_merged_run_keeps_every_parts_cell_keys_so_it_can_be_reused_from() -> None:
    cpu = dataclasses.replace(CPU_RUN, cell_keys={"cpu-env/c": "key-cpu"})
    gpu = dataclasses.replace(GPU_RUN, cell_keys={"gpu-env/c": "key-gpu"})
    assert merge([gpu, cpu]).cell_keys == {"cpu-env/c": "key-cpu", "gpu-env/c": "key-gpu"}
