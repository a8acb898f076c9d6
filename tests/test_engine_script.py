"""scripts/engine looks before it acts, and seedmatrix runs as an unprivileged user of the engine.

The script runs with a PATH built for each test: every command of this host except the ones a test
hides, and stubs that record being called (and fail) for the ones a test watches. That is how "a
host with only the docker CLI" or "a host without apt" is made on a machine that has both.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seedmatrix.results import Build

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "scripts" / "engine"
SMALL_MATRIX = ROOT / "tests" / "data" / "small.yaml"
#: What the script may install or run with root: none of these may run when an engine answers.
WATCHED = ("apt-get", "dockerd", "sudo")
#: Shell noise that means the script failed somewhere it did not mean to.
NOISE = ("command not found", "Traceback", "No such file or directory", "unbound variable", "syntax error")


@dataclass(frozen=True, kw_only=True)
class Host:
    """A PATH that is this host's, less `hidden`, with recording stubs for `stubbed`."""

    path: str
    calls: Path

    def called(self) -> list[str]:
        return self.calls.read_text(encoding="utf-8").split() if self.calls.exists() else []


def make_host(directory: Path, *, hidden: tuple[str, ...], stubbed: tuple[str, ...] = ()) -> Host:
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    calls = directory / "calls"
    for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"]:
        if not Path(folder).is_dir():
            continue
        for entry in os.scandir(folder):
            link = bin_dir / entry.name
            if (
                entry.name in hidden
                or entry.name in stubbed
                or link.exists()
                or not os.access(entry.path, os.X_OK)
            ):
                continue
            link.symlink_to(entry.path)
    for name in stubbed:
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho {name} >>"{calls}"\nexit 1\n', encoding="utf-8")
        stub.chmod(0o755)
    return Host(path=str(bin_dir), calls=calls)


def engine_script(
    *args: str, host: Host, tmp_path: Path, env: dict[str, str] | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": host.path,
        "HOME": str(tmp_path),
        "SEEDMATRIX_ENGINE_STATE": str(tmp_path / "engine-state"),
        **{key: value for key, value in os.environ.items() if key in {"DOCKER_HOST", "DOCKER_CONTEXT"}},
        **(env or {}),
    }
    prefix = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run(
        [
            *prefix,
            "env",
            "-i",
            *(f"{key}={value}" for key, value in environment.items()),
            "bash",
            str(ENGINE),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.docker
def test_an_engine_that_answers_is_used_as_it_is(tmp_path: Path, small_image: Build) -> None:
    # A host with only the docker CLI (Docker Desktop, a Podman socket): no dockerd, no mmdebstrap,
    # no docker-registry; the base small.yaml needs is already in the engine (small_image made it).
    host = make_host(tmp_path, hidden=("mmdebstrap", "docker-registry"), stubbed=WATCHED)
    finished = engine_script("start", "--config", str(SMALL_MATRIX), host=host, tmp_path=tmp_path)
    assert host.called() == []
    assert finished.returncode == 0, finished.stderr
    assert "engine: found" in finished.stdout
    assert "installing and starting nothing" in finished.stdout
    assert not (tmp_path / "engine-state" / "dockerd.pid").exists()


@pytest.mark.docker
def test_a_base_the_engine_lacks_asks_for_mmdebstrap_and_nothing_else(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text("environments:\n  - name: unstable\n    debian: sid\n", encoding="utf-8")
    host = make_host(tmp_path, hidden=("mmdebstrap",), stubbed=WATCHED)
    finished = engine_script("start", "--config", str(matrix), host=host, tmp_path=tmp_path)
    assert "no base image for sid yet" in finished.stdout
    assert "engine: installing mmdebstrap\n" in finished.stdout
    assert "apt-get" in host.called()
    assert "dockerd" not in host.called()
    assert finished.returncode != 0  # the stub apt-get failed


@pytest.mark.docker
def test_for_the_tests_it_installs_their_tools_and_starts_nothing(tmp_path: Path) -> None:
    tools = ("mmdebstrap", "docker-registry", "podman", "rootlesskit")
    host = make_host(tmp_path, hidden=tools, stubbed=WATCHED)
    finished = engine_script("start", "--for-tests", host=host, tmp_path=tmp_path)
    assert f"; starting nothing\nengine: installing {' '.join(tools)}\n" in finished.stdout
    assert "apt-get" in host.called()
    assert "dockerd" not in host.called()
    assert finished.returncode != 0  # the stub apt-get failed


def test_no_engine_and_no_apt_names_what_to_install(tmp_path: Path) -> None:
    host = make_host(tmp_path, hidden=("apt-get", "apt", "dockerd", "sudo"))
    finished = engine_script(
        "start", host=host, tmp_path=tmp_path, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    )
    assert finished.returncode == 1
    output = finished.stdout + finished.stderr
    assert f"no engine answers at unix://{tmp_path}/no-engine.sock" in finished.stderr
    assert "no apt-get" in finished.stderr
    assert "Docker Engine" in finished.stderr
    assert "Podman" in finished.stderr
    assert not [noise for noise in NOISE if noise in output], output


def test_an_engine_named_by_docker_host_that_does_not_answer_is_not_replaced(tmp_path: Path) -> None:
    # dockerd would listen on the default socket, which is not where DOCKER_HOST sends the runner.
    host = make_host(tmp_path, hidden=(), stubbed=WATCHED)
    dead = f"unix://{tmp_path}/no-engine.sock"
    finished = engine_script("start", host=host, tmp_path=tmp_path, env={"DOCKER_HOST": dead})
    assert host.called() == []
    assert finished.returncode == 1
    assert f"no engine answers at {dead} (DOCKER_HOST)" in finished.stderr
    assert "unset DOCKER_HOST" in finished.stderr


def test_stop_leaves_an_engine_it_did_not_start_alone(tmp_path: Path) -> None:
    host = make_host(tmp_path, hidden=(), stubbed=WATCHED)
    finished = engine_script("stop", host=host, tmp_path=tmp_path)
    assert host.called() == []
    assert finished.returncode == 0
    assert "not started by this script" in finished.stdout


def test_stop_ends_the_dockerd_start_started_not_only_the_shell_that_launched_it(tmp_path: Path) -> None:
    """Before: stop killed the pid start recorded, the background shell that ran dockerd, and
    dockerd went on running. An orphaned sleep (as dockerd is, once its shell ends) stands in for
    dockerd, named by its --pidfile."""
    host = make_host(tmp_path, hidden=(), stubbed=WATCHED)
    state = tmp_path / "engine-state"
    state.mkdir()
    launched = subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True,
                              text=True, check=True)  # fmt: skip
    dockerd = int(launched.stdout)
    (state / "dockerd.pid").write_text("999999\n", encoding="utf-8")  # the launching shell, gone
    (state / "dockerd.internal.pid").write_text(f"{dockerd}", encoding="utf-8")
    try:
        finished = engine_script("stop", host=host, tmp_path=tmp_path)
        assert finished.returncode == 0, finished.stderr
        assert f"stopping dockerd (pid {dockerd})" in finished.stdout
        assert not _alive(dockerd)
        assert not (state / "dockerd.pid").exists()
    finally:
        if _alive(dockerd):
            os.kill(dockerd, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class User:
    name: str
    uid: int
    home: Path


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def docker_group_user() -> Iterator[User]:
    """A new unprivileged user in the `docker` group, with a home of its own; removed afterwards."""
    if os.geteuid() != 0:
        skip_or_fail("making a user needs root")
    for command in ("useradd", "userdel", "runuser"):
        if shutil.which(command) is None:
            skip_or_fail(f"{command} is not installed")
    try:
        grp.getgrnam("docker")
    except KeyError:
        skip_or_fail("this host has no docker group (Debian's docker.io makes one)")
    name = f"smtest{os.getpid()}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--groups", "docker", name],
        check=True,
        capture_output=True,
    )
    uid = pwd.getpwnam(name).pw_uid
    os.chown(home, uid, pwd.getpwnam(name).pw_gid)
    try:
        yield User(name=name, uid=uid, home=home)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def python_for(user: User) -> list[str]:
    """An interpreter `user` can run that imports this checkout's seedmatrix and its packages.

    The venv's own interpreter may live where the user cannot go (a pyenv build under /root); the
    system's interpreter of the same version reads the venv's packages as well."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    search = [
        os.path.realpath(sys.executable),
        *(f"{folder}/{version}" for folder in ("/usr/bin", "/usr/local/bin")),
    ]
    path = os.pathsep.join([str(ROOT / "runner"), *site.getsitepackages()])
    for candidate in search:
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                user.name,
                "--",
                "env",
                f"PYTHONPATH={path}",
                candidate,
                "-c",
                "import seedmatrix",
            ],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return ["env", f"PYTHONPATH={path}", f"HOME={user.home}", candidate]
    skip_or_fail(f"no {version} that user {user.name} can run imports seedmatrix (tried {', '.join(search)})")
    raise AssertionError("unreachable")


def owned_by_others(directory: Path, uid: int) -> list[Path]:
    return [path for path in [directory, *directory.rglob("*")] if path.lstat().st_uid != uid]


@pytest.mark.docker
def test_a_user_outside_the_docker_group_is_told_to_join_it() -> None:
    socket = Path("/var/run/docker.sock")
    if os.geteuid() != 0 or shutil.which("runuser") is None or "DOCKER_HOST" in os.environ:
        pytest.skip("needs root, runuser and the default socket")
    if not socket.is_socket() or socket.stat().st_mode & 0o002:
        pytest.skip("the default socket is missing or open to every user")
    scratch = Path(tempfile.mkdtemp(prefix="smtest-nobody-"))
    try:
        scratch.chmod(0o755)
        host = make_host(scratch, hidden=(), stubbed=WATCHED)
        host.calls.touch(mode=0o666)
        host.calls.chmod(0o666)
        finished = engine_script("start", host=host, tmp_path=scratch, user="nobody")
        called = host.called()
    finally:
        shutil.rmtree(scratch)
    assert called == []
    assert finished.returncode == 1
    assert "refuses user nobody: add the user to the docker group" in finished.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_a_user_in_the_docker_group_runs_a_small_matrix(docker_group_user: User, small_image: Build) -> None:
    user = docker_group_user
    # The script as that user: the engine answers, so no sudo and no root.
    host_dir = Path(tempfile.mkdtemp(prefix="smtest-host-"))
    try:
        host_dir.chmod(0o755)
        host = make_host(host_dir, hidden=(), stubbed=WATCHED)
        host.calls.touch(mode=0o666)
        host.calls.chmod(0o666)
        started = engine_script(
            "start", "--config", str(SMALL_MATRIX), host=host, tmp_path=user.home, user=user.name
        )
    finally:
        called = host.called()
        shutil.rmtree(host_dir)
    assert started.returncode == 0, started.stderr
    assert called == []
    # The base and image exist (small_image made them as root: mmdebstrap needs root); the run
    # itself needs only the docker group.
    results = user.home / "results"
    finished = subprocess.run(
        [
            "runuser",
            "-u",
            user.name,
            "--",
            *python_for(user),
            "-m",
            "seedmatrix",
            "matrix",
            "--config",
            str(SMALL_MATRIX),
            "--environment",
            "bookworm-np2.0",
            "--case",
            "seed_random",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=user.home,
        timeout=900,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    runs = [run for run in results.iterdir() if not run.is_symlink() and (run / "results.json").is_file()]
    assert len(runs) == 1
    assert (runs[0] / "MATRIX.md").is_file()
    assert owned_by_others(user.home, user.uid) == []
