"""`debian:` bases without mmdebstrap: from Debian's official image in a registry, pinned by digest,
the recipe's packages installed in a build; and one error naming both ways when neither works.

The registry is the local test registry (`docker-registry`, see test_registry.py); the "official
image" pushed there is this engine's archive-made bookworm base, so the test needs no Docker Hub.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest
import yaml
from docker.errors import ImageNotFound
from test_registry import registry

from seedmatrix.backends.docker import debian
from seedmatrix.config import DebianRecipe, load_matrix
from seedmatrix.errors import ImageError
from seedmatrix.results import Build

from test_faults import latest, seedmatrix

pytestmark = [pytest.mark.docker, pytest.mark.slow]
__all__ = ["registry"]  # the fixture, shared with test_registry.py

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.yaml"
ASSETS = ROOT / "runner" / "seedmatrix" / "assets"


def recipe_with(image: str, **changes: object) -> DebianRecipe:
    shipped = yaml.safe_load((ASSETS / "debian-base.yaml").read_text(encoding="utf-8"))
    return DebianRecipe.model_validate({**shipped, "image": image, **changes})


@pytest.fixture
def official_image(docker_client: docker.DockerClient, small_image: Build, registry: str) -> str:
    """A stand-in for Debian's official image, pushed to the local registry: the repository name."""
    del small_image  # made the archive bookworm base this stands on
    matrix = load_matrix(SMALL)
    assert matrix.debian_recipe is not None
    tag, archive_base = debian.found_base(docker_client, "bookworm", matrix.debian_recipe, way="archive")
    assert archive_base is not None, tag
    repository = f"{registry.split('/', maxsplit=1)[0]}/library/debian"
    archive_base.tag(repository, "bookworm")
    for chunk in docker_client.images.push(repository, tag="bookworm", stream=True, decode=True):
        assert "error" not in chunk, chunk
    docker_client.images.remove(f"{repository}:bookworm")  # so the run must pull it
    return repository


def test_a_base_made_from_the_official_image_is_pinned_by_digest_and_tagged_as_such(
    docker_client: docker.DockerClient, official_image: str, tmp_path: Path
) -> None:
    recipe = recipe_with(official_image, include=["python3", "python3-venv", "ca-certificates", "file"])
    seen: list[str] = []
    base = debian.ensure_base(
        docker_client, "bookworm", recipe, mirror=None, logs_dir=tmp_path, progress=seen.append, way="image"
    )
    try:
        pulled = docker_client.images.get(f"{official_image}:bookworm")
        [digest] = [
            entry.split("@")[1]
            for entry in pulled.attrs["RepoDigests"]
            if entry.startswith(f"{official_image}@")
        ]
        tag = debian.image_base_tag("bookworm", recipe, digest)
        assert tag in base.tags
        assert "-image-" in tag
        assert base.labels[debian.BASE_FROM_LABEL] == f"{official_image}@{digest}"
        assert f"pulling {official_image}:bookworm (Debian's official image) for the bookworm base" in seen
        log = (tmp_path / f"{tag.replace(':', '_')}.log").read_text(encoding="utf-8")
        assert f"FROM {official_image}@{digest}" in log
        assert "Setting up file" in log  # the recipe's package the stand-in lacked was installed
        # Found again without a registry (by the digest of the official image the engine holds)
        # and by the recipe's pinned digest, never made twice.
        assert debian.found_base(docker_client, "bookworm", recipe, way="image") == (tag, base)
        pinned = recipe_with(official_image, include=recipe.include, digests={"bookworm": digest})
        docker_client.images.remove(f"{official_image}:bookworm")
        assert debian.found_base(docker_client, "bookworm", pinned, way="image")[0] == tag
        # The archive way, asked for, does not take it.
        assert debian.found_base(docker_client, "bookworm", recipe, way="archive")[0] != tag
    finally:
        docker_client.images.remove(str(base.id), force=True)


def test_a_matrix_builds_on_the_official_image_base_from_the_command_line(
    docker_client: docker.DockerClient, small_image: Build, official_image: str, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    shutil.copytree(ASSETS, images)
    recipe = yaml.safe_load((images / "debian-base.yaml").read_text(encoding="utf-8"))
    recipe["image"] = official_image
    (images / "debian-base.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    matrix = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    for case in matrix["cases"]:
        case["script"] = str((SMALL.parent / case["script"]).resolve())
    matrix["images_dir"] = str(images)
    (tmp_path / "matrix.yaml").write_text(yaml.safe_dump(matrix), encoding="utf-8")

    def plan(way: str) -> str:
        said = seedmatrix("plan", "--config", str(tmp_path / "matrix.yaml"), "--case", "seed_numpy",
                          "--results", str(tmp_path / "results"), "--debian-base", way)  # fmt: skip
        assert said.returncode == 0, said.stdout + said.stderr
        return said.stdout

    # The plan takes the base the run would: not the archive's, which this engine has.
    assert f"make the base from Debian's official image {official_image}:bookworm" in plan("image")
    assert f"found ({small_image.tag})" in plan("archive")
    finished = seedmatrix(
        "matrix", "--config", str(tmp_path / "matrix.yaml"), "--results", str(tmp_path / "results"),
        "--case", "seed_numpy", "--debian-base", "image",
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    data = latest(tmp_path / "results")
    assert {record["status"] for record in data["records"]} == {"ok"}
    [environment] = data["environments"]
    assert environment["build"]["tag"] != small_image.tag  # another base: another content tag
    assert f"found ({environment['build']['tag']})" in plan("image")
    image = docker_client.images.get(environment["build"]["image_id"])
    [base] = [
        found
        for found in docker_client.images.list(name=debian.BASE_REPOSITORY)
        if any(tag.startswith(f"{debian.BASE_REPOSITORY}:bookworm-image-") for tag in found.tags)
    ]
    assert base.id in {layer.get("Id") for layer in image.history()}  # built FROM it
    docker_client.images.remove(str(image.id), force=True)
    docker_client.images.remove(str(base.id), force=True)


def test_without_mmdebstrap_and_without_the_official_image_one_error_names_both_ways(
    docker_client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mmdebstrap
    recipe = recipe_with("127.0.0.1:9/library/debian")  # nothing listens on port 9
    with pytest.raises(ImageError) as raised:
        debian.ensure_base(docker_client, "bookworm-absent", recipe, mirror=None, logs_dir=tmp_path,
                           progress=lambda _: None)  # fmt: skip
    message = str(raised.value)
    assert "Debian's official image 127.0.0.1:9/library/debian:bookworm-absent could not be pulled" in message
    assert "needs mmdebstrap (`apt-get install mmdebstrap`, or `bash scripts/engine start`)" in message
    with pytest.raises(ImageNotFound):
        docker_client.images.get("127.0.0.1:9/library/debian:bookworm-absent")
