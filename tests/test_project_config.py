"""matrix.yaml for a team's own project: packages, lock files, local projects, and how cases run."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedmatrix.config import load_matrix
from seedmatrix.errors import ConfigError
from seedmatrix.lockfile import read_lock_file
from seedmatrix.plan import HostFacts, Selection, make_plan

HASH = "sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"


def project(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "src").mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text(
        "[project]\nname = 'proj'\nversion = '0.1'\n", encoding="utf-8"
    )
    (tmp_path / "proj" / "train.py").write_text("print(1)\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("1,2\n", encoding="utf-8")
    return tmp_path / "proj"


def matrix_file(tmp_path: Path, environment: str = "", case: str = "") -> Path:
    """A matrix of one environment and one case; `environment` and `case` add keys to them (YAML lines)."""
    project(tmp_path)

    def extra(lines: str) -> str:
        return "".join(f"    {line}\n" for line in lines.splitlines())

    path = tmp_path / "matrix.yaml"
    path.write_text(
        "environments:\n  - name: app\n    debian: bookworm\n    python: '3.11'\n    numpy: '2.0.2'\n"
        + extra(environment)
        + "cases:\n  - name: train\n    script: proj/train.py\n"
        + extra(case),
        encoding="utf-8",
    )
    return path


def test_a_project_with_packages_a_lock_file_data_outputs_and_resources(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        f"# locked\nidna==3.10 \\\n    --hash={HASH}\npandas[performance]==2.2.3 ; python_version >= '3.9'\n",
        encoding="utf-8",
    )
    path = matrix_file(
        tmp_path,
        "packages: [scikit-learn==1.6.1]\nrequirements: requirements.txt\ninstall: proj",
        "workdir: proj\nargs: [--epochs, '2']\ndata: {data/train.csv: /data/train.csv}\n"
        "outputs: [model.npz, 'metrics/*.json']\nparse: 'loss (?P<loss>\\S+)'\n"
        "memory: 8g\ntimeout_seconds: 900\ntmp_mb: 512\nshm_mb: 256\n"
        "claims: {stable_within: {'loss': {ulps: 4}},\n"
        "         close_to_reference: {'outputs/*': {atol: 1.0e-6, rtol: 1.0e-5}}}",
    )
    matrix = load_matrix(path)
    env = matrix.environments[0]
    assert env.framework_pins == ("numpy==2.0.2", "scikit-learn==1.6.1")
    lock = matrix.lock_files["app"]
    assert lock.pins == ("idna==3.10", "pandas[performance]==2.2.3 ; python_version >= '3.9'")
    assert lock.hashed
    assert matrix.projects["app"] == (tmp_path / "proj",)
    plan = make_plan(matrix, Selection(), HostFacts(cpus=2), memory="4g")
    [cell] = plan.cells
    assert cell.workdir == tmp_path / "proj"
    assert cell.args == ("--epochs", "2")
    assert cell.data == {tmp_path / "data" / "train.csv": "/data/train.csv"}
    assert cell.outputs == ("model.npz", "metrics/*.json")
    assert (cell.limits.memory, cell.limits.timeout_seconds, cell.limits.tmp_mb, cell.limits.shm_mb) == (
        "8g",
        900,
        512,
        256,
    )


@pytest.mark.parametrize(
    ("environment", "case", "message"),
    [
        (
            "packages: [scikit-learn>=1.6]",
            "",
            r"environments\[0\]\.packages\[0\]: 'scikit-learn>=1.6' is not valid here: pin an exact version",
        ),
        ("packages: [scikit-learn]", "", r"environments\[0\]\.packages\[0\]: .*pin an exact version"),
        ("install: nowhere", "", r"environments\[0\]\.install\[0\]: .*nowhere holds no Python project"),
        ("install: data", "", r"environments\[0\]\.install\[0\]: .*data holds no Python project"),
        ("requirements: absent.txt", "", r"environments\[0\]\.requirements: no such file: .*absent\.txt"),
        (
            "",
            "data: {data/missing.csv: /data/x.csv}",
            r'cases\[0\]\.data\["data/missing\.csv"\]: no such file or directory',
        ),
        (
            "",
            "data: {data/train.csv: /tmp/x.csv}",
            r"cases\[0\]: .*data: /tmp/x\.csv is where seedmatrix mounts its own files",
        ),
        (
            "",
            "data: {data/train.csv: relative.csv}",
            r"cases\[0\]\.data\[\"data/train\.csv\"\]: 'relative\.csv' is not valid here: an absolute path",
        ),
        (
            "",
            "outputs: [../escape.npz]",
            r"cases\[0\]: .*outputs: '\.\./escape\.npz' leaves the outputs directory",
        ),
        (
            "",
            "outputs: [/abs.npz]",
            r"cases\[0\]\.outputs\[0\]: '/abs\.npz' is not valid here: a file name relative",
        ),
        ("", "parse: 'loss \\S+'", r"cases\[0\]: .*parse: give named groups"),
        ("", "parse: '(?P<loss'", r"cases\[0\]: .*parse: not a regular expression"),
        ("", "memory: lots", r"cases\[0\]\.memory: 'lots' is not valid here: a size such as 512m or 8g"),
        ("", "workdir: data", r"cases\[0\]\.workdir: .*data does not hold the script"),
        (
            "",
            "claims: {stable_within: {x: {}}}",
            r"cases\[0\]\.claims\.stable_within\.x: .*give either ulps, or atol and/or rtol",
        ),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, environment: str, case: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_matrix(matrix_file(tmp_path, environment, case))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "pandas>=2",
            r"requirements\.txt:2: environments\[0\]\.requirements: 'pandas>=2' is not an exact pin",
        ),
        ("pandas", r"requirements\.txt:2: .*'pandas' is not an exact pin"),
        ("-r other.txt", r"requirements\.txt:2: .*'-r' is not allowed here"),
        ("--index-url https://example.org", r"requirements\.txt:2: .*'--index-url' is not allowed here"),
        ("-e ./local", r"requirements\.txt:2: .*'-e' is not allowed here"),
        ("pandas @ https://example.org/pandas.whl", r"requirements\.txt:2: .*is not an exact pin"),
    ],
)
def test_a_lock_file_pins_every_requirement_exactly(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"idna==3.10\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_matrix(matrix_file(tmp_path, "requirements: requirements.txt"))


def test_a_lock_file_that_pins_nothing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="the file pins nothing"):
        read_lock_file(tmp_path / "empty.txt", key="environments[0].requirements")


def test_a_host_interpreter_installs_nothing(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.10\n", encoding="utf-8")
    path = matrix_file(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace("debian: bookworm", "host_python: python3")
        .replace("numpy: '2.0.2'", "requirements: requirements.txt"),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"environments\[0\]\.requirements: a host interpreter is used as it is"
    ):
        load_matrix(path)


def test_host_cells_with_data_mounts_are_skipped_with_the_reason(tmp_path: Path) -> None:
    path = matrix_file(tmp_path, "", "data: {data/train.csv: /data/train.csv}")
    path.write_text(
        path.read_text(encoding="utf-8").replace("debian: bookworm", "host_python: python3"), encoding="utf-8"
    )
    plan = make_plan(load_matrix(path), Selection(), HostFacts(cpus=1))
    assert plan.cells == ()
    [skip] = plan.skipped
    assert "data: mounts need a container" in skip.reason
