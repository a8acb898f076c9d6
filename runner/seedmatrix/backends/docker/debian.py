"""Base images for `debian: <suite>`: made from Debian's archive, or from Debian's official image.

From the archive (hosts that reach no image registry): mmdebstrap writes a minimal root file system
(the recipe: variant and packages) into a tarball, which is imported through the Docker SDK as
`seedmatrix-base:<suite>-<hash of the recipe>`. The import is what applies the tag, so a run killed
half-way leaves no tagged image behind. The tarball is reproducible (a fixed SOURCE_DATE_EPOCH), so
shards that each make the base at the same time agree on its content, and on the environment tags
that follow it.

From the image (hosts without mmdebstrap: Docker Desktop, Podman machines): the recipe's `image:`
at the suite's tag, pinned by its digest (the recipe's `digests:`, else the one the registry
serves), with the recipe's packages installed in a build, tagged
`seedmatrix-base:<suite>-image-<hash of the recipe's packages and that digest>` (`-image-arm64-` on
an arm64 host: the digest is usually a multi-platform index's): the tag says which
way a base was made, and which image it started from.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
from docker.errors import APIError, ImageNotFound

from ...config import DebianRecipe
from ...errors import ImageError
from ...fingerprint import digest
from ...platforms import debian_arch, emulation_missing, foreign
from .registry import pull

if TYPE_CHECKING:
    from collections.abc import Iterator

BASE_REPOSITORY = "seedmatrix-base"
#: On a base made from the image: which image (by digest) it was made from.
BASE_FROM_LABEL = "org.seedmatrix.base-from"
#: mmdebstrap's output is reproducible under a fixed SOURCE_DATE_EPOCH: two machines making the same
#: base from the same archive get the same tarball, so the same layer (images.base_content). 1980,
#: not 0: zip, and so wheels, cannot hold a file time before it.
SOURCE_DATE_EPOCH = "315532800"
Progress = Callable[[str], None]
#: What every base says however it is made (an import's changes, a loaded archive's config, the
#: official image's build): an image built on it inherits these.
_BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
_BASE_CMD = ["python3"]


def base_tag(suite: str, recipe: DebianRecipe, platform: str | None = None) -> str:
    """By suite and recipe; by architecture too where it is not amd64 (whose tags predate the
    choice), so a registry shared by x86-64 and aarch64 machines never hands one the other's."""
    arch = debian_arch(platform)
    identity: dict[str, object] = {
        "suite": suite,
        "variant": recipe.variant,
        "include": sorted(recipe.include),
    }
    if arch not in (None, "amd64"):
        identity["arch"] = arch
    return f"{BASE_REPOSITORY}:{suite}-{_arch_part(arch)}{digest(json.dumps(identity))}"


def image_base_tag(suite: str, recipe: DebianRecipe, digest_: str) -> str:
    """The digest is usually the official image's multi-platform index, the same on every machine,
    while the base built from it is this host's architecture: named as in `base_tag`."""
    arch = debian_arch(None)
    identity: dict[str, object] = {"suite": suite, "include": sorted(recipe.include), "from": digest_}
    if arch not in (None, "amd64"):
        identity["arch"] = arch
    return f"{BASE_REPOSITORY}:{suite}-image-{_arch_part(arch)}{digest(json.dumps(identity))}"


def _arch_part(arch: str | None) -> str:
    return "" if arch in (None, "amd64") else f"{arch}-"


def own_tags(base: Any) -> list[str]:
    """The base's seedmatrix tags (either way of making it), as pushed beside the environment's."""
    return [tag for tag in base.tags if tag.startswith(f"{BASE_REPOSITORY}:")]


def found_base(
    client: docker.DockerClient,
    suite: str,
    recipe: DebianRecipe,
    *,
    way: str | None = None,
    platform: str | None = None,
) -> tuple[str, Any]:
    """The tag of a base this engine already has for `suite` (made `way`, or either way), and its
    image; (the tag to make, None) when it has none."""
    tags = _known_tags(client, suite, recipe, way, platform)
    for tag in tags:
        try:
            image = client.images.get(tag)
        except ImageNotFound:
            continue
        if _of_platform(image, platform):
            return tag, image
    return tags[0] if tags else base_tag(suite, recipe, platform), None


def _of_platform(image: Any, platform: str | None) -> bool:
    """amd64 tags carry no architecture, and neither did an arm64 host's before platforms: a base
    of another architecture under the tag looked for is not this environment's."""
    wanted = debian_arch(platform)
    return wanted is None or bool(image.attrs.get("Architecture", wanted) == wanted)  # None: unknown here


def made_from_image(way: str | None) -> bool:
    """Whether a missing base is made from Debian's official image, else from the archive."""
    return way == "image" or (way is None and shutil.which("mmdebstrap") is None)


def ensure_base(
    client: docker.DockerClient,
    suite: str,
    recipe: DebianRecipe,
    *,
    mirror: str | None,
    logs_dir: Path,
    progress: Progress,
    registry: str | None = None,
    way: str | None = None,
    platform: str | None = None,
    stopping: threading.Event | None = None,
) -> Any:
    """The base image for `suite`: found by its tag, pulled from `registry`, or made (`way`:
    "archive", "image", or None for the archive when mmdebstrap is installed, else the image)."""
    _, found = found_base(client, suite, recipe, way=way, platform=platform)
    if found is not None:
        return found
    if registry is not None:
        for known in _known_tags(client, suite, recipe, way, platform):
            pulled = pull(client, registry, known, progress=progress)
            if pulled is not None and _of_platform(pulled, platform):
                return pulled
    mmdebstrap = shutil.which("mmdebstrap")
    if made_from_image(way):
        if foreign(platform):
            raise ImageError(
                f"a {platform} base for debian: {suite} is made with mmdebstrap only (not from the "
                "official image yet): install mmdebstrap, or use base_image: with that platform"
            )
        return _from_image(client, suite, recipe, logs_dir=logs_dir, progress=progress, mmdebstrap=mmdebstrap)
    tag = base_tag(suite, recipe, platform)
    missing = emulation_missing(platform)
    if missing is not None:
        raise ImageError(missing)
    if mmdebstrap is None:
        raise ImageError(
            f"making base image {tag} from Debian's archive needs mmdebstrap, which is not installed "
            "(`apt-get install mmdebstrap`, or `bash scripts/engine start`); or make it from Debian's "
            "official image (--debian-base image), or use base_image: instead"
        )
    log = logs_dir / f"{tag.replace(':', '_')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    progress(f"making {tag} from Debian's archive")
    with tempfile.TemporaryDirectory(prefix="seedmatrix-base-") as scratch:
        rootfs = Path(scratch) / f"{suite}.tar"
        command = [
            mmdebstrap,
            *([f"--arch={debian_arch(platform)}"] if platform else []),
            f"--variant={recipe.variant}",
            f"--include={','.join(recipe.include)}",
            suite,
            str(rootfs),
            mirror or recipe.mirror,
        ]
        with log.open("w", encoding="utf-8") as stream:
            stream.write("# " + " ".join(command) + "\n")
            stream.flush()
            environ = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=environ)
            returncode = _wait(process, stopping)
        if returncode is None:
            raise ImageError(f"making {tag} was interrupted (log: {log})")
        if returncode != 0:
            raise ImageError(f"mmdebstrap {suite} failed with exit code {returncode} (log: {log})")
        if foreign(platform):
            return _load(client, rootfs, tag=tag, platform=str(platform), command=command)
        try:
            client.api.import_image_from_file(
                str(rootfs),
                # The tag inside the repository name, not in `tag=`: Podman 4.3's Docker-compatible
                # import ignores the tag parameter (the image came out as seedmatrix-base:latest),
                # while both engines take repo=name:tag.
                repository=tag,
                changes=[*(f"ENV {name}={value}" for name, value in _BASE_ENV.items()), _cmd()],
            )
        except APIError as error:
            raise ImageError(f"importing {tag} failed: {error}") from None
    return client.images.get(tag)


def _cmd() -> str:
    return f"CMD {json.dumps(_BASE_CMD)}"


def _load(client: docker.DockerClient, rootfs: Path, *, tag: str, platform: str, command: list[str]) -> Any:
    """The root file system as an image of `platform`'s architecture: a docker archive of one layer
    whose config names it (an import would call it this host's). Its id is the config's digest,
    the same on every machine that makes the same tarball."""
    with rootfs.open("rb") as stream:
        layer = hashlib.file_digest(stream, "sha256")
    config = {
        "architecture": debian_arch(platform),
        "os": "linux",
        "created": "1980-01-01T00:00:00Z",  # SOURCE_DATE_EPOCH's: the id must not follow the clock
        "config": {"Env": [f"{name}={value}" for name, value in _BASE_ENV.items()], "Cmd": _BASE_CMD},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer.hexdigest()}"]},
        # The options and the suite, not the scratch path or the mirror (where, not what).
        "history": [
            {"created": "1980-01-01T00:00:00Z", "created_by": " ".join(["mmdebstrap", *command[1:-2]])}
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{layer.hexdigest()}/layer.tar"]}]
    archive = rootfs.with_suffix(".image.tar")
    with tarfile.open(archive, "w") as image:
        for name, data in (("manifest.json", json.dumps(manifest).encode()), (config_name, config_bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            image.addfile(info, io.BytesIO(data))
        image.add(str(rootfs), arcname=f"{layer.hexdigest()}/layer.tar")
    try:
        with archive.open("rb") as stream:
            client.images.load(stream)
    except APIError as error:
        raise ImageError(f"loading {tag} failed: {error}") from None
    return client.images.get(tag)


def _wait(process: subprocess.Popen[bytes], stopping: threading.Event | None) -> int | None:
    """The exit status, or None when the runner is stopping: then the process is ended first (a
    signal reaches only the runner when a CI system sends it)."""
    while True:
        try:
            return process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stopping is not None and stopping.is_set():
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                return None


def _known_tags(
    client: docker.DockerClient, suite: str, recipe: DebianRecipe, way: str | None, platform: str | None
) -> list[str]:
    """The tags a base made `way` (None: either) has, as far as they are known without a registry
    (the official image's way is the host's architecture only)."""
    archive = [base_tag(suite, recipe, platform)] if way in (None, "archive") else []
    if way == "archive" or foreign(platform):
        return archive
    return archive + list(_image_way_tags(client, suite, recipe))


def _image_way_tags(client: docker.DockerClient, suite: str, recipe: DebianRecipe) -> Iterator[str]:
    """The image way's tags this engine can know without a registry: by the recipe's pinned digest,
    or by the digest of the official image it already holds."""
    pinned = recipe.digests.get(suite)
    if pinned is not None:
        yield image_base_tag(suite, recipe, pinned)
        return
    try:
        official = client.images.get(f"{recipe.image}:{suite}")
    except ImageNotFound:
        return
    for found in _digests(official, recipe.image):
        yield image_base_tag(suite, recipe, found)


def _digests(image: Any, repository: str) -> list[str]:
    """The image's digests in `repository` (RepoDigests: `repository@sha256:…`)."""
    names = {repository, f"docker.io/{repository}", f"docker.io/library/{repository}"}
    found = []
    for entry in image.attrs.get("RepoDigests") or []:
        name, _, digest_ = str(entry).partition("@")
        if name in names:
            found.append(digest_)
    return found


def _from_image(
    client: docker.DockerClient,
    suite: str,
    recipe: DebianRecipe,
    *,
    logs_dir: Path,
    progress: Progress,
    mmdebstrap: str | None,
) -> Any:
    """The recipe's packages installed on Debian's official image of `suite`, pinned by digest."""
    pinned = recipe.digests.get(suite)
    reference = f"{recipe.image}@{pinned}" if pinned else f"{recipe.image}:{suite}"
    progress(f"pulling {reference} (Debian's official image) for the {suite} base")
    try:
        official = client.images.pull(reference)
    except APIError as error:  # NotFound too
        archive = (
            "mmdebstrap is installed but was not chosen (--debian-base)"
            if mmdebstrap
            else "`apt-get install mmdebstrap`, or `bash scripts/engine start`"
        )
        raise ImageError(
            f"no base image for debian: {suite}: Debian's official image {reference} could not be "
            f"pulled ({str(error).strip().splitlines()[0]}), and making it from Debian's archive needs "
            f"mmdebstrap ({archive}); or use base_image: instead"
        ) from None
    digests = [pinned] if pinned else _digests(official, recipe.image)
    if not digests:
        raise ImageError(f"{reference} came with no digest in {recipe.image}: it cannot be pinned")
    tag = image_base_tag(suite, recipe, digests[0])
    try:
        return client.images.get(tag)
    except ImageNotFound:
        pass
    log = logs_dir / f"{tag.replace(':', '_')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    packages = " ".join(sorted(recipe.include))
    dockerfile = "\n".join(
        [
            f"FROM {recipe.image}@{digests[0]}",
            # The build reaches Debian's archive (the only build that reaches a network): as
            # mmdebstrap does, it installs from it; the lists are not kept.
            "RUN apt-get update && apt-get install -y --no-install-recommends "
            f"{packages} && rm -rf /var/lib/apt/lists/*",
            f"ENV LANG={_BASE_ENV['LANG']}",  # PATH: the official image's is the same
            _cmd(),
        ]
    )
    progress(f"making {tag} from {recipe.image}@{digests[0]}")
    with log.open("w", encoding="utf-8") as stream:
        stream.write(dockerfile + "\n")
        try:
            for chunk in client.api.build(
                fileobj=io.BytesIO(dockerfile.encode()),
                tag=tag,
                rm=True,
                forcerm=True,
                network_mode="host",
                decode=True,
                labels={BASE_FROM_LABEL: f"{recipe.image}@{digests[0]}"},
            ):
                if "stream" in chunk:
                    stream.write(str(chunk["stream"]))
                if "error" in chunk:
                    raise ImageError(f"making {tag} failed: {str(chunk['error']).strip()} (log: {log})")
        except APIError as error:
            raise ImageError(
                f"making {tag} failed: {str(error).strip().splitlines()[0]} (log: {log})"
            ) from None
    return client.images.get(tag)
