"""The recorder's encoding, the runner's decoding and the comparison, end to end, for random arrays.

Every dtype the recorder writes as numbers, in every byte order, in every shape (0-d and empty ones
too), with arbitrary bit patterns (NaN payloads, subnormals, infinities): the record must decode to
the very numbers that were shown, the same values must be equal whatever order their bytes were
stored in, and one changed element must be found at its place with its exact distance.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from fractions import Fraction
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seedmatrix.channel import value_from_record
from seedmatrix.config import INSIDE
from seedmatrix.values import Value, difference, number, within


def load_recorder() -> ModuleType:
    """recording.py as the image imports it (from the inside directory), without a records file."""
    spec = importlib.util.spec_from_file_location("inside_recording", INSIDE / "recording.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._RECORDS is None
    return module


RECORDER = load_recorder()
STANDARD = ["f2", "f4", "f8", "c8", "c16", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]
SMALL_FLOATS = sorted(RECORDER._SMALL_FLOATS)  # every narrow format the recorder records
# The bits a narrow format uses of its byte: other bit patterns are not values of the format.
USED_BITS = {"float6_e2m3fn": 0x3F, "float6_e3m2fn": 0x3F, "float4_e2m1fn": 0x0F, "bool": 0x01}


def native_dtype(name: str) -> np.dtype[Any]:
    return np.dtype(getattr(ml_dtypes, name)) if name in SMALL_FLOATS else np.dtype("=" + name)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray[Any, Any]:
    """A native array of any recorded numeric dtype and shape, its bytes drawn at random."""
    dtype = native_dtype(draw(st.sampled_from(STANDARD + SMALL_FLOATS)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    count = math.prod(shape)
    raw = bytearray(draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize)))
    mask = USED_BITS.get(dtype.name)
    if mask is not None:
        raw = bytearray(byte & mask for byte in raw)
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape).copy()


def stored(array: np.ndarray[Any, Any], order: str) -> np.ndarray[Any, Any]:
    """The same values, their bytes in `order` (NumPy swaps the bytes, never the values)."""
    return array.astype(array.dtype.newbyteorder(order))


def decoded(array: np.ndarray[Any, Any]) -> Value:
    """Shown inside, written as a record line, read back by the runner."""
    line = json.dumps({"label": "x", **RECORDER.encode(array)}, allow_nan=False)
    return value_from_record(json.loads(line))


def parts(element: Any) -> list[float | int | bool]:
    """An element as the real numbers it is made of (two for a complex number)."""
    if isinstance(element, np.complexfloating):
        return [float(element.real), float(element.imag)]
    if isinstance(element, np.bool_):
        return [bool(element)]
    if isinstance(element, np.integer):
        return [int(element)]
    return [float(element)]


def same_number(decoded_part: Any, shown: float | int | bool) -> bool:
    """Equal bit for bit as numbers: NaN to NaN, -0.0 only to -0.0."""
    if isinstance(shown, float):
        if math.isnan(shown):
            return isinstance(decoded_part, float) and math.isnan(decoded_part)
        return bool(decoded_part == shown and math.copysign(1, decoded_part) == math.copysign(1, shown))
    return bool(decoded_part == shown)


def numbers_of(value: Value, index: int) -> list[Any]:
    bits = value.bits[index]
    if value.dtype == "bool":
        return [{"true": True, "false": False}[bits]]
    if value.dtype.startswith("complex"):
        half = len(bits) // 2
        part = {"complex64": "float32", "complex128": "float64"}[value.dtype]
        return [number(part, bits[:half]), number(part, bits[half:])]
    return [number(value.dtype, bits)]


@settings(max_examples=100, deadline=None)
@given(array=arrays(), order=st.sampled_from(["<", ">"]))
def test_every_byte_order_decodes_to_the_numbers_shown(array: np.ndarray[Any, Any], order: str) -> None:
    value = decoded(stored(array, order))
    assert (value.dtype, value.shape) == (array.dtype.name, array.shape)
    for index, element in enumerate(array.reshape(-1)):
        found, shown = numbers_of(value, index), parts(element)
        assert all(same_number(a, b) for a, b in zip(found, shown, strict=True)), (index, found, shown)
    big_endian = stored(array, ">").tobytes()
    if array.dtype.kind in "fcV":  # floats: the IEEE bytes, most significant first
        width = array.dtype.itemsize
        assert value.bits == tuple(
            big_endian[i : i + width].hex() for i in range(0, array.size * width, width)
        )
    other_order = decoded(stored(array, "<" if order == ">" else ">"))
    assert value.key == other_order.key
    assert difference(value, other_order).equal


@settings(max_examples=100, deadline=None)
@given(
    array=arrays().filter(lambda array: array.size > 0),
    orders=st.tuples(st.sampled_from(["<", ">"]), st.sampled_from(["<", ">"])),
    data=st.data(),
)
def test_one_changed_element_is_found_where_it_is_and_how_far(
    array: np.ndarray[Any, Any], orders: tuple[str, str], data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, array.size - 1))
    raw = bytearray(array.tobytes())
    size = array.dtype.itemsize
    mask = USED_BITS.get(array.dtype.name, 0xFF)
    replacement = data.draw(st.binary(min_size=size, max_size=size).map(lambda b: bytes(x & mask for x in b)))
    if replacement == bytes(raw[position * size : (position + 1) * size]):
        replacement = bytes([replacement[0] ^ 1]) + replacement[1:]  # bit 0 is used by every format
    raw[position * size : (position + 1) * size] = replacement
    changed = np.frombuffer(bytes(raw), dtype=array.dtype).reshape(array.shape)

    found = difference(decoded(stored(changed, orders[0])), decoded(stored(array, orders[1])))

    assert not found.equal
    assert (found.elements, found.differing) == (array.size, 1)
    assert found.first_index == tuple(int(i) for i in np.unravel_index(position, array.shape))
    expected = exact_gap(parts(changed.reshape(-1)[position]), parts(array.reshape(-1)[position]))
    if array.dtype.kind == "b":
        assert found.max_abs is None
    elif expected is None:
        assert found.max_abs is None
        assert found.notes  # a NaN on one side or another NaN: said, never a distance
    elif math.isinf(expected):
        assert found.max_abs == math.inf
    elif isinstance(found.max_abs, int):  # integers: exact, however large
        assert Fraction(found.max_abs) == expected
    else:
        try:
            assert found.max_abs == float(expected)
        except OverflowError:  # |Δ| beyond the largest float64: never shown smaller than that
            assert found.max_abs is not None
            assert found.max_abs >= sys.float_info.max


def exact_gap(changed: list[Any], original: list[Any]) -> Fraction | float | None:
    """The largest exact |Δ| over the parts whose numbers differ; inf with an infinity; None when
    only NaNs differ."""
    gaps: list[Fraction | float] = []
    for a, b in zip(changed, original, strict=True):
        if isinstance(a, bool):
            continue
        if isinstance(a, float) and (math.isnan(a) or math.isnan(b)):
            continue
        if isinstance(a, float) and (math.isinf(a) or math.isinf(b)):
            if a != b:
                gaps.append(math.inf)
            continue
        if a != b or math.copysign(1, a) != math.copysign(1, b):  # +0.0 and -0.0: 0 apart
            gaps.append(abs(Fraction(a) - Fraction(b)))
    return max(gaps) if gaps else None


@settings(max_examples=100, deadline=None)
@given(
    array=arrays().filter(lambda array: array.size > 0),
    orders=st.tuples(st.sampled_from(["<", ">"]), st.sampled_from(["<", ">"])),
    data=st.data(),
)
def test_a_masked_array_keeps_its_mask_and_never_the_data_under_it(
    array: np.ndarray[Any, Any], orders: tuple[str, str], data: st.DataObject
) -> None:
    flags = np.array(data.draw(st.lists(st.booleans(), min_size=array.size, max_size=array.size)))
    flags = flags.reshape(array.shape)
    used = USED_BITS.get(array.dtype.name, 0xFF)
    fill = st.binary(min_size=array.nbytes, max_size=array.nbytes).map(lambda b: bytes(x & used for x in b))
    raw = data.draw(fill)
    refilled = np.where(flags, np.frombuffer(raw, dtype=array.dtype).reshape(array.shape), array)

    value = decoded(np.ma.masked_array(stored(array, orders[0]), mask=flags))
    other_fill = decoded(np.ma.masked_array(stored(refilled, orders[1]), mask=flags))

    assert (value.dtype, value.shape) == (array.dtype.name, array.shape)
    assert value.mask == (tuple(flags.reshape(-1).tolist()) if flags.any() else None)
    for index, (element, masked) in enumerate(zip(array.reshape(-1), flags.reshape(-1), strict=True)):
        if masked:
            assert (value.bits[index], value.values[index]) == ("", "--")
        else:
            found, shown = numbers_of(value, index), parts(element)
            assert all(same_number(a, b) for a, b in zip(found, shown, strict=True)), (index, found, shown)
    assert value.key == other_fill.key
    assert difference(value, other_fill).equal

    position = data.draw(st.integers(0, array.size - 1))
    moved = flags.copy().reshape(-1)
    moved[position] = not moved[position]
    remasked = decoded(np.ma.masked_array(array, mask=moved.reshape(array.shape)))
    moved_mask = difference(remasked, value)
    where = [int(i) for i in np.unravel_index(position, array.shape)]
    assert not moved_mask.equal
    assert (moved_mask.differing, moved_mask.first_index) == (1, tuple(where))
    assert f"mask differs at {where}" in moved_mask.notes
    assert within(remasked, value, atol=math.inf) == f"mask differs at {where}"
