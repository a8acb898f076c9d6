"""The command line: user mistakes end in one clear message and an exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def seedmatrix(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seedmatrix", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        check=False,
    )


def test_a_bad_matrix_file_exits_2_with_the_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "matrix.yaml"
    bad.write_text("repeats: 3\nenvironments: []\ncases: []\nextra: 1\n", encoding="utf-8")
    finished = seedmatrix("matrix", "--config", str(bad))
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert "matrix.yaml:2: environments: List should have at least 1 item" in finished.stderr
    assert "matrix.yaml:4: extra: unknown key 'extra'" in finished.stderr


def test_no_engine_gives_one_message_on_how_to_start_it() -> None:
    finished = seedmatrix("matrix", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert finished.returncode == 3
    assert "Traceback" not in finished.stderr
    assert "cannot reach the Docker engine" in finished.stderr
    assert "bash scripts/engine start" in finished.stderr


def test_report_on_a_missing_run_is_explained(tmp_path: Path) -> None:
    finished = seedmatrix("report", str(tmp_path / "nothing"))
    assert finished.returncode == 5
    assert "no such results directory" in finished.stderr


def test_an_unknown_environment_selection_is_a_usage_error() -> None:
    finished = seedmatrix("images", "--environment", "py3.11-np2.0-tf2.81")
    assert finished.returncode == 2
    assert "did you mean 'py3.11-np2.0-tf2.18'?" in finished.stderr


def test_a_bad_shard_is_a_usage_error_without_a_traceback() -> None:
    finished = seedmatrix("matrix", "--shard", "3/2")
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert "--shard: '3/2' is not a shard; write i/n" in finished.stderr
