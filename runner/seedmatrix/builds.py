"""The images of a job, built, found or pulled side by side as the machine prepares them (an
interpreter for a host environment), and what stopped runs left behind swept first; which instruction
set a built TensorFlow image's oneDNN uses on this CPU; the images job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from .backends.docker.container import Owner
from .backends.docker.images import BuildSettings, build_order
from .backends.docker.probes import DISPATCH_PROBE
from .backends.docker.wheels import Fetching
from .backends.machine import Machine, engine_for
from .cache import CACHE, Cache
from .config import Environment, Matrix, load_matrix
from .cpu import machine_identity, switches
from .fingerprint import digest
from .log import Bar, Output
from .options import Options
from .plan import select_environments
from .results import Build
from .settings import JobSettings, resolve
from .store import job_directory, remove_dead_jobs

BUILD_LOGS = "build-logs"


def sweep(machine: Machine, results_root: Path, out: Output, *, resumed: str | None = None) -> None:
    """Remove what runs killed outright left behind; runs still alive keep theirs.

    A resumed run's own leftovers (from the process that was stopped) go too.
    """
    remove_dead_jobs(results_root)
    removed = machine.sweep(resumed=resumed)
    if removed:
        listed = ", ".join(f"{count} of {run}" for run, count in sorted(removed.items()))
        out.note(f"removed containers that stopped runs left behind: {listed}")


def build_settings(resolved: JobSettings, *, host_environ: Mapping[str, str], owner: Owner) -> BuildSettings:
    return BuildSettings(
        logs_dir=resolved.results / BUILD_LOGS,
        cache=Cache(resolved.results / CACHE),
        fetching=Fetching.from_environment(host_environ, ca_bundle=resolved.ca_bundle),
        owner=owner,
        debian_mirror=resolved.debian_mirror,
        debian_base=resolved.debian_base,
        registry=resolved.registry,
        push=resolved.push,
    )


def start_builds(
    machine: Machine, matrix: Matrix, environments: Sequence[str], *, jobs: int
) -> tuple[ThreadPoolExecutor, dict[Future[Build], str]]:
    """Every environment's image (an interpreter for a host environment) built, found or pulled,
    `jobs` at once in build order; the caller shuts the executor down.

    Side by side: a base from Debian's archive, wheels from PyPI and an image's install step each
    wait on the network or the disk more than on the CPU.
    """

    def build(name: str) -> Build:
        return machine.prepare(matrix.environment(name))

    executor = ThreadPoolExecutor(
        max_workers=max(1, min(len(environments), jobs)), thread_name_prefix="seedmatrix-build"
    )
    return executor, {executor.submit(build, name): name for name in build_order(matrix, environments)}


def say_built(name: str, built: Build, bar: Bar, out: Output) -> None:
    bar.advance(f"{name}: {built.status.value} in {built.seconds:.1f} s")
    if built.error:
        out.error(built.error)


def isa_dispatch(
    machine: Machine, spec: Environment, build: Build, *, cache: Cache, out: Output
) -> dict[str, Any] | None:
    """The oneDNN ISA a TensorFlow environment dispatches under its CPU switches on this CPU
    (probed once per image, switches and CPU; kept in the cache); None without TensorFlow."""
    if build.identity is None or build.observed is None or not build.observed.version("tensorflow"):
        return None
    variables = switches(spec.cpu_isa, spec.onednn)
    key = digest(
        build.identity,
        json.dumps(variables, sort_keys=True),
        machine_identity(machine.cpu),
        DISPATCH_PROBE.read_bytes(),
    )
    known = cache.dispatch(key)
    if known is None:
        out.note(f"{spec.name}: asking oneDNN which instruction set it uses")
        known = machine.dispatch(spec, build, variables)
        if "error" not in known:
            cache.save_dispatch(key, known)
        else:
            out.warn(f"{spec.name}: {known['error']}")
    return known


def build_all(
    machine: Machine,
    matrix: Matrix,
    environments: Sequence[str],
    *,
    settings: BuildSettings,
    jobs: int,
    out: Output,
) -> dict[str, Build]:
    """Every environment's image, `jobs` at once, in matrix order."""
    builds = {}
    with out.progress(("images", len(environments))) as (bar,):
        executor, futures = start_builds(machine, matrix, environments, jobs=jobs)
        try:
            for future in as_completed(futures):
                name, built = futures[future], future.result()
                builds[name] = built
                say_built(name, built, bar, out)
        except BaseException:
            settings.stopping.set()  # see pipeline._build_and_run
            machine.close()
            raise
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
    return {name: builds[name] for name in environments}


def images_job(options: Options, out: Output, host_environ: Mapping[str, str]) -> int:
    """Build (or find) the images of the selected environments and show what they contain."""
    matrix = load_matrix(options.config)
    environments = select_environments(matrix, options.selection)
    engine = engine_for(matrix, environments)
    resolved = resolve(options, environ=host_environ, matrix=matrix)
    with job_directory(resolved.results, "images") as job:
        owner = Owner(run_id=job.name, run_dir=job)
        settings = build_settings(resolved, host_environ=host_environ, owner=owner)
        machine = Machine.open(matrix, engine, settings=settings, out=out)
        sweep(machine, resolved.results, out)
        builds = build_all(
            machine,
            matrix,
            environments,
            settings=settings,
            jobs=resolved.build_jobs,
            out=out,
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
