"""scripts/gpu-evidence, end to end on this machine: the wheels it prepares, unpacked for an
interpreter that has none of seedmatrix's dependencies (as on the GPU machine), and the host matrix
run with it. Here there is no GPU and no PyTorch, JAX or CuPy: those cells are not applicable."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import venv
from pathlib import Path
from types import ModuleType

import pytest

from seedmatrix.report import derive, render
from seedmatrix.results import Record, Results, decode, encode

import builders

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
    # ... rendered from the timing run's results, kept beside it so that it can be rendered again.
    kept = decode(Results, gzip.decompress((out / "timing-results.json.gz").read_bytes()), source="kept")
    assert {case.name for case in kept.cases} == {
        "torch_scatter", "torch_scatter_deterministic", "jax_segment_sum", "jax_segment_sum_deterministic"
    }  # fmt: skip
    assert timing == render(kept, derive(kept))


def _gpu_evidence_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("gpu_evidence", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _timing_results() -> Results:
    """Shaped like the timing run the script keeps: the paired cases alone, host-cpu and host-gpu,
    the work each script timed itself."""

    def timed(env: str, name: str, work: float) -> list[Record]:
        return [
            dataclasses.replace(
                builders.record(env, name, n, [builders.float32_value("sum", 1.0 + n / 8)]),
                script_seconds=4.0,
                work_seconds=work,
            )
            for n in (1, 2, 3)
        ]

    pair = [
        builders.case("torch_scatter"),
        dataclasses.replace(builders.case("torch_scatter_deterministic"), timed_against="torch_scatter"),
    ]
    records = [
        *timed("host-cpu", "torch_scatter", 0.2),
        *timed("host-cpu", "torch_scatter_deterministic", 0.2),
        *timed("host-gpu", "torch_scatter", 0.03),
        *timed("host-gpu", "torch_scatter_deterministic", 0.15),
    ]
    return builders.results(
        [builders.environment("host-cpu"), builders.environment("host-gpu")], pair, records
    )


def test_timing_md_is_rendered_from_the_compressed_timing_results_kept_beside_it(tmp_path: Path) -> None:
    """The cost-of-determinism figures must be recomputable: TIMING.md is what the report makes of
    the results kept beside it, and nothing else."""
    script = _gpu_evidence_script()
    timing = _timing_results()
    (tmp_path / script.TIMING_RESULTS).write_bytes(gzip.compress(encode(timing)))
    (tmp_path / "TIMING.md").write_text("stale\n", encoding="utf-8")

    script.render_timing(tmp_path, python=sys.executable, environment=script.seedmatrix_environment(tmp_path))

    rendered = (tmp_path / "TIMING.md").read_text(encoding="utf-8")
    assert rendered == render(timing, derive(timing))
    assert "150 ms vs 30 ms (×5.00, work)" in rendered


def test_rendering_without_the_timing_results_names_the_missing_file(tmp_path: Path) -> None:
    script = _gpu_evidence_script()
    with pytest.raises(SystemExit, match=script.TIMING_RESULTS):
        script.render_timing(
            tmp_path, python=sys.executable, environment=script.seedmatrix_environment(tmp_path)
        )
    assert not (tmp_path / "TIMING.md").exists()
