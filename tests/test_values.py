"""Distances between recorded values, from their bits: they never make a difference look smaller."""

from __future__ import annotations

import math
import struct
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from seedmatrix.channel import value_from_record
from seedmatrix.values import (
    Difference,
    Value,
    check,
    difference,
    exact,
    format_magnitude,
    number,
    ulp_distance,
    within,
)


def f32(label: str, *numbers: float | str) -> Value:
    bits = tuple(n if isinstance(n, str) else struct.pack(">f", n).hex() for n in numbers)
    return Value(label=label, dtype="float32", shape=(len(bits),), bits=bits, values=(0.0,) * len(bits))


def f64(*numbers: float) -> Value:
    bits = tuple(struct.pack(">d", n).hex() for n in numbers)
    return Value(label="x", dtype="float64", shape=(len(bits),), bits=bits, values=tuple(numbers))


def test_ulp_distance_of_adjacent_and_signed_floats() -> None:
    assert ulp_distance("float32", struct.pack(">f", 1.0).hex(), struct.pack(">f", 1.0).hex()) == 0
    assert ulp_distance("float32", struct.pack(">f", 0.0).hex(), struct.pack(">f", -0.0).hex()) == 0
    assert ulp_distance("float32", "00000001", "80000001") == 2  # ±min subnormal: one step to 0, one from it
    one, after = struct.pack(">d", 1.0).hex(), struct.pack(">d", math.nextafter(1.0, 2.0)).hex()
    assert ulp_distance("float64", one, after) == 1


def test_a_nan_has_no_ulp_distance() -> None:
    assert ulp_distance("float32", "7fc00000", "3f800000") is None
    assert ulp_distance("float8_e4m3fnuz", "80", "00") is None  # 0x80 is fnuz's NaN, not -0


@pytest.mark.parametrize(
    ("dtype", "bits_a", "bits_b", "ulps"),
    [
        # Before: the byte's top bit was taken for the sign, so -0.5 (0b1001) vs 6.0 (0b0111) read 2 ULP.
        ("float4_e2m1fn", "09", "07", 8),  # -0.5 -0 +0.5 1 1.5 2 3 4 6
        ("float4_e2m1fn", "0f", "07", 14),  # -6 vs 6
        ("float6_e2m3fn", "21", "01", 2),  # -0.125 vs 0.125
        ("float6_e3m2fn", "3f", "1f", 62),  # -28 vs 28
    ],
)
def test_formats_narrower_than_their_byte_take_the_sign_from_their_own_top_bit(
    dtype: str, bits_a: str, bits_b: str, ulps: int
) -> None:
    assert ulp_distance(dtype, bits_a, bits_b) == ulps
    a = Value(label="x", dtype=dtype, shape=(), bits=(bits_a,), values=(0.0,))
    b = Value(label="x", dtype=dtype, shape=(), bits=(bits_b,), values=(0.0,))
    assert difference(a, b).max_ulps == ulps
    assert within(a, b, ulps=ulps - 1) is not None


@pytest.mark.parametrize(
    ("below", "above", "ulps"),
    [
        ("3fffffffffffffffffff", "40008000000000000000", 1),  # the largest below 2, and 2: across a binade
        ("00007fffffffffffffff", "00018000000000000000", 1),  # the largest subnormal, the smallest normal
        ("7ffeffffffffffffffff", "7fff8000000000000000", 1),  # the largest finite, infinity
        ("80000000000000000001", "00000000000000000001", 2),  # ±min subnormal
    ],
)
def test_x87_neighbours_are_one_ulp_apart_despite_the_explicit_integer_bit(
    below: str, above: str, ulps: int
) -> None:
    """Before: the integer bit sat between exponent and fraction in the count: 2^63 + 1 ULP."""
    assert ulp_distance("longdouble", below, above) == ulps


def test_x87_encodings_the_hardware_refuses_are_nan_and_a_pseudo_denormal_is_its_normal_twin() -> None:
    assert math.isnan(number("longdouble", "3fff0000000000000000"))  # unnormal: integer bit clear
    assert math.isnan(number("longdouble", "7fff0000000000000000"))  # pseudo-infinity
    assert ulp_distance("longdouble", "3fff0000000000000000", "3fff8000000000000000") is None
    pseudo_denormal, smallest_normal = "00008000000000000000", "00018000000000000000"
    assert number("longdouble", pseudo_denormal) == number("longdouble", smallest_normal)
    assert ulp_distance("longdouble", pseudo_denormal, smallest_normal) == 0


def long_double(bits: str) -> Value:
    return Value(label="x", dtype="longdouble", shape=(), bits=(bits,), values=(1 / 3,))


X87_THIRD = "3ffdaaaaaaaaaaaaaaab"
QUAD_THIRD = "3ffd5555555555555555555555555555"


def test_long_doubles_of_two_platforms_have_no_ulp_distance_and_are_never_within_a_tolerance() -> None:
    """Before: x87 vs IEEE quad bits read as one sign-magnitude integer: about 8.5e37 ULP, and
    `atol: 1` held although the two values are not of one format."""
    assert ulp_distance("longdouble", X87_THIRD, QUAD_THIRD) is None
    found = difference(long_double(X87_THIRD), long_double(QUAD_THIRD))
    assert found.max_ulps is None
    assert "longdouble x87 80-bit vs IEEE quadruple: no ULP distance" in found.notes
    assert found.max_abs is not None
    assert found.max_abs < 1e-18  # |Δ| of the two numbers is exact and honest
    tolerances: list[dict[str, Any]] = [{"atol": 1.0}, {"ulps": 10**40}, {"rtol": 1.0}]
    for tolerance in tolerances:
        why = within(long_double(X87_THIRD), long_double(QUAD_THIRD), **tolerance)
        assert why is not None
        assert "x87 80-bit vs IEEE quadruple" in why


def test_ieee_quadruple_long_doubles_decode_exactly() -> None:
    """Before: decoded through a float, so quads that differ past 53 bits read |Δ| 0 and held
    `atol: 1e-40`, and 2^16383 raised OverflowError."""
    next_third = QUAD_THIRD[:-1] + "6"
    assert number("longdouble", QUAD_THIRD) != number("longdouble", next_third)
    assert within(long_double(QUAD_THIRD), long_double(next_third), atol=1e-40) is not None
    assert difference(long_double(QUAD_THIRD), long_double(next_third)).max_ulps == 1
    assert number("longdouble", "7ffe" + "0" * 28) == 2**16383


def test_the_largest_float64_against_its_negative_is_a_finite_exact_distance() -> None:
    """Before: |max - (-max)| overflowed to inf and read "max |Δ| ∞" for two finite numbers."""
    largest = sys.float_info.max
    found = difference(f64(largest), f64(-largest))
    assert found.max_abs == 2 * int(largest)
    assert found.max_abs is not None
    assert format_magnitude(found.max_abs) == "3.60e+308"
    assert found.max_ulps == 2 * 0x7FEFFFFFFFFFFFFF
    why = within(f64(largest), f64(-largest), atol=largest)
    assert why is not None
    assert "3.60e+308" in why


def test_a_tolerance_is_checked_exactly_not_after_rounding() -> None:
    """Before: 2^53 + 2 - (-0.25) rounds to 2^53 + 2 in floats, and `atol: 2^53 + 2` held."""
    assert within(f64(2.0**53 + 2), f64(-0.25), atol=2.0**53 + 2) is not None
    assert within(f64(2.0**53 + 2), f64(-0.25), atol=2.0**53 + 4) is None
    assert within(f64(1.0), f64(math.nextafter(1.0, 2.0)), atol=2.0**-52) is None  # exactly the tolerance


def test_a_relative_tolerance_of_a_long_double_beyond_float_range_does_not_overflow() -> None:
    """Before: rtol·|b| went through float(b) and raised OverflowError for 2^16383."""
    huge, next_up = "7ffe8000000000000000", "7ffe8000000000000001"
    assert within(long_double(huge), long_double(next_up), rtol=1e-15) is None
    assert within(long_double(huge), long_double(next_up), rtol=1e-20) is not None


def c128(real: float, imaginary: float) -> Value:
    bits = struct.pack(">d", real).hex() + struct.pack(">d", imaginary).hex()
    return Value(label="z", dtype="complex128", shape=(1,), bits=(bits,), values=("z",))


def test_complex_values_are_within_atol_and_rtol_by_their_modulus() -> None:
    """Before: each part was checked on its own, so 0 and 0.9+0.9j (1.27 apart) were within atol 1,
    and 1+1e-6j against 1 was beyond rtol 1e-3 (rtol·|0|, the imaginary part of 1, is 0)."""
    why = within(c128(0.0, 0.0), c128(0.9, 0.9), atol=1.0)
    assert why == "|Δ| 1.27 at [0] (more than 1)"
    assert within(c128(0.0, 0.0), c128(0.7, 0.7), atol=1.0) is None  # 0.99 apart
    assert within(c128(1.0, 1e-6), c128(1.0, 0.0), rtol=1e-3) is None
    assert within(c128(1.0, 2e-3), c128(1.0, 0.0), rtol=1e-3) is not None


def test_a_complex_tolerance_is_decided_exactly_at_its_edge() -> None:
    # 3+4j against 0 is exactly 5 apart: within atol 5, not within the float just below 5; with
    # atol and rtol together the bound is A + R·|b| = 1 + 1·5.
    assert within(c128(3.0, 4.0), c128(0.0, 0.0), atol=5.0) is None
    assert within(c128(3.0, 4.0), c128(0.0, 0.0), atol=math.nextafter(5.0, 0.0)) is not None
    assert within(c128(6.0, 8.0), c128(3.0, 4.0), atol=1.0, rtol=0.8) is None  # 5 <= 1 + 0.8·5
    assert within(c128(6.0, 8.0), c128(3.0, 4.0), atol=0.99, rtol=0.8) is not None
    assert within(c128(0.0, 0.0), c128(math.nan, 0.0), atol=math.inf) is not None
    assert within(c128(1.0, 0.0), c128(0.0, 0.0), rtol=math.inf) is not None  # rtol·|0| is 0


def test_a_complex_ulp_tolerance_is_per_part() -> None:
    after = math.nextafter(1.0, 2.0)
    assert within(c128(1.0, 1.0), c128(after, after), ulps=1) is None
    assert within(c128(1.0, 1.0), c128(after, math.nextafter(after, 2.0)), ulps=1) is not None


@pytest.mark.parametrize(
    ("value", "other", "tolerance"),
    [
        (f64(math.nan), f64(1.0), {"atol": math.inf}),
        (f64(1.0), f64(math.nan), {"rtol": 1.0}),
        (f64(math.nan), f64(1.0), {"ulps": 2**70}),
        (f64(math.inf), f64(1.0), {"atol": math.inf}),
        (f32("x", 1.0), f64(1.0), {"atol": 1.0}),
        (f32("x", 1.0, 1.0), f32("x", 1.0), {"atol": 1.0}),
    ],
)
def test_what_cannot_be_compared_is_never_within_a_tolerance(
    value: Value, other: Value, tolerance: dict[str, Any]
) -> None:
    assert within(value, other, **tolerance) is not None


@given(
    st.floats(min_value=-(2.0**127), max_value=2.0**127, width=32), st.integers(min_value=0, max_value=1000)
)
def test_ulp_distance_counts_steps_of_nextafter(start: float, steps: int) -> None:
    value = np.float32(start)
    moved = value
    for _ in range(steps):
        moved = np.nextafter(moved, np.float32(np.inf))
    assert ulp_distance("float32", value.tobytes()[::-1].hex(), moved.tobytes()[::-1].hex()) == steps


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


@pytest.mark.parametrize(
    ("dtype", "bits"),
    [
        ("float4_e2m1fn", "17"),  # a 4-bit format's byte with a bit above the format set
        ("float6_e2m3fn", "41"),
        ("float16", "3c0"),
        ("int8", "128"),  # out of the dtype's range
        ("uint8", "-1"),
        ("int64", "9" * 30),
    ],
)
def test_bits_outside_their_format_are_refused(dtype: str, bits: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        check(Value(label="x", dtype=dtype, shape=(), bits=(bits,), values=(0,)))


def test_one_value_cannot_mix_long_double_formats() -> None:
    mixed = Value(label="x", dtype="longdouble", shape=(2,), bits=(X87_THIRD, QUAD_THIRD), values=(0.3, 0.3))
    with pytest.raises(ValueError, match="'x': mixes long double formats"):
        check(mixed)


@pytest.mark.parametrize(
    ("shape", "bits", "values", "message"),
    [
        ((-1,), ("3f800000",), (1.0,), r"'x': negative shape \[-1\]"),
        ((-1, -1), ("3f800000",), (1.0,), r"'x': negative shape \[-1, -1\]"),
        (
            (2, 2),
            ("3f800000",) * 3,
            (1.0,) * 3,
            r"'x': shape \[2, 2\] holds 4 element\(s\), not 3 bits and 3 values",
        ),
        ((), (), (), r"'x': shape \[\] holds 1 element\(s\), not 0 bits and 0 values"),
        ((2,), ("3f800000",) * 2, (1.0,), r"'x': shape \[2\] holds 2 element\(s\), not 2 bits and 1 values"),
    ],
)
def test_a_shape_that_does_not_match_the_bits_is_refused(
    shape: tuple[int, ...], bits: tuple[str, ...], values: tuple[float, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check(Value(label="x", dtype="float32", shape=shape, bits=bits, values=values))


def test_values_that_hold_no_bits_need_no_elements() -> None:
    for dtype in ("unrecordable", "not-written"):
        assert check(Value(label="x", dtype=dtype, shape=(), bits=(), values=(), note="why"))


def test_a_distance_beyond_float_range_survives_json_exactly() -> None:
    """Before: x87 ±max are 2.4e4932 apart, an integer of 4,933 digits that results.json could
    write but not read back ("number out of range")."""
    largest, lowest = "7ffeffffffffffffffff", "fffeffffffffffffffff"
    found = difference(long_double(largest), long_double(lowest))
    assert found.max_abs == 2 * number("longdouble", largest)
    assert format_magnitude(found.max_abs) == "2.38e+4932"
    adapter = TypeAdapter(Difference)
    for gap in (found.max_abs, 2 * int(sys.float_info.max), 10**100_000, 1.5, math.inf):
        data = adapter.dump_json(replace(found, max_abs=gap))
        assert adapter.validate_json(data).max_abs == gap


def test_a_nan_against_a_long_double_beyond_float_range_is_named_without_overflow() -> None:
    """Before: the reason printed float(2^16383) and raised OverflowError."""
    why = within(long_double("7fffc000000000000000"), long_double("7ffe8000000000000000"), atol=1.0)
    assert why == "element []: NaN vs 5.95e+4931"


def test_an_infinite_tolerance_holds_every_finite_gap() -> None:
    assert within(f64(-sys.float_info.max), f64(sys.float_info.max), atol=math.inf) is None
    assert within(f64(0.0), f64(1.0), rtol=math.inf) is None
    assert within(f64(1.0), f64(0.0), rtol=math.inf) is not None  # rtol·|0| is 0


def masked_f32(*numbers: float | None) -> Value:
    """float32 elements, None where masked."""
    bits = tuple("" if n is None else struct.pack(">f", n).hex() for n in numbers)
    shown = tuple("--" if n is None else n for n in numbers)
    mask = tuple(n is None for n in numbers)
    return Value(label="x", dtype="float32", shape=(len(bits),), bits=bits, values=shown, mask=mask)


def test_masked_arrays_are_equal_when_their_masks_and_unmasked_bits_are() -> None:
    assert difference(masked_f32(1.0, None, 3.0), masked_f32(1.0, None, 3.0)).equal
    assert within(masked_f32(1.0, None, 3.0), masked_f32(1.0, None, 3.0)) is None
    assert not difference(masked_f32(1.0, None, 3.0), f32("x", 1.0, 0.0, 3.0)).equal


def test_a_different_mask_is_a_difference_said_where_and_never_within_a_tolerance() -> None:
    found = difference(masked_f32(1.0, None, 3.0), masked_f32(1.0, 2.0, None))
    assert (found.equal, found.elements, found.differing, found.first_index) == (False, 3, 2, (1,))
    assert found.notes == ("mask differs at 2 element(s), first at [1]",)
    assert (found.max_abs, found.max_ulps) == (None, None)  # no two numbers differ
    one = difference(
        masked_f32(1.0, None),
        Value(
            label="x",
            dtype="float32",
            shape=(2,),
            bits=(struct.pack(">f", 1.0).hex(), struct.pack(">f", 2.0).hex()),
            values=(1.0, 2.0),
        ),
    )
    assert one.notes == ("mask differs at [1]",)
    for tolerance in ({"atol": math.inf}, {"rtol": math.inf}, {"ulps": 10**9}):
        assert within(masked_f32(1.0, None, 3.0), masked_f32(1.0, 2.0, None), **tolerance) == (
            "mask differs at 2 element(s), first at [1]"
        )
    assert within(masked_f32(None, 2.0), masked_f32(1.0, 2.0), atol=math.inf) == "mask differs at [0]"


def test_distances_are_between_elements_unmasked_on_both_sides() -> None:
    found = difference(masked_f32(1.0, None, 3.0, 4.0), masked_f32(1.5, None, None, 4.0))
    assert (found.differing, found.first_index, found.max_abs) == (2, (0,), 0.5)
    assert found.max_ulps == 1 << 22
    assert within(masked_f32(1.0, None), masked_f32(1.5, None), atol=0.5) is None
    why = within(masked_f32(1.0, None), masked_f32(1.5, None), atol=0.25)
    assert why == "|Δ| 0.5 at [0] (more than 0.25)"


def test_a_masked_element_holds_no_number() -> None:
    assert exact(masked_f32(1.0, None), 1) is None
    assert exact(masked_f32(1.0, None), 0) == 1
    bits, shown = (QUAD_THIRD, ""), (0.3, "--")
    quad = Value(label="x", dtype="longdouble", shape=(2,), bits=bits, values=shown, mask=(False, True))
    assert check(quad) is quad  # a masked element is no long double of another platform
    other = replace(quad, bits=("3ffd5555555555555555555555555556", ""))
    assert difference(other, quad).max_ulps == 1


@pytest.mark.parametrize(
    ("bits", "mask", "message"),
    [
        (("3f800000", ""), (True,), r"'x': a mask of 1 flag\(s\) for 2 element\(s\)"),
        (("3f800000", ""), (False, True, False), r"'x': a mask of 3 flag\(s\) for 2 element\(s\)"),
        (("3f800000", "3f800000"), (False, False), "'x': a mask that masks nothing"),
        (("3f800000", "40000000"), (False, True), "'x': a masked element with bits '40000000'"),
        (("", ""), (False, True), "is not float32 bits"),  # an unmasked element holds a number
    ],
)
def test_a_mask_that_does_not_fit_its_value_is_refused(
    bits: tuple[str, ...], mask: tuple[bool, ...], message: str
) -> None:
    value = Value(label="x", dtype="float32", shape=(2,), bits=bits, values=(1.0, "--"), mask=mask)
    with pytest.raises(ValueError, match=message):
        check(value)


def test_a_mask_survives_json_strictly_and_values_without_one_read_as_before() -> None:
    adapter = TypeAdapter(Value)
    plain = f32("x", 1.0)
    assert adapter.validate_json(adapter.dump_json(plain)) == plain
    assert adapter.validate_json(adapter.dump_json(masked_f32(1.0, None))) == masked_f32(1.0, None)
    old = b'{"label": "x", "dtype": "float32", "shape": [1], "bits": ["3f800000"], "values": [0.0]}'
    assert adapter.validate_json(old) == plain  # results written before masks read as before
    with pytest.raises(ValueError, match="mask"):
        adapter.validate_json(old[:-1] + b', "mask": [1]}')


def test_a_record_line_with_a_mask_that_is_not_flags_is_refused() -> None:
    line = {"label": "x", "dtype": "float32", "shape": [2], "bits": ["3f800000", ""], "values": [1.0, "--"]}
    assert value_from_record({**line, "mask": [False, True]}).mask == (False, True)
    for mask in ([0, 1], "01", [False, "true"]):
        with pytest.raises(TypeError, match="mask"):
            value_from_record({**line, "mask": mask})
    with pytest.raises(ValueError, match="masked element with bits"):
        value_from_record({**line, "bits": ["3f800000", "3f800000"], "mask": [False, True]})
