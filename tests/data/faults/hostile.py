"""A seed script that tries to escape: each attempt is recorded as allowed or blocked.

Network, writes outside its tmpfs, the host's files and engine socket, an unbounded fork, and
two gigabytes of output. The runner must contain every attempt and still complete the matrix.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from recording import show


def attempt(label, action):
    try:
        outcome = action()
    except Exception as error:  # every kind of refusal is the point of the test
        show(label, f"blocked: {type(error).__name__}")
    else:
        show(label, f"ALLOWED: {outcome!r}"[:200])


def write(path):
    with open(path, "w") as stream:
        return stream.write("escaped")


def fork_without_bound():
    children = []
    try:
        while len(children) < 100_000:
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            children.append(pid)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)
        print(f"forked {len(children)} processes before the limit", flush=True)
    return len(children)


attempt("network: connect to 1.1.1.1:53", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3))
attempt("network: resolve pypi.org", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("write: the image's files", lambda: write("/opt/seedmatrix/escaped"))
attempt("write: the seeds mount", lambda: write("/seeds/escaped"))
attempt("read: the engine socket", lambda: socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock"))
attempt("read: /etc/shadow", lambda: open("/etc/shadow").read(16))
attempt("read: /root through /proc/1/root", lambda: os.listdir("/proc/1/root/root"))
attempt("fork without bound", fork_without_bound)
show("tmpfs write still works", float(write("/tmp/allowed")))


def run_from_tmp():
    """What a JIT compiler does (torch.compile, numba's cache, a C kernel built at run time): write
    an executable into /tmp and run it."""
    with open("/tmp/exit7", "w") as stream:
        stream.write("#!/bin/sh\nexit 7\n")
    os.chmod("/tmp/exit7", 0o755)
    return subprocess.run(["/tmp/exit7"], check=False).returncode


show("tmpfs runs what it writes", float(run_from_tmp()))

chunk = "x" * (1 << 20) + "\n"
for _ in range(2048):  # 2 GiB
    sys.stdout.write(chunk)
sys.stdout.flush()
