"""Two seedmatrix processes on one machine share the wheel cache (default ~/.cache/seedmatrix/wheels):
a directory one of them is serving to a build must not be emptied or replaced by the other. Seen
under act, where a CPU shard and the GPU job run at once: the second fetch removed the first's
directory while its wheel server had it mounted, and the build found no numpy."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from seedmatrix.backends.docker import container, wheels


def fetch_slowly(client: Any, base: Any, what: Any, fetching: Any, *, target: Path, **_: Any) -> None:
    """Stands for fetch_wheels.py in a container: slow, and it replaces the directory as _fetch does."""
    with (fetching.cache / "fetches").open("a") as log:
        log.write(f"{target.name}\n")
    time.sleep(1.0)
    target.mkdir(parents=True, exist_ok=True)
    (target / "numpy-2.0.2-py3-none-any.whl").write_text("wheel", encoding="utf-8")
    (target / wheels.COMPLETE).touch()


def ensure_in_a_process(cache: Path, ready: Any) -> None:
    wheels._fetch = fetch_slowly  # this process only
    ready.wait()
    wheels.ensure_wheels(
        client=None,  # type: ignore[arg-type]
        base=SimpleNamespace(id="sha256:base"),
        plan=wheels.WheelPlan(pins=("numpy==2.0.2",)),
        fetching=wheels.Fetching(cache=cache),
        name="e",
        owner=container.Owner(run_id="test"),
        log=cache / "log",
        progress=lambda _: None,
        hold=lambda _: contextlib.nullcontext(),  # the in-process lock: each process has its own
    )


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_two_processes_fetch_one_wheel_directory_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    processes = [context.Process(target=ensure_in_a_process, args=(tmp_path, ready)) for _ in range(2)]
    for process in processes:
        process.start()
    ready.set()
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    fetches = (tmp_path / "fetches").read_text(encoding="utf-8").split()
    assert len(fetches) == 1, fetches  # the second found the first's complete directory
