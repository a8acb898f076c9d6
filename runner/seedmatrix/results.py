"""What a run produced, as plain frozen data, and its one JSON form.

Records are what each repeat produced; `Results` gathers them with the environments' provenance
and the cases as they were declared. `report` and every verdict are derived from `Results` alone.
One decoder (`decode`), generated from these types by pydantic, reads every stored file (a
record, results.json, a baseline), checks each value's bits, and names the file and the field of
anything malformed; `results_schema()` is the JSON Schema of results.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, TypeVar, cast, get_args

from pydantic import TypeAdapter, ValidationError

from .errors import ResultsError
from .values import Difference, Value, check

SCHEMA = "seedmatrix/results/3"
# Schema 3 adds packed arrays (empty `bits`, kept in side files), which a reader of schema 2 would
# take for equal; schema 2 results are schema 3 results without them, so they are still read.
READABLE_SCHEMAS = frozenset({"seedmatrix/results/2", SCHEMA})

#: Frameworks a case may require; an environment provides those it pins (or its interpreter has).
Framework = Literal["numpy", "tensorflow", "torch", "jax"]
FRAMEWORKS: tuple[Framework, ...] = get_args(Framework)


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"  # the script exited non-zero
    TIMEOUT = "timeout"  # stopped at the time limit
    OUT_OF_MEMORY = "out-of-memory"  # killed by the kernel at the container's memory limit
    BAD_OUTPUT = "bad-output"  # exited 0, but recorded no value or its records are not whole
    SKIPPED = "skipped"  # the script said it cannot run here (recording.skip), with the reason


class BuildStatus(StrEnum):
    BUILT = "built"
    HOST = "host"  # no image: the runs use an interpreter on the runner's machine
    CACHED = "cached"  # an image with this content-derived tag already existed
    PULLED = "pulled"  # pulled from the registry by its content-derived tag
    FAILED = "failed"


class RunState(StrEnum):
    RUNNING = "running"  # written when the run starts; a run killed outright keeps it
    STOPPED = "stopped"  # interrupted (Ctrl-C, SIGTERM) or the engine was lost: --resume finishes it
    FINISHED = "finished"  # every planned repeat has a record


@dataclass(frozen=True, kw_only=True)
class Confinement:
    """The CPUs, memory and processes a repeat asked for, beside what its launcher found applied,
    read from inside the container or process: an engine may accept a limit and not enforce it."""

    cpus_requested: int
    memory_requested: str  # as Docker takes it: 512m, 4g
    cpus_available: int | None = None  # the CPUs the script could run on; None: not read
    memory_cgroup: str | None = None  # "v1" or "v2": where the memory limit was read; None: not read
    memory_limit: int | None = None  # bytes its cgroups allow; None (with a cgroup): no limit at all
    pids_requested: int | None = None  # a container's process limit; None: none asked (a host process)
    pids_cgroup: str | None = None  # "v1" or "v2": where the process limit was read; None: not read
    pids_limit: int | None = None  # processes its cgroups allow; None (with a cgroup): no limit at all


@dataclass(frozen=True, kw_only=True)
class TaskGpus:
    """The GPUs a Slurm task got, as read on its node (the NVIDIA driver's files beside the GPUs
    Slurm gave the job): `count` 0 is a task that ran without a GPU, never a GPU result."""

    count: int  # the GPUs Slurm gave the job that the node's driver lists (0: none)
    models: tuple[str, ...]  # one per GPU it got, where the driver's list says which; else empty
    driver: str | None  # the NVIDIA kernel module's version; None: no driver on the node
    detail: str  # what was read, in words


@dataclass(frozen=True, kw_only=True)
class SlurmTask:
    """Where a repeat ran on a Slurm cluster."""

    job_id: str  # ARRAYJOB_INDEX, as squeue and sacct show it
    partition: str
    node: str  # empty when Slurm ended the task before it reached a node
    gpus: TaskGpus | None = None  # None: not read (the task wrote no report, or an older record)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One repeat of one case in one environment: one fresh container (or process), one script run."""

    environment: str
    case: str
    repeat: int
    status: RunStatus
    exit_code: int | None  # None when stopped at the time limit
    seconds: float  # container (or process) start to end
    script_seconds: float | None = None  # the script alone, measured beside it by the launcher
    work_seconds: float | None = None  # what the script timed itself (recording.timed): the work alone
    values: tuple[Value, ...] = ()  # in the order shown; a label shown n times appears n times
    device: Mapping[str, Any] = field(default_factory=dict)  # empty: the device is unknown
    output: str = ""  # the first OUTPUT_CHARACTERS characters the script printed, for people
    stderr_tail: str = ""  # the last 20 lines of stderr, and the runner's notes
    output_capped: bool = False  # the script printed more than the runner keeps
    strays: int = 0  # processes the script left running, killed when it ended
    ran_on: str | None = None  # the identity of what it ran on: the image id, or the host interpreter's
    reused_from: str | None = None  # the earlier run this record was taken from
    skipped: str | None = None  # why the script skipped itself (status "skipped")
    confinement: Confinement | None = None  # None: not read back (older results, a repeat killed early)
    slurm: SlurmTask | None = None  # the Slurm job task it ran as (None: not on Slurm)


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What was really installed in an image (or a host interpreter), read from inside it."""

    python: str
    frameworks: Mapping[str, str | None]  # framework → version (TensorFlow: "<distribution> <version>")
    pip_freeze: tuple[str, ...]
    machine: str | None = None  # as `uname -m` says inside: x86_64, aarch64 (None: older probes)

    def version(self, framework: str) -> str | None:
        return self.frameworks.get(framework)

    @property
    def provides(self) -> frozenset[str]:
        return frozenset(name for name, version in self.frameworks.items() if version)


@dataclass(frozen=True, kw_only=True)
class Build:
    """How an environment's image (or interpreter) was obtained, and what it turned out to hold."""

    status: BuildStatus
    seconds: float
    log: str | None = None
    tag: str | None = None
    image_id: str | None = None  # an image's id; None for a host interpreter
    identity: str | None = None  # what runs on: the image id, or the interpreter and its packages' digest
    size: int | None = None  # bytes
    error: str | None = None  # why it failed, when it did
    observed: Observed | None = None


@dataclass(frozen=True, kw_only=True)
class EnvironmentResult:
    name: str
    requested: Mapping[str, Any]  # as matrix.yaml asked
    frameworks: tuple[str, ...]  # what its cases may require
    build: Build
    host: str = ""  # the machine that built and ran it (results from several machines merge)
    host_machine: str = ""  # that machine's architecture (`uname -m`): another one inside is emulated
    # The oneDNN instruction set TensorFlow dispatched there under its CPU switches, as oneDNN said
    # ({"onednn_isa", "onednn_version"}; "error" when the probe failed); empty without TensorFlow.
    dispatch: Mapping[str, Any] = field(default_factory=dict)
    # The `install:` projects' source trees (none: the digest of none); None in older results.
    projects_sha256: str | None = None


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
    expected: Mapping[str, Any] = field(default_factory=dict)  # published values, as written
    variables: Mapping[str, str] = field(default_factory=dict)  # `env:` in matrix.yaml
    cpus: int = 1
    timed_against: str | None = None  # its time is reported beside this case's
    # Every source file of its working directory and every `data:` file, by content; None in older results.
    files_sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class SkippedCell:
    """A cell that will not run on this host, and why (shown in the matrix, not a failure)."""

    environment: str
    case: str
    reason: str


# Derived from the records whenever results.json is written (`divergence` computes it; every
# report computes it again): where values first part, for machines that read results.json.


class Between(StrEnum):
    REPEATS = "repeats"  # two repeats of the same cell
    REFERENCE = "reference"  # the cell and the reference environment's cell of the same case


@dataclass(frozen=True, kw_only=True)
class ProfileRow:
    """One label of a divergent cell, for the same two sides as the divergence."""

    label: str
    difference: Difference | None  # None: not compared, or missing on one side (see `note`)
    missing: bool = False  # recorded on one side only: a divergence in itself
    note: str = ""  # why not compared, or where it is missing

    @property
    def differs(self) -> bool:
        return self.missing or (self.difference is not None and not self.difference.equal)

    @property
    def unchecked(self) -> bool:
        return self.difference is None and not self.missing


@dataclass(frozen=True, kw_only=True)
class Divergence:
    environment: str
    case: str
    between: Between
    sides: str  # what was compared, for people: "repeat 2 vs repeat 1", "vs py3.11 (reference)"
    label: str  # where the values first part: the earliest occurrence, then program order
    position: int  # that label's place among the cell's labels (1-based)
    labels: int  # labels compared (the cell's, then any recorded only in the reference)
    differing_labels: int  # labels that differ between the two sides, the first included
    difference: Difference | None  # how its values differ; None when it is missing on one side
    missing: str = ""  # where it is missing: "missing in repeat 3", "recorded only in the reference"
    unchecked_before: tuple[str, ...] = ()  # earlier labels not compared: the divergence may start there
    profile: tuple[ProfileRow, ...] = ()  # every label, in program order


@dataclass(frozen=True, kw_only=True)
class Results:
    run_id: str
    started: str
    finished: str
    state: RunState
    host: Mapping[str, Any]
    matrix_file: str
    matrix_environments: tuple[str, ...]  # every environment of the matrix file, in its order
    matrix_cases: tuple[str, ...]  # every case of the matrix file, in its order (a run may select some)
    reference: str  # the matrix file's reference, whether or not this run (or shard) ran it
    repeats: int
    environments: tuple[EnvironmentResult, ...]
    cases: tuple[CaseResult, ...]
    records: tuple[Record, ...]
    skipped: tuple[SkippedCell, ...] = ()
    fail_on_surprise: bool = True  # from matrix.yaml, so `report` decides the exit status the same way
    fail_on_change: bool = False  # likewise: a change against the baseline exits 1
    divergences: tuple[Divergence, ...] = ()  # derived, see above
    # Each cell's key ("environment/case" → what it ran on, every file its container saw, its
    # settings): another machine's run may reuse a cell whose key is the same (--reuse-from).
    cell_keys: Mapping[str, str] = field(default_factory=dict)
    schema: str = SCHEMA

    def environment(self, name: str) -> EnvironmentResult:
        return self._environments_by_name[name]

    def has_environment(self, name: str) -> bool:
        return name in self._environments_by_name

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


_T = TypeVar("_T")
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(kind: type[_T]) -> TypeAdapter[_T]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def encode(item: Results | Record | Observed) -> bytes:
    """Standard JSON (no NaN or Infinity literals), one field per line at the top."""
    return _adapter(type(item)).dump_json(item, indent=1) + b"\n"


def decode(kind: type[_T], data: bytes, *, source: str) -> _T:
    """The one reader of stored results: malformed input is a ResultsError naming file and field."""
    try:
        item = _validated(kind, data, source)
    except ResultsError:
        if kind is Results:  # results of another schema mostly fail to validate: say why first
            _check_schema(_validated(_Stamp, data, source).schema, source)
        raise
    if isinstance(item, Results):
        _check_schema(item.schema, source)
        if item.schema != SCHEMA:  # read as, and written again as, the current schema
            item = cast(_T, replace(item, schema=SCHEMA))
    records = item.records if isinstance(item, Results) else (item,) if isinstance(item, Record) else ()
    seen: set[tuple[str, str, int]] = set()
    for record in records:
        key = (record.environment, record.case, record.repeat)
        if key in seen:  # counted as two repeats, it would make a cell stable that ran once
            raise ResultsError(f"{source}: record {'/'.join(key[:2])} repeat {record.repeat} is there twice")
        seen.add(key)
        try:
            for value in record.values:
                check(value)
        except ValueError as error:
            where = f"record {record.environment}/{record.case} repeat {record.repeat}"
            raise ResultsError(f"{source}: {where}: {error}") from None
    return item


def _check_schema(schema: str, source: str) -> None:
    if schema not in READABLE_SCHEMAS:
        found = f"schema {schema!r}" if schema else "no schema"
        raise ResultsError(
            f"{source}: expected seedmatrix results of schema {SCHEMA!r}, found {found}; results "
            "written by an older seedmatrix must be produced again with this one"
        )


@dataclass(frozen=True)
class _Stamp:
    schema: str = ""


def _validated(kind: type[_T], data: bytes, source: str) -> _T:
    try:
        return _adapter(kind).validate_json(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ResultsError(f"{source}: {where}: {first['msg']}{more}") from None


def results_schema() -> dict[str, Any]:
    """JSON Schema of results.json, generated from the types above."""
    schema: dict[str, Any] = _adapter(Results).json_schema()
    schema["$id"] = "urn:seedmatrix:schema:results:3"
    schema["title"] = "seedmatrix results"
    return schema
