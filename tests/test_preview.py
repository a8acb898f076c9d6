"""`seedmatrix plan` (with and without an engine) and `seedmatrix prune --dry-run`, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from seedmatrix.results import Build

from test_faults import latest, seedmatrix

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.yaml"


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seedmatrix", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **env},
        check=False,
        timeout=300,
    )


def test_plan_without_an_engine_says_what_it_could_not_check(tmp_path: Path) -> None:
    finished = cli(
        "plan", "--config", str(SMALL), "--results", str(tmp_path), DOCKER_HOST="unix:///nonexistent.sock"
    )
    assert finished.returncode == 0, finished.stderr
    assert "no Docker engine reachable" in finished.stderr
    assert "bookworm-np2.0: unknown (no engine: cannot tell what is built)" in finished.stdout
    assert "bookworm-np2.0 / seed_numpy: run 2 time(s) once its image is built" in finished.stdout
    assert "seed_tensorflow1" not in finished.stdout  # not applicable: no cell at all


@pytest.mark.docker
def test_plan_finds_the_images_and_after_a_run_reuses_its_cells(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    before = cli(
        "plan", "--config", str(SMALL), "--results", str(tmp_path), "--environment", "bookworm-np2.0"
    )
    assert before.returncode == 0, before.stderr
    assert f"bookworm-np2.0: found ({small_image.tag})" in before.stdout
    assert "bookworm-np2.0 / seed_random: run 2 time(s)" in before.stdout
    ran = seedmatrix(
        "matrix", "--config", str(SMALL), "--results", str(tmp_path), "--environment", "bookworm-np2.0"
    )
    assert ran.returncode == 0, ran.stderr
    run_id = (tmp_path / "latest").resolve().name
    after = cli("plan", "--config", str(SMALL), "--results", str(tmp_path), "--environment", "bookworm-np2.0")
    assert f"bookworm-np2.0 / seed_random: reuse the records of run {run_id}" in after.stdout
    runs = [path for path in tmp_path.iterdir() if path.name[:1].isdigit()]
    assert [path.name for path in runs] == [run_id]  # plan itself ran nothing and wrote no run


@pytest.mark.docker
def test_prune_dry_run_lists_exactly_seedmatrix_leftovers_and_removes_nothing(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    assert small_image.tag is not None
    image = docker_client.images.get(small_image.tag)
    image.tag("seedmatrix-env", "left-behind-0123456789ab")
    image.tag("someone-else/image", "keep")
    wheels = tmp_path / "wheels"
    for complete in (wheels / "0123456789ab", wheels / "projects" / "ba9876543210"):
        complete.mkdir(parents=True)
        (complete / ".complete").touch()
    (wheels / "fedcba987654").mkdir()  # a fetch still under way: not finished, not seedmatrix's to remove
    (wheels / "Documents").mkdir()  # the cache may point anywhere: only seedmatrix's own are removed
    try:
        finished = cli("prune", "--dry-run", str(SMALL), SEEDMATRIX_WHEEL_CACHE=str(wheels))
        assert finished.returncode == 0, finished.stderr
        listed = finished.stdout.splitlines()
        assert "would remove image seedmatrix-env:left-behind-0123456789ab" in listed
        assert f"would remove image {small_image.tag}" not in listed  # the small matrix uses it
        assert not [line for line in listed if "someone-else" in line]  # never another image
        assert f"would remove wheel cache {wheels / '0123456789ab'}" in listed
        assert f"would remove wheel cache {wheels / 'projects' / 'ba9876543210'}" in listed
        assert all(line.startswith("would remove ") for line in listed)
        assert not [line for line in listed if "fedcba987654" in line or "Documents" in line]
        docker_client.images.get("seedmatrix-env:left-behind-0123456789ab")  # still there
        assert (wheels / "0123456789ab").is_dir()
    finally:
        docker_client.images.remove("seedmatrix-env:left-behind-0123456789ab")
        docker_client.images.remove("someone-else/image:keep")


@pytest.mark.docker
def test_a_fresh_results_directory_reuses_unchanged_cells_from_another_runs_results(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    first = seedmatrix("matrix", "--config", str(SMALL), "--results", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    origin = (tmp_path / "a" / "latest").resolve()
    # Another machine: nothing cached, only the earlier run's results.json (a CI artifact, say).
    artifact = tmp_path / "artifact" / "results.json"
    artifact.parent.mkdir()
    artifact.write_bytes((origin / "results.json").read_bytes())
    second = seedmatrix(
        "matrix", "--config", str(SMALL), "--results", str(tmp_path / "b"), "--reuse-from", str(artifact)
    )
    assert second.returncode == 0, second.stderr
    assert f"reusing 4 records of run {origin.name}" in second.stderr
    assert "runs 1/" not in second.stderr  # no container ran
    data = latest(tmp_path / "b")
    assert {record["reused_from"] for record in data["records"]} == {origin.name}
    assert len(data["records"]) == 4
    assert "♻️ 4 of 4 records were reused" in (tmp_path / "b" / "latest" / "MATRIX.md").read_text(
        encoding="utf-8"
    )
    # A changed script is a changed cell: nothing of it is reused.
    changed = tmp_path / "changed.yaml"
    script = tmp_path / "seed_random.py"
    script.write_text((ROOT / "seeds" / "seed_random.py").read_text(encoding="utf-8") + "\n# changed\n")
    tmp_path.chmod(0o755)  # the script's directory is mounted for the container's user
    changed.write_text(
        SMALL.read_text(encoding="utf-8")
        .replace("../../seeds/seed_random.py", str(script))
        .replace("../../seeds/", str(ROOT / "seeds") + "/"),
        encoding="utf-8",
    )
    third = seedmatrix(
        "matrix", "--config", str(changed), "--results", str(tmp_path / "c"), "--reuse-from", str(artifact)
    )
    assert third.returncode == 0, third.stderr
    reused = {(r["case"], r["reused_from"]) for r in latest(tmp_path / "c")["records"]}
    assert reused == {("seed_random", None), ("seed_numpy", origin.name)}


@pytest.mark.docker
def test_plan_says_a_run_would_pull_from_the_registry_what_the_engine_lacks(tmp_path: Path) -> None:
    # An environment nobody built (its own pins): without a registry it is built; with one (the
    # command line's, as a run would take it) it is pulled from there when the registry has it.
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        "environments:\n"
        "  - {name: never-built, debian: bookworm, python: '3.11', packages: ['six==1.16.0']}\n"
        f"cases: [{{name: c, script: {ROOT / 'seeds' / 'seed_random.py'}}}]\n",
        encoding="utf-8",
    )
    alone = cli("plan", "--config", str(matrix), "--results", str(tmp_path / "results"))
    assert alone.returncode == 0, alone.stderr
    assert "  never-built: build (seedmatrix-env:never-built-" in alone.stdout
    results = str(tmp_path / "results")
    shared = cli("plan", "--config", str(matrix), "--results", results, "--registry", "r.test/x")
    assert shared.returncode == 0, shared.stderr
    assert "  never-built: pull or build (r.test/x/seedmatrix-env:never-built-" in shared.stdout
    assert "if the registry has it, else built)" in shared.stdout
