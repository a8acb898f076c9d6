"""Shared fixtures. Tests marked `docker` use a real engine and real images.

Every container a test starts carries a label, and teardown removes whatever still has it.
Without an engine those tests are skipped with the reason, except under CI=true, where a
missing engine is a failure: CI must not go green on skipped container tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from hypothesis import settings

from seedmatrix.backends.docker import container, images
from seedmatrix.backends.docker.wheels import Fetching
from seedmatrix.cache import Cache
from seedmatrix.config import Matrix, load_matrix
from seedmatrix.results import Build

# In CI the generated examples are the same on every run, so a red CI is never a new random
# example that nobody has seen; locally every run explores new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SMALL_MATRIX = ROOT / "tests" / "data" / "small.yaml"
SHIPPED_ASSETS = ROOT / "runner" / "seedmatrix" / "assets"


def new_identity_matrix(tmp_path: Path, *, first_step: str, environments: str = "") -> Path:
    """tests/data/small.yaml with the shipped Dockerfile and recipe, changed so that its image has
    an identity no earlier run built (a marker), with `first_step` as its first step;
    `environments` adds environments to the matrix's own."""
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    (images_dir / "debian-base.yaml").write_bytes((SHIPPED_ASSETS / "debian-base.yaml").read_bytes())
    marker = f"# a new image identity: {time.time_ns()}\n"
    dockerfile = (
        (SHIPPED_ASSETS / "Dockerfile")
        .read_text(encoding="utf-8")
        .replace("FROM ${BASE_IMAGE}\n", f"FROM ${{BASE_IMAGE}}\n{marker}{first_step}\n")
    )
    (images_dir / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    matrix = tmp_path / "matrix.yaml"
    text = (
        SMALL_MATRIX.read_text(encoding="utf-8")
        .replace("repeats: 2", f"repeats: 2\nimages_dir: {images_dir}")
        .replace("../../seeds/", f"{ROOT / 'seeds'}/")
        .replace("cases:\n", f"{environments}cases:\n")
    )
    matrix.write_text(text, encoding="utf-8")
    return matrix


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as error:
        reason = f"no Docker engine reachable ({error}); start one with `bash scripts/engine start`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield client
    client.close()


@pytest.fixture
def run_label(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique run label; containers still carrying it after the test are removed and reported."""
    label = f"test-{request.node.name}-{os.getpid()}"[:120]
    yield label
    leftovers = container.remove_run_containers(docker_client, label)
    assert leftovers == 0, f"{leftovers} container(s) of {label} were left behind"


@pytest.fixture(scope="session")
def small_matrix() -> Matrix:
    return load_matrix(SMALL_MATRIX)


def build_settings(
    logs: Path, cache: Path, *, run_id: str, ca_bundle: Path | None = None
) -> images.BuildSettings:
    return images.BuildSettings(
        logs_dir=logs,
        cache=Cache(cache),
        fetching=Fetching.from_environment(os.environ, ca_bundle=ca_bundle),
        owner=container.Owner(run_id=run_id),
    )


@pytest.fixture(scope="session")
def small_image(
    docker_client: docker.DockerClient, small_matrix: Matrix, tmp_path_factory: pytest.TempPathFactory
) -> Build:
    """The small NumPy image (built once per session, or found by its content-derived tag)."""
    settings = build_settings(
        tmp_path_factory.mktemp("build-logs"), tmp_path_factory.mktemp("cache"), run_id="test-small-image"
    )
    build = images.ensure_environment_image(
        docker_client, small_matrix, small_matrix.environments[0], settings, progress=lambda _: None
    )
    assert build.image_id is not None, build.error
    return build
