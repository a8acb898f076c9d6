"""Benchmark: a 200 MB float32 checkpoint recorded and compared, its time and peak memory.

Run by `nox -s checkpoint` or alone (`python benchmarks/checkpoint.py`); no engine needed:
the launcher runs on this machine (the host backend), as it would in a container. Two checkpoints
of 50 M float32 elements (200 MB each) that differ in one element are written as `.npy`; each is
recorded by the launcher (packed: its bits go to a side file) and kept in a run directory, then a
fresh process loads the records and compares the pair (one element differs) and the first with
itself. Each step runs in a process of its own, so its peak RSS is its own:

- record: the runner's side (report read, side file written to the run directory as it arrives,
  hashed on the way) and the launcher's;
- compare: loading both records and reading both side files in chunks.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ELEMENTS = 50_000_000  # float32: 200 MB
CHANGED = 31_415_926  # the one element that differs between the two checkpoints


def write_checkpoint(path: Path, *, change: bool) -> None:
    """A .npy of ELEMENTS little-endian float32 in (-2, 2), no NaN or infinity (the seed is fixed)."""
    data = bytearray(random.Random(0).randbytes(ELEMENTS * 4))
    data[3::4] = data[3::4].translate(bytes(byte & 0xBF for byte in range(256)))  # exponent below 128
    if change:
        (value,) = struct.unpack_from("<f", data, CHANGED * 4)
        struct.pack_into("<I", data, CHANGED * 4, struct.unpack("<I", struct.pack("<f", value))[0] + 1)
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({ELEMENTS},), }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with path.open("wb") as stream:
        stream.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1"))
        stream.write(data)


RECORD = """
import json, os, resource, sys, time
from pathlib import Path
from seedmatrix.backends.host import hostrun
from seedmatrix.channel import new_boundary
from seedmatrix.backends.execute import to_record
from seedmatrix.config import INSIDE, LAUNCHER
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.store import RunDirectory

checkpoint, run_path, case = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
script = checkpoint.parent / "copy.py"
limits = Limits(timeout_seconds=600)
run = RunDirectory(run_path)
started = time.perf_counter()
finished = hostrun.run(
    [sys.executable, str(INSIDE / LAUNCHER), str(script), str(checkpoint)],
    environment={"PYTHONPATH": str(INSIDE)},
    host_environ=os.environ,
    limits=limits,
    cpu_ids=sorted(os.sched_getaffinity(0)),
    boundary=new_boundary(),
    outputs=("w.npy",),
    cwd=checkpoint.parent,
    side_dir=run.side_dir,
)
cell = Cell(environment="host", case=case, script=script, workdir=checkpoint.parent, repeats=1,
            limits=limits, outputs=("w.npy",))
record = to_record(cell, 1, finished, ran_on="host", side_dir=run.side_dir)
run.save_record(record)
seconds = time.perf_counter() - started
assert record.status.value == "ok", record.stderr_tail
print(json.dumps({
    "seconds": seconds,
    "runner_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "launcher_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""

COPY = """
import os, shutil, sys
shutil.copyfile(sys.argv[1], os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "w.npy"))
"""

COMPARE = """
import json, resource, sys, time
from pathlib import Path
from seedmatrix.store import RunDirectory
from seedmatrix.values import describe, difference

started = time.perf_counter()
records = {record.case: record for record in RunDirectory(Path(sys.argv[1])).load_records()}
(a,), (b,) = records["a"].values, records["b"].values
found = difference(b, a)
different_s = time.perf_counter() - started
same = difference(a, a)
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "different_s": different_s,
    "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "difference": describe(found),
    "equal_to_itself": same.equal,
}))
"""


def measured(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def checkpoint_figures(work: Path) -> dict[str, Any]:
    from seedmatrix.store import RunDirectory  # noqa: PLC0415  (after sys.path is set by the caller)

    work.mkdir(parents=True, exist_ok=True)
    (work / "copy.py").write_text(textwrap.dedent(COPY), encoding="utf-8")
    run = RunDirectory.create(work / "results")
    recorded = {}
    for case, change in (("a", False), ("b", True)):
        checkpoint = work / f"{case}.npy"
        # Written by a process of its own: on Linux a child's peak RSS starts at its parent's.
        subprocess.run([sys.executable, __file__, "--write", str(checkpoint), str(change)], check=True)
        recorded[case] = measured(RECORD, str(checkpoint), str(run.path), case)
        checkpoint.unlink()
    compared = measured(COMPARE, str(run.path))
    return {
        "elements": ELEMENTS,
        "checkpoint_mb": ELEMENTS * 4 / 1e6,
        "record_s": round(max(r["seconds"] for r in recorded.values()), 2),
        "record_runner_peak_mb": round(max(r["runner_peak_kib"] for r in recorded.values()) / 1024, 1),
        "record_launcher_peak_mb": round(max(r["launcher_peak_kib"] for r in recorded.values()) / 1024, 1),
        "compare_s": round(compared["different_s"], 2),
        "compare_peak_mb": round(compared["peak_kib"] / 1024, 1),
        "difference": compared["difference"],
        "equal_to_itself": compared["equal_to_itself"],
        "side_files_mb": round(sum(p.stat().st_size for p in run.side_dir.iterdir()) / 1e6, 1),
    }


def render(figures: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"| {figures['checkpoint_mb']:.0f} MB float32 checkpoint ({figures['elements']:,} elements) "
            "| seconds | peak RSS (MB) |",
            "| --- | --: | --: |",
            f"| record one (runner) | {figures['record_s']} | {figures['record_runner_peak_mb']} |",
            f"| record one (launcher, beside the script) | — | {figures['record_launcher_peak_mb']} |",
            f"| compare two that differ in one element | {figures['compare_s']} "
            f"| {figures['compare_peak_mb']} |",
            "",
            f"Difference found: {figures['difference']}; side files kept: {figures['side_files_mb']} MB.",
        ]
    )


def main() -> int:
    if sys.argv[1:2] == ["--write"]:
        write_checkpoint(Path(sys.argv[2]), change=sys.argv[3] == "True")
        return 0
    with tempfile.TemporaryDirectory(prefix="seedmatrix-checkpoint-") as work:
        figures = checkpoint_figures(Path(work))
    print(json.dumps(figures, indent=1))
    print(render(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
