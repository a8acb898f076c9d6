"""Seed containers against a real engine: hermetic, time-limited, always removed."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import cast

import docker
import pytest

from seedmatrix.backends.docker import container
from seedmatrix.backends.docker.images import VENV_PYTHON
from seedmatrix.errors import EngineError
from seedmatrix.limits import Limits
from seedmatrix.results import Build

pytestmark = pytest.mark.docker

INSPECT_SANDBOX = """
import json, os, socket
facts = {"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd()}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    facts["network"] = "reached"
except OSError as error:
    facts["network"] = type(error).__name__
try:
    open("/opt/seedmatrix/written", "w")
    facts["root_write"] = "allowed"
except OSError as error:
    facts["root_write"] = error.strerror
with open("/tmp/scratch", "w") as scratch:
    facts["tmp_write"] = scratch.write("ok")
with open("/proc/self/status") as status:
    facts["cap_eff"] = next(l.split()[1] for l in status if l.startswith("CapEff"))
with open("/proc/self/status") as status:
    facts["no_new_privs"] = next(l.split()[1] for l in status if l.startswith("NoNewPrivs"))
print(json.dumps(facts))
"""


def spec(
    image: Build, code: str, run_label: str, *, timeout_seconds: int = 60, memory: str = "1g"
) -> container.ContainerSpec:
    assert image.image_id is not None
    return container.ContainerSpec(
        image=image.image_id,
        command=[VENV_PYTHON, "-c", code],
        owner=container.Owner(run_id=run_label),
        limits=Limits(timeout_seconds=timeout_seconds, memory=memory),
    )


def labelled(client: docker.DockerClient, run_label: str) -> list[object]:
    return list(client.containers.list(all=True, filters={"label": f"{container.RUN_LABEL}={run_label}"}))


def test_a_seed_container_is_hermetic_and_unprivileged(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    finished = container.run(docker_client, spec(small_image, INSPECT_SANDBOX, run_label))
    assert finished.exit_code == 0, finished.stderr
    facts = json.loads(finished.stdout)
    assert facts["uid"] == facts["gid"] == 65534
    assert facts["network"] in {"OSError", "ConnectionRefusedError"} or "Unreachable" in facts["network"]
    assert facts["root_write"] == "Read-only file system"
    assert facts["tmp_write"] == 2
    assert facts["cap_eff"] == "0000000000000000"
    assert facts["no_new_privs"] == "1"
    assert labelled(docker_client, run_label) == []


def test_a_seed_container_has_the_same_explicit_rlimits_on_every_engine(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    # Not the engine's defaults: Podman's exceed what this host allows, Docker's are dockerd's own.
    code = "import resource as r; print([r.getrlimit(l) for l in (r.RLIMIT_NOFILE, r.RLIMIT_NPROC)])"
    finished = container.run(docker_client, spec(small_image, code, run_label))
    assert finished.exit_code == 0, finished.stderr
    limits = Limits(timeout_seconds=60)
    expected = [(limits.open_files,) * 2, (limits.user_processes,) * 2]
    assert finished.stdout == f"{expected}\n"


def test_mounts_are_read_only_or_writable_and_a_missing_host_path_is_refused_not_made(
    docker_client: docker.DockerClient, small_image: Build, run_label: str, tmp_path: Path
) -> None:
    given, written = tmp_path / "given", tmp_path / "written"
    given.mkdir()
    written.mkdir()
    (given / "data.txt").write_text("kept\n", encoding="utf-8")
    code = (
        "import os; print(open('/given/data.txt').read(), end=''); open('/written/out', 'w').write('w'); "
        "print(os.access('/given', os.W_OK))"
    )
    mounted = replace(
        spec(small_image, code, run_label),
        read_only_mounts={given: "/given"},
        writable_mounts={written: "/written"},
        user=f"{os.getuid()}:{os.getgid()}",
    )
    finished = container.run(docker_client, mounted)
    assert (finished.exit_code, finished.stdout) == (0, "kept\nFalse\n"), finished.stderr
    assert (written / "out").read_text(encoding="utf-8") == "w"
    # A path gone since it was checked: the engine would make it and give the container an empty
    # directory (Podman 4.3 did, Docker did for a bind); the run is refused and nothing is made.
    gone = tmp_path / "gone" / "project"
    with pytest.raises(EngineError, match=f"{gone}, to be mounted in it, does not exist"):
        container.run(docker_client, replace(mounted, read_only_mounts={gone: "/given"}))
    assert not gone.parent.exists()
    assert labelled(docker_client, run_label) == []


def test_exit_code_and_both_streams_come_back(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    finished = container.run(docker_client, spec(small_image, code, run_label))
    assert (finished.exit_code, finished.timed_out) == (3, False)
    assert finished.stdout == "out\n"
    assert finished.stderr == "err\n"


def test_a_hanging_command_is_killed_at_the_limit_and_removed(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    code = "import time; print('started', flush=True); time.sleep(600)"
    finished = container.run(docker_client, spec(small_image, code, run_label, timeout_seconds=2))
    assert finished.timed_out
    assert finished.exit_code is None
    assert finished.stdout == "started\n"
    assert 2 <= finished.seconds < 30
    assert labelled(docker_client, run_label) == []


class _Kept:
    def __init__(self) -> None:
        self.out = b""

    def add(self, out: bytes | None, err: bytes | None) -> None:
        self.out += out or b""


def test_a_stop_asked_from_outside_ends_and_removes_the_container_within_its_grace(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    """A Slurm node's task (backends/slurm/node.py) stops its container when Slurm signals it: the
    PID 1 here ignores SIGTERM, so only the SIGKILL after the grace ends it, long before its limit."""
    stop = container.Stop(requested=threading.Event(), grace_seconds=1.0)
    code = "import time; print('started', flush=True); time.sleep(600)"
    threading.Timer(3.0, stop.requested.set).start()
    started = time.monotonic()
    kept = _Kept()
    ended = container.run_into(docker_client, spec(small_image, code, run_label, timeout_seconds=600), kept,
                               stop=stop)  # fmt: skip
    assert time.monotonic() - started < 30
    assert (ended.exit_code, ended.timed_out) == (137, False)
    assert kept.out == b"started\n"
    assert labelled(docker_client, run_label) == []


def test_a_stop_asked_before_the_start_starts_nothing(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    stop = container.Stop(requested=threading.Event(), grace_seconds=1.0)
    stop.requested.set()
    kept = _Kept()
    ended = container.run_into(docker_client, spec(small_image, "print('ran')", run_label), kept, stop=stop)
    assert (ended.exit_code, ended.seconds, kept.out) == (None, 0.0, b"")
    assert labelled(docker_client, run_label) == []


def test_exceeding_the_memory_limit_is_reported(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    code = "blocks = [bytearray(16 << 20) for _ in range(64)]; print(len(blocks))"
    finished = container.run(docker_client, spec(small_image, code, run_label, memory="128m"))
    assert finished.exit_code != 0
    assert finished.oom_killed


def test_leftover_containers_of_a_run_are_removed(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    assert small_image.image_id is not None
    docker_client.containers.create(
        small_image.image_id, command=["true"], labels={container.RUN_LABEL: run_label}
    )
    assert len(labelled(docker_client, run_label)) == 1
    assert container.remove_run_containers(docker_client, run_label) == 1
    assert labelled(docker_client, run_label) == []


def test_a_cpuset_decides_how_many_cpus_the_process_sees(
    docker_client: docker.DockerClient, small_image: Build, run_label: str
) -> None:
    assert small_image.image_id is not None
    code = "import os; print(len(os.sched_getaffinity(0)), os.environ['PYTHONHASHSEED'])"
    finished = container.run(
        docker_client,
        container.ContainerSpec(
            image=small_image.image_id,
            command=[VENV_PYTHON, "-c", code],
            owner=container.Owner(run_id=run_label),
            limits=Limits(timeout_seconds=60),
            environment={"PYTHONHASHSEED": "0"},
            cpuset="0",
        ),
    )
    assert finished.stdout == "1 0\n", finished.stderr


def test_a_host_without_a_gpu_says_so(docker_client: docker.DockerClient, small_image: Build) -> None:
    assert small_image.image_id is not None
    reason = container.gpu_access(docker_client, small_image.image_id, container.Owner(run_id="gpu-check"))
    if isinstance(reason, container.GpuRequest):
        pytest.skip("this engine gives containers a GPU; the no-GPU path cannot be shown here")
    assert reason.startswith("no GPU on this host (")
    assert (
        docker_client.containers.list(all=True, filters={"label": f"{container.RUN_LABEL}=gpu-check"}) == []
    )


class AdvertisesCdi:
    """The engine, except that its /info lists CDI spec directories (as Docker >= 25 does with CDI
    enabled): this engine (20.10) has neither the NVIDIA runtime hook nor a CDI driver."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def info(self) -> dict[str, object]:
        return {**self._client.info(), "CDISpecDirs": ["/etc/cdi", "/var/run/cdi"]}


def test_an_engine_reading_cdi_specs_is_also_asked_by_cdi_name_and_both_refusals_are_named(
    docker_client: docker.DockerClient, small_image: Build
) -> None:
    assert small_image.image_id is not None
    if container.running_podman(docker_client) is not None:
        pytest.skip("Podman drops GPU requests before any way is asked (test_podman.py)")
    if isinstance(
        container.gpu_access(docker_client, small_image.image_id, container.Owner(run_id="gpu-check")),
        container.GpuRequest,
    ):
        pytest.skip("this engine gives containers a GPU; the refusals cannot be shown here")
    advertising = cast(docker.DockerClient, AdvertisesCdi(docker_client))
    reason = container.gpu_access(advertising, small_image.image_id, container.Owner(run_id="gpu-check"))
    assert isinstance(reason, str)
    assert reason.startswith("no GPU on this host (--gpus all: the engine: "), reason
    # The engine was really asked by CDI name, and said in its own words that it cannot.
    assert "; --device nvidia.com/gpu=all: the engine: " in reason, reason
    assert '"cdi"' in reason, reason
    assert labelled(docker_client, "gpu-check") == []
