"""The Docker backend: images built, found or pulled; repeats and probes in containers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import docker
import requests

from ...config import Environment, Matrix
from ...cpu import CpuFacts
from ...errors import EngineError
from ...log import Output
from ...plan import HostFacts
from ...results import Build
from .. import Forecast
from . import container
from .forecast import forecast
from .images import VENV_PYTHON, BuildSettings, ensure_environment_image
from .probes import probe_dispatch
from .wheels import Fetching


class DockerBackend:
    """One engine for the whole run. Without a client (no engine reachable) it only forecasts."""

    def __init__(
        self,
        client: docker.DockerClient | None,
        matrix: Matrix,
        *,
        settings: BuildSettings | None,
        fetching: Fetching | None,
        out: Output,
        cpu_ids: Sequence[int],
        cpu: CpuFacts | None,
        registry: str | None = None,
        debian_base: str | None = None,
    ) -> None:
        self._client = client
        self._matrix = matrix
        self._settings = settings
        self._registry = settings.registry if settings is not None else registry
        self._debian_base = settings.debian_base if settings is not None else debian_base
        self._fetching = fetching
        self._out = out
        self.cpu_ids = cpu_ids
        self._cpu = cpu
        self._gpu_asked = False
        self._gpu_unavailable: str | None = None
        self.gpu_request: container.GpuRequest | None = None  # how GPU cells ask, once the engine granted it

    @property
    def engine(self) -> str:
        if self._client is None:
            return "unreachable"
        try:
            return str(self._client.version().get("Version", "?"))
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return "unreachable"

    @cached_property
    def machine(self) -> str:
        """The engine's architecture: a remote engine (DOCKER_HOST) need not be this machine's."""
        if self._client is None:
            return ""
        try:
            return str(self._client.info().get("Architecture") or "")
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return ""

    def sweep(self, *, resumed: str | None) -> Mapping[str, int]:
        client = self._engine()
        removed = container.sweep_dead_runs(client)
        if resumed is not None and (count := container.remove_run_containers(client, resumed)):
            removed[resumed] = removed.get(resumed, 0) + count
        return removed

    def prepare(self, environment: Environment) -> Build:
        return ensure_environment_image(
            self._engine(), self._matrix, environment, self._build_settings(), progress=self._out.note
        )

    def facts(self, environment: Environment, build: Build) -> HostFacts:
        return HostFacts(
            cpus=len(self.cpu_ids),
            cpu=self._cpu,
            # A failed build's cells are its own failure, whatever the GPU: not asked.
            gpu_unavailable=self._gpu(build.image_id)
            if environment.device == "gpu" and build.image_id
            else None,
        )

    def dispatch(
        self, environment: Environment, build: Build, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        return probe_dispatch(
            self._client,
            build,
            VENV_PYTHON,
            variables=variables,
            owner=self._build_settings().owner,
            timeout_seconds=self._matrix.timeout_seconds,
        )

    def forecast(self, environment: Environment) -> Forecast:
        return forecast(
            self._client,
            self._matrix,
            environment,
            self._fetching,
            registry=self._registry,
            debian_base=self._debian_base,
        )

    def close(self, *, interrupted: bool = False) -> None:
        if self._client is None or self._settings is None:
            return
        run_id = self._settings.owner.run_id
        try:
            container.remove_run_containers(self._client, run_id)
        except EngineError as error:
            selector = f"label={container.RUN_LABEL}={run_id}"
            removal = f"docker rm -f $(docker ps -aq --filter {selector})"
            self._out.warn(f"{error}: the next run removes them, or now: `{removal}`")

    def _gpu(self, image_id: str) -> str | None:
        """Ask the engine once whether it can give a container a GPU; if not, GPU runs are skipped."""
        if self._gpu_asked:
            return self._gpu_unavailable
        self._gpu_asked = True
        access = container.gpu_access(self._engine(), image_id, self._build_settings().owner)
        if isinstance(access, str):
            self._gpu_unavailable = access
            self._out.warn(f"skipping the GPU environments: {access}")
        else:
            self.gpu_request = access
            self._out.note(f"the engine gives containers GPUs ({access.name}): GPU environments run on them")
        return self._gpu_unavailable

    def _engine(self) -> docker.DockerClient:
        if self._client is None:
            raise EngineError("no Docker engine reachable: this backend can only forecast")
        return self._client

    def _build_settings(self) -> BuildSettings:
        if self._settings is None:
            raise EngineError("no build settings: this backend can only forecast")
        return self._settings
