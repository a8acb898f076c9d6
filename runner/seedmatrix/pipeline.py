"""The jobs a user asks for, as small steps: load → plan → images → runs → results → compare → report."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import requests

from . import container, hostrun, images
from .baseline import against_baseline
from .cache import Cache, cell_key
from .claims import check_claims
from .compare import CellState, Comparison, compare
from .config import Claims, Matrix, load_matrix
from .errors import EngineError, ResultsError
from .execute import INSIDE, run_cells
from .log import Output
from .plan import Cell, Plan, Selection, make_plan
from .report import Verdicts, baseline_line, claims_line, render, summary_line
from .results import (
    LATEST,
    CaseResult,
    EnvironmentResult,
    Record,
    Results,
    RunDirectory,
    RunStatus,
    SkippedCell,
    atomic_write,
    load_results,
    merge,
    resolve_run_directory,
    sorted_records,
    utc_now,
)

BUILD_LOGS = "build-logs"
RESUME_LATEST = Path("@latest")  # --resume without a directory: the latest run under --results
CACHE = ".cache"
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, kw_only=True)
class Options:
    config: Path
    results: Path
    selection: Selection = field(default_factory=Selection)
    ca_bundle: Path | None = None
    debian_mirror: str | None = None
    memory: str = "4g"
    jobs: int | None = None  # containers at once; default: the engine's CPU count
    baseline: Path | None = None  # overrides matrix.yaml's `baseline:`
    report_only: bool = False  # a SURPRISE does not make the exit status non-zero
    resume: Path | None = None  # a run directory whose missing records are to be run
    fresh: bool = False  # run every cell, even where an earlier run's records could be reused


def matrix_job(options: Options, out: Output, env: Mapping[str, str]) -> int:
    """Build what is missing, run every planned cell, store the records, write the report.

    Records are saved as they complete. Ctrl-C, SIGTERM or a lost engine stop the runs, remove
    the run's containers, and still write results.json and MATRIX.md from what completed;
    `--resume` then runs only what is missing.
    """
    matrix = load_matrix(options.config)
    client, cpu_ids = _engine_for(matrix, options.selection)
    host_cpus = len(cpu_ids)
    plan = make_plan(matrix, host_cpus=host_cpus, selection=options.selection)
    baseline = _load_baseline(options.baseline or matrix.baseline)
    store, records, previous = _open_run(options)
    jobs = options.jobs or host_cpus
    out.step(
        f"run {store.run_id}: {len(plan.environments)} environments × {len(plan.cases)} cases, "
        f"{plan.runs - len(records)} container runs"
        + (f" ({len(records)} already done)" if records else "")
        + f", up to {jobs} at once"
    )
    for skip in plan.skipped:
        out.note(f"skipping {skip.environment} / {skip.case}: {skip.reason}")
    outcomes = _images(
        client=client, matrix=matrix, plan=plan, options=options, out=out, env=env, run_label=store.run_id
    )
    if previous is not None:
        _check_same_images(previous, outcomes)
    image_ids = {o.environment: o.image_id for o in outcomes if o.image_id}
    found = _host_frameworks(matrix, outcomes)
    if found:
        plan = make_plan(matrix, host_cpus=host_cpus, selection=options.selection, frameworks=found)
    plan = _without_unavailable_gpus(
        client, matrix, plan, image_ids, host_cpus=host_cpus, options=options, out=out, frameworks=found
    )
    cache = Cache(options.results / CACHE)
    keys = _cell_keys(plan, image_ids, matrix=matrix, options=options)
    if not options.fresh:
        records += _reuse(cache, keys, options.results, store, plan, done=records, out=out)
    work = [
        (cell, repeat)
        for cell, repeat in plan.runs_left({(r.environment, r.case, r.repeat) for r in records})
        if cell.environment in image_ids
    ]
    stopped = _run(
        client,
        work,
        image_ids,
        store=store,
        records=records,
        limits=container.Limits(timeout_seconds=matrix.timeout_seconds, memory=options.memory),
        jobs=jobs,
        cpu_ids=cpu_ids,
        host_environment=env,
        out=out,
    )
    results = _results(
        matrix=matrix,
        plan=plan,
        outcomes=outcomes,
        records=records,
        store=store,
        started=previous.started if previous else store.started,
        client=client,
        host_frameworks=found,
    )
    store.save_results(results)
    verdicts = _write_report(store, results, out, baseline=baseline)
    cache.save_cells(_reusable(keys, results, verdicts.comparison, store.run_id))
    store.mark_latest()
    if stopped is not None:
        out.note(f"finish it with: seedmatrix matrix --resume {store.path}")
        return EXIT_INTERRUPTED if stopped == "interrupted" else EngineError.exit_code
    return _exit_status(verdicts, fail_on_surprise=results.fail_on_surprise and not options.report_only)


def _engine_for(matrix: Matrix, selection: Selection) -> tuple[docker.DockerClient | None, list[int]]:
    """The engine and the CPUs runs may be pinned to; host environments alone need no engine.

    Containers get cpusets numbered on the engine's host (0 … n-1); host processes get CPUs this
    process may use (under taskset or a batch scheduler's cpuset, not always 0 … n-1).
    """
    chosen = make_plan(matrix, host_cpus=os.cpu_count() or 1, selection=selection).environments
    if all(matrix.environment(name).host_python for name in chosen):
        return None, sorted(os.sched_getaffinity(0))
    client = container.connect()
    return client, list(range(container.engine_cpus(client)))


def _without_unavailable_gpus(
    client: docker.DockerClient | None,
    matrix: Matrix,
    plan: Plan,
    image_ids: Mapping[str, str],
    *,
    host_cpus: int,
    options: Options,
    out: Output,
    frameworks: Mapping[str, frozenset[str]],
) -> Plan:
    """Ask the engine once whether it can give a container a GPU; if not, GPU runs are skipped."""
    wanting = [
        cell.environment
        for cell in plan.cells
        if cell.gpu and cell.host_python is None and cell.environment in image_ids
    ]
    if not wanting or client is None:
        return plan
    reason = container.gpu_unavailable(client, image_ids[wanting[0]])
    if reason is None:
        out.note("the engine gives containers GPUs: GPU environments run on them")
        return plan
    out.warn(f"skipping the GPU environments: {reason}")
    return make_plan(
        matrix,
        host_cpus=host_cpus,
        selection=options.selection,
        gpu_unavailable=reason,
        frameworks=frameworks,
    )


def _host_frameworks(matrix: Matrix, outcomes: Sequence[images.ImageOutcome]) -> dict[str, frozenset[str]]:
    """What each host interpreter was found to have: its cases need no pins to be applicable."""
    found = {}
    for outcome in outcomes:
        observed = outcome.observed
        if observed is not None and matrix.environment(outcome.environment).host_python:
            versions = {"numpy": observed.numpy, "tensorflow": observed.tensorflow, "torch": observed.torch}
            versions["jax"] = observed.jax
            found[outcome.environment] = frozenset(name for name, version in versions.items() if version)
    return found


def _open_run(options: Options) -> tuple[RunDirectory, list[Record], Results | None]:
    """A new run directory, or (with --resume) the stopped one with its records and results."""
    if options.resume is None:
        return RunDirectory.create(options.results), [], None
    store = resolve_run_directory(
        options.results / LATEST if options.resume == RESUME_LATEST else options.resume
    )
    previous = store.load_results() if store.results_file.exists() else None
    return store, store.load_records(), previous


def _run(
    client: docker.DockerClient | None,
    work: Sequence[tuple[Cell, int]],
    image_ids: Mapping[str, str],
    *,
    store: RunDirectory,
    records: list[Record],
    limits: container.Limits,
    jobs: int,
    cpu_ids: Sequence[int],
    host_environment: Mapping[str, str],
    out: Output,
) -> str | None:
    """Run the work, saving each record as it comes; returns why it stopped early, if it did."""
    stopped: str | None = None
    try:
        with out.progress("runs", total=len(work)) as advance:

            def keep(record: Record) -> None:
                if stopped is not None:
                    return  # killed by our own cleanup, not a result
                store.save_record(record)
                records.append(record)
                advance(f"{record.environment} / {record.case} #{record.repeat}: {record.status.value}")

            run_cells(
                client,
                work,
                image_ids,
                run_label=store.run_id,
                limits=limits,
                jobs=jobs,
                cpu_ids=cpu_ids,
                host_environment=host_environment,
                on_record=keep,
            )
    except KeyboardInterrupt:
        stopped = "interrupted"
        out.warn("interrupted: removing this run's containers and writing what completed")
    except EngineError as error:
        stopped = "engine"
        out.error(f"{error}; the records completed so far are kept")
    finally:
        if stopped is not None:
            hostrun.stop_all()  # host processes are in sessions of their own: Ctrl-C never reached them
        _remove_containers(client, store.run_id, out)
    return stopped


def _cell_keys(
    plan: Plan, image_ids: Mapping[str, str], *, matrix: Matrix, options: Options
) -> dict[tuple[str, str], str]:
    return {
        (cell.environment, cell.case): cell_key(
            image_id=image_ids[cell.environment],
            script=cell.script,
            helpers=INSIDE,
            settings={
                "env": dict(cell.env),
                "cpus": cell.cpus,
                "repeats": cell.repeats,
                "timeout": matrix.timeout_seconds,
                "memory": options.memory,
            },
        )
        for cell in plan.cells
        if cell.environment in image_ids
    }


def _reuse(
    cache: Cache,
    keys: Mapping[tuple[str, str], str],
    results_root: Path,
    store: RunDirectory,
    plan: Plan,
    *,
    done: Sequence[Record],
    out: Output,
) -> list[Record]:
    """Copy the records of unchanged cells from the run that last ran them completely."""
    started = {(r.environment, r.case) for r in done}
    reused: list[Record] = []
    for cell in plan.cells:
        key = keys.get((cell.environment, cell.case))
        run = cache.cell_run(key) if key and (cell.environment, cell.case) not in started else None
        if run is None or run == store.run_id or not (results_root / run / "records").is_dir():
            continue
        earlier = RunDirectory(results_root / run).records_of(cell.environment, cell.case)
        if len(earlier) != cell.repeats or any(r.status is not RunStatus.OK for r in earlier):
            continue
        for record in earlier:
            copy = replace(record, reused_from=record.reused_from or run)
            store.save_record(copy)
            reused.append(copy)
    if reused:
        cells = len({(r.environment, r.case) for r in reused})
        out.note(
            f"reusing {len(reused)} records of {cells} unchanged cells from earlier runs (--fresh to rerun)"
        )
    return reused


def _reusable(
    keys: Mapping[tuple[str, str], str], results: Results, comparison: Comparison, run_id: str
) -> dict[str, str]:
    """Cells this run completed successfully, by key (reused cells keep pointing at their origin).

    A cell is reusable only when its comparison is a real result: not failed, not missing, and not
    a GPU environment that ran on the CPU (a fixed driver must not be hidden by old records).
    """
    found = {}
    for (environment, case), key in keys.items():
        records = results.records_of(environment, case)
        usable = (environment, case) in comparison.keys and comparison.cell(environment, case).state in {
            CellState.STABLE,
            CellState.VARIES,
        }
        if usable and len(records) == results.repeats and all(r.status is RunStatus.OK for r in records):
            origins = {r.reused_from for r in records}
            origin = origins.pop() if len(origins) == 1 else None
            found[key] = origin or run_id
    return found


def _remove_containers(client: docker.DockerClient | None, run_label: str, out: Output) -> None:
    if client is None:
        return
    try:
        container.remove_run_containers(client, run_label)
    except EngineError as error:
        selector = f"label={container.RUN_LABEL}={run_label}"
        out.warn(f"{error}: remove them later with `docker rm -f $(docker ps -aq --filter {selector})`")


def _check_same_images(previous: Results, outcomes: Sequence[images.ImageOutcome]) -> None:
    """Resuming mixes old and new records, so the images must be the ones the old records came from.

    Only environments with old records matter: one whose build failed before can be built now.
    """
    with_records = {record.environment for record in previous.records}
    before = {env.name: env.image_id for env in previous.environments if env.name in with_records}
    for outcome in outcomes:
        if outcome.environment in before and outcome.image_id != before[outcome.environment]:
            raise ResultsError(
                f"cannot resume run {previous.run_id}: the image of {outcome.environment} changed "
                f"({before[outcome.environment]} → {outcome.image_id}); start a new run instead"
            )


def images_job(options: Options, out: Output, env: Mapping[str, str]) -> int:
    """Build (or find) the images of the selected environments and show what they contain."""
    matrix = load_matrix(options.config)
    client, cpu_ids = _engine_for(matrix, options.selection)
    plan = make_plan(matrix, host_cpus=len(cpu_ids), selection=options.selection)
    outcomes = _images(
        client=client, matrix=matrix, plan=plan, options=options, out=out, env=env, run_label="images"
    )
    for outcome in outcomes:
        observed = outcome.observed
        if observed is None:
            out.error(f"{outcome.environment}: {outcome.error}")
            continue
        out.note(
            f"{outcome.environment}: {outcome.status.value} {outcome.tag} · Python {observed.python} · "
            f"NumPy {observed.numpy or '—'} · {observed.tensorflow or 'no TensorFlow'}"
        )
    return 1 if any(o.observed is None for o in outcomes) else 0


def report_job(
    runs: Path | Sequence[Path],
    out: Output,
    *,
    baseline: Path | None = None,
    report_only: bool = False,
    into: Path | None = None,
) -> int:
    """Re-render MATRIX.md from stored results (claims re-checked); runs nothing.

    Several runs (from several machines) are merged into one results set in `into`.
    """
    paths = [runs] if isinstance(runs, Path) else list(runs)
    if len(paths) == 1 and into is None:
        store = resolve_run_directory(paths[0])
        results = store.load_results()
    else:
        results = merge([load_results(path) for path in paths])
        store = RunDirectory(into or Path("results") / "merged")
        store.path.mkdir(parents=True, exist_ok=True)
        store.save_results(results)
        out.step(f"merged {len(paths)} runs: {len(results.environments)} environments from {_hosts(results)}")
    verdicts = _write_report(store, results, out, baseline=_load_baseline(baseline))
    return _exit_status(verdicts, fail_on_surprise=results.fail_on_surprise and not report_only)


def _hosts(results: Results) -> str:
    return ", ".join(sorted({env.host for env in results.environments if env.host})) or "unknown hosts"


def _exit_status(verdicts: Verdicts, *, fail_on_surprise: bool) -> int:
    """1 when something did not run, or when a claim failed (unless report-only); else 0."""
    if verdicts.comparison.failed:
        return 1
    return 1 if fail_on_surprise and verdicts.surprises else 0


def _load_baseline(path: Path | None) -> tuple[Results, str] | None:
    if path is None:
        return None
    return load_results(path), os.path.relpath(path)


def _images(
    *,
    client: docker.DockerClient | None,
    matrix: Matrix,
    plan: Plan,
    options: Options,
    out: Output,
    env: Mapping[str, str],
    run_label: str,
) -> list[images.ImageOutcome]:
    settings = images.BuildSettings.from_environment(
        env,
        logs_dir=options.results / BUILD_LOGS,
        cache=Cache(options.results / CACHE),
        ca_bundle=options.ca_bundle,
        debian_mirror=options.debian_mirror,
    )
    outcomes = []
    with out.progress("images", total=len(plan.environments)) as advance:
        for name in plan.environments:
            outcome = images.ensure_environment_image(
                client, matrix, matrix.environment(name), settings, run_label=run_label, progress=out.note
            )
            outcomes.append(outcome)
            advance(f"{name}: {outcome.status.value} in {outcome.seconds:.1f} s")
            if outcome.error:
                out.error(outcome.error)
    return outcomes


def _results(
    *,
    matrix: Matrix,
    plan: Plan,
    outcomes: Sequence[images.ImageOutcome],
    records: Sequence[Record],
    store: RunDirectory,
    started: str,
    client: docker.DockerClient | None,
    host_frameworks: Mapping[str, frozenset[str]],
) -> Results:
    base = matrix.source.parent
    environments = []
    for outcome in outcomes:
        spec = matrix.environment(outcome.environment)
        requested: dict[str, Any] = {
            "python": spec.python,
            "requirements": list(spec.requirements),
            "device": spec.device,
        }
        origin = {"debian": spec.debian, "base_image": spec.base_image, "host_python": spec.host_python}
        requested.update({key: value for key, value in origin.items() if value})
        environments.append(
            EnvironmentResult(
                name=spec.name,
                requested=requested,
                frameworks=tuple(sorted(host_frameworks.get(spec.name, spec.frameworks))),
                build=outcome.status,
                build_seconds=round(outcome.seconds, 2),
                build_log=str(outcome.log) if outcome.log else None,
                image_tag=outcome.tag,
                image_id=outcome.image_id,
                image_size=outcome.size,
                error=outcome.error,
                observed=outcome.observed,
                host=socket.gethostname(),
            )
        )
    cases = []
    for name in plan.cases:
        case = next(c for c in matrix.cases if c.name == name)
        script = matrix.scripts[name]
        cases.append(
            CaseResult(
                name=name,
                script=os.path.relpath(script, base),
                script_sha256=hashlib.sha256(script.read_bytes()).hexdigest(),
                requires=case.requires,
                claim=case.claim,
                claims=_written(case.claims),
                claims_on_cpu=_written(case.claims_on_cpu),
                claims_on_gpu=_written(case.claims_on_gpu),
                env=dict(case.env),
                cpus=case.cpus,
            )
        )
    return Results(
        run_id=store.run_id,
        started=started,
        finished=utc_now(),
        host=_host(client),
        matrix_file=str(matrix.source),
        reference=matrix.reference if matrix.reference in plan.environments else plan.environments[0],
        repeats=matrix.repeats,
        environments=tuple(environments),
        cases=tuple(cases),
        records=sorted_records(records),
        skipped=tuple(
            SkippedCell(environment=skip.environment, case=skip.case, reason=skip.reason)
            for skip in plan.skipped
        ),
        fail_on_surprise=matrix.fail_on_surprise,
    )


def _written(claims: Claims) -> dict[str, Any]:
    return {key: value for key, value in claims.model_dump().items() if value}


def _host(client: docker.DockerClient | None) -> dict[str, Any]:
    try:
        engine = client.version().get("Version", "?") if client else "not used (host environments only)"
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        engine = "unreachable at the end of the run"
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "docker": engine,
    }


def _write_report(
    store: RunDirectory, results: Results, out: Output, *, baseline: tuple[Results, str] | None
) -> Verdicts:
    comparison = compare(results)
    verdicts = Verdicts(
        comparison=comparison,
        claims=check_claims(results, comparison),
        baseline=against_baseline(results, baseline[0], source=baseline[1], current_comparison=comparison)
        if baseline
        else None,
    )
    markdown = render(results, verdicts)
    atomic_write(store.matrix_file, markdown)
    out.github_summary(markdown)
    out.step(summary_line(comparison))
    if verdicts.claims:
        out.step("claims: " + claims_line(verdicts.claims))
        for check in verdicts.surprises:
            out.warn(f"SURPRISE {check.environment} / {check.case} / {check.claim_text}: {check.evidence}")
    if verdicts.baseline is not None:
        out.step("baseline: " + baseline_line(verdicts.baseline))
    out.note(f"matrix:  {store.matrix_file}")
    out.note(f"records: {store.results_file}")
    return verdicts
