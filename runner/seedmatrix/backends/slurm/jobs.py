"""Slurm's side of a run as data: the sbatch command of a batch of repeats, the tasks squeue and
sacct list, and what a task's end state means for its record. Pure: no scheduler is called here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ...config import Slurm

#: Slurm's default MaxArraySize is 1001 (indexes 0-1000): a batch holds at most this many repeats.
ARRAY_TASKS_AT_MOST = 1000
#: Without `time:`, a task may run this much longer than the repeat's own time limit, so that the
#: limit the task enforces (and reports) comes first, Slurm's only if the node stalls.
TIME_MARGIN_SECONDS = 120
#: squeue's fields, in order: array job id, task index, state, node, partition, reason, comment.
SQUEUE_FORMAT = "%F|%K|%T|%N|%P|%r|%k"
#: The same from sacct (its JobID is ARRAYJOB_TASK).
SACCT_FIELDS = "JobID,State,NodeList,Partition,Reason,Comment"


class Outcome(StrEnum):
    """How an ended task's record is made."""

    REPORTED = "reported"  # it ran to its end: its own report decides (COMPLETED, FAILED)
    TIMEOUT = "timeout"  # Slurm stopped it at its time limit
    OUT_OF_MEMORY = "out-of-memory"  # Slurm's memory limit
    LOST = "lost"  # the node or the scheduler ended it (an error record with Slurm's reason)
    CANCELLED = "cancelled"  # scancel: an interruption, not a result


_ENDED = {
    "COMPLETED": Outcome.REPORTED,
    "FAILED": Outcome.REPORTED,
    "TIMEOUT": Outcome.TIMEOUT,
    "DEADLINE": Outcome.TIMEOUT,
    "OUT_OF_MEMORY": Outcome.OUT_OF_MEMORY,
    "NODE_FAIL": Outcome.LOST,
    "PREEMPTED": Outcome.LOST,
    "BOOT_FAIL": Outcome.LOST,
    "REVOKED": Outcome.LOST,
    "CANCELLED": Outcome.CANCELLED,
}


def outcome(state: str) -> Outcome | None:
    """What an end state means; None while the task has not ended (pending, running, requeued).

    sacct says "CANCELLED by 1000": the first word is the state."""
    words = state.split()
    return _ENDED.get(words[0]) if words else None


#: Pending reasons of a held task (sbatch --hold, scontrol hold).
_HELD_REASONS = frozenset({"JobHeldUser", "JobHeldAdmin"})


def waits_on_someone(task: TaskState) -> str | None:
    """Why a task that has not ended runs only once someone acts; None when the scheduler will run
    it by itself. The run waits for such a task as for any other: it never ends unless released."""
    if task.state in {"REQUEUE_HOLD", "SPECIAL_EXIT"} or task.reason in _HELD_REASONS:
        why = task.state if task.reason in ("", "None") else f"{task.state}, {task.reason}"
        return f"held ({why}): it runs only once released (`scontrol release {task.job_id}`)"
    if task.state == "SUSPENDED":
        return f"suspended: it goes on only once resumed (`scontrol resume {task.job_id}`)"
    return None


@dataclass(frozen=True, kw_only=True)
class TaskState:
    """One array task as the scheduler lists it."""

    job_id: str  # the array job
    index: int  # the task's index in the array
    state: str
    node: str  # empty while pending
    partition: str
    reason: str  # why it is pending, or how it ended ("None" when nothing to say)
    comment: str  # the batch directory's name: which run and batch the task belongs to

    @property
    def task_id(self) -> str:
        return f"{self.job_id}_{self.index}"


def parse_squeue(text: str) -> list[TaskState]:
    """Lines of `squeue -r -o SQUEUE_FORMAT`; lines that are not one task (a job without an
    array index) are not this backend's."""
    tasks = []
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 7 or not fields[1].isdigit():
            continue
        job_id, index, state, node, partition, reason, comment = fields
        tasks.append(
            TaskState(job_id=job_id, index=int(index), state=state, node=node, partition=partition,
                      reason=reason, comment=comment)
        )  # fmt: skip
    return tasks


def parse_sacct(text: str) -> list[TaskState]:
    """Lines of `sacct -n -P -X -o SACCT_FIELDS`; a JobID that is not ARRAYJOB_INDEX (a pending
    range such as 12_[3-5], a job without an array) is skipped."""
    tasks = []
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 6:
            continue
        job, state, node, partition, reason, comment = fields
        job_id, _, index = job.partition("_")
        if not index.isdigit():
            continue
        tasks.append(
            TaskState(job_id=job_id, index=int(index), state=state, node=node, partition=partition,
                      reason=reason, comment=comment)
        )  # fmt: skip
    return tasks


def time_limit(slurm: Slurm, timeout_seconds: int) -> str:
    """The task's --time: `time:` when given, else the repeat's limit and a margin, in minutes."""
    if slurm.time is not None:
        return slurm.time
    return str(math.ceil((timeout_seconds + TIME_MARGIN_SECONDS) / 60))


def sbatch_command(
    slurm: Slurm,
    *,
    job_name: str,
    batch_dir: Path,
    tasks: int,
    cpus: int,
    time: str,
    program: Sequence[str],
    wrapper: Path,
) -> list[str]:
    """The sbatch command of one batch: an array of `tasks` tasks, each running `program` through
    `wrapper` (a script that execs its arguments). The batch directory's name is the comment, by
    which a resumed run recognises its tasks; its log files are written there."""
    assert 0 < tasks <= ARRAY_TASKS_AT_MOST
    command = [
        "sbatch",
        "--parsable",
        f"--job-name={job_name}",
        f"--comment={batch_dir.name}",
        f"--array=0-{tasks - 1}",
        f"--cpus-per-task={cpus}",
        f"--time={time}",
        f"--chdir={batch_dir}",
        f"--output={batch_dir / '%a.log'}",
    ]
    for key in ("partition", "gres", "constraint", "account"):
        value = getattr(slurm, key)
        if value is not None:
            command.append(f"--{key}={value}")
    return [*command, *slurm.extra, str(wrapper), *program]


def job_name(run_id: str) -> str:
    """Every job of a run carries its id, which is how `scancel --name` finds them all."""
    return f"seedmatrix-{run_id}"
