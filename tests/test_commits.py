"""`seedmatrix bisect --commits` without an engine: the commits on the ancestry path from a real
temporary git repository, a commit's clean export, the errors, and BISECT.md and bisect.json naming
commits."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from seedmatrix.__main__ import main
from seedmatrix.bisection import LabelOutcome, Outcome, Probe, verdicts
from seedmatrix.bisector import (
    BISECT_DIR,
    BISECT_JSON,
    Bisect,
    BisectRequest,
    Tried,
    _stopped_bisect,
    as_json,
    render,
    restored,
    summary_lines,
)
from seedmatrix.commits import Commit, commits_between, exported, relocated, repository_of, split_range
from seedmatrix.errors import ConfigError, ResultsError
from seedmatrix.releases import Candidate
from seedmatrix.store import RunDirectory

DATA = Path(__file__).parent / "data"


def git(repo: Path, *arguments: str) -> str:
    finished = subprocess.run(
        ["git", "-C", str(repo), *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        },
    )
    return finished.stdout.strip()


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """first → good → (side, from first, merged) → third → merge → bad."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "project/a.py", "A = 1\n", "first")
    git(repo, "branch", "side")
    commit(repo, "project/a.py", "A = 2\n", "good")
    git(repo, "checkout", "-q", "side")
    commit(repo, "project/side.py", "S = 1\n", "side")
    git(repo, "checkout", "-q", "main")
    commit(repo, "project/a.py", "A = 3\n", "third")
    git(repo, "merge", "-q", "--no-edit", "side")
    commit(repo, "project/a.py", "A = 4\n", "bad")
    return repo


def test_the_candidates_are_good_and_the_ancestry_path_to_bad_oldest_first(repo: Path) -> None:
    found = commits_between(repo, "main~3", "main")
    assert [c.subject for c in found] == ["good", "third", "Merge branch 'side'", "bad"]
    assert found[0].sha == git(repo, "rev-parse", "main~3")
    assert found[-1].sha == git(repo, "rev-parse", "main")
    assert all(c.sha.startswith(c.short) and len(c.short) >= 7 for c in found)
    # "side" is not a descendant of good: never a candidate, though bad holds it.
    assert git(repo, "rev-parse", "side") not in {c.sha for c in found}


def test_the_repository_of_a_project_in_a_subdirectory(repo: Path, tmp_path: Path) -> None:
    assert repository_of(repo / "project") == repo.resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match="is not in a git repository"):
        repository_of(elsewhere)


@pytest.mark.parametrize(
    ("good", "bad", "said"),
    [
        ("nothing", "main", "'nothing' names no commit"),
        ("main~3", "v9", "'v9' names no commit"),
        ("main", "main~3", "main is not an ancestor of main~3"),
        ("side", "main~2", "side is not an ancestor of main~2"),  # a side branch, merged later
        ("main", "main", "both name commit"),
    ],
)
def test_revisions_that_give_no_range_are_clear_errors(repo: Path, good: str, bad: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        commits_between(repo, good, bad)


@pytest.mark.parametrize("text", ["main", "..main", "main..", "a...b"])
def test_a_range_is_two_revisions(text: str) -> None:
    with pytest.raises(ConfigError, match=r"GOOD\.\.BAD"):
        split_range(text)
    assert split_range("v1.0..main") == ("v1.0", "main")


def test_an_export_holds_the_commit_alone_and_is_removed_after(repo: Path, tmp_path: Path) -> None:
    (repo / "project" / "a.py").write_text("A = 'edited, not committed'\n", encoding="utf-8")
    (repo / "project" / "untracked.py").write_text("U = 1\n", encoding="utf-8")
    good = git(repo, "rev-parse", "main~3")
    place = tmp_path / "run" / "commits" / "good"
    with exported(repo, good, place) as tree:
        assert tree == place
        assert (tree / "project" / "a.py").read_text(encoding="utf-8") == "A = 2\n"
        assert not (tree / "project" / "untracked.py").exists()
        assert not (tree / "project" / "side.py").exists()
        assert not (tree / ".git").exists()
    assert not place.exists()
    assert not place.parent.exists()  # the exports' directory goes with its last export
    with pytest.raises(KeyboardInterrupt), exported(repo, good, place):
        raise KeyboardInterrupt  # Ctrl-C while a probe runs
    assert not place.exists()


def test_a_ctrl_c_as_the_export_directory_is_made_leaves_nothing(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The signal's handler runs as mkdir returns: the directory exists, nothing is extracted yet.
    # Seen in CI: the bisect test sends SIGINT on the line printed just before the export.
    made = Path.mkdir

    def mkdir_then_interrupted(self: Path, *arguments: object, **options: object) -> None:
        made(self, *arguments, **options)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    place = tmp_path / "run" / "commits" / "good"
    place.parent.mkdir(parents=True)  # mkdir makes `place` alone, then the signal lands
    monkeypatch.setattr(Path, "mkdir", mkdir_then_interrupted)
    with pytest.raises(KeyboardInterrupt), exported(repo, git(repo, "rev-parse", "main"), place):
        pytest.fail("the export was entered")
    assert not place.exists()
    assert not place.parent.exists()


def test_an_export_left_by_a_killed_bisect_is_replaced(repo: Path, tmp_path: Path) -> None:
    place = tmp_path / "commits" / "good"
    place.mkdir(parents=True)
    (place / "stale.py").write_text("", encoding="utf-8")
    with exported(repo, git(repo, "rev-parse", "main"), place) as tree:
        assert not (tree / "stale.py").exists()
        assert (tree / "project" / "side.py").exists()


def test_projects_in_the_repository_are_installed_from_the_export(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    export = tmp_path / "export"
    assert relocated((repo / "project", other), repo, export) == (export / "project", other)


def bisect_main(tmp_path: Path, matrix: Path, *arguments: str) -> int:
    return main(
        ["bisect", "--matrix", str(matrix), "--results", str(tmp_path / "results"), "--case", "c", *arguments]
    )


def project_matrix(tmp_path: Path, project: Path) -> Path:
    (tmp_path / "run.py").write_text("print(1)\n", encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n', encoding="utf-8")
    path = tmp_path / "matrix.yaml"
    path.write_text(
        json.dumps(
            {
                "environments": [
                    {"name": "app", "debian": "bookworm", "python": "3.11", "install": str(project)},
                    {"name": "plain", "debian": "bookworm", "python": "3.11"},
                ],
                "cases": [{"name": "c", "script": "run.py"}],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_the_command_line_refuses_what_commits_cannot_mean(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = project_matrix(tmp_path, repo / "project")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pyproject")
    assert bisect_main(tmp_path, matrix, "-e", "app", "--commits", "main~1..main", "--package", "numpy") == 2
    assert bisect_main(tmp_path, matrix, "-e", "app", "--commits", "main~1..main", "--pre") == 2
    assert bisect_main(tmp_path, matrix, "-e", "app", "--commits", "main") == 2
    assert bisect_main(tmp_path, matrix, "-e", "plain", "--commits", "main~1..main") == 2
    assert bisect_main(tmp_path, matrix, "-e", "app", "--commits", "main..main~4") == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "--commits bisects commits, not releases: drop --package" in said
    assert "drop --pre" in said
    assert "give two revisions as GOOD..BAD" in said
    assert "environment plain installs no local project (install:)" in said
    assert "main is not an ancestor of main~4" in said
    assert not (tmp_path / "results" / BISECT_DIR).exists()  # refused before any work


def test_a_project_git_does_not_keep_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    matrix = project_matrix(tmp_path, project)
    assert bisect_main(tmp_path, matrix, "-e", "app", "--commits", "a..b") == 2
    assert "is not in a git repository" in " ".join(capsys.readouterr().err.split())


COMMITS = (
    Commit(sha="a" * 40, short="aaaaaaa", subject="sum in order"),
    Commit(sha="b" * 40, short="bbbbbbb", subject="break the build | badly"),
    Commit(sha="c" * 40, short="ccccccc", subject="sum in reverse"),
)


def a_commit_bisect(*, finished: bool = True) -> Bisect:
    request = BisectRequest(
        config=Path("m.yaml"), results=Path("r"), environment="app", case="c", good="v1", bad="main",
        commits=True,
    )  # fmt: skip
    same = LabelOutcome(outcome=Outcome.SAME)
    changed = LabelOutcome(outcome=Outcome.CHANGED, detail="1 of 1 element(s), max |Δ| 1.11e-16, 1 ULP")
    failed = LabelOutcome(outcome=Outcome.FAILED, detail="fetching wheels for app-bbbbbbb failed")
    tried = (
        Tried(
            probe=Probe(version="aaaaaaa", labels={"total": same}), environment="a", build="cached", runs=2
        ),
        Tried(
            probe=Probe(version="ccccccc", labels={"total": changed}), environment="c", build="built", runs=2
        ),
        Tried(probe=Probe(version="bbbbbbb", untested=failed), environment="b", build="failed"),
    )
    versions = [c.short for c in COMMITS]
    probes = {t.probe.version: t.probe for t in tried}
    return Bisect(
        request=request,
        run_id="run-1",
        candidates=tuple(Candidate(version=v) for v in versions),
        labels=("total",),
        tried=tried,
        verdicts=verdicts(("total",), versions, probes),
        wall_seconds=12.0,
        finished=finished,
        commits=COMMITS,
    )


def test_bisect_md_names_commits_by_sha_and_subject() -> None:
    result = a_commit_bisect()
    page = render(result)
    assert page.startswith("# Bisect: commits v1..main\n")
    assert "## First changing commit per label" in page
    assert (
        "| `total` | one of `bbbbbbb` break the build \\| badly, `ccccccc` sum in reverse "
        "| `aaaaaaa` sum in order |" in page
    )
    assert "## Commits tried" in page
    assert "| `bbbbbbb` break the build \\| badly | failed | 0 |" in page
    assert "releases" not in page
    assert summary_lines(result)[0].startswith("total: first changed in one of bbbbbbb, ccccccc")


def test_a_found_commit_is_named_with_its_subject() -> None:
    result = a_commit_bisect()
    found = verdicts(("total",), ["aaaaaaa", "ccccccc"], {t.probe.version: t.probe for t in result.tried})
    narrowed = Bisect(
        **{
            **result.__dict__,
            "verdicts": found,
            "candidates": (Candidate(version="aaaaaaa"), Candidate(version="ccccccc")),
        }
    )
    assert summary_lines(narrowed)[0] == (
        "total: first changed in commit ccccccc (sum in reverse) (the same as v1 up to aaaaaaa)"
    )


def test_a_stopped_commit_bisect_resumes_from_its_bisect_json(tmp_path: Path) -> None:
    stopped = a_commit_bisect(finished=False)
    document = json.loads(json.dumps(as_json(stopped)))
    assert document["commits"][1] == {
        "sha": "b" * 40,
        "short": "bbbbbbb",
        "subject": "break the build | badly",
    }
    assert document["request"]["commits"] is True
    found, tried, _ = restored(document)
    assert [c.version for c in found] == ["aaaaaaa", "bbbbbbb", "ccccccc"]
    assert tried["bbbbbbb"].probe.untested is not None
    request = BisectRequest(
        config=Path("m.yaml"), results=tmp_path, environment="app", case="c", good="v1", bad="main",
        commits=True, resume=True,
    )  # fmt: skip
    run = RunDirectory.create(tmp_path / BISECT_DIR)
    (run.path / BISECT_JSON).write_text(json.dumps(document), encoding="utf-8")
    assert _stopped_bisect(request)[0].path == run.path
    releases = BisectRequest(
        config=Path("m.yaml"), results=tmp_path, environment="app", case="c", package="numpy", good="v1",
        bad="main", resume=True,
    )  # fmt: skip
    with pytest.raises(ResultsError, match="no stopped bisect of numpy v1 → main"):
        _stopped_bisect(releases)  # a bisect of commits is not one of releases


def test_a_release_bisect_from_before_commits_still_resumes(tmp_path: Path) -> None:
    request = BisectRequest(
        config=Path("m.yaml"), results=tmp_path, environment="app", case="c", package="numpy", good="1",
        bad="2", resume=True,
    )  # fmt: skip
    document = {"request": {k: v for k, v in as_json(a_commit_bisect())["request"].items() if k != "commits"}}
    document["request"].update(package="numpy", good="1", bad="2")
    run = RunDirectory.create(tmp_path / BISECT_DIR)
    (run.path / BISECT_JSON).write_text(json.dumps({**document, "finished": False}), encoding="utf-8")
    assert _stopped_bisect(request)[0].path == run.path
