"""Bisecting a project's own commits on a real engine: `git bisect run seedmatrix bisect probe` in a
tiny git repository whose project is installed into the image (`install:`), each commit built into
an image of its own, the case compared bit for bit with a reference recorded at the good commit."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from test_bisect_run import ctrl_c_at
from test_commits import git

import seedmatrix
from seedmatrix.results import Build

from test_faults import command, environment, leftovers
from test_faults import seedmatrix as run_seedmatrix

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# The images these tests build carry this environment name; they are removed before and after.
ENVIRONMENT = "seedmatrix-test-gitbisect"
CASE = "tally"
PYPROJECT = (
    '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
    '[project]\nname = "tally"\nversion = "0.1.0"\n'
)
ADDED_IN_ORDER = "VALUES = [0.1, 0.2, 0.3]\nCOUNT = len(VALUES)\n\n\ndef total():\n    return sum(VALUES)\n"
# 0.1 + 0.2 + 0.3 is 0.6000000000000001; 0.3 + 0.2 + 0.1 is 0.6: the sum's order changes its last bit.
ADDED_REVERSED = ADDED_IN_ORDER.replace("sum(VALUES)", "sum(reversed(VALUES))")
RUN = "from recording import show\nimport tally\nshow('total', tally.total())\nshow('count', tally.COUNT)\n"


@pytest.fixture(scope="module", autouse=True)
def no_gitbisect_images_left(docker_client: docker.DockerClient) -> Iterator[None]:
    def remove_all() -> None:
        for image in docker_client.images.list(name="seedmatrix-env"):
            for tag in image.tags:
                if tag.startswith(f"seedmatrix-env:{ENVIRONMENT}"):
                    docker_client.images.remove(tag, force=True)

    remove_all()  # a tag left by an interrupted session would make a fresh build look cached
    yield
    remove_all()


@dataclass(frozen=True, kw_only=True)
class History:
    """A tiny project's commits, oldest first, and a matrix outside the repository that installs it."""

    repo: Path
    matrix: Path
    good: str  # sums in order
    noted: str  # an empty commit: the good commit's tree, its image
    broken: str  # its pyproject.toml is not TOML: no wheel is built
    fixed: str  # the good commit's tree again: its image is the good commit's
    changed: str  # sums in reverse: the first bad commit
    later: str  # a README after the change: bad too


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_history(root: Path) -> History:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    good = commit(
        repo,
        {"pyproject.toml": PYPROJECT, "src/tally/__init__.py": ADDED_IN_ORDER, "run.py": RUN},
        "sum in order",
    )
    git(repo, "commit", "-q", "--allow-empty", "-m", "a note")
    noted = git(repo, "rev-parse", "HEAD")
    broken = commit(repo, {"pyproject.toml": "[project\n"}, "break the build")
    fixed = commit(repo, {"pyproject.toml": PYPROJECT}, "mend the build")
    changed = commit(repo, {"src/tally/__init__.py": ADDED_REVERSED}, "sum in reverse")
    later = commit(repo, {"README.md": "tally\n"}, "a README")
    matrix = root / "matrix.yaml"
    matrix.write_text(
        json.dumps(
            {
                "repeats": 2,
                "timeout_seconds": 120,
                "environments": [
                    {
                        "name": ENVIRONMENT,
                        "debian": "bookworm",
                        "python": "3.11",
                        "numpy": "2.0.2",  # small.yaml's pins: their wheels and layers are at hand
                        "install": str(repo),
                    }
                ],
                "cases": [{"name": CASE, "script": str(repo / "run.py")}],
            }
        ),
        encoding="utf-8",
    )
    return History(
        repo=repo,
        matrix=matrix,
        good=good,
        noted=noted,
        broken=broken,
        fixed=fixed,
        changed=changed,
        later=later,
    )


def probe_command(history: History, reference: Path) -> list[str]:
    return command(
        "bisect", "probe", "--matrix", str(history.matrix), "-e", ENVIRONMENT, "--case", CASE,
        "--reference", str(reference),
    )  # fmt: skip


def with_package() -> dict[str, str]:
    """The environment a probe runs in from another directory: this package on its path."""
    return environment(PYTHONPATH=str(Path(seedmatrix.__file__).parents[1]))


def test_git_bisect_run_names_the_commit_that_changed_the_sum(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    history = make_history(tmp_path)
    git(history.repo, "checkout", "-q", history.good)
    reference = tmp_path / "reference"
    recorded = run_seedmatrix("matrix", "--config", str(history.matrix), "--results", str(reference))
    assert recorded.returncode == 0, recorded.stderr

    git(history.repo, "checkout", "-q", history.broken)
    broken = subprocess.run(
        probe_command(history, reference), cwd=history.repo, capture_output=True, text=True,
        env=with_package(), check=False, timeout=900,
    )  # fmt: skip
    assert broken.returncode == 125, broken.stdout + broken.stderr  # git skips it
    assert "total: cannot test: failed (fetching wheels for" in broken.stdout

    git(history.repo, "checkout", "-q", history.later)
    git(history.repo, "bisect", "start", history.later, history.good)
    bisected = subprocess.run(
        ["git", "bisect", "run", *probe_command(history, reference)], cwd=history.repo,
        capture_output=True, text=True, env=with_package(), check=False, timeout=1800,
    )  # fmt: skip
    log = git(history.repo, "bisect", "log")
    git(history.repo, "bisect", "reset")
    assert bisected.returncode == 0, bisected.stdout + bisected.stderr
    assert f"{history.changed} is the first bad commit" in bisected.stdout, bisected.stdout
    assert "total: changed (" in bisected.stdout  # with Δ and ULP
    assert "count: same" in bisected.stdout
    assert "ULP" in bisected.stdout.split("total: changed (")[1].split("\n")[0]
    assert f"git bisect good {history.fixed}" in log  # the mended build is the good commit's image again
    # The probes wrote only their results root, results/ in the bisected tree (untracked).
    assert git(history.repo, "status", "--porcelain", "--untracked-files=normal") == "?? results/"
    written = (history.repo / "results" / "probe").glob("*/probe.json")
    probes = [
        json.loads(path.read_text(encoding="utf-8")) for path in written if path.parent.name != "latest"
    ]
    assert {found["exit_status"] for found in probes} == {0, 1, 125}
    assert {found["build"] for found in probes if found["exit_status"] == 0} == {"cached"}


def test_bisect_over_commits_steps_around_a_commit_that_does_not_build(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    history = make_history(tmp_path)
    results = tmp_path / "results"
    finished = run_seedmatrix(
        "bisect", "--matrix", str(history.matrix), "--results", str(results), "-e", ENVIRONMENT,
        "--case", CASE, "--commits", f"{history.good}..main",
    )  # fmt: skip
    run = (results / "bisect" / "latest").resolve()
    report = json.loads((run / "bisect.json").read_text(encoding="utf-8"))
    assert finished.returncode == 0, finished.stderr
    short = {commit["sha"]: commit["short"] for commit in report["commits"]}
    assert list(short) == [
        history.good,
        history.noted,
        history.broken,
        history.fixed,
        history.changed,
        history.later,
    ]
    verdicts = {verdict["label"]: verdict for verdict in report["verdicts"]}
    assert verdicts["total"]["answer"] == "found"
    assert verdicts["total"]["first_changed"] == short[history.changed]
    assert verdicts["total"]["last_same"] == short[history.fixed]
    assert verdicts["count"]["answer"] == "unchanged"
    tried = {entry["version"]: entry for entry in report["tried"]}
    # The middle commit does not build: stepped around, as git bisect skip does.
    assert tried[short[history.broken]]["untested"]["outcome"] == "failed"
    assert tried[short[history.broken]]["environment"] == f"{ENVIRONMENT}-{short[history.broken]}"
    assert tried[short[history.fixed]]["build"] == "cached"  # the good commit's tree: its image
    assert short[history.noted] not in tried  # a search, not every commit
    said = " ".join(finished.stderr.split())
    assert f"total: first changed in commit {short[history.changed]} (sum in reverse)" in said
    page = (run / "BISECT.md").read_text(encoding="utf-8")
    assert f"**`{short[history.changed]}` sum in reverse**" in page
    # Nothing left behind: no export, no container, no change in the project's repository.
    assert not (run / "commits").exists()
    assert leftovers(docker_client, report["run_id"]) == []
    assert git(history.repo, "status", "--porcelain") == ""


def test_ctrl_c_in_a_commit_bisect_leaves_no_export_and_resume_finishes_it(
    docker_client: docker.DockerClient, small_image: Build, tmp_path: Path
) -> None:
    history = make_history(tmp_path)
    arguments = [
        "bisect", "--matrix", str(history.matrix), "--results", str(tmp_path / "results"), "-e", ENVIRONMENT,
        "--case", CASE, "--commits", f"{history.good}..main",
    ]  # fmt: skip
    # The second probe (the bad end) is being exported and prepared.
    ctrl_c_at(arguments, "probe 2: commit")
    run = (tmp_path / "results" / "bisect" / "latest").resolve()
    stopped = json.loads((run / "bisect.json").read_text(encoding="utf-8"))
    assert stopped["finished"] is False
    assert len(stopped["tried"]) == 1  # the good commit
    assert not (run / "commits").exists()  # the export went with the interrupted probe
    assert leftovers(docker_client, stopped["run_id"]) == []

    resumed = run_seedmatrix(*arguments, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((run / "bisect.json").read_text(encoding="utf-8"))
    short = {commit["sha"]: commit["short"] for commit in report["commits"]}
    assert report["finished"] is True
    assert report["tried"][0] == stopped["tried"][0]  # kept, not probed again
    found = {verdict["label"]: verdict for verdict in report["verdicts"]}["total"]
    assert (found["answer"], found["first_changed"]) == ("found", short[history.changed])
    assert not (run / "commits").exists()
