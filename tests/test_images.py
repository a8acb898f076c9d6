"""Images against a real engine: content-derived tags, no rebuilds, observed versions, no CA left."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import docker
import pytest
from docker.errors import NotFound

from seedmatrix.backends.docker import container, debian, images
from seedmatrix.backends.docker.wheels import WHEEL_SERVER_PORT, Fetching, WheelPlan, Wheels, served
from seedmatrix.builds import images_job
from seedmatrix.config import DebianRecipe, Matrix, load_matrix
from seedmatrix.errors import ImageError
from seedmatrix.log import Output
from seedmatrix.options import Options
from seedmatrix.results import Build, BuildStatus

from conftest import build_settings, new_identity_matrix

ROOT = Path(__file__).resolve().parent.parent


def settings(
    tmp_path: Path, ca_bundle: Path | None = None, *, run_id: str = "test-images"
) -> images.BuildSettings:
    return build_settings(tmp_path / "logs", tmp_path / "cache", run_id=run_id, ca_bundle=ca_bundle)


def one_environment(tmp_path: Path, environment: str) -> Matrix:
    """A matrix file with one environment (given as a YAML flow mapping) and one case."""
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text(
        f"environments:\n  - {environment}\n"
        f"cases:\n  - {{name: seed_random, script: {ROOT / 'seeds' / 'seed_random.py'}}}\n",
        encoding="utf-8",
    )
    return load_matrix(matrix_file)


def ensure(
    client: docker.DockerClient,
    matrix: Matrix,
    tmp_path: Path,
    progress: images.Progress = lambda _: None,
    *,
    run_id: str = "test-images",
) -> Build:
    """The image of the matrix's first environment, its containers labelled with `run_id`."""
    return images.ensure_environment_image(
        client, matrix, matrix.environments[0], settings(tmp_path, run_id=run_id), progress=progress
    )


def test_image_identity_follows_the_dockerfile_pins_and_base(tmp_path: Path, small_matrix: Matrix) -> None:
    env = small_matrix.environments[0]
    dockerfile = small_matrix.images_dir / "Dockerfile"
    plan = images.wheel_plan(small_matrix, env)
    identity = images.image_identity(dockerfile, plan)
    tag = images.environment_tag(env, identity, base_content="sha256:1")
    repinned = images.image_identity(dockerfile, WheelPlan(pins=("numpy==1.26.4",)))
    assert images.environment_tag(env, repinned, base_content="sha256:1") != tag
    assert images.environment_tag(env, identity, base_content="sha256:2") != tag
    edited = tmp_path / "Dockerfile"
    edited.write_bytes(dockerfile.read_bytes() + b"\n# a comment\n")
    assert images.environment_tag(env, images.image_identity(edited, plan), base_content="sha256:1") != tag
    assert images.environment_tag(env, identity, base_content="sha256:1") == tag
    assert tag.startswith("seedmatrix-env:bookworm-np2.0-")


class FakeImage:
    """What base_content reads of an image: its id, layers and config, as the engine reports them."""

    def __init__(self, image_id: str, layers: list[str], env: list[str]) -> None:
        self.id = image_id
        config = {"Env": env, "Cmd": ["python3"]}
        self.attrs = {"Id": image_id, "RootFS": {"Layers": layers}, "Config": config}


def test_environment_tags_follow_the_base_content_not_its_id() -> None:
    # Two shards that each make the base from the same archive get two ids and one content.
    made_here = FakeImage("sha256:aaa", ["sha256:layer"], ["LANG=C.UTF-8"])
    made_there = FakeImage("sha256:bbb", ["sha256:layer"], ["LANG=C.UTF-8"])
    assert images.base_content(made_here) == images.base_content(made_there)
    newer_archive = FakeImage("sha256:aaa", ["sha256:other-layer"], ["LANG=C.UTF-8"])
    assert images.base_content(newer_archive) != images.base_content(made_here)
    other_settings = FakeImage("sha256:aaa", ["sha256:layer"], ["LANG=C"])  # inherited by the image
    assert images.base_content(other_settings) != images.base_content(made_here)


def test_image_identity_follows_packages_the_lock_file_and_the_projects_source(tmp_path: Path) -> None:
    """An unchanged environment keeps its tag; a changed pin, lock file or source tree gets a new one."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '1'\n", encoding="utf-8")
    (project / "src" / "train.py").write_text("print(1)\n", encoding="utf-8")
    lock = tmp_path / "requirements.txt"
    lock.write_text("pandas==2.2.3 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text(
        "environments:\n  - {name: e, debian: bookworm, python: '3.11', numpy: '2.0.2', "
        "packages: ['scikit-learn==1.6.1'], requirements: requirements.txt, install: project}\n"
        "cases: [{name: c, script: project/src/train.py}]\n",
        encoding="utf-8",
    )

    def tag() -> str:
        matrix = load_matrix(matrix_file)
        plan = images.wheel_plan(matrix, matrix.environments[0])
        identity = images.image_identity(matrix.images_dir / "Dockerfile", plan)
        return images.environment_tag(matrix.environments[0], identity, base_content="b")

    first = tag()
    assert tag() == first
    (project / "src" / "__pycache__").mkdir()
    (project / "src" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    assert tag() == first  # not source: no new image
    (project / "src" / "train.py").write_text("print(2)\n", encoding="utf-8")
    changed_source = tag()
    assert changed_source != first
    lock.write_text("pandas==2.2.2 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    changed_lock = tag()
    assert changed_lock not in {first, changed_source}
    matrix_file.write_text(
        matrix_file.read_text(encoding="utf-8").replace("1.6.1", "1.6.0"), encoding="utf-8"
    )
    assert tag() not in {first, changed_source, changed_lock}


def test_missing_ca_bundle_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"CA bundle .*absent\.crt does not exist"):
        Fetching.from_environment({"HOME": str(tmp_path)}, ca_bundle=tmp_path / "absent.crt")


@pytest.mark.docker
def test_built_image_reports_what_it_really_contains(small_image: Build) -> None:
    assert small_image.status in {BuildStatus.BUILT, BuildStatus.CACHED}
    observed = small_image.observed
    assert observed is not None
    assert observed.python.startswith("3.11.")
    assert observed.version("numpy") == "2.0.2"
    assert observed.version("tensorflow") is None
    assert "numpy==2.0.2" in observed.pip_freeze
    assert any(line.startswith("pip==") for line in observed.pip_freeze)
    assert small_image.size is not None
    assert small_image.size > 50_000_000


@pytest.mark.docker
def test_a_second_request_rebuilds_nothing(
    docker_client: docker.DockerClient, small_matrix: Matrix, small_image: Build, tmp_path: Path
) -> None:
    again = images.ensure_environment_image(
        docker_client,
        small_matrix,
        small_matrix.environments[0],
        settings(tmp_path),
        progress=lambda text: pytest.fail(f"unexpected work: {text}"),
    )
    assert again.status is BuildStatus.CACHED
    assert (again.tag, again.image_id) == (small_image.tag, small_image.image_id)


@pytest.mark.docker
def test_no_wheels_ca_bundle_or_pip_cache_stay_in_the_image(
    docker_client: docker.DockerClient, small_image: Build
) -> None:
    assert small_image.image_id is not None
    created = docker_client.containers.create(small_image.image_id, command=["true"])
    try:
        for leftover in ("/tmp/seedmatrix", "/root/.cache/pip", "/seedmatrix-ca"):
            with pytest.raises(NotFound):
                created.get_archive(leftover)
        created.get_archive("/opt/seedmatrix/bin/python")  # the venv itself is there
    finally:
        created.remove(force=True)


@pytest.mark.docker
def test_a_rebuild_installs_from_the_kept_wheels_without_fetching(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    # The small image's pins plus a tiny project: another image (the same content would only be
    # tagged), built from the pins' kept wheels.
    project = tmp_path / "tiny"
    (project / "tiny").mkdir(parents=True)
    (project / "tiny" / "__init__.py").write_text("", encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "tiny"\nversion = "1.0"\n', encoding="utf-8")
    matrix = one_environment(
        tmp_path,
        f'{{name: wheel-reuse, debian: bookworm, python: "3.11", numpy: "2.0.2", install: {project}}}',
    )
    said: list[str] = []
    outcome = ensure(docker_client, matrix, tmp_path, said.append)
    try:
        assert outcome.status is BuildStatus.BUILT, outcome.error
        assert [text for text in said if text.startswith("building seedmatrix-env:wheel-reuse")]
        assert not [text for text in said if text.startswith("fetching wheels")]
        assert outcome.observed is not None
        assert outcome.observed.version("numpy") == "2.0.2"
        assert "tiny==1.0" in outcome.observed.pip_freeze  # from the second wheel directory served
    finally:
        if outcome.tag:
            docker_client.images.remove(outcome.tag)


def installed_text(client: docker.DockerClient, image: str, path: str) -> str:
    """A file of the image's virtual environment, as text."""
    created = client.containers.create(image, command=["true"])
    try:
        chunks, _ = created.get_archive(f"/opt/seedmatrix/lib/python3.11/site-packages/{path}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.extractfile(Path(path).name)
            assert member is not None
            return member.read().decode()
    finally:
        created.remove(force=True)


@pytest.mark.docker
def test_a_project_changed_at_the_same_version_goes_into_its_new_image_as_it_is_now(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    """Its wheel is rebuilt under the same name==version: nothing of the earlier image (the
    builder's layer cache, served addresses that look the same) may stand in for the new code."""
    project = tmp_path / "tiny"
    (project / "tiny").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "tiny"\nversion = "1.0"\n', encoding="utf-8")
    environment = (
        f'{{name: project-change, debian: bookworm, python: "3.11", numpy: "2.0.2", install: {project}}}'
    )
    tags: list[str] = []
    try:
        for said in ("before", "after"):
            (project / "tiny" / "__init__.py").write_text(f"SAID = {said!r}\n", encoding="utf-8")
            outcome = ensure(docker_client, one_environment(tmp_path, environment), tmp_path)
            assert outcome.status is BuildStatus.BUILT, outcome.error
            assert outcome.tag is not None
            tags.append(outcome.tag)
            assert installed_text(docker_client, outcome.tag, "tiny/__init__.py") == f"SAID = {said!r}\n"
        assert tags[0] != tags[1]
    finally:
        for tag in tags:
            docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_build_reaches_its_served_wheels_and_no_network_and_leaves_no_server_behind(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path, run_label: str
) -> None:
    # The build's steps share the wheel server's network: a loopback and nothing else (the host's
    # network would show its interfaces here, the engine's bridge an eth0).
    matrix = load_matrix(new_identity_matrix(tmp_path, first_step='RUN test "$(ls /sys/class/net)" = lo'))
    outcome = ensure(docker_client, matrix, tmp_path, run_id=run_label)
    try:
        assert outcome.status is BuildStatus.BUILT, outcome.error
        assert outcome.observed is not None
        assert outcome.observed.version("numpy") == "2.0.2"  # installed from the served wheels
        assert outcome.log is not None
        assert f"wheels from http://127.0.0.1:{WHEEL_SERVER_PORT}/0-" in Path(outcome.log).read_text(
            encoding="utf-8"
        )
        running = docker_client.containers.list(
            all=True, filters={"label": f"{container.RUN_LABEL}={run_label}"}
        )
        assert running == []  # the wheel server went with the build
    finally:
        if outcome.tag:
            docker_client.images.remove(outcome.tag, force=True)


@pytest.mark.docker
def test_wheels_kept_under_a_strict_umask_are_still_served_to_the_build(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wheel directory only its owner can read: a server running as anyone else lists nothing.
    monkeypatch.setenv("SEEDMATRIX_WHEEL_CACHE", str(tmp_path / "wheels"))
    matrix = load_matrix(new_identity_matrix(tmp_path, first_step="RUN true"))
    previous = os.umask(0o077)
    try:
        outcome = ensure(docker_client, matrix, tmp_path)
    finally:
        os.umask(previous)
    try:
        assert outcome.status is BuildStatus.BUILT, outcome.error
        [directory] = [path for path in (tmp_path / "wheels").iterdir() if path.is_dir()]
        assert directory.stat().st_mode & 0o077 == 0
    finally:
        if outcome.tag:
            docker_client.images.remove(outcome.tag, force=True)


@pytest.mark.docker
def test_an_environment_with_nothing_to_install_is_built_without_a_wheel_server(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path, run_label: str
) -> None:
    matrix = one_environment(tmp_path, '{name: bare, debian: bookworm, python: "3.11"}')
    outcome = ensure(docker_client, matrix, tmp_path, run_id=run_label)
    try:
        assert outcome.status is BuildStatus.BUILT, outcome.error
        assert outcome.observed is not None
        assert outcome.observed.version("numpy") is None
        assert outcome.log is not None
        assert "wheels from nowhere" in Path(outcome.log).read_text(encoding="utf-8")
    finally:
        if outcome.tag:
            docker_client.images.remove(outcome.tag, force=True)


@pytest.mark.docker
def test_a_base_that_cannot_serve_the_wheels_fails_that_build_by_name(
    docker_client: docker.DockerClient, tmp_path: Path, run_label: str
) -> None:
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()  # an image with no files at all: no python3
    image_id = json.loads(docker_client.api.import_image_from_data(empty.getvalue()))["status"]
    try:
        base = docker_client.images.get(image_id)
        wheels = Wheels(directories=(tmp_path,), requirements=b"", projects=b"")
        owner = container.Owner(run_id=run_label)
        with (
            pytest.raises(ImageError, match="building odd failed: the wheel server could not run"),
            served(docker_client, base, wheels, name="odd", owner=owner),
        ):
            pytest.fail("the block ran without a wheel server")
    finally:
        docker_client.images.remove(image_id, force=True)


@pytest.mark.docker
def test_a_pin_that_does_not_exist_fails_that_build_with_its_log(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    matrix = one_environment(tmp_path, '{name: impossible, debian: bookworm, python: "3.11", numpy: "0.0.1"}')
    outcome = ensure(docker_client, matrix, tmp_path)
    assert outcome.status is BuildStatus.FAILED
    assert outcome.image_id is None
    assert outcome.log is not None
    assert outcome.error is not None
    assert outcome.log in outcome.error
    assert "numpy==0.0.1" in Path(outcome.log).read_text(encoding="utf-8")
    assert "No matching distribution" in Path(outcome.log).read_text(encoding="utf-8")


@pytest.mark.docker
def test_an_environment_can_start_from_a_registry_style_base_image(
    docker_client: docker.DockerClient, small_matrix: Matrix, small_image: Build, tmp_path: Path
) -> None:
    # No registry is reachable here, so the "registry" image is one already in the engine: the
    # Debian base under a registry-style name. A present image is used without pulling.
    assert small_matrix.debian_recipe is not None
    base = docker_client.images.get(debian.base_tag("bookworm", small_matrix.debian_recipe))
    base.tag("registry.example:5000/seedmatrix-test/python", "3.11")
    matrix = one_environment(
        tmp_path,
        '{name: from-registry, base_image: "registry.example:5000/seedmatrix-test/python:3.11", '
        'python: "3.11", numpy: "2.0.2"}',
    )
    outcome = None
    try:
        outcome = ensure(docker_client, matrix, tmp_path)
        assert outcome.error is None
        assert outcome.observed is not None
        assert outcome.observed.version("numpy") == "2.0.2"
        assert outcome.tag is not None
        assert outcome.tag.startswith("seedmatrix-env:from-registry-")
    finally:
        docker_client.images.remove("registry.example:5000/seedmatrix-test/python:3.11")
        if outcome is not None and outcome.tag:
            docker_client.images.remove(outcome.tag)


def test_the_ca_bundle_comes_from_the_first_variable_that_names_one(tmp_path: Path) -> None:
    pip_bundle, ssl_bundle = tmp_path / "pip.crt", tmp_path / "ssl.crt"
    pip_bundle.write_text("pip", encoding="utf-8")
    ssl_bundle.write_text("ssl", encoding="utf-8")

    def chosen(env: dict[str, str]) -> Path | None:
        return Fetching.from_environment({"HOME": str(tmp_path), **env}, ca_bundle=None).ca_bundle

    assert chosen({"SSL_CERT_FILE": str(ssl_bundle)}) == ssl_bundle
    assert chosen({"SSL_CERT_FILE": str(ssl_bundle), "PIP_CERT": str(pip_bundle)}) == pip_bundle
    assert chosen({}) is None


@pytest.mark.docker
def test_the_same_content_under_another_name_is_tagged_not_built(
    docker_client: docker.DockerClient, small_matrix: Matrix, small_image: Build, tmp_path: Path
) -> None:
    # Environments that differ only in how they run (device, CPU switches) share one image.
    renamed = small_matrix.environments[0].model_copy(update={"name": "same-content-other-name"})
    outcome = images.ensure_environment_image(
        docker_client,
        small_matrix,
        renamed,
        settings(tmp_path),
        progress=lambda text: pytest.fail(f"unexpected work: {text}"),
    )
    try:
        assert outcome.status is BuildStatus.CACHED, outcome.error
        assert outcome.tag is not None
        assert outcome.tag.startswith("seedmatrix-env:same-content-other-name-")
        assert outcome.image_id == small_image.image_id
    finally:
        if outcome.tag:
            docker_client.images.remove(outcome.tag)


SAME_CONTENT_TWICE = """  - name: bookworm-np2.0-again
    debian: bookworm
    python: "3.11"
    numpy: "2.0.2"
    cpu_isa: avx2
"""


def tags_of_content(client: docker.DockerClient, tag: str) -> dict[str, str]:
    """Every environment tag of the content that `tag` ends with → its image id."""
    content = tag.rsplit("-", 1)[1]
    return {
        found: str(image.id)
        for image in client.images.list(name=images.ENV_REPOSITORY)
        for found in image.tags
        if found.endswith(f"-{content}")
    }


def built_tags(logs: Path) -> list[str]:
    """The tags whose build reached `docker build`, from their build logs."""
    return [
        log.name.removesuffix(".log").replace("_", ":", 1)
        for log in logs.rglob(f"{images.ENV_REPOSITORY}_*.log")
        if "docker build from" in log.read_text(encoding="utf-8")
    ]


@pytest.mark.docker
def test_builds_side_by_side_make_one_image_of_one_content_and_tag_it_for_the_other(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    """Two environments of one content, two builds at once: without a lock on the content both
    would build it; with it one builds and the other, having waited, tags the same image."""
    matrix_file = new_identity_matrix(tmp_path, first_step="RUN sleep 5", environments=SAME_CONTENT_TWICE)
    results = tmp_path / "results"
    assert (
        images_job(Options(config=matrix_file, results=results, build_jobs=2), Output(env={}), os.environ)
        == 0
    )
    [tag] = built_tags(results / "build-logs")
    found = tags_of_content(docker_client, tag)
    try:
        assert sorted(name.split(":")[1].rsplit("-", 1)[0] for name in found) == [
            "bookworm-np2.0",
            "bookworm-np2.0-again",
        ]
        assert len(set(found.values())) == 1
    finally:
        for name in found:
            docker_client.images.remove(name, force=True)


@pytest.mark.docker
def test_a_build_gives_up_when_the_runner_is_stopping(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    """Ctrl-C or SIGTERM while builds run side by side: each build in flight stops at its next
    step instead of holding the runner until its image is done."""
    matrix = load_matrix(new_identity_matrix(tmp_path, first_step="RUN sleep 30"))
    stopping = settings(tmp_path)

    def stop_once_building(text: str) -> None:  # Ctrl-C as `docker build` starts
        if text.startswith("building "):
            stopping.stopping.set()

    started = time.monotonic()
    outcome = images.ensure_environment_image(
        docker_client, matrix, matrix.environments[0], stopping, progress=stop_once_building
    )
    assert outcome.status is BuildStatus.FAILED
    assert outcome.error is not None
    assert "failed: interrupted" in outcome.error
    assert time.monotonic() - started < 30  # it did not wait for the slow step
    [tag] = built_tags(tmp_path)
    # The engine may finish a build its client left; it tags only a finished image.
    for name in tags_of_content(docker_client, tag):
        docker_client.images.remove(name, force=True)
    # A build that waited for that one, or starts now, does not begin.
    again = images.ensure_environment_image(
        docker_client, matrix, matrix.environments[0], stopping, progress=pytest.fail
    )
    assert again.error is not None
    assert again.error.endswith("failed: interrupted")


@pytest.mark.docker
@pytest.mark.slow
def test_a_base_made_twice_from_the_same_archive_has_one_content(tmp_path: Path) -> None:
    # What lets two CPU shards that each make the base on a cold start share their images.
    client = container.connect()
    recipe = DebianRecipe(
        variant="essential", include=("ca-certificates",), mirror="http://deb.debian.org/debian"
    )
    tag = debian.base_tag("bookworm", recipe)
    contents = []
    for _ in range(2):
        with contextlib.suppress(NotFound):
            client.images.remove(tag, force=True)
        base = debian.ensure_base(client, "bookworm", recipe, mirror=None, logs_dir=tmp_path, progress=print)
        contents.append((base.id, images.base_content(base)))
    client.images.remove(tag, force=True)
    (first_id, first_content), (second_id, second_content) = contents
    assert first_id != second_id  # the import time is in the id ...
    assert first_content == second_content  # ... and not in the content
