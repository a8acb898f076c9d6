"""ULP distances and decoding against an independent oracle: ml_dtypes' own numbers, sorted.

The oracle knows nothing of bit layouts: it takes every bit pattern of a format, asks ml_dtypes
(or NumPy) what number it is, and counts the distinct non-NaN numbers between two of them (±0 are
one number). The small formats are checked pair by pair, 16-bit formats every value against a few
others and at random, x87 long doubles by stepping with nextafter across binades and through zero.
"""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seedmatrix.values import _FORMATS, is_nan, number, ulp_distance

SMALL = sorted(name for name, fmt in _FORMATS.items() if fmt.width <= 8)
SIXTEEN = ["float16", "bfloat16"]


def numpy_dtype(name: str) -> Any:
    return np.float16 if name == "float16" else getattr(ml_dtypes, name)


def patterns(name: str) -> range:
    """Every bit pattern of the format, in the low bits of its storage (4- and 6-bit formats in a byte)."""
    return range(1 << _FORMATS[name].width)


def oracle(name: str) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Each pattern's hex bits, its number (ml_dtypes' reading), and its rank among the format's
    distinct non-NaN numbers (-1 for NaN)."""
    storage = np.uint8 if np.dtype(numpy_dtype(name)).itemsize == 1 else np.uint16
    raw = np.array(patterns(name), dtype=storage)
    with np.errstate(invalid="ignore"):  # signalling NaNs stay NaN
        numbers = raw.view(numpy_dtype(name)).astype(np.float64)
    distinct = np.unique(numbers[~np.isnan(numbers)])  # -0.0 == 0.0: one number
    ranks = np.where(np.isnan(numbers), -1, np.searchsorted(distinct, numbers))
    digits = 2 * raw.itemsize
    return [format(int(n), f"0{digits}x") for n in raw], numbers, ranks


def expected_distance(ranks: npt.NDArray[np.int64], i: int, j: int) -> int | None:
    return None if ranks[i] < 0 or ranks[j] < 0 else abs(int(ranks[i]) - int(ranks[j]))


@pytest.mark.parametrize("name", SMALL + SIXTEEN)
def test_every_bit_pattern_decodes_to_the_number_ml_dtypes_reads(name: str) -> None:
    bits, numbers, _ = oracle(name)
    for hex_bits, expected in zip(bits, numbers.tolist(), strict=True):
        found = number(name, hex_bits)
        if math.isnan(expected):
            assert is_nan(found), hex_bits
        else:
            assert found == expected, (hex_bits, found, expected)
            assert math.copysign(1, found) == math.copysign(1, expected), hex_bits  # -0 stays -0


@pytest.mark.parametrize("name", SMALL)
def test_ulp_distance_of_every_pair_of_a_small_format_counts_the_numbers_between(name: str) -> None:
    bits, _, ranks = oracle(name)
    for i, bits_a in enumerate(bits):
        for j, bits_b in enumerate(bits):
            assert ulp_distance(name, bits_a, bits_b) == expected_distance(ranks, i, j), (bits_a, bits_b)


@pytest.mark.parametrize("name", SIXTEEN)
def test_ulp_distance_of_every_16_bit_value_against_zeros_ones_extremes_and_nan(name: str) -> None:
    bits, numbers, ranks = oracle(name)
    largest = numbers[np.isfinite(numbers)].max()
    wanted = np.array([0.0, -0.0, 1.0, largest, -np.inf, np.nan], dtype=numpy_dtype(name))
    smallest_subnormals = [0x0001, 0x8001]
    for j in [*wanted.view(np.uint16).tolist(), *smallest_subnormals]:
        for i, bits_a in enumerate(bits):
            assert ulp_distance(name, bits_a, bits[j]) == expected_distance(ranks, i, j), (bits_a, bits[j])


@pytest.mark.parametrize("name", SIXTEEN)
def test_ulp_distance_of_random_16_bit_pairs(name: str) -> None:
    bits, _, ranks = oracle(name)

    @given(st.integers(0, len(bits) - 1), st.integers(0, len(bits) - 1))
    def check(i: int, j: int) -> None:
        assert ulp_distance(name, bits[i], bits[j]) == expected_distance(ranks, i, j)

    check()


X87 = np.finfo(np.longdouble).nmant == 63


def x87_bits(x: np.longdouble) -> str:
    return np.asarray(x, dtype="<g").tobytes()[:10][::-1].hex()


def walk(start: np.longdouble, steps: int, toward: float) -> np.longdouble:
    for _ in range(steps):
        start = np.nextafter(start, np.longdouble(toward))
    return start


@pytest.mark.skipif(not X87, reason="NumPy's longdouble here is not x87 extended precision")
@given(
    st.integers(min_value=-16445, max_value=16383),
    st.integers(min_value=0, max_value=20),
    st.integers(min_value=0, max_value=40),
    st.booleans(),
)
@example(power=-16382, below=3, steps=6, negative=False)  # subnormal to normal
@example(power=-16445, below=0, steps=3, negative=True)  # -min subnormal, ±0, +min subnormal
@example(power=1, below=5, steps=10, negative=True)
def test_x87_distance_is_the_number_of_nextafter_steps(
    power: int, below: int, steps: int, negative: bool
) -> None:
    """Start `below` steps under ±2^power (across a binade when steps > below) and step up; nextafter
    steps from -0 straight to the smallest subnormal, as ±0 are one number in the distance too."""
    edge = np.ldexp(np.longdouble(-1.0 if negative else 1.0), power)
    start = walk(edge, below, -np.inf)
    end = walk(start, steps, np.inf)
    assert ulp_distance("longdouble", x87_bits(start), x87_bits(end)) == steps
