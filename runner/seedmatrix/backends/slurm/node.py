"""A container environment's repeat on a Slurm node: the command inside/slurm_task.py runs there.

The submitter writes the repeat's container into the task's command, as JSON (`task_argument`):
the spec a local run makes (`docker.execute.repeat_spec`), the image's id and tag, and the
registry, if any. On the node this module, run by the submitting interpreter (`python -m
seedmatrix.backends.slurm.node TASK`: seedmatrix and the Docker SDK on the shared filesystem),
connects to the node's engine as a local run connects to its own (DOCKER_HOST, else the default
socket), checks that it holds the very image the run built (by id; with a registry, pulled by its
tag and its id checked), and runs the container there through `container.run_into`, with the
node's owner label and the CPUs Slurm gave the task. The container's stdout and stderr are this
process's, as they come: slurm_task.py publishes them as it publishes a host launcher's, and the
submitter makes the record through the same Capture and to_record as for a local container.

SIGTERM or SIGINT (Slurm's, at its time limit or scancel, and slurm_task.py's at the repeat's own
limit) stops the container: SIGTERM, SIGKILL after STOP_SECONDS, then it is removed, before
Slurm's SIGKILL (KillWait after its SIGTERM) would kill this process and leave it behind.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound

from ...errors import EngineError, ImageError
from ...limits import Limits
from ..docker import container, registry

MODULE = "seedmatrix.backends.slurm.node"
#: As `docker run` exits when the engine, not the command, failed: the repeat did not run (or the
#: engine was lost under it); stderr says which.
EXIT_NOT_RUN = 125
#: After its SIGTERM, the container's launcher has this long to report before SIGKILL. Short:
#: Slurm's KillWait (30 s by default, 5 s on scripts/slurm's cluster) bounds the whole stop.
STOP_SECONDS = 2.0
#: Slurm's (time limit, scancel) and slurm_task.py's (the repeat's own limit, passed on).
STOPPING_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


@dataclass(frozen=True, kw_only=True)
class NodeImage:
    """The image a run built, as a node finds it: by id, or pulled by its tag from a registry."""

    image_id: str
    tag: str
    registry: str | None = None


@dataclass(frozen=True, kw_only=True)
class NodeTask:
    """What the node needs for one repeat's container."""

    image: NodeImage
    spec: container.ContainerSpec  # its cpuset is the node's to set
    cpus: int  # the CPUs the case asked for


def task_argument(task: NodeTask) -> str:
    """The task as the node's command line carries it (JSON). A spec this cannot carry whole
    (a GPU, writable mounts, side files written on the node, an owner's run directory, whose lock
    a node cannot see) is refused, not cut short."""
    spec = task.spec
    if (
        spec.gpus is not None
        or spec.writable_mounts
        or spec.side_dir is not None
        or not spec.hermetic
        or spec.owner.run_dir is not None
    ):
        raise EngineError(
            "a Slurm node runs hermetic CPU containers only: no GPU, no writable mount, no run "
            "directory in its labels, its side files kept by the submitter"
        )
    return json.dumps(
        {
            "image": asdict(task.image),
            "cpus": task.cpus,
            "run_label": spec.owner.run_id,
            "container": {
                "image": spec.image,
                "command": list(spec.command),
                "limits": asdict(spec.limits),
                "read_only_mounts": [[str(host), inside] for host, inside in spec.read_only_mounts.items()],
                "tmpfs": dict(spec.tmpfs),
                "working_dir": spec.working_dir,
                "environment": dict(spec.environment),
                "user": spec.user,
            },
        },
        sort_keys=True,
    )


def read_task(text: str) -> NodeTask:
    """The task `task_argument` wrote (no CPUs set yet; its host label is this machine's)."""
    data: dict[str, Any] = json.loads(text)
    spec = data["container"]
    return NodeTask(
        image=NodeImage(**data["image"]),
        cpus=int(data["cpus"]),
        spec=container.ContainerSpec(
            image=spec["image"],
            command=spec["command"],
            owner=container.Owner(run_id=data["run_label"]),
            limits=Limits(**spec["limits"]),
            read_only_mounts={Path(host): inside for host, inside in spec["read_only_mounts"]},
            tmpfs=spec["tmpfs"],
            working_dir=spec["working_dir"],
            environment=spec["environment"],
            user=spec["user"],
        ),
    )


def cpuset(affinity: Set[int], cpus: int) -> str:
    """The CPUs the container is pinned to: `cpus` of those Slurm left the task. A cluster that
    binds no CPUs (TaskPlugin=task/none) leaves it every CPU of the node; the first `cpus` of them
    are taken then, so the script sees the count its case asked for, as in a local run."""
    return ",".join(str(cpu) for cpu in sorted(affinity)[:cpus])


def ensure_image(client: docker.DockerClient, image: NodeImage) -> None:
    """Fail closed unless this node's engine holds the image the run built (pulled from the
    registry by its tag, where there is one, and its id checked)."""
    if _has(client, image.image_id):
        return
    if image.registry is None:
        raise ImageError(
            f"its engine has no image {image.image_id} ({image.tag}), the image this "
            "run built: not run. Load it there (docker save | docker load), or share it through a "
            "registry (--registry, --push)"
        )
    repository, tag = registry.remote(image.registry, image.tag)
    try:
        # By its registry name only: a local tag moved to an image of other content would mislead
        # a later build here.
        pulled = client.images.pull(repository, tag=tag)
    except (APIError, requests.exceptions.RequestException) as error:
        raise ImageError(
            f"its engine has no image {image.image_id} and could not pull "
            f"{repository}:{tag} ({str(error).strip().splitlines()[0]}): not run"
        ) from None
    if pulled.id != image.image_id:
        raise ImageError(
            f"{repository}:{tag} in the registry is image {pulled.id}, not the image "
            f"this run built ({image.image_id}): not run"
        )
    print(f"seedmatrix: pulled {repository}:{tag}, image {image.image_id}", file=sys.stderr, flush=True)


def _has(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except ImageNotFound:
        return False
    except (APIError, requests.exceptions.RequestException) as error:
        raise EngineError(f"cannot ask the engine for image {image_id} ({error})") from None
    return True


class _OwnOutput:
    """The container's output as this process's own: slurm_task.py keeps it in files."""

    def add(self, out: bytes | None, err: bytes | None) -> None:
        if out:
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
        if err:
            sys.stderr.buffer.write(err)
            sys.stderr.buffer.flush()


def run(argument: str, *, affinity: Set[int], stop: container.Stop) -> int:
    """The repeat's container on this node; its exit status, or EXIT_NOT_RUN (why on stderr)."""
    task = read_task(argument)
    spec = replace(task.spec, cpuset=cpuset(affinity, task.cpus))
    try:
        client = container.connect()
        ensure_image(client, task.image)
        ended = container.run_into(client, spec, _OwnOutput(), stop=stop)
    except (EngineError, ImageError, DockerException) as error:
        _say(str(error))
        return EXIT_NOT_RUN
    if ended.oom_killed:
        print(f"(killed: the container exceeded its memory limit of {spec.limits.memory})", file=sys.stderr)
    return ended.exit_code if ended.exit_code is not None else 128 + signal.SIGKILL


def main(argv: Sequence[str]) -> int:
    stop = container.Stop(requested=threading.Event(), grace_seconds=STOP_SECONDS)
    # slurm_task.py gives the task a scratch HOME: the engine's credentials (a registry's login)
    # are the user's own.
    os.environ.setdefault("DOCKER_CONFIG", str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".docker"))
    # The signals are taken here, not by a handler. A handler that set the Event deadlocked: Slurm
    # and slurm_task.py each send SIGTERM, and the second ran the handler again inside the first's
    # Event.set(), waiting for the lock that set() held. The stop never started, and Slurm's
    # SIGKILL left the container running (seen in CI; here 7 tasks in 160 under load). Blocked
    # in every thread (each starts with its maker's mask), they wait for sigtimedwait while a
    # worker runs the container. (A program the engine's client starts, a credential helper,
    # inherits the mask too: it is short-lived, and Slurm's SIGKILL still ends it.)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING_SIGNALS)
    asked_at = None
    with ThreadPoolExecutor(max_workers=1) as worker:
        ran = worker.submit(run, argv[0], affinity=os.sched_getaffinity(0), stop=stop)
        try:
            while not ran.done():
                taken = signal.sigtimedwait(STOPPING_SIGNALS, container.STOP_POLL_SECONDS)
                if taken is not None and asked_at is None:
                    # Said as it happens: should Slurm's SIGKILL cut the stop short, the task's
                    # output (kept) shows how far it got.
                    asked_at = time.monotonic()
                    _say(f"{signal.Signals(taken.si_signo).name} came; stopping the container")
                    stop.requested.set()
        finally:
            stop.requested.set()  # leaving early for any reason: the worker is waited for, so stop it
        exit_status = ran.result()
    if asked_at is not None:
        _say(f"the container was stopped and removed in {time.monotonic() - asked_at:.1f} s")
    return exit_status


def _say(line: str) -> None:
    print(f"seedmatrix on node {socket.gethostname()}: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
