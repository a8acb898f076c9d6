"""A team's own project in real containers: installed packages, a lock file with hashes, a local
project built into the image; arguments, a read-only working directory and data, outputs, limits."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest

from seedmatrix.backends.docker import images
from seedmatrix.config import load_matrix
from seedmatrix.results import Build, BuildStatus

from conftest import build_settings
from test_faults import seedmatrix

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IDNA_HASH = "sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"  # idna-3.10 wheel

TRAIN = """
import json, os, sys
import numpy as np
from recording import show
show("args", sys.argv[1:])
show("cwd", os.getcwd())
with open("/data/input.csv") as stream:
    show("data", stream.read().strip())
import errno
try:
    open("/data/input.csv", "a").write("x")
    show("data write", "ALLOWED")
except OSError as error:
    show("data write", errno.errorcode[error.errno])
try:
    open("written-here.txt", "w").write("x")
    show("workdir write", "ALLOWED")
except OSError as error:
    show("workdir write", errno.errorcode[error.errno])
for mount in ("/tmp", "/dev/shm", os.environ["SEEDMATRIX_OUTPUTS"]):
    stat = os.statvfs(mount)
    show(f"size of {mount} (MiB)", stat.f_blocks * stat.f_frsize // (1 << 20))
import helper
show("helper", helper.VALUE)
out = os.environ["SEEDMATRIX_OUTPUTS"]
np.savez(os.path.join(out, "model.npz"), weights=np.arange(3, dtype=np.float32))
json.dump({"loss": 0.25}, open(os.path.join(out, "metrics.json"), "w"))
"""


def write_project(root: Path) -> Path:
    project = root / "project"
    (project / "src" / "proj").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "proj"\nversion = "0.1.0"\ndependencies = ["idna"]\n',
        encoding="utf-8",
    )
    (project / "src" / "proj" / "__init__.py").write_text("ANSWER = 42\n", encoding="utf-8")
    (project / "train.py").write_text(TRAIN, encoding="utf-8")
    (project / "helper.py").write_text("VALUE = 7\n", encoding="utf-8")
    (root / "input.csv").write_text("1,2,3\n", encoding="utf-8")
    (root / "input.csv").chmod(0o666)  # writable for anyone: only the read-only mount can refuse
    project.chmod(0o777)
    (root / "requirements.txt").write_text(f"idna==3.10 --hash={IDNA_HASH}\n", encoding="utf-8")
    return project


# The images these tests build carry this environment name; they are removed before and after.
TEST_ENVIRONMENT = "seedmatrix-test-project"


@pytest.fixture(scope="module", autouse=True)
def no_project_images_left(docker_client: docker.DockerClient) -> Iterator[None]:
    def remove_all() -> None:
        for image in docker_client.images.list(name="seedmatrix-env"):
            for tag in image.tags:
                if tag.startswith(f"seedmatrix-env:{TEST_ENVIRONMENT}-"):
                    docker_client.images.remove(tag, force=True)

    remove_all()  # a tag left by an interrupted session would make a fresh build look cached
    yield
    remove_all()


def matrix(root: Path, **case: Any) -> Path:
    write_project(root)
    settings = {
        "script": "project/train.py",
        "args": ["--epochs", "2"],
        "data": {"input.csv": "/data/input.csv"},
        "outputs": ["model.npz", "metrics.json"],
        "tmp_mb": 32,
        "shm_mb": 16,
        "outputs_mb": 8,
        "claims": {"stable": ["*"]},
        **case,
    }
    path = root / "matrix.yaml"
    path.write_text(
        json.dumps(
            {
                "repeats": 2,
                "environments": [
                    {
                        "name": TEST_ENVIRONMENT,
                        "debian": "bookworm",
                        "python": "3.11",
                        "numpy": "2.0.2",
                        "packages": ["six==1.16.0"],
                        "requirements": "requirements.txt",
                        "install": "project",
                    }
                ],
                "cases": [{"name": "train", **settings}],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_a_project_image_holds_its_pins_lock_file_and_project(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    loaded = load_matrix(matrix(tmp_path))
    settings = build_settings(tmp_path / "logs", tmp_path / "cache", run_id="test-project-image")
    # Its own wheel cache: the shared one may hold the edited project's wheel from an earlier session.
    (tmp_path / "wheels").mkdir()
    settings = replace(settings, fetching=replace(settings.fetching, cache=tmp_path / "wheels"))
    build = images.ensure_environment_image(
        docker_client, loaded, loaded.environments[0], settings, progress=print
    )
    try:
        assert build.status is BuildStatus.BUILT, build.error
        assert build.observed is not None
        freeze = set(build.observed.pip_freeze)
        assert {"six==1.16.0", "idna==3.10", "proj==0.1.0", "numpy==2.0.2"} <= freeze
        again = images.ensure_environment_image(
            docker_client, loaded, loaded.environments[0], settings, progress=print
        )
        assert (again.status, again.tag) == (BuildStatus.CACHED, build.tag)  # unchanged: found, not rebuilt
        (tmp_path / "project" / "src" / "proj" / "__init__.py").write_text("ANSWER = 43\n", encoding="utf-8")
        said: list[str] = []
        edited = load_matrix(tmp_path / "matrix.yaml")
        rebuilt = images.ensure_environment_image(
            docker_client, edited, edited.environments[0], settings, progress=said.append
        )
        assert rebuilt.status is BuildStatus.BUILT, rebuilt.error
        assert rebuilt.tag != build.tag  # a changed source file: a new image
        assert [line for line in said if line.startswith("building a wheel of")]
        assert not [line for line in said if line.startswith("fetching wheels")]  # the pins' wheels are kept
    finally:
        for made in (build, locals().get("rebuilt")):
            if isinstance(made, Build) and made.tag:
                docker_client.images.remove(made.tag, force=True)


def test_a_wrong_hash_in_the_lock_file_fails_that_build_with_its_log(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    path = matrix(tmp_path)
    (tmp_path / "requirements.txt").write_text(
        "idna==3.10 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8"
    )
    loaded = load_matrix(path)
    settings = build_settings(tmp_path / "logs", tmp_path / "cache", run_id="test-project-hash")
    build = images.ensure_environment_image(
        docker_client, loaded, loaded.environments[0], settings, progress=print
    )
    assert build.status is BuildStatus.FAILED
    assert build.log is not None
    assert f"fetching wheels for {TEST_ENVIRONMENT} failed" in (build.error or "")
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in Path(build.log).read_text(encoding="utf-8")


def test_a_case_runs_with_its_arguments_read_only_data_outputs_and_limits(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    finished = seedmatrix("matrix", "--config", str(matrix(tmp_path)), "--results", str(results))
    data = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))
    record = data["records"][0]
    values = {value["label"]: value["values"] for value in record["values"]}
    assert finished.returncode == 0, finished.stderr + json.dumps(record)[:3000]
    assert values["args"] == ["--epochs", "2"]
    assert values["cwd"] == ["/work"]
    assert values["data"] == ["1,2,3"]
    assert values["data write"] == ["EROFS"]  # a read-only mount, though the file is writable by anyone
    assert values["workdir write"] == ["EROFS"]
    assert values["size of /tmp (MiB)"] == [32]
    assert values["size of /dev/shm (MiB)"] == [16]
    assert values["size of /outputs (MiB)"] == [8]
    assert values["helper"] == [7]  # modules beside the script import
    assert values["outputs/model.npz:weights"] == [0.0, 1.0, 2.0]
    assert values["outputs/metrics.json:/loss"] == [0.25]
    matrix_md = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "| `outputs/model.npz:weights` | ✅ `[0.0, 1.0, 2.0]` |" in matrix_md


def test_an_output_that_is_too_big_is_a_visible_failure(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    path = matrix(tmp_path, outputs_mb=1)
    script = tmp_path / "project" / "train.py"
    script.write_text(
        script.read_text(encoding="utf-8")
        + textwrap.dedent(
            """
            try:
                open(os.path.join(out, "huge.bin"), "wb").write(b"x" * (4 << 20))
            except OSError as error:
                show("huge", type(error).__name__)
            """
        ),
        encoding="utf-8",
    )
    results = tmp_path / "results"
    seedmatrix("matrix", "--config", str(path), "--results", str(results))
    data = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))
    values = {value["label"]: value["values"] for value in data["records"][0]["values"]}
    assert values["huge"] == ["OSError"]  # the outputs tmpfs is full: the write itself fails
