"""The CPU architecture as a device: platforms asked for, emulation found or missing, base tags per
architecture, and MATRIX.md naming the machine each environment ran on."""

from __future__ import annotations

import platform
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from docker.errors import DockerException, ImageNotFound

from seedmatrix import platforms
from seedmatrix.assemble import assemble
from seedmatrix.backends.docker import debian
from seedmatrix.backends.docker.backend import DockerBackend
from seedmatrix.config import load_matrix
from seedmatrix.errors import ConfigError, ImageError
from seedmatrix.log import Output
from seedmatrix.plan import HostFacts, Selection, make_plan, select_environments
from seedmatrix.report import render
from seedmatrix.results import Build, BuildStatus, EnvironmentResult, Observed, RunState
from seedmatrix.verdicts import derive

from builders import case, environment, float64_value, record, results

SMALL = Path(__file__).resolve().parent / "data" / "small.yaml"
HOST = platforms.host_platform()
OTHER = "linux/arm64" if HOST == "linux/amd64" else "linux/amd64"


def test_the_hosts_own_platform_is_not_foreign_and_another_is() -> None:
    assert HOST is not None, f"seedmatrix should know this machine ({platform.machine()})"
    assert not platforms.foreign(None)
    assert not platforms.foreign(HOST)
    assert platforms.foreign(OTHER)


def test_emulated_needs_both_machines_known() -> None:
    assert platforms.emulated("aarch64", "x86_64") is True
    assert platforms.emulated("x86_64", "x86_64") is False
    assert platforms.emulated(None, "x86_64") is None
    assert platforms.emulated("aarch64", "") is None


def test_emulation_is_found_only_when_binfmt_has_it_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platforms, "BINFMT", tmp_path)
    machine = platforms.MACHINE[OTHER]
    assert platforms.emulation_missing(HOST) is None  # its own: nothing to emulate
    missing = platforms.emulation_missing(OTHER)
    assert missing is not None
    assert f"binfmt_misc has no enabled qemu-{machine}" in missing
    assert "bash scripts/engine start --config <matrix>" in missing
    (tmp_path / f"qemu-{machine}").write_text(
        "disabled\ninterpreter /usr/libexec/qemu-binfmt/x\n", encoding="ascii"
    )
    assert platforms.emulation_missing(OTHER) is not None
    (tmp_path / f"qemu-{machine}").write_text(
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/x\n", encoding="ascii"
    )
    assert platforms.emulation_missing(OTHER) is None


def test_an_arm64_base_has_a_tag_of_its_own_and_amd64_keeps_the_tags_it_had() -> None:
    recipe = load_matrix(SMALL).debian_recipe
    assert recipe is not None
    amd64 = debian.base_tag("bookworm", recipe, "linux/amd64")
    arm64 = debian.base_tag("bookworm", recipe, "linux/arm64")
    assert arm64.startswith("seedmatrix-base:bookworm-arm64-")
    assert arm64 != amd64
    # Tags made before platforms existed stay valid on x86-64 hosts: no rebuild on upgrade.
    if HOST == "linux/amd64":
        assert debian.base_tag("bookworm", recipe) == amd64
        assert amd64 == "seedmatrix-base:bookworm-1a4ff4bf7c72"


def test_an_image_way_base_made_on_arm64_has_another_tag_than_one_made_on_amd64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The digest a tag's pull records (and the one a recipe usually pins) is the multi-platform
    # index's: the same on both machines, while the base each builds from it is its own
    # architecture's. One tag for both would let a shared registry hand one the other's base.
    recipe = load_matrix(SMALL).debian_recipe
    assert recipe is not None
    index = "sha256:" + "ab" * 32
    tags = {}
    for host in ("linux/amd64", "linux/arm64"):
        monkeypatch.setattr(platforms, "host_platform", lambda host=host: host)
        tags[host] = debian.image_base_tag("bookworm", recipe, index)
    assert tags["linux/arm64"] != tags["linux/amd64"]
    assert tags["linux/arm64"].startswith("seedmatrix-base:bookworm-image-arm64-")


class _EngineHoldingOneArchitecture:
    """An engine whose every tag is an image of one architecture (images.get only)."""

    def __init__(self, architecture: str) -> None:
        self.images = self
        self.architecture = architecture

    def get(self, tag: str) -> object:
        return type("Image", (), {"attrs": {"Architecture": self.architecture}, "tags": [tag]})()


def test_a_base_of_another_architecture_under_the_tag_looked_for_is_not_taken() -> None:
    # An arm64 host that made its bases before platforms existed tagged them without the
    # architecture, as amd64 bases are tagged: an environment asking for linux/amd64 would take
    # the aarch64 base and run natively, its results shown as x86-64's.
    recipe = load_matrix(SMALL).debian_recipe
    assert recipe is not None
    engine = _EngineHoldingOneArchitecture("arm64")
    tag, found = debian.found_base(engine, "bookworm", recipe, way="archive", platform="linux/amd64")  # type: ignore[arg-type]
    assert (tag, found) == (debian.base_tag("bookworm", recipe, "linux/amd64"), None)
    _, same = debian.found_base(engine, "bookworm", recipe, way="archive", platform="linux/arm64")  # type: ignore[arg-type]
    assert same is not None


def test_a_base_of_another_architecture_pulled_from_a_registry_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A registry shared with an arm64 host that pushed its bases before platforms holds an aarch64
    # image under the tag an amd64 base has: made here instead (mmdebstrap missing: the error).
    recipe = load_matrix(SMALL).debian_recipe
    assert recipe is not None
    engine = _EngineHoldingOneArchitecture("arm64")
    monkeypatch.setattr(engine, "get", lambda tag: (_ for _ in ()).throw(ImageNotFound(tag)))
    registry_image = _EngineHoldingOneArchitecture("arm64").get
    monkeypatch.setattr(debian, "pull", lambda client, registry, tag, progress: registry_image(tag))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ImageError, match="needs mmdebstrap"):
        debian.ensure_base(
            engine,  # type: ignore[arg-type]
            "bookworm", recipe, mirror=None, logs_dir=tmp_path, progress=lambda line: None,
            registry="127.0.0.1:5000", way="archive", platform=HOST,
        )  # fmt: skip


def write_matrix(tmp_path: Path, environment_text: str) -> Path:
    path = tmp_path / "matrix.yaml"
    script = tmp_path / "s.py"
    script.write_text("", encoding="utf-8")
    path.write_text(
        f"environments:\n  - name: e\n    python: '3.11'\n{environment_text}"
        "cases:\n  - name: c\n    script: s.py\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("environment_text", "message"),
    [
        ("    base_image: python:3.11\n    platform: linux/arm64\n", "'platform' needs a debian: base"),
        ("    host_python: python3\n    platform: linux/arm64\n", "'platform' needs a container"),
        ("    debian: bookworm\n    platform: linux/riscv64\n", "platform"),
    ],
)
def test_a_platform_is_refused_where_it_cannot_apply(
    tmp_path: Path, environment_text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_matrix(write_matrix(tmp_path, environment_text))


def test_a_platform_on_a_debian_environment_is_taken(tmp_path: Path) -> None:
    matrix = load_matrix(write_matrix(tmp_path, "    debian: bookworm\n    platform: linux/arm64\n"))
    assert matrix.environment("e").platform == "linux/arm64"


def probed(env_name: str, machine: str | None, *, host_machine: str = "x86_64") -> EnvironmentResult:
    built = environment(env_name)
    observed = Observed(python="3.11.2", frameworks={"numpy": "2.0.2"}, pip_freeze=(), machine=machine)
    return replace(built, build=replace(built.build, observed=observed), host_machine=host_machine)


def rendered(*envs: EnvironmentResult) -> str:
    """MATRIX.md of one case run once in each environment; the first is the reference."""
    records = [record(env.name, "c", 1, [float64_value("v", 1.0)]) for env in envs]
    run = results(list(envs), [case("c")], records, reference=envs[0].name, repeats=1)
    return render(run, derive(run))


def test_the_matrix_names_each_machine_when_there_are_several_and_says_which_was_emulated() -> None:
    matrix = rendered(probed("x86", "x86_64"), probed("arm", "aarch64"))
    assert "| case | x86 (reference) (x86_64) | arm (aarch64, emulated) |" in matrix
    assert "<br>aarch64, emulated" in matrix  # the Environments table's base column


def test_one_machine_for_every_environment_is_not_named() -> None:
    matrix = rendered(probed("x86", "x86_64"), probed("x86b", "x86_64"))
    assert "x86_64" not in matrix
    assert "emulated" not in matrix


def test_a_native_arm64_shard_is_named_but_not_emulated() -> None:
    matrix = rendered(probed("x86", "x86_64"), probed("arm", "aarch64", host_machine="aarch64"))
    assert "| arm (aarch64) |" in matrix
    assert "emulated" not in matrix


def test_selecting_by_platform_takes_what_each_environment_declares(tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    (tmp_path / "s.py").write_text("", encoding="utf-8")
    path.write_text(
        "environments:\n"
        "  - {name: plain, debian: bookworm, python: '3.11'}\n"
        "  - {name: amd, debian: bookworm, python: '3.11', platform: linux/amd64}\n"
        "  - {name: arm, debian: bookworm, python: '3.11', platform: linux/arm64}\n"
        "cases:\n  - {name: c, script: s.py}\n",
        encoding="utf-8",
    )
    matrix = load_matrix(path)
    assert select_environments(matrix, Selection(platforms=("linux/arm64",))) == ("arm",)
    assert select_environments(matrix, Selection(platforms=("host", "linux/amd64"))) == ("plain", "amd")
    assert select_environments(matrix, Selection()) == ("plain", "amd", "arm")
    only_arm = replace(matrix, environments=matrix.environments[2:])
    with pytest.raises(ConfigError, match=r"platform host, shard 1/1\) matches no environment"):
        select_environments(only_arm, Selection(platforms=("host",)))


def test_a_run_whose_every_environment_was_emulated_still_says_so() -> None:
    # One machine for all (aarch64 on an x86-64 host): nothing to tell apart, but the emulation is
    # a fact about the values and the CPU column, not about the other environments.
    matrix = rendered(probed("arm", "aarch64"), probed("arm2", "aarch64"))
    assert "| case | arm (reference) (aarch64, emulated) | arm2 (aarch64, emulated) |" in matrix


def test_apple_silicons_arm64_is_aarch64_not_an_emulation_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # macOS names its machine arm64 (uname -m, platform.machine()) where Linux says aarch64: Docker
    # Desktop's Linux engine on it runs aarch64 images natively.
    assert platforms.emulated("aarch64", "arm64") is False
    assert platforms.emulated("x86_64", "arm64") is True
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert platforms.host_platform() == "linux/arm64"


def test_on_a_machine_seedmatrix_does_not_know_the_base_it_made_is_found_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No Debian name for this machine: nothing to compare its base's architecture with.
    recipe = load_matrix(SMALL).debian_recipe
    assert recipe is not None
    monkeypatch.setattr(platforms, "host_platform", lambda: None)
    engine = _EngineHoldingOneArchitecture("ppc64le")
    _, found = debian.found_base(engine, "bookworm", recipe, way="archive")  # type: ignore[arg-type]
    assert found is not None


class _RemoteEngine:
    """A Docker client whose engine (DOCKER_HOST) answers `info` with its own architecture."""

    def __init__(self, architecture: str | None) -> None:
        self.architecture = architecture

    def info(self) -> dict[str, str]:
        if self.architecture is None:
            raise DockerException("the engine went away")
        return {"Architecture": self.architecture}


def test_an_environment_on_a_remote_engine_runs_on_the_engines_machine_not_this_one(tmp_path: Path) -> None:
    """Before: every environment's machine was this one's, so an aarch64 image on a remote aarch64
    engine read "emulated" here (and an x86-64 image there read native)."""
    matrix = load_matrix(write_matrix(tmp_path, "    debian: bookworm\n"))

    def backend(architecture: str | None) -> DockerBackend:
        client: Any = _RemoteEngine(architecture)
        return DockerBackend(
            client, matrix, settings=None, fetching=None, out=Output(env={}), cpu_ids=[0], cpu=None
        )

    assert backend("aarch64").machine == "aarch64"
    assert backend(None).machine == ""  # unknown, so never called emulated or native
    made = assemble(
        matrix=matrix,
        plan=make_plan(matrix, Selection(), HostFacts(cpus=1)),
        builds={"e": Build(status=BuildStatus.CACHED, seconds=0.0)},
        records=[],
        run_id="r",
        started="2026-01-01T00:00:00Z",
        state=RunState.FINISHED,
        engine="test",
        machines={"e": backend("aarch64").machine},
    )
    [on_the_engine] = made.environments
    assert on_the_engine.host_machine == "aarch64"
    matrix_md = rendered(probed("x86", "x86_64"), replace(probed("arm", "aarch64"), host_machine="aarch64"))
    assert "| arm (aarch64) |" in matrix_md
    assert "emulated" not in matrix_md
