"""The jobs a user asks for, as small steps: load → select → images → plan → runs → results → report.

Each step takes what the previous ones produced. The plan is made once, after the images exist,
from facts about this host; records are saved the moment each repeat ends; whatever stops the run
(Ctrl-C, SIGTERM, a lost engine), what completed is written and `--resume` finishes the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import requests

from . import container, hostrun, interrupts, yamldoc
from .assemble import assemble
from .cache import Cache, cell_keys, records_from, reusable_cells, reusable_records
from .ci import github_annotations, junit_xml
from .config import Matrix, format_key_path, load_matrix, registry_option
from .cpu import host_cpu, machine_identity, switches
from .errors import ConfigError, EngineError, ResultsError
from .execute import INSIDE, RunContext, run_cells
from .files import atomic_write
from .fingerprint import digest
from .hostrun import interpreter
from .images import VENV_PYTHON, BuildSettings, build_order, ensure_environment_image
from .interpreters import host_build
from .limits import DEFAULT_MEMORY
from .log import Output
from .merge import merge
from .plan import Cell, HostFacts, Plan, Selection, make_plan, select_environments
from .probes import DISPATCH_PROBE, probe_dispatch
from .report import Verdicts, baseline_line, claims_line, derive, render, summary_line
from .results import Build, Record, Results, RunState
from .store import (
    RunDirectory,
    job_directory,
    latest_unfinished,
    load_results,
    remove_dead_jobs,
    resolve_run_directory,
)
from .wheels import Fetching

BUILD_LOGS = "build-logs"
RESUME_LATEST = Path("@latest")  # --resume without a directory: the newest run that did not finish
CACHE = ".cache"
EXIT_INTERRUPTED = 130
#: Images built at once by default: a build waits on the network and the disk more than on the CPU,
#: so more than the cores (the longest need not wait for a free one); each holds a wheel set on disk.
DEFAULT_BUILD_JOBS = 4


@dataclass(frozen=True, kw_only=True)
class Options:
    config: Path
    results: Path
    selection: Selection = field(default_factory=Selection)
    ca_bundle: Path | None = None
    debian_mirror: str | None = None
    memory: str = DEFAULT_MEMORY
    jobs: int | None = None  # containers at once; default: the engine's CPU count
    baseline: Path | None = None  # overrides matrix.yaml's `baseline:`
    report_only: bool = False  # a SURPRISE does not make the exit status non-zero
    resume: Path | None = None  # a run directory whose missing records are to be run
    fresh: bool = False  # run every cell, even where an earlier run's records could be reused
    fail_on_change: bool = False  # a change against the baseline exits 1 (also `fail_on_change:`)
    reuse_from: Path | None = None  # another run (results.json or its directory) whose cells may be reused
    registry: str | None = None  # overrides matrix.yaml's registry:
    push: bool = False  # push images to the registry after building (or finding) them
    build_jobs: int | None = None  # images built at once (default DEFAULT_BUILD_JOBS)


def matrix_job(options: Options, out: Output, host_environ: Mapping[str, str]) -> int:
    """Build what is missing, run every planned cell, store the records, write the report."""
    matrix = load_matrix(options.config)
    environments = select_environments(matrix, options.selection)
    client, cpu_ids = _engine_for(matrix, environments)
    baseline = _load_baseline(options.baseline or matrix.baseline)
    run, records, started = _open_run(options)
    with run.held():
        owner = container.Owner(run_id=run.run_id, run_dir=run.path)
        engine = _engine_version(client)
        plan: Plan | None = None
        builds: dict[str, Build] = {}
        dispatch: dict[str, dict[str, Any]] = {}

        def results_now(state: RunState) -> Results:
            assert plan is not None
            return assemble(
                matrix=matrix,
                plan=plan,
                builds=builds,
                records=records,
                run_id=run.run_id,
                started=started,
                state=state,
                engine=engine,
                dispatch=dispatch,
                cell_keys=keys,
            )

        cache = Cache(options.results / CACHE)
        keys: dict[tuple[str, str], str] = {}
        try:
            _sweep(client, options.results, out, resumed=run.run_id if records or options.resume else None)
            builds = _builds(
                client, matrix, environments, options=options, out=out, host_environ=host_environ, owner=owner
            )
            _check_same_images(records, builds, run)
            facts = _facts(client, matrix, builds, cpu_ids=cpu_ids, owner=owner, out=out)
            plan = make_plan(matrix, options.selection, facts, memory=options.memory)
            dispatch = _dispatch(client, matrix, builds, cache=cache, owner=owner, out=out, facts=facts)
            run.save_results(results_now(RunState.RUNNING))  # a run killed outright keeps its plan and images
            identities = {name: build.identity for name, build in builds.items() if build.identity}
            keys = cell_keys(plan, identities, helpers=INSIDE, machine=machine_identity(facts.cpu))
            if not options.fresh:
                records += _reused(
                    cache, keys, options=options, run=run, repeats=matrix.repeats, records=records, out=out
                )
            done = {(r.environment, r.case, r.repeat) for r in records}
            work = [(cell, repeat) for cell, repeat in plan.runs_left(done) if cell.environment in identities]
            jobs = options.jobs or len(cpu_ids)
            out.step(
                f"run {run.run_id}: {len(plan.environments)} environments × {len(plan.cases)} cases, "
                f"{len(work)} runs"
                + (f" ({len(done)} already done)" if done else "")
                + f", up to {jobs} at once"
            )
            for skip in plan.skipped:
                out.note(f"skipping {skip.environment} / {skip.case}: {skip.reason}")
            context = RunContext(
                client=client,
                owner=owner,
                host_environ=host_environ,
                identities=identities,
                jobs=jobs,
                cpu_ids=cpu_ids,
            )
            stopped = _run(context, work, run=run, records=records, out=out)
        except KeyboardInterrupt:
            stopped = "interrupted"
            out.warn("interrupted: removing this run's containers and writing what completed")
            with interrupts.shielded():
                _remove_containers(client, run.run_id, out)
        with interrupts.shielded():
            if plan is None:
                out.note(f"stopped before anything ran; {run.path} holds nothing to resume")
                return EXIT_INTERRUPTED
            results = results_now(RunState.STOPPED if stopped else RunState.FINISHED)
            verdicts = _write_report(run, results, out, baseline=baseline, save=True)
            cache.save_cells(reusable_cells(keys, results, verdicts.comparison, run.run_id))
            if stopped is None:
                interrupts.decided()  # every record is in and written: a late signal changes nothing
    if stopped is not None:
        out.note(f"finish it with: seedmatrix matrix --resume {run.path}")
        return EXIT_INTERRUPTED if stopped == "interrupted" else EngineError.exit_code
    return _exit_status(
        verdicts,
        out,
        fail_on_surprise=results.fail_on_surprise and not options.report_only,
        fail_on_change=results.fail_on_change or options.fail_on_change,
    )


def _facts(
    client: docker.DockerClient | None,
    matrix: Matrix,
    builds: Mapping[str, Build],
    *,
    cpu_ids: Sequence[int],
    owner: container.Owner,
    out: Output,
) -> HostFacts:
    return HostFacts(
        cpus=len(cpu_ids),
        cpu=host_cpu(),
        gpu_unavailable=_gpu_unavailable(client, matrix, builds, owner, out),
        provides={
            name: build.observed.provides
            for name, build in builds.items()
            if matrix.environment(name).host_python and build.observed
        },
    )


def _dispatch(
    client: docker.DockerClient | None,
    matrix: Matrix,
    builds: Mapping[str, Build],
    *,
    cache: Cache,
    owner: container.Owner,
    out: Output,
    facts: HostFacts,
) -> dict[str, dict[str, Any]]:
    """The oneDNN ISA each TensorFlow environment dispatches under its CPU switches on this CPU
    (probed once per image, switches and CPU; kept in the cache)."""
    found = {}
    cpu = machine_identity(facts.cpu)
    for name, build in builds.items():
        spec = matrix.environment(name)
        if build.identity is None or build.observed is None or not build.observed.version("tensorflow"):
            continue
        variables = switches(spec.cpu_isa, spec.onednn)
        key = digest(build.identity, json.dumps(variables, sort_keys=True), cpu, DISPATCH_PROBE.read_bytes())
        known = cache.dispatch(key)
        if known is None:
            out.note(f"{name}: asking oneDNN which instruction set it uses")
            known = probe_dispatch(
                client,
                build,
                interpreter(spec.host_python, relative_to=matrix.source.parent)
                if spec.host_python
                else VENV_PYTHON,
                variables=variables,
                owner=owner,
                timeout_seconds=matrix.timeout_seconds,
            )
            if "error" not in known:
                cache.save_dispatch(key, known)
            else:
                out.warn(f"{name}: {known['error']}")
        found[name] = known
    return found


def _reused(
    cache: Cache,
    keys: Mapping[tuple[str, str], str],
    *,
    options: Options,
    run: RunDirectory,
    repeats: int,
    records: Sequence[Record],
    out: Output,
) -> list[Record]:
    started = {(r.environment, r.case) for r in records}
    reused = reusable_records(cache, keys, options.results, run, repeats=repeats, started=started)
    if reused:
        cells = len({(r.environment, r.case) for r in reused})
        out.note(
            f"reusing {len(reused)} records of {cells} unchanged cells from earlier runs (--fresh to rerun)"
        )
    if options.reuse_from is not None:
        earlier = load_results(options.reuse_from)
        started |= {(r.environment, r.case) for r in reused}
        from_there = records_from(earlier, keys, run, repeats=repeats, started=started)
        out.note(
            f"reusing {len(from_there)} records of run {earlier.run_id} ({options.reuse_from}): their "
            "cells' images, files and settings are the same here"
        )
        reused += from_there
    return reused


def _engine_for(matrix: Matrix, environments: Sequence[str]) -> tuple[docker.DockerClient | None, list[int]]:
    """The engine and the CPUs runs may be pinned to; host environments alone need no engine.

    Containers get cpusets numbered on the engine's host (0 … n-1); host processes get CPUs this
    process may use (under taskset or a batch scheduler's cpuset, not always 0 … n-1).
    """
    if all(matrix.environment(name).host_python for name in environments):
        return None, sorted(os.sched_getaffinity(0))
    client = container.connect()
    return client, list(range(container.engine_cpus(client)))


def _open_run(options: Options) -> tuple[RunDirectory, list[Record], str]:
    """A new run directory, or (with --resume) a stopped one with its records; and when it started."""
    if options.resume is None:
        run = RunDirectory.create(options.results)
        return run, [], run.started
    if options.resume == RESUME_LATEST:
        run = latest_unfinished(options.results)
    else:
        run = resolve_run_directory(options.resume)
    if run.finished:
        raise ResultsError(f"run {run.run_id} finished; there is nothing to resume (start a new run)")
    return run, run.load_records(), run.started


def _sweep(
    client: docker.DockerClient | None, results_root: Path, out: Output, *, resumed: str | None = None
) -> None:
    """Remove what runs killed outright left on the engine; runs still alive keep theirs.

    A resumed run's own leftovers (from the process that was stopped) go too.
    """
    remove_dead_jobs(results_root)
    if client is None:
        return
    removed = container.sweep_dead_runs(client)
    if resumed is not None and (count := container.remove_run_containers(client, resumed)):
        removed[resumed] = removed.get(resumed, 0) + count
    if removed:
        listed = ", ".join(f"{count} of {run}" for run, count in sorted(removed.items()))
        out.note(f"removed containers that stopped runs left behind: {listed}")


def _builds(
    client: docker.DockerClient | None,
    matrix: Matrix,
    environments: Sequence[str],
    *,
    options: Options,
    out: Output,
    host_environ: Mapping[str, str],
    owner: container.Owner,
) -> dict[str, Build]:
    settings = BuildSettings(
        logs_dir=options.results / BUILD_LOGS,
        cache=Cache(options.results / CACHE),
        fetching=Fetching.from_environment(host_environ, ca_bundle=options.ca_bundle),
        owner=owner,
        debian_mirror=options.debian_mirror or host_environ.get("SEEDMATRIX_DEBIAN_MIRROR") or None,
        registry=registry_option(options.registry) if options.registry else matrix.registry,
        push=options.push,
    )
    jobs = min(len(environments), options.build_jobs or DEFAULT_BUILD_JOBS)

    def build(name: str) -> Build:
        environment = matrix.environment(name)
        if environment.host_python is not None:
            return host_build(
                environment, matrix_dir=matrix.source.parent, timeout_seconds=matrix.timeout_seconds
            )
        assert client is not None  # _engine_for connects when any environment needs it
        return ensure_environment_image(client, matrix, environment, settings, progress=out.note)

    builds = {}
    # Side by side: a base from Debian's archive, wheels from PyPI and an image's install step each
    # wait on the network or the disk more than on the CPU.
    executor = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="seedmatrix-build")
    with out.progress("images", total=len(environments)) as advance:
        try:
            futures = {executor.submit(build, name): name for name in build_order(matrix, environments)}
            for future in as_completed(futures):
                name, built = futures[future], future.result()
                builds[name] = built
                advance(f"{name}: {built.status.value} in {built.seconds:.1f} s")
                if built.error:
                    out.error(built.error)
        except BaseException:
            # Builds in flight give up at their next step; the wheel fetches and probes they wait
            # on are containers of this run, removed here so that no thread outlives the runner.
            settings.stopping.set()
            _remove_containers(client, owner.run_id, out)
            raise
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
    return {name: builds[name] for name in environments}


def _check_same_images(records: Sequence[Record], builds: Mapping[str, Build], run: RunDirectory) -> None:
    """Resuming mixes old and new records, so they must have run on what the new ones will run on.

    Only environments with old records matter: one whose build failed before can be built now.
    """
    for record in records:
        build = builds.get(record.environment)
        if build is not None and record.ran_on != build.identity:
            raise ResultsError(
                f"cannot resume run {run.run_id}: {record.environment} ran on {record.ran_on} and would "
                f"now run on {build.identity}; old and new records would not be comparable, so start a "
                "new run"
            )


def _gpu_unavailable(
    client: docker.DockerClient | None,
    matrix: Matrix,
    builds: Mapping[str, Build],
    owner: container.Owner,
    out: Output,
) -> str | None:
    """Ask the engine once whether it can give a container a GPU; if not, GPU runs are skipped."""
    wanting = [
        build.image_id
        for name, build in builds.items()
        if matrix.environment(name).device == "gpu"
        and matrix.environment(name).host_python is None
        and build.image_id
    ]
    if not wanting or client is None:
        return None
    reason = container.gpu_unavailable(client, wanting[0], owner)
    if reason is None:
        out.note("the engine gives containers GPUs: GPU environments run on them")
    else:
        out.warn(f"skipping the GPU environments: {reason}")
    return reason


def _run(
    context: RunContext,
    work: Sequence[tuple[Cell, int]],
    *,
    run: RunDirectory,
    records: list[Record],
    out: Output,
) -> str | None:
    """Run the work, saving each record as it comes; returns why it stopped early, if it did."""
    stopped: str | None = None
    try:
        with out.progress("runs", total=len(work)) as advance:

            def keep(record: Record) -> None:
                if stopped is not None:
                    return  # killed by our own cleanup, not a result
                run.save_record(record)
                records.append(record)
                advance(f"{record.environment} / {record.case} #{record.repeat}: {record.status.value}")

            run_cells(context, work, on_record=keep)
    except KeyboardInterrupt:
        stopped = "interrupted"
        out.warn("interrupted: removing this run's containers and writing what completed")
    except EngineError as error:
        stopped = "engine"
        out.error(f"{error}; the records completed so far are kept")
    finally:
        with interrupts.shielded():
            if stopped is not None:
                hostrun.stop_all()  # host processes are in sessions of their own: Ctrl-C never reached them
            _remove_containers(context.client, run.run_id, out)
    return stopped


def _remove_containers(client: docker.DockerClient | None, run_id: str, out: Output) -> None:
    if client is None:
        return
    try:
        container.remove_run_containers(client, run_id)
    except EngineError as error:
        selector = f"label={container.RUN_LABEL}={run_id}"
        out.warn(
            f"{error}: the next run removes them, or now: `docker rm -f $(docker ps -aq --filter {selector})`"
        )


def images_job(options: Options, out: Output, host_environ: Mapping[str, str]) -> int:
    """Build (or find) the images of the selected environments and show what they contain."""
    matrix = load_matrix(options.config)
    environments = select_environments(matrix, options.selection)
    client, _ = _engine_for(matrix, environments)
    with job_directory(options.results, "images") as job:
        owner = container.Owner(run_id=job.name, run_dir=job)
        _sweep(client, options.results, out)
        builds = _builds(
            client, matrix, environments, options=options, out=out, host_environ=host_environ, owner=owner
        )
    for name, build in builds.items():
        observed = build.observed
        if observed is None:
            out.error(f"{name}: {build.error}")
            continue
        versions = " · ".join(
            f"{framework} {version}" for framework, version in observed.frameworks.items() if version
        )
        out.note(
            f"{name}: {build.status.value} {build.tag} · Python {observed.python} · "
            f"{versions or 'no frameworks'}"
        )
    return 1 if any(build.observed is None for build in builds.values()) else 0


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
    if not merging:
        run = resolve_run_directory(runs[0])
        results = run.load_results()
    else:
        results = merge([load_results(path) for path in runs])
        run = RunDirectory(into or Path("results") / "merged")
        run.path.mkdir(parents=True, exist_ok=True)
        hosts = ", ".join(sorted({env.host for env in results.environments if env.host})) or "unknown hosts"
        out.step(f"merged {len(runs)} runs: {len(results.environments)} environments from {hosts}")
    verdicts = _write_report(run, results, out, baseline=_load_baseline(baseline), save=merging)
    return _exit_status(
        verdicts,
        out,
        fail_on_surprise=results.fail_on_surprise and not report_only,
        fail_on_change=results.fail_on_change or fail_on_change,
    )


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
                named = "; ".join(f"{label} {what}" for label, what in cell.named) or cell.note
                out.note(
                    f"{cell.environment} / {cell.case}: {cell.change.value}"
                    + (f" ({named})" if named else "")
                )
            status = 1
    return status


def _load_baseline(path: Path | None) -> tuple[Results, str] | None:
    if path is None:
        return None
    return load_results(path), os.path.relpath(path)


def _matrix_lines(matrix_file: str) -> dict[tuple[str | int, ...], int]:
    """The line of each key of the matrix file, for annotations; none when it is not here."""
    path = Path(matrix_file)
    try:
        _, lines = yamldoc.load(path.read_text(encoding="utf-8"), path, key_path=format_key_path)
    except (OSError, UnicodeDecodeError, ConfigError):
        return {}
    return lines


def _engine_version(client: docker.DockerClient | None) -> str:
    if client is None:
        return "not used (host environments only)"
    try:
        return str(client.version().get("Version", "?"))
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return "unreachable"


def _write_report(
    run: RunDirectory,
    results: Results,
    out: Output,
    *,
    baseline: tuple[Results, str] | None,
    save: bool = False,
) -> Verdicts:
    """MATRIX.md (and the job summary) from `results`; with `save`, results.json first."""
    verdicts = derive(results, baseline)
    comparison = verdicts.comparison
    if save:
        run.save_results(replace(results, divergences=verdicts.divergences))
    markdown = render(results, verdicts)
    atomic_write(run.matrix_file, markdown)
    atomic_write(run.junit_file, junit_xml(results, verdicts))
    out.github_summary(markdown)
    out.github_annotations(
        github_annotations(
            verdicts.surprises,
            matrix_file=os.path.relpath(results.matrix_file),  # GitHub wants it relative to the checkout
            cases=results.matrix_cases,
            lines=_matrix_lines(results.matrix_file),
        )
    )
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
