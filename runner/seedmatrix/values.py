"""Recorded values and the distance between two of them, from their exact bits.

A value is what one `show(label, value)` recorded: a dtype, a shape, and per element its exact
`bits` (IEEE bytes in big-endian hex for floats, decimal digits for integers, the text itself for
strings) plus a `values` form for people. Equality is equality of dtype, shape and bits, never of
printed text. Distances are computed from the bits too, so a NaN, an infinity or a huge integer
can never make a difference look smaller than it is.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, NamedTuple

from pydantic import PlainSerializer, WithJsonSchema

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

    @property
    def key(self) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
        """What bitwise equality compares."""
        return self.dtype, self.shape, self.bits

    @property
    def recorded(self) -> bool:
        return self.dtype not in {UNRECORDABLE, NOT_WRITTEN}


UNRECORDABLE = "unrecordable"  # the recorder could not record it (its note says why)
NOT_WRITTEN = "not-written"  # an output file the case expects that the script did not write
PARSED = "text"  # taken from what the script printed (`parse:`), compared as text
SHA256 = "sha256"  # an output file seedmatrix does not read: its digest (bits) and size (values)


class _Format(NamedTuple):
    """A binary floating-point format: sign, `exponent` bits, `mantissa` bits (stored)."""

    exponent: int
    mantissa: int
    bias: int
    specials: str  # "ieee": max exponent is inf/NaN; "fn": only all-ones is NaN; "fnuz": 0x80 is NaN
    explicit_integer_bit: bool = False


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
        return int(bits)
    if dtype in _IEEE_STRUCT:
        unpacked: float = struct.unpack(_IEEE_STRUCT[dtype], bytes.fromhex(bits))[0]
        return unpacked
    return _decode(_LONG_DOUBLES[len(bits)] if dtype == "longdouble" else _FORMATS[dtype], int(bits, 16))


def check(value: Value) -> Value:
    """`value` itself, or ValueError when its bits do not have the form its dtype promises.

    Everything read from disk passes through here, so arithmetic on bits never meets garbage.
    """
    if is_float(value.dtype) or is_complex(value.dtype):
        real = _COMPLEX.get(value.dtype, value.dtype)
        widths = set(_LONG_DOUBLES) if real == "longdouble" else {_hex_width(real)}
        parts = 2 if is_complex(value.dtype) else 1
        for bits in value.bits:
            if len(bits) % parts or len(bits) // parts not in widths or not _HEX.fullmatch(bits):
                raise ValueError(f"{value.label!r}: {bits!r} is not {value.dtype} bits")
    elif is_integer(value.dtype):
        for bits in value.bits:
            if not _INTEGER.fullmatch(bits) or len(bits) > 100_000:
                raise ValueError(f"{value.label!r}: {bits!r} is not an integer")
    return value


_HEX = re.compile(r"[0-9a-f]+")
_INTEGER = re.compile(r"-?[0-9]+")


def _hex_width(dtype: str) -> int:
    fmt = _FORMATS[dtype]
    bits = 1 + fmt.exponent + fmt.mantissa
    return 2 * max(1, (bits + 7) // 8)


def _decode(fmt: _Format, raw: int) -> Number:
    width = 1 + fmt.exponent + fmt.mantissa + (1 if fmt.explicit_integer_bit else 0)
    sign = -1 if raw >> (width - 1) & 1 else 1
    fraction_bits = fmt.mantissa + (1 if fmt.explicit_integer_bit else 0)
    exponent = (raw >> fraction_bits) & ((1 << fmt.exponent) - 1)
    fraction = raw & ((1 << fmt.mantissa) - 1)
    top = (1 << fmt.exponent) - 1
    if fmt.specials == "fnuz" and raw == 1 << (width - 1):
        return math.nan
    if fmt.specials == "fn" and exponent == top and fraction == (1 << fmt.mantissa) - 1:
        return math.nan
    if fmt.specials == "ieee" and exponent == top:
        return math.nan if fraction else sign * math.inf
    if fmt.explicit_integer_bit:
        significand = raw & ((1 << fraction_bits) - 1)
        value = Fraction(significand, 1 << fmt.mantissa) * Fraction(2) ** (max(exponent, 1) - fmt.bias)
        return sign * value
    if exponent == 0:
        magnitude = math.ldexp(fraction, 1 - fmt.bias - fmt.mantissa)
    else:
        magnitude = math.ldexp(fraction + (1 << fmt.mantissa), exponent - fmt.bias - fmt.mantissa)
    return sign * magnitude


def is_nan(value: Number) -> bool:
    return isinstance(value, float) and math.isnan(value)


def ulp_distance(bits_a: str, bits_b: str) -> int:
    """Units in the last place between two floats of one sign-magnitude format, as big-endian hex.

    Mapping negative floats below zero makes adjacent floats adjacent integers, so the distance is
    a subtraction (and +0/-0 are 0 apart).
    """
    return abs(_ordered(bits_a) - _ordered(bits_b))


def _ordered(bits: str) -> int:
    width = len(bits) * 4
    raw = int(bits, 16)
    sign = 1 << (width - 1)
    return -(raw & (sign - 1)) if raw & sign else raw


def _json_magnitude(amount: float | int | None) -> float | int | str | None:
    return "Infinity" if isinstance(amount, float) and math.isinf(amount) else amount


# JSON has no infinity: written as the text "Infinity", read back as a float.
_Magnitude = Annotated[
    float | int | None,
    PlainSerializer(_json_magnitude, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"const": "Infinity"}, {"type": "null"}]}),
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
        return Difference(equal=True, elements=len(value.bits))
    if not (value.recorded and other.recorded):
        note = value.note or other.note or "not recorded"
        return Difference(equal=False, notes=(note,))
    if value.shape != other.shape or len(value.bits) != len(other.bits):
        return Difference(equal=False, notes=(f"shape {list(value.shape)} vs {list(other.shape)}",))
    notes = [] if value.dtype == other.dtype else [f"dtype {value.dtype} vs {other.dtype}"]
    differing = [i for i, pair in enumerate(zip(value.bits, other.bits, strict=True)) if pair[0] != pair[1]]
    if not differing:  # same bits, different dtype
        return Difference(equal=False, elements=len(value.bits), notes=tuple(notes))
    stats = _distances(value, other, differing)
    return Difference(
        equal=False,
        elements=len(value.bits),
        differing=len(differing),
        first_index=unravel(differing[0], value.shape),
        max_abs=stats.max_abs,
        max_ulps=stats.max_ulps,
        notes=(*notes, *stats.notes),
    )


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
            if same_float and not (_infinite(a) or _infinite(b)):
                ulps = ulp_distance(part_a, part_b)
                max_ulps = ulps if max_ulps is None else max(max_ulps, ulps)
    notes = []
    if nan_pairs:
        notes.append(f"{nan_pairs} element(s) NaN on one side only")
    if nan_payloads:
        notes.append(f"{nan_payloads} NaN(s) with other bits (payload or sign)")
    return _Distances(max_abs, max_ulps, tuple(notes))


def _gap(a: Number, b: Number) -> float | int:
    """|a - b| exactly, as an int when integral (integers can exceed any float), else a float."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b)
    gap = abs(Fraction(a) - Fraction(b))
    if gap.denominator == 1:
        return gap.numerator
    try:
        return float(gap)
    except OverflowError:
        return round(gap)


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
    same NaN bits; a different dtype or shape is never close."""
    if value.key == other.key:
        return None
    if not (value.recorded and other.recorded):
        return value.note or other.note or "not recorded"
    if value.dtype != other.dtype or value.shape != other.shape:
        return f"{value.dtype} {list(value.shape)} vs {other.dtype} {list(other.shape)}"
    if not (is_float(value.dtype) or is_integer(value.dtype) or is_complex(value.dtype)):
        return "not numbers, and not equal"
    for index in range(len(value.bits)):
        for part_a, part_b, dtype_a, dtype_b in _parts(value, other, index):
            if part_a == part_b:
                continue
            a, b = number(dtype_a, part_a), number(dtype_b, part_b)
            if is_nan(a) or is_nan(b) or _infinite(a) or _infinite(b):
                return (
                    f"element {list(unravel(index, value.shape))}: {_shown_number(a)} vs {_shown_number(b)}"
                )
            if ulps is not None and is_float(dtype_a):
                distance: float | int = ulp_distance(part_a, part_b)
                if distance > ulps:
                    return f"{distance:,} ULP apart at {list(unravel(index, value.shape))} (more than {ulps})"
            else:
                gap = _gap(a, b)
                allowed = (atol if ulps is None else 0) + (rtol if ulps is None else 0) * abs(float(b))
                if gap > allowed:
                    where = list(unravel(index, value.shape))
                    return f"|Δ| {format_magnitude(gap)} at {where} (more than {allowed:.3g})"
    return None


def _shown_number(x: Number) -> str:
    return "NaN" if is_nan(x) else repr(float(x))


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
    """The exact decimal of a real numeric element (None for NaN, infinities and non-numbers)."""
    if not (is_float(value.dtype) or is_integer(value.dtype)):
        return None
    found = number(value.dtype, value.bits[position])
    if is_nan(found) or _infinite(found):
        return None
    if isinstance(found, Fraction):
        return Decimal(found.numerator) / Decimal(found.denominator)
    return Decimal(found)


def format_magnitude(amount: float | int) -> str:
    """3 significant digits for any magnitude, huge integers included (float() would overflow)."""
    if isinstance(amount, float):
        return "∞" if math.isinf(amount) else f"{amount:.3g}"
    return f"{amount:,}" if abs(amount) < 10**6 else f"{Decimal(amount):.3g}"
