"""Run the planned cells: every repeat a fresh container and a fresh process, no network."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from . import container, hostrun
from .images import VENV_PYTHON
from .plan import Cell
from .results import Record, RunStatus, Value

#: Prefix of the machine-readable lines inside/recording.py prints (SEEDMATRIX_RECORDS=1).
MARKER = "@@seedmatrix "
SEEDS_MOUNT = "/seeds"
#: Modules every seed script can import (`from recording import show`), mounted read-only.
INSIDE = Path(__file__).parent / "inside"
INSIDE_MOUNT = "/seedmatrix-inside"
_OUTPUT_LIMIT = 20_000  # characters of human output kept per record (the first); values are kept whole


@dataclass(frozen=True, kw_only=True)
class ParsedOutput:
    values: tuple[Value, ...]
    device: Mapping[str, Any]
    text: str
    problems: tuple[str, ...]


def parse_output(stdout: str) -> ParsedOutput:
    """Split a seed script's stdout into its recorded values, its device report and the text people read."""
    values: list[Value] = []
    device: Mapping[str, Any] = {}
    text_lines: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(stdout.splitlines(), start=1):
        if not line.startswith(MARKER):
            text_lines.append(line)
            continue
        try:
            payload = json.loads(line[len(MARKER) :])
            if "device" in payload:
                device = dict(payload["device"])
            else:
                values.append(
                    Value(
                        label=str(payload["label"]),
                        dtype=str(payload["dtype"]),
                        shape=tuple(int(n) for n in payload["shape"]),
                        values=tuple(payload["values"]),
                        bits=tuple(str(b) for b in payload["bits"]),
                    )
                )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            problems.append(f"line {number}: unreadable record ({error})")
    text = "\n".join(text_lines)
    if len(text) > _OUTPUT_LIMIT:
        text = text[:_OUTPUT_LIMIT] + "\n…"
    return ParsedOutput(values=tuple(values), device=device, text=text, problems=tuple(problems))


def run_repeat(
    client: docker.DockerClient | None,
    cell: Cell,
    repeat: int,
    *,
    image_id: str,
    run_label: str,
    limits: container.Limits,
    cpus: Sequence[int],
    host_environment: Mapping[str, str],
) -> Record:
    if cell.host_python is not None:
        # No container to hide the GPUs: a CPU environment hides them from CUDA and JAX instead.
        hidden = {} if cell.gpu else {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
        finished = hostrun.run(
            [cell.host_python, str(cell.script)],
            environment={**hidden, **cell.env, "SEEDMATRIX_RECORDS": "1", "PYTHONPATH": str(INSIDE)},
            host_environment=host_environment,
            limits=limits,
            cpus=cpus,
        )
    else:
        assert client is not None  # pipeline: a plan with container cells connects to the engine
        finished = container.run(
            client,
            container.ContainerSpec(
                image=image_id,
                command=[VENV_PYTHON, f"{SEEDS_MOUNT}/{cell.script.name}"],
                run_label=run_label,
                limits=limits,
                read_only_mounts={cell.script.parent: SEEDS_MOUNT, INSIDE: INSIDE_MOUNT},
                environment={
                    **cell.env,
                    "SEEDMATRIX_RECORDS": "1",
                    "HOME": "/tmp",
                    "PYTHONPATH": INSIDE_MOUNT,
                },
                cpuset=",".join(str(cpu) for cpu in cpus),
                gpus=cell.gpu,
            ),
        )
    parsed = parse_output(finished.stdout)
    stderr_tail = "\n".join(finished.stderr.splitlines()[-20:])
    if finished.output_capped:
        stderr_tail += (
            f"\n(output capped: the script wrote {finished.output_bytes:,} bytes; the runner kept "
            f"the first {limits.output_bytes:,} of stdout and the last {limits.output_bytes:,} of stderr)"
        )
    if finished.timed_out:
        status = RunStatus.TIMEOUT
    elif finished.oom_killed:
        status = RunStatus.OUT_OF_MEMORY
        stderr_tail += f"\n(killed: the container exceeded its memory limit of {limits.memory})"
    elif finished.exit_code != 0:
        status = RunStatus.ERROR
    elif not parsed.values or parsed.problems:
        status = RunStatus.BAD_OUTPUT
        stderr_tail = "\n".join((*parsed.problems, stderr_tail)).strip()
    else:
        status = RunStatus.OK
    return Record(
        environment=cell.environment,
        case=cell.case,
        repeat=repeat,
        status=status,
        exit_code=finished.exit_code,
        seconds=round(finished.seconds, 3),
        values=parsed.values,
        device=parsed.device,
        output=parsed.text,
        stderr_tail=stderr_tail.strip(),
        output_capped=finished.output_capped,
    )


class CpuPool:
    """Hands out whole CPUs, so a container sees the same CPU count however many run beside it.

    Results then cannot depend on `--jobs`: a case asking for one CPU always gets exactly one.
    """

    def __init__(self, cpus: Sequence[int]) -> None:
        self._free = sorted(cpus)
        self._available = threading.Condition()

    @contextmanager
    def take(self, count: int) -> Iterator[list[int]]:
        with self._available:
            self._available.wait_for(lambda: len(self._free) >= count)
            taken, self._free = self._free[:count], self._free[count:]
        try:
            yield taken
        finally:
            with self._available:
                self._free = sorted(self._free + taken)
                self._available.notify_all()


def run_cells(
    client: docker.DockerClient | None,
    work: Sequence[tuple[Cell, int]],
    image_ids: Mapping[str, str],
    *,
    run_label: str,
    limits: container.Limits,
    jobs: int,
    cpu_ids: Sequence[int],
    host_environment: Mapping[str, str],
    on_record: Callable[[Record], None],
) -> None:
    """Run each (cell, repeat), up to `jobs` containers at once; report each record as it completes.

    `on_record` is called from one thread at a time. On an exception (Ctrl-C included) the runs not
    yet started are cancelled; the caller removes the containers of the run by their label.
    """
    pool = CpuPool(cpu_ids)
    reporting = threading.Lock()

    def one(cell: Cell, repeat: int) -> None:
        with pool.take(cell.cpus) as cpus:
            record = run_repeat(
                client,
                cell,
                repeat,
                image_id=image_ids[cell.environment],
                run_label=run_label,
                limits=limits,
                cpus=cpus,
                host_environment=host_environment,
            )
        with reporting:
            on_record(record)

    executor = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="seedmatrix-run")
    try:
        futures = [executor.submit(one, cell, repeat) for cell, repeat in work]
        for future in as_completed(futures):
            future.result()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
