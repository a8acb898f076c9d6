"""The Slurm backend on a real Slurm (bash scripts/slurm start): a matrix across two partitions
gives the verdicts the host backend gives (and, of container environments, those the Docker
backend gives; these tests are marked docker too), a task over its time limit is a timeout, Ctrl-C (SIGINT
or SIGTERM) cancels the run's jobs, --resume after a SIGKILLed submitter waits for them instead of
submitting again, and a task whose node fails is an error with Slurm's reason.

The environments run this interpreter (sys.executable) on the node, which is this machine: the
results directory (pytest's tmp_path) is on the one filesystem the node and the runner share.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import pytest
from slurm_cluster import needs_slurm
from test_registry import registry  # noqa: F401  # the fixture: a registry on localhost

from seedmatrix.backends.docker import container
from seedmatrix.store import load_results
from seedmatrix.verdicts import derive

from conftest import new_identity_matrix

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
FAULTS = ROOT / "tests" / "data" / "faults"
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "NO_COLOR": "1", "COLUMNS": "200"}
PYTHON_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
CASES = f"""\
  - name: seed_random
    script: {SEEDS / "seed_random.py"}
    claims: {{stable: ["*"], same_across_environments: ["*"]}}
  - name: seed_numpy
    script: {SEEDS / "seed_numpy.py"}
    requires: [numpy]
    claims: {{stable: ["*"], same_across_environments: ["*"]}}
  - name: hash_order
    script: {SEEDS / "seed_python_hash.py"}
    claims: {{varies: ["set order"]}}
  - name: crash
    script: {FAULTS / "crash.py"}
"""


def matrix_file(
    path: Path,
    environments: Sequence[tuple[str, str]],
    cases: str,
    *,
    timeout: int = 300,
    python: str = sys.executable,
) -> Path:
    """A matrix of host environments running this interpreter (its Slurm ones `python`, the same
    interpreter by another name where a test tells them apart); each given its `slurm:` line (or
    none: the host backend)."""
    text = f"repeats: 2\ntimeout_seconds: {timeout}\nreference: {environments[0][0]}\nenvironments:\n"
    for name, slurm in environments:
        interpreter = python if slurm else sys.executable
        text += f'  - name: {name}\n    host_python: {interpreter}\n    python: "{PYTHON_VERSION}"\n'
        text += f"    {slurm}\n" if slurm else ""
    path.write_text(text + "cases:\n" + cases, encoding="utf-8")
    return path


def seedmatrix(*arguments: str, command: str = "matrix") -> list[str]:
    return [sys.executable, "-m", "seedmatrix", command, *arguments]


def run(
    arguments: Sequence[str],
    timeout: int = 600,
    cwd: Path | None = None,
    variables: Mapping[str, str] = NO_ENGINE,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(arguments), capture_output=True, text=True, env={**os.environ, **variables}, timeout=timeout,
        check=False, cwd=cwd,
    )  # fmt: skip


def verdicts_of(results: Path) -> tuple[Any, ...]:
    """Every cell's verdict and every claim's, as the report shows them (no timings)."""
    verdicts = derive(load_results(results / "latest" / "results.json"))
    cells = sorted(
        (cell.environment, cell.case, cell.state.value, cell.group, cell.versus.value,
         tuple((label.label, label.state.value) for label in cell.labels))
        for cell in verdicts.comparison.cells
    )  # fmt: skip
    claims = sorted((c.environment, c.case, c.kind, c.pattern, c.verdict.value) for c in verdicts.claims)
    return tuple(cells), tuple(claims)


def records_of(results: Path) -> list[dict[str, Any]]:
    data = json.loads((results / "latest" / "results.json").read_text(encoding="utf-8"))
    records: list[dict[str, Any]] = data["records"]
    return records


def jobs_of(run_dir: Path) -> list[tuple[str, str]]:
    """(task id, state) of every task Slurm lists for the run."""
    listed = subprocess.run(
        ["squeue", "--states=all", "--array", "--noheader", f"--name=seedmatrix-{run_dir.name}",
         "--format=%F_%K %T"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [(line.split()[0], line.split()[1]) for line in listed.stdout.splitlines()]


def kill_processes_of(batch_dir: Path) -> None:
    """SIGKILL each of the batch's tasks (slurm_task.py, found by its batch directory among its
    arguments) and every process it started, all at once as Slurm's SIGKILL does."""
    parents: dict[int, int] = {}
    tasks = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        parents[int(entry.name)] = int(stat[stat.rfind(b")") + 2 :].split()[1])
        if str(batch_dir).encode() in arguments and any(a.endswith(b"slurm_task.py") for a in arguments):
            tasks.append(int(entry.name))
    assert tasks, f"no task of {batch_dir} is running"
    doomed = set(tasks)
    while grown := {pid for pid, parent in parents.items() if parent in doomed} - doomed:
        doomed |= grown
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start_run(
    config: Path, results: Path, variables: Mapping[str, str] = NO_ENGINE
) -> tuple[subprocess.Popen[str], Path, str]:
    """A run in the background, once its jobs are submitted: its run directory (through `latest`:
    a run with an image keeps the engine's .cache beside it), and what it said."""
    process = subprocess.Popen(
        seedmatrix("--config", str(config), "--results", str(results)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **variables},
    )  # fmt: skip
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if "submitted as Slurm job" in line:
            return process, (results / "latest").resolve(), seen
    process.communicate()
    pytest.fail(f"nothing was submitted:\n{seen}")


def test_two_partitions_give_the_verdicts_of_a_local_run(tmp_path: Path) -> None:
    needs_slurm()
    on_slurm = matrix_file(
        tmp_path / "slurm.yaml",
        [("on-a", "slurm: {partition: cpu-a}"), ("on-b", "slurm: {partition: cpu-b}")],
        CASES,
    )
    local = matrix_file(tmp_path / "local.yaml", [("on-a", ""), ("on-b", "")], CASES)
    started = time.monotonic()
    through_slurm = run(seedmatrix("--config", str(on_slurm), "--results", str(tmp_path / "slurm")))
    slurm_seconds = time.monotonic() - started
    here = run(seedmatrix("--config", str(local), "--results", str(tmp_path / "local")))
    assert (through_slurm.returncode, here.returncode) == (1, 1), through_slurm.stdout + through_slurm.stderr
    assert verdicts_of(tmp_path / "slurm") == verdicts_of(tmp_path / "local")
    records = records_of(tmp_path / "slurm")
    assert len(records) == 16
    for record in records:
        assert record["slurm"]["partition"] == {"on-a": "cpu-a", "on-b": "cpu-b"}[record["environment"]]
        assert record["slurm"]["node"]
        assert record["slurm"]["job_id"].split("_")[1].isdigit()
    assert len({record["slurm"]["job_id"] for record in records}) == 16  # a fresh task per repeat
    statuses = {(r["environment"], r["case"]): r["status"] for r in records}
    assert statuses[("on-b", "crash")] == "error"
    assert statuses[("on-a", "seed_numpy")] == "ok"
    assert all(record["slurm"] is None for record in records_of(tmp_path / "local"))
    print(f"16 repeats through Slurm in {slurm_seconds:.1f} s")  # the docs quote it (pytest -s)


def test_a_task_over_its_slurm_time_limit_is_a_timeout(tmp_path: Path) -> None:
    needs_slurm()
    cases = f"  - name: hang\n    script: {FAULTS / 'hang.py'}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-b", 'slurm: {partition: cpu-b, time: "1"}')], cases,
                         timeout=900)  # fmt: skip
    finished = run(seedmatrix("--config", str(config), "--results", str(tmp_path / "results")))
    assert finished.returncode == 1, finished.stdout + finished.stderr
    records = records_of(tmp_path / "results")
    assert [r["status"] for r in records] == ["timeout", "timeout"]
    for record in records:
        assert "Slurm stopped task" in record["stderr_tail"]
        assert "at its time limit (TIMEOUT)" in record["stderr_tail"]
        assert record["exit_code"] is None


def test_a_task_killed_before_it_published_keeps_what_it_printed(tmp_path: Path) -> None:
    """SIGKILL to every process of the task, as Slurm sends it KillWait after its SIGTERM (or a
    node's memory limit kills them): the task cannot publish. What the script printed is kept.
    Sent here by pid, since `scancel --signal=KILL` makes the job CANCELLED, which stops the run."""
    needs_slurm()
    cases = f"  - name: hang\n    script: {FAULTS / 'hang.py'}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-b", "slurm: {partition: cpu-b}")], cases, timeout=900)
    process, run_dir, seen = start_run(config, tmp_path / "results")
    try:
        printed = [run_dir / "slurm" / "on-b-1" / f"{index}.out.part" for index in (0, 1)]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
            path.exists() and path.read_text(encoding="utf-8").startswith("hanging now") for path in printed
        ):
            time.sleep(0.2)
        assert all(path.read_text(encoding="utf-8").startswith("hanging now") for path in printed), seen
        kill_processes_of(run_dir / "slurm" / "on-b-1")
        rest, _ = process.communicate(timeout=300)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 1, seen + rest
    records = records_of(tmp_path / "results")
    assert [(r["status"], r["output"]) for r in records] == [("error", "hanging now\n")] * 2, seen + rest
    for record in records:
        said = f"(the output is what task {record['slurm']['job_id']} wrote before Slurm ended it)"
        assert said in record["stderr_tail"]
        assert "wrote no report" in record["stderr_tail"]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_cancels_the_runs_jobs(tmp_path: Path, signal_number: int) -> None:
    needs_slurm()
    cases = f"  - name: hang\n    script: {FAULTS / 'hang.py'}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-a", "slurm: {partition: cpu-a}")], cases, timeout=900)
    process, run_dir, _ = start_run(config, tmp_path / "results")
    time.sleep(3)  # one task running, the other pending or running
    process.send_signal(signal_number)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    # A cancelled task passes through COMPLETING while its processes are ended (seen here).
    deadline = time.monotonic() + 60
    states = dict(jobs_of(run_dir))
    while "COMPLETING" in states.values() and time.monotonic() < deadline:
        time.sleep(1)
        states = dict(jobs_of(run_dir))
    # Both tasks, or (the array cancelled before either started) the array as one line, N/A.
    assert sorted(task.split("_")[1] for task in states) in (["0", "1"], ["N/A"]), states
    assert set(states.values()) == {"CANCELLED"}


def test_a_held_job_is_named_with_how_to_release_it_and_runs_once_released(tmp_path: Path) -> None:
    """Before: the run waited for a held job without a word (its progress line said "pending")."""
    needs_slurm()
    cases = f"  - name: seed_random\n    script: {SEEDS / 'seed_random.py'}\n"
    config = matrix_file(tmp_path / "m.yaml", [("held", "slurm: {extra: [--hold]}")], cases)
    process, run_dir, _ = start_run(config, tmp_path / "results")
    [job_id] = {task.split("_")[0] for task, _ in jobs_of(run_dir)}
    assert process.stdout is not None
    watchdog = threading.Timer(120, process.kill)  # a run that never names the job ends the loop
    watchdog.start()
    seen = ""
    try:
        for line in process.stdout:
            seen += line
            if "is held (PENDING, JobHeldUser)" in line:
                break
        else:
            pytest.fail(f"the held job was not named:\n{seen}")
    finally:
        watchdog.cancel()
        if process.poll() is not None:
            subprocess.run(["scancel", job_id], check=False, timeout=60)
    assert f"Slurm job {job_id} (held / seed_random) is held" in line
    assert f"`scontrol release {job_id}`" in line
    subprocess.run(["scontrol", "release", job_id], check=True, timeout=60)
    rest, _ = process.communicate(timeout=300)
    assert process.returncode == 0, seen + rest
    assert [record["status"] for record in records_of(tmp_path / "results")] == ["ok", "ok"]


def test_resume_after_a_killed_submitter_waits_for_its_jobs(tmp_path: Path) -> None:
    needs_slurm()
    slow = tmp_path / "slow.py"
    script = "import time\nfrom recording import show\ntime.sleep(15)\nshow('value', 0.25)\n"
    slow.write_text(script, encoding="utf-8")
    cases = f"  - name: slow\n    script: {slow}\n    claims: {{stable: ['*']}}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-a", "slurm: {partition: cpu-a}")], cases)
    process, run_dir, _ = start_run(config, tmp_path / "results")
    process.kill()  # SIGKILL: no cleanup ran, the jobs go on
    process.communicate()
    submitted = jobs_of(run_dir)
    assert {state for _, state in submitted} <= {"PENDING", "RUNNING"}
    assert len(submitted) == 2
    resumed = run(seedmatrix("--config", str(config), "--resume", str(run_dir)))
    said = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, said
    assert "2 repeats already submitted by this run: waiting for them" in said
    assert "submitted as Slurm job" not in said
    assert sorted(jobs_of(run_dir)) == sorted((task, "COMPLETED") for task, _ in submitted)
    records = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["records"]
    assert sorted((r["status"], r["slurm"]["job_id"]) for r in records) == sorted(
        ("ok", task) for task, _ in submitted
    )


def test_resume_after_the_matrix_changed_runs_the_changed_repeats_again(tmp_path: Path) -> None:
    """Before: the killed run's tasks were adopted whatever the matrix said now (here, the old
    value of an environment variable the script prints)."""
    needs_slurm()
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import os, time\nfrom recording import show\ntime.sleep(15)\nshow('value', os.environ['VALUE'])\n",
        encoding="utf-8",
    )
    cases = f"  - name: slow\n    script: {slow}\n    env: {{VALUE: before}}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-a", "slurm: {partition: cpu-a}")], cases)
    process, run_dir, _ = start_run(config, tmp_path / "results")
    process.kill()
    process.communicate()
    submitted = [task for task, _ in jobs_of(run_dir)]
    assert len(submitted) == 2
    config.write_text(config.read_text(encoding="utf-8").replace("before", "after"), encoding="utf-8")
    resumed = run(seedmatrix("--config", str(config), "--resume", str(run_dir)))
    said = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, said
    assert "2 repeats submitted before the matrix changed: cancelled, and run again" in said
    deadline = time.monotonic() + 60  # a cancelled task passes through COMPLETING
    states = dict(jobs_of(run_dir))
    while "COMPLETING" in states.values() and time.monotonic() < deadline:
        time.sleep(1)
        states = dict(jobs_of(run_dir))
    old_jobs = {task.split("_")[0] for task in submitted}
    # The array, if neither task had started, is listed as one line (N/A).
    old_states = {state for task, state in states.items() if task.split("_")[0] in old_jobs}
    assert old_states == {"CANCELLED"}, states
    records = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["records"]
    assert [record["values"][0]["values"] for record in records] == [["after"], ["after"]]
    assert not {record["slurm"]["job_id"].split("_")[0] for record in records} & old_jobs


def test_a_task_whose_node_fails_is_an_error_with_slurms_reason(tmp_path: Path) -> None:
    needs_slurm()
    cases = f"  - name: hang\n    script: {FAULTS / 'hang.py'}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-b", "slurm: {partition: cpu-b, extra: [--no-requeue]}")],
                         cases, timeout=900)  # fmt: skip
    process, run_dir, _ = start_run(config, tmp_path / "results")
    node = ""
    try:
        while not node:
            time.sleep(0.5)
            running = ["squeue", "--noheader", f"--name=seedmatrix-{run_dir.name}", "--states=RUNNING"]
            listed = subprocess.run(
                [*running, "--format=%N"], capture_output=True, text=True, timeout=60, check=True
            )
            node = listed.stdout.split()[0] if listed.stdout.split() else ""
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=seedmatrix-test"],
                       check=True, timeout=60)  # fmt: skip
        output, _ = process.communicate(timeout=300)
    finally:
        if node:
            # The node comes back as soon as its slurmd registers again (ReturnToService=2); resume
            # it in case it did not.
            subprocess.run(
                ["scontrol", "update", f"nodename={node}", "state=resume"], timeout=60, check=False
            )
        process.kill()
        process.communicate()
    records = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["records"]
    assert [r["status"] for r in records] == ["error", "error"], output
    for record in records:
        assert "NODE_FAIL" in record["stderr_tail"]
        assert "NodeDown" in record["stderr_tail"]


def test_a_later_run_reuses_no_slurm_record(tmp_path: Path) -> None:
    """The host backend reuses an unchanged cell's records; on Slurm the node may differ, so never."""
    needs_slurm()
    cases = f"  - name: seed_random\n    script: {SEEDS / 'seed_random.py'}\n"
    on_slurm = matrix_file(tmp_path / "slurm.yaml", [("on-a", "slurm: {partition: cpu-a}")], cases)
    local = matrix_file(tmp_path / "local.yaml", [("on-a", "")], cases)
    for config, results in ((on_slurm, tmp_path / "slurm"), (local, tmp_path / "local")):
        for _ in range(2):
            finished = run(seedmatrix("--config", str(config), "--results", str(results)))
            assert finished.returncode == 0, finished.stdout + finished.stderr
    assert [record["reused_from"] for record in records_of(tmp_path / "slurm")] == [None, None]
    assert all(record["reused_from"] for record in records_of(tmp_path / "local"))


def other_name_of_this_python() -> str:
    """This interpreter by a second name (a venv has both python and python3): a script run by it
    knows it runs in the Slurm environment of a matrix whose other environment runs this one."""
    here = Path(sys.executable)
    other = here.with_name("python" if here.name != "python" else "python3")
    if not other.exists():
        pytest.skip(f"{here} has no second name ({other}) to tell the environments apart")
    return str(other)


def slow_on_slurm(path: Path, python: str, seconds: int) -> Path:
    """A case that takes `seconds` in the Slurm environment (run by `python`), none elsewhere."""
    path.write_text(
        f"import sys, time\nfrom recording import show\nif sys.executable == {python!r}:\n"
        f"    time.sleep({seconds})\nshow('value', 0.25)\n",
        encoding="utf-8",
    )
    return path


def states_of(run_dir: Path) -> set[str]:
    """The states of the run's tasks, once none is COMPLETING (a cancelled task passes through it)."""
    deadline = time.monotonic() + 60
    states = {state for _, state in jobs_of(run_dir)}
    while "COMPLETING" in states and time.monotonic() < deadline:
        time.sleep(1)
        states = {state for _, state in jobs_of(run_dir)}
    return states


def test_detach_returns_before_its_tasks_end_and_collect_gives_a_waiting_runs_verdicts(
    tmp_path: Path,
) -> None:
    needs_slurm()
    python = other_name_of_this_python()
    slow = slow_on_slurm(tmp_path / "slow.py", python, 15)
    cases = CASES + f"  - name: slow\n    script: {slow}\n    claims: {{stable: ['*']}}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-a", "slurm: {partition: cpu-a}"), ("here", "")], cases,
                         python=python)  # fmt: skip
    # A relative --results: the nodes are given absolute paths (before, every task FAILED).
    started = time.monotonic()
    detached = run(seedmatrix("--config", str(config), "--results", "results", "--detach"), cwd=tmp_path)
    detach_seconds = time.monotonic() - started
    said = detached.stdout + detached.stderr
    assert detached.returncode == 75, said
    [run_dir] = [path for path in (tmp_path / "results").iterdir() if path.is_dir() and path.name != "latest"]
    assert f"gather them (and write the report) with: seedmatrix collect {run_dir}" in " ".join(said.split())
    states = {state for _, state in jobs_of(run_dir)}
    assert states & {"PENDING", "RUNNING"}, states  # returned before the slow tasks ended, left running
    written = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert written["state"] == "running"
    assert not (run_dir / "MATRIX.md").exists()
    assert not (run_dir / "junit.xml").exists()
    here = [r for r in written["records"] if r["environment"] == "here"]
    assert len(here) == 10  # the local environment ran to its end first
    assert len([r for r in written["records"] if r["environment"] == "on-a"]) < 10

    not_yet = run(seedmatrix(str(run_dir), "--no-wait", command="collect"))
    assert not_yet.returncode == 75, not_yet.stdout + not_yet.stderr
    assert "Slurm repeats not ended yet" in not_yet.stdout + not_yet.stderr
    assert not (run_dir / "MATRIX.md").exists()
    reported = run(seedmatrix(str(run_dir), command="report"))
    said = " ".join((reported.stdout + reported.stderr).split())
    assert (
        f"has Slurm tasks not collected yet (their cells show as missing): seedmatrix collect {run_dir}"
        in said
    )
    assert "**This run is running**: some cells are missing" in (run_dir / "MATRIX.md").read_text()

    started = time.monotonic()
    collected = run(seedmatrix(str(run_dir), command="collect"), cwd=ROOT)
    collect_seconds = time.monotonic() - started
    said = collected.stdout + collected.stderr
    assert collected.returncode == 1, said  # the crash case, as in a waiting run
    assert "submitted as Slurm job" not in said
    assert (run_dir / "MATRIX.md").exists()
    assert (run_dir / "junit.xml").exists()
    assert json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["state"] == "finished"
    assert states_of(run_dir) == {"COMPLETED"}  # nothing cancelled, nothing submitted again

    waited = run(seedmatrix("--config", str(config), "--results", str(tmp_path / "waited")))
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert verdicts_of(tmp_path / "results") == verdicts_of(tmp_path / "waited")
    slurm_records = [r for r in records_of(tmp_path / "results") if r["environment"] == "on-a"]
    assert len(slurm_records) == 10
    assert all(record["slurm"]["partition"] == "cpu-a" for record in slurm_records)
    assert all(record["slurm"]["gpus"]["count"] == 0 for record in slurm_records)  # read on the node
    print(f"detach returned in {detach_seconds:.1f} s, collect took {collect_seconds:.1f} s")


def test_collect_after_the_tasks_ended_records_one_slurm_forgot_as_an_error(tmp_path: Path) -> None:
    """A task Slurm no longer lists (forgotten: its MinJobAge passed, no accounting), and that left
    no report, is an error record; --resume would submit it again, collect never does."""
    needs_slurm()
    cases = f"  - name: seed_random\n    script: {SEEDS / 'seed_random.py'}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-b", "slurm: {partition: cpu-b}")], cases)
    detached = run(seedmatrix("--config", str(config), "--results", str(tmp_path / "results"), "--detach"))
    assert detached.returncode == 75, detached.stdout + detached.stderr
    [run_dir] = [path for path in (tmp_path / "results").iterdir() if path.is_dir() and path.name != "latest"]
    deadline = time.monotonic() + 120
    while states_of(run_dir) != {"COMPLETED"} and time.monotonic() < deadline:
        time.sleep(1)
    assert states_of(run_dir) == {"COMPLETED"}
    # Forgotten: the batch renamed, so no task Slurm lists carries its comment; repeat 2's report gone.
    [batch] = (run_dir / "slurm").iterdir()
    batch.rename(batch.with_name("on-b-7"))
    for name in ("1.ended.json", "1.out", "1.err"):
        (batch.with_name("on-b-7") / name).unlink()
    collected = run(seedmatrix(str(run_dir), "--no-wait", command="collect"))
    said = collected.stdout + collected.stderr
    assert collected.returncode == 1, said
    assert "submitted as Slurm job" not in said
    records = {r["repeat"]: r for r in json.loads((run_dir / "results.json").read_text())["records"]}
    assert records[1]["status"] == "ok"
    assert records[2]["status"] == "error"
    assert "Slurm no longer knows how task" in records[2]["stderr_tail"]
    assert "and it wrote no report" in records[2]["stderr_tail"]
    again = run(seedmatrix(str(run_dir), command="collect"))
    assert again.returncode == 1, again.stdout + again.stderr  # the report's own exit status
    assert "is finished: nothing to collect; its report, as it stands:" in again.stdout + again.stderr


def test_ctrl_c_during_collect_leaves_the_jobs_running(tmp_path: Path) -> None:
    needs_slurm()
    python = other_name_of_this_python()
    slow = slow_on_slurm(tmp_path / "slow.py", python, 120)
    cases = f"  - name: slow\n    script: {slow}\n"
    config = matrix_file(tmp_path / "m.yaml", [("on-a", "slurm: {partition: cpu-a}")], cases, python=python)
    detached = run(seedmatrix("--config", str(config), "--results", str(tmp_path / "results"), "--detach"))
    assert detached.returncode == 75, detached.stdout + detached.stderr
    [run_dir] = [path for path in (tmp_path / "results").iterdir() if path.is_dir() and path.name != "latest"]
    try:
        collect = subprocess.Popen(
            seedmatrix(str(run_dir), command="collect"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env={**os.environ, **NO_ENGINE},
        )  # fmt: skip
        assert collect.stdout is not None
        seen = ""
        for line in collect.stdout:
            seen += line
            if "already submitted by this run: waiting for them" in line:
                break
        time.sleep(1)
        collect.send_signal(signal.SIGINT)
        rest, _ = collect.communicate(timeout=120)
        said = " ".join((seen + rest).split())
        assert collect.returncode == 130, said
        assert "interrupted: the run's Slurm jobs go on (they were detached)" in said
        assert f"finish it with: seedmatrix collect {run_dir}" in said
        assert states_of(run_dir) <= {"PENDING", "RUNNING"}
        assert json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["state"] == "stopped"
    finally:
        subprocess.run(["scancel", f"--name=seedmatrix-{run_dir.name}"], check=False, timeout=60)


# Container environments on Slurm: tests/data/small.yaml's image environment (its image the engine
# has, or builds quickly), each repeat a fresh container of the node's engine; on this one-node
# cluster the node's engine is this machine's.
SMALL_IMAGE_ENVIRONMENT = '    debian: bookworm\n    python: "3.11"\n    numpy: "2.0.2"\n'
WITH_ENGINE = {"NO_COLOR": "1", "COLUMNS": "200"}


def image_matrix(
    path: Path, environments: Sequence[tuple[str, str]], cases: str, *, timeout: int = 300, head: str = ""
) -> Path:
    """A matrix of the small image environment under each name, with its `slurm:` line (or none:
    the Docker backend); `head`: more top-level keys (images_dir:)."""
    text = f"repeats: 2\ntimeout_seconds: {timeout}\nreference: {environments[0][0]}\n{head}environments:\n"
    for name, slurm in environments:
        text += f"  - name: {name}\n{SMALL_IMAGE_ENVIRONMENT}" + (f"    {slurm}\n" if slurm else "")
    path.write_text(text + "cases:\n" + cases, encoding="utf-8")
    return path


def node_containers(client: docker.DockerClient, run_dir: Path) -> list[str]:
    """The containers the run's tasks started on the node (labelled with the run's job name)."""
    selector: dict[str, str | list[str] | bool] = {
        "label": f"{container.RUN_LABEL}=seedmatrix-{run_dir.name}"
    }
    return [
        str(found.id) for found in client.containers.list(all=True, filters=selector, ignore_removed=True)
    ]


@pytest.mark.docker
def test_container_environments_in_two_partitions_give_the_verdicts_of_a_local_docker_run(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    needs_slurm()
    on_slurm = image_matrix(
        tmp_path / "slurm.yaml",
        [("on-a", "slurm: {partition: cpu-a}"), ("on-b", "slurm: {partition: cpu-b}")],
        CASES,
    )
    local = image_matrix(tmp_path / "local.yaml", [("on-a", ""), ("on-b", "")], CASES)
    here = run(
        seedmatrix("--config", str(local), "--results", str(tmp_path / "local")), 900, variables=WITH_ENGINE
    )
    started = time.monotonic()
    through_slurm = run(
        seedmatrix("--config", str(on_slurm), "--results", str(tmp_path / "slurm")),
        900,
        variables=WITH_ENGINE,
    )
    slurm_seconds = time.monotonic() - started
    said = through_slurm.stdout + through_slurm.stderr
    assert (through_slurm.returncode, here.returncode) == (1, 1), said + here.stdout + here.stderr
    assert verdicts_of(tmp_path / "slurm") == verdicts_of(tmp_path / "local")
    records = records_of(tmp_path / "slurm")
    assert len(records) == 16
    [image_id] = {record["ran_on"] for record in records_of(tmp_path / "local")}
    assert image_id.startswith("sha256:")
    for record in records:
        assert record["ran_on"] == image_id  # the very image built here ran on the node
        assert record["slurm"]["partition"] == {"on-a": "cpu-a", "on-b": "cpu-b"}[record["environment"]]
        assert record["slurm"]["node"]
        assert record["slurm"]["gpus"]["count"] == 0
        # A container: the process limit asked for was read back, as locally (a host task asks none).
        assert record["confinement"]["pids_requested"] == 512
        assert record["confinement"]["cpus_available"] == 1  # pinned to one of the node's CPUs
    assert len({record["slurm"]["job_id"] for record in records}) == 16  # a fresh task per repeat
    statuses = {(r["environment"], r["case"]): r["status"] for r in records}
    assert statuses[("on-b", "crash")] == "error"
    assert statuses[("on-a", "seed_numpy")] == "ok"
    assert all(record["slurm"] is None for record in records_of(tmp_path / "local"))
    run_dir = (tmp_path / "slurm" / "latest").resolve()
    assert node_containers(docker_client, run_dir) == []
    print(f"16 container repeats through Slurm in {slurm_seconds:.1f} s")  # the docs quote it (pytest -s)


@pytest.mark.docker
def test_a_container_task_over_its_slurm_time_limit_leaves_no_container(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    needs_slurm()
    cases = f"  - name: hang\n    script: {FAULTS / 'hang.py'}\n"
    config = image_matrix(tmp_path / "m.yaml", [("on-b", 'slurm: {partition: cpu-b, time: "1"}')], cases,
                          timeout=900)  # fmt: skip
    started = time.monotonic()
    process, run_dir, seen = start_run(config, tmp_path / "results", WITH_ENGINE)
    try:
        deadline = time.monotonic() + 120
        while not node_containers(docker_client, run_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert node_containers(docker_client, run_dir), "no container of the run was ever seen on the node"
        rest, _ = process.communicate(timeout=600)
    finally:
        process.kill()
        process.communicate()
    seconds = time.monotonic() - started
    assert process.returncode == 1, seen + rest
    records = records_of(tmp_path / "results")
    assert [r["status"] for r in records] == ["timeout", "timeout"]
    published = {path.name: path.stat().st_size for path in (run_dir / "slurm" / "on-b-1").iterdir()}
    for record in records:
        assert "Slurm stopped task" in record["stderr_tail"]
        assert "at its time limit (TIMEOUT)" in record["stderr_tail"]
        # The launcher's output, published on SIGTERM, not left for Slurm's SIGKILL to cut.
        assert record["output"].startswith("hanging now"), (record, published)
        assert "before Slurm ended it" not in record["stderr_tail"], (record, published)
        assert "the container was stopped and removed in" in record["stderr_tail"], (record, published)
    assert node_containers(docker_client, run_dir) == []  # removed before Slurm's SIGKILL
    print(f"2 container tasks over a 1-minute Slurm limit: {seconds:.1f} s")


@pytest.mark.docker
def test_a_node_whose_engine_lacks_the_image_id_is_an_error_record_naming_the_node(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    """The tasks are held until the image this run built is gone from the (node's) engine: an image
    of its own (a new identity), so no other test's image is touched."""
    needs_slurm()
    images_dir = new_identity_matrix(tmp_path, first_step="RUN true").parent / "images"
    cases = f"  - name: seed_random\n    script: {SEEDS / 'seed_random.py'}\n"
    config = image_matrix(tmp_path / "m.yaml", [("held", "slurm: {partition: cpu-a, extra: [--hold]}")],
                          cases, head=f"images_dir: {images_dir}\n")  # fmt: skip
    process, run_dir, seen = start_run(config, tmp_path / "results", WITH_ENGINE)
    [batch] = (run_dir / "slurm").iterdir()
    task = json.loads(json.loads((batch / "0.json").read_text(encoding="utf-8"))["command"][3])
    image_id = task["image"]["image_id"]
    try:
        docker_client.images.remove(image_id, force=True)
        subprocess.run(["scontrol", "release", (batch / "job").read_text(encoding="utf-8").strip()],
                       check=True, timeout=60)  # fmt: skip
        rest, _ = process.communicate(timeout=300)
    finally:
        process.kill()
        process.communicate()
        subprocess.run(["scancel", f"--name=seedmatrix-{run_dir.name}"], check=False, timeout=60)
    assert process.returncode == 1, seen + rest
    records = records_of(tmp_path / "results")
    assert [(r["status"], r["exit_code"]) for r in records] == [("error", 125), ("error", 125)]
    for record in records:
        node = record["slurm"]["node"]
        assert f"seedmatrix on node {node}: its engine has no image {image_id}" in record["stderr_tail"]
        assert record["ran_on"] == image_id
    assert node_containers(docker_client, run_dir) == []


@pytest.mark.docker
@pytest.mark.slow
def test_a_node_whose_engine_lacks_the_image_pulls_it_from_the_registry_and_runs_that_id(
    tmp_path: Path, docker_client: docker.DockerClient, request: pytest.FixtureRequest
) -> None:
    needs_slurm()
    served = str(request.getfixturevalue("registry"))  # test_registry's fixture, imported above
    images_dir = new_identity_matrix(tmp_path, first_step="RUN true").parent / "images"
    cases = f"  - name: seed_random\n    script: {SEEDS / 'seed_random.py'}\n"
    config = image_matrix(tmp_path / "m.yaml", [("held", "slurm: {partition: cpu-b, extra: [--hold]}")],
                          cases, head=f"images_dir: {images_dir}\n")  # fmt: skip
    process = subprocess.Popen(
        seedmatrix("--config", str(config), "--results", str(tmp_path / "results"), "--registry", served,
                   "--push"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **WITH_ENGINE},
    )  # fmt: skip
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if "submitted as Slurm job" in line:
            break
    run_dir = (tmp_path / "results" / "latest").resolve()
    [batch] = (run_dir / "slurm").iterdir()
    task = json.loads(json.loads((batch / "0.json").read_text(encoding="utf-8"))["command"][3])
    image_id = task["image"]["image_id"]
    try:
        docker_client.images.remove(image_id, force=True)  # pushed, then gone from the node's engine
        subprocess.run(["scontrol", "release", (batch / "job").read_text(encoding="utf-8").strip()],
                       check=True, timeout=60)  # fmt: skip
        rest, _ = process.communicate(timeout=300)
    finally:
        process.kill()
        process.communicate()
        subprocess.run(["scancel", f"--name=seedmatrix-{run_dir.name}"], check=False, timeout=60)
        # The tags --push and the node's pull left in the shared engine (the pulled image, ours, goes too).
        for tag in [tag for image in docker_client.images.list() for tag in image.tags]:
            if tag.startswith(f"{served}/"):
                docker_client.images.remove(tag)
    assert process.returncode == 0, seen + rest
    records = records_of(tmp_path / "results")
    assert [r["status"] for r in records] == ["ok", "ok"]
    for record in records:
        assert record["ran_on"] == image_id
        assert f"seedmatrix: pulled {served}/seedmatrix-env:" in record["stderr_tail"]
