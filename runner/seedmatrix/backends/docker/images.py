"""Environment images: content-derived tags, builds through the SDK that reach only their wheels,
observed provenance.

A tag is a hash of everything that defines the image (the Dockerfile, the pins, the base image's
id), so an image whose tag exists is up to date and is never rebuilt. The engine applies the tag
only when a build succeeds: a runner killed mid-build leaves no tagged image, and the next run
builds again.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, BuildError, ImageNotFound, NotFound

from ...cache import Cache
from ...config import Environment, Matrix
from ...errors import ImageError
from ...fingerprint import digest
from ...results import Build, BuildStatus, Observed
from . import container, debian
from .probes import probe_image
from .registry import pull, push
from .wheels import Fetching, WheelIndex, WheelPlan, Wheels, ensure_wheels, served

ENV_REPOSITORY = "seedmatrix-env"
VENV_PYTHON = "/opt/seedmatrix/bin/python"
#: The content hash of an environment image (the tag's suffix): another name for it needs no build.
CONTENT_LABEL = "org.seedmatrix.content"
Progress = Callable[[str], None]


class KeyedLocks:
    """One lock per key (a base, a wheel directory, an image tag): builds running side by side
    never make the same thing twice; the second waits and then finds it made."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def hold(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """Host facts that shape how images are built but not what they contain (so not in tags)."""

    logs_dir: Path
    cache: Cache
    fetching: Fetching
    owner: container.Owner
    debian_mirror: str | None = None
    debian_base: str | None = None  # "archive" (mmdebstrap) or "image" (Debian's official); None: either
    registry: str | None = None  # pull images by their content tags before building
    push: bool = False  # and push them there after
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    stopping: threading.Event = field(default_factory=threading.Event)  # set: builds in flight give up


def ensure_environment_image(
    client: docker.DockerClient,
    matrix: Matrix,
    environment: Environment,
    settings: BuildSettings,
    *,
    progress: Progress,
) -> Build:
    """Build the environment's image unless its tag exists, then read what it really contains.

    A failure to build is an outcome, not an exception: the other environments still run.
    """
    started = time.monotonic()
    log: Path | None = None
    try:
        base = _base(client, matrix, environment, settings, progress=progress)
        dockerfile = matrix.images_dir / "Dockerfile"
        plan = wheel_plan(matrix, environment)
        tag = environment_tag(environment, image_identity(dockerfile, plan), base_content=base_content(base))
        log = settings.logs_dir / f"{tag.replace(':', '_')}.log"
        status = BuildStatus.CACHED
        # Environments of the same content wait for one another: one builds, the others tag it.
        with settings.locks.hold(f"content:{_content(tag)}"):
            _unless_stopping(settings, environment)  # the build it waited on may have given up
            if _exists(client, tag) or _tag_same_content(client, tag):
                pass
            elif settings.registry is not None and pull(client, settings.registry, tag, progress=progress):
                status = BuildStatus.PULLED
            else:
                _buildable(client, environment)
                building = time.monotonic()
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(f"# {tag}: {' '.join(plan.pins)}\n", encoding="utf-8")
                wheels = ensure_wheels(
                    client,
                    base,
                    plan,
                    settings.fetching,
                    name=environment.name,
                    owner=settings.owner,
                    log=log,
                    progress=progress,
                    hold=settings.locks.hold,
                )
                _unless_stopping(settings, environment)
                progress(f"building {tag}")
                with served(client, base, wheels, name=environment.name, owner=settings.owner) as index:
                    _build(client, _context(dockerfile, wheels), index, tag=tag, base=base,
                           environment=environment, log=log, stopping=settings.stopping)  # fmt: skip
                status = BuildStatus.BUILT
        image = client.images.get(tag)
        image_id = str(image.id)
        if status is BuildStatus.BUILT:
            settings.cache.save_build(image_id, seconds=round(time.monotonic() - building, 1), tag=tag)
        observed = settings.cache.probe(image_id)
        if observed is None:
            observed = probe_image(
                client, image_id, VENV_PYTHON, owner=settings.owner, timeout_seconds=matrix.timeout_seconds
            )
            settings.cache.save_probe(image_id, observed)
        check_python(environment, observed)
        if settings.push and settings.registry is not None:
            bases = debian.own_tags(base) if environment.debian else []
            _push(client, settings.registry, [*bases, tag], progress)
    except ImageError as error:
        return Build(
            status=BuildStatus.FAILED,
            seconds=round(time.monotonic() - started, 2),
            log=str(log) if log is not None and log.exists() else None,
            error=str(error),
        )
    return Build(
        status=status,
        seconds=round(time.monotonic() - started, 2),
        log=str(log) if log.exists() else None,
        tag=tag,
        image_id=image_id,
        identity=image_id,
        size=int(image.attrs.get("Size", 0)),
        observed=observed,
    )


def _unless_stopping(settings: BuildSettings, environment: Environment) -> None:
    if settings.stopping.is_set():
        raise ImageError(f"building {environment.name} failed: interrupted")


def check_python(environment: Environment, observed: Observed) -> None:
    if observed.python.rsplit(".", 1)[0] != environment.python:
        raise ImageError(
            f"{environment.name}: matrix.yaml asks for Python {environment.python}, "
            f"but it has {observed.python}"
        )


def wheel_plan(matrix: Matrix, environment: Environment) -> WheelPlan:
    return WheelPlan(
        pins=environment.framework_pins,
        lock=matrix.lock_files.get(environment.name),
        projects=matrix.projects.get(environment.name, ()),
    )


def image_identity(dockerfile: Path, plan: WheelPlan) -> bytes:
    """What defines an environment image besides its base: the Dockerfile, the exact pins, the lock
    file and the local projects' source trees.

    Not the CA bundle, the proxies or the wheel cache: they change how packages are fetched, not
    which packages are installed.
    """
    return b"\0".join((dockerfile.read_bytes(), plan.identity))


def build_order(matrix: Matrix, names: Sequence[str]) -> list[str]:
    """The environments in the order to build them: one of each content first, then those that
    will only tag an image already built, so that no build waits on another while a different
    image could be building."""
    seen: set[tuple[str, bytes, tuple[Path, ...]]] = set()
    first: list[str] = []
    later: list[str] = []
    for name in names:
        environment = matrix.environment(name)
        if environment.host_python is not None:
            first.append(name)
            continue
        # What the content tag is made of, less what every environment shares (the Dockerfile) and
        # the projects' trees (hashed once, by the build): the same paths hold the same trees.
        plan = wheel_plan(matrix, environment)
        content = (environment.base_image or str(environment.debian), plan.pinned, plan.projects)
        (later if content in seen else first).append(name)
        seen.add(content)
    return first + later


def environment_tag(environment: Environment, identity: bytes, *, base_content: str) -> str:
    """seedmatrix-env:<name>-<hash of the image's identity and its base image's content>."""
    return f"{ENV_REPOSITORY}:{environment.name}-{digest(identity, base_content)}"


def base_content(base: Any) -> str:
    """What a base image holds, not when it was made: its layers and the settings an image built on
    it inherits. Two machines that make the same base from the same archive (mmdebstrap is
    reproducible under a fixed SOURCE_DATE_EPOCH) get two image ids but one content, so their
    environment tags agree and either one's pushed images serve both."""
    config = base.attrs.get("Config") or {}
    inherited = {key: config.get(key) for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User")}
    return digest(json.dumps({"layers": base.attrs["RootFS"]["Layers"], "config": inherited}, sort_keys=True))


def _context(dockerfile: Path, wheels: Wheels) -> bytes:
    """The build context: the Dockerfile, requirements.txt and projects.txt (the wheels are served)."""
    contents = {
        "Dockerfile": dockerfile.read_bytes(),
        "requirements.txt": wheels.requirements,
        "projects.txt": wheels.projects,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _build(
    client: docker.DockerClient,
    context: bytes,
    wheels: WheelIndex,
    *,
    tag: str,
    base: Any,
    environment: Environment,
    log: Path,
    stopping: threading.Event,
) -> None:
    base_reference = base.tags[0] if base.tags else base.id
    error = None
    find_links = " ".join(wheels.find_links)
    with log.open("a", encoding="utf-8") as stream:
        stream.write(f"# docker build from {base_reference}, wheels from {find_links or 'nowhere'}\n")
        try:
            chunks = client.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                buildargs={"BASE_IMAGE": base_reference, "SEEDMATRIX_WHEELS": find_links},
                labels={"org.seedmatrix.environment": environment.name, CONTENT_LABEL: _content(tag)},
                network_mode=wheels.network_mode,  # the wheel server's, where nothing else is reachable
                nocache=True,  # a tag is only built when it is new: no earlier layer can stand for it
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in chunks:
                if stopping.is_set():  # Ctrl-C or SIGTERM: the runner is ending, stop reading
                    error = "interrupted"
                    stream.write("ERROR: interrupted\n")
                    break
                text = chunk.get("stream") or chunk.get("status") or ""
                stream.write(text if text.endswith("\n") or not text else text + "\n")
                if "error" in chunk:
                    error = str(chunk["error"]).strip()
                    stream.write(f"ERROR: {error}\n")
        except (APIError, BuildError) as api_error:
            error = str(api_error)
            stream.write(f"ERROR: {error}\n")
    if error is not None or not _exists(client, tag):
        raise ImageError(
            f"building {environment.name} failed: {error or 'no image was produced'} (log: {log})"
        )


def _buildable(client: docker.DockerClient, environment: Environment) -> None:
    """Refuse to build where the build's steps cannot be confined to the wheel server's network.

    Podman 4.3's Docker-compatible build (and its own /libpod/build) runs every RUN step in the
    host's network namespace whatever networkmode says ("none" and "container:<id>" alike, seen
    2026-12-03): the wheels would be out of reach and the internet within it.
    """
    podman = container.running_podman(client)
    if podman is not None:
        raise ImageError(
            f"building {environment.name} failed: the engine is Podman {podman}, whose build API runs "
            "RUN steps in the host's network and ignores networkmode, so the build cannot be "
            "confined to the wheel server; build the images with Docker and pull them (registry:) "
            "or load them (docker save | podman load)"
        )


def _content(tag: str) -> str:
    return tag.rsplit("-", 1)[1]


def _tag_same_content(client: docker.DockerClient, tag: str) -> bool:
    """Tag an image of the same content built for another environment name, if there is one.

    Environments that differ only in how they run (device, CPU switches, variables) share an image.
    """
    for image in client.images.list(filters={"label": f"{CONTENT_LABEL}={_content(tag)}"}):
        repository, name = tag.split(":", 1)
        if image.tag(repository, name):
            return True
    return False


def _push(client: docker.DockerClient, registry: str, tags: list[str], progress: Progress) -> None:
    """Push the base and the image; a failure is said, not fatal: the run's results do not depend on it."""
    for tag in tags:
        try:
            push(client, registry, tag, progress=progress)
        except ImageError as error:
            progress(f"warning: {error}")


def _base(
    client: docker.DockerClient,
    matrix: Matrix,
    environment: Environment,
    settings: BuildSettings,
    *,
    progress: Progress,
) -> Any:
    if environment.base_image is not None:
        with settings.locks.hold(f"base:{environment.base_image}"):
            return _registry_base(client, environment.base_image, progress=progress)
    # config guarantees both: an environment without base_image names a suite, and the recipe is loaded
    assert environment.debian is not None
    assert matrix.debian_recipe is not None
    with settings.locks.hold(f"base:{environment.debian}"):
        _unless_stopping(settings, environment)
        return debian.ensure_base(
            client,
            environment.debian,
            matrix.debian_recipe,
            mirror=settings.debian_mirror,
            way=settings.debian_base,
            platform=environment.platform,
            logs_dir=settings.logs_dir,
            progress=progress,
            registry=settings.registry,
            stopping=settings.stopping,
        )


def _registry_base(client: docker.DockerClient, reference: str, *, progress: Progress) -> Any:
    try:
        return client.images.get(reference)
    except ImageNotFound:
        pass
    progress(f"pulling {reference}")
    try:
        return client.images.pull(reference)
    except (APIError, NotFound) as error:
        raise ImageError(f"cannot pull base image {reference!r}: {str(error).splitlines()[0]}") from None


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True
