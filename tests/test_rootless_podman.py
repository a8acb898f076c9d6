"""Rootless Podman on cgroup v1: an engine that accepts `--memory` and a cpuset and enforces
neither ("Resource limits are not supported and ignored on cgroups V1 rootless systems", in its
service's log). A small matrix run there as an unprivileged user says so in MATRIX.md, from what
each repeat read back inside, instead of showing plain "1 CPU" cells.

The images come from the Docker engine (`docker save | podman load`, as `nox -s podman` does); the
runner runs as the new user with the system's interpreter reading this checkout and the venv.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rootless import (
    answers,
    as_user,
    copy_images,
    require_cgroup_v1,
    unprivileged_user,
    user_environment,
)
from test_engine_script import User, python_for

from seedmatrix.results import Build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.yaml"
SERVICE_START_SECONDS = 60


@pytest.fixture
def rootless_user() -> Iterator[User]:
    """A new user (tests/rootless.py), its Podman storage removed after."""
    require_cgroup_v1()
    with unprivileged_user(
        "smrootless", commands=("podman",), install="`bash scripts/engine start --for-tests` installs podman"
    ) as user:
        try:
            yield user
        finally:
            subprocess.run(
                as_user(user, ["podman", "system", "reset", "--force"]), check=False, capture_output=True
            )


def test_limits_rootless_podman_ignores_are_named_in_the_matrix(
    rootless_user: User, small_image: Build
) -> None:
    user = rootless_user
    copy_images(small_image, as_user(user, ["podman", "load"]), cwd=user.home)
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
        "memory limit not enforced (4g requested, no limit applied): 2 repeats of seed_random; "
        "process limit not enforced (512 requested, no limit applied): 2 repeats of seed_random\n"
    ) in matrix_md
