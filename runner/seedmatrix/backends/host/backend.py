"""The host backend: interpreters on this machine probed as they are; repeats as host processes."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from typing import Any

from ...config import Environment, Matrix
from ...cpu import CpuFacts
from ...plan import HostFacts
from ...results import Build
from .. import Forecast
from ..docker.probes import probe_dispatch
from . import hostrun
from .interpreters import host_build


class HostBackend:
    """Nothing to build and nothing to remove: an interpreter is used as it is."""

    def __init__(self, matrix: Matrix, *, cpu_ids: Sequence[int], cpu: CpuFacts | None) -> None:
        self._matrix = matrix
        self.cpu_ids = cpu_ids
        self._cpu = cpu

    @property
    def engine(self) -> str:
        return "not used (host environments only)"

    @property
    def machine(self) -> str:
        return platform.machine()

    def sweep(self, *, resumed: str | None) -> Mapping[str, int]:
        return {}  # a host repeat's processes end with the runner (see hostrun)

    def prepare(self, environment: Environment) -> Build:
        return host_build(
            environment, matrix_dir=self._matrix.source.parent, timeout_seconds=self._matrix.timeout_seconds
        )

    def facts(self, environment: Environment, build: Build) -> HostFacts:
        return HostFacts(
            cpus=len(self.cpu_ids),
            cpu=self._cpu,
            provides={environment.name: build.observed.provides} if build.observed else {},
        )

    def dispatch(
        self, environment: Environment, build: Build, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        return probe_dispatch(
            None,
            build,
            self._python(environment),
            variables=variables,
            owner=None,  # no container: the probe runs as a host process
            timeout_seconds=self._matrix.timeout_seconds,
        )

    def forecast(self, environment: Environment) -> Forecast:
        return Forecast(
            environment=environment.name,
            action="host interpreter",
            detail=f"{environment.host_python}, no image",
            ready=True,
        )

    def close(self, *, interrupted: bool = False) -> None:
        if interrupted:
            hostrun.stop_all()  # host processes run in sessions of their own: no Ctrl-C reached them

    def _python(self, environment: Environment) -> str:
        assert environment.host_python is not None  # the machine hands this backend host environments
        return hostrun.interpreter(environment.host_python, relative_to=self._matrix.source.parent)
