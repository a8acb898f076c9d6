"""A runner killed outright (SIGKILL: a CI system's last word, the OOM killer): nothing leaks for long,
the stopped run is found and finished, and no half-built image is ever used.

Each test ends with no container of seedmatrix on the engine (`docker ps -a` empty of them).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from seedmatrix.backends.docker.container import RUN_LABEL
from seedmatrix.results import Build

from conftest import new_identity_matrix
from test_faults import DATA, command, environment, leftovers, seedmatrix, start_slow_run, wait_for_records

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def ours(client: docker.DockerClient) -> list[Any]:
    """Every container seedmatrix made, of any run."""
    return list(client.containers.list(all=True, filters={"label": RUN_LABEL}))


def killed_mid_run(results: Path) -> Path:
    """A slow run, killed with SIGKILL once a record is in and the next repeat's container runs."""
    process = start_slow_run(results)
    run = wait_for_records(results, 1, process)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return run


def test_sigkill_mid_run_then_an_unrelated_run_sweeps_and_resume_finishes_it(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    run = killed_mid_run(results)
    assert (results / "latest").resolve() == run.resolve()  # the newest run, though it never finished
    assert leftovers(docker_client, run.name), "the killed run should have left its running container behind"
    kept = {p.name: p.read_bytes() for p in (run / "records").glob("*.json")}
    assert 1 <= len(kept) < 4

    unrelated = seedmatrix("matrix", "--config", str(DATA / "small.yaml"), "--results", str(results))
    assert unrelated.returncode == 0, unrelated.stderr
    assert "removed containers that stopped runs left behind" in unrelated.stderr
    assert leftovers(docker_client, run.name) == []
    assert (results / "latest").resolve().name != run.name  # latest: the newest run, the unrelated one

    resumed = seedmatrix("matrix", "--config", str(DATA / "slow.yaml"), "--results", str(results), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"({len(kept)} already done)" in resumed.stderr
    records = {p.name: p.read_bytes() for p in (run / "records").glob("*.json")}
    assert len(records) == 4
    assert all(records[name] == content for name, content in kept.items())  # finished cells untouched
    data = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert data["state"] == "finished"
    assert sorted(r["repeat"] for r in data["records"]) == [1, 2, 3, 4]  # every repeat once
    assert len({r["ran_on"] for r in data["records"]}) == 1
    assert ours(docker_client) == []


def test_resume_after_sigkill_refuses_when_the_image_changed(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    run = killed_mid_run(results)
    record_file = next((run / "records").glob("*.json"))
    record = json.loads(record_file.read_text(encoding="utf-8"))
    record["ran_on"] = "sha256:" + "0" * 64  # as if the image had been rebuilt since
    record_file.write_text(json.dumps(record), encoding="utf-8")
    before = {path.name: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    resumed = seedmatrix("matrix", "--config", str(DATA / "slow.yaml"), "--results", str(results), "--resume")
    assert resumed.returncode == 5, resumed.stderr
    assert f"cannot resume run {run.name}: bookworm-np2.0 ran on sha256:000" in resumed.stderr
    after = {
        path.name: path.read_bytes() for path in run.rglob("*") if path.is_file() and path.name != ".lock"
    }
    assert after == {name: data for name, data in before.items() if name != ".lock"}  # nothing rewritten
    assert "Traceback" not in resumed.stderr
    assert ours(docker_client) == []  # the refused resume still swept the killed run's containers


def test_sigkill_while_an_image_builds_leaves_no_half_tagged_image(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    # The shipped Dockerfile with a slow first step: time to kill the runner mid-build.
    matrix = new_identity_matrix(tmp_path, first_step="RUN sleep 20")
    results = tmp_path / "results"
    building = subprocess.Popen(
        command("matrix", "--config", str(matrix), "--results", str(results)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    deadline = time.monotonic() + 120
    log_dir = results / "build-logs"
    while time.monotonic() < deadline and not any(
        "docker build from" in p.read_text(encoding="utf-8") for p in log_dir.glob("seedmatrix-env_*.log")
    ):
        assert building.poll() is None
        time.sleep(0.2)
    time.sleep(3)  # inside the slow step
    building.send_signal(signal.SIGKILL)
    building.communicate(timeout=60)
    [log] = log_dir.glob("seedmatrix-env_*.log")
    tag = log.name.removesuffix(".log").replace("_", ":", 1)
    # The engine may finish a build its client left, but it tags only a finished image; never a half one.
    deadline = time.monotonic() + 60
    assert small_image.image_id is not None
    base: dict[str, str | list[str] | bool] = {"ancestor": small_image.image_id}
    while time.monotonic() < deadline and docker_client.containers.list(all=True, filters=base):
        time.sleep(1)
    images = docker_client.images.list(name=tag.split(":")[0])
    tagged = [image for image in images if tag in image.tags]
    for image in tagged:  # if it exists, it is whole: the venv with its pins is there
        probe = docker_client.containers.run(
            str(image.id), ["/opt/seedmatrix/bin/python", "-c", "import numpy"], remove=True
        )
        assert probe == b""

    again = seedmatrix("matrix", "--config", str(matrix), "--results", str(results))
    assert again.returncode == 0, again.stderr
    data = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))
    assert data["environments"][0]["build"]["tag"] == tag
    assert data["environments"][0]["build"]["observed"]["frameworks"]["numpy"] == "2.0.2"
    assert all(record["status"] == "ok" for record in data["records"])
    docker_client.images.remove(tag, force=True)
    assert ours(docker_client) == []
