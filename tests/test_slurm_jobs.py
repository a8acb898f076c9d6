"""The Slurm backend's pure logic: end states, squeue and sacct lines, the sbatch command."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from test_channel_hostile import BITS, BOUNDARY, DIGEST, ONE, announced, report

from seedmatrix.backends.slurm.execute import (
    TASK_PROGRAM,
    SlurmQueue,
    _Task,
    _task_spec,
    submitted_as,
    unended,
)
from seedmatrix.backends.slurm.jobs import (
    Outcome,
    TaskState,
    job_name,
    outcome,
    parse_sacct,
    parse_squeue,
    sbatch_command,
    time_limit,
    waits_on_someone,
)
from seedmatrix.config import Slurm
from seedmatrix.errors import ResultsError
from seedmatrix.gpu import seen_by_task
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.results import RunStatus, TaskGpus


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("COMPLETED", Outcome.REPORTED),
        ("FAILED", Outcome.REPORTED),
        ("TIMEOUT", Outcome.TIMEOUT),
        ("DEADLINE", Outcome.TIMEOUT),
        ("OUT_OF_MEMORY", Outcome.OUT_OF_MEMORY),
        ("NODE_FAIL", Outcome.LOST),
        ("PREEMPTED", Outcome.LOST),
        ("BOOT_FAIL", Outcome.LOST),
        ("CANCELLED", Outcome.CANCELLED),
        ("CANCELLED by 1000", Outcome.CANCELLED),
        ("PENDING", None),
        ("RUNNING", None),
        ("COMPLETING", None),
        ("REQUEUED", None),
        ("SUSPENDED", None),
        ("", None),
        ("SOMETHING_NEW", None),
    ],
)
def test_end_states_map_to_how_the_record_is_made(state: str, expected: Outcome | None) -> None:
    assert outcome(state) is expected


def test_squeue_lines_are_tasks_and_other_lines_are_skipped() -> None:
    text = (
        "12|3|RUNNING|node7|gpu-a|None|on-a-1\n"
        "12|4|PENDING||gpu-a|Resources|on-a-1\n"
        "13|N/A|RUNNING|node1|cpu|None|someone-else\n"  # a job without an array
        "garbage\n"
    )
    tasks = parse_squeue(text)
    assert [(t.task_id, t.state, t.node, t.partition, t.reason, t.comment) for t in tasks] == [
        ("12_3", "RUNNING", "node7", "gpu-a", "None", "on-a-1"),
        ("12_4", "PENDING", "", "gpu-a", "Resources", "on-a-1"),
    ]


def test_a_comment_with_the_separator_does_not_shift_the_fields() -> None:
    assert parse_squeue("12|3|RUNNING|n|p|None|a|b\n") == []


def test_sacct_lines_are_tasks_and_pending_ranges_are_skipped() -> None:
    text = (
        "20_0|TIMEOUT|node2|gpu-b|None|on-b-1\n"
        "20_[1-3]|PENDING|None assigned|gpu-b|Priority|on-b-1\n"
        "21|COMPLETED|n|p|None|\n"
    )
    [task] = parse_sacct(text)
    assert (task.task_id, task.state, task.node, task.partition) == ("20_0", "TIMEOUT", "node2", "gpu-b")


def test_sbatch_command_carries_run_batch_and_every_setting(tmp_path: Path) -> None:
    slurm = Slurm(partition="gpu-a100", gres="gpu:a100:1", constraint="a100&nvlink", time="00:30:00",
                  account="seeds", extra=("--qos=short",))  # fmt: skip
    batch = tmp_path / "on-a-2"
    command = sbatch_command(
        slurm, job_name=job_name("RUN1"), batch_dir=batch, tasks=6, cpus=2, time="00:30:00",
        program=["/venv/bin/python", "/pkg/inside/slurm_task.py", str(batch)], wrapper=batch / "task.sh",
    )  # fmt: skip
    assert command == [
        "sbatch", "--parsable", "--job-name=seedmatrix-RUN1", "--comment=on-a-2", "--array=0-5",
        "--cpus-per-task=2", "--time=00:30:00", f"--chdir={batch}", f"--output={batch}/%a.log",
        "--partition=gpu-a100", "--gres=gpu:a100:1", "--constraint=a100&nvlink", "--account=seeds",
        "--qos=short", str(batch / "task.sh"), "/venv/bin/python", "/pkg/inside/slurm_task.py", str(batch),
    ]  # fmt: skip


def test_sbatch_command_leaves_out_what_is_not_given(tmp_path: Path) -> None:
    command = sbatch_command(
        Slurm(), job_name="seedmatrix-R", batch_dir=tmp_path, tasks=1, cpus=1, time="3",
        program=["python"], wrapper=tmp_path / "task.sh",
    )  # fmt: skip
    unset = ("--partition", "--gres", "--constraint", "--account")
    assert not any(part.startswith(unset) for part in command)
    assert "--array=0-0" in command


def test_time_limit_is_the_matrix_or_the_repeats_limit_with_a_margin() -> None:
    assert time_limit(Slurm(time="1-00:00:00"), 600) == "1-00:00:00"
    assert time_limit(Slurm(), 600) == "12"  # 600 s + 120 s margin = 12 minutes
    assert time_limit(Slurm(), 1) == "3"  # rounded up, never under the repeat's own limit


def _batch(
    root: Path, name: str, cell: Cell, *, ended: dict[str, object] | None, identity: str = "host:python-a"
) -> None:
    batch_dir = root / name
    batch_dir.mkdir(parents=True)
    manifest = {"environment": "e", "tasks": [["c", 1]], "submitted_as": [submitted_as(cell, identity)]}
    (batch_dir / "batch.json").write_text(json.dumps(manifest))
    (batch_dir / "0.json").write_text(json.dumps(_task_spec(cell, name.encode(), "seedmatrix-r", None)))
    (batch_dir / "job").write_text(str(11 + int(name.split("-")[1])))
    if ended is not None:
        (batch_dir / "0.ended.json").write_text(json.dumps(ended))


def _cell(tmp_path: Path, **changed: object) -> Cell:
    """A cell of a case in tmp_path/case (the run directory is tmp_path: not among its files)."""
    (tmp_path / "case").mkdir(exist_ok=True)
    return Cell(environment="e", case="c", script=tmp_path / "case" / "s.py", repeats=1,
                limits=Limits(timeout_seconds=60), workdir=tmp_path / "case", host_python=sys.executable,
                **changed)  # type: ignore[arg-type]  # fmt: skip


def _queue(tmp_path: Path, *, collecting: bool = False, identity: str = "host:python-a") -> SlurmQueue:
    return SlurmQueue(
        run_id="r", run_dir=tmp_path, settings={"e": Slurm(partition="p")}, identities={"e": identity},
        side_dir=None, on_record=lambda record: None, note=lambda line: None, collecting=collecting,
    )  # fmt: skip


SIGNALLED: dict[str, object] = {"exit_code": -15, "timed_out": False, "seconds": 1.0, "signal": 15}


def test_collect_waits_for_every_task_the_run_submitted_even_one_slurm_forgot(tmp_path: Path) -> None:
    # e-1's task published what it had after a signal, and Slurm forgot it: --resume runs the
    # repeat again; collect records it (an error with Slurm's word), submitting nothing.
    cell = _cell(tmp_path)
    _batch(tmp_path / "slurm", "e-1", cell, ended=SIGNALLED)
    assert _queue(tmp_path)._adopt([(cell, 1)], []) == {}
    adopted = _queue(tmp_path, collecting=True)._adopt([(cell, 1)], [])
    assert [task.batch_dir.name for task in adopted.values()] == ["e-1"]
    # One that left nothing at all (its node lost, Slurm's memory of it expired) is collected too.
    _batch(tmp_path / "slurm", "e-2", cell, ended=None)
    assert _queue(tmp_path)._adopt([(cell, 1)], []) == {}
    adopted = _queue(tmp_path, collecting=True)._adopt([(cell, 1)], [])
    assert [task.batch_dir.name for task in adopted.values()] == ["e-2"]  # the later submission


def test_the_later_submission_of_a_repeat_is_the_one_adopted_past_nine_batches(tmp_path: Path) -> None:
    """Newest first by number: by name, e-9 would come before e-10."""
    cell = _cell(tmp_path)
    _batch(tmp_path / "slurm", "e-9", cell, ended=SIGNALLED)
    _batch(tmp_path / "slurm", "e-10", cell, ended=None)
    adopted = _queue(tmp_path, collecting=True)._adopt([(cell, 1)], [])
    assert [task.batch_dir.name for task in adopted.values()] == ["e-10"]


def test_collect_refuses_a_task_submitted_with_another_command(tmp_path: Path) -> None:
    _batch(tmp_path / "slurm", "e-1", _cell(tmp_path), ended=None)
    edited = _cell(tmp_path, args=("--more",))
    with pytest.raises(ResultsError, match=r"cannot collect .*slurm/e-1: task 0 \(e / c #1\) was submitted "
                       r"with another command"):  # fmt: skip
        _queue(tmp_path, collecting=True)._adopt([(edited, 1)], [])


def test_unended_counts_the_runs_tasks_not_ended_by_state(tmp_path: Path) -> None:
    for name in ("e-1", "e-2"):
        (tmp_path / "slurm" / name).mkdir(parents=True)
        (tmp_path / "slurm" / name / "batch.json").write_text("{}")
    listed = parse_squeue(
        "12|0|PENDING||cpu-a|Resources|e-1\n"
        "12|1|RUNNING|n1|cpu-a|None|e-1\n"
        "12|2|COMPLETED|n1|cpu-a|None|e-1\n"
        "13|0|PENDING||cpu-a|JobHeldUser|e-2\n"
        "13|1|CANCELLED|n1|cpu-a|None|e-2\n"
        "14|0|RUNNING|n1|cpu-a|None|another-run\n"
    )
    assert unended(tmp_path, listed) == {"pending": 2, "running": 1}
    assert unended(tmp_path, []) == {}


def test_a_resumed_run_waits_for_the_live_task_not_one_its_own_ctrl_c_stopped(tmp_path: Path) -> None:
    # e-1's task was cancelled by this run's Ctrl-C and published what it had (a signal stopped
    # it); Slurm forgot it since. A later attempt, e-2, runs the same repeat: that one is waited
    # for. Adopting e-1's would make the repeat an error, or stop every --resume as "cancelled".
    root = tmp_path / "slurm"
    cell = _cell(tmp_path)
    _batch(root, "e-1", cell, ended=SIGNALLED)
    _batch(root, "e-2", cell, ended=None)
    queue = _queue(tmp_path)
    running = TaskState(job_id="13", index=0, state="RUNNING", node="n1", partition="p", reason="None",
                        comment="e-2")  # fmt: skip
    adopted = queue._adopt([(cell, 1)], [running])
    assert [task.batch_dir.name for task in adopted.values()] == ["e-2"]


def test_a_held_or_suspended_task_waits_on_someone_and_a_pending_one_does_not() -> None:
    held, by_admin, requeued, suspended, pending, running = parse_squeue(
        "12|0|PENDING||cpu-a|JobHeldUser|b\n"
        "12|1|PENDING||cpu-a|JobHeldAdmin|b\n"
        "13|0|REQUEUE_HOLD||cpu-a|None|b\n"
        "14|0|SUSPENDED|n1|cpu-a|None|b\n"
        "15|0|PENDING||cpu-a|Resources|b\n"
        "15|1|RUNNING|n1|cpu-a|None|b\n"
    )
    assert waits_on_someone(held) == (
        "held (PENDING, JobHeldUser): it runs only once released (`scontrol release 12`)"
    )
    assert "(PENDING, JobHeldAdmin)" in str(waits_on_someone(by_admin))
    assert waits_on_someone(requeued) == (
        "held (REQUEUE_HOLD): it runs only once released (`scontrol release 13`)"
    )
    assert waits_on_someone(suspended) == "suspended: it goes on only once resumed (`scontrol resume 14`)"
    assert waits_on_someone(pending) is None  # the scheduler runs it when there is room
    assert waits_on_someone(running) is None


# What /proc/driver/nvidia holds on a node (the layout gpu.host_gpus reads; values as the driver
# writes them, tabs and all).
VERSION = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)


def information(model: str, minor: int) -> str:
    return (
        f"Model: \t\t {model}\nIRQ:   \t\t 155\nGPU UUID: \t GPU-{minor}a2b3c4d-0000-1111-2222-333344445555\n"
        f"Bus Location: \t 0000:{minor:02x}:00.0\nDevice Minor: \t {minor}\nGPU Excluded:\t No\n"
    )


def node_gpus(root: Path, *models: str) -> Path:
    (root / "nvidia").mkdir(parents=True)
    (root / "nvidia" / "version").write_text(VERSION, encoding="utf-8")
    for minor, model in enumerate(models):
        (root / "nvidia" / "gpus" / f"0000:{minor:02x}:00.0").mkdir(parents=True)
        (root / "nvidia" / "gpus" / f"0000:{minor:02x}:00.0" / "information").write_text(
            information(model, minor), encoding="utf-8"
        )
    return root / "nvidia"


def read_on_node(root: Path, monkeypatch: pytest.MonkeyPatch, **given: str) -> dict[str, object]:
    """What inside/slurm_task.py reads on a node with the driver files under `root`."""
    spec = importlib.util.spec_from_file_location("slurm_task", TASK_PROGRAM)
    assert spec is not None
    assert spec.loader is not None
    task = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(task)
    for name in ("SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    read: dict[str, object] = task._gpus(str(root))
    return read


def test_a_cpu_only_node_reads_as_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = seen_by_task(read_on_node(tmp_path / "absent", monkeypatch))
    assert seen == TaskGpus(
        count=0, models=(), driver=None, detail="Slurm gave the job no GPU (GPUs on the node: none)"
    )
    # Slurm names GPUs, but the node has no driver to run them: still none.
    seen = seen_by_task(read_on_node(tmp_path / "absent", monkeypatch, CUDA_VISIBLE_DEVICES="0"))
    assert seen is not None
    assert seen.count == 0


def test_a_job_given_no_gpu_on_a_gpu_node_reads_as_no_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = node_gpus(tmp_path, "NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB")
    for given in ({}, {"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, {"CUDA_VISIBLE_DEVICES": ""}):
        seen = seen_by_task(read_on_node(root, monkeypatch, **given))
        assert seen is not None
        assert (seen.count, seen.models, seen.driver) == (0, (), "550.54.15")
        assert seen.detail == (
            "Slurm gave the job no GPU (GPUs on the node: NVIDIA A100-SXM4-80GB, NVIDIA A100-SXM4-80GB)"
        )


def test_the_gpus_slurm_gave_are_named_by_device_minor_or_uuid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = node_gpus(tmp_path, "NVIDIA A100", "NVIDIA H100 80GB HBM3", "NVIDIA A100")
    # SLURM_JOB_GPUS: the node's device numbers, whatever the job's own CUDA_VISIBLE_DEVICES says.
    seen = seen_by_task(read_on_node(root, monkeypatch, SLURM_JOB_GPUS="1", CUDA_VISIBLE_DEVICES="0"))
    assert seen == TaskGpus(
        count=1, models=("NVIDIA H100 80GB HBM3",), driver="550.54.15",
        detail="SLURM_JOB_GPUS=1 on a node with NVIDIA A100, NVIDIA H100 80GB HBM3, NVIDIA A100, "
        "driver 550.54.15",
    )  # fmt: skip
    uuid = "GPU-2a2b3c4d-0000-1111-2222-333344445555"
    seen = seen_by_task(read_on_node(root, monkeypatch, CUDA_VISIBLE_DEVICES=uuid))
    assert seen is not None
    assert (seen.count, seen.models) == (1, ("NVIDIA A100",))
    # Numbers counted within the job cannot be told apart on a mixed node: the count alone.
    seen = seen_by_task(read_on_node(root, monkeypatch, CUDA_VISIBLE_DEVICES="0,1"))
    assert seen is not None
    assert (seen.count, seen.models) == (2, ())


def test_on_a_node_of_one_model_its_model_is_known_however_slurm_names_the_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = node_gpus(tmp_path, "NVIDIA H200", "NVIDIA H200")
    seen = seen_by_task(read_on_node(root, monkeypatch, CUDA_VISIBLE_DEVICES="0"))
    assert seen is not None
    assert (seen.count, seen.models, seen.driver) == (1, ("NVIDIA H200",), "550.54.15")


def test_a_report_without_gpus_read_is_not_read() -> None:
    assert seen_by_task(None) is None  # a report of an older seedmatrix, or no report at all


def test_driver_files_there_but_unreadable_leave_the_gpus_not_read_never_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = node_gpus(tmp_path, "NVIDIA H200")
    [information] = root.glob("gpus/*/information")
    information.unlink()
    information.mkdir()  # read() fails with IsADirectoryError: there, but not readable
    read = read_on_node(root, monkeypatch, CUDA_VISIBLE_DEVICES="0")
    assert read["unreadable"]
    assert seen_by_task(read) is None
    (root / "version").unlink()
    (root / "version").mkdir()
    assert seen_by_task(read_on_node(root, monkeypatch)) is None  # not "Slurm gave the job no GPU"


def test_collect_refuses_a_task_whose_interpreter_or_case_files_changed_since_it_was_submitted(
    tmp_path: Path,
) -> None:
    """Its record would credit the interpreter (or script) as it is now with values the task made
    with the one it had: a queued task runs whatever the shared path holds when it starts."""
    cell = _cell(tmp_path)
    cell.script.write_text("print(1)\n", encoding="utf-8")
    _batch(tmp_path / "slurm", "e-1", cell, ended=None)
    assert list(_queue(tmp_path, collecting=True)._adopt([(cell, 1)], []))  # nothing changed: adopted
    with pytest.raises(ResultsError, match="another command, interpreter or case files"):
        _queue(tmp_path, collecting=True, identity="host:python-b")._adopt([(cell, 1)], [])
    cell.script.write_text("print(2)\n", encoding="utf-8")
    with pytest.raises(ResultsError, match="another command, interpreter or case files"):
        _queue(tmp_path, collecting=True)._adopt([(cell, 1)], [])
    # --resume submits such a repeat again instead of waiting for it.
    assert _queue(tmp_path)._adopt([(cell, 1)], []) == {}


def test_a_batch_written_without_what_it_was_submitted_as_is_not_adopted(tmp_path: Path) -> None:
    cell = _cell(tmp_path)
    _batch(tmp_path / "slurm", "e-1", cell, ended=None)
    manifest = tmp_path / "slurm" / "e-1" / "batch.json"
    manifest.write_text(json.dumps({"environment": "e", "tasks": [["c", 1]]}))
    with pytest.raises(ResultsError, match="another command, interpreter or case files"):
        _queue(tmp_path, collecting=True)._adopt([(cell, 1)], [])


def test_a_task_slurm_killed_before_it_published_keeps_its_text_and_never_its_report(tmp_path: Path) -> None:
    """Slurm's SIGKILL (past KillWait, a node's memory limit) can come after the launcher wrote its
    report and before the task renamed its output and wrote TASK.ended.json. What it printed is
    kept; the report, perhaps cut anywhere, is never read, even one that would parse whole."""
    cell = _cell(tmp_path)
    _batch(tmp_path / "slurm", "e-1", cell, ended=None)
    batch_dir = tmp_path / "slurm" / "e-1"
    written = report(announced(ONE, (DIGEST, 16)), ONE, BITS)  # "text\n", then a whole report
    (batch_dir / "0.log").write_text("slurmstepd: error: *** JOB 12 ON n1 CANCELLED DUE TO TIME LIMIT ***\n")
    task = _Task(cell=cell, repeat=1, batch_dir=batch_dir, index=0, boundary=BOUNDARY, future=Future())
    timed_out = TaskState(job_id="12", index=0, state="TIMEOUT", node="n1", partition="p", reason="None",
                          comment="e-1")  # fmt: skip
    # Published whole, the same bytes give the value: the report above is a good one.
    (batch_dir / "0.out").write_bytes(written)
    (batch_dir / "0.err").write_bytes(b"")
    (batch_dir / "0.ended.json").write_text(json.dumps({"exit_code": 0, "timed_out": False, "seconds": 1.0}))
    published = _queue(tmp_path)._record(task, replace(timed_out, state="COMPLETED"), Outcome.REPORTED)
    assert (published.status, len(published.values), published.output) == (RunStatus.OK, 1, "text\n")
    for name in ("0.out", "0.err", "0.ended.json"):
        (batch_dir / name).unlink()
    (batch_dir / "0.out.part").write_bytes(written)
    (batch_dir / "0.err.part").write_bytes(b"a warning the script printed\n")
    record = _queue(tmp_path)._record(task, timed_out, Outcome.TIMEOUT)
    assert (record.status, record.values, record.output) == (RunStatus.TIMEOUT, (), "text\n")
    assert record.stderr_tail.splitlines() == [
        "a warning the script printed",
        "slurmstepd: error: *** JOB 12 ON n1 CANCELLED DUE TO TIME LIMIT ***",
        "(Slurm stopped task 12_0 at its time limit (TIMEOUT))",
        "(the output is what task 12_0 wrote before Slurm ended it)",
    ]
    # Killed after it renamed its output and before it wrote its report: the renamed files are read.
    for name in ("0.out", "0.err"):
        (batch_dir / f"{name}.part").rename(batch_dir / name)
    renamed = _queue(tmp_path)._record(task, timed_out, Outcome.TIMEOUT)
    assert (renamed.status, renamed.values, renamed.output) == (RunStatus.TIMEOUT, (), "text\n")
    assert renamed.stderr_tail == record.stderr_tail
    for name in ("0.out", "0.err"):
        (batch_dir / name).rename(batch_dir / f"{name}.part")
    # One that wrote nothing before Slurm killed it says nothing of an output.
    for name in ("0.out.part", "0.err.part"):
        (batch_dir / name).unlink()
    bare = _queue(tmp_path)._record(task, timed_out, Outcome.TIMEOUT)
    assert (bare.status, bare.output) == (RunStatus.TIMEOUT, "")
    assert bare.stderr_tail.splitlines()[-1] == "(Slurm stopped task 12_0 at its time limit (TIMEOUT))"


def test_a_requeued_task_removes_what_its_earlier_attempt_published_before_it_runs(tmp_path: Path) -> None:
    """An earlier attempt's report would otherwise vouch for this attempt, should Slurm kill it
    before it publishes its own."""
    batch_dir = tmp_path / "e-1"
    batch_dir.mkdir()
    for name, text in (("0.ended.json", '{"exit_code": 0}'), ("0.out", "earlier\n"), ("0.err", "earlier\n")):
        (batch_dir / name).write_text(text)
    looks = "import os, sys; print(sorted(n for n in os.listdir(sys.argv[1]) if not n.endswith('.part')))"
    spec = {"command": [sys.executable, "-c", looks, str(batch_dir)], "cwd": str(tmp_path), "variables": {},
            "passed_through": [], "timeout_seconds": 60, "grace_seconds": 5}  # fmt: skip
    (batch_dir / "0.json").write_text(json.dumps(spec))
    ran = subprocess.run(
        [sys.executable, str(TASK_PROGRAM), str(batch_dir)], env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert (batch_dir / "0.out").read_text() == "['0.json']\n"  # while it ran: nothing of the earlier one
    assert json.loads((batch_dir / "0.ended.json").read_text())["exit_code"] == 0
    assert sorted(path.name for path in batch_dir.iterdir()) == ["0.ended.json", "0.err", "0.json", "0.out"]
