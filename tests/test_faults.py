"""Faults and hostile scripts against a real engine: each is contained and reported, nothing leaks.

Each test runs the real command line in a subprocess, as a user would, on a small matrix file in
tests/data/, and then checks the run's records, report, exit status and leftover containers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker
import pytest

from seedmatrix.backends.docker.container import RUN_LABEL
from seedmatrix.results import Build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "seedmatrix", *args]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **extra}


def seedmatrix(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), capture_output=True, text=True, env=environment(**extra), check=False, timeout=900
    )


def latest(results: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))
    return data


def leftovers(client: docker.DockerClient, run_id: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}))


def test_a_failed_build_a_crash_a_hang_and_an_oom_each_get_their_own_cell(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    finished = seedmatrix(
        "matrix", "--config", str(DATA / "faults.yaml"), "--results", str(results), "--memory", "256m"
    )
    assert finished.returncode == 1, finished.stderr
    assert "Traceback" not in finished.stderr
    data = latest(results)
    impossible = next(env for env in data["environments"] if env["name"] == "impossible")
    assert impossible["build"]["status"] == "failed"
    assert impossible["build"]["log"] in impossible["build"]["error"]
    assert "No matching distribution" in Path(impossible["build"]["log"]).read_text(encoding="utf-8")
    status = {r["case"]: r for r in data["records"] if r["environment"] == "bookworm-np2.0"}
    assert status["fine"]["status"] == "ok"
    assert status["crash"]["status"] == "error"
    assert "ValueError: this seed script crashed on purpose" in status["crash"]["stderr_tail"]
    assert status["hang"]["status"] == "timeout"
    assert status["hang"]["exit_code"] is None
    assert status["memory"]["status"] == "out-of-memory"
    assert not [r for r in data["records"] if r["environment"] == "impossible"]

    matrix = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "| [`fine`](#case-fine) | 1️⃣ A | 🧱 build-failed |" in matrix  # one repeat: not called stable
    assert "| [`crash`](#case-crash) | 💥 error | 🧱 build-failed |" in matrix
    assert "| [`hang`](#case-hang) | ⏱️ timeout | 🧱 build-failed |" in matrix
    assert "| [`memory`](#case-memory) | 🧠 out-of-memory | 🧱 build-failed |" in matrix
    assert "repeat 1 exited 1: ValueError: this seed script crashed on purpose" in matrix
    assert leftovers(docker_client, data["run_id"]) == []


def test_a_hostile_script_is_contained_and_the_matrix_completes(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    seeds_before = sorted(p.name for p in (DATA / "faults").iterdir())
    finished = seedmatrix("matrix", "--config", str(DATA / "hostile.yaml"), "--results", str(results))
    assert finished.returncode == 0, finished.stderr
    data = latest(results)
    hostile = next(r for r in data["records"] if r["case"] == "hostile")
    attempts = {value["label"]: value["values"][0] for value in hostile["values"]}
    allowed = {label: outcome for label, outcome in attempts.items() if str(outcome).startswith("ALLOWED")}
    assert allowed == {}
    assert len(attempts) == 10
    assert attempts["tmpfs write still works"] == 7.0
    assert attempts["tmpfs runs what it writes"] == 7.0
    assert attempts["fork without bound"] == "blocked: BlockingIOError"
    assert hostile["output_capped"] is True
    assert "the script wrote 2,147,4" in hostile["stderr_tail"]
    assert next(r for r in data["records"] if r["case"] == "fine")["status"] == "ok"

    matrix = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "| `network: connect to 1.1.1.1:53` | 1️⃣ `'blocked: OSError'` |" in matrix
    assert "(output capped: the script wrote" in matrix
    assert len(matrix) < 200_000
    assert sorted(p.name for p in (DATA / "faults").iterdir()) == seeds_before
    assert docker_client.ping()
    assert leftovers(docker_client, data["run_id"]) == []


def run_dirs(results: Path) -> list[Path]:
    return [p for p in results.iterdir() if p.is_dir() and not p.is_symlink() and p.name[:1].isdigit()]


def start_slow_run(results: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command("matrix", "--config", str(DATA / "slow.yaml"), "--results", str(results), "--jobs", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(**extra),
    )


def wait_for_records(results: Path, count: int, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for run in run_dirs(results) if results.exists() else []:
            if len(list((run / "records").glob("*.json"))) >= count:
                return run
        time.sleep(0.2)
    pytest.fail(f"no {count} records within 180 s")


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_cleans_up_keeps_its_records_and_resumes(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path, signal_number: int
) -> None:
    results = tmp_path / "results"
    process = start_slow_run(results)
    run = wait_for_records(results, 1, process)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert leftovers(docker_client, run.name) == []
    kept = {p.name: p.read_bytes() for p in (run / "records").glob("*.json")}
    assert 1 <= len(kept) < 4
    interrupted = latest(results)
    assert interrupted["run_id"] == run.name
    assert "⋯ missing" in (run / "MATRIX.md").read_text(encoding="utf-8")

    resumed = seedmatrix(
        "matrix", "--config", str(DATA / "slow.yaml"), "--results", str(results), "--resume", str(run)
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{4 - len(kept)} runs ({len(kept)} already done)" in resumed.stderr
    records = {p.name: p.read_bytes() for p in (run / "records").glob("*.json")}
    assert len(records) == 4
    assert all(records[name] == content for name, content in kept.items())
    final = latest(results)
    assert final["run_id"] == run.name
    assert [r["repeat"] for r in final["records"]] == [1, 2, 3, 4]
    assert "| [`slow`](#case-slow) | ✅ A |" in (run / "MATRIX.md").read_text(encoding="utf-8")


class SocketProxy:
    """A unix-socket proxy to the real engine that can be cut, to lose the engine mid-run."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path, self.target = path, target
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(64)
        self.connections: list[socket.socket] = []
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_off:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off = True
        self.server.close()
        self.path.unlink()
        for connection in self.connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@pytest.fixture
def proxy(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[SocketProxy]:
    server = SocketProxy(tmp_path / "engine.sock")
    yield server
    if not server.cut_off:
        server.cut()


def test_losing_the_engine_mid_run_keeps_the_completed_records(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path, proxy: SocketProxy
) -> None:
    results = tmp_path / "results"
    process = start_slow_run(results, DOCKER_HOST=f"unix://{proxy.path}")
    run = wait_for_records(results, 1, process)
    proxy.cut()
    _, stderr = process.communicate(timeout=120)
    try:
        assert process.returncode == 3, stderr
        assert "Traceback" not in stderr
        assert "the records completed so far are kept" in stderr
        assert f"seedmatrix matrix --resume {run}" in stderr
        data = latest(results)
        assert 1 <= len(data["records"]) < 4
        assert all(r["status"] == "ok" for r in data["records"])
        assert "⋯ missing" in (run / "MATRIX.md").read_text(encoding="utf-8")
    finally:
        # The engine itself never stopped; what the run could not remove, the label finds.
        for container in leftovers(docker_client, run.name):
            container.remove(force=True)


def test_two_runs_at_the_same_time_do_not_clobber_each_other(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    both = [
        subprocess.Popen(
            command("matrix", "--config", str(DATA / "small.yaml"), "--results", str(results)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        for _ in range(2)
    ]
    for process in both:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    runs = run_dirs(results)
    assert len(runs) == 2
    for run in runs:
        data = json.loads((run / "results.json").read_text(encoding="utf-8"))
        assert data["run_id"] == run.name
        assert len(data["records"]) == 4
        assert len(list((run / "records").glob("*.json"))) == 4
    assert (results / "latest").resolve() in {run.resolve() for run in runs}


def test_gpu_runs_are_skipped_not_failed_on_a_host_without_a_gpu(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    if docker_client.info().get("Runtimes", {}).get("nvidia"):
        pytest.skip("this engine has the NVIDIA runtime; the GPU environment would run")
    results = tmp_path / "results"
    finished = seedmatrix("matrix", "--config", str(DATA / "gpu.yaml"), "--results", str(results))
    assert finished.returncode == 0, finished.stderr
    assert "skipping the GPU environments: no GPU on this host" in finished.stderr
    data = latest(results)
    assert {r["environment"] for r in data["records"]} == {"bookworm-np2.0"}
    [skip] = data["skipped"]
    assert skip["environment"] == "bookworm-np2.0-gpu"
    assert skip["reason"].startswith("no GPU on this host (")
    matrix = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "| [`seed_numpy`](#case-seed-numpy) | 1️⃣ A | ⏭️ skipped |" in matrix
    assert "⏭️ **bookworm-np2.0-gpu**: no GPU on this host" in matrix
