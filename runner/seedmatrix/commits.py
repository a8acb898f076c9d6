"""A project's commits between two revisions, from git, and a clean copy of one commit's tree.

`seedmatrix bisect --commits GOOD..BAD` probes the commits on the ancestry path from GOOD to BAD,
oldest first, each installed from `git archive` of that commit: what is committed, never the working
tree's edits or untracked files. git is run as a command (argument lists, no shell).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

_SEPARATOR = "\x1f"  # between a commit's fields in git's output: no subject holds it
_TIMEOUT = 300  # seconds for one git command (an archive of a large repository included)


@dataclass(frozen=True, kw_only=True)
class Commit:
    sha: str
    short: str  # git's abbreviation: the probe's name and the version bisection sees
    subject: str


def _git(repository: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repository), *arguments],
            capture_output=True,
            text=True,
            check=False,
            timeout=_TIMEOUT,
        )
    except FileNotFoundError:
        raise ConfigError("bisecting commits needs git, which is not installed here") from None


def repository_of(project: Path) -> Path:
    """The top of the git repository that holds `project`."""
    found = _git(project, "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise ConfigError(
            f"{project} is not in a git repository ({found.stderr.strip() or 'git said nothing'}): "
            "--commits bisects the commits of a project that git keeps"
        )
    return Path(found.stdout.strip())


def split_range(text: str) -> tuple[str, str]:
    """GOOD..BAD as its two revisions."""
    good, dots, bad = text.partition("..")
    if not dots or not good or not bad or bad.startswith("."):
        raise ConfigError(f"--commits {text!r}: give two revisions as GOOD..BAD (for example v1.0..main)")
    return good, bad


def commits_between(repository: Path, good: str, bad: str) -> tuple[Commit, ...]:
    """GOOD, then every commit on the ancestry path from GOOD to BAD, oldest first (BAD last)."""
    good_sha, bad_sha = _resolved(repository, good), _resolved(repository, bad)
    if good_sha == bad_sha:
        raise ConfigError(f"--commits {good}..{bad}: both name commit {good_sha[:12]}")
    if _git(repository, "merge-base", "--is-ancestor", good_sha, bad_sha).returncode != 0:
        raise ConfigError(
            f"--commits {good}..{bad}: {good} is not an ancestor of {bad}; the good commit must come "
            "before the bad one in the history"
        )
    listed = _git(
        repository,
        "log",
        "--ancestry-path",
        "--reverse",
        f"--format=%H{_SEPARATOR}%h{_SEPARATOR}%s",
        f"{good_sha}..{bad_sha}",
    )
    first = _git(repository, "log", "-1", f"--format=%H{_SEPARATOR}%h{_SEPARATOR}%s", good_sha)
    for done in (listed, first):
        if done.returncode != 0:
            raise ConfigError(f"git log in {repository} failed: {done.stderr.strip()}")
    return tuple(_commit(line) for line in [*first.stdout.splitlines(), *listed.stdout.splitlines()])


def _resolved(repository: Path, revision: str) -> str:
    found = _git(repository, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if found.returncode != 0:
        raise ConfigError(f"--commits: {revision!r} names no commit in {repository}")
    return found.stdout.strip()


def _commit(line: str) -> Commit:
    sha, short, subject = line.split(_SEPARATOR, 2)
    return Commit(sha=sha, short=short, subject=subject)


@contextlib.contextmanager
def exported(repository: Path, sha: str, place: Path) -> Iterator[Path]:
    """The commit's tree extracted into `place` (emptied first: a killed bisect may have left it),
    removed on the way out, Ctrl-C included, and `place`'s parent with it when nothing else is there."""
    shutil.rmtree(place, ignore_errors=True)
    # Made inside the try: a Ctrl-C that lands just after mkdir returns must still remove it.
    try:
        place.mkdir(parents=True)
        with tempfile.TemporaryFile() as archive:
            made = subprocess.run(
                ["git", "-C", str(repository), "archive", "--format=tar", sha],
                stdout=archive,
                stderr=subprocess.PIPE,
                check=False,
                timeout=_TIMEOUT,
            )
            if made.returncode != 0:
                said = made.stderr.decode(errors="replace").strip()
                raise ConfigError(f"git archive {sha} in {repository} failed: {said}")
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(
                    place, filter="data"
                )  # refuses absolute paths, and paths and links that leave `place`
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)
        with contextlib.suppress(OSError):  # the directory of exports goes with its last export
            place.parent.rmdir()


def relocated(projects: Sequence[Path], repository: Path, export: Path) -> tuple[Path, ...]:
    """The projects as they lie in an export of `repository` (those outside it stay where they are)."""
    return tuple(
        export / project.resolve().relative_to(repository.resolve())
        if project.resolve().is_relative_to(repository.resolve())
        else project
        for project in projects
    )
