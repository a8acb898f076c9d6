"""seedmatrix installed from a built wheel, run on a project outside this repository.

A team keeps only its matrix.yaml (and its own code): the Dockerfile, the base recipe, the launcher,
the recorder and the probe come with the installed package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import docker
import pytest

from seedmatrix.backends.docker.wheels import CA_BUNDLE_VARIABLES
from seedmatrix.results import Build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with seedmatrix installed from a wheel built from this checkout."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(work / "dist"),
            str(ROOT),
        ],
        check=True,
        timeout=600,
    )
    [wheel] = (work / "dist").glob("seedmatrix-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=600)
    return work / "venv" / "bin" / "seedmatrix"


def test_the_example_project_runs_outside_this_repository(
    docker_client: docker.DockerClient, small_image: Build, installed: Path, tmp_path: Path
) -> None:
    team = tmp_path / "team-repository"
    shutil.copytree(ROOT / "examples" / "own-project", team)
    assert ROOT not in team.resolve().parents
    finished = subprocess.run(
        [
            str(installed),
            "matrix",
            "--config",
            str(team / "matrix.yaml"),
            "--environment",
            "py3.11-tf2.18",
            "--case",
            "train_1cpu",
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        cwd=team,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            # A team's machine behind a TLS-intercepting proxy names its CA bundle the same way.
            **{name: os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)},
        },
        check=False,
        timeout=1800,
    )
    # The baseline's bits come from this project's machine. Another CPU may compute other ones; then
    # the example's gate (fail_on_change) exits 1 and says so, which is what it is for.
    gated = "changed against the baseline (fail_on_change)" in finished.stderr
    assert finished.returncode == (1 if gated else 0), finished.stderr[-4000:]
    data = json.loads((tmp_path / "results" / "latest" / "results.json").read_text(encoding="utf-8"))
    assert [record["status"] for record in data["records"]] == ["ok"] * 3
    labels = {value["label"] for value in data["records"][0]["values"]}
    assert {"loss per epoch", "test accuracy", "outputs/metrics.json:/accuracy"} <= labels
    assert any(label.startswith("outputs/model.weights.h5:") for label in labels)
    matrix = (tmp_path / "results" / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "**Baseline:** against run" in matrix
    assert re.search(r"\): 1 (unchanged|changed)\.", matrix)  # compared with the baseline's cell
