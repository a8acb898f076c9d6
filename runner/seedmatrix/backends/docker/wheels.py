"""Wheels for an environment's pins, made once per (pins, base image) and kept outside every image.

They are made in a container of the base image (so they fit its Python and platform) with the
network and, when the host needs one, an extra CA bundle; the image build then needs neither, and
neither stays in any image. A directory is complete once its `.complete` mark exists, so a fetch
that was killed half-way is simply done again.

A build gets them from a wheel server: a container of the same base that serves the directories
over HTTP on its own loopback and has no other network. The build's steps join that network, so
they reach the wheels and nothing else, and the wheels never travel in the build context or sit in
a layer (copying gigabytes of CUDA wheels in, then the installed environment out of an install
stage, took half the CUDA image's build).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests

from ...config import INSIDE
from ...errors import EngineError, ImageError
from ...fingerprint import digest, tree_digest
from ...limits import Limits
from ...lockfile import LockFile
from . import container

COMPLETE = ".complete"
PROJECTS = "projects.txt"  # the local projects' wheels, as name==version
FETCH_TIMEOUT_SECONDS = 1800
FETCHER = INSIDE / "fetch_wheels.py"
CA_BUNDLE_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
_CA_INSIDE = "/seedmatrix-ca/ca.crt"
WHEEL_SERVER_PORT = 8000  # on the wheel server's own loopback, which only the build shares
_WHEELS_INSIDE = "/seedmatrix-wheels"
#: Run inside the wheel server until it listens (argv: port, seconds to wait).
_LISTENING = """\
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.05)
"""
SERVER_START_SECONDS = 60
Progress = Callable[[str], None]


def chosen_ca_bundle(env: Mapping[str, str], *, ca_bundle: Path | None) -> Path | None:
    """--ca-bundle (`ca_bundle`), else the first of CA_BUNDLE_VARIABLES that is set."""
    # pip's own variable first; a TLS-intercepting proxy's CA is often only in the others.
    named = next((env[key] for key in CA_BUNDLE_VARIABLES if env.get(key)), None)
    return ca_bundle or (Path(named) if named else None)


@dataclass(frozen=True, kw_only=True)
class Fetching:
    """How wheels are fetched on this host (not part of any image's identity)."""

    cache: Path
    ca_bundle: Path | None = None
    proxies: Mapping[str, str] | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str], *, ca_bundle: Path | None) -> Fetching:
        bundle = chosen_ca_bundle(env, ca_bundle=ca_bundle)
        if bundle is not None and not bundle.is_file():
            raise ImageError(
                f"CA bundle {bundle} does not exist (from --ca-bundle or {', '.join(CA_BUNDLE_VARIABLES)})"
            )
        user_cache = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME", "/root")) / ".cache")
        wheels = Path(env.get("SEEDMATRIX_WHEEL_CACHE") or user_cache / "seedmatrix" / "wheels")
        wheels.mkdir(parents=True, exist_ok=True)
        return cls(
            cache=wheels, ca_bundle=bundle, proxies={key: env[key] for key in PROXY_VARIABLES if env.get(key)}
        )

    def pins_directory(self, plan: WheelPlan, base_id: str) -> Path:
        """Where the wheels of `plan`'s pins (and lock file) for this base are kept."""
        return self.cache / digest(plan.pinned, base_id)

    def project_directory(self, project: Path, base_id: str) -> Path:
        """Where the wheel of a local project (as its tree is now) for this base is kept."""
        return self.cache / "projects" / digest(tree_digest(project), base_id)


@dataclass(frozen=True, kw_only=True)
class WheelPlan:
    """What an environment installs: exact pins, a lock file's pins, local projects."""

    pins: tuple[str, ...] = ()
    lock: LockFile | None = None
    projects: tuple[Path, ...] = ()

    @property
    def pinned(self) -> bytes:
        """What decides which wheels the pins and the lock file bring (one cache directory)."""
        parts = ["".join(f"{pin}\n" for pin in self.pins)]  # alone: the identity pins always had
        if self.lock is not None:
            parts.append(f"lock:{self.lock.text}")
        return "\0".join(parts).encode()

    @property
    def identity(self) -> bytes:
        """Everything that decides which wheels there are (part of the image's identity too)."""
        return b"\0".join(
            [self.pinned, *(f"project:{tree_digest(project)}".encode() for project in self.projects)]
        )


@dataclass(frozen=True)
class Wheels:
    directories: tuple[Path, ...]  # the pins' wheels, then each project's
    requirements: bytes  # requirements.txt for the image: every pin and the lock file's pins
    projects: bytes  # projects.txt: the local projects as name==version, installed without dependencies


def ensure_wheels(
    client: docker.DockerClient,
    base: Any,
    plan: WheelPlan,
    fetching: Fetching,
    *,
    name: str,
    owner: container.Owner,
    log: Path,
    progress: Progress,
    hold: Callable[[str], AbstractContextManager[Any]],
) -> Wheels:
    """The wheels for `plan` on `base`: the pins' in one directory, each project's in its own, each
    fetched or built unless complete (a changed project rebuilds its wheel alone). `hold(directory)`
    keeps builds running side by side from filling one directory twice."""

    def ensure(target: Path, payload: dict[str, Any], doing: str) -> Path:
        with hold(f"wheels:{target}"), _across_processes(target):
            if not (target / COMPLETE).exists():
                progress(f"{doing} into {target}")
                _fetch(client, base, payload, fetching, target=target, name=name, owner=owner, log=log)
        return target

    directories = []
    requirements = []
    if plan.pins:
        requirements.append(("pins.txt", "".join(f"{pin}\n" for pin in plan.pins)))
    if plan.lock is not None:
        requirements.append(("lock.txt", plan.lock.text))
    if requirements:
        target = fetching.pins_directory(plan, str(base.id))
        directories.append(ensure(target, {"requirements": requirements}, f"fetching wheels for {name}"))
    projects = b""
    for project in plan.projects:
        target = fetching.project_directory(project, str(base.id))
        directories.append(ensure(target, {"project": project}, f"building a wheel of {project}"))
        projects += (target / PROJECTS).read_bytes()
    pins = [*plan.pins, *(plan.lock.pins if plan.lock else ())]
    return Wheels(tuple(directories), "".join(f"{pin}\n" for pin in pins).encode(), projects)


@contextmanager
def _across_processes(target: Path) -> Iterator[None]:
    """Hold `target`'s lock file: another seedmatrix on this machine (a second CI job, another user
    of the same cache) waits, then finds the directory complete, instead of replacing it under a
    wheel server that has it mounted."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class WheelIndex:
    """Where a build finds its wheels: the network its steps run in, and each directory's address."""

    network_mode: str
    find_links: tuple[str, ...]


@contextmanager
def served(
    client: docker.DockerClient, base: Any, wheels: Wheels, *, name: str, owner: container.Owner
) -> Iterator[WheelIndex]:
    """`wheels` served for as long as the block lasts, by a container of `base` (it has Python) with
    no network beside its own loopback; the build that joins it can reach nothing else.

    Each directory is served under its own name (a digest of what it holds), so a changed project
    changes the addresses the build is given and the builder's layer cache cannot stand in for it.
    The server runs as the directories' owner: a strict umask on the host leaves them unreadable to
    anyone else.
    """
    directories = list(dict.fromkeys(wheels.directories))
    if not directories:
        yield WheelIndex(network_mode="none", find_links=())
        return
    mounts = {directory: f"{index}-{directory.name}" for index, directory in enumerate(directories)}
    owner_ids = directories[0].stat()
    http_server = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", _WHEELS_INSIDE]
    spec = container.ContainerSpec(
        image=str(base.id),
        command=[*http_server, str(WHEEL_SERVER_PORT)],
        owner=owner,
        # Its memory and process limits apply, not the time: it lives as long as the build.
        limits=Limits(timeout_seconds=SERVER_START_SECONDS),
        read_only_mounts={
            directory: f"{_WHEELS_INSIDE}/{served_as}" for directory, served_as in mounts.items()
        },
        user=f"{owner_ids.st_uid}:{owner_ids.st_gid}",
    )
    listening = False
    try:
        with container.serving(client, spec) as server:
            waiting = ["python3", "-c", _LISTENING, str(WHEEL_SERVER_PORT), str(SERVER_START_SECONDS)]
            exit_code = container.exit_code_inside(server, waiting)
            if exit_code != 0:
                why = "exited" if exit_code is None else f"did not listen within {SERVER_START_SECONDS} s"
                raise ImageError(
                    f"building {name} failed: the wheel server (python3 -m http.server in the base "
                    f"image {base.short_id}) {why}"
                )
            listening = True
            yield WheelIndex(
                network_mode=f"container:{server.id}",
                find_links=tuple(f"http://127.0.0.1:{WHEEL_SERVER_PORT}/{path}/" for path in mounts.values()),
            )
    except EngineError as error:
        if listening or not _engine_answers(client):  # the build's own failure, or a lost engine
            raise
        raise ImageError(f"building {name} failed: the wheel server could not run: {error}") from None


def _engine_answers(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False


def _fetch(
    client: docker.DockerClient,
    base: Any,
    what: dict[str, Any],
    fetching: Fetching,
    *,
    target: Path,
    name: str,
    owner: container.Owner,
    log: Path,
) -> None:
    """Run fetch_wheels.py for requirement files (name, text) or one local project, into `target`."""
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=fetching.cache))
    try:
        files = []
        for file_name, text in what.get("requirements", ()):
            (scratch / file_name).write_text(text, encoding="utf-8")
            files.append(f"/seedmatrix-fetch/{file_name}")
        mounts = {FETCHER.parent: "/seedmatrix-tools"}
        projects = []
        if "project" in what:
            mounts[what["project"]] = "/seedmatrix-project"
            projects.append("/seedmatrix-project")
        (scratch / "plan.json").write_text(
            json.dumps({"requirements": files, "projects": projects}), encoding="utf-8"
        )
        (scratch / "wheels").mkdir()
        variables = dict(fetching.proxies or {})
        if fetching.ca_bundle is not None:
            mounts[fetching.ca_bundle] = _CA_INSIDE
            variables["PIP_CERT"] = _CA_INSIDE
        try:
            finished = container.run(
                client,
                container.ContainerSpec(
                    image=str(base.id),
                    command=[
                        "python3",
                        f"/seedmatrix-tools/{FETCHER.name}",
                        "/seedmatrix-fetch/wheels",
                        "/seedmatrix-fetch/plan.json",
                    ],
                    owner=owner,
                    limits=Limits(timeout_seconds=FETCH_TIMEOUT_SECONDS, pids=4096),
                    read_only_mounts=mounts,
                    writable_mounts={scratch: "/seedmatrix-fetch"},
                    environment=variables,
                    hermetic=False,
                ),
            )
        except EngineError as error:
            raise ImageError(f"fetching wheels for {name} failed: {error} (log: {log})") from None
        with log.open("a", encoding="utf-8") as stream:
            stream.write(finished.stdout + finished.stderr)
        if finished.exit_code != 0:
            why = "timed out" if finished.timed_out else f"exited {finished.exit_code}"
            raise ImageError(f"fetching wheels for {name} failed: pip {why} (log: {log})")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        (scratch / "wheels").rename(target)
        (target / COMPLETE).touch()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
