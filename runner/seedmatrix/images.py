"""Base and environment images: content-derived tags, builds through the SDK, observed provenance.

A tag is a hash of everything that defines the image (recipe or Dockerfile, pins, the base image's
id), so an image whose tag exists is up to date and is never rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, BuildError, ImageNotFound, NotFound

from . import container
from .cache import Cache
from .config import DebianRecipe, Environment, Matrix
from .errors import ImageError
from .results import BuildStatus, Observed

BASE_REPOSITORY = "seedmatrix-base"
ENV_REPOSITORY = "seedmatrix-env"
VENV_PYTHON = "/opt/seedmatrix/bin/python"
PROBE_SCRIPT = "probe.py"
_PROXY_BUILD_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """Host facts that shape how images are built but not what they contain (so not in tags)."""

    logs_dir: Path
    cache: Cache
    ca_bundle: Path | None = None
    debian_mirror: str | None = None
    proxies: Mapping[str, str] | None = None

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str],
        *,
        logs_dir: Path,
        cache: Cache,
        ca_bundle: Path | None,
        debian_mirror: str | None,
    ) -> BuildSettings:
        bundle = ca_bundle or (Path(env["PIP_CERT"]) if env.get("PIP_CERT") else None)
        if bundle is not None and not bundle.is_file():
            raise ImageError(f"CA bundle {bundle} does not exist (from --ca-bundle or PIP_CERT)")
        return cls(
            logs_dir=logs_dir,
            cache=cache,
            ca_bundle=bundle,
            debian_mirror=debian_mirror or env.get("SEEDMATRIX_DEBIAN_MIRROR") or None,
            proxies={key: env[key] for key in _PROXY_BUILD_ARGS if env.get(key)},
        )


@dataclass(frozen=True, kw_only=True)
class ImageOutcome:
    environment: str
    status: BuildStatus
    seconds: float
    log: Path | None
    tag: str | None = None
    image_id: str | None = None
    size: int | None = None
    error: str | None = None
    observed: Observed | None = None


Progress = Callable[[str], None]


def ensure_environment_image(
    client: docker.DockerClient,
    matrix: Matrix,
    environment: Environment,
    settings: BuildSettings,
    *,
    run_label: str,
    progress: Progress,
) -> ImageOutcome:
    """Build the environment's image unless its tag exists, then read what it really contains.

    A failure to build is an outcome, not an exception: the other environments still run.
    """
    started = time.monotonic()
    log = None
    try:
        base = _ensure_base(client, matrix, environment, settings, progress=progress)
        context = build_context(matrix.images_dir / "Dockerfile", environment, settings.ca_bundle)
        tag = environment_tag(environment, context, base_id=base.id)
        log = settings.logs_dir / f"{tag.replace(':', '_')}.log"
        status = BuildStatus.CACHED
        if not _exists(client, tag):
            progress(f"building {tag}")
            building = time.monotonic()
            _build(client, context, tag=tag, base=base, environment=environment, settings=settings, log=log)
            status = BuildStatus.BUILT
        image = client.images.get(tag)
        image_id = str(image.id)
        if status is BuildStatus.BUILT:
            settings.cache.save_build(image_id, seconds=round(time.monotonic() - building, 1), tag=tag)
        observed = settings.cache.probe(image_id)
        if observed is None:
            observed = probe(
                client,
                image_id,
                matrix.images_dir,
                run_label=run_label,
                timeout_seconds=matrix.timeout_seconds,
            )
            settings.cache.save_probe(image_id, observed)
        _check_python(environment, observed)
    except ImageError as error:
        return ImageOutcome(
            environment=environment.name,
            status=BuildStatus.FAILED,
            seconds=time.monotonic() - started,
            log=log if log is not None and log.exists() else None,
            error=str(error),
        )
    return ImageOutcome(
        environment=environment.name,
        status=status,
        seconds=time.monotonic() - started,
        log=log if log.exists() else None,
        tag=tag,
        image_id=image_id,
        size=int(image.attrs.get("Size", 0)),
        observed=observed,
    )


def _check_python(environment: Environment, observed: Observed) -> None:
    if observed.python.rsplit(".", 1)[0] != environment.python:
        raise ImageError(
            f"{environment.name}: matrix.yaml asks for Python {environment.python} but "
            f"the image has {observed.python}"
        )


@dataclass(frozen=True)
class BuildContext:
    archive: bytes
    identity: bytes  # what defines the image: Dockerfile and pins; the CA bundle only transports


def environment_tag(environment: Environment, context: BuildContext, *, base_id: str) -> str:
    """seedmatrix-env:<name>-<hash of Dockerfile, pins and base image id>."""
    return f"{ENV_REPOSITORY}:{environment.name}-{_digest(context.identity, base_id)}"


def build_context(dockerfile: Path, environment: Environment, ca_bundle: Path | None) -> BuildContext:
    requirements = "".join(f"{pin}\n" for pin in environment.requirements).encode()
    dockerfile_bytes = dockerfile.read_bytes()
    bundle = ca_bundle.read_bytes() if ca_bundle else b""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (
            ("Dockerfile", dockerfile_bytes),
            ("requirements.txt", requirements),
            ("ca-bundle.crt", bundle),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    identity = b"\0".join((dockerfile_bytes, requirements))
    return BuildContext(archive=buffer.getvalue(), identity=identity)


def _build(
    client: docker.DockerClient,
    context: BuildContext,
    *,
    tag: str,
    base: Any,
    environment: Environment,
    settings: BuildSettings,
    log: Path,
) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    base_reference = base.tags[0] if base.tags else base.id
    error = None
    with log.open("w", encoding="utf-8") as stream:
        stream.write(f"# {tag} from {base_reference}: {' '.join(environment.requirements)}\n")
        try:
            chunks = client.api.build(
                fileobj=io.BytesIO(context.archive),
                custom_context=True,
                tag=tag,
                buildargs={"BASE_IMAGE": base_reference, **(settings.proxies or {})},
                labels={"org.seedmatrix.environment": environment.name},
                network_mode="host",  # the engine may run without a bridge; pip needs the network
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in chunks:
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


def _ensure_base(
    client: docker.DockerClient,
    matrix: Matrix,
    environment: Environment,
    settings: BuildSettings,
    *,
    progress: Progress,
) -> Any:
    if environment.base_image is not None:
        return _registry_base(client, environment.base_image, progress=progress)
    # config guarantees both: an environment without base_image names a suite, and the recipe is loaded
    assert environment.debian is not None
    assert matrix.debian_recipe is not None
    return ensure_debian_base(client, environment.debian, matrix.debian_recipe, settings, progress=progress)


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


def debian_base_tag(suite: str, recipe: DebianRecipe) -> str:
    identity = json.dumps({"suite": suite, "variant": recipe.variant, "include": sorted(recipe.include)})
    return f"{BASE_REPOSITORY}:{suite}-{_digest(identity.encode())}"


def ensure_debian_base(
    client: docker.DockerClient,
    suite: str,
    recipe: DebianRecipe,
    settings: BuildSettings,
    *,
    progress: Progress,
) -> Any:
    """A base image made from Debian's archive: mmdebstrap into a tarball, then `docker import`."""
    tag = debian_base_tag(suite, recipe)
    try:
        return client.images.get(tag)
    except ImageNotFound:
        pass
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ImageError(
            f"making base image {tag} needs mmdebstrap, which is not installed "
            "(`apt-get install mmdebstrap`, or `bash scripts/engine start`), or use base_image: instead"
        )
    log = settings.logs_dir / f"{tag.replace(':', '_')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    progress(f"making {tag} from Debian's archive")
    with tempfile.TemporaryDirectory(prefix="seedmatrix-base-") as scratch:
        rootfs = Path(scratch) / f"{suite}.tar"
        command = [
            mmdebstrap,
            f"--variant={recipe.variant}",
            f"--include={','.join(recipe.include)}",
            suite,
            str(rootfs),
            settings.debian_mirror or recipe.mirror,
        ]
        with log.open("w", encoding="utf-8") as stream:
            stream.write("# " + " ".join(command) + "\n")
            stream.flush()
            finished = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False)
        if finished.returncode != 0:
            raise ImageError(f"mmdebstrap {suite} failed with exit code {finished.returncode} (log: {log})")
        repository, _, version = tag.partition(":")
        try:
            client.api.import_image_from_file(
                str(rootfs),
                repository=repository,
                tag=version,
                changes=[
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "ENV LANG=C.UTF-8",
                    'CMD ["python3"]',
                ],
            )
        except APIError as error:
            raise ImageError(f"importing {tag} failed: {error}") from None
    return client.images.get(tag)


def probe(
    client: docker.DockerClient, image_id: str, images_dir: Path, *, run_label: str, timeout_seconds: int
) -> Observed:
    """Read the Python, NumPy and TensorFlow versions and the full pip freeze inside the image."""
    finished = container.run(
        client,
        container.ContainerSpec(
            image=image_id,
            command=[VENV_PYTHON, f"/seedmatrix-probe/{PROBE_SCRIPT}"],
            run_label=run_label,
            limits=container.Limits(timeout_seconds=timeout_seconds),
            read_only_mounts={images_dir: "/seedmatrix-probe"},
        ),
    )
    if finished.exit_code != 0:
        tail = finished.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ImageError(f"probing image {image_id[:19]} failed: {tail[0]}")
    try:
        data = json.loads(finished.stdout)
        return Observed(
            python=str(data["python"]),
            numpy=data["numpy"],
            tensorflow=data["tensorflow"],
            pip_freeze=tuple(data["pip_freeze"]),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ImageError(f"probing image {image_id[:19]} gave unreadable output ({error})") from None


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]
