"""What earlier runs learned and later runs need not redo, kept under <results>/.cache/.

- probes/<image>.json: what an image contains (an image id never changes content);
- builds/<image>.json: how long the image's cold build took;
- dispatch/<key>.json: the oneDNN ISA an image (or interpreter) dispatched under some CPU switches
  on some CPU (the key covers all three);
- cells.json: for each cell key (what it ran on: the image, the CPU and, for a GPU cell, the GPUs
  and driver; every file its container sees; the case's settings), the run whose complete,
  successful records can be reused instead of running again.

Every file is written atomically. Losing the cache costs time, never results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .backends import runs_on_host
from .compare import WITH_VALUES, Comparison
from .errors import ResultsError
from .files import MIB, atomic_write, read_bounded
from .fingerprint import source_files, tree_digest
from .gpu import GpuFacts
from .plan import Cell
from .results import Observed, Record, Results, RunStatus, decode, encode
from .store import RunDirectory

CACHE = ".cache"  # under the results directory

_MAX_INDEX_BYTES = 64 * MIB


@dataclass(frozen=True)
class Cache:
    root: Path

    def probe(self, image_id: str) -> Observed | None:
        path = self.root / "probes" / f"{_hex(image_id)}.json"
        try:
            data = read_bounded(path, limit=MIB, what="a cached probe", error=ResultsError)
            return decode(Observed, data, source=str(path))
        except ResultsError:
            return None

    def save_probe(self, image_id: str, observed: Observed) -> None:
        atomic_write(self.root / "probes" / f"{_hex(image_id)}.json", encode(observed))

    def build_seconds(self, image_id: str) -> float | None:
        data = self._read(self.root / "builds" / f"{_hex(image_id)}.json")
        return float(data["seconds"]) if isinstance(data, dict) and "seconds" in data else None

    def save_build(self, image_id: str, *, seconds: float, tag: str) -> None:
        atomic_write(
            self.root / "builds" / f"{_hex(image_id)}.json", json.dumps({"seconds": seconds, "tag": tag})
        )

    def dispatch(self, key: str) -> dict[str, Any] | None:
        found = self._read(self.root / "dispatch" / f"{key}.json")
        return found if isinstance(found, dict) else None

    def save_dispatch(self, key: str, found: Mapping[str, Any]) -> None:
        atomic_write(self.root / "dispatch" / f"{key}.json", json.dumps(found))

    def cell_run(self, key: str) -> str | None:
        """The run directory name whose records of this cell can be reused."""
        index = self._read(self.root / "cells.json")
        found = index.get(key) if isinstance(index, dict) else None
        return found if isinstance(found, str) else None

    def save_cells(self, keys: Mapping[str, str]) -> None:
        """Add cell key → run entries (a concurrent run may win a race; it is only a cache)."""
        index = self._read(self.root / "cells.json")
        merged = {**(index if isinstance(index, dict) else {}), **keys}
        atomic_write(self.root / "cells.json", json.dumps(merged, indent=0, sort_keys=True))

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            return json.loads(
                read_bounded(path, limit=_MAX_INDEX_BYTES, what="a cache file", error=ResultsError)
            )
        except (ResultsError, ValueError):
            return None


def cell_key(
    *, identity: str, cell: Cell, helpers: Path, machine: str = "", gpus: GpuFacts | None = None
) -> str:
    """Everything a cell's outcome can depend on: what it runs on (the image, the CPU and, for a
    GPU cell, the GPU models and driver), every source file of its working directory (the script,
    helpers it imports, data beside it), the runner's in-container modules, the data it mounts
    (each file's path, size and modification time: data can be large), and every setting of the
    case. A GPU cell whose GPU is unknown has no key (`gpu_unknown`)."""
    unknown = gpu_unknown(cell, gpus)
    if unknown is not None:
        raise ValueError(f"{cell.environment}/{cell.case} has no cell key: {unknown}")
    digest = hashlib.sha256()
    digest.update(identity.encode() + b"\0" + machine.encode() + b"\0")
    if cell.gpu and gpus is not None:
        digest.update(gpus.identity.encode() + b"\0")
    digest.update(tree_digest(cell.workdir).encode() + tree_digest(helpers).encode())
    for host_path, target in sorted(cell.data.items()):
        files = [host_path] if host_path.is_file() else source_files(host_path)
        for path in files:
            found = path.stat()
            digest.update(f"{target}\0{path}\0{found.st_size}\0{found.st_mtime_ns}\0".encode())
    settings = {
        "script": str(cell.script.relative_to(cell.workdir)),
        "args": list(cell.args),
        "outputs": list(cell.outputs),
        "parse": cell.parse,
        "variables": dict(cell.variables),
        "cpus": cell.cpus,
        "repeats": cell.repeats,
        "limits": asdict(cell.limits),
        "gpu": cell.gpu,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def cell_keys(
    cells: Iterable[Cell],
    identities: Mapping[str, str],
    *,
    helpers: Path,
    machine: str = "",
    gpus: GpuFacts | None = None,
) -> dict[tuple[str, str], str]:
    """The key of every cell that has something to run on (`machine`: its CPU; `gpus`: this host's
    GPUs) and, for a GPU cell, whose GPU is known before it runs: the others are never reused."""
    return {
        (cell.environment, cell.case): cell_key(
            identity=identities[cell.environment], cell=cell, helpers=helpers, machine=machine, gpus=gpus
        )
        for cell in cells
        if cell.environment in identities and gpu_unknown(cell, gpus) is None
    }


def gpu_unknown(cell: Cell, gpus: GpuFacts | None) -> str | None:
    """Why what a GPU cell will run on cannot be known before it runs (then its records are never
    reused: a reused GPU cell needs the GPU, driver, CUDA and cuDNN of the run that made it)."""
    if not cell.gpu:
        return None
    if runs_on_host(cell):
        # Its identity is its pip freeze; the CUDA and cuDNN it loads may come from elsewhere.
        return "a host interpreter loads whichever CUDA and cuDNN libraries it finds when it runs"
    if gpus is None:
        return "this host's GPU model and driver are unknown (no /proc/driver/nvidia to read)"
    return None


def reusable_records(
    cache: Cache,
    keys: Mapping[tuple[str, str], str],
    results_root: Path,
    run: RunDirectory,
    *,
    repeats: int,
    started: set[tuple[str, str]],
) -> list[Record]:
    """The records of unchanged cells, copied from the run that last ran them completely.

    Cells this run has started (`--resume`) are left alone.
    """
    reused: list[Record] = []
    for (environment, case), key in keys.items():
        origin = cache.cell_run(key) if (environment, case) not in started else None
        if origin is None or origin == run.run_id or not (results_root / origin / "records").is_dir():
            continue
        try:
            earlier = RunDirectory(results_root / origin).records_of(environment, case)
        except ResultsError:
            continue  # an unreadable old record: run the cell again
        if len(earlier) != repeats or any(r.status is not RunStatus.OK for r in earlier):
            continue
        for record in earlier:
            copy = replace(record, reused_from=record.reused_from or origin)
            run.save_record(copy)
            reused.append(copy)
    return reused


def records_from(
    earlier: Results,
    keys: Mapping[tuple[str, str], str],
    run: RunDirectory,
    *,
    repeats: int,
    started: set[tuple[str, str]],
) -> list[Record]:
    """The records of cells whose key matches the key `earlier` (another run, perhaps another
    machine's) stored for them; only complete cells whose every repeat succeeded."""
    reused: list[Record] = []
    for (environment, case), key in keys.items():
        if (environment, case) in started or earlier.cell_keys.get(f"{environment}/{case}") != key:
            continue
        found = earlier.records_of(environment, case)
        if len(found) != repeats or any(r.status is not RunStatus.OK for r in found):
            continue
        for record in found:
            copy = replace(record, reused_from=record.reused_from or earlier.run_id)
            run.save_record(copy)
            reused.append(copy)
    return reused


def reusable_cells(
    keys: Mapping[tuple[str, str], str], results: Results, comparison: Comparison, run_id: str
) -> dict[str, str]:
    """Cells this run completed successfully, by key (reused cells keep pointing at their origin).

    A cell is reusable only when its comparison is a real result: not failed, not missing, not a
    GPU environment that ran on the CPU or could not say (a fixed driver must not be hidden by old
    records).
    """
    found = {}
    for (environment, case), key in keys.items():
        if (environment, case) not in comparison.keys or comparison.cell(
            environment, case
        ).state not in WITH_VALUES:
            continue
        records: Sequence[Record] = results.records_of(environment, case)
        if len(records) == results.repeats and all(r.status is RunStatus.OK for r in records):
            origins = {r.reused_from for r in records}
            origin = origins.pop() if len(origins) == 1 else None
            found[key] = origin or run_id
    return found


def _hex(image_id: str) -> str:
    return image_id.removeprefix("sha256:").replace("/", "_").replace(":", "_")
