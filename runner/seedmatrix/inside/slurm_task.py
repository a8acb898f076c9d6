"""One Slurm array task: one repeat, the launcher as a fresh process, its output published.

The Slurm backend submits an environment's repeats as an array job whose every task runs

    python slurm_task.py BATCH_DIR

with the environment's interpreter, on a node. BATCH_DIR (in the run's directory, on a filesystem
the nodes share) holds TASK.json for each array index: the launcher's command, its variables and
the repeat's time limit. The task runs the launcher as the host backend does (a new session, a
scratch HOME and TMPDIR, the records and outputs directories, the time limit, then SIGTERM and
SIGKILL). Its stdout and stderr go into BATCH_DIR as they come, as TASK.out.part and TASK.err.part,
renamed TASK.out and TASK.err when the launcher has ended; last comes TASK.ended.json (exit status,
whether the time limit stopped it, seconds, the node, and the GPUs as the node's NVIDIA driver
lists them beside the ones Slurm gave the job: read raw here, judged by the runner's
gpu.seen_by_task), written to a temporary name and renamed, so it exists only once everything else
does and the submitter never takes half a report for a whole one. A task Slurm kills before it
publishes (past KillWait after its SIGTERM, a node's memory limit) leaves its .part files: the
submitter keeps what the script printed, and never reads the launcher's report from them. What an
earlier attempt of the same task published (Slurm requeued it) is removed first, so it cannot be
taken for this attempt's.

An image environment's task runs under the submitting interpreter instead, and its command is
seedmatrix's backends/slurm/node.py, which runs the launcher in a container of the node's engine
and passes the container's output on as its own: all of the above applies to it unchanged.

SIGTERM (Slurm's time limit, scancel) is passed to the launcher, which ends the script and still
reports what was recorded; what it wrote is published before Slurm's SIGKILL.
Standard library only, Python 3.9 and later: it runs under the environment's interpreter.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


class _Signalled:
    number = None  # the signal Slurm sent, if it sent one


def main():
    batch_dir = sys.argv[1]
    task = os.environ["SLURM_ARRAY_TASK_ID"]
    with open(os.path.join(batch_dir, task + ".json"), encoding="utf-8") as file:
        spec = json.load(file)
    stdout_path, stderr_path = (os.path.join(batch_dir, task + suffix) for suffix in (".out", ".err"))
    ended_path = os.path.join(batch_dir, task + ".ended.json")
    for stale in (ended_path, stdout_path, stderr_path):  # the report first: it vouches for the rest
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)
    with tempfile.TemporaryDirectory(prefix="seedmatrix-slurm-") as scratch:
        home, records, outputs = (os.path.join(scratch, name) for name in ("home", "records", "outputs"))
        for directory in (home, records, outputs):
            os.mkdir(directory)
        variables = {name: os.environ[name] for name in spec["passed_through"] if name in os.environ}
        variables.update({"HOME": home, "TMPDIR": home})
        variables.update(spec["variables"])
        variables.update({"SEEDMATRIX_RECORDS_DIR": records, "SEEDMATRIX_OUTPUTS": outputs})
        with open(stdout_path + ".part", "wb") as stdout, open(stderr_path + ".part", "wb") as stderr:
            ended = _run(spec, variables, stdout, stderr)
        os.replace(stdout_path + ".part", stdout_path)
        os.replace(stderr_path + ".part", stderr_path)
        ended["node"] = socket.gethostname()
        ended["gpus"] = _gpus()
        ended["signal"] = _Signalled.number
        with open(ended_path + ".part", "w", encoding="utf-8") as file:
            json.dump(ended, file)
        os.replace(ended_path + ".part", ended_path)


def _run(spec, variables, stdout, stderr):
    started = time.monotonic()
    process = subprocess.Popen(
        spec["command"],
        cwd=spec["cwd"],
        env=variables,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,  # so the time limit can end everything it started
    )

    def forward(number, frame):
        _Signalled.number = number
        _signal_group(process.pid, signal.SIGTERM)  # the launcher ends the script and reports

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    timed_out = False
    try:
        process.wait(timeout=spec["timeout_seconds"])
    except subprocess.TimeoutExpired:
        timed_out = True
        _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=spec["grace_seconds"])
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    return {
        "exit_code": None if timed_out else process.returncode,
        "timed_out": timed_out,
        "seconds": time.monotonic() - started,
    }


def _gpus(root="/proc/driver/nvidia"):
    """The driver's files as they are (absent: None), and the GPUs Slurm gave the job; "unreadable"
    names what exists and could not be read, so the runner says "not read" rather than "none"."""
    unreadable = []

    def read(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                return file.read(1 << 16)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            unreadable.append(f"{path}: {error.strerror}")
            return None

    try:
        listed = sorted(os.listdir(os.path.join(root, "gpus")))
    except (FileNotFoundError, NotADirectoryError):
        listed = []
    except OSError as error:
        unreadable.append(f"{os.path.join(root, 'gpus')}: {error.strerror}")
        listed = []
    return {
        "version": read(os.path.join(root, "version")),
        "informations": [read(os.path.join(root, "gpus", name, "information")) for name in listed],
        "slurm_job_gpus": os.environ.get("SLURM_JOB_GPUS"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "unreadable": unreadable,
    }


def _signal_group(pid, number):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, number)


if __name__ == "__main__":
    main()
