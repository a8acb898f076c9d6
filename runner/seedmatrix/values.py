"""Recorded values and the distance between two of them, from their exact bits.

A value is what one `show(label, value)` recorded: a dtype, a shape, and per element its exact
`bits` (IEEE bytes in big-endian hex for floats, decimal digits for integers, the text itself for
strings) plus a `values` form for people. Equality is equality of dtype, shape and bits, never of
printed text. Distances are computed from the bits too, so a NaN, an infinity or a huge integer
can never make a difference look smaller than it is.

Over 500 lines on purpose, for now: every format's decoding table, the distances and the tolerances
read the same private helpers, and a split would have to export them. The packed arrays (side files
read in chunks, at the end) are the part to move out first.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Annotated, NamedTuple

from pydantic import BeforeValidator, Field, PlainSerializer, StrictBool, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

#: A value people read: a JSON scalar (non-finite floats and huge integers are written as text).
Shown = float | int | str | bool | None


@dataclass(frozen=True, kw_only=True)
class Value:
    """One labelled value as recorded; a label shown n times in a run has n values, in order."""

    label: str
    dtype: str
    shape: tuple[int, ...]
    bits: tuple[str, ...]
    values: tuple[Shown, ...]
    note: str = ""  # why it could not be recorded (dtype "unrecordable")
    packed: Packed | None = None  # an array too big to record element by element (bits, values empty)
    # A masked array's mask, one flag per element (True: masked); None when nothing is masked. A
    # masked element's bits are MASKED_BITS: the data under a mask is whatever the buffer held.
    mask: tuple[StrictBool, ...] | None = None

    @property
    def key(self) -> tuple[str, tuple[int, ...], tuple[str, ...], str | None, tuple[bool, ...] | None]:
        """What bitwise equality compares (a packed array: the digest of all its bits)."""
        return self.dtype, self.shape, self.bits, self.packed.sha256 if self.packed else None, self.mask

    def masked(self, index: int) -> bool:
        """Whether element `index` is under the mask (it holds no number)."""
        return self.mask is not None and self.mask[index]

    @property
    def recorded(self) -> bool:
        return self.dtype not in {UNRECORDABLE, NOT_WRITTEN}


@dataclass(frozen=True, kw_only=True)
class Packed:
    """The bits of a big array kept in a side file, not in the record: every element big-endian
    (integers and booleans too), in row-major order, named by the SHA-256 of those bytes."""

    sha256: str
    size: int  # bytes: elements times the element width
    # Where the side file is on this machine: set by the store when it loads a run, never read from JSON.
    path: Annotated[Path | None, SkipJsonSchema(), Field(exclude=True)] = field(
        default=None, compare=False, repr=False
    )


UNRECORDABLE = "unrecordable"  # the recorder could not record it (its note says why)
NOT_WRITTEN = "not-written"  # an output file the case expects that the script did not write
PARSED = "text"  # taken from what the script printed (`parse:`), compared as text
SHA256 = "sha256"  # an output file seedmatrix does not read: its digest (bits) and size (values)
# The bits of a masked element, whatever its dtype (an empty str's too: the mask, part of the key,
# tells them apart).
MASKED_BITS = ""


class _Format(NamedTuple):
    """A binary floating-point format: sign, `exponent` bits, `mantissa` bits (stored)."""

    exponent: int
    mantissa: int
    bias: int
    specials: str  # "ieee": max exponent is inf/NaN; "fn": only all-ones is NaN; "fnuz": 0x80 is NaN
    explicit_integer_bit: bool = False

    @property
    def width(self) -> int:
        """Its bits: a 4- or 6-bit format is stored in a byte's low bits (its sign is not the top bit)."""
        return 1 + self.exponent + self.mantissa + self.explicit_integer_bit


_IEEE_STRUCT = {"float16": ">e", "float32": ">f", "float64": ">d"}
_FORMATS = {
    "float16": _Format(5, 10, 15, "ieee"),
    "float32": _Format(8, 23, 127, "ieee"),
    "float64": _Format(11, 52, 1023, "ieee"),
    "bfloat16": _Format(8, 7, 127, "ieee"),
    "float8_e3m4": _Format(3, 4, 3, "ieee"),
    "float8_e4m3": _Format(4, 3, 7, "ieee"),
    "float8_e5m2": _Format(5, 2, 15, "ieee"),
    "float8_e4m3fn": _Format(4, 3, 7, "fn"),
    "float8_e4m3fnuz": _Format(4, 3, 8, "fnuz"),
    "float8_e4m3b11fnuz": _Format(4, 3, 11, "fnuz"),
    "float8_e5m2fnuz": _Format(5, 2, 16, "fnuz"),
    "float6_e2m3fn": _Format(2, 3, 1, "finite"),
    "float6_e3m2fn": _Format(3, 2, 3, "finite"),
    "float4_e2m1fn": _Format(2, 1, 1, "finite"),
}
#: `longdouble` is x87 extended precision (80 bits) on x86, IEEE quadruple precision elsewhere.
_LONG_DOUBLES = {
    20: _Format(15, 63, 16383, "ieee", explicit_integer_bit=True),
    32: _Format(15, 112, 16383, "ieee"),
}
_LONG_DOUBLE_NAMES = {20: "x87 80-bit", 32: "IEEE quadruple"}
#: Formats narrower than their storage: the bits above the format must be 0.
_PADDED = frozenset(name for name, fmt in _FORMATS.items() if fmt.width % 8)
_COMPLEX = {"complex64": "float32", "complex128": "float64", "clongdouble": "longdouble"}
_INTEGER_PREFIXES = ("int", "uint")

Number = float | int | Fraction


def is_float(dtype: str) -> bool:
    return dtype in _FORMATS or dtype == "longdouble"


def is_integer(dtype: str) -> bool:
    return dtype == "int" or (
        dtype.startswith(_INTEGER_PREFIXES) and dtype.rstrip("0123456789") in _INTEGER_PREFIXES
    )


def is_complex(dtype: str) -> bool:
    return dtype in _COMPLEX


def is_numeric(dtype: str) -> bool:
    return is_float(dtype) or is_integer(dtype) or is_complex(dtype)


def number(dtype: str, bits: str) -> Number:
    """The exact number one element's bits stand for (NaN as float('nan')); floats only to 64 bits
    come back as `float` (exact), wider ones as `Fraction`."""
    if is_integer(dtype):
        # Through Decimal: int() refuses strings of over 4,300 digits (Python 3.11's limit), and a
        # recorder on Python 3.9 writes them.
        return int(Decimal(bits))
    if dtype in _IEEE_STRUCT:
        unpacked: float = struct.unpack(_IEEE_STRUCT[dtype], bytes.fromhex(bits))[0]
        return unpacked
    return _decode(_format(dtype, bits), int(bits, 16))


def _format(dtype: str, bits: str) -> _Format:
    return _LONG_DOUBLES[len(bits)] if dtype == "longdouble" else _FORMATS[dtype]


def check(value: Value) -> Value:
    """`value` itself, or ValueError when its bits do not have the form its dtype promises.

    Everything read from disk passes through here, so arithmetic on bits never meets garbage.
    """
    if any(size < 0 for size in value.shape):
        raise ValueError(f"{value.label!r}: negative shape {list(value.shape)}")
    if value.packed is not None:
        if value.mask is not None:
            raise ValueError(f"{value.label!r}: an array kept in a side file has no mask")
        return _check_packed(value, value.packed)
    elements = math.prod(value.shape)
    if value.recorded and not elements == len(value.bits) == len(value.values):
        raise ValueError(
            f"{value.label!r}: shape {list(value.shape)} holds {elements} element(s), "
            f"not {len(value.bits)} bits and {len(value.values)} values"
        )
    if value.mask is not None:
        _check_mask(value, value.mask)
    if is_float(value.dtype) or is_complex(value.dtype):
        _check_floats(value)
    elif is_integer(value.dtype):
        bounds = _integer_range(value.dtype)
        for bits in _unmasked_bits(value):
            if not _INTEGER.fullmatch(bits) or len(bits) > 100_000:
                raise ValueError(f"{value.label!r}: {bits!r} is not an integer")
            if bounds and not (len(bits) <= 25 and bounds[0] <= int(bits) <= bounds[1]):
                raise ValueError(f"{value.label!r}: {bits!r} is not {value.dtype}")
    return value


def _check_mask(value: Value, mask: tuple[bool, ...]) -> None:
    """One flag per element, at least one of them set (nothing masked is written as no mask, so
    one array has one key), and no bits under it: the data there must never count."""
    if not value.recorded:
        raise ValueError(f"{value.label!r}: a value that was not recorded has no mask")
    if len(mask) != len(value.bits):
        raise ValueError(f"{value.label!r}: a mask of {len(mask)} flag(s) for {len(value.bits)} element(s)")
    if not any(mask):
        raise ValueError(f"{value.label!r}: a mask that masks nothing (written as no mask)")
    for index, bits in enumerate(value.bits):
        if mask[index] and bits != MASKED_BITS:
            raise ValueError(f"{value.label!r}: a masked element with bits {bits[:40]!r}")


def _unmasked_bits(value: Value) -> Iterator[str]:
    """The bits of the elements that hold a number (all of them unless some are masked)."""
    return (bits for index, bits in enumerate(value.bits) if not value.masked(index))


def _check_floats(value: Value) -> None:
    real = _COMPLEX.get(value.dtype, value.dtype)
    widths = set(_LONG_DOUBLES) if real == "longdouble" else {_hex_width(real)}
    parts = 2 if is_complex(value.dtype) else 1
    for bits in _unmasked_bits(value):
        if len(bits) % parts or len(bits) // parts not in widths or not _HEX.fullmatch(bits):
            raise ValueError(f"{value.label!r}: {bits!r} is not {value.dtype} bits")
        if real in _PADDED and int(bits, 16) >> _FORMATS[real].width:
            raise ValueError(f"{value.label!r}: {bits!r} is not {value.dtype} bits (bits above the format)")
    if real == "longdouble" and len({len(bits) for bits in _unmasked_bits(value)}) > 1:
        raise ValueError(f"{value.label!r}: mixes long double formats (x87 and IEEE quadruple)")


def _integer_range(dtype: str) -> tuple[int, int] | None:
    """The range of a sized integer dtype (int8, uint64, ml_dtypes' int4); Python's int has none."""
    if dtype == "int":
        return None
    signed = not dtype.startswith("uint")
    width = int(dtype.removeprefix("u").removeprefix("int"))
    return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)


_HEX = re.compile(r"[0-9a-f]+")
_INTEGER = re.compile(r"-?[0-9]+")


def _hex_width(dtype: str) -> int:
    fmt = _FORMATS[dtype]
    bits = 1 + fmt.exponent + fmt.mantissa
    return 2 * max(1, (bits + 7) // 8)


def _decode(fmt: _Format, raw: int) -> Number:
    width = fmt.width
    sign = -1 if raw >> (width - 1) & 1 else 1
    fraction_bits = fmt.mantissa + (1 if fmt.explicit_integer_bit else 0)
    exponent = (raw >> fraction_bits) & ((1 << fmt.exponent) - 1)
    fraction = raw & ((1 << fmt.mantissa) - 1)
    top = (1 << fmt.exponent) - 1
    if fmt.explicit_integer_bit and exponent and not raw >> fmt.mantissa & 1:
        return math.nan  # unnormal, pseudo-infinity, pseudo-NaN: invalid operands since the 80387
    if fmt.specials == "fnuz" and raw == 1 << (width - 1):
        return math.nan
    if fmt.specials == "fn" and exponent == top and fraction == (1 << fmt.mantissa) - 1:
        return math.nan
    if fmt.specials == "ieee" and exponent == top:
        return math.nan if fraction else sign * math.inf
    if fmt.explicit_integer_bit:
        significand = raw & ((1 << fraction_bits) - 1)
    else:
        significand = fraction + (1 << fmt.mantissa if exponent else 0)
    scale = max(exponent, 1) - fmt.bias - fmt.mantissa
    if fmt.width > 64:  # long doubles exceed a float's precision and range
        return sign * Fraction(significand) * Fraction(2) ** scale
    return sign * math.ldexp(significand, scale)


def is_nan(value: Number) -> bool:
    return isinstance(value, float) and math.isnan(value)


def ulp_distance(dtype: str, bits_a: str, bits_b: str) -> int | None:
    """Units in the last place between two elements of float `dtype` (big-endian hex): how many
    steps from one representable number to the next lead from one to the other. +0 and -0 are one
    number (0 apart; their bits still differ, so they are not equal), infinities are one step
    beyond the largest finite number. None when there is no such count: a NaN, or long doubles of
    two platforms (x87 and IEEE quadruple precision are different formats)."""
    fmt = _format(dtype, bits_a)
    if fmt != _format(dtype, bits_b) or is_nan(number(dtype, bits_a)) or is_nan(number(dtype, bits_b)):
        return None
    return abs(_ordered(fmt, int(bits_a, 16)) - _ordered(fmt, int(bits_b, 16)))


def _ordered(fmt: _Format, raw: int) -> int:
    """A non-NaN element's place among its format's numbers: neighbours are adjacent integers."""
    sign = 1 << (fmt.width - 1)
    magnitude = raw & (sign - 1)
    if fmt.explicit_integer_bit:
        # x87 stores the integer bit that other formats imply: 1 in every normal number, so counted
        # as is it would put 2^63 empty places between binades. Below the smallest normal exponent
        # (subnormals, and pseudo-denormals, which equal the normal with the same significand) the
        # significand is the place; above it, each exponent adds 2^63 places.
        exponent, significand = magnitude >> (fmt.mantissa + 1), magnitude & ((2 << fmt.mantissa) - 1)
        magnitude = ((max(exponent, 1) - 1) << fmt.mantissa) + significand
    return -magnitude if raw & sign else magnitude


def _json_magnitude(amount: float | int | None) -> float | int | str | None:
    if isinstance(amount, float) and math.isinf(amount):
        return "Infinity"
    if isinstance(amount, int) and amount > sys.float_info.max:
        return f"{Decimal(amount):f}"  # Decimal: str() refuses integers over 4,300 digits
    return amount


def _read_magnitude(found: object) -> object:
    return int(Decimal(found)) if isinstance(found, str) and _DIGITS.fullmatch(found) else found


_DIGITS = re.compile(r"[0-9]+")

# JSON has no infinity: written as the text "Infinity", read back as a float. An integer beyond
# float range (|max - -max| of float64, long doubles, Python ints) is written as its digits, a
# string: JSON readers take numbers as doubles, or refuse those with thousands of digits.
_Magnitude = Annotated[
    float | int | None,
    PlainSerializer(_json_magnitude, when_used="json"),
    BeforeValidator(_read_magnitude),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"const": "Infinity"},
                {"type": "string", "pattern": "^[0-9]+$"},
                {"type": "null"},
            ]
        }
    ),
]


@dataclass(frozen=True, kw_only=True)
class Difference:
    """How one value differs from another of the same label: counts, where first, how far."""

    equal: bool
    elements: int = 0  # elements compared (0 when the shapes do not match)
    differing: int = 0  # elements whose bits differ
    first_index: tuple[int, ...] | None = None  # where the first differing element is
    max_abs: _Magnitude = None  # largest |Δ| over pairs of finite numbers (inf: one side infinite)
    max_ulps: int | None = None  # largest distance in ULPs over pairs of finite floats of one dtype
    notes: tuple[str, ...] = ()  # what the numbers alone do not say (NaN, dtype or shape change)
    occurrence: int | None = None  # which showing of a label shown several times differs first (1-based)

    @property
    def fraction(self) -> float:
        return self.differing / self.elements if self.elements else 1.0


def difference(value: Value, other: Value) -> Difference:
    """`value` against `other` (the reference, the baseline, the first repeat)."""
    if value.key == other.key:
        return Difference(equal=True, elements=element_count(value))
    if not (value.recorded and other.recorded):
        note = value.note or other.note or "not recorded"
        return Difference(equal=False, notes=(note,))
    if value.packed is not None or other.packed is not None:
        return packed_difference(value, other)
    if value.shape != other.shape or len(value.bits) != len(other.bits):
        return Difference(equal=False, notes=(f"shape {list(value.shape)} vs {list(other.shape)}",))
    notes = [] if value.dtype == other.dtype else [f"dtype {value.dtype} vs {other.dtype}"]
    platforms = long_double_platforms(value, other)
    if platforms:
        notes.append(f"{platforms}: no ULP distance")
    remasked = _mask_differences(value, other)
    if remasked:
        notes.append(_mask_note(remasked, value.shape))
    # An element masked on one side only differs whatever its bits; distances are between numbers,
    # so only elements masked on neither side have one.
    differing = [
        i
        for i, pair in enumerate(zip(value.bits, other.bits, strict=True))
        if pair[0] != pair[1] or value.masked(i) != other.masked(i)
    ]
    if not differing:  # same bits, different dtype
        return Difference(equal=False, elements=len(value.bits), notes=tuple(notes))
    stats = _distances(value, other, [i for i in differing if not (value.masked(i) or other.masked(i))])
    return Difference(
        equal=False,
        elements=len(value.bits),
        differing=len(differing),
        first_index=unravel(differing[0], value.shape),
        max_abs=stats.max_abs,
        max_ulps=stats.max_ulps,
        notes=(*notes, *stats.notes),
    )


def _mask_differences(value: Value, other: Value) -> list[int]:
    """The elements masked on one side only (a value without a mask masks none)."""
    if value.mask == other.mask:
        return []
    return [i for i in range(len(value.bits)) if value.masked(i) != other.masked(i)]


def _mask_note(remasked: Sequence[int], shape: tuple[int, ...]) -> str:
    where = list(unravel(remasked[0], shape))
    if len(remasked) == 1:
        return f"mask differs at {where}"
    return f"mask differs at {len(remasked):,} element(s), first at {where}"


class _Distances(NamedTuple):
    max_abs: float | int | None
    max_ulps: int | None
    notes: tuple[str, ...]


def _distances(value: Value, other: Value, differing: Sequence[int]) -> _Distances:
    if not (is_numeric(value.dtype) and is_numeric(other.dtype)):
        return _Distances(None, None, ())
    same_float = value.dtype == other.dtype and (is_float(value.dtype) or is_complex(value.dtype))
    max_abs: float | int | None = None
    max_ulps: int | None = None
    nan_pairs, nan_payloads = 0, 0
    for index in differing:
        for part_a, part_b, dtype_a, dtype_b in _parts(value, other, index):
            a, b = number(dtype_a, part_a), number(dtype_b, part_b)
            if is_nan(a) or is_nan(b):
                if part_a == part_b:
                    continue
                if is_nan(a) and is_nan(b):
                    nan_payloads += 1
                else:
                    nan_pairs += 1
                continue
            if part_a == part_b:
                continue
            gap = math.inf if _infinite(a) or _infinite(b) else _gap(a, b)
            max_abs = gap if max_abs is None else max(max_abs, gap)
            ulps = (
                ulp_distance(dtype_a, part_a, part_b)
                if same_float and not (_infinite(a) or _infinite(b))
                else None
            )
            if ulps is not None:
                max_ulps = ulps if max_ulps is None else max(max_ulps, ulps)
    notes = []
    if nan_pairs:
        notes.append(f"{nan_pairs} element(s) NaN on one side only")
    if nan_payloads:
        notes.append(f"{nan_payloads} NaN(s) with other bits (payload or sign)")
    return _Distances(max_abs, max_ulps, tuple(notes))


def _gap(a: Number, b: Number) -> float | int:
    """|a - b| of two finite numbers: a float, or an exact int when integral (integers can exceed
    any float) or beyond float range (|max - -max| of float64)."""
    if isinstance(a, float) and isinstance(b, float):
        gap = abs(a - b)
        return abs(int(a) - int(b)) if math.isinf(gap) else gap  # floats that large are integers
    return _magnitude(abs(Fraction(a) - Fraction(b)))


def _magnitude(amount: Fraction) -> float | int:
    if amount.denominator == 1:
        return amount.numerator
    try:
        return float(amount)
    except OverflowError:
        return round(amount)


def _beyond(a: Number, b: Number, atol: float, rtol: float) -> Fraction | None:
    """atol + rtol·|b| when |a - b| exceeds it, exactly: in floats a gap just over the tolerance
    can round down onto it, and rtol·|b| of a long double can overflow."""
    if math.isinf(atol) or (math.isinf(rtol) and b != 0):
        return None  # what the matrix file asked for: every finite gap holds
    if isinstance(a, float) and isinstance(b, float):
        gap, allowed = abs(a - b), atol + rtol * abs(b)
        # Each side is off by at most about one ulp: a wider margin decides in floats, fast.
        if (
            math.isfinite(gap)
            and math.isfinite(allowed)
            and abs(gap - allowed) > 4 * math.ulp(max(gap, allowed))
        ):
            return Fraction(allowed) if gap > allowed else None
    exact = Fraction(atol) + (Fraction(rtol) * abs(Fraction(b)) if b else 0)
    return exact if abs(Fraction(a) - Fraction(b)) > exact else None


def _infinite(x: Number) -> bool:
    return isinstance(x, float) and math.isinf(x)


def _parts(value: Value, other: Value, index: int) -> list[tuple[str, str, str, str]]:
    """The real components of element `index` on both sides (two for a complex number)."""
    a, b = value.bits[index], other.bits[index]
    if is_complex(value.dtype) and is_complex(other.dtype):
        part_a, part_b = _COMPLEX[value.dtype], _COMPLEX[other.dtype]
        half_a, half_b = len(a) // 2, len(b) // 2
        return [(a[:half_a], b[:half_b], part_a, part_b), (a[half_a:], b[half_b:], part_a, part_b)]
    if is_complex(value.dtype) or is_complex(other.dtype):
        return []
    return [(a, b, value.dtype, other.dtype)]


def within(
    value: Value, other: Value, *, ulps: int | None = None, atol: float = 0.0, rtol: float = 0.0
) -> str | None:
    """None when `value` is close to `other` (every element within `ulps`, or within atol + rtol·|other|);
    otherwise why not, in words. Bitwise-equal elements are always close; NaN is close only to the
    same NaN bits; a different dtype, shape or mask is never close. A complex element is within
    atol and rtol by its modulus, |a - b| <= atol + rtol·|b|; within `ulps` part by part (real,
    imaginary), the only meaning ULPs have for a complex number."""
    if value.key == other.key:
        return None
    if not (value.recorded and other.recorded):
        return value.note or other.note or "not recorded"
    if value.dtype != other.dtype or value.shape != other.shape:
        return _not_within(value, other)
    remasked = _mask_differences(value, other)
    if remasked:  # a number against no number is never close
        return _mask_note(remasked, value.shape)
    if value.packed and other.packed:  # keys differ, so digests do: no side file need be read
        return _not_within(value, other)
    if value.packed or other.packed:
        # One packed, one element by element: the same bits may stand in two forms.
        return None if packed_difference(value, other).equal else _not_within(value, other)
    if not (is_float(value.dtype) or is_integer(value.dtype) or is_complex(value.dtype)):
        return "not numbers, and not equal"
    platforms = long_double_platforms(value, other)
    if platforms:
        return f"{platforms}: not comparable"
    return _elements_within(value, other, ulps=ulps, atol=atol, rtol=rtol)


def _elements_within(value: Value, other: Value, *, ulps: int | None, atol: float, rtol: float) -> str | None:
    """`within` for two arrays of one numeric dtype and shape, element by element."""
    for index in range(len(value.bits)):
        if value.masked(index) or value.bits[index] == other.bits[index]:  # masked: on both sides
            continue
        where = list(unravel(index, value.shape))
        if is_complex(value.dtype) and ulps is None:
            why = _complex_within(value, other, index, where=where, atol=atol, rtol=rtol)
            if why is not None:
                return why
            continue
        for part_a, part_b, dtype, _ in _parts(value, other, index):
            if part_a == part_b:
                continue
            why = _part_within(dtype, part_a, part_b, where=where, ulps=ulps, atol=atol, rtol=rtol)
            if why is not None:
                return why
    return None


def _complex_within(
    value: Value, other: Value, index: int, *, where: list[int], atol: float, rtol: float
) -> str | None:
    """|a - b| <= atol + rtol·|b| with the complex modulus, decided exactly: part by part, two
    numbers each within atol can be atol·√2 apart, and rtol·|part of b| is 0 for a part that is 0."""
    (real_a, real_b, dtype, _), (imag_a, imag_b, _, _) = _parts(value, other, index)
    a = (number(dtype, real_a), number(dtype, imag_a))
    b = (number(dtype, real_b), number(dtype, imag_b))
    if any(is_nan(x) or _infinite(x) for x in (*a, *b)):
        return f"element {where}: {_shown_complex(*a)} vs {_shown_complex(*b)}"
    gap_squared = sum(((Fraction(x) - Fraction(y)) ** 2 for x, y in zip(a, b, strict=True)), Fraction(0))
    b_squared = sum((Fraction(y) ** 2 for y in b), Fraction(0))
    if math.isinf(atol) or (math.isinf(rtol) and b_squared):
        return None  # what the matrix file asked for: every finite gap holds
    allowed_atol, allowed_rtol = Fraction(atol), Fraction(rtol) if b_squared else Fraction(0)
    # gap <= A + R·√B, squared: gap² - A² - R²·B <= 2·A·R·√B, squared again where both sides are >= 0.
    excess = gap_squared - allowed_atol**2 - allowed_rtol**2 * b_squared
    if excess <= 0 or excess**2 <= 4 * allowed_atol**2 * allowed_rtol**2 * b_squared:
        return None
    with localcontext(prec=10, Emax=MAX_EMAX, Emin=MIN_EMIN):
        gap = _decimal(gap_squared).sqrt()
        allowed = Decimal(atol) + _decimal(allowed_rtol) * _decimal(b_squared).sqrt()
    return f"|Δ| {_shown_decimal(gap)} at {where} (more than {_shown_decimal(allowed)})"


def _decimal(amount: Fraction) -> Decimal:
    return Decimal(amount.numerator) / Decimal(amount.denominator)


def _shown_decimal(amount: Decimal) -> str:
    """Like `format_magnitude`, for a Decimal that may be beyond float range (a long double's)."""
    as_float = float(amount)
    return format_magnitude(as_float) if math.isfinite(as_float) else f"{amount:.3g}"


def _shown_complex(real: Number, imaginary: Number) -> str:
    shown = _shown_number(imaginary)
    return f"{_shown_number(real)}{'' if shown.startswith('-') else '+'}{shown}j"


def _part_within(
    dtype: str, bits_a: str, bits_b: str, *, where: list[int], ulps: int | None, atol: float, rtol: float
) -> str | None:
    a, b = number(dtype, bits_a), number(dtype, bits_b)
    if is_nan(a) or is_nan(b) or _infinite(a) or _infinite(b):
        return f"element {where}: {_shown_number(a)} vs {_shown_number(b)}"
    if ulps is not None and is_float(dtype):
        distance = ulp_distance(dtype, bits_a, bits_b)
        if distance is None:
            return f"element {where}: no ULP distance"
        return f"{distance:,} ULP apart at {where} (more than {ulps})" if distance > ulps else None
    allowed = _beyond(a, b, *((atol, rtol) if ulps is None else (0.0, 0.0)))
    if allowed is None:
        return None
    shown = format_magnitude(_magnitude(allowed))
    return f"|Δ| {format_magnitude(_gap(a, b))} at {where} (more than {shown})"


def long_double_platforms(value: Value, other: Value) -> str:
    """'longdouble x87 80-bit vs IEEE quadruple' when two long doubles come from two platforms
    (results merged from two machines), else ''."""
    if value.dtype != other.dtype or _COMPLEX.get(value.dtype, value.dtype) != "longdouble":
        return ""
    parts = 2 if is_complex(value.dtype) else 1
    mine, theirs = ({len(bits) // parts for bits in _unmasked_bits(side)} for side in (value, other))
    if len(mine | theirs) < 2:
        return ""
    names = (
        "/".join(_LONG_DOUBLE_NAMES.get(w, f"{4 * w}-bit") for w in sorted(side)) for side in (mine, theirs)
    )
    return "longdouble {} vs {}".format(*names)


def _not_within(value: Value, other: Value) -> str:
    if value.dtype != other.dtype or value.shape != other.shape:
        return f"{value.dtype} {list(value.shape)} vs {other.dtype} {list(other.shape)}"
    return "not checked: tolerances are not checked on arrays kept in side files, and these bits differ"


def _shown_number(x: Number) -> str:
    if is_nan(x):
        return "NaN"
    try:
        return repr(float(x))
    except OverflowError:  # a long double beyond float range
        return format_magnitude(_magnitude(Fraction(x)))


def combined(differences: Sequence[Difference]) -> Difference:
    """Several values' differences as one: counts added, the largest distances kept."""
    largest = [d.max_abs for d in differences if d.max_abs is not None]
    ulps = [d.max_ulps for d in differences if d.max_ulps is not None]
    return Difference(
        equal=all(d.equal for d in differences),
        elements=sum(d.elements for d in differences),
        differing=sum(d.differing for d in differences),
        max_abs=max(largest) if largest else None,
        max_ulps=max(ulps) if ulps else None,
        notes=tuple(dict.fromkeys(note for d in differences for note in d.notes)),
    )


def describe(found: Difference, *, counts: bool = True) -> str:
    """'3 of 8 element(s), first at [2], max |Δ| 1e-07, 2 ULP' (counts and position only if asked)."""
    parts = []
    if counts and found.elements:
        parts.append(f"{found.differing} of {found.elements} element(s)")
    if counts and found.first_index is not None and found.elements > 1:
        parts.append(f"first at {list(found.first_index)}")
    if found.max_abs is not None:
        parts.append(f"max |Δ| {format_magnitude(found.max_abs)}")
    if found.max_ulps is not None:
        parts.append(f"{found.max_ulps:,} ULP")
    parts += found.notes
    return ", ".join(parts)


def unravel(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    """A flat (row-major) index as an index into `shape`."""
    if not shape:
        return ()
    index = []
    for size in reversed(shape):
        flat, position = divmod(flat, size) if size else (flat, 0)
        index.append(position)
    return tuple(reversed(index))


def exact(value: Value, position: int) -> Decimal | None:
    """The exact decimal of a real numeric element (None for NaN, infinities, masked elements and
    non-numbers)."""
    if not (is_float(value.dtype) or is_integer(value.dtype)) or value.masked(position):
        return None
    found = number(value.dtype, value.bits[position])
    if is_nan(found) or _infinite(found):
        return None
    if isinstance(found, Fraction):
        # n / 2^k is n·5^k / 10^k: the digits of an integer and an exponent, exact. Dividing in a
        # context would round to its precision (28 digits by default), onto or past a printing tie.
        twos = found.denominator.bit_length() - 1
        if found.denominator != 1 << twos:
            raise ValueError(f"{found} is not a binary floating-point number")
        return Decimal(found.numerator * 5**twos).scaleb(-twos, _EXACT)
    return Decimal(found)


#: A context that rounds nothing here: scaleb of an integer keeps all its digits.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def format_magnitude(amount: float | int) -> str:
    """3 significant digits for any magnitude, huge integers included (float() would overflow)."""
    if isinstance(amount, float):
        return "∞" if math.isinf(amount) else f"{amount:.3g}"
    return f"{amount:,}" if abs(amount) < 10**6 else f"{Decimal(amount):.3g}"


#: Element widths in bytes of the dtypes an array kept in a side file may have.
PACKED_WIDTHS = {
    "float16": 2, "float32": 4, "float64": 8, "bfloat16": 2, "complex64": 8, "complex128": 16,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "bool": 1,
    "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
}  # fmt: skip
_SHA256 = re.compile(r"[0-9a-f]{64}")
SIDE_CHUNK = 1 << 20  # bytes of each side file read at a time: memory stays bounded whatever the size


def element_count(value: Value) -> int:
    if value.packed is None:
        return len(value.bits)
    return math.prod(value.shape)


def _check_packed(value: Value, packed: Packed) -> Value:
    width = PACKED_WIDTHS.get(value.dtype)
    if width is None:
        raise ValueError(f"{value.label!r}: dtype {value.dtype} is never kept in a side file")
    if not _SHA256.fullmatch(packed.sha256):
        raise ValueError(f"{value.label!r}: {packed.sha256!r} is not a SHA-256 digest")
    if any(n < 0 for n in value.shape) or packed.size != math.prod(value.shape) * width:
        raise ValueError(
            f"{value.label!r}: {packed.size} bytes is not {value.dtype} of shape {list(value.shape)}"
        )
    if value.bits or value.values:
        raise ValueError(f"{value.label!r}: an array kept in a side file has no bits in its record")
    return value


class SideFileError(Exception):
    """A side file is missing, or its bytes are not those its record names (size or digest)."""


def side_chunks(packed: Packed) -> Iterator[bytes]:
    """The side file's bytes in chunks of SIDE_CHUNK; SideFileError, after the last chunk at the
    latest, when the file is missing or its size or digest is not the record's."""
    if packed.path is None:
        raise SideFileError(f"the side file of {packed.sha256[:12]}… is not at hand")
    digest = hashlib.sha256()
    seen = 0
    try:
        with packed.path.open("rb") as stream:
            while chunk := stream.read(SIDE_CHUNK):
                seen += len(chunk)
                if seen > packed.size:
                    break
                digest.update(chunk)
                yield chunk
    except OSError as error:
        raise SideFileError(f"side file {packed.path}: {error.strerror or error}") from None
    if seen != packed.size or digest.hexdigest() != packed.sha256:
        raise SideFileError(
            f"side file {packed.path} does not hold the bits its record names (size or SHA-256)"
        )


def packed_difference(value: Value, other: Value) -> Difference:
    """Like `difference`, for arrays kept in side files: both files are read in step, chunk by
    chunk, so memory is bounded; only chunks that differ are looked at element by element.

    Digests that differ mean bits that differ, so the result is never "equal"; when a side file
    cannot be read whole and intact the distance is "not checked", with the reason.
    """
    elements = element_count(value)
    if value.shape != other.shape:
        return Difference(equal=False, notes=(f"shape {list(value.shape)} vs {list(other.shape)}",))
    if value.dtype != other.dtype:
        return Difference(equal=False, elements=elements, notes=(f"dtype {value.dtype} vs {other.dtype}",))
    try:
        if value.packed is not None and other.packed is not None:
            return _streamed_difference(value.dtype, value.shape, value.packed, other.packed)
        # Recorded by seedmatrix versions on either side of packing (a schema-2 baseline): the
        # elements' bits, laid out as a side file holds them, are compared by digest, then by content.
        mine, theirs = (_canonical(side) for side in (value, other))
        if mine.sha256 == theirs.sha256 and mine.size == theirs.size:
            return Difference(equal=True, elements=elements)
        return _difference_in_chunks(
            value.dtype, value.shape, _chunks_of(value, mine), _chunks_of(other, theirs)
        )
    except (SideFileError, ValueError) as error:  # ValueError: one file ended before the other
        return Difference(equal=False, elements=elements, notes=(f"distance not checked: {error}",))


def _canonical(value: Value) -> Packed:
    """`value.packed`, or the Packed an array recorded element by element would have been (no path:
    its bytes are `_element_bytes`)."""
    if value.packed is not None:
        return value.packed
    data = _element_bytes(value)
    return Packed(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _chunks_of(value: Value, packed: Packed) -> Iterator[bytes]:
    if value.packed is not None:
        return side_chunks(packed)
    data = _element_bytes(value)
    return (data[start : start + SIDE_CHUNK] for start in range(0, len(data), SIDE_CHUNK))


def _element_bytes(value: Value) -> bytes:
    """An array recorded element by element, as a side file would hold it: each element big-endian,
    integers and booleans too (the inverse of `_element_bits`)."""
    width = PACKED_WIDTHS[value.dtype]
    if value.dtype == "bool":
        return bytes(bits == "true" for bits in value.bits)
    if is_integer(value.dtype):
        signed = value.dtype.startswith("int")
        return b"".join(int(bits).to_bytes(width, "big", signed=signed) for bits in value.bits)
    return b"".join(bytes.fromhex(bits) for bits in value.bits)


@functools.lru_cache(maxsize=256)
def _streamed_difference(dtype: str, shape: tuple[int, ...], mine: Packed, theirs: Packed) -> Difference:
    """Both side files read in step. Once per pair of digests (a report asks several times): the
    bits a digest names never change; a failure (SideFileError) is not kept, so a later call retries."""
    return _difference_in_chunks(dtype, shape, side_chunks(mine), side_chunks(theirs))


def _difference_in_chunks(
    dtype: str, shape: tuple[int, ...], mine: Iterator[bytes], theirs: Iterator[bytes]
) -> Difference:
    """Two arrays' canonical bytes in step: only chunks that differ are looked at element by element."""
    elements = math.prod(shape)
    width = PACKED_WIDTHS[dtype]
    differing, first, distances, offset = 0, None, [], 0
    for chunk_a, chunk_b in zip(mine, theirs, strict=True):
        if chunk_a != chunk_b:
            positions = [
                i for i in range(0, len(chunk_a), width) if chunk_a[i : i + width] != chunk_b[i : i + width]
            ]
            differing += len(positions)
            if first is None:
                first = (offset + positions[0]) // width
            bits_a = tuple(_element_bits(dtype, chunk_a[i : i + width]) for i in positions)
            bits_b = tuple(_element_bits(dtype, chunk_b[i : i + width]) for i in positions)
            batch_a = Value(label="a", dtype=dtype, shape=(len(positions),), bits=bits_a, values=())
            batch_b = Value(label="b", dtype=dtype, shape=(len(positions),), bits=bits_b, values=())
            distances.append(_distances(batch_a, batch_b, range(len(positions))))
        offset += len(chunk_a)
    largest = [found.max_abs for found in distances if found.max_abs is not None]
    ulps = [found.max_ulps for found in distances if found.max_ulps is not None]
    return Difference(
        equal=False,
        elements=elements,
        differing=differing,
        first_index=unravel(first, shape) if first is not None else None,
        max_abs=max(largest) if largest else None,
        max_ulps=max(ulps) if ulps else None,
        notes=tuple(dict.fromkeys(note for found in distances for note in found.notes)),
    )


def _element_bits(dtype: str, raw: bytes) -> str:
    """One element's big-endian bytes in the form `Value.bits` holds them."""
    if dtype == "bool":
        return "true" if any(raw) else "false"
    if is_integer(dtype):
        return str(int.from_bytes(raw, "big", signed=dtype.startswith("int")))
    return raw.hex()
