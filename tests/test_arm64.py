"""aarch64 beside x86-64 on one x86-64 machine: an arm64 base made by mmdebstrap, built and run
under QEMU user emulation (`bash scripts/engine start --for-tests` registers it), every repeat a
fresh container; the records say what ran, and Python's own stream is the same bit for bit.

Slow (the arm64 base is made under emulation, about 5 minutes here): the environment installs no
package, so only the base and a venv are made.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import docker
import pytest

from seedmatrix import platforms
from seedmatrix.results import Build

from test_faults import latest, seedmatrix

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def test_an_arm64_environment_runs_emulated_and_says_so(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    if platforms.host_platform() != "linux/amd64":
        pytest.skip("emulates aarch64 on an x86-64 host; this host is another")
    missing = platforms.emulation_missing("linux/arm64")
    if missing is not None:
        pytest.fail(missing)  # scripts/engine start --for-tests sets it up: never a silent skip
    del small_image  # made the x86-64 bookworm base the reference environment builds on
    (tmp_path / "machine.py").write_text(
        "import platform\nfrom recording import show\nshow('machine', platform.machine())\n", encoding="utf-8"
    )
    tmp_path.chmod(0o755)  # mounted as the working directory; the script runs as nobody
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        textwrap.dedent(
            f"""\
            repeats: 2
            timeout_seconds: 600
            environments:
              - name: x86
                debian: bookworm
                python: "3.11"
              - name: arm
                debian: bookworm
                python: "3.11"
                platform: linux/arm64
            cases:
              - name: seed_random
                script: {SEEDS / "seed_random.py"}
                claims: {{stable: ["*"], same_across_environments: ["*"]}}
              - name: machine
                script: machine.py
            """
        ),
        encoding="utf-8",
    )
    finished = seedmatrix("matrix", "--config", str(matrix), "--results", str(tmp_path / "results"))
    data = latest(tmp_path / "results")
    architectures = {}
    # Its environment images go (an image with nothing installed would stand in for other tests'
    # builds of the same content); the arm64 base stays, as every base does.
    for built in data["environments"]:
        if built["build"]["tag"]:
            image = docker_client.images.get(built["build"]["tag"])
            architectures[built["name"]] = image.attrs["Architecture"]
            docker_client.images.remove(built["build"]["tag"], force=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    arm = next(env for env in data["environments"] if env["name"] == "arm")
    assert arm["requested"]["platform"] == "linux/arm64"
    assert arm["build"]["observed"]["machine"] == "aarch64"
    assert arm["host_machine"] == "x86_64"
    assert architectures == {"x86": "amd64", "arm": "arm64"}  # the labels say what the layers hold
    machines = {
        (r["environment"], r["repeat"]): r["values"][0]["bits"][0]
        for r in data["records"]
        if r["case"] == "machine"
    }
    assert machines == {
        ("x86", 1): "x86_64",
        ("x86", 2): "x86_64",
        ("arm", 1): "aarch64",
        ("arm", 2): "aarch64",
    }
    matrix_md = (tmp_path / "results" / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    assert "| case | x86 (reference) (x86_64) | arm (aarch64, emulated) |" in matrix_md
    # Python's Mersenne Twister is the same on both, bit for bit: the claim held, no SURPRISE.
    assert "held, 0 SURPRISES." in matrix_md


def test_fma_contraction_alone_moves_the_bits_on_aarch64_and_nothing_else_does(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    """seeds/seed_fma_contraction.py: the same C kernels, built in each image by Zig's clang with
    the compiler's default and with -ffp-contract=off, for each architecture's baseline CPU."""
    if platforms.host_platform() != "linux/amd64":
        pytest.skip("emulates aarch64 on an x86-64 host; this host is another")
    missing = platforms.emulation_missing("linux/arm64")
    if missing is not None:
        pytest.fail(missing)
    del small_image
    packages = '["numpy==2.0.2", "ziglang==0.13.0"]'
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        textwrap.dedent(
            f"""\
            repeats: 1
            timeout_seconds: 600
            environments:
              - {{name: x86, debian: bookworm, python: "3.11", packages: {packages}}}
              - {{name: arm, debian: bookworm, python: "3.11", packages: {packages}, platform: linux/arm64}}
            cases:
              - name: fma_contraction
                script: {SEEDS / "seed_fma_contraction.py"}
                tmp_mb: 256
                claims: {{same_across_environments: ["* (-ffp-contract=off)"]}}
            """
        ),
        encoding="utf-8",
    )
    finished = seedmatrix("matrix", "--config", str(matrix), "--results", str(tmp_path / "results"))
    data = latest(tmp_path / "results")
    for built in data["environments"]:
        if built["build"]["tag"]:
            docker_client.images.remove(built["build"]["tag"], force=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    bits = {
        (record["environment"], value["label"]): value["bits"]
        for record in data["records"]
        for value in record["values"]
    }
    kernels = ("a*b+c float64", "degree-8 Horner float64")
    for kernel in kernels:
        default, off = f"{kernel} (compiler default)", f"{kernel} (-ffp-contract=off)"
        # x86-64's baseline has no FMA: both builds round twice, the same bits.
        assert bits["x86", default] == bits["x86", off]
        # Contraction off, aarch64 computes what x86-64 does, bit for bit ...
        assert bits["arm", off] == bits["x86", off]
        # ... and by default it fuses: the only difference between its two builds.
        assert bits["arm", default] != bits["arm", off]
    matrix_md = (tmp_path / "results" / "latest" / "MATRIX.md").read_text(encoding="utf-8")
    first = "(#case-fma-contraction) | reference | arm | `a*b+c float64 (compiler default)`"
    assert first in matrix_md  # the first divergence, in the order the script showed its labels
