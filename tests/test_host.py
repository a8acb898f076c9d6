"""The host backend: the same cases as fresh processes of a local interpreter, no container.

These tests use no Docker engine at all (DOCKER_HOST points nowhere), which is the point of the
backend. The PyTorch and JAX cases run in a virtual environment made for the test with their CPU
builds (torch 2.13.0 and jax 0.10.2 from the package index).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import venv
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
FAULTS = ROOT / "tests" / "data" / "faults"
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "NO_COLOR": "1", "COLUMNS": "200"}


def matrix_file(tmp_path: Path, python: str, cases: str, *, extra_env: str = "") -> Path:
    path = tmp_path / "matrix.yaml"
    version = subprocess.run(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path.write_text(
        textwrap.dedent(
            f"""\
            repeats: 2
            timeout_seconds: 300
            environments:
              - name: host-cpu
                host_python: {python}
                python: "{version}"
            """
        )
        + extra_env
        + "cases:\n"
        + textwrap.indent(textwrap.dedent(cases), "  "),
        encoding="utf-8",
    )
    return path


def run_matrix(path: Path, results: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    finished = subprocess.run(
        [sys.executable, "-m", "seedmatrix", "matrix", "--config", str(path), "--results", str(results)],
        capture_output=True,
        text=True,
        env={**os.environ, **NO_ENGINE},
        check=False,
        timeout=900,
    )
    data = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))
    return finished, data


def test_host_environments_run_fresh_processes_without_an_engine(tmp_path: Path) -> None:
    cases = f"""\
        - name: seed_random
          script: {SEEDS / "seed_random.py"}
          claims: {{stable: ["*"], equal: {{"4": "1"}}}}
        - name: seed_numpy
          script: {SEEDS / "seed_numpy.py"}
          requires: [numpy]
          claims: {{stable: ["*"]}}
        - name: hash_order
          script: {SEEDS / "seed_python_hash.py"}
          claims: {{varies: ["set order"]}}
        - name: crash
          script: {FAULTS / "crash.py"}
        - name: torch_randn
          script: {SEEDS / "seed_torch_randn.py"}
          requires: [torch]
        """
    finished, data = run_matrix(matrix_file(tmp_path, sys.executable, cases), tmp_path / "results")
    assert finished.returncode == 1, finished.stderr  # the crash case fails the run, nothing else
    assert "Traceback (most recent call last)" not in finished.stderr
    [env] = data["environments"]
    assert env["build"]["status"] == "host"
    assert env["build"]["image_id"] is None
    assert env["build"]["identity"].startswith(f"host:{sys.executable}#")
    assert env["build"]["observed"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert any(line.startswith("numpy==") for line in env["build"]["observed"]["pip_freeze"])
    status = {(r["case"], r["repeat"]): r["status"] for r in data["records"]}
    assert status == {
        ("seed_random", 1): "ok",
        ("seed_random", 2): "ok",
        ("seed_numpy", 1): "ok",
        ("seed_numpy", 2): "ok",
        ("hash_order", 1): "ok",
        ("hash_order", 2): "ok",
        ("crash", 1): "error",
        ("crash", 2): "error",
    }
    assert data["host"]["docker"] == "not used (host environments only)"
    assert env["requested"]["host_python"] == sys.executable
    matrix = (tmp_path / "results" / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "| [`seed_random`](#case-seed-random) | ✅ A ✔ |" in matrix
    assert f"| host `{sys.executable}`, no container |" in matrix
    # a fresh process each; no letter: nothing stable to group
    assert "| [`hash_order`](#case-hash-order) | 🎲 · 1 of 1 vary ✔ |" in matrix
    assert "| [`torch_randn`](#case-torch-randn) | ➖ not-applicable |" in matrix  # no torch here


def test_a_pin_the_host_interpreter_does_not_have_fails_that_environment(tmp_path: Path) -> None:
    path = matrix_file(
        tmp_path, sys.executable, f"- {{name: seed_random, script: {SEEDS / 'seed_random.py'}}}\n"
    )
    path.write_text(
        path.read_text(encoding="utf-8").replace("    python:", '    numpy: "0.0.1"\n    python:')
    )
    finished, data = run_matrix(path, tmp_path / "results")
    assert finished.returncode == 1
    [env] = data["environments"]
    assert env["build"]["status"] == "failed"
    assert "matrix.yaml pins numpy 0.0.1 but" in env["build"]["error"]


@pytest.fixture(scope="module")
def torch_jax_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtual environment with the CPU builds of PyTorch and JAX (made once per test run)."""
    location = tmp_path_factory.mktemp("torch-jax")
    venv.create(location, with_pip=True)
    python = str(location / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "torch==2.13.0", "jax==0.10.2", "numpy"],
        check=True,
        timeout=1200,
    )
    return python


@pytest.mark.slow
def test_pytorch_and_jax_cases_run_on_the_cpu_and_skip_their_gpu_parts(
    tmp_path: Path, torch_jax_python: str
) -> None:
    examples = (ROOT / "examples" / "host" / "matrix.yaml").read_text(encoding="utf-8")
    cases = examples[examples.index("cases:\n") + len("cases:\n") :].replace("../../seeds/", f"{SEEDS}/")
    finished, data = run_matrix(
        matrix_file(tmp_path, torch_jax_python, textwrap.dedent(cases)), tmp_path / "r"
    )
    assert finished.returncode == 0, finished.stderr
    assert "claims: " in finished.stderr
    by_case: dict[str, list[dict[str, Any]]] = {}
    for record in data["records"]:
        by_case.setdefault(record["case"], []).append(record)
    assert set(by_case) >= {"torch_randn", "torch_scatter", "torch_model", "jax_random", "jax_segment_sum"}
    # Every case ran, but CuPy's: that interpreter has none, and the script skips itself, saying so.
    assert all(r["status"] == "ok" for r in data["records"] if r["case"] != "cupy_streams_and_atomics")
    cupy = by_case["cupy_streams_and_atomics"]
    assert {(r["status"], r["skipped"]) for r in cupy} == {
        ("skipped", "CuPy is not installed in this interpreter")
    }
    traced = [v["label"] for v in by_case["torch_trace"][0]["values"]]
    assert traced[:3] == ["[01] 0 (Linear) · output", "[02] 1 (ReLU) · output", "[03] 2 (Linear) · output"]
    assert "[06] loss" in traced
    assert traced[-1] == "[12] 4.bias · gradient"
    assert "device: cpu" in by_case["torch_trace"][0]["output"]
    jax_traced = [v["label"] for v in by_case["jax_trace"][0]["values"]]
    assert jax_traced == [
        "[01] dense_1 output · intermediate",
        "[02] logits · intermediate",
        "[03] loss",
        "[04] ['dense_1']['b'] · gradient",
        "[05] ['dense_1']['w'] · gradient",
        "[06] ['logits']['b'] · gradient",
        "[07] ['logits']['w'] · gradient",
    ]
    torch_labels = {v["label"] for v in by_case["torch_randn"][0]["values"]}
    assert torch_labels == {"cpu randn", "cpu randn after re-seeding"}  # no CUDA here
    assert "cuda randn: skipped, no CUDA device visible" in by_case["torch_randn"][0]["output"]
    assert "gpu samples: skipped, JAX sees no GPU" in by_case["jax_random"][0]["output"]
    assert by_case["torch_randn"][0]["device"]["kind"] in {"CPU", "CPU fallback"}
    assert by_case["jax_random"][0]["device"]["kind"] == "CPU"
    observed = data["environments"][0]["build"]["observed"]["frameworks"]
    assert (observed["torch"].split("+")[0], observed["jax"]) == ("2.13.0", "0.10.2")
    matrix = (tmp_path / "r" / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "**Claims:**" in matrix
    assert "## Surprises" not in matrix


#: The first repeat records at once; every later one waits while the hold file exists, so the
#: Ctrl-C lands in a script that would never end by itself, however slow the machine.
HELD_AFTER_THE_FIRST = """\
import os, time
from recording import show
if os.path.exists({first!r}):
    while os.path.exists({hold!r}):
        time.sleep(0.1)
else:
    open({first!r}, "w").close()
show("value", 0.25)
"""


def test_ctrl_c_stops_host_processes_at_once_and_resume_finishes_the_run(tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    script = tmp_path / "held.py"
    script.write_text(HELD_AFTER_THE_FIRST.format(first=str(tmp_path / "first"), hold=str(hold)), "utf-8")
    path = matrix_file(tmp_path, sys.executable, f"- {{name: slow, script: {script}}}\n")
    path.write_text(path.read_text(encoding="utf-8").replace("repeats: 2", "repeats: 4"), encoding="utf-8")
    results = tmp_path / "results"
    command = [sys.executable, "-m", "seedmatrix", "matrix", "--config", str(path), "--results", str(results)]
    process = subprocess.Popen(
        [*command, "--jobs", "1"], env={**os.environ, **NO_ENGINE}, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list(results.glob("*/records/*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr  # the held script was killed: waited for, it never ends
    assert time.monotonic() - started < 30
    [run] = [p for p in results.iterdir() if p.name[:1].isdigit()]
    kept = list((run / "records").glob("*.json"))
    assert 1 <= len(kept) < 4
    hold.unlink()
    resumed = subprocess.run(
        [*command, "--resume"], env={**os.environ, **NO_ENGINE}, capture_output=True, text=True, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(list((run / "records").glob("*.json"))) == 4  # the same run, finished in place


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_any_moment_ends_with_the_documented_status_and_no_traceback(
    tmp_path: Path, signal_number: int
) -> None:
    """From start-up to shutdown: 130 once interrupted (or 0 when it finished first), never a traceback."""
    cases = (
        f"- {{name: random, script: {SEEDS / 'seed_random.py'}}}\n"
        f"- {{name: slow, script: {FAULTS / 'slow.py'}}}\n"
    )
    path = matrix_file(tmp_path, sys.executable, cases)
    outcomes = []
    for delay in (0.0, 0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0, 3.5, 6.0, 9.0):
        results = tmp_path / f"results-{delay}"
        process = subprocess.Popen(
            [sys.executable, "-m", "seedmatrix", "matrix", "--config", str(path), "--results", str(results)],
            env={**os.environ, **NO_ENGINE},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=120)
        outcomes.append(process.returncode)
        if process.returncode == -signal_number and results.exists():
            # In the interpreter's last milliseconds, once it has restored the default handlers on
            # its way out, the signal ends it as it ends any program: the run was whole by then.
            state = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))["state"]
            assert (state, "Traceback" in stderr) == ("finished", False), (delay, stderr)
            continue
        if process.returncode == -signal_number:
            # In the interpreter's first milliseconds, before seedmatrix loads, the signal ends it as
            # it ends any program: nothing had started, nothing was written.
            assert stderr == "", delay
            continue
        if stderr.startswith("Could not import runpy module"):
            # A little later (on a loaded machine), still before seedmatrix loads: CPython itself is
            # importing runpy when the KeyboardInterrupt lands, and says so. Nothing was written.
            assert (process.returncode, results.exists()) == (1, False), (delay, stderr)
            continue
        assert process.returncode in {0, 130}, (delay, stderr)
        assert "Traceback" not in stderr, (delay, stderr)
        assert "Exception ignored" not in stderr, (delay, stderr)
        if process.returncode == 130 and (results / "latest" / "results.json").exists():
            state = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))["state"]
            assert state in {"stopped", "running"}, (delay, state)  # running: stopped before the runs began
    assert 130 in outcomes


@pytest.mark.slow
def test_framework_tensors_of_every_float_width_are_recorded_exactly(
    tmp_path: Path, torch_jax_python: str
) -> None:
    """bfloat16 and float8 tensors have no NumPy dtype in PyTorch: their raw bits are recorded."""
    script = tmp_path / "tensors.py"
    script.write_text(
        textwrap.dedent(
            """
            import jax.numpy as jnp
            import torch
            from recording import show
            show("torch bfloat16", torch.tensor([1.5, -2.0], dtype=torch.bfloat16))
            show("torch float8", torch.tensor([448.0], dtype=torch.float8_e4m3fn))
            show("torch complex", torch.tensor([1 + 2j], dtype=torch.complex64))
            show("jax bfloat16", jnp.array([1.5, -2.0], dtype=jnp.bfloat16))
            show("torch scalar list", [torch.tensor(1.0), torch.tensor(2.0)])
            """
        ),
        encoding="utf-8",
    )
    cases = f"- {{name: tensors, script: {script}}}\n"
    finished, data = run_matrix(matrix_file(tmp_path, torch_jax_python, cases), tmp_path / "r")
    assert finished.returncode == 0, finished.stderr
    values = {v["label"]: (v["dtype"], v["bits"]) for v in data["records"][0]["values"]}
    assert values["torch bfloat16"] == ("bfloat16", ["3fc0", "c000"])
    assert values["jax bfloat16"] == values["torch bfloat16"]
    assert values["torch float8"] == ("float8_e4m3fn", ["7e"])
    assert values["torch complex"] == ("complex64", ["3f80000040000000"])
    assert values["torch scalar list"] == ("float32", ["3f800000", "40000000"])
