"""The matrix job's pipeline: an environment's runs start while other images still build, and the
runs that need every CPU are grouped. Host environments (no engine) keep these tests fast."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from seedmatrix import pipeline
from seedmatrix.backends import execute
from seedmatrix.backends.docker.container import Owner
from seedmatrix.backends.execute import CpuPool, RunContext, Runs
from seedmatrix.backends.host import backend as host_backend
from seedmatrix.backends.host import interpreters
from seedmatrix.limits import Limits
from seedmatrix.log import Output
from seedmatrix.plan import Cell
from seedmatrix.results import Record, RunStatus
from seedmatrix.store import load_results

ROOT = Path(__file__).resolve().parent.parent
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "NO_COLOR": "1"}


def two_host_environments(tmp_path: Path) -> Path:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    path = tmp_path / "matrix.yaml"
    path.write_text(
        f"""\
repeats: 2
timeout_seconds: 120
environments:
  - {{name: first, host_python: {sys.executable}, python: "{version}"}}
  - {{name: second, host_python: {sys.executable}, python: "{version}"}}
cases:
  - {{name: seed_random, script: {ROOT / "seeds" / "seed_random.py"}}}
""",
        encoding="utf-8",
    )
    return path


def test_an_environments_runs_start_while_another_image_is_still_being_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_recorded = threading.Event()
    second_waited: list[bool] = []
    real_host_build = interpreters.host_build

    def host_build(environment: Any, **settings: Any) -> Any:
        if environment.name == "second":  # stands for a slow image: ready only once `first` has a record
            second_waited.append(first_recorded.wait(timeout=60))
        return real_host_build(environment, **settings)

    real_keep = pipeline._RunBook.keep

    def keep(self: pipeline._RunBook, record: Record) -> None:
        real_keep(self, record)
        if record.environment == "first":
            first_recorded.set()

    monkeypatch.setattr(host_backend, "host_build", host_build)
    monkeypatch.setattr(pipeline._RunBook, "keep", keep)
    options = pipeline.Options(config=two_host_environments(tmp_path), results=tmp_path / "results")
    status = pipeline.matrix_job(options, Output(env=NO_ENGINE), {**os.environ, **NO_ENGINE})

    assert status == 0
    assert second_waited == [True]  # without the pipeline, `second` would wait out the 60 s
    results = load_results(tmp_path / "results" / "latest" / "results.json")
    assert [(r.environment, r.repeat, r.status) for r in results.records] == [
        ("first", 1, RunStatus.OK),
        ("first", 2, RunStatus.OK),
        ("second", 1, RunStatus.OK),
        ("second", 2, RunStatus.OK),
    ]
    assert [env.name for env in results.environments] == ["first", "second"]  # matrix order kept


def cell(case: str, cpus: int) -> Cell:
    return Cell(
        environment="env",
        case=case,
        script=Path("s.py"),
        repeats=1,
        limits=Limits(timeout_seconds=10),
        workdir=Path(),
        cpus=cpus,
    )


def ok_record(run_cell: Cell, repeat: int) -> Record:
    return Record(
        environment=run_cell.environment,
        case=run_cell.case,
        repeat=repeat,
        status=RunStatus.OK,
        exit_code=0,
        seconds=0.0,
    )


def run_context(*, jobs: int, cpu_ids: list[int]) -> RunContext:
    return RunContext(
        client=None, owner=Owner(run_id="test"), host_environ={}, identities={}, jobs=jobs, cpu_ids=cpu_ids
    )


def test_runs_that_need_every_cpu_go_first_in_what_is_handed_in_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[str, list[int]]] = []

    def run_repeat(context: RunContext, run_cell: Cell, repeat: int, *, cpu_ids: list[int]) -> Record:
        started.append((run_cell.case, list(cpu_ids)))
        return ok_record(run_cell, repeat)

    monkeypatch.setattr(execute, "run_repeat", run_repeat)
    recorded: list[Record] = []
    runs = Runs(run_context(jobs=1, cpu_ids=[0, 1]), on_record=recorded.append)
    try:
        work = [(cell("one-a", 1), 1), (cell("two-a", 2), 1), (cell("one-b", 1), 1), (cell("two-b", 2), 1)]
        for future in runs.submit(work):
            future.result(timeout=10)
    finally:
        runs.close()
    assert started == [("two-a", [0, 1]), ("two-b", [0, 1]), ("one-a", [0]), ("one-b", [0])]
    assert len(recorded) == 4


def test_progress_off_a_terminal_is_one_line_per_step_against_a_total_that_grows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = Output(env={"NO_COLOR": "1"})
    with out.progress(("images", 2), ("runs", 0)) as (images, runs):
        images.advance("a: built in 1.0 s")
        runs.grow(3)
        runs.advance("a / case #1: ok")
        runs.grow(3)
        runs.advance("a / case #2: ok")
    assert capsys.readouterr().err.splitlines() == [
        "  images 1/2: a: built in 1.0 s",
        "  runs 1/3: a / case #1: ok",
        "  runs 2/6: a / case #2: ok",
    ]


def test_cpus_are_handed_out_in_the_order_asked_so_a_two_cpu_run_is_not_overtaken() -> None:
    pool = CpuPool([0, 1])
    served: list[str] = []
    holding = pool.take(1)
    holding.__enter__()  # one CPU busy, one free

    def take(name: str, count: int) -> None:
        with pool.take(count):
            served.append(name)

    two = threading.Thread(target=take, args=("two CPUs", 2))
    two.start()
    time.sleep(0.3)  # asks first, and waits: only one CPU is free
    one = threading.Thread(target=take, args=("one CPU", 1))
    one.start()
    time.sleep(0.3)
    assert served == []  # the free CPU is not given to the later, smaller request
    holding.__exit__(None, None, None)
    two.join(timeout=5)
    one.join(timeout=5)
    assert served == ["two CPUs", "one CPU"]


def test_a_run_waiting_for_a_cpu_when_the_runs_close_never_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started: list[str] = []

    def run_repeat(context: RunContext, run_cell: Cell, repeat: int, *, cpu_ids: list[int]) -> Record:
        started.append(run_cell.case)
        release.wait(timeout=10)
        return ok_record(run_cell, repeat)

    monkeypatch.setattr(execute, "run_repeat", run_repeat)
    runs = Runs(run_context(jobs=2, cpu_ids=[0]), on_record=lambda record: None)
    first, second = runs.submit([(cell("first", 1), 1), (cell("second", 1), 1)])
    time.sleep(0.3)  # `second` holds a worker and waits for the one CPU
    runs.close()  # as on Ctrl-C
    release.set()
    first.result(timeout=10)
    second.result(timeout=10)
    assert started == ["first"]
