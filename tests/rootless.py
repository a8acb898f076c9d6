"""A new unprivileged user for the rootless engine tests (tests/test_rootless_podman.py,
tests/test_rootless_docker.py), and running commands as that user.

The user gets subordinate ids from useradd and a runtime directory (`XDG_RUNTIME_DIR`) of its own.
Afterwards nothing of it is left: not its processes, nor those of its containers (they run as its
subordinate ids), nor its files, ids or entry in /etc/passwd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import pytest
from test_engine_script import User, skip_or_fail

from seedmatrix.backends.docker import debian
from seedmatrix.config import load_matrix
from seedmatrix.results import Build

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.yaml"

#: How long the user's processes may take to go once they were sent SIGKILL.
PROCESSES_GONE_SECONDS = 10


@contextmanager
def unprivileged_user(prefix: str, *, commands: Sequence[str], install: str) -> Iterator[User]:
    """A new user named `prefix` and this process's id, for the block; `commands` are what the test
    needs besides useradd, runuser and newuidmap, and `install` says how to get them."""
    if os.geteuid() != 0:
        skip_or_fail("making a user needs root")
    for command in ("useradd", "userdel", "runuser", "newuidmap", *commands):
        if shutil.which(command) is None:
            skip_or_fail(f"{command} is not installed ({install})")
    name = f"{prefix}{os.getpid()}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    subprocess.run(["useradd", "--home-dir", str(home), name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    user = User(name=name, uid=entry.pw_uid, home=home)
    runtime = runtime_dir(user)
    try:
        os.chown(home, entry.pw_uid, entry.pw_gid)
        runtime.mkdir(parents=True, exist_ok=True)
        os.chown(runtime, entry.pw_uid, entry.pw_gid)
        runtime.chmod(0o700)
        yield user
    finally:
        end_processes(owned_ids(user))
        removed = subprocess.run(["userdel", name], check=False, capture_output=True, text=True)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        assert removed.returncode == 0, f"userdel {name}: {removed.stderr}"


def require_cgroup_v1() -> None:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("this host has cgroup v2, where a rootless engine may enforce limits: nothing to show")


def runtime_dir(user: User) -> Path:
    return Path(f"/run/user/{user.uid}")


def user_environment(user: User) -> list[str]:
    return ["env", f"HOME={user.home}", f"XDG_RUNTIME_DIR={runtime_dir(user)}"]


def as_user(user: User, command: list[str]) -> list[str]:
    return ["runuser", "-u", user.name, "--", *user_environment(user), *command]


def owned_ids(user: User) -> frozenset[int]:
    """The user's uid and its subordinate uids (what its containers' processes run as on the host)."""
    for line in Path("/etc/subuid").read_text(encoding="utf-8").splitlines():
        owner, start, count = [*line.split(":"), "", ""][:3]
        if owner in (user.name, str(user.uid)) and start.isdigit() and count.isdigit():
            return frozenset({user.uid, *range(int(start), int(start) + int(count))})
    return frozenset({user.uid})


def end_processes(uids: frozenset[int]) -> None:
    """SIGKILL every process whose real uid is in `uids`, each by its pid, until none is left."""
    deadline = time.monotonic() + PROCESSES_GONE_SECONDS
    while pids := processes_of(uids):
        for pid in pids:
            with suppress(ProcessLookupError):  # it ended on its own
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {pids} of the test's user outlived SIGKILL")
        time.sleep(0.2)


def processes_of(uids: frozenset[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text(encoding="utf-8")
        except OSError:
            continue  # it ended while we looked
        real_uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "")
        if real_uid.isdigit() and int(real_uid) in uids:
            found.append(int(entry.name))
    return found


def copy_images(small_image: Build, load: list[str], *, cwd: Path) -> None:
    """The small matrix's base and environment image, from the engine the tests use (`docker save`)
    into `load`, a command that reads the archive on its stdin (as a registry would hand them over:
    rootless engines here build nothing)."""
    matrix = load_matrix(SMALL)
    assert matrix.debian_recipe is not None
    assert small_image.tag is not None
    base = debian.base_tag("bookworm", matrix.debian_recipe)
    saved = subprocess.Popen(["docker", "save", base, small_image.tag], stdout=subprocess.PIPE)
    assert saved.stdout is not None
    with saved.stdout:
        loaded = subprocess.run(load, stdin=saved.stdout, capture_output=True, cwd=cwd, check=False)
    assert saved.wait() == 0
    assert loaded.returncode == 0, loaded.stderr


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
