"""Run the planned repeats: each a fresh container (or host process) with the launcher, no network
(each backend's half: `docker/execute.py`, `host/execute.py`).

Every repeat runs `inside/launch.py SCRIPT`; the launcher's report (values, device, stray
processes, the script's own time) comes back on stdout behind a boundary chosen per repeat, and
becomes one Record.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import docker

from ..channel import Finished, Report, new_boundary, read_report
from ..errors import EngineError, ResultsError
from ..files import atomic_write
from ..plan import Cell
from ..results import Confinement, Record, RunStatus
from ..values import PARSED, Value
from .docker import container
from .docker.execute import run_in_container
from .host.execute import run_on_host

OUTPUT_CHARACTERS = 20_000  # of what the script printed, kept per record (the first); values are whole


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What every repeat of one run shares."""

    client: docker.DockerClient | None  # None when every environment runs on the host
    owner: container.Owner
    host_environ: Mapping[str, str]  # this process's environment (the host backend passes some on)
    identities: Mapping[str, str]  # environment → what its repeats run on (image id, interpreter)
    gpu_requests: Mapping[str, container.GpuRequest] = field(default_factory=dict)  # how GPU cells ask
    jobs: int  # repeats at once
    cpu_ids: Sequence[int]  # the CPUs repeats are pinned to
    side_dir: Path | None = None  # where packed arrays' side files are kept (the run directory's)


def run_repeat(context: RunContext, cell: Cell, repeat: int, *, cpu_ids: Sequence[int]) -> Record:
    """One repeat, pinned to `cpu_ids`."""
    identity = context.identities[cell.environment]
    boundary = new_boundary()
    if cell.host_python is not None:
        finished = run_on_host(
            cell,
            cell.host_python,
            host_environ=context.host_environ,
            cpu_ids=cpu_ids,
            boundary=boundary,
            side_dir=context.side_dir,
        )
    else:
        assert context.client is not None  # a plan with container cells connects to the engine
        finished = run_in_container(
            context.client,
            context.owner,
            cell,
            image=identity,
            gpus=gpu_request(context, cell),
            cpu_ids=cpu_ids,
            boundary=boundary,
            side_dir=context.side_dir,
        )
    return to_record(cell, repeat, finished, ran_on=identity, side_dir=context.side_dir)


def gpu_request(context: RunContext, cell: Cell) -> container.GpuRequest | None:
    """How `cell`'s container asks for GPUs: the way the engine granted, never a guess."""
    if not cell.gpu:
        return None
    request = context.gpu_requests.get(cell.environment)
    if request is None:  # the plan runs a GPU cell only after the engine granted its environment GPUs
        raise EngineError(f"{cell.environment}: no GPU request the engine granted for this GPU environment")
    return request


def to_record(
    cell: Cell, repeat: int, finished: Finished, *, ran_on: str, side_dir: Path | None = None
) -> Record:
    """One repeat's record: its status decided from how it ended and what the launcher reported.

    The side files of its packed arrays are kept in `side_dir`, each under its SHA-256 (those the
    repeat's Capture wrote there as they came already are)."""
    limits = cell.limits
    report = read_report(finished.report, overflow=finished.report_overflow, streamed=finished.side_files)
    keep_side_files(report, side_dir, unwritable=finished.side_files_unwritable)
    values = report.values
    problems = list(report.problems)
    if cell.parse is not None:
        values = (*values, *parsed_values(cell.parse, finished.stdout))
        if finished.output_capped:
            problems.append("the output was capped, so values parsed from it may be missing")
    notes = list(finished.stderr.splitlines()[-20:])
    if finished.output_capped:
        notes.append(
            f"(output capped: the script wrote {finished.output_bytes:,} bytes; the runner kept the "
            f"first {limits.output_bytes:,} of stdout and the last {limits.output_bytes:,} of stderr; "
            "its values are kept whole)"
        )
    if report.strays:
        notes.append(f"(the script left {report.strays} process(es) running; they were killed when it ended)")
    out_of_memory, memory_notes = _memory_kill(finished, report, limits.memory)
    notes += memory_notes
    exit_code = finished.exit_code
    if finished.timed_out:
        status = RunStatus.TIMEOUT
        notes.append(f"(stopped at the time limit of {limits.timeout_seconds} s)")
        exit_code = None
    elif out_of_memory:
        status = RunStatus.OUT_OF_MEMORY
    elif exit_code != 0:
        status = RunStatus.ERROR
    elif report.skipped is not None and not problems:
        status = RunStatus.SKIPPED
    elif problems or not values:
        status = RunStatus.BAD_OUTPUT
        notes += [f"({problem})" for problem in problems]
        if not values and not problems:
            notes.append("(exited 0 but recorded no value)")
    else:
        status = RunStatus.OK
    text = finished.stdout
    if len(text) > OUTPUT_CHARACTERS:
        text = text[:OUTPUT_CHARACTERS] + "\n…"
    return Record(
        environment=cell.environment,
        case=cell.case,
        repeat=repeat,
        status=status,
        exit_code=exit_code,
        seconds=round(finished.seconds, 3),
        script_seconds=report.script_seconds,
        work_seconds=report.timed_seconds,
        values=values,
        device=report.device,
        output=text,
        stderr_tail="\n".join(notes).strip(),
        output_capped=finished.output_capped,
        strays=report.strays,
        ran_on=ran_on,
        skipped=report.skipped,
        confinement=confinement(cell, report),
    )


def confinement(cell: Cell, report: Report) -> Confinement | None:
    """What the repeat asked for beside what its launcher read back; None when nothing was."""
    seen = report.confinement
    if seen is None:
        return None
    return Confinement(
        cpus_requested=cell.cpus,
        memory_requested=cell.limits.memory,
        cpus_available=seen.cpus,
        memory_cgroup=seen.cgroup,
        memory_limit=seen.memory_limit,
        # A host process (host and Slurm backends) asks for no process limit.
        pids_requested=None if cell.host_python is not None else cell.limits.pids,
        pids_cgroup=seen.pids_cgroup,
        pids_limit=seen.pids_limit,
    )


def _memory_kill(finished: Finished, report: Report, memory: str) -> tuple[bool, list[str]]:
    """Whether the repeat ran out of memory, and the notes that say what the OOM killer did.

    The engine's word first. Where it says nothing (Podman on cgroup v1 reports no OOM kill; Slurm
    jobs), the launcher's, when all of these hold: the script died by SIGKILL, the OOM killer's
    signal, which the launcher did not send (no SIGTERM or SIGINT stopped it); the OOM count of its
    memory cgroup rose while the script ran; and that cgroup has a memory limit, so it is the
    repeat's own (a container's, a Slurm job's) and not a host session shared with other processes,
    whose kills could be anybody's. Otherwise a count that rose is only noted."""
    if finished.oom_killed:
        return True, [f"(killed: the container exceeded its memory limit of {memory})"]
    if not report.oom_kills:
        return False, []
    own_cgroup = report.confinement is not None and report.confinement.memory_limit is not None
    if report.exit_code == -signal.SIGKILL and report.stopped_by is None and own_cgroup:
        return True, [
            f"(killed by the kernel's OOM killer: {report.oom_kills} kill(s) counted in the repeat's "
            f"memory cgroup while the script ran; memory limit asked: {memory})"
        ]
    whose = (
        "the repeat's" if own_cgroup else "a memory cgroup it shares with other processes, so maybe not its"
    )
    return False, [f"(the kernel's OOM killer killed {report.oom_kills} process(es) in {whose} while it ran)"]


def keep_side_files(report: Report, side_dir: Path | None, *, unwritable: str | None = None) -> None:
    """Write the report's side files (checked against their digests by read_report) into
    `side_dir`, once each: equal arrays share one file.

    `unwritable`: why the disk refused one Capture was writing as it came; it stops the run, as
    the disk refusing one here does."""
    if unwritable is not None:
        raise ResultsError(unwritable)
    for digest, data in report.side_files.items():
        if side_dir is not None and not (side_dir / digest).exists():
            atomic_write(side_dir / digest, data)


def parsed_values(pattern: str, text: str) -> list[Value]:
    """Each named group of each match of `pattern` in the printed text: a value compared as text.

    A group matched several times is a sequence, in the order printed.
    """
    values = []
    for match in re.finditer(pattern, text, re.MULTILINE):
        for name, found in match.groupdict().items():
            if found is not None:
                values.append(Value(label=name, dtype=PARSED, shape=(), bits=(found,), values=(found,)))
    return values


class CpuPool:
    """Hands out whole CPUs, so a container sees the same CPU count however many run beside it.

    Results then cannot depend on `--jobs`: a case asking for one CPU always gets exactly one.
    Requests are served in the order they came: a run waiting for two CPUs is not overtaken by
    one-CPU runs that would take each CPU as it frees (and could keep it waiting to the end).
    """

    def __init__(self, cpus: Sequence[int]) -> None:
        self._free = sorted(cpus)
        self._available = threading.Condition()
        self._issued = 0  # tickets handed out
        self._serving = 0  # the ticket whose turn it is

    @contextmanager
    def take(self, count: int) -> Iterator[list[int]]:
        with self._available:
            ticket = self._issued
            self._issued += 1
            self._available.wait_for(lambda: self._serving == ticket and len(self._free) >= count)
            self._serving += 1
            taken, self._free = self._free[:count], self._free[count:]
            self._available.notify_all()  # the next in line may fit in what is left
        try:
            yield taken
        finally:
            with self._available:
                self._free = sorted(self._free + taken)
                self._available.notify_all()


class Scheduled(Protocol):
    """Repeats a scheduler runs elsewhere (Slurm): placed at once, each future done with its record."""

    def submit(self, work: Sequence[tuple[Cell, int]]) -> list[Future[None]]: ...

    def close(self) -> None: ...


class Runs:
    """Repeats handed in while others run (an environment's when its image is ready), up to `jobs`
    at once, each pinned to CPUs of its own; each record is reported as it completes.

    `on_record` is called from one thread at a time. `close` cancels the runs not yet started; the
    caller removes the containers of the run by their label.
    """

    def __init__(
        self,
        context: RunContext,
        *,
        on_record: Callable[[Record], None],
        scheduled: Callable[[Callable[[Record], None]], Scheduled] | None = None,
        scheduled_environments: frozenset[str] = frozenset(),
    ) -> None:
        self._context = context
        self._on_record = on_record
        self._pool = CpuPool(context.cpu_ids)
        self._reporting = threading.Lock()
        # The environments a scheduler runs (their repeats take no CPU here), and the scheduler,
        # which reports their records through the same lock as the runs here.
        self._scheduled_environments = scheduled_environments
        self._scheduled = scheduled(self._report) if scheduled is not None else None
        self._stopping = threading.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, context.jobs), thread_name_prefix="seedmatrix-run"
        )

    def submit(self, work: Sequence[tuple[Cell, int]]) -> list[Future[None]]:
        """Queue `work` behind what is queued; its runs that need the most CPUs go first.

        A run waits until all the CPUs it needs are free (runs after it wait too: CpuPool serves
        in order), leaving the others idle meanwhile: once per group when such runs follow one
        another, rather than once per run.
        """
        elsewhere = [item for item in work if item[0].environment in self._scheduled_environments]
        here = [item for item in work if item[0].environment not in self._scheduled_environments]
        futures = []
        if elsewhere:
            assert self._scheduled is not None  # the machine gives a scheduler with its environments
            futures += self._scheduled.submit(elsewhere)
        ordered = sorted(here, key=lambda item: -item[0].cpus)
        return [*futures, *(self._executor.submit(self._one, cell, repeat) for cell, repeat in ordered)]

    def close(self) -> None:
        """No run starts from now on: those queued are cancelled, and one that was waiting for
        CPUs when this was called gives them back unused."""
        self._stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._scheduled is not None:
            self._scheduled.close()

    def _one(self, cell: Cell, repeat: int) -> None:
        with self._pool.take(cell.cpus) as cpu_ids:
            if self._stopping.is_set():
                return
            record = run_repeat(self._context, cell, repeat, cpu_ids=cpu_ids)
        self._report(record)

    def _report(self, record: Record) -> None:
        with self._reporting:
            self._on_record(record)
