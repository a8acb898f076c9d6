"""Run one seed script as a child process, end everything it started, and report on it.

seedmatrix starts this launcher for every repeat, in a container or on the host:

    python launch.py SCRIPT [ARG ...]

The script inherits stdout and stderr, so people see what it prints as it prints it. Its values
go to a records file (SEEDMATRIX_RECORDS, written by recording.py), never to stdout, so no amount
of printing can crowd them out. When the script ends, the launcher kills whatever the script left
running (it is a child subreaper: a daemon that left the process group or the session still
becomes its child), reads the output files the case declared (outputs.py) into more records, then
writes one report on stdout after a line that starts with the boundary the runner chose: a JSON
header (exit status, seconds, stray processes, records size) and the records file's bytes.

SIGTERM (the runner's time limit, Ctrl-C) kills the script and its processes and still reports
what was recorded. Standard library only, Python 3.9 and later: it runs in every image.
"""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_RECORDS_FILE = "records.jsonl"
_SIDE_DIR = "side"  # the bits of big arrays, one file each, named by their SHA-256 (outputs.py)
_NO_LIMIT = 1 << 62  # cgroup v1 writes "no memory limit" as the largest page-aligned counter


def main():
    _hide_environment()
    boundary = os.environ.pop("SEEDMATRIX_BOUNDARY").encode("ascii")
    records_dir = os.environ.pop("SEEDMATRIX_RECORDS_DIR")
    records_limit = int(os.environ.pop("SEEDMATRIX_RECORDS_LIMIT"))
    declared = json.loads(os.environ.pop("SEEDMATRIX_OUTPUT_FILES", "[]"))
    outputs_limit = int(os.environ.pop("SEEDMATRIX_OUTPUTS_LIMIT", "0"))
    outputs_dir = os.environ.get("SEEDMATRIX_OUTPUTS", "")
    records = os.path.join(records_dir, _RECORDS_FILE)
    _become_subreaper()
    stopped = []
    child = None

    def stop(signum, _frame):
        stopped.append(signal.Signals(signum).name)
        if child is not None:
            _kill(child.pid)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Read before the script starts: it inherits these CPUs at the fork; should the runner pin us
    # only between this read and the fork, more CPUs are reported than it had, never fewer.
    confinement = _confinement()
    oom_kills_before = _oom_kills()
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, *sys.argv[1:]],
        env={**os.environ, "SEEDMATRIX_RECORDS": records},
        stdin=subprocess.DEVNULL,
    )
    if stopped:  # a signal came before `child` was known
        _kill(child.pid)
    status = child.wait()
    seconds = time.monotonic() - started
    child = None  # reaped: its pid may be reused, so a late signal must not kill by it
    strays = _end_strays()
    oom_kills_after = _oom_kills()
    header = {
        "exit_code": status,
        "script_seconds": round(seconds, 6),
        "strays": strays,
        "stopped_by": stopped[0] if stopped else None,
        "confinement": confinement,
    }
    if oom_kills_before is not None and oom_kills_after is not None:
        header["oom_kills"] = oom_kills_after - oom_kills_before
    if declared and outputs_dir:
        header["outputs_over_limit"] = not _read_outputs(outputs_dir, declared, outputs_limit, records)
    side_dir = os.path.join(records_dir, _SIDE_DIR)
    header["records_lost"] = os.path.exists(records + ".lost")
    _report(boundary, header, records, records_limit, _side_files(side_dir))
    sys.stdout.flush()
    os._exit(status if status >= 0 else 128 - status)


def _read_outputs(directory, declared, limit, records):
    """Append the declared output files' values to the records; False when they are over the limit."""
    import outputs

    if outputs.total_size(directory) > limit:
        return False
    try:
        with open(records, "a", encoding="ascii") as stream:
            side_dir = os.path.join(os.path.dirname(records), _SIDE_DIR)
            for record in outputs.collect(directory, declared, side_dir):
                stream.write(json.dumps(record, allow_nan=False) + "\n")
    except OSError:  # the records' own space is full: the report says values were lost
        open(records + ".lost", "a").close()
    return True


def _confinement():
    """What confines the script, read from inside, whatever the engine claims to have applied: the
    CPUs it may run on, the memory and the processes its cgroups allow ("memory_limit",
    "pids_limit" None: none). What cannot be read is left out, so the runner says "not checked"
    rather than guess."""
    seen = {}
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not Linux
        seen["cpus"] = len(os.sched_getaffinity(0))
    memory = _cgroup_limit("memory", "memory.limit_in_bytes", "memory.max")
    if memory is not None:
        seen["cgroup"], seen["memory_limit"] = memory
    processes = _cgroup_limit("pids", "pids.max", "pids.max")
    if processes is not None:
        seen["pids_cgroup"], seen["pids_limit"] = processes
    return seen


def _cgroup_limit(controller, v1_name, v2_name):
    """("v1" or "v2", the smallest limit of `controller` in our cgroup and its ancestors visible
    here, or None for no limit); None when that controller's cgroup cannot be read."""
    found = _cgroup(controller)
    if found is None:
        return None
    version, mount, path = found
    return _smallest_limit(version, mount, path, v1_name if version == "v1" else v2_name)


def _oom_kills():
    """How many processes of our memory cgroup the kernel's OOM killer has killed so far; None
    when that cannot be read."""
    found = _cgroup("memory")
    return None if found is None else _oom_count(*found)


_OOM_FILE = {"v1": "memory.oom_control", "v2": "memory.events"}  # each has a line "oom_kill N"


def _cgroup(controller):
    """("v1" or "v2", where the hierarchy holding `controller` is mounted, our cgroup's path in it);
    None when it cannot be read."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except OSError:
        return None
    paths = {}
    for line in lines:
        hierarchy, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controller in controllers.split(","):
            paths["v1"] = path
        elif hierarchy == "0" and not controllers:
            paths["v2"] = path
    if "v1" in paths:  # a hybrid host keeps the controller in v1
        return "v1", "/sys/fs/cgroup/" + controller, paths["v1"]
    if "v2" in paths and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2", "/sys/fs/cgroup", paths["v2"]
    return None


def _levels(mount, path):
    """The directories of the cgroup at `path` and of its ancestors, deepest first; None when the
    path leaves our cgroup namespace's root (no level here is then an ancestor we know).

    The path is as the host names it, while a container without a cgroup namespace of its own sees
    its own cgroup at the mount's root: every ancestor is a candidate, and the readers skip a level
    this mount does not show."""
    parts = [part for part in path.split("/") if part]
    if ".." in parts:
        return None
    return [os.path.join(mount, *parts[:depth]) for depth in range(len(parts), -1, -1)]


def _smallest_limit(version, mount, path, name):
    """The smallest limit in file `name` up the cgroup path: the one that binds."""
    levels = _levels(mount, path)
    if levels is None:
        return None
    limits = []
    read = False
    for level in levels:
        try:
            with open(os.path.join(level, name), encoding="ascii") as stream:
                text = stream.read().strip()
            limit = None if text == "max" else int(text)
        except (FileNotFoundError, NotADirectoryError):
            # A cgroup without the file has no such limit: the hierarchy's root (pids.max and
            # cgroup v2's memory.max exist below it only), or a v2 cgroup whose parent does not
            # pass the controller on. Any other level is one this mount does not show.
            read = read or os.path.exists(os.path.join(level, "cgroup.procs"))
            continue
        except (OSError, ValueError):
            return None  # a level that may bind, unread: no verdict on the smallest limit
        read = True
        if limit is not None and limit < _NO_LIMIT:
            limits.append(limit)
    if not read:
        return None
    return version, min(limits) if limits else None


def _oom_count(version, mount, path):
    """The `oom_kill` count of our own cgroup: the deepest level this mount shows (a container's
    cgroup; for a host run, the session's). The kernel counts a kill in the victim's cgroup whatever
    limit was hit, the host's memory included. None when it cannot be read (kernels before 4.13)."""
    for level in _levels(mount, path) or []:
        try:
            with open(os.path.join(level, _OOM_FILE[version]), encoding="ascii") as stream:
                lines = stream.read().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError):
            return None
        counts = [line.split()[1:] for line in lines if line.split()[:1] == ["oom_kill"]]
        if len(counts) != 1 or len(counts[0]) != 1 or not counts[0][0].isdigit():
            return None
        return int(counts[0][0])
    return None


def _hide_environment():
    """Popping the boundary leaves it in /proc/<our pid>/environ, where the script (a child, the same
    user) could read it and forge the report after it (exit status, strays, lost records). Not
    dumpable, that file is root's alone; a script running as root can still read it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: no /proc to read it from


def _become_subreaper():
    """Orphans of the script become our children, wherever they moved (setsid, double fork)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the process group is all the runner can end


def _kill(pid):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _children():
    """(pid, state) of every process whose parent is this one, read from /proc."""
    me = str(os.getpid()).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stream:
                stat = stream.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # the command name may hold spaces and ')'
        if len(fields) > 1 and fields[1] == me:
            found.append((int(entry), fields[0]))
    return found


def _end_strays():
    """Kill every process the script left behind, until none is left; how many were running."""
    killed = set()
    for _ in range(10000):
        children = _children()
        if not children:
            break
        for pid, state in children:
            if state != b"Z":
                _kill(pid)
                killed.add(pid)
        _reap()
        time.sleep(0.005)
    return len(killed)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _report(boundary, header, records, limit, side_files):
    try:
        size = os.path.getsize(records)
    except OSError:
        size = 0
    header["records_over_limit"] = size > limit
    header["records_bytes"] = min(size, limit)
    header["side_files"] = [[os.path.basename(path), length] for path, length in side_files]
    _write(b"\n" + boundary + b" " + json.dumps(header).encode() + b"\n")
    _send(records, header["records_bytes"], pad=b"\n")
    for path, length in side_files:
        _send(path, length, pad=b"\0")  # a side file changed meanwhile fails its digest: refused
    _write(b"\n" + boundary + b" end\n")


def _side_files(directory):
    """(path, size) of each side file, by name."""
    try:
        names = sorted(name for name in os.listdir(directory) if not name.startswith("."))
    except OSError:
        return []
    return [(os.path.join(directory, name), os.path.getsize(os.path.join(directory, name))) for name in names]


def _send(path, size, *, pad):
    """Exactly `size` bytes of the file, padded with `pad` if it shrank meanwhile."""
    remaining = size
    if remaining:
        with open(path, "rb") as stream:
            while remaining:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                _write(chunk)
                remaining -= len(chunk)
    _write(pad * remaining)


def _write(data):
    view = memoryview(data)
    while view:
        written = os.write(1, view)
        view = view[written:]


if __name__ == "__main__":
    main()
