"""The command line: user mistakes end in one clear message and an exit code, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from seedmatrix.errors import ResultsError
from seedmatrix.options import Options, from_stored, matrix_command, stored
from seedmatrix.plan import Selection

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


def test_detach_without_a_slurm_environment_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(
        f"environments:\n  - name: here\n    host_python: {sys.executable}\n    python: '3.11'\n"
        f"cases:\n  - name: c\n    script: {ROOT / 'seeds' / 'seed_random.py'}\n",
        encoding="utf-8",
    )
    finished = seedmatrix("matrix", "--config", str(config), "--results", str(tmp_path), "--detach")
    assert finished.returncode == 2, finished.stderr
    assert "--detach: no selected environment runs on Slurm" in finished.stderr
    assert not any(tmp_path.glob("*/records"))  # refused before a run directory was made


def test_collect_names_the_run_and_what_it_lacks(tmp_path: Path) -> None:
    missing = seedmatrix("collect", str(tmp_path / "nothing"))
    assert (missing.returncode, missing.stderr.strip()) == (
        5,
        f"error: {tmp_path / 'nothing'}: no such results directory",
    )
    local = tmp_path / "20261203T120000.000000Z-abcdef"
    (local / "records").mkdir(parents=True)
    not_slurm = seedmatrix("collect", str(local))
    assert not_slurm.returncode == 5
    assert f"{local}: not a Slurm run (no slurm/ directory: it submitted no task)" in not_slurm.stderr
    (local / "slurm").mkdir()
    no_options = seedmatrix("collect", str(local))
    assert no_options.returncode == 5
    assert f"{local}: no options.json, so the options it ran with are unknown" in no_options.stderr
    assert "Traceback" not in missing.stderr + not_slurm.stderr + no_options.stderr


def test_a_runs_options_come_back_whole_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    asked = Options(
        config=Path("m.yaml"), results=Path("out"), memory="8g", fresh=True, detach=True,
        resume=Path("out/run"), selection=Selection(environments=("a", "b"), device="cpu", shard=(2, 3)),
    )  # fmt: skip
    kept = from_stored(stored(asked), source=tmp_path / "options.json")
    assert kept == replace(
        asked, config=tmp_path / "m.yaml", results=tmp_path / "out", resume=None, detach=False,
        selection=replace(asked.selection, environments=["a", "b"], cases=[]),
    )  # fmt: skip
    assert matrix_command(replace(kept, resume=Path("/r/run"))) == (
        f"seedmatrix matrix --config {tmp_path}/m.yaml --results {tmp_path}/out --memory 8g --resume "
        "/r/run --fresh --environment a --environment b --device cpu --shard 2/3"
    )
    with pytest.raises(
        ResultsError, match=r"options.json: not the options of a run this seedmatrix can read"
    ):
        from_stored(b'{"config": 3}', source=tmp_path / "options.json")


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        ({"unknown": 1}, "not the options of a run this seedmatrix can read (1 problems, first: unknown:"),
        ({"jobs": -1}, "--jobs: must be at least 1, not -1"),
        ({"build_jobs": 0}, "--build-jobs: must be at least 1, not 0"),
        ({"memory": "lots"}, "--memory: 'lots' is not a memory size"),
        ({"debian_base": "ftp"}, "--debian-base: 'ftp' is not one of archive, image"),
        ({"selection": {"device": "tpu"}}, "--device: 'tpu' is not one of cpu, gpu"),
        ({"selection": {"platforms": ["linux/s390x"]}}, "--platform: 'linux/s390x' is not one of"),
        ({"selection": {"shard": [3, 2]}}, "--shard: '3/2' is not a shard"),
        ({"detach": True}, "resume and detach say how one process ran"),
        ({"resume": "/r/run"}, "resume and detach say how one process ran"),
    ],
)
def test_stored_options_are_checked_as_the_command_line_checks_them(
    tmp_path: Path, changed: dict[str, object], said: str
) -> None:
    """options.json is read by `collect` without the command line's checks: a file edited by hand
    (or not written by `stored`) is refused with the option named, not run with a bad value."""
    written = json.loads(stored(Options(config=tmp_path / "m.yaml", results=tmp_path / "out")))
    with pytest.raises(ResultsError, match=re.escape(f"options.json: {said}")):
        from_stored(json.dumps({**written, **changed}).encode(), source=tmp_path / "options.json")


@pytest.mark.parametrize("memory", ["lots", "0g", "4", "4gb", "1.5g"])
def test_a_memory_size_the_engine_would_not_take_is_a_usage_error(tmp_path: Path, memory: str) -> None:
    finished = seedmatrix("matrix", "--config", str(tmp_path / "m.yaml"), "--memory", memory)
    assert finished.returncode == 2
    assert f"--memory: {memory!r} is not a memory size" in finished.stderr
    assert "Traceback" not in finished.stderr
