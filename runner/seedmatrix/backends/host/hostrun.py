"""The host backend: one repeat as a fresh process of an interpreter on this machine, no container.

For machines where containers are not available (managed GPU machines, HPC nodes). Each repeat is
the launcher (inside/launch.py) under that interpreter, in a new session and a scratch working
directory, with the case's environment variables, the time limit and the same output cap, pinned
to the CPUs the case asks for. When the script ends the launcher ends every process it started
(it is their child subreaper); should the launcher itself be killed, the runner ends the process
group and every process that still carries the repeat's mark in its environment. What a container
adds is missing: the network, the file system and the user are the host's, and there is no memory
or process limit (see docs/isolation.md).
"""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from ...channel import Capture, Finished, launcher_variables
from ...limits import Limits
from ..docker.container import STOP_GRACE_SECONDS

_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()
#: Every process of a repeat inherits this variable; the last resort finds strays by it.
REPEAT_MARK = "SEEDMATRIX_REPEAT"
#: Host variables a fresh process still needs (finding programs and GPU libraries).
PASSED_THROUGH = ("PATH", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "LANG", "LC_ALL", "TZ")
_PIPES_CLOSE_SECONDS = 2.0  # after the launcher exits, for its pipes to reach end of file


def stop_all() -> None:
    """End every host repeat still running (Ctrl-C or SIGTERM reached the runner): the launchers
    end their scripts, and whatever remains after the grace period is killed."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        with suppress(ProcessLookupError, PermissionError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def run(
    command: Sequence[str],
    *,
    environment: Mapping[str, str],
    host_environ: Mapping[str, str],
    limits: Limits,
    cpu_ids: Sequence[int],
    boundary: bytes | None = None,
    outputs: Sequence[str] = (),
    cwd: Path | None = None,
    side_dir: Path | None = None,
) -> Finished:
    """Run `command` to its end or to the time limit in a new session.

    Its working directory is `cwd` (default: a scratch directory, which is also its HOME and TMPDIR).
    With a `boundary`, the command is the launcher: it gets a records and an outputs directory, and
    its report's side files go to `side_dir` as they arrive (when given).
    """
    mark = secrets.token_hex(8)
    with (
        tempfile.TemporaryDirectory(prefix="seedmatrix-host-") as scratch,
        tempfile.TemporaryDirectory(prefix="seedmatrix-records-") as records,
        tempfile.TemporaryDirectory(prefix="seedmatrix-outputs-") as written,
    ):
        variables = {key: host_environ[key] for key in PASSED_THROUGH if key in host_environ}
        variables.update({"HOME": scratch, "TMPDIR": scratch, REPEAT_MARK: mark, **environment})
        if boundary is not None:
            variables.update(
                launcher_variables(
                    boundary, records_dir=records, outputs_dir=written, limits=limits, outputs=outputs
                )
            )
        capture = new_capture(limits, boundary=boundary, side_dir=side_dir)
        started = time.monotonic()
        process = subprocess.Popen(
            list(command),
            cwd=cwd or scratch,
            env=variables,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so the time limit can end everything it started
        )
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        # Pinned right after the start: the interpreter sizes its thread pools later, on import.
        with suppress(OSError):
            os.sched_setaffinity(process.pid, cpu_ids)
        done = threading.Event()
        reader = threading.Thread(target=_read, args=(process, capture, done), daemon=True)
        reader.start()
        timed_out = False
        try:
            process.wait(timeout=limits.timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)  # the launcher ends the script and reports
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_SECONDS)
        finally:
            reader.join(timeout=_PIPES_CLOSE_SECONDS)
            if reader.is_alive() or process.poll() is None:
                # The launcher did not end its processes (it was killed): end them here.
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                kill_marked(mark)
            process.wait()
            done.set()
            reader.join()
            capture.finish()  # also on the way out of an exception: no side file left half-written
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
        seconds = time.monotonic() - started
    # No engine to say so: an OOM kill is read from the launcher's cgroup count (execute._memory_kill).
    return Finished.of(
        capture,
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        oom_killed=False,
        seconds=seconds,
    )


def new_capture(limits: Limits, *, boundary: bytes | None, side_dir: Path | None) -> Capture:
    """What a host process's output goes into: the text bounded, the launcher's report (when a
    `boundary` marks it) up to the records' space and its header."""
    return Capture(
        limits.output_bytes,
        boundary=boundary,
        report_limit=limits.records_space + 64 * 1024 if boundary else 0,
        side_dir=side_dir,
    )


def _read(process: subprocess.Popen[bytes], capture: Capture, done: threading.Event) -> None:
    """Read both pipes until both reach end of file, or until told to stop."""
    assert process.stdout is not None
    assert process.stderr is not None
    with selectors.DefaultSelector() as selector, process.stdout, process.stderr:
        selector.register(process.stdout, selectors.EVENT_READ, data=False)
        selector.register(process.stderr, selectors.EVENT_READ, data=True)
        while selector.get_map() and not done.is_set():
            for key, _ in selector.select(timeout=0.2):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data:
                    capture.add(None, chunk)
                else:
                    capture.add(chunk, None)


def kill_marked(mark: str) -> int:
    """SIGKILL every process whose environment carries this repeat's mark; how many."""
    needle = f"{REPEAT_MARK}={mark}\0".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def interpreter(host_python: str, *, relative_to: Path) -> str:
    """A path (relative to the matrix file) stays a path; a bare name is looked up on PATH.

    Symbolic links are kept: a virtual environment's python is a link to its base interpreter,
    and following it would leave the environment's packages behind.
    """
    return str((relative_to / host_python).absolute()) if "/" in host_python else host_python
