"""The host half of running a repeat: the launcher as a fresh process of the host interpreter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ...channel import Finished
from ...config import INSIDE, LAUNCHER
from ...plan import Cell
from . import hostrun


def run_on_host(
    cell: Cell,
    python: str,
    *,
    host_environ: Mapping[str, str],
    cpu_ids: Sequence[int],
    boundary: bytes,
    side_dir: Path | None = None,
) -> Finished:
    # No container to hide the GPUs: a CPU environment hides them from CUDA and JAX instead.
    hidden = {} if cell.gpu else {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    return hostrun.run(
        [python, str(INSIDE / LAUNCHER), str(cell.script), *cell.args],
        environment={**hidden, **cell.variables, "PYTHONPATH": str(INSIDE)},
        host_environ=host_environ,
        limits=cell.limits,
        cpu_ids=cpu_ids,
        boundary=boundary,
        outputs=cell.outputs,
        cwd=cell.workdir,
        side_dir=side_dir,
    )
