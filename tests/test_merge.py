"""Merging runs from several machines (a CPU runner and a GPU runner) into one matrix."""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seedmatrix.compare import Versus, compare
from seedmatrix.errors import ResultsError
from seedmatrix.log import Output
from seedmatrix.merge import merge
from seedmatrix.pipeline import report_job
from seedmatrix.results import Results, SkippedCell, encode
from seedmatrix.store import RunDirectory, load_results

from builders import case, environment, float32_value, record, repeated, results

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


def test_records_of_an_environment_another_run_holds_are_refused() -> None:
    # Kept, they would stand beside that run's own repeats: repeat 1 twice makes a cell "stable"
    # whose second repeat never ran (or one that varies look otherwise).
    stray = repeated("cpu-env", "c", [float32_value("x", 1.0)])[:1]
    with_stray = dataclasses.replace(OTHER_RUN, records=(*OTHER_RUN.records, *stray))
    with pytest.raises(ResultsError, match=r"records of environment cpu-env, which it did not run"):
        merge([CPU_RUN, with_stray])


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


def with_case(part: Results, **changes: Any) -> Results:
    return dataclasses.replace(part, cases=(dataclasses.replace(part.cases[0], **changes),))


def saved(tmp_path: Path, part: Results) -> Path:
    run = RunDirectory(tmp_path / part.run_id)
    run.path.mkdir()
    run.save_results(part)
    return run.path


def test_runs_with_other_claims_are_refused_naming_the_claim(tmp_path: Path) -> None:
    """Before: the merge kept the first run's claims, and the other run's SURPRISE disappeared."""
    cpu = with_case(CPU_RUN, claims={"stable": ["x"]})
    gpu = with_case(GPU_RUN, claims={"stable": ["x"], "varies": ["x"]}, claims_on_gpu={"differs": ["x"]})
    with pytest.raises(ResultsError) as refused:
        merge([cpu, gpu])
    message = str(refused.value)
    assert message.startswith(f"case c differs between run {CPU_RUN.run_id} and run {GPU_RUN.run_id}:")
    assert "claims.varies (not set vs ['x'])" in message
    assert "claims_on_gpu.differs (not set vs ['x'])" in message
    assert "stable" not in message  # the same in both
    assert message.endswith("merge runs of one matrix file")
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "seedmatrix",
            "report",
            str(saved(tmp_path, cpu)),
            str(saved(tmp_path, gpu)),
            "--into",
            str(tmp_path / "merged"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "300"},
        check=False,
    )
    assert finished.returncode == ResultsError.exit_code
    assert "Traceback" not in finished.stderr
    assert "claims.varies (not set vs ['x'])" in finished.stderr
    assert not (tmp_path / "merged").exists()


def test_runs_with_other_published_values_or_cases_are_refused_naming_them() -> None:
    published = {"source": "a paper", "digits": 2, "values": {"x": 0.5, "y": [1.0, 2.0]}}
    cpu = with_case(CPU_RUN, expected=published)
    other = {**published, "values": {"x": 0.25, "y": [1.0, 2.0]}}
    with pytest.raises(
        ResultsError, match=r"case c differs .*: expected\.values\.x \(0\.5 vs 0\.25\); merge"
    ):
        merge([cpu, with_case(GPU_RUN, expected=other)])
    tolerance = {"close_to_reference": {"x": {"atol": 0.01}}}
    with pytest.raises(ResultsError, match=r"claims\.close_to_reference\.x\.atol \(0\.01 vs 0\.02\)"):
        merge(
            [
                with_case(CPU_RUN, claims=tolerance),
                with_case(GPU_RUN, claims={"close_to_reference": {"x": {"atol": 0.02}}}),
            ]
        )
    nans = [{"source": "", "digits": 1, "values": {"x": float("nan")}} for _ in range(2)]  # NaN != NaN
    assert merge([with_case(CPU_RUN, expected=nans[0]), with_case(GPU_RUN, expected=nans[1])])
    with pytest.raises(ResultsError, match=r"requires \(\(\) vs \('numpy',\)\)"):
        merge([CPU_RUN, with_case(GPU_RUN, requires=("numpy",))])
    more_cases = dataclasses.replace(GPU_RUN, matrix_cases=("c", "d"))
    with pytest.raises(ResultsError, match=r"other cases than run .* \(only in run .*bbbbbb: d\)"):
        merge([CPU_RUN, more_cases])


def test_runs_with_other_gates_are_refused() -> None:
    """Before: a part with `fail_on_surprise: false` made the merged run pass every SURPRISE."""
    with pytest.raises(ResultsError, match="other fail_on_surprise"):
        merge([CPU_RUN, dataclasses.replace(GPU_RUN, fail_on_surprise=False)])
    with pytest.raises(ResultsError, match="other fail_on_change"):
        merge([dataclasses.replace(CPU_RUN, fail_on_change=True), GPU_RUN])


def test_a_surprise_in_one_part_survives_the_merge(tmp_path: Path) -> None:
    cpu = with_case(CPU_RUN, claims={"stable": ["x"]})
    varying = [record("gpu-env", "c", n, [float32_value("x", float(n))]) for n in (1, 2, 3)]
    gpu = with_case(dataclasses.replace(GPU_RUN, records=tuple(varying)), claims={"stable": ["x"]})
    into = tmp_path / "merged"
    assert report_job([saved(tmp_path, cpu), saved(tmp_path, gpu)], Output(env={}), into=into) == 1
    assert "SURPRISE" in (into / "MATRIX.md").read_text(encoding="utf-8")
