"""The host's NVIDIA GPUs and driver, as the kernel driver lists them (no engine, no CUDA needed).

A GPU cell's outcome can depend on them, so they are part of its cache key: records made on another
GPU model or under another driver are not reused. seedmatrix uses a local engine, so its containers
get these GPUs; CUDA and cuDNN come with the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NVIDIA_DRIVER = Path("/proc/driver/nvidia")


@dataclass(frozen=True, kw_only=True)
class GpuFacts:
    driver: str  # the kernel module's version, e.g. "550.54.15"
    models: tuple[str, ...]  # one per GPU, in bus order

    @property
    def identity(self) -> str:
        """The GPUs and driver as part of a cache key."""
        return f"driver {self.driver}: {', '.join(self.models)}"


def host_gpus(root: Path = NVIDIA_DRIVER) -> GpuFacts | None:
    """This machine's GPUs and driver; None when the driver's files are absent or any is unreadable
    (then what a GPU cell runs on is unknown)."""
    try:
        words = (root / "version").read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].split()
        informations = [
            (gpu / "information").read_text(encoding="utf-8", errors="replace")
            for gpu in sorted((root / "gpus").iterdir())
        ]
    except OSError:
        return None
    driver = next((word for word in words if word[:1].isdigit() and "." in word), None)
    models = [_model(text) for text in informations]
    if driver is None or not models or None in models:
        return None
    return GpuFacts(driver=driver, models=tuple(model for model in models if model is not None))


def _model(information: str) -> str | None:
    for line in information.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model" and value.strip():
            return value.strip()
    return None
