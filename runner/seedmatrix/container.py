"""One command in one fresh, hermetic, always-removed container.

create → start → wait(timeout) → kill → remove, in try/finally: `containers.run(remove=True)` has no
finally and leaks the container when the wait times out or is interrupted.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import CancellableStream, DeviceRequest, LogConfig

from .errors import EngineError

#: Every container seedmatrix starts carries this label, with the run id as its value.
RUN_LABEL = "org.seedmatrix.run"

UNPRIVILEGED_USER = "65534:65534"  # nobody:nogroup, present in Debian and python:* images


@dataclass(frozen=True, kw_only=True)
class Limits:
    timeout_seconds: int
    memory: str = "4g"
    pids: int = 512
    tmpfs_size: str = "64m"
    output_bytes: int = 4 << 20  # stdout kept from the start, stderr from the end


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    image: str
    command: Sequence[str]
    run_label: str
    limits: Limits
    read_only_mounts: Mapping[Path, str] = field(default_factory=dict)  # host path → container path
    environment: Mapping[str, str] = field(default_factory=dict)
    cpuset: str | None = None  # e.g. "0" or "0,1": the CPUs the process sees (os.cpu_count() too)
    gpus: bool = False  # ask the engine for every GPU of the host (NVIDIA container toolkit)


@dataclass(frozen=True, kw_only=True)
class Finished:
    exit_code: int | None  # None when killed at the time limit
    timed_out: bool
    oom_killed: bool
    stdout: str
    stderr: str
    seconds: float
    output_bytes: int = 0  # everything the process wrote, kept or not
    output_capped: bool = False


def connect() -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (or the default socket), checked with a ping."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as error:
        raise EngineError(
            "cannot reach the Docker engine "
            f"({_first_line(error)}).\n"
            "Start it and try again, e.g. `bash scripts/engine start` (installs docker.io and runs "
            "dockerd on Debian), `sudo systemctl start docker`, or set DOCKER_HOST."
        ) from None
    return client


def engine_cpus(client: docker.DockerClient) -> int:
    """How many CPUs the engine's host has (cpusets are numbered 0 … n-1 there)."""
    try:
        return int(client.info()["NCPU"])
    except (DockerException, KeyError, TypeError, ValueError) as error:
        raise EngineError(f"cannot read the engine's CPU count ({_first_line(error)})") from None


class Capture:
    """Keeps the first `limit` bytes of stdout and the last `limit` of stderr; counts everything.

    Output is read from the attach stream as it is written, so a script that prints gigabytes
    costs memory of `limit` and no disk (the container's log driver is "none").
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.total = 0

    def add(self, out: bytes | None, err: bytes | None) -> None:
        if out:
            self.total += len(out)
            room = self.limit - len(self.stdout)
            if room > 0:
                self.stdout += out[:room]
        if err:
            self.total += len(err)
            self.stderr += err
            del self.stderr[: max(0, len(self.stderr) - self.limit)]

    def drain_pipe(self, pipe: IO[bytes], *, stderr: bool) -> None:
        """Read a process's stdout or stderr to its end (the host backend)."""
        with pipe:
            while chunk := os.read(pipe.fileno(), 65536):
                self.add(None, chunk) if stderr else self.add(chunk, None)

    def drain(self, stream: CancellableStream[tuple[bytes | None, bytes | None]]) -> None:
        try:
            with suppress(requests.exceptions.RequestException, OSError, ValueError):
                for out, err in stream:
                    self.add(out, err)
        finally:
            stream.close()
            # close() shuts the socket but leaves the HTTP response holding it (ResourceWarning).
            response = getattr(stream, "_response", None)  # docker-py keeps it private
            if response is not None:
                response.close()

    @property
    def capped(self) -> bool:
        return self.total > len(self.stdout) + len(self.stderr)

    def finished(
        self, *, exit_code: int | None, timed_out: bool, oom_killed: bool, seconds: float
    ) -> Finished:
        return Finished(
            exit_code=exit_code,
            timed_out=timed_out,
            oom_killed=oom_killed,
            stdout=bytes(self.stdout).decode("utf-8", "replace"),
            stderr=bytes(self.stderr).decode("utf-8", "replace"),
            output_bytes=self.total,
            output_capped=self.capped,
            seconds=seconds,
        )


def gpu_unavailable(client: docker.DockerClient, image: str) -> str | None:
    """None when the engine can give a container the host's GPUs; otherwise why not, in words."""
    spec = ContainerSpec(
        image=image,
        command=["true"],
        run_label="gpu-check",
        limits=Limits(timeout_seconds=120),
        gpus=True,
    )
    try:
        finished = run(client, spec)
    except EngineError as error:
        # The engine's own words are inside the API error, after the HTTP status and address.
        said = re.search(r'\("(.+)"\)\s*$', str(error))
        return f"no GPU on this host (the engine: {said.group(1) if said else str(error).split(': ', 1)[-1]})"
    if finished.exit_code != 0:
        return f"no GPU on this host (a container asking for one exited {finished.exit_code})"
    return None


def run(client: docker.DockerClient, spec: ContainerSpec) -> Finished:
    """Run `spec.command` to completion or to the time limit; the container never outlives this call."""
    with _container(client, spec) as container:
        capture = Capture(spec.limits.output_bytes)
        stream = client.api.attach(str(container.id), stdout=True, stderr=True, stream=True, demux=True)
        reader = threading.Thread(target=capture.drain, args=(stream,), daemon=True)
        reader.start()
        started = time.monotonic()
        container.start()
        timed_out = False
        exit_code: int | None = None
        try:
            status = container.wait(timeout=spec.limits.timeout_seconds)
            exit_code = int(status["StatusCode"])
        except requests.exceptions.RequestException as error:
            # docker-py surfaces the wait's HTTP timeout as ReadTimeout or ConnectionError; a lost
            # engine ends the wait early (ConnectionError, ChunkedEncodingError, …), so only a
            # wait that lasted the whole limit is a timeout.
            if time.monotonic() - started < spec.limits.timeout_seconds * 0.99:
                raise EngineError(f"lost the Docker engine during a run ({_first_line(error)})") from None
            timed_out = True
            _kill(container)
        seconds = time.monotonic() - started
        reader.join(timeout=30)
        container.reload()
        oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
    return capture.finished(
        exit_code=None if timed_out else exit_code,
        timed_out=timed_out,
        oom_killed=oom_killed,
        seconds=seconds,
    )


@contextmanager
def _container(client: docker.DockerClient, spec: ContainerSpec) -> Iterator[Container]:
    container = None
    try:
        container = client.containers.create(
            spec.image,
            command=list(spec.command),
            labels={RUN_LABEL: spec.run_label},
            environment=dict(spec.environment),
            volumes={
                str(host): {"bind": inside, "mode": "ro"} for host, inside in spec.read_only_mounts.items()
            },
            working_dir="/tmp",
            user=UNPRIVILEGED_USER,
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={spec.limits.tmpfs_size},mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=spec.limits.pids,
            cpuset_cpus=spec.cpuset,
            device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])] if spec.gpus else None,
            mem_limit=spec.limits.memory,
            memswap_limit=spec.limits.memory,
            log_config=LogConfig(type=LogConfig.types.NONE),  # output is read live; nothing on disk
        )
        yield container
    except ImageNotFound:
        raise EngineError(f"image {spec.image!r} is not in the engine") from None
    except APIError as error:
        raise EngineError(f"the engine refused to run {spec.image!r}: {_first_line(error)}") from None
    except requests.exceptions.RequestException as error:
        raise EngineError(f"lost the Docker engine during a run ({_first_line(error)})") from None
    finally:
        if container is not None:
            _remove(container)


def _kill(container: Container) -> None:
    with suppress(NotFound, APIError):  # it may exit between the timeout and the kill
        container.kill()


#: What removing a container may raise when the engine went away; the run's label lets a later
#: `remove_run_containers` (or `docker rm`) finish the job.
_ENGINE_GONE = (requests.exceptions.RequestException,)


def _remove(container: Container) -> None:
    with suppress(NotFound, *_ENGINE_GONE):
        container.remove(force=True)


def remove_run_containers(client: docker.DockerClient, run_label: str) -> int:
    """Force-remove whatever containers still carry this run's label; returns how many."""
    try:
        leftovers = client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_label}"})
    except _ENGINE_GONE as error:
        raise EngineError(f"cannot list the run's containers ({_first_line(error)})") from None
    for container in leftovers:
        _remove(container)
    return len(leftovers)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
