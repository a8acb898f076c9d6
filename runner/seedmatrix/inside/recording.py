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
    if "torch" in sys.modules:
        return _torch_device(sys.modules["torch"])
    if "jax" in sys.modules:
        return _jax_device(sys.modules["jax"])
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return {"kind": "CPU", "detail": "Python/NumPy compute on the CPU", "framework": "python"}
    gpus = tf.config.list_physical_devices("GPU")
    info = {"framework": "tensorflow", "tensorflow_gpus": [gpu.name for gpu in gpus]}
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


def _torch_device(torch):
    info = {"framework": "torch", "torch_cuda_build": torch.version.cuda, "cudnn_version": None}
    if not torch.cuda.is_available():
        kind = "CPU fallback" if torch.version.cuda else "CPU"
        detail = "CUDA build of PyTorch, no GPU visible" if torch.version.cuda else "PyTorch sees no GPU"
        return {"kind": kind, "detail": detail, **info}
    info["cudnn_version"] = torch.backends.cudnn.version()
    info["gpu_model"] = torch.cuda.get_device_name(0)
    info["driver"] = _nvidia_driver()
    detail = (
        f"{torch.cuda.device_count()} × {info['gpu_model']}, driver {info['driver']}, "
        f"PyTorch built with CUDA {torch.version.cuda}, cuDNN {info['cudnn_version']}"
    )
    return {"kind": "GPU", "detail": detail, **info}


def _jax_device(jax):
    devices = jax.devices()
    info = {"framework": "jax", "jax_devices": [str(device) for device in devices]}
    gpus = [device for device in devices if device.platform == "gpu"]
    if not gpus:
        return {"kind": "CPU", "detail": "JAX sees no GPU", **info}
    info["gpu_model"] = gpus[0].device_kind
    info["driver"] = _nvidia_driver()
    return {"kind": "GPU", "detail": f"{len(gpus)} × {info['gpu_model']}, driver {info['driver']}", **info}


def _nvidia_driver():
    try:
        with open("/proc/driver/nvidia/version") as stream:
            words = stream.readline().split()
    except OSError:
        return None
    return next((word for word in words if word[:1].isdigit() and "." in word), None)


if _ENABLED:
    atexit.register(lambda: _emit({"device": _device()}))
