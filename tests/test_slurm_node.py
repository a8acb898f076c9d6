"""A container environment's repeat on a Slurm node, its pure parts: the container the submitter
writes into the task is the one a local run makes, carried whole or refused; the CPUs it is pinned
to; the image check that fails closed; and how a resumed run recognises such a task."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import docker
import pytest
from docker.errors import ImageNotFound

from seedmatrix.backends.docker.container import ALL_GPUS, Owner
from seedmatrix.backends.docker.execute import INSIDE_MOUNT, WORK_MOUNT, repeat_spec
from seedmatrix.backends.slurm.execute import PACKAGE_ROOT, SlurmQueue, _boundary_of, _task_spec, submitted_as
from seedmatrix.backends.slurm.node import (
    MODULE,
    NodeImage,
    NodeTask,
    cpuset,
    ensure_image,
    read_task,
    task_argument,
)
from seedmatrix.errors import EngineError, ImageError, ResultsError
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell

IMAGE = NodeImage(image_id="sha256:" + "a" * 64, tag="seedmatrix-env:small-0123", registry=None)
BOUNDARY = b"seedmatrix-boundary-1234"


def _cell(tmp_path: Path, **changed: Any) -> Cell:
    """A cell of a case in tmp_path/cases (the run directory is tmp_path: not among its files)."""
    (tmp_path / "cases").mkdir(exist_ok=True)
    (tmp_path / "data.csv").write_text("1\n", encoding="utf-8")
    fields: dict[str, Any] = {
        "environment": "e", "case": "c", "script": tmp_path / "cases" / "s.py", "repeats": 2,
        "limits": Limits(timeout_seconds=90, memory="2g", tmp_mb=32, outputs_mb=8),
        "workdir": tmp_path / "cases", "args": ("--steps", "3"),
        "data": {tmp_path / "data.csv": "/data/d.csv"},
        "outputs": ("weights.npy",), "cpus": 2, "variables": {"CASE_VARIABLE": "x"},
    }  # fmt: skip
    return Cell(**{**fields, **changed})


def test_the_node_runs_the_container_a_local_run_makes_with_its_own_cpus(tmp_path: Path) -> None:
    cell = _cell(tmp_path)
    owner = Owner(run_id="seedmatrix-r1")
    local = repeat_spec(cell, image=IMAGE.image_id, owner=owner, gpus=None, cpu_ids=(0, 1), boundary=BOUNDARY)
    submitted = repeat_spec(cell, image=IMAGE.image_id, owner=owner, gpus=None, cpu_ids=(), boundary=BOUNDARY)
    on_node = read_task(task_argument(NodeTask(image=IMAGE, spec=submitted, cpus=cell.cpus)))
    assert (on_node.image, on_node.cpus) == (IMAGE, 2)
    # Everything but where it runs (the CPUs, set on the node) and the boundary's splitting (the
    # submitter's Capture splits the output the node passes on whole).
    assert replace(on_node.spec, cpuset="0,1") == replace(local, boundary=None)
    assert on_node.spec.environment["SEEDMATRIX_BOUNDARY"] == BOUNDARY.decode()
    assert on_node.spec.read_only_mounts[tmp_path / "cases"] == WORK_MOUNT
    assert INSIDE_MOUNT in on_node.spec.read_only_mounts.values()
    assert on_node.spec.hermetic
    assert on_node.spec.user == local.user


@pytest.mark.parametrize(
    "changed",
    [
        {"gpus": ALL_GPUS},
        {"writable_mounts": {Path("/cache"): "/cache"}},
        {"hermetic": False},
        {"side_dir": Path("/results/side")},
        {"owner": Owner(run_id="r1", run_dir=Path("/results/r1"))},
    ],
)
def test_a_container_the_node_task_cannot_carry_whole_is_refused(
    tmp_path: Path, changed: dict[str, Any]
) -> None:
    spec = repeat_spec(
        _cell(tmp_path), image=IMAGE.image_id, owner=Owner(run_id="seedmatrix-r1"), gpus=None, cpu_ids=(),
        boundary=BOUNDARY,
    )  # fmt: skip
    with pytest.raises(EngineError, match="a Slurm node runs hermetic CPU containers only"):
        task_argument(NodeTask(image=IMAGE, spec=replace(spec, **changed), cpus=1))


def test_the_container_gets_as_many_of_the_tasks_cpus_as_its_case_asked_for() -> None:
    assert cpuset({0, 1}, 1) == "0"  # a cluster that binds no CPUs leaves every CPU of the node
    assert cpuset({7, 2, 5}, 2) == "2,5"
    assert cpuset({3}, 1) == "3"
    assert cpuset({3}, 2) == "3"  # fewer than asked: what Slurm gave (the record reads back 1)


class _Images:
    def __init__(self, held: set[str], pulled: str | None) -> None:
        self.held = held
        self.pulled = pulled
        self.pulls: list[tuple[str, str]] = []

    def get(self, image_id: str) -> object:
        if image_id not in self.held:
            raise ImageNotFound(f"No such image: {image_id}")
        return object()

    def pull(self, repository: str, *, tag: str) -> object:
        self.pulls.append((repository, tag))
        return type("Image", (), {"id": self.pulled})()


def _client(images: _Images) -> docker.DockerClient:
    return cast("docker.DockerClient", type("Client", (), {"images": images})())


def test_a_node_whose_engine_lacks_the_image_fails_closed_naming_the_node() -> None:
    images = _Images(held={"sha256:" + "b" * 64}, pulled=None)
    with pytest.raises(ImageError, match=rf"its engine has no image {IMAGE.image_id} "
                       r"\(seedmatrix-env:small-0123\), the image this run built: not run"):  # fmt: skip
        ensure_image(_client(images), IMAGE)
    assert images.pulls == []
    ensure_image(_client(_Images(held={IMAGE.image_id}, pulled=None)), IMAGE)


def test_a_node_pulls_from_the_registry_and_runs_only_the_very_image_built() -> None:
    shared = replace(IMAGE, registry="localhost:5000/seeds")
    images = _Images(held=set(), pulled=IMAGE.image_id)
    ensure_image(_client(images), shared)
    assert images.pulls == [("localhost:5000/seeds/seedmatrix-env", "small-0123")]
    other = "sha256:" + "c" * 64
    with pytest.raises(ImageError, match=rf"localhost:5000/seeds/seedmatrix-env:small-0123 in "
                       rf"the registry is image {other}, not the image this run built"):  # fmt: skip
        ensure_image(_client(_Images(held=set(), pulled=other)), shared)


def test_an_image_environments_task_runs_the_node_module_with_the_submitting_interpreter(
    tmp_path: Path,
) -> None:
    cell = _cell(tmp_path)
    spec = _task_spec(cell, BOUNDARY, "seedmatrix-r1", IMAGE)
    assert spec["command"][:3] == [sys.executable, "-m", MODULE]
    assert spec["variables"] == {"PYTHONPATH": str(PACKAGE_ROOT)}
    assert (PACKAGE_ROOT / "seedmatrix" / "__init__.py").is_file()
    assert "DOCKER_HOST" in spec["passed_through"]
    assert _boundary_of(spec) == BOUNDARY
    task = read_task(spec["command"][3])
    assert task.spec.owner == Owner(run_id="seedmatrix-r1")  # no run directory: see node.py
    assert task.spec.image == IMAGE.image_id
    host = _task_spec(replace(cell, host_python=sys.executable, data={}), BOUNDARY, "seedmatrix-r1", None)
    assert _boundary_of(host) == BOUNDARY


def _submitted(root: Path, cell: Cell, image: NodeImage) -> None:
    batch_dir = root / "slurm" / "e-1"
    batch_dir.mkdir(parents=True)
    manifest = {"environment": "e", "tasks": [["c", 1]], "submitted_as": [submitted_as(cell, image.image_id)]}
    (batch_dir / "batch.json").write_text(json.dumps(manifest))
    (batch_dir / "0.json").write_text(json.dumps(_task_spec(cell, BOUNDARY, "seedmatrix-r", image)))
    (batch_dir / "0.ended.json").write_text(json.dumps({"exit_code": 0, "timed_out": False, "seconds": 1.0}))


def test_a_resumed_run_waits_for_a_container_task_of_the_same_image_and_not_another(tmp_path: Path) -> None:
    cell = _cell(tmp_path)
    _submitted(tmp_path, cell, IMAGE)

    def queue(image: NodeImage) -> SlurmQueue:
        # Made before the image is ready (Machine.runs): it sees the backend's images as they come.
        ready: dict[str, NodeImage] = {}
        made = SlurmQueue(
            run_id="r", run_dir=tmp_path, settings={}, identities={"e": image.image_id}, side_dir=None,
            node_images=ready, on_record=lambda record: None, note=lambda line: None,
            collecting=True,
        )  # fmt: skip
        ready["e"] = image
        return made

    adopted = queue(IMAGE)._adopt([(cell, 1)], [])
    assert [task.boundary for task in adopted.values()] == [BOUNDARY]
    # The image was rebuilt since (another id): that task ran another image, not this repeat.
    with pytest.raises(ResultsError, match="was submitted with another command, interpreter or case files"):
        queue(replace(IMAGE, image_id="sha256:" + "d" * 64))._adopt([(cell, 1)], [])


PRETEND_NODE = """
import socket, sys, threading
from seedmatrix.backends.slurm import node

def pretend(argument, *, affinity, stop):
    # As container.run_into waits: the main call blocked on a socket, a thread watching for the stop.
    waiting, woken = socket.socketpair()
    def watch():
        while not stop.requested.wait(0.01):
            pass
        woken.send(b"x")
    threading.Thread(target=watch, daemon=True).start()
    print("running", flush=True)
    waiting.settimeout(60)
    waiting.recv(1)
    return 7

node.run = pretend
sys.exit(node.main(["{}"]))
"""


def test_the_node_task_takes_every_sigterm_and_exits_with_the_containers_status() -> None:
    """Slurm signals every process of the task and slurm_task.py passes its SIGTERM on: the node
    task gets two or more, at any moment. Before, a Python handler took them: a late one during
    interpreter shutdown killed the task (-15, the container's status lost), and on a loaded node
    one ran inside the other's Event.set() and deadlocked, so the container was never stopped."""
    for _ in range(10):
        process = subprocess.Popen(
            [sys.executable, "-c", PRETEND_NODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline() == "running\n"
        with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
            for _ in range(5):
                os.kill(process.pid, signal.SIGTERM)
                os.killpg(process.pid, signal.SIGTERM)
        try:
            _, said = process.communicate(timeout=30)
        finally:
            process.kill()
        assert process.returncode == 7, said
        assert "SIGTERM came; stopping the container" in said
        assert "the container was stopped and removed in" in said
