"""One command in one fresh, always-removed container (run to its end, or kept running while a
block needs it); and sweeping the containers of dead runs.

create → start → wait(timeout) → stop → remove, in try/finally: `containers.run(remove=True)` has no
finally and leaks the container when the wait times out or is interrupted. Every container carries
the labels of the run that made it, including its run directory, so a later run can tell whether
its owner is still alive and remove what a run killed outright left behind.
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import CancellableStream, DeviceRequest, LogConfig, Mount, Ulimit

from ...channel import Capture, Finished
from ...errors import EngineError
from ...limits import Limits
from ...store import is_alive

#: Every container seedmatrix starts carries these labels.
RUN_LABEL = "org.seedmatrix.run"  # the run id (or what the container is for: images, gpu-check)
RUN_DIR_LABEL = "org.seedmatrix.run-dir"  # the run directory whose lock says whether the run lives
HOST_LABEL = "org.seedmatrix.host"  # the machine of that directory

UNPRIVILEGED_USER = "65534:65534"  # nobody:nogroup, present in Debian and python:* images
STOP_GRACE_SECONDS = 10  # after SIGTERM at the time limit, before SIGKILL
STOP_POLL_SECONDS = 0.2  # how often a run that may be stopped from outside looks whether it is


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The run a container belongs to; its directory's lock tells whether that run is alive."""

    run_id: str
    run_dir: Path | None = None

    @property
    def labels(self) -> dict[str, str]:
        labels = {RUN_LABEL: self.run_id, HOST_LABEL: socket.gethostname()}
        if self.run_dir is not None:
            labels[RUN_DIR_LABEL] = str(self.run_dir.resolve())
        return labels


@dataclass(frozen=True, kw_only=True)
class GpuRequest:
    """One way to ask a Docker engine for every GPU of its host."""

    name: str  # how the docker CLI says it, for messages
    driver: str = ""
    count: int = 0
    device_ids: tuple[str, ...] = ()
    capabilities: tuple[tuple[str, ...], ...] = ()

    def device_request(self) -> DeviceRequest:
        return DeviceRequest(
            driver=self.driver,
            count=self.count,
            device_ids=list(self.device_ids),
            capabilities=[list(group) for group in self.capabilities],
        )


#: `--gpus all`: the engine finds a driver for the `gpu` capability (the NVIDIA Container Toolkit's
#: runtime hook; Docker 29 resolves it through CDI itself).
ALL_GPUS = GpuRequest(name="--gpus all", count=-1, capabilities=(("gpu",),))
#: `--device nvidia.com/gpu=all`: a CDI device (Docker >= 25 with CDI enabled), for hosts whose
#: toolkit writes CDI specs (`nvidia-ctk cdi generate`) and installs no runtime hook.
CDI_ALL_GPUS = GpuRequest(
    name="--device nvidia.com/gpu=all", driver="cdi", device_ids=("nvidia.com/gpu=all",)
)


def gpu_requests(info: Mapping[str, object]) -> tuple[GpuRequest, ...]:
    """The ways to ask this engine for GPUs, in the order to try them, from its /info answer.

    CDI names are only worth a try where the engine reads CDI specs: Docker lists the directories
    in `CDISpecDirs` when CDI is enabled (an empty list or no key: not enabled, or too old).
    """
    spec_dirs = info.get("CDISpecDirs")
    if isinstance(spec_dirs, list) and any(isinstance(path, str) and path for path in spec_dirs):
        return (ALL_GPUS, CDI_ALL_GPUS)
    return (ALL_GPUS,)


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    image: str
    command: Sequence[str]
    owner: Owner
    limits: Limits
    read_only_mounts: Mapping[Path, str] = field(default_factory=dict)  # host path → container path
    writable_mounts: Mapping[Path, str] = field(default_factory=dict)  # only for the wheel fetch
    tmpfs: Mapping[str, int] = field(default_factory=dict)  # extra tmpfs mounts: path → size in bytes
    working_dir: str = "/tmp"
    environment: Mapping[str, str] = field(default_factory=dict)
    cpuset: str | None = None  # e.g. "0" or "0,1": the CPUs the process sees (os.cpu_count() too)
    gpus: GpuRequest | None = None  # how to ask the engine for every GPU of the host (None: none)
    boundary: bytes | None = None  # the launcher's report follows this on stdout
    side_dir: Path | None = None  # where the report's side files are written as they arrive
    hermetic: bool = True  # no network, read-only root, `user`, no capabilities; False: fetching wheels
    user: str = UNPRIVILEGED_USER  # uid:gid inside a hermetic container


def connect() -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (or the default socket), checked with a ping."""
    try:
        client = _pinged(timeout=120)
    except DockerException as error:
        advice = _advice(error)
        raise EngineError(f"cannot reach the Docker engine ({_first_line(error)}).\n{advice}") from None
    return client


def _advice(error: DockerException) -> str:
    # A socket that refuses the user has an engine behind it: starting one is not the fix.
    if "Permission denied" in str(error):
        return (
            f"Its socket refuses user {pwd.getpwuid(os.getuid()).pw_name}: add the user to the docker "
            "group (then log in again), or name an engine of the user's own, e.g. rootless Docker: "
            "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock or `docker context use rootless` "
            "(docs/engines.md)."
        )
    return (
        "Start it and try again, e.g. `bash scripts/engine start` (installs docker.io and runs "
        "dockerd on Debian), `sudo systemctl start docker`, or set DOCKER_HOST."
    )


def reachable() -> tuple[docker.DockerClient | None, str]:
    """The engine, or None and why not: for the jobs that go on without one (`plan`, `prune`)."""
    try:
        return _pinged(timeout=30), ""
    except (DockerException, requests.exceptions.RequestException) as error:
        return None, f"no Docker engine reachable ({_first_line(error)})"


def _pinged(*, timeout: int) -> docker.DockerClient:
    client = docker.from_env(timeout=timeout)
    client.ping()
    return client


def podman_version(version: Mapping[str, object]) -> str | None:
    """Podman's version when the engine's /version answer is Podman's, else None (Docker).

    Podman answers the Docker-compatible API with its own name among the components
    ("Podman Engine"); its ApiVersion mimics Docker's, so only the name tells them apart.
    """
    components = version.get("Components")
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and str(component.get("Name", "")).startswith("Podman"):
            return str(component.get("Version", "unknown version"))
    return None


def gpu_request_dropped(podman: str | None) -> str | None:
    """Why an engine's containers get no GPU whatever the host has, or None when they can get one.

    Podman's Docker-compatible API drops Docker-style GPU requests: the container starts without a
    GPU and without an error, so the usual check (a container asking for one exits 0) would say
    yes. Nor does it take CDI names (`nvidia.com/gpu=all`) as devices there: 4.3 looks for a file of
    that name on the host (seen 2026-12-03).
    """
    if podman is None:
        return None
    return (
        f"no GPU on this host (for containers of Podman {podman}: its Docker-compatible API drops "
        "Docker-style GPU requests, the container would start without a GPU and without an error)"
    )


def running_podman(client: docker.DockerClient) -> str | None:
    """The engine's Podman version, or None when it is not Podman."""
    try:
        return podman_version(client.version())
    except (DockerException, requests.exceptions.RequestException) as error:
        raise EngineError(f"cannot read the engine's version ({_first_line(error)})") from None


def engine_cpus(client: docker.DockerClient) -> int:
    """How many CPUs the engine's host has (cpusets are numbered 0 … n-1 there)."""
    try:
        return int(client.info()["NCPU"])
    except (DockerException, KeyError, TypeError, ValueError) as error:
        raise EngineError(f"cannot read the engine's CPU count ({_first_line(error)})") from None


def gpu_access(client: docker.DockerClient, image: str, owner: Owner) -> GpuRequest | str:
    """The request that gives this engine's containers the host's GPUs, or why none does, in words.

    Each way the engine may take (`gpu_requests`) is tried with a container that asks for the GPUs
    and exits; the first one the engine starts is the one the GPU cells use.
    """
    dropped = gpu_request_dropped(running_podman(client))
    if dropped is not None:
        return dropped
    try:
        ways = gpu_requests(client.info())
    except (DockerException, requests.exceptions.RequestException) as error:
        raise EngineError(f"cannot read the engine's information ({_first_line(error)})") from None
    refusals = []
    for way in ways:
        refused = _gpu_refused(client, image, owner, way)
        if refused is None:
            return way
        refusals.append(refused if len(ways) == 1 else f"{way.name}: {refused}")
    return f"no GPU on this host ({'; '.join(refusals)})"


def _gpu_refused(client: docker.DockerClient, image: str, owner: Owner, way: GpuRequest) -> str | None:
    spec = ContainerSpec(
        image=image, command=["true"], owner=owner, limits=Limits(timeout_seconds=120), gpus=way
    )
    try:
        finished = run(client, spec)
    except EngineError as error:
        # The engine's own words are inside the API error, after the HTTP status and address.
        said = re.search(r'\("(.+)"\)\s*$', str(error))
        return f"the engine: {said.group(1) if said else str(error).split(': ', 1)[-1]}"
    if finished.exit_code != 0:
        return f"a container asking for one exited {finished.exit_code}"
    return None


class Sink(Protocol):
    """Where a container's output goes as it comes: a `Capture`, or the node's own stdout and
    stderr (a Slurm task's container, backends/slurm/node.py)."""

    def add(self, out: bytes | None, err: bytes | None) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Stop:
    """A stop asked from outside the run (a scheduler's SIGTERM): once `requested` is set, the
    container gets SIGTERM, as at its time limit, and SIGKILL after `grace_seconds`."""

    requested: threading.Event
    grace_seconds: float


@dataclass(frozen=True, kw_only=True)
class Ended:
    """How a container ended (its output went to a Sink)."""

    exit_code: int | None  # None when it had to be killed, or was never started (stopped first)
    timed_out: bool
    oom_killed: bool
    seconds: float


def run(client: docker.DockerClient, spec: ContainerSpec) -> Finished:
    """Run `spec.command` to its end or to the time limit; the container never outlives this call.

    At the time limit the container gets SIGTERM (the launcher then ends the script and still
    reports what it recorded), and SIGKILL after a grace period.
    """
    capture = Capture(
        spec.limits.output_bytes,
        boundary=spec.boundary,
        report_limit=_report_limit(spec),
        side_dir=spec.side_dir,
    )
    # Leaving the block finishes the capture, on an exception too: no side file left half-written.
    with capture:
        ended = run_into(client, spec, capture)
    return Finished.of(
        capture,
        exit_code=ended.exit_code,
        timed_out=ended.timed_out,
        oom_killed=ended.oom_killed,
        seconds=ended.seconds,
    )


def run_into(
    client: docker.DockerClient, spec: ContainerSpec, sink: Sink, *, stop: Stop | None = None
) -> Ended:
    """`run`, its output handed to `sink` as it comes; `stop`: ended early when asked, as at the
    time limit. The container is removed before this returns, whatever happens."""
    with _container(client, spec) as container, _engine_errors(spec.image):
        if stop is not None and stop.requested.is_set():
            return Ended(exit_code=None, timed_out=False, oom_killed=False, seconds=0.0)
        stream = client.api.attach(str(container.id), stdout=True, stderr=True, stream=True, demux=True)
        reader = threading.Thread(target=_drain, args=(sink, stream), daemon=True)
        reader.start()
        started = time.monotonic()
        container.start()
        exited = threading.Event()
        if stop is not None:
            threading.Thread(target=_stop_when_asked, args=(container, stop, exited), daemon=True).start()
        timed_out = False
        exit_code: int | None = None
        try:
            exit_code = _wait(container, spec.limits.timeout_seconds, started)
        except TimeoutError:
            timed_out = True
            _signal(container, "SIGTERM")
            try:
                exit_code = _wait(container, STOP_GRACE_SECONDS, time.monotonic())
            except TimeoutError:
                _signal(container, "SIGKILL")
        finally:
            exited.set()
        seconds = time.monotonic() - started
        reader.join(timeout=30)
        container.reload()
        oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
    return Ended(exit_code=exit_code, timed_out=timed_out, oom_killed=oom_killed, seconds=seconds)


def _stop_when_asked(container: Container, stop: Stop, exited: threading.Event) -> None:
    # Polled: one Event cannot be waited on together with another.
    while not exited.is_set():
        if stop.requested.wait(STOP_POLL_SECONDS):
            _signal(container, "SIGTERM")
            if not exited.wait(stop.grace_seconds):
                _signal(container, "SIGKILL")
            return


@contextmanager
def serving(client: docker.DockerClient, spec: ContainerSpec) -> Iterator[Container]:
    """`spec`'s container, started and left running for the block, removed after it whatever happens."""
    with _container(client, spec) as container:
        with _engine_errors(spec.image):
            container.start()
        yield container  # what the block raises is its own: not the engine refusing this container


def exit_code_inside(container: Container, command: Sequence[str]) -> int | None:
    """The exit code of `command` run inside a running container; None once it no longer runs."""
    with _engine_errors(str(container.attrs.get("Config", {}).get("Image", container.short_id))):
        try:
            exit_code = container.exec_run(list(command)).exit_code
        except NotFound:
            return None
        except APIError as error:
            if error.response is not None and error.response.status_code == 409:  # it has stopped
                return None
            raise
    return None if exit_code is None else int(exit_code)


def _report_limit(spec: ContainerSpec) -> int:
    return spec.limits.records_space + 64 * 1024 if spec.boundary else 0


def _wait(container: Container, seconds: float, started: float) -> int:
    try:
        status = container.wait(timeout=seconds)
    except requests.exceptions.RequestException as error:
        # docker-py surfaces the wait's HTTP timeout as ReadTimeout or ConnectionError; a lost
        # engine ends the wait early (ConnectionError, ChunkedEncodingError, …), so only a
        # wait that lasted the whole limit is a timeout.
        if time.monotonic() - started < seconds * 0.99:
            raise EngineError(f"lost the Docker engine during a run ({_first_line(error)})") from None
        raise TimeoutError from None
    return int(status["StatusCode"])


def _drain(sink: Sink, stream: CancellableStream[tuple[bytes | None, bytes | None]]) -> None:
    try:
        with suppress(requests.exceptions.RequestException, OSError, ValueError):
            for out, err in stream:
                sink.add(out, err)
    finally:
        stream.close()
        # close() shuts the socket but leaves the HTTP response holding it (ResourceWarning).
        response = getattr(stream, "_response", None)  # docker-py keeps it private
        if response is not None:
            response.close()


@contextmanager
def _engine_errors(image: str) -> Iterator[None]:
    """The engine refusing a request about `image`'s container, or going away, as an EngineError."""
    try:
        yield
    except ImageNotFound:
        raise EngineError(f"image {image!r} is not in the engine") from None
    except APIError as error:
        raise EngineError(f"the engine refused to run {image!r}: {_first_line(error)}") from None
    except requests.exceptions.RequestException as error:
        raise EngineError(f"lost the Docker engine during a run ({_first_line(error)})") from None


@contextmanager
def _container(client: docker.DockerClient, spec: ContainerSpec) -> Iterator[Container]:
    """`spec`'s container, created (not started) and removed after the block whatever happens."""
    # A missing host path would be mounted as an empty directory the engine makes: a file removed
    # since it was checked, seen as an empty tree. Docker refuses a mount's missing source (not a
    # bind's), Podman 4.3 makes it either way: asked here first.
    missing = [host for host in (*spec.read_only_mounts, *spec.writable_mounts) if not host.exists()]
    if missing:
        raise EngineError(f"not running {spec.image!r}: {missing[0]}, to be mounted in it, does not exist")
    mounts = [
        Mount(target=inside, source=str(host), type="bind", read_only=read_only)
        for read_only, paths in ((True, spec.read_only_mounts), (False, spec.writable_mounts))
        for host, inside in paths.items()
    ]
    # exec: Docker's tmpfs default is noexec, and JIT compilers (torch.compile, numba's cache, a C
    # kernel a script builds) load what they write to /tmp.
    tmpfs = {
        path: f"rw,exec,nosuid,nodev,size={size},mode=1777"
        for path, size in {"/tmp": spec.limits.tmp_mb << 20, **spec.tmpfs}.items()
    }
    isolation = (
        {
            "user": spec.user,
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "tmpfs": tmpfs,
        }
        if spec.hermetic
        else {"network_mode": "host"}  # fetching wheels needs the network; seed containers never get it
    )
    with _engine_errors(spec.image):
        container = client.containers.create(
            spec.image,
            command=list(spec.command),
            labels=spec.owner.labels,
            environment=dict(spec.environment),
            mounts=mounts,
            working_dir=spec.working_dir,
            shm_size=f"{spec.limits.shm_mb}m",
            pids_limit=spec.limits.pids,
            ulimits=[
                Ulimit(name="nofile", soft=spec.limits.open_files, hard=spec.limits.open_files),
                Ulimit(name="nproc", soft=spec.limits.user_processes, hard=spec.limits.user_processes),
            ],
            cpuset_cpus=spec.cpuset,
            device_requests=[spec.gpus.device_request()] if spec.gpus is not None else None,
            mem_limit=spec.limits.memory,
            memswap_limit=spec.limits.memory,
            log_config=LogConfig(type=LogConfig.types.NONE),  # output is read live; nothing on disk
            **isolation,
        )
    try:
        yield container
    finally:
        _remove(container)


def _signal(container: Container, name: str) -> None:
    with suppress(NotFound, APIError):  # it may exit between the timeout and the signal
        container.kill(signal=name)


#: What removing a container may raise when the engine went away; the run's label lets a later
#: run's sweep (or `docker rm`) finish the job.
_ENGINE_GONE = (requests.exceptions.RequestException,)


def _remove(container: Container) -> None:
    with suppress(NotFound, *_ENGINE_GONE):
        container.remove(force=True)


def remove_run_containers(client: docker.DockerClient, run_id: str) -> int:
    """Force-remove whatever containers still carry this run's label; returns how many."""
    try:
        # ignore_removed: another run (or this one's threads) may remove a container between the
        # listing and the SDK's inspection of it.
        mine: dict[str, str | list[str] | bool] = {"label": f"{RUN_LABEL}={run_id}"}
        leftovers = client.containers.list(all=True, filters=mine, ignore_removed=True)
    except _ENGINE_GONE as error:
        raise EngineError(f"cannot list the run's containers ({_first_line(error)})") from None
    for container in leftovers:
        _remove(container)
    return len(leftovers)


def sweep_dead_runs(client: docker.DockerClient) -> dict[str, int]:
    """Remove the containers of runs on this machine that are no longer alive; run id → count.

    A run is alive while its process holds its directory's lock. Containers of runs on other
    machines (a shared engine) and containers without a run directory are left alone.
    """
    try:
        labelled = client.containers.list(all=True, filters={"label": RUN_DIR_LABEL}, ignore_removed=True)
    except _ENGINE_GONE as error:
        raise EngineError(f"cannot list containers ({_first_line(error)})") from None
    here = socket.gethostname()
    verdicts: dict[str, bool] = {}
    removed: dict[str, int] = {}
    for container in labelled:
        labels = container.labels
        run_dir = labels.get(RUN_DIR_LABEL, "")
        if labels.get(HOST_LABEL) != here or not run_dir:
            continue
        if run_dir not in verdicts:
            verdicts[run_dir] = is_alive(Path(run_dir))
        if not verdicts[run_dir]:
            _remove(container)
            run_id = labels.get(RUN_LABEL, run_dir)
            removed[run_id] = removed.get(run_id, 0) + 1
    return removed


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
