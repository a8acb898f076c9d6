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
    """Which device ran the ops, and what TensorFlow was built for, when TensorFlow was used.

    Without TensorFlow the values came from Python or NumPy, which compute on the CPU.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return {"kind": "CPU", "detail": "Python/NumPy compute on the CPU"}
    gpus = tf.config.list_physical_devices("GPU")
    info = {"tensorflow_gpus": [gpu.name for gpu in gpus]}
    try:
        build = tf.sysconfig.get_build_info()
        info["built_with_cuda"] = bool(build.get("is_cuda_build"))
        info["cuda_version"] = build.get("cuda_version")
        info["cudnn_version"] = build.get("cudnn_version")
        info["placed_on"] = (tf.constant([1.0]) + 1.0).device  # where TensorFlow puts an op
    except Exception as error:  # a device report must never fail the run it describes
        info["error"] = f"{type(error).__name__}: {error}"
    if gpus:
        try:
            info["gpu_model"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
        except Exception:
            info["gpu_model"] = None
        info["driver"] = _nvidia_driver()
        versions = f"CUDA {info.get('cuda_version')}, cuDNN {info.get('cudnn_version')}"
        detail = f"{len(gpus)} × {info['gpu_model']}, driver {info['driver']}, built with {versions}"
        return {"kind": "GPU", "detail": detail, **info}
    if info.get("built_with_cuda"):
        return {"kind": "CPU fallback", "detail": "CUDA build of TensorFlow, no GPU visible", **info}
    return {"kind": "CPU", "detail": "TensorFlow sees no GPU", **info}


def _nvidia_driver():
    try:
        with open("/proc/driver/nvidia/version") as stream:
            words = stream.readline().split()
    except OSError:
        return None
    return next((word for word in words if word[:1].isdigit() and "." in word), None)


if _ENABLED:
    atexit.register(lambda: _emit({"device": _device()}))
