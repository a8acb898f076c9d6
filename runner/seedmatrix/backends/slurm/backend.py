"""The Slurm backend: host interpreters on a cluster's shared filesystem, or (CPU only) images
in fresh containers of the nodes' engines, run on its nodes.

The interpreter is probed here, on the submitting machine, where the same path must reach the same
interpreter (a venv or conda environment on the shared filesystem); an image is built (found,
pulled) by this machine's engine, as for a local run, and each node runs that very image, by its
id (node.py). What each repeat ran on (the node, its device) is what the launcher reports from the
node. Records of Slurm environments are never reused (`placement`): the node may differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from ...config import Environment, Matrix
from ...errors import EngineError, SchedulerError
from ...plan import HostFacts
from ...results import Build
from .. import Forecast
from ..docker.backend import DockerBackend
from ..host.backend import HostBackend
from . import scheduler
from .jobs import job_name
from .node import NodeImage

#: The CPUs a case may ask for: the node's are not known here; sbatch refuses what no node has.
CPUS_NOT_CHECKED = 1 << 16


class SlurmBackend:
    """Host environments with `slurm:`: probed here, run on the cluster, cancelled together."""

    def __init__(
        self,
        matrix: Matrix,
        *,
        host: HostBackend,
        docker: DockerBackend | None,
        run_id: str | None,
        registry: str | None = None,
        collecting: bool = False,
    ) -> None:
        self._matrix = matrix
        self._host = host
        self._docker = docker  # None: no engine here (host environments alone)
        self._registry = registry  # where a node may pull an image its engine lacks
        # Image environment → the image its nodes must run, as each is ready (SlurmQueue reads it).
        self.node_images: dict[str, NodeImage] = {}
        self._run_id = run_id  # None: a backend that only forecasts
        # `seedmatrix collect` leaves the jobs to Slurm when interrupted: the user detached them.
        self._cancels_when_interrupted = not collecting
        self.cpu_ids = host.cpu_ids

    @property
    def engine(self) -> str:
        return "not used (Slurm and host environments only)" if self._docker is None else self._docker.engine

    @property
    def machine(self) -> str:
        return self._host.machine  # where the interpreter was probed; the nodes are Slurm's to choose

    def sweep(self, *, resumed: str | None) -> Mapping[str, int]:
        return {}  # a resumed run waits for its jobs still queued or running (execute.SlurmQueue)

    def prepare(self, environment: Environment) -> Build:
        if environment.host_python is None:
            build = self._engine().prepare(environment)
            if build.image_id is not None and build.tag is not None:
                self.node_images[environment.name] = NodeImage(
                    image_id=build.image_id, tag=build.tag, registry=self._registry
                )
            return build  # its identity is the image id: what every node runs
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
            # A host interpreter provides what it was found to have; an image, what it pins.
            provides={environment.name: build.observed.provides}
            if build.observed and environment.host_python is not None
            else {},
        )

    def dispatch(
        self, environment: Environment, build: Build, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        return {"error": "not probed: the nodes' CPU is not this machine's (each record has its own)"}

    def forecast(self, environment: Environment) -> Forecast:
        if environment.host_python is None:
            image = self._engine().forecast(environment)
            on_nodes = f"on Slurm ({_where(environment)}), in a container of each node's engine"
            return replace(image, detail=f"{image.detail}; {on_nodes}" if image.detail else on_nodes)
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

    def _engine(self) -> DockerBackend:
        if self._docker is None:
            raise EngineError(
                "no Docker engine here: an image environment on Slurm is built by this machine's"
            )
        return self._docker


def _where(environment: Environment) -> str:
    slurm = environment.slurm
    assert slurm is not None  # the machine hands this backend Slurm environments only
    parts = [f"partition {slurm.partition or 'default'}"]
    parts += [f"{key} {getattr(slurm, key)}" for key in ("gres", "constraint") if getattr(slurm, key)]
    return ", ".join(parts)
