"""The CPU as a device: switches, what a host offers, and read-backs that show a request applied,
ignored or not in play. The container test runs a real capped environment and a real ignored one."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import docker
import pytest

from seedmatrix.backends.docker import container, images
from seedmatrix.backends.docker.probes import probe_dispatch
from seedmatrix.config import INSIDE, load_matrix
from seedmatrix.cpu import (
    LEVELS,
    SWITCHES,
    Applied,
    CpuFacts,
    check_requests,
    environment_requests,
    kernels,
    lacking,
    parse_cpuinfo,
    summary,
    switches,
)
from seedmatrix.plan import HostFacts, Selection, make_plan
from seedmatrix.results import Build

from conftest import build_settings
from test_faults import latest, seedmatrix

ROOT = Path(__file__).resolve().parent.parent

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512cd avx512bw avx512dq avx512vl avx512_vnni amx_tile

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: not the first
flags\t\t: sse4_2
"""
OLD_CPU = CpuFacts(
    vendor="GenuineIntel", model="an older Xeon", flags=frozenset({"sse4_2", "avx", "avx2", "fma"})
)


def test_cpuinfo_gives_the_first_processor_and_the_flags_that_matter() -> None:
    facts = parse_cpuinfo(CPUINFO)
    assert facts is not None
    assert (facts.vendor, facts.model) == ("GenuineIntel", "Intel(R) Xeon(R) Platinum 8480+")
    assert "fpu" not in facts.flags
    assert {"avx512f", "amx_tile", "avx512_vnni"} <= facts.flags
    assert summary(facts.flags) == "AVX-512 (VNNI), AMX"
    assert summary(OLD_CPU.flags) == "AVX2 + FMA"
    assert parse_cpuinfo("processor : 0\nBogoMIPS : 100\n") is None  # no flags: not x86 Linux


def test_each_level_sets_every_frameworks_switch_and_onednn_its_own() -> None:
    found = switches("avx2", False)
    assert set(found) == set(SWITCHES)
    assert found["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert found["OPENBLAS_CORETYPE"] == "Haswell"
    assert found["ATEN_CPU_CAPABILITY"] == "avx2"
    assert found["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert {"X86_V4", "AVX512_SKX", "AVX512F"} <= set(found["NPY_DISABLE_CPU_FEATURES"].split())
    assert "AVX2" not in found["NPY_DISABLE_CPU_FEATURES"].split()
    assert switches(None, None) == {}
    assert switches(None, True) == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    # A lower level disables everything a higher one does, and more.
    order = ["avx512", "avx2", "avx", "sse4.2"]
    for higher, lower in itertools.pairwise(order):
        assert set(LEVELS[higher].numpy_off) < set(LEVELS[lower].numpy_off)


def test_the_recorder_reads_back_the_same_switches_the_runner_sets() -> None:
    recorder = (INSIDE / "recording.py").read_text(encoding="utf-8")
    block = re.search(r"_SWITCHES = \((.*?)\)", recorder, re.DOTALL)
    assert block is not None
    assert tuple(re.findall(r'"([A-Z_]+)"', block.group(1))) == SWITCHES


def test_an_isa_the_host_lacks_is_named_and_the_cells_are_skipped(tmp_path: Path) -> None:
    assert lacking("avx2", OLD_CPU) is None
    reason = lacking("avx512", OLD_CPU)
    assert reason is not None
    assert "avx512f" in reason
    assert "an older Xeon" in reason
    assert "unknown" in (lacking("avx2", None) or "")
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text(
        "environments:\n"
        "  - {name: native, debian: bookworm, python: '3.11', numpy: '2.0.2'}\n"
        "  - {name: capped, debian: bookworm, python: '3.11', numpy: '2.0.2', cpu_isa: avx512}\n"
        f"cases:\n  - {{name: seed_numpy, script: {ROOT / 'seeds' / 'seed_numpy.py'}, requires: [numpy]}}\n",
        encoding="utf-8",
    )
    plan = make_plan(load_matrix(matrix_file), Selection(), HostFacts(cpus=2, cpu=OLD_CPU))
    assert [cell.environment for cell in plan.cells] == ["native"]
    [skipped] = plan.skipped
    assert skipped.environment == "capped"
    assert "avx512f" in skipped.reason


def test_the_switches_reach_the_cells_and_a_cases_own_variable_wins(tmp_path: Path) -> None:
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text(
        "environments:\n"
        "  - {name: capped, debian: bookworm, python: '3.11', numpy: '2.0.2', cpu_isa: avx2, onednn: false}\n"
        "cases:\n"
        f"  - {{name: own, script: {ROOT / 'seeds' / 'seed_numpy.py'}, "
        "env: {OPENBLAS_CORETYPE: SkylakeX}}\n",
        encoding="utf-8",
    )
    [cell] = make_plan(load_matrix(matrix_file), Selection(), HostFacts(cpus=2, cpu=OLD_CPU)).cells
    assert cell.variables["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert cell.variables["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert cell.variables["OPENBLAS_CORETYPE"] == "SkylakeX"


def readback(**fields: Any) -> dict[str, Any]:
    return {"model": "a CPU", "flags": ["avx2", "avx512f"], **fields}


def test_a_request_is_applied_only_when_the_read_back_shows_it() -> None:
    applied = check_requests(
        "avx2",
        False,
        readback(numpy_simd=["SSE42", "AVX2"], blas_core="Haswell", tf_onednn=False),
        "Intel AVX2",
    )
    verdicts = {request.framework: request.applied for request in applied}
    assert verdicts == {
        "NumPy": Applied.APPLIED,
        "OpenBLAS": Applied.APPLIED,
        "oneDNN": Applied.APPLIED,
        "PyTorch": Applied.NOT_USED,  # not loaded by this run: nothing to check
        "TensorFlow oneDNN": Applied.APPLIED,
    }


def test_a_request_a_framework_ignored_is_reported_as_ignored_never_applied() -> None:
    ignored = check_requests(
        "avx2",
        False,
        readback(
            numpy_simd=["AVX2", "X86_V4"], blas_core="SkylakeX", torch_capability="AVX512", tf_onednn=True
        ),
        "Intel AVX-512 with Intel DL Boost and bfloat16 support",
    )
    assert all(request.applied is Applied.IGNORED for request in ignored), ignored
    # Over several runs: one that ignored it is enough, and its case is named.
    found = environment_requests(
        "avx2",
        None,
        [("a", readback(blas_core="Haswell")), ("b", readback(blas_core="SkylakeX"))],
        {},
    )
    blas = next(request for request in found if request.framework == "OpenBLAS")
    assert blas.applied is Applied.IGNORED
    assert blas.seen == "SkylakeX (b)"


def test_unknown_or_malformed_read_backs_are_never_applied() -> None:
    hostile = readback(numpy_simd="X86_V4", blas_core=7, tf_onednn="yes", torch_capability=None)
    for request in check_requests("avx2", True, hostile, None):
        assert request.applied is Applied.NOT_USED, request


def test_kernels_show_the_cpu_and_what_each_framework_dispatched() -> None:
    found = kernels(
        [
            readback(numpy_simd=["AVX2", "AVX512_SKX"], blas_core="SkylakeX", tf_onednn=True),
            readback(numpy_simd=[], blas_core="Haswell"),
        ],
        {"onednn_isa": "Intel AVX2"},
    )
    assert found.cpu == "a CPU · AVX-512"
    assert found.dispatched == (
        "NumPy up to AVX512_SKX / its baseline",
        "OpenBLAS SkylakeX / Haswell",
        "oneDNN Intel AVX2",
        "TensorFlow oneDNN on",
    )


CAPPED = """\
repeats: 1
timeout_seconds: 120
environments:
  - {name: native, debian: bookworm, python: "3.11", numpy: "2.0.2"}
  - {name: capped-avx2, debian: bookworm, python: "3.11", numpy: "2.0.2", cpu_isa: avx2}
cases:
  - name: matmul
    script: matmul.py
  - name: own_blas_core
    script: matmul.py
    env: {OPENBLAS_CORETYPE: SkylakeX}
"""
MATMUL = """\
import numpy as np
from recording import show
a = np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
show("product", (a @ a)[0, :4])
show("sum", np.add.reduce(a.ravel()))
"""


@pytest.mark.docker
@pytest.mark.slow
def test_a_capped_environment_reads_back_its_kernels_and_an_ignored_switch_is_reported(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    host = parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    if host is None or lacking("avx2", host) is not None:
        pytest.skip(f"this host cannot run AVX2 kernels ({host.model if host else 'unknown CPU'})")
    (tmp_path / "matrix.yaml").write_text(CAPPED, encoding="utf-8")
    (tmp_path / "matmul.py").write_text(MATMUL, encoding="utf-8")
    tmp_path.chmod(0o755)
    results = tmp_path / "results"
    finished = seedmatrix("matrix", "--config", str(tmp_path / "matrix.yaml"), "--results", str(results))
    assert finished.returncode == 0, finished.stderr[-3000:]
    data = latest(results)
    cpu = {(r["environment"], r["case"]): r["device"]["cpu"] for r in data["records"]}
    capped = cpu["capped-avx2", "matmul"]
    assert capped["switches"]["OPENBLAS_CORETYPE"] == "Haswell"  # the record shows what the run used
    assert capped["blas_core"] == "Haswell"
    assert not {"X86_V4", "AVX512_SKX", "AVX512F"} & set(capped["numpy_simd"])
    native = cpu["native", "matmul"]
    assert native["switches"]["OPENBLAS_CORETYPE"] is None  # the host's own setting is not inherited
    assert cpu["capped-avx2", "own_blas_core"]["blas_core"] == "SkylakeX"
    environments = {env["name"]: env for env in data["environments"]}
    assert environments["capped-avx2"]["requested"]["cpu_isa"] == "avx2"
    matrix = (results / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "CPU requests ignored:** capped-avx2: OpenBLAS ran SkylakeX (own\\_blas\\_core)" in matrix
    assert re.search(r"\*\*capped-avx2\*\* \(cpu\\_isa avx2\): NumPy ✔ [^;]*; OpenBLAS ⚠️ IGNORED", matrix)
    assert "OpenBLAS Haswell / SkylakeX" in matrix
    assert json.dumps(data["host"]["cpu"])  # the host's CPU is in results.json


@pytest.mark.docker
@pytest.mark.slow
def test_onednn_says_which_instruction_set_it_dispatches_under_the_switches(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    host = parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    if host is None or lacking("avx2", host) is not None:
        pytest.skip(f"this host cannot run AVX2 kernels ({host.model if host else 'unknown CPU'})")
    # The own-project example's TensorFlow 2.18 image (built once for the tests that use it).
    example = load_matrix(ROOT / "examples" / "own-project" / "matrix.yaml")
    settings = build_settings(tmp_path / "logs", tmp_path / "cache", run_id="test-dispatch")
    build = images.ensure_environment_image(
        docker_client, example, example.environments[0], settings, progress=lambda _: None
    )
    assert build.image_id is not None, build.error
    owner = container.Owner(run_id="test-dispatch")
    capped = probe_dispatch(
        docker_client,
        build,
        images.VENV_PYTHON,
        variables=switches("avx2", None),
        owner=owner,
        timeout_seconds=300,
    )
    assert capped.get("onednn_isa") == "Intel AVX2", capped
    assert str(capped.get("onednn_version", "")).startswith("v3.")
    native = probe_dispatch(
        docker_client, build, images.VENV_PYTHON, variables={}, owner=owner, timeout_seconds=300
    )
    assert native.get("onednn_isa"), native
    if "avx512f" in host.flags:
        assert native["onednn_isa"] != "Intel AVX2"  # the cap is what made it AVX2


def test_onednn_speaks_only_for_runs_that_loaded_tensorflow_with_the_environments_switch() -> None:
    applied = {
        r.framework: r
        for r in check_requests(
            "avx2", None, readback(tf_onednn=True, switches=switches("avx2", None)), "Intel AVX2"
        )
    }
    assert applied["oneDNN"].applied is Applied.APPLIED
    no_tf = {
        r.framework: r
        for r in check_requests("avx2", None, readback(switches=switches("avx2", None)), "Intel AVX2")
    }
    assert no_tf["oneDNN"].applied is Applied.NOT_USED
    own = {**switches("avx2", None), "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}  # the case's env: won
    overridden = {
        r.framework: r
        for r in check_requests("avx2", None, readback(tf_onednn=True, switches=own), "Intel AVX2")
    }
    assert overridden["oneDNN"].applied is Applied.IGNORED
    assert overridden["oneDNN"].seen == "ONEDNN_MAX_CPU_ISA=AVX512_CORE in this run"


def test_a_read_back_that_failed_is_unknown_not_applied() -> None:
    [found] = check_requests("avx2", False, {"error": "PermissionError: /proc/cpuinfo"}, "Intel AVX2")
    assert (found.applied, found.seen) == (Applied.UNKNOWN, "PermissionError: /proc/cpuinfo")
