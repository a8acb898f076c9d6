"""The plan: which (environment, case) cells run, each environment's decided before any of them runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedmatrix.config import load_matrix
from seedmatrix.cpu import FLAGS_OF_INTEREST, CpuFacts
from seedmatrix.errors import ConfigError
from seedmatrix.plan import HostFacts, Selection, empty_plan, make_plan, parse_shard, plan_environment

ROOT = Path(__file__).resolve().parent.parent

# A CPU with every instruction set a `cpu_isa:` can ask for.
EVERY_ISA = CpuFacts(vendor="test", model="test CPU", flags=frozenset(FLAGS_OF_INTEREST))
HOST = HostFacts(cpus=2, cpu=EVERY_ISA)
ONE_CPU = HostFacts(cpus=1, cpu=EVERY_ISA)


def test_every_applicable_cell_of_the_default_matrix_is_planned() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    plan = make_plan(matrix, Selection(), HOST)
    assert len(plan.cells) == len(matrix.environments) * len(matrix.cases)
    assert {cell.repeats for cell in plan.cells} == {matrix.repeats}
    assert plan.cells[0].script == ROOT / "seeds" / "seed_random.py"


def test_environments_joining_in_any_order_give_the_plan_in_matrix_order() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    no_gpu = HostFacts(cpus=1, cpu=EVERY_ISA, gpu_unavailable="no GPU here")
    plan = empty_plan(matrix, Selection())
    assert plan.cells == ()
    assert plan.skipped == ()
    for name in reversed(plan.environments):  # the order the images happened to be ready in
        plan = plan.adding(*plan_environment(matrix, name, plan.cases, no_gpu))
    assert plan == make_plan(matrix, Selection(), no_gpu)
    assert plan.skipped  # GPU environments and two-CPU cases, in matrix order as well


def test_a_case_needing_a_missing_framework_gets_no_cell() -> None:
    plan = make_plan(load_matrix(ROOT / "tests" / "data" / "small.yaml"), Selection(), HOST)
    assert [cell.case for cell in plan.cells] == ["seed_random", "seed_numpy"]
    assert plan.cases == ("seed_random", "seed_numpy", "seed_tensorflow1")


def test_selection_by_environment_and_case() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    name = matrix.environments[1].name
    plan = make_plan(
        matrix,
        Selection(environments=[name], cases=["seed_numpy", "seed_random"]),
        HOST,
    )
    assert plan.environments == (name,)
    assert [(c.environment, c.case) for c in plan.cells] == [(name, "seed_random"), (name, "seed_numpy")]


def test_an_unknown_selection_suggests_the_nearest_name() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    with pytest.raises(
        ConfigError, match=r"--case: no 'seed_nupmy' in the matrix; did you mean 'seed_numpy'\?"
    ):
        make_plan(matrix, Selection(cases=["seed_nupmy"]), HOST)


def test_a_case_needing_more_cpus_than_the_host_has_is_skipped_with_the_reason() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    plan = make_plan(matrix, Selection(cases=["reduction_1cpu", "reduction_2cpus"]), ONE_CPU)
    assert {cell.case for cell in plan.cells} == {"reduction_1cpu"}
    assert {(skip.case, skip.reason) for skip in plan.skipped} == {
        ("reduction_2cpus", "needs 2 CPUs, this host has 1")
    }
    assert len(plan.skipped) == len(matrix.environments)


def test_case_settings_reach_the_cells() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    plan = make_plan(
        matrix,
        Selection(cases=["python_hash_order_fixed", "reduction_2cpus"]),
        HOST,
    )
    by_case = {cell.case: cell for cell in plan.cells}
    assert by_case["python_hash_order_fixed"].variables == {"PYTHONHASHSEED": "0"}
    assert by_case["reduction_2cpus"].cpus == 2


def test_shards_split_the_environments_and_together_cover_them() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    names = [env.name for env in matrix.environments]
    parts = [make_plan(matrix, Selection(shard=(i, 3)), HOST).environments for i in (1, 2, 3)]
    assert sorted(name for part in parts for name in part) == sorted(names)
    assert all(part for part in parts)
    assert not set(parts[0]) & set(parts[1])


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), ("2/3", (2, 3))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_bad_shard_is_explained(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--shard: .* is not a shard; write i/n"):
        parse_shard(text)


def test_selecting_by_device() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    gpu = make_plan(matrix, Selection(device="gpu"), HOST)
    cpu = make_plan(matrix, Selection(device="cpu"), HOST)
    assert gpu.environments == ("py3.11-tf2.20-cuda-gpu",)
    assert all(cell.gpu for cell in gpu.cells)
    assert "py3.11-tf2.20-cuda" in cpu.environments
    assert not any(cell.gpu for cell in cpu.cells)


def test_gpu_cells_are_skipped_with_the_reason_when_the_host_has_none() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    reason = "no GPU on this host (could not select device driver)"
    plan = make_plan(matrix, Selection(), HostFacts(cpus=2, gpu_unavailable=reason))
    assert not any(cell.gpu for cell in plan.cells)
    skipped = {skip.environment for skip in plan.skipped if skip.reason == reason}
    assert skipped == {"py3.11-tf2.20-cuda-gpu"}


def test_a_selection_that_matches_no_environment_is_a_usage_error() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    with pytest.raises(
        ConfigError, match=r"the selection \(device any, shard 40/40\) matches no environment"
    ):
        make_plan(matrix, Selection(shard=(40, 40)), HOST)
