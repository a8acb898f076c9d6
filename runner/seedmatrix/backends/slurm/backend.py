"""The Slurm backend: host interpreters on a cluster's shared filesystem, run on its nodes.

The interpreter is probed here, on the submitting machine, where the same path must reach the same
interpreter (a venv or conda environment on the shared filesystem); what each repeat ran on (the
node, its device) is what the launcher reports from the node. A record is reused only from a run
on the same partition, GPUs and constraint (they are part of the identity), and never for a GPU
cell (a host interpreter's CUDA libraries are whatever the node loads).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from ...config import Environment, Matrix
from ...errors import SchedulerError
from ...plan import HostFacts
from ...results import Build
from .. import Forecast
from ..host.backend import HostBackend
from . import scheduler
from .jobs import job_name

#: The CPUs a case may ask for: the node's are not known here; sbatch refuses what no node has.
CPUS_NOT_CHECKED = 1 << 16


class SlurmBackend:
    """Host environments with `slurm:`: probed here, run on the cluster, cancelled together."""

    def __init__(
        self, matrix: Matrix, *, host: HostBackend, run_id: str | None, collecting: bool = False
    ) -> None:
        self._matrix = matrix
        self._host = host
        self._run_id = run_id  # None: a backend that only forecasts
        # `seedmatrix collect` leaves the jobs to Slurm when interrupted: the user detached them.
        self._cancels_when_interrupted = not collecting
        self.cpu_ids = host.cpu_ids

    @property
    def engine(self) -> str:
        return "not used (Slurm and host environments only)"

    @property
    def machine(self) -> str:
        return self._host.machine  # where the interpreter was probed; the nodes are Slurm's to choose

    def sweep(self, *, resumed: str | None) -> Mapping[str, int]:
        return {}  # a resumed run waits for its jobs still queued or running (execute.SlurmQueue)

    def prepare(self, environment: Environment) -> Build:
        build = self._host.prepare(environment)
        if build.identity is None:
            return build
        return Build(
            status=build.status,
            seconds=build.seconds,
            tag=build.tag,
            identity=f"slurm:{_where(environment)}|{build.identity}",
            observed=build.observed,
        )

    def facts(self, environment: Environment, build: Build) -> HostFacts:
        # The node's CPU is not this machine's: which `cpu_isa:` it can run is not known here.
        return HostFacts(
            cpus=CPUS_NOT_CHECKED,
            cpu=None,
            provides={environment.name: build.observed.provides} if build.observed else {},
        )

    def dispatch(
        self, environment: Environment, build: Build, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        return {"error": "not probed: the nodes' CPU is not this machine's (each record has its own)"}

    def forecast(self, environment: Environment) -> Forecast:
        return Forecast(
            environment=environment.name,
            action="host interpreter",
            detail=f"{environment.host_python} on Slurm ({_where(environment)}), no image",
            ready=True,
        )

    def close(self, *, interrupted: bool = False) -> None:
        if interrupted and self._run_id is not None and self._cancels_when_interrupted:
            with suppress(SchedulerError):  # cleanup goes on; the next resume finds what still runs
                scheduler.cancel(job_name(self._run_id))


def _where(environment: Environment) -> str:
    slurm = environment.slurm
    assert slurm is not None  # the machine hands this backend Slurm environments only
    parts = [f"partition {slurm.partition or 'default'}"]
    parts += [f"{key} {getattr(slurm, key)}" for key in ("gres", "constraint") if getattr(slurm, key)]
    return ", ".join(parts)
