"""What a run produced, as plain data, and the directory that stores it.

Records are written one file each, atomically, the moment a container finishes, so an interrupted
run loses nothing it completed. `results.json` gathers them with the environments' provenance;
`report` renders from it alone.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import ResultsError

SCHEMA = "seedmatrix/results/1"
RESULTS_FILE = "results.json"
MATRIX_FILE = "MATRIX.md"
LATEST = "latest"

Scalar = float | int | str | bool | None


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"  # the script exited non-zero
    TIMEOUT = "timeout"  # killed at the time limit
    OUT_OF_MEMORY = "out-of-memory"  # killed by the kernel at the container's memory limit
    BAD_OUTPUT = "bad-output"  # exited 0 but recorded no labelled value


class BuildStatus(StrEnum):
    BUILT = "built"
    HOST = "host"  # no image: the runs use an interpreter on the runner's machine
    CACHED = "cached"  # an image with this content-derived tag already existed
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class Value:
    """One labelled value at full precision: `bits` are the IEEE bytes in hex, big-endian."""

    label: str
    dtype: str
    shape: tuple[int, ...]
    values: tuple[Scalar, ...]
    bits: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Record:
    """One repeat of one case in one environment: one fresh container, one process."""

    environment: str
    case: str
    repeat: int
    status: RunStatus
    exit_code: int | None
    seconds: float
    values: tuple[Value, ...] = ()
    device: Mapping[str, Any] = field(default_factory=dict)
    output: str = ""
    stderr_tail: str = ""
    output_capped: bool = False  # the script wrote more than the runner keeps; the rest was dropped
    reused_from: str | None = None  # the earlier run this record was taken from (same image and script)


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What was really installed in an image, read from inside it."""

    python: str
    numpy: str | None
    tensorflow: str | None
    pip_freeze: tuple[str, ...]
    torch: str | None = None
    jax: str | None = None


@dataclass(frozen=True, kw_only=True)
class EnvironmentResult:
    name: str
    requested: Mapping[str, Any]
    frameworks: tuple[str, ...]
    build: BuildStatus
    build_seconds: float
    build_log: str | None
    image_tag: str | None = None
    image_id: str | None = None
    image_size: int | None = None
    error: str | None = None
    observed: Observed | None = None
    host: str = ""  # the machine that built and ran it (results from several machines merge)


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    name: str
    script: str
    script_sha256: str
    requires: tuple[str, ...]
    claim: str
    claims: Mapping[str, Any] = field(default_factory=dict)  # as written in matrix.yaml
    claims_on_cpu: Mapping[str, Any] = field(default_factory=dict)
    claims_on_gpu: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    cpus: int = 1


@dataclass(frozen=True, kw_only=True)
class SkippedCell:
    environment: str
    case: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Results:
    run_id: str
    started: str
    finished: str
    host: Mapping[str, Any]
    matrix_file: str
    reference: str
    repeats: int
    environments: tuple[EnvironmentResult, ...]
    cases: tuple[CaseResult, ...]
    records: tuple[Record, ...]
    skipped: tuple[SkippedCell, ...] = ()
    fail_on_surprise: bool = True  # from matrix.yaml, so `report` decides the exit status the same way
    schema: str = SCHEMA

    def environment(self, name: str) -> EnvironmentResult:
        return self._environments_by_name[name]

    def records_of(self, environment: str, case: str) -> tuple[Record, ...]:
        """The records of one cell, by repeat."""
        return self._records_by_cell.get((environment, case), ())

    @cached_property
    def _environments_by_name(self) -> dict[str, EnvironmentResult]:
        return {env.name: env for env in self.environments}

    @cached_property
    def _records_by_cell(self) -> dict[tuple[str, str], tuple[Record, ...]]:
        cells: dict[tuple[str, str], list[Record]] = {}
        for record in self.records:
            cells.setdefault((record.environment, record.case), []).append(record)
        return {key: tuple(sorted(found, key=lambda r: r.repeat)) for key, found in cells.items()}


def to_json(results: Results) -> str:
    return json.dumps(asdict(results), indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def from_json(text: str, *, source: str) -> Results:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{source}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{source}: expected schema {SCHEMA!r}, found {found!r}")
    try:
        return _results_from(data)
    except (KeyError, TypeError, ValueError) as error:
        raise ResultsError(f"{source}: malformed results ({type(error).__name__}: {error})") from None


def observed_from_dict(data: Mapping[str, Any]) -> Observed:
    """What a probe reported (results.json, the probe cache, the probe's own output)."""
    return Observed(
        python=str(data["python"]),
        numpy=data["numpy"],
        tensorflow=data["tensorflow"],
        pip_freeze=tuple(data["pip_freeze"]),
        torch=data.get("torch"),
        jax=data.get("jax"),
    )


def record_from_dict(data: Mapping[str, Any]) -> Record:
    return Record(
        environment=data["environment"],
        case=data["case"],
        repeat=int(data["repeat"]),
        status=RunStatus(data["status"]),
        exit_code=data["exit_code"],
        seconds=float(data["seconds"]),
        values=tuple(
            Value(
                label=value["label"],
                dtype=value["dtype"],
                shape=tuple(value["shape"]),
                values=tuple(value["values"]),
                bits=tuple(value["bits"]),
            )
            for value in data["values"]
        ),
        device=dict(data["device"]),
        output=data["output"],
        stderr_tail=data["stderr_tail"],
        output_capped=bool(data.get("output_capped", False)),
        reused_from=data.get("reused_from"),
    )


def _results_from(data: Mapping[str, Any]) -> Results:
    environments = []
    for env in data["environments"]:
        observed = env.get("observed")
        environments.append(
            EnvironmentResult(
                **{key: env[key] for key in ("name", "requested", "build_seconds", "build_log")},
                frameworks=tuple(env["frameworks"]),
                build=BuildStatus(env["build"]),
                image_tag=env.get("image_tag"),
                image_id=env.get("image_id"),
                image_size=env.get("image_size"),
                error=env.get("error"),
                host=env.get("host", ""),
                observed=observed_from_dict(observed) if observed else None,
            )
        )
    cases = tuple(
        CaseResult(
            name=case["name"],
            script=case["script"],
            script_sha256=case["script_sha256"],
            requires=tuple(case["requires"]),
            claim=case["claim"],
            claims=dict(case.get("claims", {})),
            claims_on_cpu=dict(case.get("claims_on_cpu", {})),
            claims_on_gpu=dict(case.get("claims_on_gpu", {})),
            env=dict(case.get("env", {})),
            cpus=int(case.get("cpus", 1)),
        )
        for case in data["cases"]
    )
    return Results(
        run_id=data["run_id"],
        started=data["started"],
        finished=data["finished"],
        host=data["host"],
        matrix_file=data["matrix_file"],
        reference=data["reference"],
        repeats=int(data["repeats"]),
        environments=tuple(environments),
        cases=cases,
        records=tuple(record_from_dict(record) for record in data["records"]),
        skipped=tuple(SkippedCell(**skip) for skip in data.get("skipped", ())),
        fail_on_surprise=bool(data.get("fail_on_surprise", True)),
    )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes it private; results are meant to be read
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class RunDirectory:
    """results/<run-id>/: records/, results.json, MATRIX.md; results/latest points at the newest."""

    path: Path

    @classmethod
    def create(cls, root: Path) -> RunDirectory:
        # The random suffix keeps two runs started in the same second apart.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = root / f"{stamp}-{secrets.token_hex(3)}"
        (path / "records").mkdir(parents=True)
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def started(self) -> str:
        """When the run began, from its name (UTC); now, for a directory not named by seedmatrix."""
        try:
            stamp = datetime.strptime(self.path.name.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return utc_now()
        return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def results_file(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def matrix_file(self) -> Path:
        return self.path / MATRIX_FILE

    def save_record(self, record: Record) -> None:
        # '@' cannot appear in environment or case names, so no two cells share a file name.
        name = f"{record.environment}@{record.case}@{record.repeat}.json"
        atomic_write(self.path / "records" / name, json.dumps(asdict(record), indent=1) + "\n")

    def records_of(self, environment: str, case: str) -> list[Record]:
        """The saved records of one cell, by repeat (for reuse by a later run)."""
        found = []
        for path in sorted((self.path / "records").glob(f"{environment}@{case}@*.json")):
            record = record_from_dict(json.loads(path.read_text(encoding="utf-8")))
            if (record.environment, record.case) == (environment, case):
                found.append(record)
        return sorted(found, key=lambda record: record.repeat)

    def load_records(self) -> list[Record]:
        records = []
        for path in sorted((self.path / "records").glob("*.json")):
            records.append(record_from_dict(json.loads(path.read_text(encoding="utf-8"))))
        return records

    def save_results(self, results: Results) -> None:
        atomic_write(self.results_file, to_json(results))

    def load_results(self) -> Results:
        try:
            text = self.results_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ResultsError(
                f"{self.path}: no {RESULTS_FILE} here; is this a seedmatrix run directory?"
            ) from None
        return from_json(text, source=str(self.results_file))

    def mark_latest(self) -> None:
        """Point results/latest at this run; the rename makes the switch atomic."""
        link = self.path.parent / LATEST
        temporary = self.path.parent / f".{LATEST}.{secrets.token_hex(4)}"
        temporary.symlink_to(self.path.name, target_is_directory=True)
        temporary.replace(link)


def resolve_run_directory(path: Path) -> RunDirectory:
    """Accept a run directory, `results/latest`, or a results root (meaning its latest run)."""
    if (path / LATEST).is_dir() and not (path / RESULTS_FILE).exists():
        path = path / LATEST
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    return RunDirectory(path.resolve())


def load_results(path: Path) -> Results:
    """Results from a results.json file, a run directory, or a results root (its latest run)."""
    if path.is_file():
        return from_json(path.read_text(encoding="utf-8"), source=str(path))
    return resolve_run_directory(path).load_results()


def merge(parts: Sequence[Results]) -> Results:
    """One results set from runs on several machines, each environment keeping the host it ran on.

    Each environment must come from one run only (machines share the matrix by environment:
    `--shard`, `--device`), and the runs must agree on the cases and the number of repeats.
    """
    if not parts:
        raise ResultsError("nothing to merge")
    environments: dict[str, tuple[EnvironmentResult, str]] = {}
    cases: dict[str, tuple[CaseResult, str]] = {}
    for part in parts:
        if part.repeats != parts[0].repeats:
            raise ResultsError(
                f"run {part.run_id} has {part.repeats} repeats, run {parts[0].run_id} has {parts[0].repeats}"
            )
        for env in part.environments:
            if env.name in environments:
                raise ResultsError(
                    f"environment {env.name} is in run {environments[env.name][1]} and in run {part.run_id}; "
                    "give each machine its own environments (--shard, --device)"
                )
            host = env.host or str(part.host.get("hostname", ""))
            environments[env.name] = (replace(env, host=host), part.run_id)
        for case in part.cases:
            known = cases.get(case.name)
            if known is not None and known[0].script_sha256 != case.script_sha256:
                raise ResultsError(
                    f"case {case.name} ran different scripts in run {known[1]} and run {part.run_id}"
                )
            cases.setdefault(case.name, (case, part.run_id))
    records = tuple(record for part in parts for record in part.records)
    ran = {(record.environment, record.case) for record in records}
    names = list(environments)
    reference = parts[0].reference if parts[0].reference in environments else names[0]
    return Results(
        run_id="merged-" + "+".join(part.run_id for part in parts),
        started=min(part.started for part in parts),
        finished=max(part.finished for part in parts),
        host={"merged_from": [{"run_id": part.run_id, **part.host} for part in parts]},
        matrix_file=parts[0].matrix_file,
        reference=reference,
        repeats=parts[0].repeats,
        environments=tuple(env for env, _ in environments.values()),
        cases=tuple(case for case, _ in cases.values()),
        records=sorted_records(records),
        skipped=tuple(
            skip for part in parts for skip in part.skipped if (skip.environment, skip.case) not in ran
        ),
        fail_on_surprise=all(part.fail_on_surprise for part in parts),
    )


def sorted_records(records: Iterable[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=lambda record: (record.environment, record.case, record.repeat)))
