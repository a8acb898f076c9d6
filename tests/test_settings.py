"""The settings a job resolves once: the command line beats the environment, which beats matrix.yaml,
which beats the default; one test a setting with more than one source. Pure: no engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from seedmatrix.__main__ import _options, _parser
from seedmatrix.config import Matrix, load_matrix
from seedmatrix.errors import ConfigError
from seedmatrix.limits import DEFAULT_MEMORY
from seedmatrix.options import DEFAULT_BUILD_JOBS, Options
from seedmatrix.plan import Selection
from seedmatrix.settings import JobSettings, change_gate, resolve, surprise_gate

SMALL = Path(__file__).resolve().parent / "data" / "small.yaml"


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return load_matrix(SMALL)


def resolved(matrix: Matrix, environ: dict[str, str] | None = None, **asked: object) -> JobSettings:
    options = Options(config=SMALL, results=Path("results"), **asked)  # type: ignore[arg-type]
    return resolve(options, environ=environ or {}, matrix=matrix)


def test_the_baseline_is_the_command_lines_then_matrix_yamls_then_none(matrix: Matrix) -> None:
    configured = replace(matrix, baseline=Path("/runs/configured"))
    assert resolved(configured, baseline=Path("asked")).baseline == Path("asked")
    assert resolved(configured).baseline == Path("/runs/configured")
    assert resolved(matrix).baseline is None


def test_the_ca_bundle_is_the_command_lines_then_the_first_variable_set_then_none(matrix: Matrix) -> None:
    environ = {"SSL_CERT_FILE": "/ssl.crt", "PIP_CERT": "/pip.crt"}
    assert resolved(matrix, environ, ca_bundle=Path("/asked.crt")).ca_bundle == Path("/asked.crt")
    assert resolved(matrix, environ).ca_bundle == Path("/pip.crt")
    assert resolved(matrix, {"SSL_CERT_FILE": "/ssl.crt", "PIP_CERT": ""}).ca_bundle == Path("/ssl.crt")
    assert resolved(matrix).ca_bundle is None


def test_the_debian_mirror_is_the_command_lines_then_the_variables_then_the_recipes(matrix: Matrix) -> None:
    environ = {"SEEDMATRIX_DEBIAN_MIRROR": "http://from.environment/debian"}
    asked = "http://asked/debian"
    assert resolved(matrix, environ, debian_mirror=asked).debian_mirror == asked
    assert resolved(matrix, environ).debian_mirror == "http://from.environment/debian"
    assert resolved(matrix, {"SEEDMATRIX_DEBIAN_MIRROR": ""}).debian_mirror is None  # the recipe's own
    assert resolved(matrix).debian_mirror is None


def test_the_debian_base_way_is_the_command_lines_then_the_variables_then_either(matrix: Matrix) -> None:
    environ = {"SEEDMATRIX_DEBIAN_BASE": "image"}
    assert resolved(matrix, environ, debian_base="archive").debian_base == "archive"
    assert resolved(matrix, environ).debian_base == "image"
    assert resolved(matrix).debian_base is None
    with pytest.raises(ConfigError, match=r"\$SEEDMATRIX_DEBIAN_BASE must be archive or image, not 'docker'"):
        resolved(matrix, {"SEEDMATRIX_DEBIAN_BASE": "docker"})


def test_the_registry_is_the_command_lines_then_matrix_yamls_then_none(matrix: Matrix) -> None:
    configured = replace(matrix, registry="ghcr.io/configured/repo")
    assert resolved(configured, registry="localhost:5000/asked").registry == "localhost:5000/asked"
    assert resolved(configured).registry == "ghcr.io/configured/repo"
    assert resolved(matrix).registry is None


def test_a_registry_on_the_command_line_is_checked_as_matrix_yamls_is(matrix: Matrix) -> None:
    with pytest.raises(ConfigError, match="--registry: 'Not A Registry' is not valid here"):
        resolved(matrix, registry="Not A Registry")


def test_fail_on_change_is_on_when_either_the_command_line_or_matrix_yaml_asks(matrix: Matrix) -> None:
    configured = replace(matrix, fail_on_change=True)
    assert resolved(configured).fail_on_change
    assert resolved(matrix, fail_on_change=True).fail_on_change
    assert resolved(configured, fail_on_change=True).fail_on_change
    assert not resolved(matrix).fail_on_change
    assert [change_gate(configured=c, asked=a) for c in (False, True) for a in (False, True)] == [
        False,
        True,
        True,
        True,
    ]


def test_report_only_turns_matrix_yamls_fail_on_surprise_off(matrix: Matrix) -> None:
    assert matrix.fail_on_surprise  # the default
    assert resolved(matrix).fail_on_surprise
    assert not resolved(matrix, report_only=True).fail_on_surprise
    assert not resolved(replace(matrix, fail_on_surprise=False)).fail_on_surprise
    assert [surprise_gate(configured=c, report_only=r) for c in (False, True) for r in (False, True)] == [
        False,
        False,
        True,
        False,
    ]


def test_runs_at_once_are_the_command_lines_then_one_per_engine_cpu(matrix: Matrix) -> None:
    assert resolved(matrix, jobs=3).runs_at_once(16) == 3
    assert resolved(matrix).runs_at_once(16) == 16


def test_builds_at_once_are_the_command_lines_then_the_default(matrix: Matrix) -> None:
    assert resolved(matrix, build_jobs=7).build_jobs == 7
    assert resolved(matrix).build_jobs == DEFAULT_BUILD_JOBS


def test_the_command_line_fills_options_without_defaults_of_its_own(tmp_path: Path) -> None:
    matrix_command = _parser().parse_args(
        ["matrix", "--config", "m.yaml", "-e", "a", "--memory", "3g", "-j", "2", "--fresh", "--report-only"]
    )
    assert _options(matrix_command) == Options(
        config=Path("m.yaml"),
        results=Path("results"),
        selection=Selection(environments=("a",)),
        memory="3g",
        jobs=2,
        fresh=True,
        report_only=True,
    )
    # `images` runs nothing: what it has no option for keeps Options' defaults.
    images_command = _parser().parse_args(["images", "--build-jobs", "2", "--push"])
    assert _options(images_command) == Options(
        config=Path("matrix.yaml"), results=Path("results"), build_jobs=2, push=True
    )
    assert _options(images_command).memory == DEFAULT_MEMORY
