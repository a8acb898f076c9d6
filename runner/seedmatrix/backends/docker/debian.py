"""Base images made from Debian's archive, for hosts that reach no image registry.

mmdebstrap writes a minimal root file system (the recipe: variant and packages) into a tarball,
which is imported through the Docker SDK as `seedmatrix-base:<suite>-<hash of the recipe>`. The
import is what applies the tag, so a run killed half-way leaves no tagged image behind. The tarball
is reproducible (a fixed SOURCE_DATE_EPOCH), so shards that each make the base at the same time
agree on its content, and on the environment tags that follow it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

from ...config import DebianRecipe
from ...errors import ImageError
from ...fingerprint import digest
from .registry import pull

BASE_REPOSITORY = "seedmatrix-base"
#: mmdebstrap's output is reproducible under a fixed SOURCE_DATE_EPOCH: two machines making the same
#: base from the same archive get the same tarball, so the same layer (images.base_content). 1980,
#: not 0: zip, and so wheels, cannot hold a file time before it.
SOURCE_DATE_EPOCH = "315532800"
Progress = Callable[[str], None]


def base_tag(suite: str, recipe: DebianRecipe) -> str:
    identity = json.dumps({"suite": suite, "variant": recipe.variant, "include": sorted(recipe.include)})
    return f"{BASE_REPOSITORY}:{suite}-{digest(identity)}"


def ensure_base(
    client: docker.DockerClient,
    suite: str,
    recipe: DebianRecipe,
    *,
    mirror: str | None,
    logs_dir: Path,
    progress: Progress,
    registry: str | None = None,
    stopping: threading.Event | None = None,
) -> Any:
    """The base image for `suite`: found by its tag, pulled from `registry`, or made."""
    tag = base_tag(suite, recipe)
    try:
        return client.images.get(tag)
    except ImageNotFound:
        pass
    if registry is not None:
        pulled = pull(client, registry, tag, progress=progress)
        if pulled is not None:
            return pulled
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ImageError(
            f"making base image {tag} needs mmdebstrap, which is not installed "
            "(`apt-get install mmdebstrap`, or `bash scripts/engine start`), or use base_image: instead"
        )
    log = logs_dir / f"{tag.replace(':', '_')}.log"
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
        try:
            client.api.import_image_from_file(
                str(rootfs),
                # The tag inside the repository name, not in `tag=`: Podman 4.3's Docker-compatible
                # import ignores the tag parameter (the image came out as seedmatrix-base:latest),
                # while both engines take repo=name:tag.
                repository=tag,
                changes=[
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "ENV LANG=C.UTF-8",
                    'CMD ["python3"]',
                ],
            )
        except APIError as error:
            raise ImageError(f"importing {tag} failed: {error}") from None
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
