"""The jobs a user asks for, as small steps: load → select → images → plan → runs → results → report
(the images job and the steps it shares with the matrix job: `builds`).

Each step takes what the previous ones produced, one environment at a time: the moment an
environment's image is ready its cells are planned (from facts about this host) and its runs
queued, while other images still build or pull. Records are saved the moment each repeat ends;
whatever stops the run (Ctrl-C, SIGTERM, a lost engine), what completed is written and `--resume`
finishes the rest.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import interrupts
from .assemble import assemble
from .backends import placement
from .backends.docker.container import Owner
from .backends.docker.images import BuildSettings
from .backends.machine import Machine, engine_for
from .backends.slurm import scheduler
from .backends.slurm.execute import unended
from .backends.slurm.jobs import job_name
from .builds import build_settings, isa_dispatch, say_built, start_builds, sweep
from .cache import CACHE, Cache, cell_keys, gpu_unknown, records_from, reusable_cells, reusable_records
from .config import INSIDE, Matrix, load_matrix
from .cpu import machine_identity
from .errors import ConfigError, EngineError, ResultsError
from .files import atomic_write, read_bounded
from .gpu import GpuFacts, host_gpus
from .log import Output
from .merge import merge
from .options import Options, from_stored, matrix_command, stored
from .plan import Cell, Plan, empty_plan, plan_environment, select_environments
from .report import Verdicts, baseline_line, claims_line, derive, summary_line
from .results import Build, Record, Results, RunState
from .settings import JobSettings, change_gate, resolve, surprise_gate
from .store import (
    MAX_OPTIONS_BYTES,
    RunDirectory,
    is_alive,
    latest_unfinished,
    load_results,
    resolve_run_directory,
)
from .writers import RunReport, write_run

# Options is re-exported: the jobs are called with it, and it lives in options.py with its defaults.
__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_PENDING",
    "RESUME_LATEST",
    "Options",
    "collect_job",
    "matrix_job",
    "report_job",
]

RESUME_LATEST = Path("@latest")  # --resume without a directory: the newest run that did not finish
EXIT_INTERRUPTED = 130
EXIT_PENDING = 75  # `collect --no-wait`: tasks still queued or running (sysexits' EX_TEMPFAIL: try later)


def matrix_job(
    options: Options, out: Output, host_environ: Mapping[str, str], *, collecting: bool = False
) -> int:
    """Build what is missing, run every planned cell, store the records, write the report.

    An environment's runs start as soon as its image is ready, while the others build or pull.
    With `options.detach`, the Slurm repeats are submitted and not waited for (the rest run to
    their end); `collecting`: `seedmatrix collect` finishing such a run (`collect_job`).
    """
    matrix = load_matrix(options.config)
    environments = select_environments(matrix, options.selection)
    if options.detach and not any(matrix.environment(name).slurm for name in environments):
        raise ConfigError(
            "--detach: no selected environment runs on Slurm (slurm:), so there is nothing to detach"
        )
    engine = engine_for(matrix, environments)
    resolved = resolve(options, environ=host_environ, matrix=matrix)
    baseline = _load_baseline(resolved.baseline)
    earlier = load_results(resolved.reuse_from) if resolved.reuse_from and not resolved.fresh else None
    run, records, started = _open_run(resolved)
    if resolved.resume is None:
        atomic_write(run.options_file, stored(options))  # what `seedmatrix collect` runs it with
    again = f"seedmatrix collect {run.path}" if collecting else f"seedmatrix matrix --resume {run.path}"
    with run.held():
        owner = Owner(run_id=run.run_id, run_dir=run.path)
        settings = build_settings(resolved, host_environ=host_environ, owner=owner)
        machine = Machine.open(matrix, engine, settings=settings, out=out, collecting=collecting)
        book = _RunBook(
            matrix=matrix,
            resolved=resolved,
            out=out,
            run=run,
            machine=machine,
            gpus=host_gpus(),
            plan=empty_plan(matrix, resolved.selection),
            records=records,
            started=started,
            engine=machine.engine,
            earlier=earlier,
        )
        jobs = resolved.runs_at_once(len(engine.cpu_ids))
        try:
            sweep(machine, resolved.results, out, resumed=run.run_id if records or resolved.resume else None)
            out.step(
                f"run {run.run_id}: {len(environments)} environments × {len(book.plan.cases)} cases × "
                f"{matrix.repeats} repeats, up to {jobs} runs at once, an environment's as soon as its "
                "image is ready"
            )
            stopped = _build_and_run(
                book,
                settings,
                host_environ=host_environ,
                jobs=jobs,
                build_jobs=resolved.build_jobs,
                detach=options.detach,
                collecting=collecting,
            )
        except KeyboardInterrupt:
            stopped = "interrupted"
            out.warn(_interrupted_line(collecting))
            with interrupts.shielded():
                machine.close(interrupted=True)
        with interrupts.shielded():
            if not book.builds or book.resumed_waiting:
                # Nothing new is written: a resumed run keeps the results.json it stopped with.
                out.note(
                    f"stopped before the images of its environments were checked; try again with: {again}"
                    if resolved.resume is not None
                    else f"stopped before anything ran; {run.path} holds nothing to resume"
                )
                return EXIT_INTERRUPTED if stopped != "engine" else EngineError.exit_code
            waiting = book.unrecorded_on_slurm() if stopped == "detached" else 0
            if stopped == "detached" and not waiting:
                stopped = None  # the last tasks ended as the run was detaching: it is whole
            if stopped == "detached":
                # Not a report: the Slurm cells have no records yet, and a report would show them
                # missing. results.json says the run is still running; collect writes the rest.
                run.save_results(book.results(RunState.RUNNING))
                interrupts.decided()
                out.step(
                    f"detached: {waiting} Slurm repeats not recorded yet (queued or running); run "
                    f"directory {run.path.resolve()}"
                )
                out.note(f"gather them (and write the report) with: seedmatrix collect {run.path.resolve()}")
                # Not 0: no verdict is known yet, so `matrix --detach && next` must not read as passed.
                return EXIT_PENDING
            if earlier is not None and not book.reused_from_earlier:
                out.note(
                    f"reused nothing of run {earlier.run_id} ({resolved.reuse_from}): no cell's image, "
                    "files and settings are the same here"
                )
            results = book.results(RunState.STOPPED if stopped else RunState.FINISHED)
            verdicts = _write_report(
                run, results, out, baseline=baseline, save=True, fail_on_change=resolved.fail_on_change
            )
            book.cache.save_cells(reusable_cells(book.keys, results, verdicts.comparison, run.run_id))
            if stopped is None:
                interrupts.decided()  # every record is in and written: a late signal changes nothing
    if stopped is not None:
        if collecting and stopped == "engine":
            # A task cancelled outside the run, or Slurm lost: its repeat must be submitted again.
            again = matrix_command(replace(options, resume=run.path))
        out.note(f"finish it with: {again}")
        return EXIT_INTERRUPTED if stopped == "interrupted" else EngineError.exit_code
    return _exit_status(
        verdicts, out, fail_on_surprise=resolved.fail_on_surprise, fail_on_change=resolved.fail_on_change
    )


def collect_job(path: Path, out: Output, host_environ: Mapping[str, str], *, wait: bool = True) -> int:
    """Finish a run whose Slurm tasks were left running (`matrix --detach`, or a submitter killed
    outright): as --resume does, with the options the run stored, except that every task the run
    submitted is waited for and recorded as it ended, never submitted again (SlurmQueue's
    `collecting`), and Ctrl-C leaves the jobs running. Without `wait`, tasks still queued or
    running make it return at once (EXIT_PENDING), having written nothing."""
    run = resolve_run_directory(path)
    if not (run.path / "slurm").is_dir():
        raise ResultsError(
            f"{run.path}: not a Slurm run (no slurm/ directory: it submitted no task), nothing to "
            "collect; a stopped run is finished with `seedmatrix matrix --resume`"
        )
    if is_alive(run.path):
        raise ResultsError(f"run {run.run_id} is still running in another process ({run.path})")
    if not run.options_file.exists():
        raise ResultsError(
            f"{run.path}: no {run.options_file.name}, so the options it ran with are unknown (a run of "
            "an older seedmatrix); finish it with `seedmatrix matrix --config ... --resume "
            f"{run.path}`"
        )
    data = read_bounded(
        run.options_file, limit=MAX_OPTIONS_BYTES, what="the run's options", error=ResultsError
    )
    options = from_stored(data, source=run.options_file)
    if run.finished:
        out.note(f"run {run.run_id} is finished: nothing to collect; its report, as it stands:")
        return report_job(
            [run.path], out, baseline=options.baseline, report_only=options.report_only,
            fail_on_change=options.fail_on_change,
        )  # fmt: skip
    if not wait:
        left = unended(run.path, scheduler.tasks_of(job_name(run.run_id)))
        if left:
            counts = ", ".join(f"{count} {state}" for state, count in sorted(left.items()))
            out.step(
                f"run {run.run_id}: {left.total()} Slurm repeats not ended yet ({counts}); nothing written"
            )
            out.note(f"collect them later with: seedmatrix collect {run.path}")
            return EXIT_PENDING
    return matrix_job(replace(options, resume=run.path), out, host_environ, collecting=True)


@dataclass(kw_only=True)
class _RunBook:
    """One matrix run's growing state: environments join it, one at a time, as their images are
    ready; records arrive from the run threads."""

    matrix: Matrix
    resolved: JobSettings
    out: Output
    run: RunDirectory
    machine: Machine
    gpus: GpuFacts | None  # this host's GPUs and driver, for GPU cells' keys (None: unknown)
    plan: Plan
    records: list[Record]
    started: str
    engine: str
    earlier: Results | None  # --reuse-from
    builds: dict[str, Build] = field(default_factory=dict)
    dispatch: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    reused_from_earlier: int = 0  # records taken from --reuse-from
    lock: threading.Lock = field(default_factory=threading.Lock)  # records, shared with run threads

    def __post_init__(self) -> None:
        # Resuming: environments with records from before, whose images are not yet checked against
        # them. Until they all are, nothing is written and nothing runs, so a refused resume
        # leaves the run as it was.
        selected = set(self.plan.environments)
        self.resumed_waiting = {r.environment for r in self.records if r.environment in selected}
        self._held: list[tuple[Cell, int]] = []

    def join(self, name: str, build: Build) -> list[tuple[Cell, int]]:
        """Plan the environment whose image is ready (or failed); the runs to start now (on
        --resume, every environment's are held until those with old records have joined)."""
        self._held += self._join(name, build)
        if self.resumed_waiting:
            return []
        work, self._held = self._held, []
        return work

    @property
    def cache(self) -> Cache:
        return Cache(self.resolved.results / CACHE)

    def results(self, state: RunState) -> Results:
        with self.lock:
            records = list(self.records)
        return assemble(
            matrix=self.matrix,
            plan=self.plan,
            builds=self.builds,
            records=records,
            run_id=self.run.run_id,
            started=self.started,
            state=state,
            engine=self.engine,
            dispatch=self.dispatch,
            cell_keys=self.keys,
            machines={
                name: self.machine.machine_of(self.matrix.environment(name))
                for name in self.plan.environments
            },
        )

    def unrecorded_on_slurm(self) -> int:
        """The planned repeats of Slurm environments that have no record yet."""
        with self.lock:
            done = {(r.environment, r.case, r.repeat) for r in self.records}
        return sum(
            (cell.environment, cell.case, repeat) not in done
            for cell in self.plan.cells
            if self.matrix.environment(cell.environment).slurm
            for repeat in range(1, cell.repeats + 1)
        )

    def keep(self, record: Record) -> None:
        with self.lock:
            self.run.save_record(record)
            self.records.append(record)

    def _join(self, name: str, build: Build) -> list[tuple[Cell, int]]:
        with self.lock:
            ran_on = {record.ran_on for record in self.records if record.environment == name}
        _check_same_image(self.run.run_id, name, build, ran_on)
        self.resumed_waiting.discard(name)
        self.builds[name] = build
        facts = self.machine.facts(self.matrix.environment(name), build)
        cells, skipped = plan_environment(
            self.matrix, name, self.plan.cases, facts, memory=self.resolved.memory
        )
        self.plan = self.plan.adding(cells, skipped)
        reasons = {skip.reason for skip in skipped}
        if not cells and len(skipped) > 1 and len(reasons) == 1:
            self.out.note(f"skipping {name} (all {len(skipped)} cases): {reasons.pop()}")
        else:
            for skip in skipped:
                self.out.note(f"skipping {skip.environment} / {skip.case}: {skip.reason}")
        known = isa_dispatch(
            self.machine, self.matrix.environment(name), build, cache=self.cache, out=self.out
        )
        if known is not None:
            self.dispatch[name] = known
        if not self.resumed_waiting:
            self.run.save_results(self.results(RunState.RUNNING))  # a run killed outright keeps them
        if build.identity is None:
            return []
        keys = cell_keys(
            cells,
            {name: build.identity},
            helpers=INSIDE,
            machine=machine_identity(self.machine.cpu),
            gpus=self.gpus,
        )
        self.keys.update(keys)
        unknown = next(filter(None, (gpu_unknown(cell, self.gpus) for cell in cells)), None)
        if unknown is not None and not self.resolved.fresh:
            self.out.note(f"{name}: its GPU cells run again, none is reused: {unknown}")
        planned = {(cell.case, repeat) for cell in cells for repeat in range(1, cell.repeats + 1)}
        if resumed := len(planned & self._done(name)):
            self.out.note(f"{name}: {len(planned) - resumed} runs ({resumed} already done)")
        spec = self.matrix.environment(name)
        if not self.resolved.fresh and placement(spec, matrix_dir=self.matrix.source.parent).reusable:
            self._reuse(name, keys)
        done = self._done(name)
        return [
            (cell, repeat)
            for cell in cells
            for repeat in range(1, cell.repeats + 1)
            if (cell.case, repeat) not in done
        ]

    def _done(self, name: str) -> set[tuple[str, int]]:
        """(case, repeat) of the environment's records so far."""
        with self.lock:
            return {(r.case, r.repeat) for r in self.records if r.environment == name}

    def _reuse(self, name: str, keys: Mapping[tuple[str, str], str]) -> None:
        """Records of unchanged cells: from earlier runs here, then from --reuse-from."""
        with self.lock:
            started = {(r.environment, r.case) for r in self.records}
        repeats = self.matrix.repeats
        reused = reusable_records(
            self.cache, keys, self.resolved.results, self.run, repeats=repeats, started=started
        )
        if reused:
            cells = len({(r.environment, r.case) for r in reused})
            self.out.note(
                f"{name}: reusing {len(reused)} records of {cells} unchanged cells from earlier runs "
                "(--fresh to rerun)"
            )
        if self.earlier is not None:
            started |= {(r.environment, r.case) for r in reused}
            from_there = records_from(self.earlier, keys, self.run, repeats=repeats, started=started)
            if from_there:
                self.out.note(
                    f"{name}: reusing {len(from_there)} records of run {self.earlier.run_id} "
                    f"({self.resolved.reuse_from}): their cells' images, files and settings are the same here"
                )
            self.reused_from_earlier += len(from_there)
            reused += from_there
        with self.lock:
            self.records += reused


def _check_same_image(run_id: str, name: str, build: Build, ran_on: set[str | None]) -> None:
    """Resuming mixes old and new records, so they must have run on what the new ones will run on.

    Only environments with old records (`ran_on`: what they ran on) matter: one whose build failed
    before can be built now.
    """
    for old in ran_on - {build.identity}:
        now = (
            f"would now run on {build.identity}; old and new records would not be comparable, so "
            "start a new run"
            if build.identity
            else f"its image could not be made now ({build.error}); resume again once it can"
        )
        raise ResultsError(f"cannot resume run {run_id}: {name} ran on {old} and {now}")


def _build_and_run(
    book: _RunBook,
    settings: BuildSettings,
    *,
    host_environ: Mapping[str, str],
    jobs: int,
    build_jobs: int,
    detach: bool = False,
    collecting: bool = False,
) -> str | None:
    """Build the images (`build_jobs` at once) and run each environment's cells (`jobs` at once)
    as soon as its image is ready; returns why it stopped early, if it did ("detached": with
    `detach`, Slurm repeats were left queued or running)."""
    out = book.out
    environments = book.plan.environments
    builder, building = start_builds(book.machine, book.matrix, environments, jobs=build_jobs)
    stopped: str | None = None
    detached: list[Future[None]] = []  # with `detach`: the Slurm repeats' records, not waited for
    with out.progress(("images", len(environments)), ("runs", 0)) as (images, runs_bar):

        def keep(record: Record) -> None:
            if settings.stopping.is_set():
                return  # killed by our own cleanup, not a result
            book.keep(record)
            runs_bar.advance(f"{record.environment} / {record.case} #{record.repeat}: {record.status.value}")

        runs = book.machine.runs(
            jobs=jobs, side_dir=book.run.side_dir, host_environ=host_environ, on_record=keep
        )
        pending: set[Future[Any]] = set()
        try:
            pending.update(building)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if future not in building:
                        future.result()  # a run's own failure (a lost engine) ends the job
                        continue
                    name, built = building[future], future.result()
                    say_built(name, built, images, out)
                    work = book.join(name, built)
                    runs_bar.grow(len(work))
                    if detach:  # by environment, one flag per item: cells hold mappings, no set takes them
                        slurm = [bool(book.matrix.environment(cell.environment).slurm) for cell, _ in work]
                        detached += runs.submit([item for item, on in zip(work, slurm, strict=True) if on])
                        work = [item for item, on in zip(work, slurm, strict=True) if not on]
                    pending.update(runs.submit(work))
            if not all(future.done() for future in detached):
                stopped = "detached"
            else:
                for future in detached:
                    future.result()  # every one ended meanwhile: the run finishes as a waiting one does
        except KeyboardInterrupt:
            stopped = "interrupted"
            out.warn(_interrupted_line(collecting))
        except EngineError as error:
            stopped = "engine"
            out.error(f"{error}; the records completed so far are kept")
        finally:
            with interrupts.shielded():
                # Nothing new starts; builds in flight give up at their next step; the containers
                # they and the runs wait on (wheel fetches, probes, runs) are this run's, removed
                # here, so no thread is left waiting on them.
                if stopped not in (None, "detached") or pending:
                    settings.stopping.set()
                builder.shutdown(wait=False, cancel_futures=True)
                runs.close()  # a detached run's Slurm jobs go on: only `interrupted` cancels them
                book.machine.close(interrupted=stopped not in (None, "detached"))
    return stopped


def _interrupted_line(collecting: bool) -> str:
    if collecting:
        return "interrupted: the run's Slurm jobs go on (they were detached); writing what was collected"
    return "interrupted: removing this run's containers and writing what completed"


def _open_run(resolved: JobSettings) -> tuple[RunDirectory, list[Record], str]:
    """A new run directory, or (with --resume) a stopped one with its records; and when it started."""
    if resolved.resume is None:
        run = RunDirectory.create(resolved.results)
        return run, [], run.started
    if resolved.resume == RESUME_LATEST:
        run = latest_unfinished(resolved.results)
    else:
        run = resolve_run_directory(resolved.resume)
    if run.finished:
        raise ResultsError(f"run {run.run_id} finished; there is nothing to resume (start a new run)")
    return run, run.load_records(), run.started


def report_job(
    runs: Sequence[Path],
    out: Output,
    *,
    baseline: Path | None = None,
    report_only: bool = False,
    fail_on_change: bool = False,
    into: Path | None = None,
) -> int:
    """Re-render MATRIX.md from stored results (claims re-checked); runs nothing.

    Several runs (from several machines) are merged into one results set in `into`.
    """
    merging = len(runs) > 1 or into is not None
    with _kept_until_exit():
        if not merging:
            run = resolve_run_directory(runs[0])
            results = run.load_results()
            if results.state is RunState.RUNNING and (run.path / "slurm").is_dir() and not is_alive(run.path):
                out.warn(
                    f"run {run.run_id} has Slurm tasks not collected yet (their cells show as missing): "
                    f"seedmatrix collect {run.path}"
                )
        else:
            results = merge([load_results(path) for path in runs])
            run = RunDirectory(into or Path("results") / "merged")
        baseline_results = _load_baseline(baseline)
    if merging:
        run.path.mkdir(parents=True, exist_ok=True)
        hosts = ", ".join(sorted({env.host for env in results.environments if env.host})) or "unknown hosts"
        out.step(f"merged {len(runs)} runs: {len(results.environments)} environments from {hosts}")
    gate = change_gate(configured=results.fail_on_change, asked=fail_on_change)
    verdicts = _write_report(run, results, out, baseline=baseline_results, save=merging, fail_on_change=gate)
    return _exit_status(
        verdicts,
        out,
        fail_on_surprise=surprise_gate(configured=results.fail_on_surprise, report_only=report_only),
        fail_on_change=gate,
    )


@contextmanager
def _kept_until_exit() -> Iterator[None]:
    """For results this process keeps until it ends: a report over many records makes millions of
    objects, and the cyclic garbage collector walking them again and again took a third of its
    time. It pauses while they are loaded; they are then frozen out of its reach (reference
    counting still frees whatever is dropped)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()


def _exit_status(verdicts: Verdicts, out: Output, *, fail_on_surprise: bool, fail_on_change: bool) -> int:
    """1 when something did not run, when a claim failed (unless report-only), or (with fail_on_change)
    when the baseline shows a change; else 0."""
    status = 1 if verdicts.comparison.failed or (fail_on_surprise and verdicts.surprises) else 0
    if fail_on_change:
        if verdicts.baseline is None:
            out.warn("fail_on_change: there is no baseline to compare with (--baseline or baseline:)")
        elif verdicts.baseline.gated:
            out.error(
                f"{len(verdicts.baseline.gated)} cell(s) changed against the baseline (fail_on_change):"
            )
            for cell in verdicts.baseline.gated:
                out.note(f"{cell.environment} / {cell.case}: {cell.gate_line}")
            status = 1
    return status


def _load_baseline(path: Path | None) -> tuple[Results, str] | None:
    if path is None:
        return None
    return load_results(path), os.path.relpath(path)


def _write_report(
    run: RunDirectory,
    results: Results,
    out: Output,
    *,
    baseline: tuple[Results, str] | None,
    save: bool = False,
    fail_on_change: bool,
) -> Verdicts:
    """MATRIX.md (and the job summary) from `results`; with `save`, results.json first.
    `fail_on_change`: the gate the exit status applies, which junit.xml applies too."""
    verdicts = derive(results, baseline)
    comparison = verdicts.comparison
    report = RunReport(
        run=run, results=results, verdicts=verdicts, out=out, save=save, fail_on_change=fail_on_change
    )
    write_run(report)
    out.step(summary_line(comparison))
    if verdicts.claims:
        out.step("claims: " + claims_line(verdicts.claims))
        for check in verdicts.surprises:
            out.warn(f"SURPRISE {check.environment} / {check.case} / {check.claim_text}: {check.evidence}")
    if verdicts.baseline is not None:
        out.step("baseline: " + baseline_line(verdicts.baseline))
    out.note(f"matrix:  {run.matrix_file}")
    out.note(f"records: {run.results_file}")
    return verdicts
