"""The Slurm commands the backend runs: sbatch, squeue (sacct where it has a database) and scancel,
each an argument list with a time limit; their failures become SchedulerError."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from ...errors import SchedulerError
from .jobs import SACCT_FIELDS, SQUEUE_FORMAT, TaskState, parse_sacct, parse_squeue

COMMAND_SECONDS = 60  # a busy controller answers slowly; one that does not answer in this is lost


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(command), capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
        )
    except FileNotFoundError as error:
        raise SchedulerError(
            f"{command[0]} is not installed here: run seedmatrix on a Slurm login node"
        ) from error
    except subprocess.TimeoutExpired as error:
        raise SchedulerError(f"{command[0]} did not answer within {COMMAND_SECONDS} s") from error


def submit(command: Sequence[str]) -> str:
    """Submit with sbatch --parsable; the job id."""
    done = _run(command)
    if done.returncode != 0:
        raise SchedulerError(f"sbatch refused the job: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]  # "id;cluster" on a federation


def tasks_of(job_name: str) -> list[TaskState]:
    """Every array task of the run's jobs that the controller still knows (pending, running, and
    ended within its MinJobAge)."""
    done = _run(["squeue", "--states=all", "--array", "--noheader", f"--name={job_name}",
                 f"--format={SQUEUE_FORMAT}"])  # fmt: skip
    if done.returncode != 0:
        raise SchedulerError(f"squeue failed: {done.stderr.strip()}")
    return parse_squeue(done.stdout)


def accounted(job_name: str) -> list[TaskState] | None:
    """The run's tasks as Slurm's accounting database has them; None where there is none
    (sacct: "Slurm accounting storage is disabled")."""
    done = _run(["sacct", "--noheader", "--parsable2", "--allocations", "--starttime=now-30days",
                 f"--name={job_name}", f"--format={SACCT_FIELDS}"])  # fmt: skip
    return parse_sacct(done.stdout) if done.returncode == 0 else None


def cancel_tasks(task_ids: Sequence[str]) -> None:
    """Cancel these array tasks (ARRAYJOB_INDEX); one already ended is left as it is."""
    done = _run(["scancel", *task_ids])
    if done.returncode != 0:
        raise SchedulerError(f"scancel {' '.join(task_ids)} failed: {done.stderr.strip()}")


def cancel(job_name: str) -> None:
    """Cancel every job of the run (pending and running); one already ended is left as it is."""
    done = _run(["scancel", f"--name={job_name}"])
    if done.returncode != 0:
        raise SchedulerError(f"scancel --name={job_name} failed: {done.stderr.strip()}")
