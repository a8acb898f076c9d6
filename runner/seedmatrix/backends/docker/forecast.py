"""What the engine has now, without building anything: each environment's image found or to be
built (`seedmatrix plan`), and seedmatrix's images and wheel directories that no matrix uses any
more (`seedmatrix prune`, which never touches another image)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker

from ...config import Environment, Matrix, load_matrix
from ...log import Output
from ...platforms import foreign
from .. import Forecast
from . import container, debian
from .images import ENV_REPOSITORY, base_content, environment_tag, image_identity, wheel_plan
from .registry import remote
from .wheels import COMPLETE, Fetching

_CACHE_NAME = re.compile(r"[0-9a-f]{12}")


def forecast(
    client: docker.DockerClient | None,
    matrix: Matrix,
    environment: Environment,
    fetching: Fetching | None,
    *,
    registry: str | None = None,
    debian_base: str | None = None,
) -> Forecast:
    """What a run would do for `environment`'s image; with a registry, what it lacks is pulled from
    there when the registry has it (not asked here: plan reaches no network), else built. A Debian
    base counts only when made the way a run would take it (`debian_base`: "archive", "image";
    None: either)."""
    name = environment.name
    if client is None:
        return Forecast(environment=name, action="unknown", detail="no engine: cannot tell what is built")
    reference, base = _base(client, matrix, environment, debian_base)
    if base is None:
        if not (environment.debian and matrix.debian_recipe):
            what = f"pull the base {environment.base_image}, then build (the tag follows the base's content)"
            return Forecast(environment=name, action="build", detail=what, base_tag=environment.base_image)
        if debian.made_from_image(debian_base):
            if foreign(environment.platform):
                why = (
                    f"a {environment.platform} base is made with mmdebstrap only, not from the official image"
                )
                return Forecast(environment=name, action="refused", detail=why)
            official = f"{matrix.debian_recipe.image}:{environment.debian}"
            what = f"make the base from Debian's official image {official}, then build"
            if registry is not None:
                what = f"pull the base {_remote(registry, reference)} if the registry has it, else {what}"
            return Forecast(environment=name, action="build", detail=what, base_tag=reference)
        tag = debian.base_tag(environment.debian, matrix.debian_recipe, environment.platform)
        if registry is not None:
            what = f"pull the base {_remote(registry, tag)} if the registry has it, else make it; then build"
            return Forecast(environment=name, action="pull or build", detail=what, base_tag=tag)
        what = f"make the base {tag}, then build (the tag follows the base's content)"
        return Forecast(environment=name, action="build", detail=what, base_tag=tag)
    plan = wheel_plan(matrix, environment)
    tag = environment_tag(
        environment, image_identity(matrix.images_dir / "Dockerfile", plan), base_content=base_content(base)
    )
    wheel_dirs: list[Path] = []
    if fetching is not None:
        if plan.pins or plan.lock is not None:
            wheel_dirs.append(fetching.pins_directory(plan, str(base.id)))
        wheel_dirs += [fetching.project_directory(project, str(base.id)) for project in plan.projects]
    base_tag = reference  # the name this matrix finds its base by (the image may have others)
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        pulled = f"{_remote(registry, tag)} if the registry has it, else built" if registry else None
        return Forecast(
            environment=name,
            action="build" if pulled is None else "pull or build",
            detail=pulled or tag,
            tag=tag,
            base_tag=base_tag,
            wheel_dirs=tuple(wheel_dirs),
        )
    return Forecast(
        environment=name, action="found", detail=tag, tag=tag, base_tag=base_tag, image_id=str(image.id),
        wheel_dirs=tuple(wheel_dirs), ready=True,
    )  # fmt: skip


def _remote(registry: str, tag: str) -> str:
    return ":".join(remote(registry, tag))


def _base(
    client: docker.DockerClient, matrix: Matrix, environment: Environment, debian_base: str | None
) -> tuple[str, Any]:
    """The base's reference, and its image when the engine has it."""
    if environment.base_image is not None:
        reference = environment.base_image
    elif environment.debian is not None and matrix.debian_recipe is not None:
        return debian.found_base(
            client, environment.debian, matrix.debian_recipe, way=debian_base, platform=environment.platform
        )
    else:
        return "", None
    try:
        return reference, client.images.get(reference)
    except docker.errors.ImageNotFound:
        return reference, None


def unused(
    client: docker.DockerClient, configs: Sequence[Path], fetching: Fetching
) -> tuple[list[str], list[Path]]:
    """seedmatrix's image tags and wheel cache directories that none of these matrix files uses."""
    used_images: set[str] = set()
    used_dirs: set[Path] = set()
    for config in configs:
        matrix = load_matrix(config)
        for environment in matrix.environments:
            if environment.host_python is not None:
                continue  # an interpreter: no image, no wheels
            item = forecast(client, matrix, environment, fetching)
            used_images.update(tag for tag in (item.tag, item.base_tag) if tag)
            used_dirs.update(item.wheel_dirs)
    tags = sorted(
        tag
        for image in client.images.list()
        for tag in image.tags
        if tag.split(":", 1)[0] in {ENV_REPOSITORY, debian.BASE_REPOSITORY} and tag not in used_images
    )
    # Only what seedmatrix made there: 12-hex-digit directories it finished (the cache directory may
    # be anywhere, SEEDMATRIX_WHEEL_CACHE names it; a fetch in progress has not finished).
    directories = [
        path
        for parent in (fetching.cache, fetching.cache / "projects")
        if parent.is_dir()
        for path in sorted(parent.iterdir())
        if _CACHE_NAME.fullmatch(path.name) and (path / COMPLETE).exists() and path not in used_dirs
    ]
    return tags, directories


def prune(configs: Sequence[Path], *, dry_run: bool, out: Output) -> int:
    client, why = container.reachable()
    if client is None:
        out.error(f"{why}: nothing to prune")
        return 1
    tags, directories = unused(client, configs, Fetching.from_environment(os.environ, ca_bundle=None))
    verb = "would remove" if dry_run else "removing"
    for tag in tags:
        print(f"{verb} image {tag}")
        if not dry_run:
            client.images.remove(tag)
    for path in directories:
        print(f"{verb} wheel cache {path}")
        if not dry_run:
            shutil.rmtree(path)
    done = "unused (dry run: nothing removed)" if dry_run else "removed"
    out.step(f"{len(tags)} image tag(s) and {len(directories)} wheel cache director(ies) {done}")
    return 0
