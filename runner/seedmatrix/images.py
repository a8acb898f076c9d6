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
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, BuildError, ImageNotFound, NotFound

from . import container, hostrun
from .cache import Cache
from .config import DebianRecipe, Environment, Matrix
from .errors import ImageError
from .results import BuildStatus, Observed, observed_from_dict

BASE_REPOSITORY = "seedmatrix-base"
ENV_REPOSITORY = "seedmatrix-env"
VENV_PYTHON = "/opt/seedmatrix/bin/python"
PROBE_SCRIPT = "probe.py"
CA_BUNDLE_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
COMPLETE = ".complete"  # marks a wheel directory whose fetch finished
FETCH_TIMEOUT_SECONDS = 1800
_PROXY_BUILD_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """Host facts that shape how images are built but not what they contain (so not in tags)."""

    logs_dir: Path
    cache: Cache
    wheel_cache: Path
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
        wheel_cache: Path | None = None,
    ) -> BuildSettings:
        # pip's own variable first; a TLS-intercepting proxy's CA is often only in the others.
        named = next((env[key] for key in CA_BUNDLE_VARIABLES if env.get(key)), None)
        bundle = ca_bundle or (Path(named) if named else None)
        if bundle is not None and not bundle.is_file():
            raise ImageError(
                f"CA bundle {bundle} does not exist (from --ca-bundle or {', '.join(CA_BUNDLE_VARIABLES)})"
            )
        user_cache = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME", "/root")) / ".cache")
        wheels = wheel_cache or Path(
            env.get("SEEDMATRIX_WHEEL_CACHE") or user_cache / "seedmatrix" / "wheels"
        )
        wheels.mkdir(parents=True, exist_ok=True)
        return cls(
            logs_dir=logs_dir,
            cache=cache,
            wheel_cache=wheels,
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
    client: docker.DockerClient | None,
    matrix: Matrix,
    environment: Environment,
    settings: BuildSettings,
    *,
    run_label: str,
    progress: Progress,
) -> ImageOutcome:
    """Build the environment's image unless its tag exists, then read what it really contains.

    A host environment has no image: its interpreter is probed instead. A failure to build is an
    outcome, not an exception: the other environments still run.
    """
    if environment.host_python is not None:
        return host_environment(matrix, environment, timeout_seconds=matrix.timeout_seconds)
    if client is None:
        raise ImageError(f"{environment.name} needs the Docker engine")
    started = time.monotonic()
    log = None
    try:
        base = _ensure_base(client, matrix, environment, settings, progress=progress)
        dockerfile = matrix.images_dir / "Dockerfile"
        tag = environment_tag(environment, image_identity(dockerfile, environment), base_id=str(base.id))
        log = settings.logs_dir / f"{tag.replace(':', '_')}.log"
        status = BuildStatus.CACHED
        if not _exists(client, tag):
            building = time.monotonic()
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"# {tag}: {' '.join(environment.requirements)}\n", encoding="utf-8")
            wheels = _wheels(
                client, base, environment, settings, images_dir=matrix.images_dir, log=log, progress=progress
            )
            progress(f"building {tag}")
            with tempfile.TemporaryDirectory(prefix="seedmatrix-context-") as scratch:
                context = Path(scratch) / "context.tar"
                _write_context(context, dockerfile, environment, wheels)
                _build(
                    client, context, tag=tag, base=base, environment=environment, settings=settings, log=log
                )
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


def host_environment(matrix: Matrix, environment: Environment, *, timeout_seconds: int) -> ImageOutcome:
    """Probe a host interpreter: the versions it really has, checked against the pins."""
    assert environment.host_python is not None
    started = time.monotonic()
    python = hostrun.interpreter(environment.host_python, relative_to=matrix.source.parent)
    try:
        observed = _probe_host(python, matrix.images_dir / PROBE_SCRIPT, environment, timeout_seconds)
        _check_python(environment, observed)
        _check_pins(environment, observed)
    except ImageError as error:
        return ImageOutcome(
            environment=environment.name,
            status=BuildStatus.FAILED,
            seconds=time.monotonic() - started,
            log=None,
            error=str(error),
        )
    freeze = _digest("\n".join(observed.pip_freeze))
    return ImageOutcome(
        environment=environment.name,
        status=BuildStatus.HOST,
        seconds=time.monotonic() - started,
        log=None,
        tag=f"host:{python}",
        image_id=f"host:{python}#{freeze}",  # changes when the interpreter's packages change
        observed=observed,
    )


def _probe_host(python: str, probe_script: Path, environment: Environment, timeout_seconds: int) -> Observed:
    try:
        finished = subprocess.run(
            [python, str(probe_script)], capture_output=True, text=True, timeout=timeout_seconds, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ImageError(f"{environment.name}: cannot run {python} ({error})") from None
    return _read_probe(
        f"{environment.name}: probing {python}", finished.returncode, finished.stdout, finished.stderr
    )


def _check_pins(environment: Environment, observed: Observed) -> None:
    """A host interpreter's packages are not installed by seedmatrix: they must match the pins."""
    found = {"numpy": observed.numpy, "torch": observed.torch, "jax": observed.jax}
    if observed.tensorflow:
        found["tensorflow"] = observed.tensorflow.split()[-1]
    for name, pin in environment.pins.items():
        if pin and found.get(name) != pin:
            raise ImageError(
                f"{environment.name}: matrix.yaml pins {name} {pin} but {environment.host_python} has "
                f"{found.get(name) or 'none'}"
            )


def _check_python(environment: Environment, observed: Observed) -> None:
    if observed.python.rsplit(".", 1)[0] != environment.python:
        raise ImageError(
            f"{environment.name}: matrix.yaml asks for Python {environment.python} but "
            f"the image has {observed.python}"
        )


def image_identity(dockerfile: Path, environment: Environment) -> bytes:
    """What defines an environment image besides its base: the Dockerfile and the exact pins.

    Not the CA bundle, the proxies or the wheel cache: they change how packages are fetched, not
    which packages are installed.
    """
    return b"\0".join((dockerfile.read_bytes(), _requirements(environment)))


def environment_tag(environment: Environment, identity: bytes, *, base_id: str) -> str:
    """seedmatrix-env:<name>-<hash of Dockerfile, pins and base image id>."""
    return f"{ENV_REPOSITORY}:{environment.name}-{_digest(identity, base_id)}"


def _requirements(environment: Environment) -> bytes:
    return "".join(f"{pin}\n" for pin in environment.requirements).encode()


def _write_context(target: Path, dockerfile: Path, environment: Environment, wheels: Path) -> None:
    """The build context: the Dockerfile, requirements.txt and the wheels to install from."""
    with tarfile.open(target, mode="w") as archive:
        for name, data in (
            ("Dockerfile", dockerfile.read_bytes()),
            ("requirements.txt", _requirements(environment)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        archive.add(wheels, arcname="wheels", filter=_only_wheels)


def _only_wheels(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if member.isdir() or member.name.endswith(".whl"):
        member.uid = member.gid = 0
        member.uname = member.gname = "root"
        return member
    return None


def _wheels(
    client: docker.DockerClient,
    base: Any,
    environment: Environment,
    settings: BuildSettings,
    *,
    images_dir: Path,
    log: Path,
    progress: Progress,
) -> Path:
    """Wheels for the pins, made once per (pins, base image) and kept outside every image.

    They are made in a container of the base image (so they fit its Python and platform) with the
    network and the extra CA bundle; the image build then needs neither.
    """
    target = settings.wheel_cache / _digest(_requirements(environment), str(base.id))
    if (target / COMPLETE).exists():
        return target
    progress(f"fetching wheels for {environment.name} into {target}")
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=settings.wheel_cache))
    (scratch / "requirements.txt").write_bytes(_requirements(environment))
    (scratch / "wheels").mkdir()
    mounts = {
        str(images_dir): {"bind": "/seedmatrix-tools", "mode": "ro"},
        str(scratch): {"bind": "/seedmatrix-fetch", "mode": "rw"},
    }
    variables = dict(settings.proxies or {})
    if settings.ca_bundle is not None:
        mounts[str(settings.ca_bundle)] = {"bind": "/seedmatrix-ca/ca.crt", "mode": "ro"}
        variables["PIP_CERT"] = "/seedmatrix-ca/ca.crt"
    fetcher = None
    try:
        fetcher = client.containers.create(
            base.id,
            command=[
                "python3",
                "/seedmatrix-tools/fetch_wheels.py",
                "/seedmatrix-fetch/wheels",
                "/seedmatrix-fetch/requirements.txt",
            ],
            volumes=mounts,
            environment=variables,
            network_mode="host",  # fetching needs the network; the seed containers never get it
            labels={container.RUN_LABEL: "fetch-wheels"},
        )
        fetcher.start()
        status = fetcher.wait(timeout=FETCH_TIMEOUT_SECONDS)
        with log.open("a", encoding="utf-8") as stream:
            stream.write(fetcher.logs().decode("utf-8", "replace"))
        if int(status["StatusCode"]) != 0:
            raise ImageError(f"fetching wheels for {environment.name} failed (log: {log})")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        (scratch / "wheels").rename(target)
        (target / COMPLETE).touch()
    except (APIError, requests.exceptions.RequestException) as error:
        raise ImageError(f"fetching wheels for {environment.name} failed: {error} (log: {log})") from None
    finally:
        if fetcher is not None:
            with suppress(NotFound, APIError):
                fetcher.remove(force=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _build(
    client: docker.DockerClient,
    context: Path,
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
    with log.open("a", encoding="utf-8") as stream, context.open("rb") as archive:
        stream.write(f"# docker build from {base_reference}\n")
        try:
            chunks = client.api.build(
                fileobj=archive,
                custom_context=True,
                tag=tag,
                buildargs={"BASE_IMAGE": base_reference},
                labels={"org.seedmatrix.environment": environment.name},
                network_mode="none",  # everything it installs is in the context
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
    return _read_probe(f"probing image {image_id[:19]}", finished.exit_code, finished.stdout, finished.stderr)


def _read_probe(what: str, exit_code: int | None, stdout: str, stderr: str) -> Observed:
    """probe.py's report, from an image or a host interpreter alike."""
    if exit_code != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        raise ImageError(f"{what} failed: {tail[0]}")
    try:
        return observed_from_dict(json.loads(stdout))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ImageError(f"{what} gave unreadable output ({error})") from None


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
