"""The host's NVIDIA GPUs and driver, as the kernel driver lists them (no engine, no CUDA needed).

A GPU cell's outcome can depend on them, so they are part of its cache key: records made on another
GPU model or under another driver are not reused. seedmatrix uses a local engine, so its containers
get these GPUs; CUDA and cuDNN come with the image.

A Slurm task reads the same files on its node (inside/slurm_task.py), with the GPUs Slurm gave the
job; `seen_by_task` judges what it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .results import TaskGpus

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
    driver = _driver(words)
    models = [_field(text, "Model") for text in informations]
    if driver is None or not models or None in models:
        return None
    return GpuFacts(driver=driver, models=tuple(model for model in models if model is not None))


#: CUDA_VISIBLE_DEVICES as Slurm sets it for a job given no GPU (where gres is configured).
NO_DEVICE_FILES = "NoDevFiles"


def seen_by_task(read: Mapping[str, Any] | None) -> TaskGpus | None:
    """The GPUs a Slurm task got, from what it read on its node (slurm_task.py's `_gpus`); None
    when it read nothing (a report of an older seedmatrix, or none at all) or could not read a
    driver file that is there.

    Slurm names them in SLURM_JOB_GPUS (the node's device numbers, the driver's "Device Minor")
    or else in CUDA_VISIBLE_DEVICES (numbers counted within the job, or UUIDs): the models are
    those of the GPUs these name where they name them all, or the node's one model where all its
    GPUs are alike; otherwise the count alone is known."""
    if not isinstance(read, Mapping) or read.get("unreadable"):
        return None  # a driver file there but unread: which GPUs the task had is not known
    version = read.get("version")
    driver = _driver(version.split("\n", 1)[0].split()) if isinstance(version, str) else None
    informations = [text for text in read.get("informations") or () if isinstance(text, str)]
    by_slurm = read.get("slurm_job_gpus")
    given = by_slurm or read.get("cuda_visible_devices") or ""
    names = [name.strip() for name in str(given).split(",") if name.strip() not in ("", NO_DEVICE_FILES)]
    node = [
        (_field(text, "Model"), _field(text, "Device Minor"), _field(text, "GPU UUID"))
        for text in informations
    ]
    on_node = ", ".join(str(model) for model, _, _ in node) or "none"
    if not names:
        return TaskGpus(
            count=0,
            models=(),
            driver=driver,
            detail=f"Slurm gave the job no GPU (GPUs on the node: {on_node})",
        )
    if driver is None or not node:
        return TaskGpus(
            count=0, models=(), driver=driver,
            detail=f"Slurm gave the job GPUs {given}, but the node's NVIDIA driver lists none",
        )  # fmt: skip
    named = [
        model for name in names for model, minor, uuid in node if name == uuid or (by_slurm and name == minor)
    ]
    alike = {model for model, _, _ in node}
    if len(named) == len(names) and None not in named:
        models = tuple(str(model) for model in named)
    elif len(alike) == 1 and None not in alike:
        models = (str(next(iter(alike))),) * len(names)
    else:
        models = ()
    source = "SLURM_JOB_GPUS" if by_slurm else "CUDA_VISIBLE_DEVICES"
    return TaskGpus(
        count=len(names), models=models, driver=driver,
        detail=f"{source}={given} on a node with {on_node}, driver {driver}",
    )  # fmt: skip


def _driver(words: list[str]) -> str | None:
    return next((word for word in words if word[:1].isdigit() and "." in word), None)


def _field(information: str, name: str) -> str | None:
    for line in information.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name and value.strip():
            return value.strip()
    return None
