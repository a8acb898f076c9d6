"""`seedmatrix plan`: what a run would do, without running anything.

It says which images a run would find or build, and which cells it would run, reuse from an
earlier run, or skip (with each reason). Without an engine it says what it could not check.
(`seedmatrix prune` lives with the images it removes: `backends/docker/forecast.py`.)
"""

from __future__ import annotations

from collections.abc import Mapping

from .backends.machine import Machine
from .cache import CACHE, Cache, cell_keys
from .config import INSIDE, load_matrix
from .cpu import machine_identity
from .gpu import host_gpus
from .log import Output
from .options import Options
from .plan import HostFacts, make_plan, select_environments
from .settings import resolve


def show_plan(options: Options, *, out: Output, environ: Mapping[str, str]) -> int:
    matrix = load_matrix(options.config)
    settings = resolve(options, environ=environ, matrix=matrix)
    selection, results = settings.selection, settings.results
    machine = Machine.forecasting(
        matrix, out=out, registry=settings.registry, debian_base=settings.debian_base
    )
    environments = select_environments(matrix, selection)
    forecasts = {name: machine.forecast(matrix.environment(name)) for name in environments}
    print("images:")
    for item in forecasts.values():
        print(f"  {item.environment}: {item.action}" + (f" ({item.detail})" if item.detail else ""))
    cpu = machine.cpu
    plan = make_plan(matrix, selection, HostFacts(cpus=len(machine.cpu_ids), cpu=cpu))
    identities = {name: item.image_id for name, item in forecasts.items() if item.image_id}
    keys = cell_keys(plan.cells, identities, helpers=INSIDE, machine=machine_identity(cpu), gpus=host_gpus())
    cache = Cache(results / CACHE)
    print(f"cells ({len(plan.cells)} to run, {len(plan.skipped)} skipped):")
    for cell in plan.cells:
        key = keys.get((cell.environment, cell.case))
        earlier = cache.cell_run(key) if key else None
        if earlier and (results / earlier).is_dir():
            action = f"reuse the records of run {earlier}"
        elif forecasts[cell.environment].ready:
            action = f"run {cell.repeats} time(s)"
        else:
            action = f"run {cell.repeats} time(s) once its image is built"
        print(f"  {cell.environment} / {cell.case}: {action}")
    for skip in plan.skipped:
        print(f"  {skip.environment} / {skip.case}: skip ({skip.reason})")
    if any(matrix.environment(name).device == "gpu" for name in environments):
        print("  (whether the engine can give a container a GPU is checked when the run starts)")
    return 0
