"""Print a labelled value for people and, under seedmatrix, record it exactly.

Seed scripts call `show(label, value)`. The value is printed as the article printed it. When the
runner names a records file (SEEDMATRIX_RECORDS), each value is also appended to it as one JSON
line with its dtype, shape and exact bits, so comparisons never depend on print rounding and no
amount of printing can crowd a value out. Standard library only: it must import in every image,
and in any project, whatever it has installed.

`show()` never makes a script fail that would run without it: a value it cannot record is
recorded as such, with the type named, and the script goes on.
"""

import atexit
import contextlib
import json
import math
import os
import struct
import sys
import time

_RECORDS = os.environ.get("SEEDMATRIX_RECORDS")
_MAX_SAFE_INTEGER = 2**53  # larger integers are kept as text in `values` (their bits are exact anyway)

# Floating-point formats stored in 8 bits or fewer, or 16 bits other than IEEE half precision
# (ml_dtypes, used by JAX, TensorFlow and PyTorch). Their raw bits are kept; values are shown
# through float32, which holds every one of them exactly.
_SMALL_FLOATS = {
    "bfloat16",
    "float8_e3m4",
    "float8_e4m3",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e4m3b11fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
}
_TORCH_RAW = {"bfloat16": "int16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8"}


class Unrecordable(Exception):
    """A value whose type has no exact, comparable form here."""


def show(label, value, printed=None):
    """Print `label: value` (or `label: printed`, for values too big to print) and record the value."""
    print(f"{label}: {value if printed is None else printed}", flush=True)
    if _RECORDS:
        _record(str(label), value)


def skip(reason):
    """End the script: it cannot run here (no CuPy, no GPU, …). The matrix shows the cell ⏭️
    skipped, with `reason`; it is not a failure."""
    print(f"skipped: {reason}", flush=True)
    if _RECORDS:
        _append(json.dumps({"skip": str(reason)[:500]}), "the skip")
    sys.exit(0)


@contextlib.contextmanager
def timed():
    """Time the work itself, not the imports or a device's start-up: under seedmatrix the script's
    timed blocks are summed into its record, and cases paired by a switch (determinism on and off)
    are compared on that time. Wait for asynchronous devices inside the block
    (`torch.cuda.synchronize()`, `block_until_ready()`), or only the launches are timed."""
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    if _RECORDS:
        _append(json.dumps({"timed": round(seconds, 9)}), "a time")


def _record(label, value):
    try:
        line = json.dumps({"label": label, **encode(value)}, allow_nan=False)
    except Exception as error:
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        note = f"cannot record a {kind}: {error}" if str(error) else f"cannot record a {kind}"
        sys.stderr.write(f"seedmatrix: {label!r}: {note}\n")
        line = json.dumps(
            {"label": label, "dtype": "unrecordable", "shape": [], "bits": [], "values": [], "note": note}
        )
    _append(line, label)


def _append(line, label):
    line += "\n"
    try:
        with open(_RECORDS, "a", encoding="ascii") as stream:
            stream.write(line)
    except OSError as error:
        # Out of room: leave a mark the launcher reports, so the loss is visible, not silent.
        sys.stderr.write(f"seedmatrix: could not record {label!r}: {error}\n")
        with contextlib.suppress(OSError):
            open(_RECORDS + ".lost", "a").close()


def encode(value):
    """{dtype, shape, bits, values}: exact `bits` per element (compared), `values` for people; a
    masked array with masked elements also has its `mask`."""
    value = _unwrap(value)
    if isinstance(value, _Masked):
        return _with_mask(sys.modules["numpy"], value)
    if isinstance(value, _RawFloats):
        width = value.raw.dtype.itemsize * 8
        raw = value.raw.reshape(-1).view(f"uint{width}").tolist()
        bits = [format(n, f"0{width // 4}x") for n in raw]
        shape = [int(n) for n in value.raw.shape]
        return _result(value.dtype, shape, bits, _shown_floats(value.shown.reshape(-1).tolist()))
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        return _numpy(numpy, numpy.asarray(value))
    if isinstance(value, (list, tuple)):
        return _sequence(value, numpy)
    if numpy is not None and hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        return _numpy(numpy, numpy.asarray(value))
    dtype, bits, shown = _scalar(value)
    return {"dtype": dtype, "shape": [], "bits": [bits], "values": [shown]}


def _unwrap(value):
    """Framework tensors as NumPy arrays (or as raw bits where NumPy has no such dtype); masked
    arrays as their data when nothing is masked."""
    masked = sys.modules.get("numpy.ma")
    if masked is not None and isinstance(value, masked.MaskedArray):
        flags = masked.getmaskarray(value)
        if flags.dtype.names:  # a flag per field: one per element would hide which fields hold data
            if any(flags.tobytes()):
                raise Unrecordable("a structured masked array with masked fields (show each field)")
            return value.data
        return _Masked(value.data, flags) if flags.any() else value.data
    module = type(value).__module__.split(".")[0]
    if module == "torch" and hasattr(value, "detach"):
        tensor = value.detach().cpu()
        name = str(tensor.dtype).replace("torch.", "")
        if name in _TORCH_RAW:
            torch = sys.modules["torch"]  # the tensor's own framework, already imported
            raw = tensor.contiguous().view(getattr(torch, _TORCH_RAW[name])).numpy()
            return _RawFloats(name, raw, tensor.float().numpy())
        return tensor.numpy()
    if module == "tensorflow" and hasattr(value, "numpy"):
        return value.numpy()
    return value


class _RawFloats:
    def __init__(self, dtype, raw, shown):
        self.dtype, self.raw, self.shown = dtype, raw, shown


class _Masked:
    def __init__(self, data, flags):
        self.data, self.flags = data, flags


def _with_mask(numpy, value):
    """The unmasked elements' encoding, a placeholder at each masked one ("" bits, "--" as NumPy
    prints it) and the mask: the data under a mask is whatever the buffer held, so neither the
    bits nor the dtype (of an object array) may depend on it."""
    flags = value.flags.reshape(-1)
    kept = _numpy(numpy, numpy.asarray(value.data).reshape(-1)[~flags])
    unmasked = zip(kept["bits"], kept["values"])
    elements = [("", "--") if flag else next(unmasked) for flag in flags.tolist()]
    shape = [int(n) for n in value.flags.shape]
    encoded = _result(kept["dtype"], shape, [bits for bits, _ in elements], [shown for _, shown in elements])
    return {**encoded, "mask": flags.tolist()}


def _numpy(numpy, array):
    if not array.dtype.isnative:  # the bits of the values, whatever order the bytes are stored in
        array = array.astype(array.dtype.newbyteorder("="))
    shape = [int(n) for n in array.shape]
    flat = numpy.ascontiguousarray(array.reshape(-1))  # a strided view cannot be viewed as its parts
    kind, name = array.dtype.kind, array.dtype.name
    if name in _SMALL_FLOATS:
        width = array.dtype.itemsize * 8
        raw = flat.view(f"uint{width}").tolist()
        digits = width // 4
        shown = _shown_floats(flat.astype("float32").tolist())
        return _result(name, shape, [format(n, f"0{digits}x") for n in raw], shown)
    if kind == "f":
        dtype, bits, shown = _floats(numpy, flat, name)
        return _result(dtype, shape, bits, shown)
    if kind == "c":
        parts = flat.view(flat.real.dtype).reshape(-1, 2) if flat.size else flat.real.reshape(0, 2)
        part_dtype, part_bits, _ = _floats(numpy, parts.reshape(-1), flat.real.dtype.name)
        pairs = [part_bits[i] + part_bits[i + 1] for i in range(0, len(part_bits), 2)]
        dtype = "clongdouble" if part_dtype == "longdouble" else name
        return _result(dtype, shape, pairs, [repr(complex(item)) for item in flat.tolist()])
    if kind in "iu" or name in ("int2", "int4", "uint2", "uint4"):
        return _result(
            name, shape, *_integers(flat.astype("int64").tolist() if kind == "V" else flat.tolist())
        )
    if kind == "b":
        items = flat.tolist()
        return _result("bool", shape, ["true" if item else "false" for item in items], items)
    if kind == "U":
        items = flat.tolist()
        return _result("str", shape, items, items)
    if kind == "S":
        items = flat.tolist()
        return _result("bytes", shape, [item.hex() for item in items], [_shown_bytes(item) for item in items])
    if kind in "Mm":
        raw = flat.view("int64").tolist()
        return _result(str(array.dtype), shape, [str(n) for n in raw], [str(item) for item in flat])
    if kind == "O":
        encoded = [_scalar(item) for item in flat.tolist()]
        return _uniform(shape, encoded)
    if kind == "V" and not array.dtype.names:
        raise Unrecordable(f"no exact form for dtype {array.dtype}")
    return _structured(numpy, flat, shape)


def _structured(numpy, flat, shape):
    """Each element as its fields' exact forms: the padding bytes between fields hold no value, and
    two arrays that differ only there are equal."""
    fields = []
    for name in flat.dtype.names:
        encoded = _numpy(numpy, flat[name])
        inner = encoded["shape"][1:]
        count = 1
        for size in inner:
            count *= size
        fields.append((name, encoded, inner, count))
    dtype = ", ".join(f"{name}: {encoded['dtype']}{inner or ''}" for name, encoded, inner, _ in fields)
    bits, shown = [], []
    for index in range(flat.size):
        element, people = [], {}
        for name, encoded, inner, count in fields:
            part = slice(index * count, (index + 1) * count)
            element.append([name, encoded["bits"][part]])
            people[name] = encoded["values"][part] if inner else encoded["values"][index]
        bits.append(json.dumps(element, separators=(",", ":")))
        shown.append(json.dumps(people, separators=(",", ":")))
    return _result(f"struct{{{dtype}}}", shape, bits, shown)


def _floats(numpy, flat, name):
    """(dtype, bits, values) of a flat array of real floats, bits big-endian hex."""
    info = numpy.finfo(flat.dtype)
    if flat.dtype.itemsize in (2, 4, 8):
        width = flat.dtype.itemsize * 8
        raw = flat.view(f"uint{width}").tolist()
        return name, [format(n, f"0{width // 4}x") for n in raw], _shown_floats(flat.tolist())
    # long double: x87 extended (80 significant bits in 12 or 16 bytes) or IEEE quadruple
    significant = 10 if info.nmant == 63 else flat.dtype.itemsize
    size = flat.dtype.itemsize
    raw = flat.astype(flat.dtype.newbyteorder("<")).tobytes()
    bits = [raw[i * size : i * size + significant][::-1].hex() for i in range(flat.size)]
    return "longdouble", bits, _shown_floats([float(item) for item in flat.tolist()])


def _result(dtype, shape, bits, values):
    return {"dtype": dtype, "shape": shape, "bits": list(bits), "values": list(values)}


def _shown_floats(items):
    return [item if math.isfinite(item) else _non_finite(item) for item in items]


def _non_finite(item):
    return "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")


def _integers(items):
    bits = [str(int(item)) for item in items]
    shown = [int(item) if abs(int(item)) < _MAX_SAFE_INTEGER else str(int(item)) for item in items]
    return bits, shown


def _shown_bytes(data):
    return data.decode("utf-8", "backslashreplace")


def _scalar(value):
    """(dtype, bits, shown) of one Python value."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        encoded = _numpy(numpy, numpy.asarray(value))
        return encoded["dtype"], encoded["bits"][0], encoded["values"][0]
    if isinstance(value, bool):
        return "bool", "true" if value else "false", value
    if isinstance(value, int):
        bits, shown = _integers([value])
        return "int", bits[0], shown[0]
    if isinstance(value, float):
        return "float64", struct.pack(">d", value).hex(), _shown_floats([value])[0]
    if isinstance(value, complex):
        bits = struct.pack(">d", value.real).hex() + struct.pack(">d", value.imag).hex()
        return "complex128", bits, repr(value)
    if isinstance(value, str):
        return "str", value, value
    if isinstance(value, (bytes, bytearray)):
        return "bytes", bytes(value).hex(), _shown_bytes(bytes(value))
    if value is None:
        return "none", "none", None
    raise Unrecordable("show a number, string, array, tensor or list of them (a dict: one show per entry)")


def _sequence(items, numpy):
    """A list or tuple: its nested shape when it is rectangular, one dtype when the leaves share one."""
    shape = _rectangular_shape(items)
    if shape is None:  # ragged: each item keeps its own form, compared as a whole
        return _uniform([len(items)], [_element(_unwrap(item), numpy) for item in items])
    leaves = [_unwrap(leaf) for leaf in _leaves(items, len(shape))]
    arrays = [
        leaf for leaf in leaves if numpy is not None and isinstance(leaf, (numpy.ndarray, numpy.generic))
    ]
    if arrays and len(arrays) == len(leaves):
        dtypes = {leaf.dtype for leaf in arrays}
        shapes = {leaf.shape for leaf in arrays}
        if len(dtypes) == 1 and len(shapes) == 1:
            encoded = _numpy(numpy, numpy.stack([numpy.asarray(leaf) for leaf in arrays]))
            encoded["shape"] = shape + encoded["shape"][1:]
            return encoded
    return _uniform(shape, [_element(leaf, numpy) for leaf in leaves])


def _element(leaf, numpy):
    """A leaf of a list: a scalar as itself, anything bigger as its whole encoding."""
    if numpy is not None and isinstance(leaf, numpy.ndarray) and leaf.ndim == 0:
        leaf = leaf[()]
    if isinstance(leaf, (list, tuple, _RawFloats, _Masked)) or (
        numpy is not None and isinstance(leaf, numpy.ndarray)
    ):
        encoded = encode(leaf)
        text = json.dumps(encoded, sort_keys=True, separators=(",", ":"))
        return "object", text, text
    return _scalar(leaf)


def _uniform(shape, encoded):
    """One dtype when every element has it; else each element's bits carry their own dtype."""
    dtypes = {dtype for dtype, _, _ in encoded}
    if len(dtypes) == 1:
        return _result(
            dtypes.pop(), shape, [bits for _, bits, _ in encoded], [shown for _, _, shown in encoded]
        )
    if not encoded:
        return _result("object", shape, [], [])
    bits = [f"{dtype}:{bits}" for dtype, bits, _ in encoded]
    return _result("object", shape, bits, [shown for _, _, shown in encoded])


def _rectangular_shape(items):
    """[n, m, …] for a nested list whose every level has one length; None when ragged."""
    if not isinstance(items, (list, tuple)):
        return []
    inner = [_rectangular_shape(item) for item in items]
    if not inner:
        return [0]
    if any(shape is None or shape != inner[0] for shape in inner):
        return None
    return [len(items), *inner[0]]


def _leaves(items, depth):
    if depth == 0:
        yield items
        return
    for item in items:
        yield from _leaves(item, depth - 1)


def _device():
    """Which device each imported GPU framework ran its ops on, and what it was built for.

    Each framework reports under "frameworks"; the report's kind is theirs when they all say the
    same, and "mixed" when they do not: which of them computed a value cannot be told from here.
    Without a GPU framework the values came from Python or NumPy, which compute on the CPU.
    """
    reporters = {
        "torch": _torch_device,
        "jax": _jax_device,
        "cupy": _cupy_device,
        "tensorflow": _tensorflow_device,
    }
    frameworks = {}
    for name, reporter in reporters.items():
        if name in sys.modules:
            try:
                frameworks[name] = reporter(sys.modules[name])
            except Exception as error:  # one framework's failure must not hide the others' reports
                detail = f"its device report failed: {type(error).__name__}: {error}"
                frameworks[name] = {"kind": "unknown", "detail": detail, "framework": name}
    if not frameworks:
        return {"kind": "CPU", "detail": "Python/NumPy compute on the CPU", "framework": "python"}
    if len(frameworks) == 1:
        (only,) = frameworks.values()
        return {**only, "frameworks": frameworks}
    kinds = {each["kind"] for each in frameworks.values()}
    if len(kinds) == 1:
        kind = kinds.pop()
    elif kinds <= {"CPU", "CPU fallback"}:
        kind = "CPU fallback"  # none of them ran on a GPU, and a CUDA build among them saw none
    else:
        kind = "mixed"
    detail = "; ".join(f"{name}: {each['kind']} ({each['detail']})" for name, each in frameworks.items())
    return {"kind": kind, "detail": detail, "framework": ", ".join(frameworks), "frameworks": frameworks}


def _tensorflow_device(tf):
    """GPU only where TensorFlow put its probe op on one: the physical list still names a GPU that
    the script hid (`set_visible_devices([], "GPU")`), and ops pinned to the CPU never reach it."""
    gpus = tf.config.list_physical_devices("GPU")
    info = {"framework": "tensorflow", "tensorflow_gpus": [gpu.name for gpu in gpus]}
    try:
        build = tf.sysconfig.get_build_info()
        info["built_with_cuda"] = bool(build.get("is_cuda_build"))
        info["cuda_version"] = build.get("cuda_version")
        info["cudnn_version"] = build.get("cudnn_version")
        info["placed_on"] = (tf.constant([1.0]) + 1.0).device  # where TensorFlow puts an op
    except Exception as error:
        info["error"] = f"{type(error).__name__}: {error}"
    try:
        info["tensorflow_visible_gpus"] = [gpu.name for gpu in tf.config.list_logical_devices("GPU")]
    except Exception as error:
        info["tensorflow_visible_gpus"] = f"{type(error).__name__}: {error}"
    if gpus:
        try:
            info["gpu_model"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
        except Exception:
            info["gpu_model"] = None
        info["driver"] = _nvidia_driver()
        placed = str(info.get("placed_on") or "")
        if ":GPU:" not in placed.upper():
            if ":CPU:" in placed.upper():
                detail = f"a GPU is installed, but TensorFlow placed its ops on the CPU ({placed})"
                return {"kind": "CPU", "detail": detail, **info}
            why = info.get("error", "no op placement")
            return {"kind": "unknown", "detail": f"a GPU is installed; where ops ran: {why}", **info}
        if info["tensorflow_visible_gpus"] == []:
            detail = f"the probe op ran on {placed}, but TensorFlow lists no visible GPU"
            return {"kind": "unknown", "detail": detail, **info}
        versions = f"CUDA {info.get('cuda_version')}, cuDNN {info.get('cudnn_version')}"
        detail = f"{len(gpus)} × {info['gpu_model']}, driver {info['driver']}, built with {versions}"
        return {"kind": "GPU", "detail": detail, **info}
    if info.get("built_with_cuda"):
        return {"kind": "CPU fallback", "detail": "CUDA build of TensorFlow, no GPU visible", **info}
    return {"kind": "CPU", "detail": "TensorFlow sees no GPU", **info}


def _torch_device(torch):
    """GPU only where PyTorch allocated memory on one: a visible GPU says nothing of where the
    script's tensors were."""
    info = {"framework": "torch", "torch_cuda_build": torch.version.cuda, "cudnn_version": None}
    if not torch.cuda.is_available():
        kind = "CPU fallback" if torch.version.cuda else "CPU"
        detail = "CUDA build of PyTorch, no GPU visible" if torch.version.cuda else "PyTorch sees no GPU"
        return {"kind": kind, "detail": detail, **info}
    # Read before anything below initializes CUDA itself (get_device_name does).
    used = torch.cuda.is_initialized() and any(
        torch.cuda.max_memory_allocated(index) for index in range(torch.cuda.device_count())
    )
    info["cudnn_version"] = torch.backends.cudnn.version()
    info["gpu_model"] = torch.cuda.get_device_name(0)
    info["driver"] = _nvidia_driver()
    if not used:
        detail = f"a GPU is visible ({info['gpu_model']}), but PyTorch never allocated memory on it"
        return {"kind": "CPU", "detail": detail, **info}
    detail = (
        f"{torch.cuda.device_count()} × {info['gpu_model']}, driver {info['driver']}, "
        f"PyTorch built with CUDA {torch.version.cuda}, cuDNN {info['cudnn_version']}"
    )
    return {"kind": "GPU", "detail": detail, **info}


def _cupy_device(cupy):
    """CuPy computes on a GPU or not at all: without one its script skipped or failed."""
    info = {"framework": "cupy"}
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"] if count else None
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception as error:
        return {"kind": "CPU fallback", "detail": f"CuPy sees no GPU ({type(error).__name__})", **info}
    if not count:
        return {"kind": "CPU fallback", "detail": "CuPy sees no GPU", **info}
    info["gpu_model"] = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    info["driver"] = _nvidia_driver()
    detail = f"{count} × {info['gpu_model']}, driver {info['driver']}, CUDA runtime {info['cuda_runtime']}"
    return {"kind": "GPU", "detail": detail, **info}


def _jax_device(jax):
    """GPU only where JAX puts a new array on one: a GPU it lists is not used under a default
    device set to the CPU (`jax.config.update("jax_default_device", cpu)`)."""
    devices = jax.devices()
    info = {"framework": "jax", "jax_devices": [str(device) for device in devices]}
    gpus = [device for device in devices if device.platform == "gpu"]
    if not gpus:
        return {"kind": "CPU", "detail": "JAX sees no GPU", **info}
    info["gpu_model"] = gpus[0].device_kind
    info["driver"] = _nvidia_driver()
    if hasattr(jax, "device_put"):  # every JAX has it; a stand-in module may not
        probe = jax.device_put(0.0)
        placed = probe.devices() if hasattr(probe, "devices") else {probe.device()}
        info["placed_on"] = [str(device) for device in placed]
        if {device.platform for device in placed} != {"gpu"}:
            detail = f"JAX lists a GPU, but puts new arrays on {', '.join(info['placed_on'])}"
            return {"kind": "CPU", "detail": detail, **info}
    return {"kind": "GPU", "detail": f"{len(gpus)} × {info['gpu_model']}, driver {info['driver']}", **info}


def _nvidia_driver():
    try:
        with open("/proc/driver/nvidia/version") as stream:
            words = stream.readline().split()
    except OSError:
        return None
    return next((word for word in words if word[:1].isdigit() and "." in word), None)


# The CPU switches seedmatrix may set (the runner's cpu.SWITCHES; a test keeps the two the same).
_SWITCHES = (
    "NPY_DISABLE_CPU_FEATURES",
    "ONEDNN_MAX_CPU_ISA",
    "OPENBLAS_CORETYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "ATEN_CPU_CAPABILITY",
    "TF_ENABLE_ONEDNN_OPTS",
)


def _cpu():
    """The CPU this process ran on and the kernels its frameworks dispatched, read back here."""
    found = {"switches": {name: os.environ.get(name) for name in _SWITCHES}}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as stream:
            first = stream.read(1 << 16).split("\n\n", 1)[0]
        pairs = (line.partition(":") for line in first.splitlines())
        fields = {key.strip(): value.strip() for key, _, value in pairs}
        found.update(vendor=fields.get("vendor_id"), model=fields.get("model name"))
        found["flags"] = sorted(fields.get("flags", "").split())
    except OSError:
        pass
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        found["numpy_simd"], found["numpy_baseline"] = _numpy_simd()
        found["blas_core"] = _openblas_core()
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        from tensorflow.python.util import _pywrap_util_port

        found["tf_onednn"] = bool(_pywrap_util_port.IsMklEnabled())
    torch = sys.modules.get("torch")
    if torch is not None:
        found["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    return found


def _numpy_simd():
    """NumPy's dispatch targets enabled at run time (after NPY_DISABLE_CPU_FEATURES), and its baseline."""
    module = sys.modules.get("numpy._core._multiarray_umath") or sys.modules.get(
        "numpy.core._multiarray_umath"
    )
    if module is None:
        return None, None
    features = module.__cpu_features__
    return [name for name in module.__cpu_dispatch__ if features.get(name)], list(module.__cpu_baseline__)


def _openblas_core():
    """The core type a loaded OpenBLAS chose (OPENBLAS_CORETYPE, or its own detection)."""
    import ctypes

    try:
        with open("/proc/self/maps") as stream:
            libraries = sorted({line.split()[-1] for line in stream if "openblas" in line and "/" in line})
    except OSError:
        return None
    for path in libraries:
        library = ctypes.CDLL(path)
        for prefix in ("", "scipy_"):  # NumPy 1.x: openblas_…64_; NumPy 2.x: scipy_openblas_…64_
            for suffix in ("", "64_"):
                corename = getattr(library, f"{prefix}openblas_get_corename{suffix}", None)
                if corename is not None:
                    corename.restype = ctypes.c_char_p
                    return corename().decode()
    return None


def _report_device():
    try:
        device = _device()
    except Exception as error:
        device = {"kind": "unknown", "detail": f"the device report failed: {type(error).__name__}: {error}"}
    try:
        device["cpu"] = _cpu()
    except Exception as error:
        device["cpu"] = {"error": f"{type(error).__name__}: {error}"}
    _append(json.dumps({"device": device}, default=str), "the device report")


if _RECORDS:
    atexit.register(_report_device)
