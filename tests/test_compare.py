"""Comparison across repeats and environments, on hand-made results."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedmatrix.compare import CellState, compare, difference_between, ulp_distance
from seedmatrix.results import BuildStatus, RunStatus

from builders import case, environment, float32_value, float64_value, record, repeated, results


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
    assert ref.state is CellState.STABLE
    assert same.state is CellState.STABLE
    assert ref.group == same.group == "A"
    difference = same.labels[0].vs_reference
    assert difference is not None
    assert difference.equal


def test_a_value_that_changes_between_repeats_varies() -> None:
    records = [
        record("e", "c", n, [float32_value("op1", n * 1.0), float32_value("op2", 5.0)]) for n in (1, 2, 3)
    ]
    cell = compare(results([environment("e")], [case("c")], records)).cell("e", "c")
    assert cell.state is CellState.VARIES
    assert cell.varying == ("op1",)
    op1, op2 = cell.labels
    assert (op1.distinct, op1.stable, op2.stable) == (3, False, True)


def test_a_label_missing_from_one_repeat_is_not_stable() -> None:
    records = [
        record("e", "c", 1, [float32_value("a", 1.0), float32_value("b", 2.0)]),
        record("e", "c", 2, [float32_value("a", 1.0)]),
    ]
    cell = compare(results([environment("e")], [case("c")], records, repeats=2)).cell("e", "c")
    assert cell.state is CellState.VARIES
    assert cell.varying == ("b",)


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
    difference = comparison.cell("other", "c").labels[0].vs_reference
    assert difference is not None
    assert not difference.equal
    assert difference.max_ulps == 1
    assert difference.max_abs == pytest.approx(2**-24)
    assert comparison.cell("other", "c").differs_from_reference


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


def test_a_clean_run_is_not_failed() -> None:
    res = results([environment("e")], [case("c")], repeated("e", "c", [float64_value("x", 0.25)]))
    assert not compare(res).failed


def test_ulp_distance_of_adjacent_and_signed_floats() -> None:
    assert ulp_distance(f32_bits(1.0), f32_bits(1.0)) == 0
    assert ulp_distance(f32_bits(0.0), f32_bits(-0.0)) == 0
    smallest = "00000001"
    assert ulp_distance(smallest, "80000001") == 2  # +min subnormal to -min subnormal crosses zero
    assert ulp_distance(struct.pack(">d", 1.0).hex(), struct.pack(">d", math.nextafter(1.0, 2.0)).hex()) == 1


@given(
    st.floats(min_value=-(2.0**127), max_value=2.0**127, width=32), st.integers(min_value=0, max_value=1000)
)
def test_ulp_distance_counts_steps_of_nextafter(start: float, steps: int) -> None:
    value = np.float32(start)
    moved = value
    for _ in range(steps):
        moved = np.nextafter(moved, np.float32(np.inf))
    # nextafter steps from -0.0 to the smallest subnormal directly; the ordering treats +0/-0 as one.
    assert ulp_distance(value.tobytes()[::-1].hex(), moved.tobytes()[::-1].hex()) == steps


def test_difference_of_shapes_and_dtypes_is_explained() -> None:
    a = float32_value("x", 1.0, 2.0)
    b = float32_value("x", 1.0)
    assert difference_between(a, b).note == "shape [2] vs [1]"
    wide = float64_value("x", 1.0)
    narrow = float32_value("x", 1.5)
    narrow_scalar = type(narrow)(label="x", dtype="float32", shape=(), values=narrow.values, bits=narrow.bits)
    difference = difference_between(narrow_scalar, wide)
    assert difference.note == "dtype float32 vs float64"
    assert difference.max_ulps is None
    assert difference.max_abs == 0.5
