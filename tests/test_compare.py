"""Comparison across repeats and environments, on hand-made results, hostile ones included."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from seedmatrix.compare import CellState, LabelState, Versus, compare, letter_for
from seedmatrix.report import derive, render
from seedmatrix.results import BuildStatus, Record, RunStatus, SkippedCell, SlurmTask, TaskGpus
from seedmatrix.values import Value

from builders import (
    case,
    environment,
    float32_value,
    float64_value,
    record,
    repeated,
    results,
    unrecordable_value,
)


def f32_bits(number: float) -> str:
    return struct.pack(">f", number).hex()


def test_identical_repeats_are_stable_and_equal_environments_share_a_letter() -> None:
    values = [float32_value("op", 0.1, 0.2, 0.3)]
    res = results(
        [environment("ref"), environment("same")],
        [case("c")],
        repeated("ref", "c", values) + repeated("same", "c", values),
    )
    comparison = compare(res)
    ref, same = comparison.cell("ref", "c"), comparison.cell("same", "c")
    assert ref.state is same.state is CellState.STABLE
    assert ref.group == same.group == "A"
    assert (ref.versus, same.versus) == (Versus.REFERENCE, Versus.EQUAL)
    assert same.labels[0].vs_reference is not None
    assert same.labels[0].vs_reference.equal


def test_a_value_that_changes_between_repeats_varies() -> None:
    records = [
        record("e", "c", n, [float32_value("op1", n * 1.0), float32_value("op2", 5.0)]) for n in (1, 2, 3)
    ]
    cell = compare(results([environment("e")], [case("c")], records)).cell("e", "c")
    assert cell.state is CellState.VARIES
    assert cell.varying == ("op1",)
    op1, op2 = cell.labels
    assert (op1.distinct, op1.state, op2.state) == (3, LabelState.VARIES, LabelState.STABLE)


def test_a_label_missing_from_a_repeat_is_partial_and_named() -> None:
    records = [
        record("e", "c", 1, [float32_value("a", 1.0), float32_value("b", 2.0)]),
        record("e", "c", 2, [float32_value("a", 1.0)]),
        record("e", "c", 3, [float32_value("a", 1.0), float32_value("b", 2.0)]),
    ]
    cell = compare(results([environment("e")], [case("c")], records)).cell("e", "c")
    assert cell.state is CellState.VARIES
    b = cell.label("b")
    assert b is not None
    assert (b.state, b.missing_in, b.reason) == (LabelState.PARTIAL, (2,), "missing in repeat 2")
    assert b.distinct == 1  # the repeats that have it agree: still not stable


def test_a_label_shown_several_times_is_a_sequence_compared_occurrence_by_occurrence() -> None:
    def losses(*numbers: float) -> list[Value]:
        return [float32_value("loss", n) for n in numbers]

    stable = repeated("e", "c", losses(0.5, 0.25, 0.125))
    cell = compare(results([environment("e")], [case("c")], stable)).cell("e", "c")
    assert cell.state is CellState.STABLE
    loss = cell.label("loss")
    assert loss is not None
    assert len(loss.value) == 3
    differing_epoch = [record("e", "c", n, losses(0.5, 0.25 if n < 3 else 0.3, 0.125)) for n in (1, 2, 3)]
    assert (
        compare(results([environment("e")], [case("c")], differing_epoch)).cell("e", "c").state
        is CellState.VARIES
    )
    against = results(
        [environment("ref"), environment("other")],
        [case("c")],
        repeated("ref", "c", losses(0.5, 0.25, 0.125)) + repeated("other", "c", losses(0.5, 0.25, 0.375)),
    )
    other = compare(against).cell("other", "c").label("loss")
    assert other is not None
    assert other.versus is Versus.DIFFERENT
    assert other.vs_reference is not None
    assert other.vs_reference.notes[0] == "occurrence 3 of 3"


def test_one_repeat_is_ran_once_never_stable() -> None:
    res = results(
        [environment("e")], [case("c")], [record("e", "c", 1, [float64_value("x", 1.0)])], repeats=1
    )
    cell = compare(res).cell("e", "c")
    assert cell.state is CellState.RAN_ONCE
    assert cell.labels[0].state is LabelState.RAN_ONCE


def test_different_environment_gets_another_letter_and_the_distance_to_the_reference() -> None:
    one_ulp_up = struct.unpack(">f", bytes.fromhex(f"{int(f32_bits(0.5), 16) + 1:08x}"))[0]
    res = results(
        [environment("ref"), environment("other"), environment("third")],
        [case("c")],
        repeated("ref", "c", [float32_value("x", 0.5, 1.0)])
        + repeated("other", "c", [float32_value("x", one_ulp_up, 1.0)])
        + repeated("third", "c", [float32_value("x", 0.5, 1.0)]),
    )
    comparison = compare(res)
    assert [comparison.cell(env, "c").group for env in ("ref", "other", "third")] == ["A", "B", "A"]
    other = comparison.cell("other", "c")
    assert other.versus is Versus.DIFFERENT
    difference = other.labels[0].vs_reference
    assert difference is not None
    assert (difference.max_ulps, difference.differing, difference.first_index) == (1, 1, (0,))
    assert difference.max_abs == pytest.approx(2**-24)


def test_reference_need_not_be_first() -> None:
    res = results(
        [environment("a"), environment("b")],
        [case("c")],
        repeated("a", "c", [float64_value("x", 1.0)]) + repeated("b", "c", [float64_value("x", 2.0)]),
        reference="b",
    )
    comparison = compare(res)
    assert comparison.cell("b", "c").group == "A"
    assert comparison.cell("a", "c").group == "B"


@pytest.mark.parametrize(
    ("reference_records", "why"),
    [
        ([record("ref", "c", n, [], status=RunStatus.ERROR) for n in (1, 2, 3)], "error"),
        ([], "missing"),
        ([record("ref", "c", 1, [float64_value("x", 1.0)])], "missing"),  # 1 of 3 repeats
    ],
)
def test_when_the_reference_has_no_values_nothing_is_equal_to_it(
    reference_records: list[Record], why: str
) -> None:
    """Before: the first environment with values took the reference's letter A and read as equal."""
    res = results(
        [environment("ref"), environment("a"), environment("b")],
        [case("c")],
        reference_records
        + repeated("a", "c", [float64_value("x", 1.0)])
        + repeated("b", "c", [float64_value("x", 1.0)]),
    )
    comparison = compare(res)
    assert comparison.cell("ref", "c").state.value == why
    for name in ("a", "b"):
        cell = comparison.cell(name, "c")
        assert cell.versus is Versus.NO_REFERENCE
        assert cell.group != "A"
        assert "the reference has no values" in cell.detail
    assert comparison.cell("a", "c").group == comparison.cell("b", "c").group == "B"


@pytest.mark.parametrize(
    ("reference_env", "frameworks", "build"),
    [
        ("ref", ("numpy",), BuildStatus.CACHED),  # not applicable there
        ("ref", ("numpy", "tensorflow"), BuildStatus.FAILED),
    ],
)
def test_reference_not_applicable_or_not_built_has_no_values(
    reference_env: str, frameworks: tuple[str, ...], build: BuildStatus
) -> None:
    res = results(
        [environment(reference_env, frameworks=frameworks, build=build), environment("a")],
        [case("c", requires=("tensorflow",))],
        repeated("a", "c", [float64_value("x", 1.0)]),
    )
    cell = compare(res).cell("a", "c")
    assert (cell.versus, cell.group) == (Versus.NO_REFERENCE, "B")


def test_a_reference_outside_this_run_is_named_and_nothing_is_equal_to_it() -> None:
    res = results(
        [environment("a")], [case("c")], repeated("a", "c", [float64_value("x", 1.0)]), reference="elsewhere"
    )
    cell = compare(res).cell("a", "c")
    assert cell.versus is Versus.NO_REFERENCE
    assert cell.group == "B"
    assert "elsewhere is not in this run" in cell.detail


def test_skipped_reference_has_no_values() -> None:
    res = results(
        [environment("ref"), environment("a")], [case("c")], repeated("a", "c", [float64_value("x", 1.0)])
    )
    res = dataclasses.replace(
        res, skipped=(SkippedCell(environment="ref", case="c", reason="no GPU on this host"),)
    )
    comparison = compare(res)
    assert comparison.cell("ref", "c").state is CellState.SKIPPED
    assert comparison.cell("a", "c").versus is Versus.NO_REFERENCE


def test_group_letters_respect_shape_and_dtype() -> None:
    flat = Value(label="x", dtype="float32", shape=(4,), bits=("3f800000",) * 4, values=(1.0,) * 4)
    square = Value(label="x", dtype="float32", shape=(2, 2), bits=("3f800000",) * 4, values=(1.0,) * 4)
    as_int = Value(label="x", dtype="uint32", shape=(4,), bits=("1065353216",) * 4, values=(1065353216,) * 4)
    raw = Value(label="x", dtype="int32", shape=(4,), bits=("3f800000",) * 4, values=(1.0,) * 4)
    res = results(
        [environment(name) for name in ("flat", "square", "int", "raw")],
        [case("c")],
        repeated("flat", "c", [flat])
        + repeated("square", "c", [square])
        + repeated("int", "c", [as_int])
        + repeated("raw", "c", [raw]),
    )
    comparison = compare(res)
    groups = [comparison.cell(name, "c").group for name in ("flat", "square", "int", "raw")]
    assert groups == ["A", "B", "C", "D"]
    shape_change = comparison.cell("square", "c").labels[0].vs_reference
    assert shape_change is not None
    assert shape_change.notes == ("shape [2, 2] vs [4]",)


def test_a_value_that_could_not_be_recorded_is_never_stable_or_equal() -> None:
    unrecordable = Value(
        label="obj", dtype="unrecordable", shape=(), bits=(), values=(), note="cannot record a Foo"
    )
    res = results(
        [environment("ref"), environment("a")],
        [case("c")],
        repeated("ref", "c", [unrecordable]) + repeated("a", "c", [unrecordable]),
    )
    comparison = compare(res)
    label = comparison.cell("a", "c").label("obj")
    assert label is not None
    assert label.state is LabelState.NOT_RECORDED
    assert label.versus is Versus.NOT_COMPARED
    assert comparison.cell("a", "c").not_recorded == ("obj",)
    assert comparison.cell("a", "c").versus is not Versus.EQUAL


def test_failures_not_applicable_and_missing_cells() -> None:
    res = results(
        [
            environment("ok"),
            environment("numpy-only", frameworks=("numpy",)),
            environment("broken", build=BuildStatus.FAILED, error="pip could not find tensorflow-cpu==9.9"),
            environment("crashes"),
            environment("hangs"),
            environment("cut-short"),
        ],
        [case("tf", requires=("tensorflow",))],
        [
            *repeated("ok", "tf", [float32_value("x", 1.0)]),
            record("crashes", "tf", 1, [], status=RunStatus.ERROR, stderr_tail="Traceback\nValueError: boom"),
            record("hangs", "tf", 1, [], status=RunStatus.TIMEOUT),
            record("cut-short", "tf", 1, [float32_value("x", 1.0)]),
        ],
    )
    comparison = compare(res)
    states = {env: comparison.cell(env, "tf").state for env in comparison.environments}
    assert states == {
        "ok": CellState.STABLE,
        "numpy-only": CellState.NOT_APPLICABLE,
        "broken": CellState.BUILD_FAILED,
        "crashes": CellState.ERROR,
        "hangs": CellState.TIMEOUT,
        "cut-short": CellState.MISSING,
    }
    assert comparison.cell("crashes", "tf").detail == "repeat 1 exited 1: ValueError: boom"
    assert "tensorflow-cpu==9.9" in comparison.cell("broken", "tf").detail
    assert comparison.cell("cut-short", "tf").detail == "1 of 3 repeats recorded"
    assert comparison.failed


@pytest.mark.parametrize(
    ("device", "state"),
    [
        ({}, CellState.DEVICE_UNKNOWN),  # no report: a last print without newline, os._exit, …
        ({"kind": "mystery"}, CellState.DEVICE_UNKNOWN),
        (
            {"kind": "CPU", "framework": "tensorflow", "detail": "TensorFlow sees no GPU"},
            CellState.WRONG_DEVICE,
        ),
        ({"kind": "GPU", "framework": "tensorflow", "detail": "1 × H100"}, CellState.STABLE),
    ],
)
def test_a_gpu_environment_passes_only_with_a_gpu_device_report(
    device: dict[str, str], state: CellState
) -> None:
    """Before: a record without a device report counted as having run on the GPU."""
    records = [record("gpu", "c", n, [float64_value("x", 1.0)], device=device) for n in (1, 2, 3)]
    res = results([environment("gpu", device="gpu")], [case("c")], records)
    comparison = compare(res)
    assert comparison.cell("gpu", "c").state is state
    assert comparison.failed is (state is not CellState.STABLE)


def test_a_clean_run_is_not_failed() -> None:
    res = results([environment("e")], [case("c")], repeated("e", "c", [float64_value("x", 0.25)]))
    assert not compare(res).failed


def test_a_value_recorded_in_one_repeat_and_not_in_another_is_neither_distinct_nor_stable() -> None:
    """Before: 1.0 in repeat 1 and unrecordable in repeat 2 read as two distinct values (🎲)."""
    records = [
        record("e", "c", 1, [float64_value("x", 1.0)]),
        record("e", "c", 2, [unrecordable_value("x")]),
    ]
    cell = compare(results([environment("e")], [case("c")], records, repeats=2)).cell("e", "c")
    x = cell.label("x")
    assert x is not None
    assert (x.state, x.reason) == (LabelState.NOT_RECORDED, "not recorded in repeat 2")
    assert (cell.state, cell.varying, cell.not_recorded) == (CellState.STABLE, (), ("x",))


def test_the_recorded_occurrences_of_a_label_with_an_unrecordable_one_are_still_compared() -> None:
    """Before: occurrence 1 varying (1.0, 1.5, 1.0) beside an unrecordable occurrence 2 read "stable
    (1 not recorded)", and an environment with other values got the same letter."""

    def shown(first: float) -> list[Value]:
        return [float64_value("x", first), unrecordable_value("x")]

    res = results(
        [environment(name) for name in ("ref", "other", "same-as-other", "all-unrecorded")],
        [case("c")],
        [record("ref", "c", n, shown(first)) for n, first in ((1, 1.0), (2, 1.5), (3, 1.0))]
        + repeated("other", "c", shown(7.0))
        + repeated("same-as-other", "c", shown(7.0))
        + repeated("all-unrecorded", "c", [unrecordable_value("x"), unrecordable_value("x")]),
    )
    comparison = compare(res)
    ref = comparison.cell("ref", "c")
    x = ref.label("x")
    assert x is not None
    assert (ref.state, x.state) == (CellState.VARIES, LabelState.VARIES)
    assert x.reason == "not recorded: occurrence 2 in repeat 1, 2, 3"
    other = comparison.cell("other", "c")
    assert other.state is CellState.STABLE
    assert other.not_recorded == ("x",)
    assert other.versus is Versus.NOT_COMPARED
    groups = [comparison.cell(name, "c").group for name in comparison.environments]
    # No letter where no value was left to compare (the reference's varies); A stays the reference's.
    assert groups == [None, "B", "B", None]


def test_an_unrecordable_value_never_makes_two_environments_share_a_letter() -> None:
    """Before: two environments whose only label could not be recorded both read A, the reference's."""
    res = results(
        [environment("ref"), environment("a"), environment("b")],
        [case("c")],
        repeated("ref", "c", [unrecordable_value("x")])
        + repeated("a", "c", [unrecordable_value("x")])
        + repeated("b", "c", [Value(label="x", dtype="not-written", shape=(), bits=(), values=())]),
    )
    comparison = compare(res)
    assert [comparison.cell(name, "c").group for name in ("ref", "a", "b")] == [None, None, None]
    with_values = results(
        [environment("ref"), environment("a")],
        [case("c")],
        repeated("ref", "c", [unrecordable_value("x")]) + repeated("a", "c", [float64_value("x", 1.0)]),
    )
    assert compare(with_values).cell("a", "c").group == "B"  # A stays the reference's


def test_letters_stay_unique_past_zz() -> None:
    """Before: the 703rd group's letter raised IndexError, and 677 and later repeated earlier ones."""
    letters = [letter_for(index) for index in range(20_000)]
    assert len(set(letters)) == len(letters)
    assert [letters[0], letters[25], letters[26], letters[701], letters[702]] == ["A", "Z", "AA", "ZZ", "AAA"]
    names = [f"e{n}" for n in range(704)]
    res = results(
        [environment(name) for name in names],
        [case("c")],
        [record(name, "c", 1, [float64_value("x", float(n))]) for n, name in enumerate(names)],
        repeats=1,
    )
    groups = [cell.group for cell in compare(res).cells]
    assert len(set(groups)) == 704
    assert groups[-2:] == ["AAA", "AAB"]


def test_a_label_never_recorded_and_shown_a_different_number_of_times_is_not_recorded() -> None:
    records = [
        record("e", "c", 1, [unrecordable_value("x")]),
        record("e", "c", 2, [unrecordable_value("x"), unrecordable_value("x")]),
    ]
    res = results([environment("ref"), environment("e")], [case("c")], repeated("ref", "c", [], 2) + records)
    cell = compare(dataclasses.replace(res, repeats=2)).cell("e", "c")
    # Nothing in the cell was recorded: ❓ bad output (it read ✅ stable before issue 25's review, item 6).
    assert (cell.state, cell.not_recorded, cell.group) == (CellState.BAD_OUTPUT, ("x",), None)


def test_a_label_missing_from_a_repeat_is_never_stable_even_when_it_could_not_be_recorded() -> None:
    """Before: x, unrecordable in repeats 1 and 3 and not shown at all in repeat 2, was NOT_RECORDED
    ("nothing recorded" was tested before "missing in some repeat") and the cell read ✅ stable."""
    y = float32_value("y", 1.0)
    records = [
        record("a", "c", 1, [unrecordable_value("x"), y]),
        record("a", "c", 2, [y]),
        record("a", "c", 3, [unrecordable_value("x"), y]),
    ]
    cell = compare(results([environment("a")], [case("c")], records)).cell("a", "c")
    label = cell.label("x")
    assert label is not None
    assert (label.state, label.reason) == (
        LabelState.PARTIAL,
        "missing in repeat 2; not recorded in repeat 1, 3",
    )
    assert (cell.state, cell.varying, cell.not_recorded) == (CellState.VARIES, ("x",), ())


@pytest.mark.parametrize("repeats", [1, 3])
def test_a_cell_where_no_value_could_be_recorded_is_not_stable(repeats: int) -> None:
    """Before: every label unrecordable, nothing compared, and the cell read ✅ stable."""
    res = results(
        [environment("a")],
        [case("c")],
        repeated(
            "a", "c", [unrecordable_value("x"), unrecordable_value("y", "cannot record a Bar")], repeats
        ),
        repeats=repeats,
    )
    cell = compare(res).cell("a", "c")
    assert cell.state is CellState.BAD_OUTPUT
    assert cell.detail == (
        "exited 0, but no value could be recorded (x: cannot record a Foo; y: cannot record a Bar)"
    )
    assert cell.not_recorded == ("x", "y")
    markdown = render(res, derive(res))
    assert "| [`c`](#case-c) | ❓ bad-output |" in markdown
    assert "- ❓ **a**: exited 0, but no value could be recorded (x: cannot record a Foo; y: " in markdown
    assert "1 did not complete (1 bad-output)" in markdown


ON_GPU = {"kind": "GPU", "framework": "torch", "detail": "1 × NVIDIA A100"}
ONE_A100 = TaskGpus(count=1, models=("NVIDIA A100",), driver="550.54.15", detail="SLURM_JOB_GPUS=0")
NONE_GIVEN = TaskGpus(
    count=0, models=(), driver=None, detail="Slurm gave the job no GPU (GPUs on the node: none)"
)


@pytest.mark.parametrize(
    ("gpus", "device", "state", "detail"),
    [
        (ONE_A100, ON_GPU, CellState.STABLE, ""),
        # Python's own values in a GPU environment: fine locally, but not where the task got no GPU.
        (ONE_A100, {"kind": "CPU", "framework": "python", "detail": "Python"}, CellState.STABLE, ""),
        (
            NONE_GIVEN,
            {"kind": "CPU", "framework": "python", "detail": "Python"},
            CellState.WRONG_DEVICE,
            "asked for a GPU, but Slurm task 12_0 on n1 had none: Slurm gave the job no GPU",
        ),
        (NONE_GIVEN, ON_GPU, CellState.WRONG_DEVICE, "asked for a GPU, but Slurm task 12_0 on n1 had none"),
        (None, ON_GPU, CellState.DEVICE_UNKNOWN, "which GPU Slurm task 12_0 got was not read on its node"),
    ],
)
def test_a_slurm_task_that_got_no_gpu_is_never_a_gpu_result(
    gpus: TaskGpus | None, device: dict[str, str], state: CellState, detail: str
) -> None:
    placed = SlurmTask(job_id="12_0", partition="gpu", node="n1", gpus=gpus)
    records = [
        dataclasses.replace(record("gpu", "c", n, [float64_value("x", 1.0)], device=device), slurm=placed)
        for n in (1, 2, 3)
    ]
    cell = compare(results([environment("gpu", device="gpu")], [case("c")], records)).cell("gpu", "c")
    assert cell.state is state
    assert detail in cell.detail


ONE_H100 = TaskGpus(count=1, models=("NVIDIA H100",), driver="550.54.15", detail="SLURM_JOB_GPUS=1")
UNNAMED = TaskGpus(count=1, models=(), driver="550.54.15", detail="SLURM_JOB_GPUS=0")


@pytest.mark.parametrize(
    ("placed", "values", "state", "detail"),
    [
        # One node, one kind of GPU: nothing to say.
        ([("n1", ONE_A100)] * 3, [1.0, 1.0, 1.0], CellState.STABLE, ""),
        (
            [("n1", ONE_A100), ("n2", ONE_A100), ("n1", ONE_A100)],
            [1.0, 1.0, 1.0],
            CellState.STABLE,
            "the repeats ran on 2 nodes (n1: repeats 1, 3; n2: repeat 2): the same on each",
        ),
        (
            [("n1", ONE_A100), ("n2", ONE_H100), ("n2", ONE_H100)],
            [1.0, 2.0, 2.0],
            CellState.VARIES,
            "the repeats ran on 2 nodes (n1: repeat 1; n2: repeats 2, 3) and 2 kinds of GPU (NVIDIA A100: "
            "repeat 1; NVIDIA H100: repeats 2, 3): the hardware may be why they vary",
        ),
        # One node with two kinds of GPU; a model the node's driver did not name is not the same.
        (
            [("n1", ONE_A100), ("n1", UNNAMED), ("n1", ONE_A100)],
            [1.0, 1.0, 2.0],
            CellState.VARIES,
            "the repeats ran on 2 kinds of GPU (NVIDIA A100: repeats 1, 3; GPU model not read: repeat 2): "
            "the hardware may be why they vary",
        ),
    ],
)
def test_repeats_spread_over_slurm_nodes_or_gpu_models_are_named(
    placed: list[tuple[str, TaskGpus]], values: list[float], state: CellState, detail: str
) -> None:
    records = [
        dataclasses.replace(
            record("gpu", "c", n, [float64_value("x", value)], device=ON_GPU),
            slurm=SlurmTask(job_id=f"12_{n}", partition="gpu", node=node, gpus=gpus),
        )
        for n, ((node, gpus), value) in enumerate(zip(placed, values, strict=True), start=1)
    ]
    res = results([environment("gpu", device="gpu")], [case("c")], records)
    cell = compare(res).cell("gpu", "c")
    assert (cell.state, cell.detail) == (state, detail)
    if detail:
        assert f"**gpu**: {detail}" in render(res, derive(res))
