"""Print a labelled value for people and, under seedmatrix, record it at full precision.

Seed scripts call `show(label, value)`. The value is printed as the article printed it; when the
runner sets SEEDMATRIX_RECORDS=1, one extra line per value carries its exact bits as JSON, so the
comparison never depends on print rounding. Pure Python: it must import in every image.
"""

import atexit
import json
import os
import struct
import sys

MARKER = "@@seedmatrix "
_ENABLED = os.environ.get("SEEDMATRIX_RECORDS") == "1"
_BIT_FORMATS = {"float16": ">e", "float32": ">f", "float64": ">d"}


def show(label, value):
    print(f"{label}: {value}", flush=True)
    if _ENABLED:
        _emit({"label": str(label), **_exact(value)})


def _exact(value):
    if hasattr(value, "numpy"):  # an eager TensorFlow tensor
        value = value.numpy()
    items = value.tolist() if hasattr(value, "tolist") else value
    flat = list(_flatten(items))
    if hasattr(value, "dtype"):
        dtype = str(value.dtype)
    elif all(isinstance(item, float) for item in flat):
        dtype = "float64"  # a Python float is an IEEE double
    else:
        dtype = "object"
    if hasattr(value, "shape"):
        shape = list(value.shape)
    else:
        shape = [len(flat)] if isinstance(items, (list, tuple)) else []
    bit_format = _BIT_FORMATS.get(dtype)
    bits = [struct.pack(bit_format, item).hex() if bit_format else repr(item) for item in flat]
    return {"dtype": dtype, "shape": shape, "values": flat, "bits": bits}


def _flatten(items):
    if isinstance(items, (list, tuple)):
        for item in items:
            yield from _flatten(item)
    else:
        yield items


def _emit(payload):
    sys.stdout.write(MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _device():
    """Which device ran the ops: TensorFlow's visible GPUs when TensorFlow was used, else the CPU."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return {"kind": "CPU", "detail": "Python/NumPy compute on the CPU"}
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return {
        "kind": "GPU" if gpus else "CPU",
        "detail": ", ".join(gpus) if gpus else "TensorFlow sees no GPU",
        "tensorflow_gpus": gpus,
    }


if _ENABLED:
    atexit.register(lambda: _emit({"device": _device()}))
