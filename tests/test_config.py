"""matrix.yaml validation: every error names the key path, the line, and what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seedmatrix.config import DEBIAN_PYTHON, MAX_CONFIG_BYTES, format_key_path, load_matrix, parse_matrix
from seedmatrix.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
repeats: 2
timeout_seconds: 300
environments:
  - name: one
    debian: bookworm
    python: "3.11"
    numpy: "2.0.2"
  - name: two
    base_image: python:3.12-slim
    python: "3.12"
    numpy: "2.4.6"
    tensorflow: "2.21.0"
cases:
  - name: random
    script: {seeds}/seed_random.py
  - name: tf
    script: {seeds}/seed_tensorflow1.py
    requires: [tensorflow]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.yaml"
    text = text.replace("{seeds}", str(ROOT / "seeds"))
    path.write_text(text, encoding="utf-8")
    return path


def good_with(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_default_matrix_loads_with_three_distinct_cpu_environments() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    assert matrix.repeats == 3
    assert len({env.python for env in matrix.environments}) >= 3
    assert {env.numpy.split(".")[0] for env in matrix.environments if env.numpy} == {"1", "2"}
    assert len({env.tensorflow.rsplit(".", 1)[0] for env in matrix.environments if env.tensorflow}) >= 3
    assert [case.name for case in matrix.cases][:5] == [
        "seed_random",
        "seed_numpy",
        "seed_tensorflow1",
        "seed_tensorflow2",
        "seed_tensorflow3",
    ]
    assert all(
        any(getattr(case, key).model_dump().values() for key in ("claims", "claims_on_cpu", "claims_on_gpu"))
        for case in matrix.cases
    )
    assert {case.cpus for case in matrix.cases} == {1, 2}
    assert any(case.env.get("PYTHONHASHSEED") == "0" for case in matrix.cases)
    assert matrix.debian_recipe is not None
    assert all(path.is_file() for path in matrix.scripts.values())


def test_good_file_gives_typed_frozen_objects(tmp_path: Path) -> None:
    matrix = load_matrix(write(tmp_path, GOOD))
    one, two = matrix.environments
    assert matrix.reference == "one"  # the first environment unless named
    assert one.framework_pins == ("numpy==2.0.2",)
    assert two.framework_pins == ("numpy==2.4.6", "tensorflow-cpu==2.21.0")
    assert two.frameworks == {"numpy", "tensorflow"}
    assert matrix.cases[1].requires == ("tensorflow",)
    with pytest.raises(ValueError, match="frozen"):
        one.name = "changed"


def test_repeats_default_to_three(tmp_path: Path) -> None:
    assert load_matrix(write(tmp_path, good_with("repeats: 2\n", ""))).repeats == 3


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '    numpy: "2.0.2"',
            '    numpi: "2.0.2"',
            r":7: environments\[0\]\.numpi: unknown key 'numpi'; did you mean 'numpy'\?",
        ),
        ("repeats: 2", "repeat: 2", r":1: repeat: unknown key 'repeat'; did you mean 'repeats'\?"),
        (
            '    numpy: "2.4.6"',
            "    numpy: 2.4",
            r":11: environments\[1\]\.numpy: .*got the number 2.4; quote versions",
        ),
        (
            '    numpy: "2.4.6"',
            '    numpy: ">=2.4"',
            r"environments\[1\]\.numpy: '>=2.4' is not valid here: pin an exact version",
        ),
        ('    numpy: "2.0.2"', '    numpy: "2.*"', r"environments\[0\]\.numpy: .*pin an exact version"),
        (
            "  - name: two",
            "  - name: one",
            r":8: environments\[1\]\.name: duplicate name 'one' \(also environments\[0\]\)",
        ),
        ("  - name: tf", "  - name: random", r"cases\[1\]\.name: duplicate name 'random'"),
        (
            "seed_random.py",
            "no_such_script.py",
            r":15: cases\[0\]\.script: no such file: .*no_such_script\.py",
        ),
        (
            '    python: "3.11"',
            '    python: "3.12"',
            r"environments\[0\]: python is '3.12' but Debian bookworm ships Python 3.11",
        ),
        (
            "    base_image: python:3.12-slim",
            "    base_image: Python:3.12 slim",
            r"environments\[1\]\.base_image: 'Python:3.12 slim' is not valid here: expected an image",
        ),
        (
            "    base_image: python:3.12-slim",
            "    debian: trixie\n    base_image: python:3.12-slim",
            r"environments\[1\]: give exactly one of 'debian'",
        ),
        (
            "    debian: bookworm",
            "    debian: buster",
            r"environments\[0\]\.debian: Input should be 'bullseye', 'bookworm' or 'trixie'",
        ),
        ("repeats: 2", "repeats: 0", r"repeats: Input should be greater than or equal to 1"),
        ("repeats: 2", "repeats: three", r"repeats: Input should be a valid integer"),
        (
            "repeats: 2",
            "repeats: 2\nreference: nope",
            r"reference: 'nope' is not an environment; choose one of one, two",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [pytorch]",
            r"cases\[1\]\.requires\[0\]: Input should be 'numpy', 'tensorflow', 'torch' or 'jax'",
        ),
        (
            "  - name: one",
            "  - name: 'bad name!'",
            r"environments\[0\]\.name: 'bad name!' is not valid here: use 1-64 letters",
        ),
        ("  - name: random\n    script:", "  - script:", r"cases\[0\]\.name: required key is missing"),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    claims: {stabel: ['*']}",
            r"cases\[1\]\.claims\.stabel: unknown key 'stabel'; did you mean 'stable'\?",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    claims: {equal: {'Session 2 {op}': 'Session 1 {opp}'}}",
            r"cases\[1\]\.claims: equal: 'Session 1 \{opp\}' uses \{opp\}, which 'Session 2 \{op\}' does not",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    claims: {same_as_case: nope}",
            r"cases\[1\]\.claims\.same_as_case: 'nope' is not another case; choose one of random",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    timed_against: tf",
            r"cases\[1\]\.timed_against: 'tf' is not another case; choose one of random",
        ),
        (
            "  - name: one",
            "  - name: one\n    cpu_isa: avx3",
            r"environments\[0\]\.cpu_isa: Input should be 'sse4.2', 'avx', 'avx2' or 'avx512'",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    env: {SEEDMATRIX_RECORDS: '0'}",
            r"cases\[1\]: env: SEEDMATRIX_RECORDS is reserved for the runner",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    env: {'BAD NAME': '1'}",
            r"cases\[1\]\.env\.BAD NAME: 'BAD NAME' is not valid here: an environment variable name",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    claims: {stable: ['{op} and {op}']}",
            r"cases\[1\]\.claims: pattern '\{op\} and \{op\}' captures \{op\} twice",
        ),
        (
            "    requires: [tensorflow]",
            "    requires: [tensorflow]\n    cpus: 0",
            r"cases\[1\]\.cpus: Input should be",
        ),
        (
            "repeats: 2",
            "repeats: 2\nbaseline: nowhere.json",
            r"baseline: no such results file or run directory",
        ),
        (
            "repeats: 2",
            "repeats: 2\nfail_on_surprise: maybe",
            r"fail_on_surprise: Input should be a valid boolean",
        ),
    ],
)
def test_each_mistake_is_named_with_its_key_path(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_matrix(write(tmp_path, good_with(old, new)))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = good_with('    numpy: "2.0.2"', "    numpy: 2.0").replace("repeats: 2", "repeats: -1")
    with pytest.raises(ConfigError) as raised:
        load_matrix(write(tmp_path, text))
    assert str(raised.value).count("\n") == 1
    assert "repeats" in str(raised.value)
    assert "environments[0].numpy" in str(raised.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"matrix\.yaml:5: invalid YAML: mapping values are not allowed here"
    ):
        load_matrix(write(tmp_path, good_with("    debian: bookworm", "    debian: bookworm: x")))


def test_duplicate_yaml_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    text = good_with('    numpy: "2.0.2"', '    numpy: "2.0.2"\n    numpy: "1.26.4"')
    with pytest.raises(ConfigError, match=r":8: environments\[0\]\.numpy: duplicate key"):
        load_matrix(write(tmp_path, text))


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "plain text\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_matrix(write(tmp_path, text))


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text("#" * (MAX_CONFIG_BYTES + 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_matrix(path)


def test_missing_file_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_matrix(tmp_path / "absent.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_matrix(binary)


def test_images_dir_must_hold_a_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"images_dir: .* has no Dockerfile"):
        load_matrix(write(tmp_path, good_with("timeout_seconds: 300", f"images_dir: {tmp_path}")))


def test_bad_debian_recipe_is_named(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (images / "debian-base.yaml").write_text("include: [python3]\nmirorr: http://x\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"debian-base\.yaml:2: mirorr: unknown key 'mirorr'; did you mean 'mirror'\?"
    ):
        load_matrix(write(tmp_path, good_with("timeout_seconds: 300", f"images_dir: {images}")))


def test_format_key_path() -> None:
    assert format_key_path(("environments", 2, "numpy")) == "environments[2].numpy"
    assert format_key_path(("cases", 0, "requires", 1)) == "cases[0].requires[1]"
    assert format_key_path(()) == "(top level)"


def test_debian_suites_cover_three_pythons() -> None:
    assert sorted(DEBIAN_PYTHON.values(), key=lambda v: int(v.split(".")[1])) == ["3.9", "3.11", "3.13"]


def test_parse_matrix_anchors_relative_paths_at_the_source(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        environments: [{name: e, debian: trixie, python: "3.13"}]
        cases: [{name: c, script: seeds/seed_random.py}]
        """
    )
    matrix = parse_matrix(text, source=ROOT / "virtual.yaml")
    assert matrix.scripts["c"] == ROOT / "seeds" / "seed_random.py"


def test_a_matrix_file_outside_the_repository_uses_the_shipped_dockerfile(tmp_path: Path) -> None:
    """Before: any matrix file outside this repository failed: `images_dir: … has no Dockerfile`."""
    (tmp_path / "train.py").write_text("print(1)\n", encoding="utf-8")
    path = tmp_path / "matrix.yaml"
    path.write_text(
        "environments: [{name: e, debian: bookworm, python: '3.11'}]\ncases: [{name: c, script: train.py}]\n",
        encoding="utf-8",
    )
    matrix = load_matrix(path)
    assert (matrix.images_dir / "Dockerfile").is_file()
    assert matrix.debian_recipe is not None


def test_key_paths_quote_keys_that_would_garble_them() -> None:
    assert format_key_path(("cases", 0, "\r")) == 'cases[0]["\\r"]'
    assert format_key_path(("cases", 0, "claims", "equal", "a.b")) == 'cases[0].claims.equal["a.b"]'
    assert format_key_path(("cases", 0, "env", "BAD NAME")) == "cases[0].env.BAD NAME"
    assert format_key_path(("cases", 0, " ")) == 'cases[0][" "]'


# Inputs that must end in a clear error, fast. Each runs in a subprocess with a deadline and a
# memory cap, so a loader that hangs or balloons fails the test instead of the machine.
def load_in_subprocess(path: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_AS, ({2 << 30}, {2 << 30}))
        from seedmatrix.config import load_matrix
        from seedmatrix.errors import ConfigError
        try:
            load_matrix(Path({path!r}))
        except ConfigError as error:
            print(error)
            sys.exit(2)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )


LAUGHS = "".join(
    f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9) if n else ', '.join(['lol'] * 9)}]\n" for n in range(9)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LAUGHS, "expands to more than 100,000 nodes"),
        ("a: &a [1, *a]\n", "refers to the collection it is in"),
        ("a: &a {b: *a}\n", "refers to the collection it is in"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "nested more than 64 levels deep"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
        ("a: &a [" + ", ".join(["x"] * 60) + "]\nb: [" + ", ".join(["*a"] * 2000) + "]\n", "expands to"),
    ],
    ids=["billion-laughs", "cyclic-list", "cyclic-map", "deep", "very-deep", "wide-aliases"],
)
def test_documents_that_expand_are_refused_fast(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(text, encoding="utf-8")
    assert len(text.encode()) < 64 * 1024
    finished = load_in_subprocess(str(path))
    assert finished.returncode == 2, finished.stderr
    assert message in finished.stdout
    assert str(path) in finished.stdout


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom"])
def test_endless_sources_are_refused_after_the_limit(source: str) -> None:
    finished = load_in_subprocess(source)
    assert finished.returncode == 2, finished.stderr
    assert f"{source}: the file is larger than 1 MiB" in finished.stdout


def test_a_huge_sparse_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(8 << 30)  # 8 GiB of zeros, none of it on disk
    finished = load_in_subprocess(str(path))
    assert finished.returncode == 2, finished.stderr
    assert "larger than 1 MiB" in finished.stdout


def test_a_matrix_file_from_a_pipe_still_loads(tmp_path: Path) -> None:
    """Process substitution (`--config <(...)`) hands over a pipe; reading it must keep working."""
    text = write(tmp_path, GOOD).read_text(encoding="utf-8")
    pipe_read, pipe_write = os.pipe()
    os.write(pipe_write, text.encode())
    os.close(pipe_write)
    try:
        matrix = load_matrix(Path(f"/dev/fd/{pipe_read}"))
    finally:
        os.close(pipe_read)
    assert [env.name for env in matrix.environments] == ["one", "two"]


def test_a_published_nan_or_infinity_ends_in_one_message_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(
        "environments: [{name: e, debian: bookworm, python: '3.11'}]\n"
        "cases:\n"
        "  - name: c\n"
        f"    script: {Path(__file__).resolve().parent.parent / 'seeds' / 'seed_random.py'}\n"
        "    expected:\n"
        "      digits: 8\n"
        "      values: {loss: [0.5, .nan]}\n",
        encoding="utf-8",
    )
    finished = subprocess.run(
        [sys.executable, "-m", "seedmatrix", "matrix", "--config", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert "matrix.yaml:5: cases[0].expected: values.loss: 'nan' is not a finite number" in finished.stderr


SLURM = """\
repeats: 2
environments:
  - name: cluster
    host_python: python3
    python: "3.11"
    slurm:
      partition: gpu-a100
      gres: gpu:a100:1
      constraint: a100&nvlink
      time: "00:30:00"
      account: seeds
      extra: [--qos=short, --mem=16G]
    device: gpu
cases:
  - name: random
    script: {seeds}/seed_random.py
"""


def test_slurm_key_is_read_whole(tmp_path: Path) -> None:
    slurm = load_matrix(write(tmp_path, SLURM)).environments[0].slurm
    assert slurm is not None
    assert (slurm.partition, slurm.gres, slurm.constraint, slurm.time, slurm.account, slurm.extra) == (
        "gpu-a100", "gpu:a100:1", "a100&nvlink", "00:30:00", "seeds", ("--qos=short", "--mem=16G"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("      time: \"00:30:00\"", "      time: half an hour",
         r":10: environments\[0\]\.slurm\.time: 'half an hour' is not valid here: a Slurm time limit"),
        ("      gres: gpu:a100:1", "      gres: gpu a100",
         r":8: environments\[0\]\.slurm\.gres: 'gpu a100' is not valid here: a Slurm generic resource"),
        ("      partition: gpu-a100", "      partition: gpu;rm -rf",
         r":7: environments\[0\]\.slurm\.partition: 'gpu;rm -rf' is not valid here"),
        ("      extra: [--qos=short, --mem=16G]", "      extra: [-q short]",
         r":12: environments\[0\]\.slurm\.extra\[0\]: '-q short' is not valid here: an sbatch long option"),
        ("      extra: [--qos=short, --mem=16G]", "      extra: [--array=1-4]",
         r":12: environments\[0\]\.slurm\.extra: --array is set by seedmatrix itself; leave it out"),
        ("      extra: [--qos=short, --mem=16G]", "      extra: [--time=10]",
         r"environments\[0\]\.slurm\.extra: --time is set by seedmatrix itself; give it as slurm: time:"),
        ("      account: seeds", "      acount: seeds",
         r":11: environments\[0\]\.slurm\.acount: unknown key 'acount'; did you mean 'account'\?"),
        ("    host_python: python3", "    debian: bookworm",
         r":3: environments\[0\]: slurm: a GPU container environment on Slurm is not supported yet "
         r"\(mapping the GPUs Slurm gives a task into its container was not built or tested\)"),
        ("    host_python: python3", "    base_image: python:3.11-slim",
         r":3: environments\[0\]: slurm: a GPU container environment on Slurm is not supported yet"),
        ("      gres: gpu:a100:1\n", "",
         r"environments\[0\]: a GPU environment on Slurm must ask for its GPUs"),
        ("      gres: gpu:a100:1", "      gres: gpu:a100:0",
         r"environments\[0\]: a GPU environment on Slurm must ask for its GPUs"),
        ("      gres: gpu:a100:1\n      constraint: a100&nvlink\n      time: \"00:30:00\"\n"
         "      account: seeds\n      extra: [--qos=short, --mem=16G]", "      extra: [--gpus=0]",
         r"environments\[0\]: a GPU environment on Slurm must ask for its GPUs"),
    ],
)  # fmt: skip
def test_slurm_mistakes_are_named_with_key_path_and_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in SLURM, old
    with pytest.raises(ConfigError, match=expected):
        load_matrix(write(tmp_path, SLURM.replace(old, new, 1)))


def test_a_cpu_image_environment_may_run_on_slurm(tmp_path: Path) -> None:
    """Before: slurm: needed host_python; a CPU image now runs in a container on each node."""
    text = SLURM.replace("    host_python: python3", "    debian: bookworm").replace("    device: gpu\n", "")
    [environment] = load_matrix(write(tmp_path, text)).environments
    assert (environment.debian, environment.host_python, environment.device) == ("bookworm", None, "cpu")
    assert environment.slurm is not None
    assert environment.slurm.partition == "gpu-a100"


def test_an_emulated_platform_on_slurm_is_refused(tmp_path: Path) -> None:
    text = SLURM.replace("    host_python: python3", "    debian: bookworm\n    platform: linux/arm64")
    text = text.replace("    device: gpu\n", "")
    with pytest.raises(ConfigError, match=r":3: environments\[0\]: slurm: 'platform' \(an emulated "
                       r"architecture\) is not supported on Slurm"):  # fmt: skip
        load_matrix(write(tmp_path, text))


def test_slurm_gpu_environment_may_ask_for_gpus_with_an_extra_option(tmp_path: Path) -> None:
    text = SLURM.replace("      gres: gpu:a100:1\n", "").replace("--qos=short", "--gpus=1")
    slurm = load_matrix(write(tmp_path, text)).environments[0].slurm
    assert slurm is not None
    assert slurm.gres is None
    assert "--gpus=1" in slurm.extra


def test_slurm_gpu_environment_asking_zero_gpus_beside_another_resource_is_refused(tmp_path: Path) -> None:
    # gres is a list: gpu:0 first, then something else; its jobs would land without a GPU.
    text = SLURM.replace("      gres: gpu:a100:1", "      gres: gpu:0,tmpdisk:100", 1)
    with pytest.raises(ConfigError, match=r"a GPU environment on Slurm must ask for its GPUs"):
        load_matrix(write(tmp_path, text))
