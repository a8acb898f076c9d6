"""Rootless Docker on cgroup v1: `dockerd-rootless.sh` (RootlessKit) run by an unprivileged user
with a data root and socket of its own. The engine accepts `--memory`, a cpuset and a pids limit,
keeps them in the container's HostConfig, and enforces none of them (its cgroup driver is "none"),
without a warning. A small matrix run there says so in MATRIX.md from what each repeat read back
inside, and the runner finds the engine through a docker context as well as through DOCKER_HOST.

No network: RootlessKit's default network (slirp4netns) needs /dev/net/tun, and a seed container
has none anyway, so the daemon shares the host's (`--net=host`, no bridge, no iptables). Nothing
is built there: the small matrix's images come from the Docker engine the tests use
(`docker save | docker load`), as they do for rootless Podman.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from rootless import (
    SMALL,
    answers,
    as_user,
    copy_images,
    require_cgroup_v1,
    runtime_dir,
    unprivileged_user,
)
from test_engine_script import User, python_for

from seedmatrix.backends.docker.container import RUN_LABEL
from seedmatrix.results import Build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: Where Debian's docker.io keeps it; docker-ce's rootless extras put it on the PATH.
DEBIAN_ROOTLESS_SCRIPT = Path("/usr/share/docker.io/contrib/dockerd-rootless.sh")
DAEMON_START_SECONDS = 60
DAEMON_STOP_SECONDS = 30
INSTALL = "`bash scripts/engine start --for-tests` installs rootlesskit and uidmap (and docker.io)"


@dataclass(frozen=True, kw_only=True)
class RootlessDocker:
    user: User
    address: str  # unix://… the user's socket
    log: Path  # the daemon's output


def rootless_script() -> str:
    found = shutil.which("dockerd-rootless.sh")
    if found is not None:
        return found
    return str(DEBIAN_ROOTLESS_SCRIPT) if DEBIAN_ROOTLESS_SCRIPT.exists() else ""


@pytest.fixture
def rootless_user() -> Iterator[User]:
    with unprivileged_user("smrdocker", commands=("rootlesskit", "docker"), install=INSTALL) as user:
        yield user


@pytest.fixture
def rootless_docker(rootless_user: User, tmp_path: Path) -> Iterator[RootlessDocker]:
    """dockerd-rootless.sh as `rootless_user`, its data root under the user's home (removed with
    it); stopped after, and whatever of the user is left is ended by `unprivileged_user`."""
    require_cgroup_v1()
    script = rootless_script()
    if not script:
        pytest.skip(f"no dockerd-rootless.sh ({INSTALL})")
    user = rootless_user
    address = f"unix://{runtime_dir(user)}/docker.sock"
    log = tmp_path / "dockerd.log"
    daemon_command = [
        "DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none",  # a port driver needs a network of its own
        script,
        "--data-root",
        str(user.home / "docker-data"),
        "--bridge=none",
        "--iptables=false",
    ]
    with log.open("wb") as output:
        daemon = subprocess.Popen(
            as_user(user, daemon_command), stdout=output, stderr=subprocess.STDOUT, cwd=user.home
        )
    try:
        deadline = time.monotonic() + DAEMON_START_SECONDS
        while not answers(address):
            if daemon.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(encoding="utf-8", errors="replace")[-3000:]
                pytest.fail(f"dockerd-rootless.sh did not answer at {address}: {said}")
            time.sleep(0.5)
        yield RootlessDocker(user=user, address=address, log=log)
    finally:
        daemon.terminate()  # runuser passes SIGTERM on; RootlessKit and dockerd stop with it
        try:
            daemon.wait(timeout=DAEMON_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def seedmatrix_as(user: User, arguments: list[str], **variables: str) -> subprocess.CompletedProcess[str]:
    """`seedmatrix` as `user`, with exactly these variables besides HOME and the runtime directory:
    no DOCKER_HOST or DOCKER_CONTEXT of this process's leaks in."""
    run = [*(f"{key}={value}" for key, value in variables.items()), "NO_COLOR=1", *python_for(user)[1:]]
    return subprocess.run(
        as_user(user, [*run, "-m", "seedmatrix", *arguments]),
        capture_output=True,
        text=True,
        cwd=user.home,
        check=False,
        timeout=600,
        env={key: value for key, value in os.environ.items() if not key.startswith("DOCKER_")},
    )


def engine_counts_run(address: str, run_id: str, since: float) -> int:
    """How many containers the engine at `address` created for run `run_id` since `since`."""
    client = docker.DockerClient(base_url=address, version="1.41")
    try:
        events = client.events(
            since=int(since),
            until=int(time.time()) + 1,
            filters={"type": "container", "event": "create", "label": f"{RUN_LABEL}={run_id}"},
            decode=True,
        )
        return sum(1 for _ in events)
    finally:
        client.close()


def test_a_socket_that_refuses_the_user_says_how_to_reach_an_engine(rootless_user: User) -> None:
    # The user is not in the docker group: the default socket refuses it, and the engine is running.
    default = Path("/var/run/docker.sock")
    if not default.is_socket() or default.stat().st_mode & 0o006:
        pytest.skip("no engine on /var/run/docker.sock that refuses users outside its group")
    finished = seedmatrix_as(rootless_user, ["matrix", "--config", str(SMALL), "--case", "seed_random"])
    assert finished.returncode == 3, finished.stdout + finished.stderr
    said = " ".join(finished.stderr.split())  # as the terminal wraps it
    assert "Permission denied" in said
    assert f"refuses user {rootless_user.name}" in said
    assert "docker group" in said
    assert "DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock" in said
    assert "bash scripts/engine start" not in said  # an engine runs: starting one is not the fix


def test_limits_rootless_docker_ignores_are_named_in_the_matrix(
    rootless_docker: RootlessDocker, small_image: Build
) -> None:
    user = rootless_docker.user
    address = rootless_docker.address
    copy_images(small_image, as_user(user, ["docker", "--host", address, "load"]), cwd=user.home)
    client = docker.DockerClient(base_url=address, version="1.41")
    try:
        info = client.info()
    finally:
        client.close()
    assert "name=rootless" in info["SecurityOptions"]
    assert info["CgroupDriver"] == "none"

    results = user.home / "results"
    finished = seedmatrix_as(
        user, ["matrix", "--config", str(SMALL), "--results", str(results)], DOCKER_HOST=address
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    matrix_md = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    cpus = len(os.sched_getaffinity(0))
    assert "| [`seed_random`](#case-seed-random) | ✅ A 🔓 |" in matrix_md
    assert "| [`seed_numpy`](#case-seed-numpy) | ✅ A 🔓 |" in matrix_md
    repeats = "4 repeats of seed_numpy, seed_random"
    assert (
        f"- **bookworm-np2.0**: 1 CPU requested, {cpus} available: {repeats}; "
        f"memory limit not enforced (4g requested, no limit applied): {repeats}; "
        f"process limit not enforced (512 requested, no limit applied): {repeats}\n"
    ) in matrix_md

    # A context the user made and chose, with no DOCKER_HOST: the SDK follows it to this engine
    # (the only one the user can reach: the default socket refuses it).
    for context in (["create", "rootless", "--docker", f"host={address}"], ["use", "rootless"]):
        made = subprocess.run(
            as_user(user, ["docker", "context", *context]), capture_output=True, text=True, check=False
        )
        assert made.returncode == 0, made.stderr
    since = time.time()
    by_context = user.home / "results-by-context"
    finished = seedmatrix_as(
        user, ["matrix", "--config", str(SMALL), "--case", "seed_random", "--results", str(by_context)]
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    run_id = json.loads((by_context / "latest" / "results.json").read_text(encoding="utf-8"))["run_id"]
    assert engine_counts_run(address, run_id, since) >= 2  # seed_random's two repeats, and probes
    assert "1 CPU requested" in (by_context / "latest" / "MATRIX.md").read_text(encoding="utf-8")
