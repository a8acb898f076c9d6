"""The results directory: one directory per run, records written as they come, and which run is alive.

    results/<run-id>/            <run-id> is the UTC start time to the microsecond and a random suffix
    results/<run-id>/records/   one JSON file per repeat, written atomically the moment it ends
    results/<run-id>/side/      the bits of packed arrays, one file per SHA-256 (equal arrays: one file)
    results/<run-id>/results.json, MATRIX.md
    results/<run-id>/options.json  the options it was started with (what `seedmatrix collect` uses)
    results/<run-id>/.lock      held (flock) by the process running it, for as long as it runs
    results/<run-id>/.finished  there once every planned repeat has a record
    results/latest              the newest run, switched when a run starts

A run killed outright (SIGKILL, the OOM killer) cannot clean up after itself; its lock dies with
it, which is how any later run knows that the run is over: its containers can be swept and
`--resume` finds it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from .errors import ResultsError
from .files import MIB, atomic_write, read_bounded, utc_now
from .results import Record, Results, RunState, decode, encode

RESULTS_FILE = "results.json"
MATRIX_FILE = "MATRIX.md"
LATEST = "latest"
LOCK_FILE = ".lock"
JOBS = ".jobs"
SIDE_DIR = "side"
FINISHED_MARK = ".finished"  # written with the results.json of a run that finished
MAX_RESULTS_BYTES = 1024 * MIB
MAX_RECORD_BYTES = 256 * MIB
MAX_OPTIONS_BYTES = MIB
OPTIONS_FILE = "options.json"
_STAMP = "%Y%m%dT%H%M%S.%fZ"  # microseconds: run names sort in the order the runs started


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    @classmethod
    def create(cls, root: Path) -> RunDirectory:
        """A new run directory (UTC time + random suffix, never reused), and `latest` points at it."""
        stamp = datetime.now(UTC).strftime(_STAMP)
        path = root / f"{stamp}-{secrets.token_hex(3)}"
        (path / "records").mkdir(parents=True)
        (path / LOCK_FILE).touch()
        run = cls(path)
        run.mark_latest()
        return run

    def resolved(self) -> RunDirectory:
        return RunDirectory(self.path.resolve())

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def started(self) -> str:
        """When the run began, from its name (UTC); now, for a directory not named by seedmatrix."""
        try:
            stamp = datetime.strptime(self.path.name.split("-", 1)[0], _STAMP).replace(tzinfo=UTC)
        except ValueError:
            return utc_now()
        return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def results_file(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def junit_file(self) -> Path:
        return self.path / "junit.xml"

    @property
    def matrix_file(self) -> Path:
        return self.path / MATRIX_FILE

    @property
    def options_file(self) -> Path:
        return self.path / OPTIONS_FILE

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_FILE

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the run's lock while it runs: other processes then see it as alive."""
        with self.lock_file.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ResultsError(f"run {self.run_id} is still running in another process") from None
            yield

    @property
    def side_dir(self) -> Path:
        return self.path / SIDE_DIR

    def save_record(self, record: Record) -> None:
        # '@' cannot appear in environment or case names, so no two cells share a file name.
        name = f"{record.environment}@{record.case}@{record.repeat}.json"
        _copy_side_files(record, self.side_dir)
        atomic_write(self.path / "records" / name, encode(record))

    def records_of(self, environment: str, case: str) -> list[Record]:
        """The saved records of one cell, by repeat (for reuse by a later run)."""
        found = [
            record
            for record in map(self._record, (self.path / "records").glob(f"{environment}@{case}@*.json"))
            if (record.environment, record.case) == (environment, case)
        ]
        return sorted(found, key=lambda record: record.repeat)

    def load_records(self) -> list[Record]:
        return [self._record(path) for path in sorted((self.path / "records").glob("*.json"))]

    @staticmethod
    def _record(path: Path) -> Record:
        data = read_bounded(path, limit=MAX_RECORD_BYTES, what="the record", error=ResultsError)
        return _with_side_files(decode(Record, data, source=str(path)), path.parent.parent / SIDE_DIR)

    def save_results(self, results: Results) -> None:
        for record in results.records:  # merged runs' side files come along
            _copy_side_files(record, self.side_dir)
        atomic_write(self.results_file, encode(results))
        if results.state is RunState.FINISHED:
            (self.path / FINISHED_MARK).touch()

    @property
    def finished(self) -> bool:
        return (self.path / FINISHED_MARK).exists()

    def load_results(self) -> Results:
        if not self.results_file.exists():
            raise ResultsError(
                f"{self.path}: no {RESULTS_FILE} here; is this a seedmatrix run directory? (a run "
                "killed before it wrote one can be finished with `seedmatrix matrix --resume`)"
            )
        return read_results(self.results_file)

    def mark_latest(self) -> None:
        """Point results/latest at this run unless a newer run already took it; atomic."""
        root = self.path.parent
        with (root / ".latest.lock").open("a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            link = root / LATEST
            current = str(link.readlink()) if link.is_symlink() else ""
            if current > self.path.name:  # names begin with the start time: a newer run is there
                return
            temporary = root / f".{LATEST}.{secrets.token_hex(4)}"
            temporary.symlink_to(self.path.name, target_is_directory=True)
            temporary.replace(link)


@contextmanager
def job_directory(root: Path, kind: str) -> Iterator[Path]:
    """A locked directory for a job that is not a run (`images`), so sweeps can judge its containers."""
    path = root / JOBS / f"{kind}-{datetime.now(UTC).strftime(_STAMP)}-{secrets.token_hex(3)}"
    try:  # made inside: a Ctrl-C just after mkdir returns still removes it
        path.mkdir(parents=True)
        (path / LOCK_FILE).touch()
        with RunDirectory(path).held():
            yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_dead_jobs(root: Path) -> None:
    """Job directories whose process died without removing them."""
    jobs = root / JOBS
    if jobs.is_dir():
        for path in jobs.iterdir():
            if path.is_dir() and not is_alive(path):
                shutil.rmtree(path, ignore_errors=True)


def is_alive(run: Path) -> bool:
    """Whether a process holds the run's lock (a run killed outright holds none).

    A run whose directory is gone is over; one whose lock cannot be read is taken as alive, so
    nothing of a run we cannot judge is touched.
    """
    try:
        with (run / LOCK_FILE).open("r") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False
    except OSError:
        return True


def runs(root: Path) -> list[RunDirectory]:
    """The run directories under a results root, oldest first."""
    if not root.is_dir():
        return []
    found = [
        RunDirectory(path)
        for path in root.iterdir()
        if path.is_dir() and not path.is_symlink() and (path / "records").is_dir()
    ]
    return sorted(found, key=lambda run: run.run_id)


def latest_unfinished(root: Path) -> RunDirectory:
    """The most recent run that did not finish and is not running: the one `--resume` finishes."""
    for run in reversed(runs(root)):
        if not run.finished and not is_alive(run.path):
            return run.resolved()
    raise ResultsError(f"{root}: no stopped run to resume (every run there finished)")


def resolve_run_directory(path: Path) -> RunDirectory:
    """Accept a run directory, `results/latest`, or a results root (meaning its latest run)."""
    if (path / LATEST).is_dir() and not (path / RESULTS_FILE).exists():
        path = path / LATEST
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    return RunDirectory(path).resolved()


def read_results(path: Path) -> Results:
    data = read_bounded(path, limit=MAX_RESULTS_BYTES, what="results", error=ResultsError)
    results = decode(Results, data, source=str(path))
    side_dir = path.parent / SIDE_DIR
    return replace(results, records=tuple(_with_side_files(record, side_dir) for record in results.records))


def _with_side_files(record: Record, side_dir: Path) -> Record:
    """The record with each packed array's side file located in `side_dir` (whatever the JSON said)."""
    if not any(value.packed for value in record.values):
        return record
    return replace(
        record,
        values=tuple(
            replace(value, packed=replace(value.packed, path=side_dir / value.packed.sha256))
            if value.packed
            else value
            for value in record.values
        ),
    )


def _copy_side_files(record: Record, side_dir: Path) -> None:
    """Side files a record reused from another run names, linked (or copied) into this run's."""
    for value in record.values:
        source = value.packed.path if value.packed else None
        if source is None or not source.exists() or (side_dir / source.name).exists():
            continue
        side_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, side_dir / source.name)
        except OSError:
            shutil.copyfile(source, side_dir / source.name)


def load_results(path: Path) -> Results:
    """Results from a results.json file, a run directory, or a results root (its latest run)."""
    if path.is_dir():
        return resolve_run_directory(path).load_results()
    if not path.exists() and not path.is_symlink():
        raise ResultsError(f"{path}: no such results file or directory")
    return read_results(path)
