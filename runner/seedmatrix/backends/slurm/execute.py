"""A run's repeats on a Slurm cluster: submitted as array jobs, waited for, made into records.

Each batch of repeats (one environment, one CPU count) gets a directory in the run's directory,
`slurm/<environment>-<n>`, on a filesystem the nodes share: batch.json (which repeat each array
index runs), one TASK.json per task (the launcher's command and variables), the sbatch wrapper,
and what each task publishes (inside/slurm_task.py): TASK.out and TASK.err (TASK.out.part and
TASK.err.part while it runs, and when Slurm killed it before it published), TASK.ended.json, and
Slurm's own log TASK.log. Every job carries the run's name (`scancel --name` ends them all) and
the batch directory's name as its comment (a resumed run finds the tasks it already submitted).
An image environment's task runs the repeat's container on the node (node.py) and publishes its
output the same way.

One thread polls squeue (sacct where Slurm keeps accounting) for the run's tasks; as each ends,
its output is read through the same `Capture` and `to_record` as a host process's, so its record
is made as a local run makes it; Slurm's end states decide what the task's own report cannot
(jobs.Outcome). A task cancelled by someone else stops the run (SchedulerError): its repeat is
not a result, and --resume runs it again.

`seedmatrix collect` (a detached or killed run) queues with `collecting`: every task the run
submitted is waited for and recorded as it ended, never submitted again, so a task Slurm forgot
without a report is an error record rather than a fresh try.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...channel import Capture, Finished, launcher_variables, new_boundary
from ...config import INSIDE, LAUNCHER, Slurm
from ...errors import ResultsError, SchedulerError
from ...files import atomic_write
from ...fingerprint import files_digest
from ...gpu import seen_by_task
from ...plan import Cell
from ...results import Record, SlurmTask
from ..docker.container import STOP_GRACE_SECONDS, Owner
from ..docker.execute import repeat_spec
from ..execute import to_record
from ..host.hostrun import PASSED_THROUGH, new_capture
from . import scheduler
from .jobs import (
    ARRAY_TASKS_AT_MOST,
    Outcome,
    TaskState,
    job_name,
    outcome,
    sbatch_command,
    time_limit,
    waits_on_someone,
)
from .node import MODULE as NODE_MODULE
from .node import NodeImage, NodeTask, task_argument

TASK_PROGRAM = INSIDE / "slurm_task.py"
#: The batch script: it runs its arguments (the environment's interpreter and TASK_PROGRAM), so
#: nothing of the run is ever written into shell text.
WRAPPER = '#!/bin/sh\n# seedmatrix: one array task; its arguments are the program.\nexec "$@"\n'
#: Slurm sets CUDA_VISIBLE_DEVICES to the GPUs it gave the job: the repeat must see those alone.
PASSED_ON_NODE = (*PASSED_THROUGH, "CUDA_VISIBLE_DEVICES")
#: A container task finds the node's engine as a local run finds its own.
PASSED_TO_NODE = (*PASSED_THROUGH, "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG")
#: The directory that holds the seedmatrix package: a node task imports it from there.
PACKAGE_ROOT = Path(__file__).resolve().parents[3]
POLL_SECONDS = 2.0
#: A task that ended but whose report is not visible yet: a shared filesystem's attribute cache
#: may show a file seconds after the node wrote it. Past this, the task wrote no report.
REPORT_GRACE_SECONDS = 30.0
PROGRESS_SECONDS = 30.0  # at most one progress line this often
SQUEUE_FAILURES_AT_MOST = 5  # consecutive squeue failures before the run stops


@dataclass(frozen=True, kw_only=True)
class _Task:
    """One repeat placed in a batch, and the future its record completes."""

    cell: Cell
    repeat: int
    batch_dir: Path
    index: int
    boundary: bytes
    future: Future[None]

    @property
    def key(self) -> tuple[str, int]:
        return self.batch_dir.name, self.index


class SlurmQueue:
    """The run's Slurm tasks: `submit` places repeats (adopting those an earlier, killed process
    of the same run submitted), one thread waits for them and reports each record."""

    def __init__(
        self,
        *,
        run_id: str,
        run_dir: Path,
        settings: Mapping[str, Slurm],
        identities: Mapping[str, str],
        side_dir: Path | None,
        node_images: Mapping[str, NodeImage] | None = None,
        on_record: Callable[[Record], None],
        note: Callable[[str], None],
        collecting: bool = False,
    ) -> None:
        self._job_name = job_name(run_id)
        self._collecting = collecting
        # Absolute: the nodes run in the batch directory, where a relative --results means nothing.
        self._root = run_dir.absolute() / "slurm"
        self._settings = settings
        self._identities = identities
        # Image environment → the image its nodes run; filled in as the images are ready (not copied).
        self._node_images: Mapping[str, NodeImage] = {} if node_images is None else node_images
        self._side_dir = side_dir
        self._on_record = on_record
        self._note = note
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, int], _Task] = {}
        self._job_ids: dict[str, str] = {}  # batch directory name → its array job's id
        self._unreported_since: dict[tuple[str, int], float] = {}
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_until_stopped, name="seedmatrix-slurm", daemon=True)
        self._progress_at = 0.0
        self._last_progress = ""
        self._said_waiting: set[tuple[str, str]] = set()  # (job, why) already told

    def submit(self, work: Sequence[tuple[Cell, int]]) -> list[Future[None]]:
        """Each repeat becomes an array task (one already submitted by this run is waited for)."""
        placed: list[_Task] = []
        known = scheduler.tasks_of(self._job_name) if self._root.is_dir() else []
        adopted = self._adopt(work, known)
        placed += adopted.values()
        rest = [item for item in work if (item[0].environment, item[0].case, item[1]) not in adopted]
        for (environment, cpus), items in _grouped(rest).items():
            for start in range(0, len(items), ARRAY_TASKS_AT_MOST):
                placed += self._submit_batch(environment, cpus, items[start : start + ARRAY_TASKS_AT_MOST])
        with self._lock:
            self._waiting.update({task.key: task for task in placed})
        if not self._poller.is_alive() and not self._stopping.is_set():
            self._poller.start()
        return [task.future for task in placed]

    def close(self) -> None:
        """No record is reported from now on (the backend cancels the jobs when interrupted)."""
        self._stopping.set()
        with self._lock:
            waiting, self._waiting = list(self._waiting.values()), {}
        for task in waiting:
            task.future.cancel()

    def _submit_batch(self, environment: str, cpus: int, items: Sequence[tuple[Cell, int]]) -> list[_Task]:
        slurm = self._settings[environment]
        batch_dir = self._new_batch_dir(environment)
        identity = self._identities.get(environment)
        manifest = {
            "environment": environment,
            "tasks": [[cell.case, repeat] for cell, repeat in items],
            "submitted_as": [submitted_as(cell, identity) for cell, _ in items],
        }
        atomic_write(batch_dir / "batch.json", json.dumps(manifest).encode())
        tasks = []
        for index, (cell, repeat) in enumerate(items):
            boundary = new_boundary()
            spec = _task_spec(cell, boundary, self._job_name, self._node_images.get(environment))
            atomic_write(batch_dir / f"{index}.json", json.dumps(spec).encode())
            tasks.append(_Task(cell=cell, repeat=repeat, batch_dir=batch_dir, index=index,
                               boundary=boundary, future=Future()))  # fmt: skip
        wrapper = batch_dir / "task.sh"
        wrapper.write_text(WRAPPER, encoding="utf-8")
        # An image environment's task runs its container through the submitting interpreter.
        python = items[0][0].host_python or sys.executable
        command = sbatch_command(
            slurm,
            job_name=self._job_name,
            batch_dir=batch_dir,
            tasks=len(items),
            cpus=cpus,
            time=time_limit(slurm, max(cell.limits.timeout_seconds for cell, _ in items)),
            program=[python, str(TASK_PROGRAM), str(batch_dir)],
            wrapper=wrapper,
        )
        job_id = scheduler.submit(command)
        atomic_write(batch_dir / "job", job_id.encode())
        self._job_ids[batch_dir.name] = job_id
        where = f"partition {slurm.partition}" if slurm.partition else "the default partition"
        self._note(f"{environment}: {len(items)} repeats submitted as Slurm job {job_id} to {where}")
        return tasks

    def _new_batch_dir(self, environment: str) -> Path:
        self._root.mkdir(exist_ok=True)
        number = 1
        while True:
            batch_dir = self._root / f"{environment}-{number}"
            try:
                batch_dir.mkdir()
            except FileExistsError:
                number += 1
                continue
            return batch_dir

    def _adopt(
        self, work: Sequence[tuple[Cell, int]], known: Sequence[TaskState]
    ) -> dict[tuple[str, str, int], _Task]:
        """The repeats of `work` that an earlier process of this run submitted and Slurm still
        runs (or ran to an end that makes a record): they are waited for, not submitted again."""
        wanted = {(cell.environment, cell.case, repeat): cell for cell, repeat in work}
        if not wanted:
            return {}
        states = {(task.comment, task.index): task for task in known}
        adopted: dict[tuple[str, str, int], _Task] = {}
        changed: list[TaskState] = []
        # Newest first: a repeat submitted again (its first task cancelled, forgotten, or changed)
        # is the later submission's.
        for batch_dir in sorted(self._root.glob("*/batch.json"), key=_submitted_order, reverse=True):
            manifest = json.loads(batch_dir.read_bytes())
            job_file = batch_dir.parent / "job"
            if job_file.exists():
                self._job_ids[batch_dir.parent.name] = job_file.read_text(encoding="utf-8").strip()
            for index, (case, repeat) in enumerate(manifest["tasks"]):
                key = (manifest["environment"], case, repeat)
                listed = states.get((batch_dir.parent.name, index))
                reported = (batch_dir.parent / f"{index}.ended.json").exists()
                if key not in wanted or key in adopted:
                    continue
                if not self._collecting and self._submit_again(listed, batch_dir.parent, index, reported):
                    continue
                spec = json.loads((batch_dir.parent / f"{index}.json").read_bytes())
                boundary = _boundary_of(spec)
                image = self._node_images.get(key[0])
                then = (manifest.get("submitted_as") or [])[index : index + 1]
                now = submitted_as(wanted[key], self._identities.get(key[0]))
                if spec != _task_spec(wanted[key], boundary, self._job_name, image) or then != [now]:
                    if self._collecting:
                        raise ResultsError(
                            f"cannot collect {batch_dir.parent}: task {index} ({key[0]} / {case} "
                            f"#{repeat}) was submitted with another command, interpreter or case "
                            "files than the matrix gives now (edited or upgraded since), so its "
                            "record could not say what ran; collect with what the run was submitted "
                            "with, or run the changed repeats again with `seedmatrix matrix --resume`"
                        )
                    # The matrix, the interpreter or the case's files changed since it was
                    # submitted: not this cell's repeat any more.
                    if listed is not None and outcome(listed.state) is None:
                        changed.append(listed)
                    continue
                adopted[key] = _Task(
                    cell=wanted[key], repeat=repeat, batch_dir=batch_dir.parent, index=index,
                    boundary=boundary, future=Future(),
                )  # fmt: skip
        if changed:
            scheduler.cancel_tasks([task.task_id for task in changed])
            self._note(
                f"{len(changed)} repeats submitted before the matrix changed: cancelled, and run again"
            )
        if adopted:
            self._note(f"{len(adopted)} repeats already submitted by this run: waiting for them")
        return adopted

    @staticmethod
    def _submit_again(listed: TaskState | None, batch_dir: Path, index: int, reported: bool) -> bool:
        """Whether --resume runs a repeat already submitted again rather than waiting for it."""
        if listed is None and not reported:
            return True  # Slurm does not know it (any more) and it left nothing
        if listed is None and _signalled(batch_dir / f"{index}.ended.json"):
            # Forgotten by Slurm, and a signal stopped it: this run's own Ctrl-C as likely as
            # anything (scancel lets it publish), so not a result: run it again.
            return True
        # This run's own Ctrl-C cancelled it: run it again.
        return listed is not None and outcome(listed.state) is Outcome.CANCELLED

    def _poll_until_stopped(self) -> None:
        failures = 0
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self._poll()
                failures = 0
            except SchedulerError as error:
                failures += 1
                if failures >= SQUEUE_FAILURES_AT_MOST:
                    self._fail_all(error)
                    return
            except Exception as error:
                # A record that cannot be made (a disk refusing a side file) ends the run, as a
                # local repeat's does: every task still waited for fails with it.
                self._fail_all(error)
                return

    def _poll(self) -> None:
        with self._lock:
            waiting = list(self._waiting.values())
        if not waiting:
            return
        listed = {(task.comment, task.index): task for task in scheduler.tasks_of(self._job_name)}
        accounted: dict[str, TaskState] | None = None
        self._progress(waiting, listed)
        for task in waiting:
            state = listed.get(task.key)
            if state is None:
                if accounted is None:  # asked once a poll, and only when squeue forgot a task
                    accounted = {t.task_id: t for t in scheduler.accounted(self._job_name) or []}
                state = accounted.get(f"{self._job_ids.get(task.batch_dir.name)}_{task.index}")
            ended = outcome(state.state) if state is not None else None
            if state is not None and ended is None:
                continue  # pending or running
            self._finish(task, state, ended)

    def _finish(self, task: _Task, state: TaskState | None, ended: Outcome | None) -> None:
        """Report the ended task's record, or stop the run when it cannot be one."""
        reported = (task.batch_dir / f"{task.index}.ended.json").exists()
        if not reported and ended is not Outcome.CANCELLED:
            first = self._unreported_since.setdefault(task.key, time.monotonic())
            if time.monotonic() - first < REPORT_GRACE_SECONDS:
                return  # a shared filesystem may show the report (and its renamed output) a little later
        with self._lock:
            if self._waiting.pop(task.key, None) is None:
                return  # `close` cancelled its future meanwhile
        if ended is Outcome.CANCELLED:
            task.future.set_exception(
                SchedulerError(
                    f"Slurm task {_task_id(task, state, self._job_ids)} ({task.cell.environment} / "
                    f"{task.cell.case} #{task.repeat}) was cancelled ({state.state if state else ''}) "
                    "outside this run; it is not a result: run it again with --resume"
                )
            )
        elif not reported and not (task.batch_dir / f"{task.index}.log").exists() and state is not None:
            task.future.set_exception(
                SchedulerError(
                    f"Slurm task {state.task_id} ended {state.state} on {state.node or 'no node'} but "
                    f"neither its report nor its log is in {task.batch_dir}: the results directory "
                    "must be on a filesystem the nodes share (--results)"
                )
            )
        else:
            try:
                record = self._record(task, state, ended)
            except Exception as error:
                task.future.set_exception(error)
                raise
            if not self._stopping.is_set():
                self._on_record(record)
            task.future.set_result(None)

    def _record(self, task: _Task, state: TaskState | None, ended: Outcome | None) -> Record:
        ended_file = task.batch_dir / f"{task.index}.ended.json"
        report: dict[str, Any] = json.loads(ended_file.read_bytes()) if ended_file.exists() else {}
        finished = self._finished(task, report, ended)
        record = to_record(
            task.cell, task.repeat, finished, ran_on=self._identities[task.cell.environment],
            side_dir=self._side_dir,
        )  # fmt: skip
        asked = self._settings[task.cell.environment].partition or ""
        placed = SlurmTask(
            job_id=_task_id(task, state, self._job_ids),
            partition=state.partition if state is not None else asked,
            node=str(report.get("node") or (state.node if state is not None else "")),
            gpus=seen_by_task(report.get("gpus")),
        )
        note = _slurm_note(placed, state, ended, report)
        if note is None:
            return replace(record, slurm=placed)
        # Slurm, not the launcher, ended it: the notes say so instead of a container's limits.
        if report:
            tail = [*finished.stderr.splitlines()[-19:], note]
        else:
            tail = [*finished.stderr.splitlines()[-10:], *_log_tail(task)[-8:], note]
            if finished.output_bytes:
                tail.append(f"(the output is what task {placed.job_id} wrote before Slurm ended it)")
        return replace(record, slurm=placed, stderr_tail="\n".join(tail).strip())

    def _finished(self, task: _Task, report: Mapping[str, Any], ended: Outcome | None) -> Finished:
        """The task's output read through the Capture a host process's goes through. A task that
        published no report (Slurm killed it first) may have left what it wrote until then: its
        text is read, and whatever of the launcher's report it holds is dropped, never parsed: it
        may be cut anywhere."""
        chunks: Callable[[Path], Iterator[bytes]]
        if report:
            capture = new_capture(task.cell.limits, boundary=task.boundary, side_dir=self._side_dir)
            chunks = _chunks
        else:
            capture = Capture(task.cell.limits.output_bytes, boundary=task.boundary)
            chunks = _unpublished_chunks
        for chunk in chunks(task.batch_dir / f"{task.index}.out"):
            capture.add(chunk, None)
        for chunk in chunks(task.batch_dir / f"{task.index}.err"):
            capture.add(None, chunk)
        finished = Finished.of(
            capture,
            exit_code=report.get("exit_code") if _report_decides(report, ended) else None,
            timed_out=ended is Outcome.TIMEOUT or bool(report.get("timed_out")),
            oom_killed=ended is Outcome.OUT_OF_MEMORY,
            seconds=float(report.get("seconds", 0.0)),
        )
        return finished if report else replace(finished, report=None, report_overflow=False)

    def _progress(self, waiting: Sequence[_Task], listed: Mapping[tuple[str, int], TaskState]) -> None:
        counts = Counter(listed[task.key].state.lower() for task in waiting if task.key in listed)
        line = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        now = time.monotonic()
        if line and line != self._last_progress and now - self._progress_at >= PROGRESS_SECONDS:
            self._note(f"Slurm: {line}")
            self._progress_at, self._last_progress = now, line
        # Told at once, once per job and reason: a held task would otherwise wait unexplained.
        for task in waiting:
            state = listed.get(task.key)
            why = waits_on_someone(state) if state is not None else None
            if state is not None and why is not None and (state.job_id, why) not in self._said_waiting:
                self._said_waiting.add((state.job_id, why))
                self._note(
                    f"Slurm job {state.job_id} ({task.cell.environment} / {task.cell.case}) is {why}; "
                    + (
                        "collect waits for it (Ctrl-C leaves the run's jobs to Slurm)"
                        if self._collecting
                        else "the run waits for it (Ctrl-C cancels the run's jobs)"
                    )
                )

    def _fail_all(self, error: Exception) -> None:
        with self._lock:
            waiting, self._waiting = list(self._waiting.values()), {}
        for task in waiting:
            task.future.set_exception(error)


def submitted_as(cell: Cell, identity: str | None) -> dict[str, str | None]:
    """What a task's record will say it ran, as it was when the task was submitted: the
    environment's interpreter (its probed identity) and the case's files. A task waited for by a
    later process is adopted only if both are still so; its own command is checked by `_task_spec`."""
    return {"identity": identity, "files": files_digest(cell.workdir, cell.data)}


def _task_spec(cell: Cell, boundary: bytes, job: str, image: NodeImage | None) -> dict[str, Any]:
    """What inside/slurm_task.py runs: the launcher, as the host backend runs it (`run_on_host`);
    or, for an image environment, node.py with the repeat's container (`repeat_spec`, as a local
    run makes it; labelled with the run's job name `job`, the node sets its CPUs)."""
    if cell.host_python is None:
        assert image is not None  # the backend records each image environment's image when it is ready
        spec = repeat_spec(
            cell, image=image.image_id, owner=Owner(run_id=job), gpus=None, cpu_ids=(), boundary=boundary
        )
        return {
            "command": [
                sys.executable,
                "-m",
                NODE_MODULE,
                task_argument(NodeTask(image=image, spec=spec, cpus=cell.cpus)),
            ],
            # The very seedmatrix that submitted (on the shared filesystem), whatever the node's path.
            "variables": {"PYTHONPATH": str(PACKAGE_ROOT)},
            "passed_through": list(PASSED_TO_NODE),
            "cwd": str(PACKAGE_ROOT),
            "timeout_seconds": cell.limits.timeout_seconds,
            "grace_seconds": STOP_GRACE_SECONDS,
        }
    hidden = {} if cell.gpu else {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    launcher = launcher_variables(
        boundary, records_dir="", outputs_dir="", limits=cell.limits, outputs=cell.outputs
    )  # the task makes the two directories on the node
    assert cell.host_python is not None
    return {
        "command": [cell.host_python, str(INSIDE / LAUNCHER), str(cell.script), *cell.args],
        "variables": {**hidden, **cell.variables, "PYTHONPATH": str(INSIDE), **launcher},
        "passed_through": list(PASSED_ON_NODE),
        "cwd": str(cell.workdir),
        "timeout_seconds": cell.limits.timeout_seconds,
        "grace_seconds": STOP_GRACE_SECONDS,
    }


def unended(run_dir: Path, listed: Sequence[TaskState]) -> Counter[str]:
    """How many of the tasks submitted from `run_dir` have not ended yet, by their state
    (pending, running, held ...), from the run's tasks squeue lists."""
    batches = {manifest.parent.name for manifest in (run_dir / "slurm").glob("*/batch.json")}
    return Counter(
        task.state.lower() for task in listed if task.comment in batches and outcome(task.state) is None
    )


def _boundary_of(spec: Mapping[str, Any]) -> bytes:
    """The boundary a task was submitted with: in the launcher's variables, or in those of the
    container its node task runs."""
    if spec["command"][1:3] == ["-m", NODE_MODULE]:
        return str(json.loads(spec["command"][3])["container"]["environment"]["SEEDMATRIX_BOUNDARY"]).encode()
    return str(spec["variables"]["SEEDMATRIX_BOUNDARY"]).encode()


def _submitted_order(manifest: Path) -> tuple[str, int]:
    """A batch directory (`<environment>-<n>`) by environment, then in the order submitted."""
    environment, _, number = manifest.parent.name.rpartition("-")
    return environment, int(number)


def _signalled(ended_file: Path) -> bool:
    return json.loads(ended_file.read_bytes()).get("signal") is not None


def _report_decides(report: Mapping[str, Any], ended: Outcome | None) -> bool:
    """Whether the task's own report says how the repeat ended: it ran to its end (or Slurm no
    longer says how it ended, and no signal from Slurm stopped it)."""
    if not report:
        return False
    return ended is Outcome.REPORTED or (ended is None and report.get("signal") is None)


def _slurm_note(
    placed: SlurmTask, state: TaskState | None, ended: Outcome | None, report: Mapping[str, Any]
) -> str | None:
    """What Slurm said about a task it ended (None: the task's own report says it all)."""
    if _report_decides(report, ended):
        return None
    if state is None:
        stopped = " after a signal stopped it" if report else ", and it wrote no report"
        return f"(Slurm no longer knows how task {placed.job_id} ended{stopped})"
    reason = "" if state.reason in ("", "None") else f": {state.reason}"
    if ended is Outcome.TIMEOUT:
        return f"(Slurm stopped task {placed.job_id} at its time limit ({state.state}){reason})"
    if ended is Outcome.OUT_OF_MEMORY:
        return f"(Slurm killed task {placed.job_id} at its memory limit ({state.state}){reason})"
    if ended is Outcome.LOST:
        return f"(Slurm ended task {placed.job_id}: {state.state}{reason})"
    node = placed.node or "no node"
    return f"(Slurm task {placed.job_id} ended {state.state}{reason} on {node} and wrote no report)"


def _task_id(task: _Task, state: TaskState | None, job_ids: Mapping[str, str]) -> str:
    if state is not None:
        return state.task_id
    return f"{job_ids.get(task.batch_dir.name, '?')}_{task.index}"


def _log_tail(task: _Task) -> list[str]:
    log = task.batch_dir / f"{task.index}.log"
    if not log.exists():
        return []
    with log.open("rb") as file:
        file.seek(0, 2)
        file.seek(max(0, file.tell() - 8192))
        return file.read().decode("utf-8", "replace").splitlines()[-19:]


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(1 << 16):
            yield chunk


def _unpublished_chunks(published: Path) -> Iterator[bytes]:
    """What a task that wrote no report left of one stream: the file renamed into place if it got
    that far, else its .part; nothing if neither is there. One renamed while it was looked for is
    found under its new name."""
    for path in (published, published.with_name(published.name + ".part"), published):
        try:
            yield from _chunks(path)  # a missing file raises at its opening, before any chunk
        except FileNotFoundError:
            continue
        return


def _grouped(work: Sequence[tuple[Cell, int]]) -> dict[tuple[str, int], list[tuple[Cell, int]]]:
    """Repeats that can share one array job: the same environment and CPU count."""
    groups: dict[tuple[str, int], list[tuple[Cell, int]]] = {}
    for cell, repeat in work:
        groups.setdefault((cell.environment, cell.cpus), []).append((cell, repeat))
    return groups
