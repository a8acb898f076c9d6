"""`seedmatrix bisect` on a real engine: probes built (or found) like any image, run with their
repeats, compared bit for bit; BISECT.md, bisect.json and the records in the run directory."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import docker
import pytest

from seedmatrix.results import Build

from test_faults import command, environment, leftovers, seedmatrix

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MATRIX = Path(__file__).parent / "data" / "bisect.yaml"
ENVIRONMENT = "bookworm-np2.0"  # small.yaml's image: the good end's probe finds it


def bisect(results: Path, *arguments: str) -> tuple[int, str, dict[str, Any], Path]:
    finished = seedmatrix(
        "bisect", "--matrix", str(MATRIX), "--results", str(results), "-e", ENVIRONMENT, "--package", "numpy",
        *arguments,
    )  # fmt: skip
    run = (results / "bisect" / "latest").resolve()
    report: dict[str, Any] = json.loads((run / "bisect.json").read_text(encoding="utf-8"))
    return finished.returncode, finished.stderr, report, run


def test_a_frozen_stream_is_unchanged_between_adjacent_releases_in_two_probes(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    # NEP 19 freezes the legacy RandomState stream: every label is the same at both ends.
    status, stderr, report, run = bisect(
        tmp_path, "--case", "seed_numpy", "--good", "2.0.2", "--bad", "2.1.0"
    )
    assert status == 0, stderr
    assert "probe 1: numpy 2.0.2" in stderr
    assert "probe 2: numpy 2.1.0" in stderr
    assert [tried["version"] for tried in report["tried"]] == ["2.0.2", "2.1.0"]
    assert report["tried"][0]["build"] == "cached"  # the matrix's own image, found by its content
    assert all(tried["runs"] == 2 for tried in report["tried"])  # the matrix's repeats
    assert report["labels"]
    assert {v["answer"] for v in report["verdicts"]} == {"unchanged"}
    assert all(found["outcome"] == "same" for tried in report["tried"] for found in tried["labels"].values())
    records = sorted(path.name for path in (run / "records").iterdir())
    assert records == [
        f"{ENVIRONMENT}-numpy-{version}@seed_numpy@{repeat}.json"
        for version in ("2.0.2", "2.1.0")
        for repeat in (1, 2)
    ]
    assert "| 2.1.0 | " in (run / "BISECT.md").read_text(encoding="utf-8")
    assert leftovers(docker_client, report["run_id"]) == []


def test_a_changed_sum_is_placed_between_a_same_and_a_changed_probe(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    """Whatever release it is, the answer must lie just after a probe that said 'same', at a probe
    that said 'changed', with only untestable releases between (the matrix shows that NumPy 2.4.6
    sums these float32 values differently from 2.0.2)."""
    status, stderr, report, _ = bisect(
        tmp_path, "--case", "numpy_sums", "--label", "float32 sum", "--good", "2.0.2", "--bad", "2.4.6"
    )
    (found,) = report["verdicts"]
    assert found["answer"] in {"found", "ambiguous"}, stderr
    assert status == (0 if found["answer"] == "found" else 1)
    versions = [candidate["version"] for candidate in report["candidates"]]
    last_same, candidates = found["last_same"], found["candidates"]
    after = versions.index(last_same) + 1
    assert versions[after : after + len(candidates)] == candidates
    outcome = {
        tried["version"]: (tried["untested"] or tried["labels"]["float32 sum"])["outcome"]
        for tried in report["tried"]
    }
    assert outcome[last_same] == "same"
    assert outcome[candidates[-1]] == "changed"
    assert all(outcome[version] not in {"same", "changed"} for version in candidates[:-1])
    testable = [candidate for candidate in report["candidates"] if not candidate["skipped"]]
    assert len(report["tried"]) < len(testable)  # a search, not every release
    assert leftovers(docker_client, report["run_id"]) == []


def test_a_good_end_without_a_wheel_for_the_python_ends_the_bisect_before_any_build(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    # NumPy 1.23.0 has wheels for CPython 3.8-3.10 only; the environment runs 3.11.
    status, stderr, report, run = bisect(
        tmp_path, "--case", "seed_numpy", "--good", "1.23.0", "--bad", "2.0.2"
    )
    assert status == 1
    assert "probe 1: numpy 1.23.0 skipped: no wheel for CPython 3.11" in " ".join(stderr.split())
    (tried,) = report["tried"]  # the bad end is not probed for nothing
    assert tried["version"] == "1.23.0"
    assert tried["build"] == "not built"
    assert tried["untested"]["outcome"] == "skipped"
    assert "no wheel for CPython 3.11" in tried["untested"]["detail"]
    assert report["verdicts"] == []
    assert report["finished"] is True
    assert "Nothing could be compared" in (run / "BISECT.md").read_text(encoding="utf-8")
    assert not (run / "records").exists() or not any((run / "records").iterdir())


def ctrl_c_at(arguments: list[str], marker: str) -> None:
    """Run seedmatrix with `arguments` and send it SIGINT when its stderr shows `marker`: it ends
    with 130."""
    with subprocess.Popen(
        command(*arguments), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment()
    ) as process:
        assert process.stderr is not None
        seen = ""
        for line in process.stderr:
            seen += line
            if marker in line:
                process.send_signal(signal.SIGINT)
                break
        seen += process.stderr.read()
        assert process.wait(timeout=300) == 130, seen


def test_ctrl_c_keeps_the_probes_made_and_resume_continues_without_redoing_them(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    arguments = [
        "bisect", "--matrix", str(MATRIX), "--results", str(tmp_path), "-e", ENVIRONMENT,
        "--package", "numpy", "--case", "seed_numpy", "--good", "2.0.2", "--bad", "2.1.0",
    ]  # fmt: skip
    ctrl_c_at(arguments, "probe 2: numpy 2.1.0")  # the first probe is done and written
    run = (tmp_path / "bisect" / "latest").resolve()
    stopped = json.loads((run / "bisect.json").read_text(encoding="utf-8"))
    assert stopped["finished"] is False
    assert [tried["version"] for tried in stopped["tried"]] == ["2.0.2"]
    assert leftovers(docker_client, stopped["run_id"]) == []

    resumed = seedmatrix(*arguments, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming bisect {stopped['run_id']}: 1 probes done" in resumed.stderr
    assert "numpy 2.0.2" not in resumed.stderr.split("releases from")[1]  # not probed again
    report = json.loads((run / "bisect.json").read_text(encoding="utf-8"))
    assert report["finished"] is True
    assert [tried["version"] for tried in report["tried"]] == ["2.0.2", "2.1.0"]
    assert {verdict["answer"] for verdict in report["verdicts"]} == {"unchanged"}
    assert report["wall_seconds"] >= stopped["wall_seconds"]
    assert seedmatrix(*arguments, "--resume").returncode == 5  # finished: nothing left to resume
