"""Rootless Podman on cgroup v1: an engine that accepts `--memory` and a cpuset and enforces
neither ("Resource limits are not supported and ignored on cgroups V1 rootless systems", in its
service's log). A small matrix run there as an unprivileged user says so in MATRIX.md, from what
each repeat read back inside, instead of showing plain "1 CPU" cells.

The images come from the Docker engine (`docker save | podman load`, as `nox -s podman` does); the
runner runs as the new user with the system's interpreter reading this checkout and the venv.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from test_engine_script import User, python_for, skip_or_fail

from seedmatrix.backends.docker import debian
from seedmatrix.config import load_matrix
from seedmatrix.results import Build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.yaml"
SERVICE_START_SECONDS = 60


@pytest.fixture
def rootless_user() -> Iterator[User]:
    """A new user with subordinate ids (useradd gives them) and a runtime directory; removed after,
    with its Podman storage."""
    if os.geteuid() != 0:
        skip_or_fail("making a user needs root")
    for command in ("useradd", "userdel", "runuser", "podman", "newuidmap"):
        if shutil.which(command) is None:
            skip_or_fail(
                f"{command} is not installed (`bash scripts/engine start --for-tests` installs podman)"
            )
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("this host has cgroup v2, where rootless Podman may enforce limits: nothing to show")
    name = f"smrootless{os.getpid()}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    subprocess.run(["useradd", "--home-dir", str(home), name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    runtime = Path(f"/run/user/{entry.pw_uid}")
    runtime.mkdir(parents=True, exist_ok=True)
    os.chown(runtime, entry.pw_uid, entry.pw_gid)
    runtime.chmod(0o700)
    user = User(name=name, uid=entry.pw_uid, home=home)
    try:
        yield user
    finally:
        subprocess.run(
            as_user(user, ["podman", "system", "reset", "--force"]), check=False, capture_output=True
        )
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def user_environment(user: User) -> list[str]:
    return ["env", f"HOME={user.home}", f"XDG_RUNTIME_DIR=/run/user/{user.uid}"]


def as_user(user: User, command: list[str]) -> list[str]:
    return ["runuser", "-u", user.name, "--", *user_environment(user), *command]


def answers(address: str) -> bool:
    # Not before the socket exists, and with the API version given so that making the client asks
    # nothing: a client whose first request failed in its constructor leaks its socket (docker-py).
    if not Path(address.removeprefix("unix://")).exists():
        return False
    client = docker.DockerClient(base_url=address, version="1.41")
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):  # OSError: requests' ConnectionError too
        return False
    finally:
        client.close()


def test_limits_rootless_podman_ignores_are_named_in_the_matrix(
    rootless_user: User, small_image: Build
) -> None:
    user = rootless_user
    matrix = load_matrix(SMALL)
    assert matrix.debian_recipe is not None
    assert small_image.tag is not None
    base = debian.base_tag("bookworm", matrix.debian_recipe)
    saved = subprocess.Popen(["docker", "save", base, small_image.tag], stdout=subprocess.PIPE)
    assert saved.stdout is not None
    with saved.stdout:
        loaded = subprocess.run(
            as_user(user, ["podman", "load"]),
            stdin=saved.stdout,
            capture_output=True,
            cwd=user.home,
            check=False,
        )
    assert saved.wait() == 0
    assert loaded.returncode == 0, loaded.stderr
    address = f"unix:///run/user/{user.uid}/podman.sock"
    service = subprocess.Popen(
        [
            "runuser",
            "-u",
            user.name,
            "--",
            *user_environment(user),
            "podman",
            "system",
            "service",
            "--time=0",
            address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=user.home,
    )
    try:
        deadline = time.monotonic() + SERVICE_START_SECONDS
        while not answers(address):
            if service.poll() is not None or time.monotonic() > deadline:
                service.terminate()
                said = service.communicate(timeout=30)[0][-2000:]
                pytest.fail(f"podman system service did not answer as the rootless user: {said}")
            time.sleep(0.5)
        results = user.home / "results"
        run = [f"DOCKER_HOST={address}", "NO_COLOR=1", *python_for(user)[1:], "-m", "seedmatrix", "matrix"]
        run += ["--config", str(SMALL), "--case", "seed_random", "--results", str(results)]
        finished = subprocess.run(
            as_user(user, run), capture_output=True, text=True, cwd=user.home, check=False, timeout=900
        )
    finally:
        service.terminate()
        service_log, _ = service.communicate(timeout=30)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # The engine said it ignores them; the runner did not need to be told.
    assert "Resource limits are not supported and ignored on cgroups V1 rootless systems" in service_log
    matrix_md = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    cpus = len(os.sched_getaffinity(0))
    assert "| [`seed_random`](#case-seed-random) | ✅ A 🔓 |" in matrix_md
    assert (
        f"- **bookworm-np2.0**: 1 CPU requested, {cpus} available: 2 repeats of seed_random; "
        "memory limit not enforced (4g requested, no limit applied): 2 repeats of seed_random"
    ) in matrix_md
