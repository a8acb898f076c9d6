"""`seedmatrix plan` and `seedmatrix prune`: what a run would do, and what no matrix uses any more.

`plan` runs nothing: it says which images a run would find or build, and which cells it would
run, reuse from an earlier run, or skip (with each reason). Without an engine it says what it could
not check. `prune` removes seedmatrix's own images (`seedmatrix-env`, `seedmatrix-base`) and wheel
cache directories that none of the given matrix files uses; `--dry-run` only lists them. It never
touches another image.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests

from .backends.docker import debian
from .backends.docker.images import ENV_REPOSITORY, environment_tag, image_identity, wheel_plan
from .backends.docker.wheels import COMPLETE, Fetching
from .cache import Cache, cell_keys
from .config import INSIDE, Environment, Matrix, load_matrix
from .cpu import host_cpu, machine_identity
from .fingerprint import digest, tree_digest
from .gpu import host_gpus
from .log import Output
from .plan import HostFacts, Selection, make_plan, select_environments

CACHE = ".cache"
_CACHE_NAME = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """One environment's image as the engine has it now."""

    environment: str
    action: str  # "found", "build", "host interpreter", "unknown"
    detail: str = ""
    tag: str | None = None
    base_tag: str | None = None
    image_id: str | None = None
    wheel_dirs: tuple[Path, ...] = ()


def connect() -> tuple[docker.DockerClient | None, str]:
    """The engine, or None and why not."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        return None, f"no Docker engine reachable ({str(error).splitlines()[0]})"
    return client, ""


def forecast(
    client: docker.DockerClient | None, matrix: Matrix, environment: Environment, fetching: Fetching | None
) -> Forecast:
    name = environment.name
    if environment.host_python is not None:
        return Forecast(
            environment=name, action="host interpreter", detail=f"{environment.host_python}, no image"
        )
    if client is None:
        return Forecast(environment=name, action="unknown", detail="no engine: cannot tell what is built")
    reference, base = _base(client, matrix, environment)
    if base is None:
        tag = (
            debian.base_tag(environment.debian, matrix.debian_recipe)
            if environment.debian and matrix.debian_recipe
            else environment.base_image
        )
        what = f"make the base {tag}, then build (the tag follows the base's id)"
        return Forecast(environment=name, action="build", detail=what, base_tag=tag)
    plan = wheel_plan(matrix, environment)
    tag = environment_tag(
        environment, image_identity(matrix.images_dir / "Dockerfile", plan), base_id=str(base.id)
    )
    wheel_dirs: list[Path] = []
    if fetching is not None:
        if plan.pins or plan.lock is not None:
            wheel_dirs.append(fetching.cache / digest(plan.pinned, str(base.id)))
        wheel_dirs += [
            fetching.cache / "projects" / digest(tree_digest(p), str(base.id)) for p in plan.projects
        ]
    base_tag = reference  # the name this matrix finds its base by (the image may have others)
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return Forecast(
            environment=name,
            action="build",
            detail=tag,
            tag=tag,
            base_tag=base_tag,
            wheel_dirs=tuple(wheel_dirs),
        )
    return Forecast(
        environment=name, action="found", detail=tag, tag=tag, base_tag=base_tag, image_id=str(image.id),
        wheel_dirs=tuple(wheel_dirs),
    )  # fmt: skip


def _base(client: docker.DockerClient, matrix: Matrix, environment: Environment) -> tuple[str, Any]:
    """The base's reference, and its image when the engine has it."""
    if environment.base_image is not None:
        reference = environment.base_image
    elif environment.debian is not None and matrix.debian_recipe is not None:
        reference = debian.base_tag(environment.debian, matrix.debian_recipe)
    else:
        return "", None
    try:
        return reference, client.images.get(reference)
    except docker.errors.ImageNotFound:
        return reference, None


def show_plan(config: Path, selection: Selection, *, results: Path, out: Output) -> int:
    matrix = load_matrix(config)
    client, why = connect()
    if client is None:
        out.warn(f"{why}: images and reuse are not checked")
    environments = select_environments(matrix, selection)
    fetching = Fetching.from_environment(os.environ, ca_bundle=None)
    forecasts = {name: forecast(client, matrix, matrix.environment(name), fetching) for name in environments}
    print("images:")
    for item in forecasts.values():
        print(f"  {item.environment}: {item.action}" + (f" ({item.detail})" if item.detail else ""))
    cpus = int(client.info().get("NCPU", 0)) if client is not None else (os.cpu_count() or 1)
    cpu = host_cpu()
    plan = make_plan(matrix, selection, HostFacts(cpus=cpus, cpu=cpu))
    identities = {name: item.image_id for name, item in forecasts.items() if item.image_id}
    keys = cell_keys(plan.cells, identities, helpers=INSIDE, machine=machine_identity(cpu), gpus=host_gpus())
    cache = Cache(results / CACHE)
    print(f"cells ({len(plan.cells)} to run, {len(plan.skipped)} skipped):")
    for cell in plan.cells:
        key = keys.get((cell.environment, cell.case))
        earlier = cache.cell_run(key) if key else None
        if earlier and (results / earlier).is_dir():
            action = f"reuse the records of run {earlier}"
        elif cell.environment in identities or matrix.environment(cell.environment).host_python:
            action = f"run {cell.repeats} time(s)"
        else:
            action = f"run {cell.repeats} time(s) once its image is built"
        print(f"  {cell.environment} / {cell.case}: {action}")
    for skip in plan.skipped:
        print(f"  {skip.environment} / {skip.case}: skip ({skip.reason})")
    if any(matrix.environment(name).device == "gpu" for name in environments):
        print("  (whether the engine can give a container a GPU is checked when the run starts)")
    return 0


def unused(
    client: docker.DockerClient, configs: Sequence[Path], fetching: Fetching
) -> tuple[list[str], list[Path]]:
    """seedmatrix's image tags and wheel cache directories that none of these matrix files uses."""
    used_images: set[str] = set()
    used_dirs: set[Path] = set()
    for config in configs:
        matrix = load_matrix(config)
        for environment in matrix.environments:
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
    client, why = connect()
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
