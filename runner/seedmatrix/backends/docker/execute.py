"""The Docker half of running a repeat: the launcher in a fresh container of the environment's
image, with the case's directory and the launcher mounted read-only, no network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import docker

from ...channel import Finished, launcher_variables
from ...config import INSIDE, LAUNCHER
from ...plan import Cell
from . import container
from .images import VENV_PYTHON

WORK_MOUNT = "/work"  # the case's working directory, read-only
INSIDE_MOUNT = "/seedmatrix-inside"  # the launcher and the recorder (`from recording import show`)
RECORDS_MOUNT = "/seedmatrix-records"  # a tmpfs of `records_space`: the records file, side files
OUTPUTS_MOUNT = "/outputs"  # a tmpfs of `outputs_mb` for the files the script writes to compare


def run_in_container(
    client: docker.DockerClient,
    owner: container.Owner,
    cell: Cell,
    *,
    image: str,
    gpus: container.GpuRequest | None,
    cpu_ids: Sequence[int],
    boundary: bytes,
    side_dir: Path | None = None,
) -> Finished:
    return container.run(
        client,
        repeat_spec(
            cell, image=image, owner=owner, gpus=gpus, cpu_ids=cpu_ids, boundary=boundary, side_dir=side_dir
        ),
    )


def repeat_spec(
    cell: Cell,
    *,
    image: str,
    owner: container.Owner,
    gpus: container.GpuRequest | None,
    cpu_ids: Sequence[int],
    boundary: bytes,
    side_dir: Path | None = None,
) -> container.ContainerSpec:
    """The container of one repeat of `cell`: the same here and on a Slurm node (whose task sets
    the owner and the CPUs there, backends/slurm/node.py)."""
    limits = cell.limits
    script = f"{WORK_MOUNT}/{cell.script.relative_to(cell.workdir).as_posix()}"
    return container.ContainerSpec(
        image=image,
        command=[VENV_PYTHON, f"{INSIDE_MOUNT}/{LAUNCHER}", script, *cell.args],
        owner=owner,
        limits=limits,
        read_only_mounts={cell.workdir: WORK_MOUNT, INSIDE: INSIDE_MOUNT, **cell.data},
        tmpfs={RECORDS_MOUNT: limits.records_space, OUTPUTS_MOUNT: limits.outputs_mb << 20},
        environment={
            **cell.variables,
            **launcher_variables(
                boundary,
                records_dir=RECORDS_MOUNT,
                outputs_dir=OUTPUTS_MOUNT,
                limits=limits,
                outputs=cell.outputs,
            ),
            "HOME": "/tmp",
            "PYTHONPATH": INSIDE_MOUNT,
        },
        working_dir=WORK_MOUNT,
        cpuset=",".join(str(cpu) for cpu in cpu_ids),
        gpus=gpus,
        boundary=boundary,
        side_dir=side_dir,
    )
