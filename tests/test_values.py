"""Distances between recorded values, from their bits: they never make a difference look smaller."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedmatrix.values import Value, check, difference, format_magnitude, number, ulp_distance


def f32(label: str, *numbers: float | str) -> Value:
    bits = tuple(n if isinstance(n, str) else struct.pack(">f", n).hex() for n in numbers)
    return Value(label=label, dtype="float32", shape=(len(bits),), bits=bits, values=(0.0,) * len(bits))


def f64(*numbers: float) -> Value:
    bits = tuple(struct.pack(">d", n).hex() for n in numbers)
    return Value(label="x", dtype="float64", shape=(len(bits),), bits=bits, values=tuple(numbers))


def test_ulp_distance_of_adjacent_and_signed_floats() -> None:
    assert ulp_distance(struct.pack(">f", 1.0).hex(), struct.pack(">f", 1.0).hex()) == 0
    assert ulp_distance(struct.pack(">f", 0.0).hex(), struct.pack(">f", -0.0).hex()) == 0
    assert ulp_distance("00000001", "80000001") == 2  # +min subnormal to -min subnormal crosses zero
    assert ulp_distance(struct.pack(">d", 1.0).hex(), struct.pack(">d", math.nextafter(1.0, 2.0)).hex()) == 1


@given(
    st.floats(min_value=-(2.0**127), max_value=2.0**127, width=32), st.integers(min_value=0, max_value=1000)
)
def test_ulp_distance_counts_steps_of_nextafter(start: float, steps: int) -> None:
    value = np.float32(start)
    moved = value
    for _ in range(steps):
        moved = np.nextafter(moved, np.float32(np.inf))
    assert ulp_distance(value.tobytes()[::-1].hex(), moved.tobytes()[::-1].hex()) == steps


def test_a_nan_against_a_number_is_never_a_zero_distance() -> None:
    """Before: [1, nan] vs [1, 2] read "max |Δ| 0" (max() skips NaN comparisons)."""
    found = difference(f64(1.0, math.nan), f64(1.0, 2.0))
    assert not found.equal
    assert (found.differing, found.first_index) == (1, (1,))
    assert found.max_abs is None
    assert found.notes == ("1 element(s) NaN on one side only",)


def test_nan_payloads_are_bits_and_their_difference_is_named() -> None:
    quiet, signalling = f32("x", "7fc00000"), f32("x", "7f800001")
    found = difference(quiet, signalling)
    assert not found.equal
    assert found.notes == ("1 NaN(s) with other bits (payload or sign)",)
    assert difference(signalling, f32("x", "7f800001")).equal


def test_an_infinity_is_an_infinite_distance() -> None:
    found = difference(f64(math.inf), f64(1.0))
    assert found.max_abs == math.inf
    assert found.max_ulps is None
    assert format_magnitude(found.max_abs) == "∞"


def test_huge_python_integers_are_compared_exactly() -> None:
    big = Value(label="x", dtype="int", shape=(), bits=(str(10**400),), values=(str(10**400),))
    one = Value(label="x", dtype="int", shape=(), bits=("1",), values=(1,))
    found = difference(big, one)
    assert found.max_abs == 10**400 - 1
    assert format_magnitude(found.max_abs) == "1.00e+400"


def test_shape_and_dtype_changes_are_explained() -> None:
    assert difference(f32("x", 1.0, 2.0), f32("x", 1.0)).notes == ("shape [2] vs [1]",)
    narrow = Value(label="x", dtype="float32", shape=(), bits=(struct.pack(">f", 1.5).hex(),), values=(1.5,))
    wide = Value(label="x", dtype="float64", shape=(), bits=(struct.pack(">d", 1.0).hex(),), values=(1.0,))
    found = difference(narrow, wide)
    assert found.notes == ("dtype float32 vs float64",)
    assert found.max_ulps is None
    assert found.max_abs == 0.5


def test_first_differing_index_is_in_the_values_shape() -> None:
    a = Value(label="m", dtype="float32", shape=(2, 3), bits=("3f800000",) * 6, values=(1.0,) * 6)
    b = Value(
        label="m",
        dtype="float32",
        shape=(2, 3),
        bits=("3f800000",) * 4 + ("3f800001",) * 2,
        values=(1.0,) * 6,
    )
    found = difference(b, a)
    assert (found.first_index, found.differing, found.elements, found.max_ulps) == ((1, 1), 2, 6, 1)
    assert found.fraction == pytest.approx(2 / 6)


@pytest.mark.parametrize(
    ("dtype", "bits", "expected"),
    [
        ("bfloat16", "3fc0", 1.5),
        ("float8_e4m3fn", "7e", 448.0),
        ("float8_e5m2", "7c", math.inf),
        ("float4_e2m1fn", "07", 6.0),
        ("float16", "3c00", 1.0),
    ],
)
def test_small_floats_decode_from_their_bits(dtype: str, bits: str, expected: float) -> None:
    assert number(dtype, bits) == expected


def test_nan_encodings_of_small_floats() -> None:
    assert math.isnan(number("float8_e4m3fn", "7f"))
    assert math.isnan(number("float8_e4m3fnuz", "80"))
    assert math.isnan(number("bfloat16", "7fc0"))


def test_x87_long_double_decodes_exactly() -> None:
    third = number("longdouble", "3ffdaaaaaaaaaaaaaaab")
    assert float(third) == pytest.approx(1 / 3)
    assert third != 1 / 3  # more precise than a double


@pytest.mark.parametrize(
    ("dtype", "bits"),
    [
        ("float32", "3f80"),
        ("float32", "zzzzzzzz"),
        ("float64", "3f800000"),
        ("int64", "1.5"),
        ("complex64", "3f800000"),
    ],
)
def test_malformed_bits_are_refused(dtype: str, bits: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        check(Value(label="x", dtype=dtype, shape=(), bits=(bits,), values=(0,)))
