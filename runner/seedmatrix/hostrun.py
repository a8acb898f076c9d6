"""The host backend: one repeat as a fresh process of an interpreter on this machine, no container.

For machines where containers are not available (managed GPU machines, HPC nodes). Each repeat is
still a fresh process with the case's environment variables, a fresh working directory, the time
limit (the whole process group is killed) and the same output cap; it is pinned to the CPUs the
case asks for. What a container adds is missing: the network, the file system and the user are
the host's, and there is no memory or process limit (see the README).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from .container import Capture, Finished, Limits

_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()


def stop_all() -> None:
    """Kill every host process group still running (after Ctrl-C or SIGTERM reached the runner)."""
    with _RUNNING_LOCK:
        for process in _RUNNING:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


#: Host variables a fresh process still needs (finding programs and GPU libraries).
PASSED_THROUGH = ("PATH", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "LANG", "LC_ALL", "TZ")


def run(
    command: Sequence[str],
    *,
    environment: Mapping[str, str],
    host_environment: Mapping[str, str],
    limits: Limits,
    cpus: Sequence[int],
) -> Finished:
    """Run `command` to completion or to the time limit in a new session and a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="seedmatrix-host-") as scratch:
        variables = {key: host_environment[key] for key in PASSED_THROUGH if key in host_environment}
        variables.update({"HOME": scratch, "TMPDIR": scratch, **environment})
        capture = Capture(limits.output_bytes)
        started = time.monotonic()
        process = subprocess.Popen(
            list(command),
            cwd=scratch,
            env=variables,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so the time limit can kill everything it started
        )
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        # Pinned right after the start: the interpreter sizes its thread pools later, on import.
        with suppress(OSError):
            os.sched_setaffinity(process.pid, cpus)
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [
            threading.Thread(target=capture.drain_pipe, args=(process.stdout,), kwargs={"stderr": False}),
            threading.Thread(target=capture.drain_pipe, args=(process.stderr,), kwargs={"stderr": True}),
        ]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            process.wait(timeout=limits.timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # The process group goes too: children of the script, timed out or not.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
            for reader in readers:
                reader.join(timeout=30)
        seconds = time.monotonic() - started
    # No memory limit on the host, so the kernel's OOM killer is not this run's to report.
    return capture.finished(
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        oom_killed=False,
        seconds=seconds,
    )


def interpreter(host_python: str, *, relative_to: Path) -> str:
    """A path (relative to the matrix file) stays a path; a bare name is looked up on PATH.

    Symbolic links are kept: a virtual environment's python is a link to its base interpreter,
    and following it would leave the environment's packages behind.
    """
    return str((relative_to / host_python).absolute()) if "/" in host_python else host_python
