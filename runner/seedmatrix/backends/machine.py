"""This machine's backends behind one `Backend`: each environment goes to the backend that runs it
(the Docker engine, connected only when an environment needs it, or the host's interpreters)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from ..config import Environment, Matrix, Slurm
from ..cpu import CpuFacts, host_cpu
from ..log import Output
from ..plan import HostFacts
from ..results import Build, Record
from . import Backend, Forecast
from .docker import container
from .docker.backend import DockerBackend
from .docker.images import BuildSettings
from .docker.wheels import Fetching
from .execute import RunContext, Runs
from .host.backend import HostBackend
from .slurm.backend import SlurmBackend
from .slurm.execute import SlurmQueue


@dataclass(frozen=True, kw_only=True)
class Engine:
    """The engine when an environment needs one, and the CPUs repeats are pinned to."""

    client: docker.DockerClient | None
    cpu_ids: tuple[int, ...]


def engine_for(matrix: Matrix, environments: Sequence[str]) -> Engine:
    """Containers get cpusets numbered on the engine's host (0 … n-1); host processes get CPUs
    this process may use (under taskset or a batch scheduler's cpuset, not always 0 … n-1).
    Host environments alone need no engine."""
    if all(matrix.environment(name).host_python for name in environments):
        return Engine(client=None, cpu_ids=tuple(sorted(os.sched_getaffinity(0))))
    client = container.connect()
    return Engine(client=client, cpu_ids=tuple(range(container.engine_cpus(client))))


class Machine:
    """Routes each environment to its backend, and owns the run's cleanup (`close`)."""

    def __init__(
        self,
        *,
        docker: DockerBackend | None,
        host: HostBackend,
        cpu_ids: Sequence[int],
        cpu: CpuFacts | None,
        client: docker.DockerClient | None = None,
        owner: container.Owner | None = None,
        slurm: SlurmBackend | None = None,
        matrix: Matrix | None = None,
        out: Output | None = None,
        collecting: bool = False,
    ) -> None:
        self._docker = docker
        self._host = host
        self._slurm = slurm  # None: no environment runs on Slurm
        self._matrix = matrix  # the Slurm environments' settings come from it
        self._out = out
        self._collecting = collecting  # `seedmatrix collect`: see SlurmQueue
        self.cpu_ids = cpu_ids
        self.cpu = cpu  # the CPU runs use (None: unknown)
        self._client = client
        self._owner = owner  # None: a machine that only forecasts
        self._identities: dict[str, str] = {}  # filled in as the images are ready, before their runs
        self._gpu_requests: dict[str, container.GpuRequest] = {}  # GPU environment → how it asks

    @classmethod
    def open(
        cls, matrix: Matrix, engine: Engine, *, settings: BuildSettings, out: Output, collecting: bool = False
    ) -> Machine:
        """The run's machine; `collecting`: `seedmatrix collect`, which waits for the Slurm tasks
        the run submitted (never submitting one again) and leaves them running when interrupted."""
        cpu = host_cpu()
        docker = None
        if engine.client is not None:
            docker = DockerBackend(
                engine.client,
                matrix,
                settings=settings,
                fetching=settings.fetching,
                out=out,
                cpu_ids=engine.cpu_ids,
                cpu=cpu,
            )
        host = HostBackend(matrix, cpu_ids=engine.cpu_ids, cpu=cpu)
        run_id = settings.owner.run_id if settings.owner is not None else None
        slurm = (
            SlurmBackend(
                matrix,
                host=host,
                docker=docker,
                run_id=run_id,
                registry=settings.registry,
                collecting=collecting,
            )
            if _slurm_settings(matrix)
            else None
        )
        return cls(
            docker=docker,
            host=host,
            cpu_ids=engine.cpu_ids,
            cpu=cpu,
            client=engine.client,
            owner=settings.owner,
            slurm=slurm,
            matrix=matrix,
            out=out,
            collecting=collecting,
        )

    @classmethod
    def forecasting(
        cls, matrix: Matrix, *, out: Output, registry: str | None, debian_base: str | None
    ) -> Machine:
        """For `seedmatrix plan`: the engine when one answers (else it says what is not checked);
        `registry`, where a run would pull what the engine lacks; `debian_base`, how a run would make
        a missing Debian base ("archive", "image"; None: as this host can)."""
        client, why = container.reachable()
        if client is None:
            out.warn(f"{why}: images and reuse are not checked")
        cpu_ids = list(range(container.engine_cpus(client) if client is not None else (os.cpu_count() or 1)))
        fetching = Fetching.from_environment(os.environ, ca_bundle=None)
        cpu = host_cpu()
        docker = DockerBackend(
            client, matrix, settings=None, fetching=fetching, out=out, cpu_ids=cpu_ids, cpu=cpu,
            registry=registry, debian_base=debian_base,
        )  # fmt: skip
        host = HostBackend(matrix, cpu_ids=cpu_ids, cpu=cpu)
        slurm = (
            SlurmBackend(matrix, host=host, docker=docker, run_id=None, registry=registry)
            if _slurm_settings(matrix)
            else None
        )
        return cls(docker=docker, host=host, cpu_ids=cpu_ids, cpu=cpu, slurm=slurm)

    @property
    def engine(self) -> str:
        return (self._docker or self._host).engine

    def sweep(self, *, resumed: str | None) -> Mapping[str, int]:
        return {} if self._docker is None else self._docker.sweep(resumed=resumed)

    def prepare(self, environment: Environment) -> Build:
        build = self._of(environment).prepare(environment)
        if build.identity is not None:
            self._identities[environment.name] = build.identity
        return build

    def facts(self, environment: Environment, build: Build) -> HostFacts:
        backend = self._of(environment)
        facts = backend.facts(environment, build)
        if environment.device == "gpu" and isinstance(backend, DockerBackend) and backend.gpu_request:
            self._gpu_requests[environment.name] = backend.gpu_request
        return facts

    def dispatch(
        self, environment: Environment, build: Build, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        return self._of(environment).dispatch(environment, build, variables)

    def forecast(self, environment: Environment) -> Forecast:
        return self._of(environment).forecast(environment)

    def machine_of(self, environment: Environment) -> str:
        """The architecture `environment`'s repeats run on ("" when unknown)."""
        return self._of(environment).machine

    def runs(
        self,
        *,
        jobs: int,
        side_dir: Path | None,
        host_environ: Mapping[str, str],
        on_record: Callable[[Record], None],
    ) -> Runs:
        """Repeats of environments whose images are ready, `jobs` at once (see `Runs`)."""
        assert self._owner is not None  # `open` made this machine, not `forecasting`
        context = RunContext(
            client=self._client,
            owner=self._owner,
            host_environ=host_environ,
            identities=self._identities,
            gpu_requests=self._gpu_requests,
            jobs=jobs,
            cpu_ids=self.cpu_ids,
            side_dir=side_dir,
        )
        settings = _slurm_settings(self._matrix) if self._matrix is not None else {}
        if not settings:
            return Runs(context, on_record=on_record)
        out = self._out
        owner = self._owner
        assert self._slurm is not None  # made whenever an environment has slurm:
        node_images = self._slurm.node_images

        def queue(report: Callable[[Record], None]) -> SlurmQueue:
            assert owner.run_dir is not None  # a run's owner has its directory
            return SlurmQueue(
                run_id=owner.run_id,
                run_dir=owner.run_dir,
                settings=settings,
                identities=self._identities,
                node_images=node_images,
                side_dir=side_dir,
                on_record=report,
                note=out.note if out is not None else lambda _: None,
                collecting=self._collecting,
            )

        return Runs(context, on_record=on_record, scheduled=queue, scheduled_environments=frozenset(settings))

    def close(self, *, interrupted: bool = False) -> None:
        if self._slurm is not None:
            self._slurm.close(interrupted=interrupted)
        self._host.close(interrupted=interrupted)
        if self._docker is not None:
            self._docker.close(interrupted=interrupted)

    def _of(self, environment: Environment) -> Backend:
        if environment.slurm is not None:
            assert self._slurm is not None  # made whenever an environment has slurm:
            return self._slurm
        if environment.host_python is not None:
            return self._host
        assert self._docker is not None  # `open` connects when any environment needs the engine
        return self._docker


def _slurm_settings(matrix: Matrix) -> dict[str, Slurm]:
    """Environment → its `slurm:`, for the environments that run on a Slurm cluster."""
    return {env.name: env.slurm for env in matrix.environments if env.slurm is not None}
