"""scripts/gpu-evidence, end to end on this machine: the wheels it prepares, unpacked for an
interpreter that has none of seedmatrix's dependencies (as on the GPU machine), and the host matrix
run with it. Here there is no GPU and no PyTorch, JAX or CuPy: those cells are not applicable."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-evidence"

pytestmark = pytest.mark.slow


def test_the_prepared_wheels_let_a_bare_interpreter_run_the_host_matrix_into_one_folder(
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prepared = subprocess.run(
        [sys.executable, str(SCRIPT), "prepare", "--python", python_version, "--into", str(wheels)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    names = {wheel.name.split("-")[0].lower() for wheel in wheels.glob("*.whl")}
    assert {"pydantic", "pydantic_core", "docker", "pyyaml", "rich"} <= names
    assert sum(wheel.stat().st_size for wheel in wheels.glob("*.whl")) < 64 * 2**20  # travels to the machine

    bare = tmp_path / "bare"
    venv.create(
        bare, with_pip=False
    )  # no pydantic, no docker, no numpy: like the GPU machine, minus its frameworks
    python = bare / "bin" / "python"
    assert (
        subprocess.run([str(python), "-c", "import pydantic"], capture_output=True, check=False).returncode
        != 0
    )
    out = tmp_path / "evidence"
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "run", str(out), "--wheels", str(wheels), "--python", str(python),
         "--repeats", "2", "--jobs", "2"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert json.loads(finished.stdout.strip().splitlines()[-1])["exit_status"] == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [env["name"] for env in results["environments"]] == ["host-cpu", "host-gpu"]
    assert results["repeats"] == 2
    ran = {(r["environment"], r["case"]) for r in results["records"] if r["status"] == "ok"}
    assert ("host-cpu", "seed_random") in ran
    assert ("host-gpu", "seed_random") in ran
    matrix = (out / "MATRIX.md").read_text(encoding="utf-8")
    assert "➖ not-applicable" in matrix  # torch, jax and numpy cases: this interpreter has none
    assert "versions:" in (out / "machine.txt").read_text(encoding="utf-8")
    # The pairs timed again one repeat at a time: here their cells are not applicable, so no times.
    timing = (out / "TIMING.md").read_text(encoding="utf-8")
    assert "`torch_scatter_deterministic`" in timing
    assert "`jax_segment_sum`" in timing
    assert "`seed_random`" not in timing
