"""Read the files a script wrote into its outputs directory as values, for the launcher.

Every declared output (a name or a `*` pattern, relative to the outputs directory) becomes one or
more records, labelled `outputs/<file>` or `outputs/<file>:<part>`:

- `.npy`: the array; `.npz`: each array (standard library only: the format is simple);
- `.safetensors`: each tensor, bfloat16 and float8 included (standard library only);
- `.h5` / `.hdf5` (Keras `.weights.h5`): each dataset, through h5py when the image has it;
- `.json`: each number, string and boolean, labelled by its JSON pointer;
- anything else, or a file a reader cannot read: its SHA-256 and size.

An array of more than PACK_ABOVE elements in a `.npy`, `.npz` or `.safetensors` file is recorded packed
(see `packed_records`): its bits go to a side file, not into the record.

A declared output the script did not write is recorded as "not written". Standard library only
(h5py and NumPy are used when the image has them): Python 3.9 and later.
"""

import array
import ast
import fnmatch
import hashlib
import io
import json
import math
import os
import struct
import sys
import zipfile

_NPY_MAGIC = b"\x93NUMPY"
# NumPy's type codes (kind + bytes) and safetensors' dtypes: our dtype name, element bytes, kind.
_NPY_KINDS = {
    "f2": ("float16", 2, "f"), "f4": ("float32", 4, "f"), "f8": ("float64", 8, "f"),
    "c8": ("complex64", 8, "c"), "c16": ("complex128", 16, "c"),
    "i1": ("int8", 1, "i"), "i2": ("int16", 2, "i"), "i4": ("int32", 4, "i"), "i8": ("int64", 8, "i"),
    "u1": ("uint8", 1, "u"), "u2": ("uint16", 2, "u"), "u4": ("uint32", 4, "u"), "u8": ("uint64", 8, "u"),
    "b1": ("bool", 1, "b"),
}  # fmt: skip
_SAFETENSORS = {
    "F64": ("float64", 8, "f"), "F32": ("float32", 4, "f"), "F16": ("float16", 2, "f"),
    "BF16": ("bfloat16", 2, "r"), "F8_E4M3": ("float8_e4m3fn", 1, "r"), "F8_E5M2": ("float8_e5m2", 1, "r"),
    "I64": ("int64", 8, "i"), "I32": ("int32", 4, "i"), "I16": ("int16", 2, "i"), "I8": ("int8", 1, "i"),
    "U64": ("uint64", 8, "u"), "U32": ("uint32", 4, "u"), "U16": ("uint16", 2, "u"), "U8": ("uint8", 1, "u"),
    "BOOL": ("bool", 1, "b"),
}  # fmt: skip
_FLOAT_FORMAT = {2: "e", 4: "f", 8: "d"}
# .npy format version: how its header length is stored, and the header's encoding.
_NPY_VERSIONS = {1: ("<H", "latin-1"), 2: ("<I", "latin-1"), 3: ("<I", "utf-8")}


class Unreadable(Exception):
    """The file is not what its name says; it is compared by its digest instead."""


def collect(directory, patterns, side_dir=None):
    """The records for every declared output, in the order declared, then by file name.

    With `side_dir`, arrays of more than PACK_ABOVE elements in `.npy` and `.safetensors` files
    are recorded packed: their bits go to a side file there (see `packed_records`)."""
    written = sorted(_files(directory))
    records = []
    for pattern in patterns:
        matched = [name for name in written if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            note = "the script did not write it"
            records.append(_record(f"outputs/{pattern}", "not-written", [], [], [], note=note))
        for name in matched:
            path = os.path.join(directory, name)
            packed = packed_records(path, f"outputs/{name}", side_dir) if side_dir else None
            records.extend(packed if packed is not None else read_file(path, f"outputs/{name}"))
    return records


def total_size(directory):
    return sum(os.path.getsize(os.path.join(directory, name)) for name in _files(directory))


def _files(directory):
    for root, _, names in os.walk(directory):
        for name in names:
            yield os.path.relpath(os.path.join(root, name), directory)


def read_file(path, label):
    readers = {
        ".npy": _npy,
        ".npz": _npz,
        ".safetensors": _safetensors,
        ".h5": _hdf5,
        ".hdf5": _hdf5,
        ".json": _json,
    }
    reader = readers.get(os.path.splitext(path)[1].lower())
    with open(path, "rb") as stream:
        data = stream.read()
    if reader is not None:
        try:
            return reader(data, label, path)
        except Exception as error:  # a file a reader cannot read is still compared, by its digest
            return [_digest(data, label, note=f"read as bytes: {type(error).__name__}: {error}")]
    return [_digest(data, label)]


def _digest(data, label, note=""):
    return _record(label, "sha256", [], [hashlib.sha256(data).hexdigest()], [len(data)], note=note)


def _record(label, dtype, shape, bits, values, *, note=""):
    record = {
        "label": label,
        "dtype": dtype,
        "shape": list(shape),
        "bits": list(bits),
        "values": list(values),
    }
    if note:
        record["note"] = note
    return record


def _npy(data, label, _path):
    return [_npy_array(data, label)]


def _npy_array(data, label):
    dtype, size, kind, shape, little, fortran_order, start = _npy_header(io.BytesIO(data))
    body = data[start:]
    count = _product(shape)
    if len(body) < count * size:  # checked before a single element is taken
        raise Unreadable(_truncated(count, count * size, len(body)))
    elements = [body[i * size : (i + 1) * size] for i in range(count)]
    if fortran_order and len(shape) > 1:
        elements = [elements[_fortran_offset(index, shape)] for index in range(count)]
    return _elements(label, dtype, shape, kind, elements, little=little)


def _npy_header(stream):
    """(dtype, element size, kind, shape, little-endian, Fortran order, where the data starts) of
    the .npy file `stream` begins, read from its header alone: the one reader of it, for arrays
    read whole and packed alike."""
    start = stream.read(10)
    if not start.startswith(_NPY_MAGIC) or len(start) < 10:
        raise Unreadable("not a .npy file")
    if start[6] not in _NPY_VERSIONS:
        raise Unreadable(f".npy format version {start[6]}.{start[7]}")
    size_format, encoding = _NPY_VERSIONS[start[6]]
    offset = 8 + struct.calcsize(size_format)
    (header_size,) = struct.unpack_from(size_format, start + stream.read(offset - len(start)), 8)
    header = ast.literal_eval(stream.read(header_size).decode(encoding))
    descr = header["descr"]
    if not isinstance(descr, str) or descr[1:] not in _NPY_KINDS:
        raise Unreadable(f"dtype {descr!r}")
    dtype, size, kind = _NPY_KINDS[descr[1:]]
    shape = _shape(header["shape"])
    little = descr[0] in "<|" or (descr[0] == "=" and sys.byteorder == "little")
    return dtype, size, kind, shape, little, bool(header.get("fortran_order")), offset + header_size


def _npz(data, label, _path):
    records = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            records.append(
                _npy_array(archive.read(name), f"{label}:{name[:-4] if name.endswith('.npy') else name}")
            )
    return records


def _safetensors(data, label, _path):
    tensors, start = _safetensors_header(io.BytesIO(data), file_size=len(data))
    body = data[start:]
    records = []
    for name, dtype, size, kind, shape, begin, end in tensors:
        raw = body[begin:end]
        elements = [raw[i * size : (i + 1) * size] for i in range(_product(shape))]
        records.append(_elements(f"{label}:{name}", dtype, shape, kind, elements, little=True))
    return records


def _safetensors_header(stream, file_size=None):
    """(name, dtype, element size, kind, shape, begin, end) of each tensor of the .safetensors file
    `stream` begins, by name, and where their data starts, read from its header alone: the one
    reader of it, for tensors read whole and packed alike. With `file_size`, a header or tensor
    that ends past the file is refused here (one packed meets the file's end as it is read)."""
    (header_size,) = struct.unpack_from("<Q", stream.read(8), 0)
    if file_size is not None and header_size > file_size - 8:
        raise Unreadable(f"truncated: a {header_size:,}-byte header in a {file_size:,}-byte file")
    header = json.loads(stream.read(header_size).decode("utf-8"))
    tensors = []
    for name in sorted(key for key in header if key != "__metadata__"):
        entry = header[name]
        if entry["dtype"] not in _SAFETENSORS:
            raise Unreadable(f"tensor {name} has dtype {entry['dtype']}")
        dtype, size, kind = _SAFETENSORS[entry["dtype"]]
        begin, end = _shape(entry["data_offsets"])
        shape = _shape(entry["shape"])
        count = _product(shape)
        if end - begin != count * size:  # checked before a single element is taken
            raise Unreadable(
                f"tensor {name}: its shape needs {count * size:,} bytes, its offsets span {end - begin:,}"
            )
        if file_size is not None and end > file_size - 8 - header_size:
            held = max(0, file_size - 8 - header_size - begin)
            raise Unreadable(f"tensor {name}: " + _truncated(count, count * size, held))
        tensors.append((name, dtype, size, kind, shape, begin, end))
    return tensors, 8 + header_size


def _hdf5(_data, label, path):
    try:
        import h5py
    except ImportError as error:
        raise Unreadable("h5py is not installed in the image") from error
    from recording import encode

    records = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            records.append({"label": f"{label}:{name}", **encode(item[()])})

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return records


def _json(data, label, _path):
    records = []

    def walk(node, pointer):
        # The whole document is the file's own label: "<file>:/" is the pointer to the key "".
        where = f"{label}:{pointer}" if pointer else label
        if isinstance(node, (dict, list)) and not node:
            # an empty container is a value: {"warnings": []} is neither {} nor {"warnings": {}}
            kind = "json-object" if isinstance(node, dict) else "json-array"
            records.append(_record(where, kind, [0], [], []))
        elif isinstance(node, dict):
            for key in node:
                walk(node[key], f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{pointer}/{index}")
        elif isinstance(node, bool):
            records.append(_record(where, "bool", [], ["true" if node else "false"], [node]))
        elif isinstance(node, int):
            records.append(
                _record(
                    where,
                    "int",
                    [],
                    [str(node)],
                    [node if abs(node) < 2**53 else str(node)],
                )
            )
        elif isinstance(node, float):
            shown = (
                node
                if math.isfinite(node)
                else ("NaN" if math.isnan(node) else ("Infinity" if node > 0 else "-Infinity"))
            )
            records.append(_record(where, "float64", [], [struct.pack(">d", node).hex()], [shown]))
        elif isinstance(node, str):
            records.append(_record(where, "str", [], [node], [node]))
        elif node is None:
            records.append(_record(where, "none", [], ["none"], [None]))

    walk(json.loads(data.decode("utf-8")), "")
    return records


def _elements(label, dtype, shape, kind, elements, *, little):
    """One record from raw elements: bits big-endian hex, values for people."""
    ordered = [element[::-1] if little else element for element in elements]
    if kind == "c":
        half = len(ordered[0]) // 2 if ordered else 0
        # little-endian complex: the real part comes first in memory, each part byte-swapped alone
        parts = [
            (element[:half][::-1], element[half:][::-1]) if little else (element[:half], element[half:])
            for element in elements
        ]
        bits = [real.hex() + imaginary.hex() for real, imaginary in parts]
        shown = [repr(complex(_float(real), _float(imaginary))) for real, imaginary in parts]
        return _record(label, dtype, shape, bits, shown)
    bits = [element.hex() for element in ordered]
    if kind == "f":
        shown = [_shown(_float(element)) for element in ordered]
    elif kind in "iu":
        numbers = [int.from_bytes(element, "big", signed=kind == "i") for element in ordered]
        bits = [str(number) for number in numbers]
        shown = [number if abs(number) < 2**53 else str(number) for number in numbers]
    elif kind == "b":
        truth = [any(element) for element in ordered]
        bits = ["true" if value else "false" for value in truth]
        shown = truth
    else:  # bfloat16, float8: raw bits; values through float32 where the format widens simply
        shown = [
            _shown(struct.unpack(">f", element + b"\0\0")[0]) if dtype == "bfloat16" else element.hex()
            for element in ordered
        ]
    return _record(label, dtype, shape, bits, shown)


def _float(big_endian):
    return struct.unpack(">" + _FLOAT_FORMAT[len(big_endian)], big_endian)[0]


def _shown(number):
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def _shape(sizes):
    """A header's list of sizes, each a non-negative integer (JSON and Python literals alike)."""
    if not isinstance(sizes, (list, tuple)) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in sizes
    ):
        raise Unreadable(f"sizes {sizes!r}")
    return list(sizes)


def _truncated(count, needed, held):
    return (
        f"truncated: its header announces {count:,} element(s) in {needed:,} bytes, the file holds {held:,}"
    )


def _product(shape):
    count = 1
    for size in shape:
        count *= size
    return count


def _fortran_offset(flat, shape):
    """Where the element at row-major position `flat` is stored in column-major order."""
    offset, stride = 0, 1
    index = []
    for size in reversed(shape):
        flat, position = divmod(flat, size)
        index.append(position)
    for position, size in zip(reversed(index), shape):
        offset += position * stride
        stride *= size
    return offset


# Arrays larger than this are recorded packed: per-element JSON would be tens of bytes an element.
PACK_ABOVE = 1 << 16  # elements
_CHUNK = 1 << 20  # bytes read and written at a time: memory stays bounded whatever the file's size
_SWAP_CODES = {2: "H", 4: "I", 8: "Q"}  # array typecodes by width (byte-swapping only)
_TRUTH = bytes([0] + [1] * 255)  # any nonzero byte is True


_LAYOUT_ERRORS = (Unreadable, ValueError, KeyError, TypeError, SyntaxError, struct.error, UnicodeDecodeError)


def packed_records(path, label, side_dir):
    """The records of a `.npy`, `.npz` or `.safetensors` file holding an array of more than
    PACK_ABOVE elements, its big arrays packed (dtype, shape, SHA-256 and size of the canonical
    bits, which go to `side_dir/<sha256>`); None for any other file, which is read the usual way.

    A big file that cannot be read to its end is compared by its digest, with the reason."""
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".npz":
            return _packed_npz(path, label, side_dir)
        with open(path, "rb") as stream:
            if extension == ".npy":
                arrays = [_npy_layout(stream, label)]
            elif extension == ".safetensors":
                arrays = _safetensors_layout(stream, label)
            else:
                return None
            if not _any_big(arrays):
                return None
            return [_packed_or_whole(stream, array, side_dir) for array in arrays]
    except _Unfinished as error:
        return [_file_digest(path, label, note=f"read as bytes: {error}")]
    except (*_LAYOUT_ERRORS, zipfile.BadZipFile):
        return None  # the usual reader says what is wrong with it


class _Unfinished(Exception):
    """A big array's data could not be read to its end."""


def _any_big(arrays):
    return any(_product(shape) > PACK_ABOVE for _, _, _, shape, _, _, _ in arrays)


def _packed_npz(path, label, side_dir):
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        layouts = {}
        for name in names:
            with archive.open(name) as member:
                layouts[name] = _npy_layout(member, f"{label}:{name[:-4] if name.endswith('.npy') else name}")
        if not _any_big(layouts.values()):
            return None
        records = []
        for name in names:
            with archive.open(name) as member:
                records.append(_packed_or_whole(member, layouts[name], side_dir))
        return records


def _file_digest(path, label, note):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return _record(label, "sha256", [], [digest.hexdigest()], [size], note=note)


def _npy_layout(stream, label):
    """(label, dtype, element size, shape, kind, little-endian, where the data starts) of a .npy file."""
    dtype, size, kind, shape, little, fortran_order, start = _npy_header(stream)
    if fortran_order and len(shape) > 1 and _product(shape) > PACK_ABOVE:
        raise Unreadable("a big array in Fortran order")  # the usual reader records it, or refuses
    return (label, dtype, size, shape, kind, little, start)


def _safetensors_layout(stream, label):
    tensors, start = _safetensors_header(stream)
    return [
        (f"{label}:{name}", dtype, size, shape, kind, True, start + begin)
        for name, dtype, size, kind, shape, begin, _ in tensors
    ]


def _packed_or_whole(stream, array, side_dir):
    label, dtype, width, shape, kind, little, start = array
    count = _product(shape)
    stream.seek(start)
    if count <= PACK_ABOVE:
        data = _read_exactly(stream, count * width)
        elements = [data[i * width : (i + 1) * width] for i in range(count)]
        return _elements(label, dtype, shape, kind, elements, little=little)
    digest = hashlib.sha256()
    temporary = os.path.join(side_dir, f".partial-{os.getpid()}")
    os.makedirs(side_dir, exist_ok=True)
    try:
        with open(temporary, "wb") as side:
            remaining = count * width
            while remaining:
                chunk = _canonical(_read_exactly(stream, min(remaining, _CHUNK)), width, kind, little)
                digest.update(chunk)
                side.write(chunk)
                remaining -= len(chunk)
    except BaseException as error:
        os.remove(temporary)
        if isinstance(error, (Unreadable, zipfile.BadZipFile, EOFError)):
            raise _Unfinished(f"{type(error).__name__}: {error}") from error
        raise
    name = digest.hexdigest()
    os.replace(temporary, os.path.join(side_dir, name))  # equal arrays share one side file
    record = _record(label, dtype, shape, [], [])
    record["packed"] = {"sha256": name, "size": count * width}
    return record


def _read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise Unreadable(f"the file ends {size - len(data)} bytes early")
    return data


def _canonical(chunk, width, kind, little):
    """Elements big-endian (each part of a complex number alone), booleans as 0 or 1."""
    if kind == "b":
        return chunk.translate(_TRUTH)
    part = width // 2 if kind == "c" else width
    if not little or part == 1:
        return chunk
    swapped = array.array(_SWAP_CODES[part])
    swapped.frombytes(chunk)
    swapped.byteswap()
    return swapped.tobytes()
