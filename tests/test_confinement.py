"""Limits an engine does not enforce: the launcher reads back the CPUs and the memory limit from
inside, each record keeps them beside what was asked, and MATRIX.md says where they differ."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from seedmatrix.backends.docker import container
from seedmatrix.backends.docker.execute import run_in_container
from seedmatrix.backends.execute import RunContext, run_repeat, to_record
from seedmatrix.channel import Finished, Readback, new_boundary, read_report
from seedmatrix.limits import Limits, memory_bytes, not_enforced
from seedmatrix.plan import Cell
from seedmatrix.report import render
from seedmatrix.results import Build, Confinement, Record, Results, RunStatus
from seedmatrix.verdicts import derive

from builders import case, environment, float64_value, record, results

ROOT = Path(__file__).resolve().parent.parent
# The launcher runs as a script in images (Python 3.9, standard library); its helpers are tested here.
_SPEC = importlib.util.spec_from_file_location(
    "launch", ROOT / "runner" / "seedmatrix" / "inside" / "launch.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
launch = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(launch)

GIB = 1 << 30


def asked(**seen: object) -> Confinement:
    return Confinement(cpus_requested=1, memory_requested="4g", **seen)  # type: ignore[arg-type]


def texts(confinement: Confinement) -> list[str]:
    return [found.text for found in not_enforced(confinement)]


def test_limits_read_back_as_asked_say_nothing() -> None:
    assert texts(asked(cpus_available=1, memory_cgroup="v2", memory_limit=4 * GIB)) == []


def test_a_stricter_enclosing_memory_limit_is_enforced() -> None:
    assert texts(asked(cpus_available=1, memory_cgroup="v1", memory_limit=GIB)) == []


def test_more_cpus_than_asked_is_named_with_both_counts() -> None:
    assert texts(asked(cpus_available=8, memory_cgroup="v2", memory_limit=4 * GIB)) == [
        "1 CPU requested, 8 available"
    ]
    two = Confinement(
        cpus_requested=2, memory_requested="4g", cpus_available=3, memory_cgroup="v2", memory_limit=1
    )
    assert texts(two) == ["2 CPUs requested, 3 available"]


def test_no_memory_limit_or_a_larger_one_is_not_enforced() -> None:
    assert texts(asked(cpus_available=1, memory_cgroup="v2", memory_limit=None)) == [
        "memory limit not enforced (4g requested, no limit applied)"
    ]
    assert texts(asked(cpus_available=1, memory_cgroup="v1", memory_limit=4 * GIB + 4096)) == [
        "memory limit not enforced (4g requested, 4.0 GiB applied)"
    ]


def test_a_huge_limit_in_hand_made_results_is_named_not_a_crash() -> None:
    # results.json is read whole (any integer); a float of it overflows.
    [text] = texts(asked(cpus_available=1, memory_cgroup="v2", memory_limit=1 << 1100))
    assert text.startswith("memory limit not enforced (4g requested, ")


def containers(**seen: object) -> Confinement:
    """A container's repeat: CPUs and memory as asked, and a process limit of 512."""
    return asked(cpus_available=1, memory_cgroup="v1", memory_limit=4 * GIB, pids_requested=512, **seen)


def test_a_process_limit_not_applied_or_larger_is_not_enforced_and_unread_not_checked() -> None:
    assert texts(containers(pids_cgroup="v1", pids_limit=512)) == []
    assert texts(containers(pids_cgroup="v2", pids_limit=100)) == []  # stricter: enforced
    assert texts(containers(pids_cgroup="v1", pids_limit=None)) == [
        "process limit not enforced (512 requested, no limit applied)"
    ]
    assert texts(containers(pids_cgroup="v2", pids_limit=4096)) == [
        "process limit not enforced (512 requested, 4096 applied)"
    ]
    assert texts(containers()) == ["process limit not checked (512 requested)"]
    # A host process asks for none (and results from before the read-back said nothing of it).
    assert texts(asked(cpus_available=1, memory_cgroup="v1", memory_limit=GIB, pids_cgroup="v1")) == []


def test_what_was_not_read_back_is_not_checked_never_enforced() -> None:
    assert texts(asked()) == ["CPUs not checked (1 requested)", "memory limit not checked (4g requested)"]


@pytest.mark.parametrize(("memory", "expected"), [("512m", 512 << 20), ("4g", 4 * GIB), ("64k", 64 << 10)])
def test_memory_bytes_reads_docker_units(memory: str, expected: int) -> None:
    assert memory_bytes(memory) == expected


def report_with(confinement: object) -> bytes:
    header = {"exit_code": 0, "records_bytes": 0, "side_files": [], "confinement": confinement}
    return json.dumps(header).encode() + b"\n\n" + b"\n\0end\n"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ({"cpus": 2, "cgroup": "v2", "memory_limit": 1024}, Readback(cpus=2, cgroup="v2", memory_limit=1024)),
        ({"cpus": 2, "cgroup": "v1", "memory_limit": None}, Readback(cpus=2, cgroup="v1", memory_limit=None)),
        # A count that is not a positive integer is not read: "not checked" follows, never a guess.
        ({"cpus": True, "cgroup": "v2", "memory_limit": 1}, Readback(cpus=None, cgroup="v2", memory_limit=1)),
        ({"cpus": 1.0}, Readback(cpus=None)),
        ({"cpus": -1}, Readback(cpus=None)),
        ({"cpus": "1"}, Readback(cpus=None)),
        # A limit that is not a positive integer, or without its cgroup, leaves memory unread.
        ({"cpus": 1, "cgroup": "v2", "memory_limit": 0}, Readback(cpus=1)),
        ({"cpus": 1, "cgroup": "v2", "memory_limit": "4g"}, Readback(cpus=1)),
        ({"cpus": 1, "memory_limit": 1024}, Readback(cpus=1)),
        ({"cpus": 1, "cgroup": "v3", "memory_limit": 1024}, Readback(cpus=1)),
        # The process limit, read by the same rules and apart from the memory limit.
        (
            {"cpus": 1, "pids_cgroup": "v1", "pids_limit": None},
            Readback(cpus=1, pids_cgroup="v1", pids_limit=None),
        ),
        (
            {"cpus": 1, "pids_cgroup": "v2", "pids_limit": 512},
            Readback(cpus=1, pids_cgroup="v2", pids_limit=512),
        ),
        ({"cpus": 1, "pids_cgroup": "v2"}, Readback(cpus=1)),
        ({"cpus": 1, "pids_cgroup": "v1", "pids_limit": -5}, Readback(cpus=1)),
        ({"cpus": 1, "pids_limit": 512}, Readback(cpus=1)),
        ([1, 2], None),
        (None, None),
    ],
)
def test_the_read_back_in_a_hostile_report_is_taken_only_when_well_formed(
    sent: object, expected: Readback | None
) -> None:
    assert read_report(report_with(sent)).confinement == expected


def test_a_cgroup_without_its_limit_key_is_not_read_as_no_limit() -> None:
    # The launcher always writes "memory_limit" beside "cgroup" (null: no limit); a header that
    # leaves it out said nothing about the limit, so "no limit applied" would be a guess.
    assert read_report(report_with({"cpus": 1, "cgroup": "v2"})).confinement == Readback(cpus=1)


def limit_file(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="ascii")


def test_the_smallest_limit_up_the_cgroup_path_binds(tmp_path: Path) -> None:
    limit_file(tmp_path, "memory.max", "max")
    limit_file(tmp_path, "batch/memory.max", str(2 * GIB))
    limit_file(tmp_path, "batch/job/memory.max", "max")
    assert launch._smallest_limit("v2", str(tmp_path), "/batch/job", "memory.max") == ("v2", 2 * GIB)


def test_a_container_sees_its_own_cgroup_at_the_mount_root(tmp_path: Path) -> None:
    """Docker on cgroup v1 shares the host's cgroup namespace: /proc/self/cgroup names
    /docker/<id>, which is not under the mount; the limit is in the mount's root."""
    limit_file(tmp_path, "memory.limit_in_bytes", str(512 << 20))
    found = launch._smallest_limit("v1", str(tmp_path), "/docker/0123abcd", "memory.limit_in_bytes")
    assert found == ("v1", 512 << 20)


def test_no_limit_anywhere_is_none_and_nothing_readable_is_not_read(tmp_path: Path) -> None:
    limit_file(tmp_path, "memory.limit_in_bytes", "9223372036854771712")  # cgroup v1's "no limit"
    assert launch._smallest_limit("v1", str(tmp_path), "/", "memory.limit_in_bytes") == ("v1", None)
    assert launch._smallest_limit("v2", str(tmp_path / "absent"), "/a/b", "memory.max") is None
    limit_file(tmp_path / "garbage", "memory.max", "lots")
    assert launch._smallest_limit("v2", str(tmp_path / "garbage"), "/", "memory.max") is None


def test_a_cgroup_without_the_limit_file_is_the_root_and_has_no_limit(tmp_path: Path) -> None:
    # Rootless Docker on cgroup v1 leaves a container in the host's root pids cgroup ("pids:/"),
    # which has no pids.max: no limit there, not "not read".
    limit_file(tmp_path, "cgroup.procs", "1")
    assert launch._smallest_limit("v1", str(tmp_path), "/", "pids.max") == ("v1", None)
    # Its child's limit still binds, and a folder that is not a cgroup says nothing.
    limit_file(tmp_path, "job/pids.max", "512")
    assert launch._smallest_limit("v1", str(tmp_path), "/job", "pids.max") == ("v1", 512)
    assert launch._smallest_limit("v1", str(tmp_path / "job"), "/", "memory.max") is None


def test_a_level_present_but_unreadable_leaves_the_limit_unread_not_absent(tmp_path: Path) -> None:
    # The job's own level says "max"; its parent's file is there but cannot be read: a limit may
    # bind there, so "no limit applied" would be a guess.
    limit_file(tmp_path, "batch/memory.max", "4294967296 bytes")
    limit_file(tmp_path, "batch/job/memory.max", "max")
    assert launch._smallest_limit("v2", str(tmp_path), "/batch/job", "memory.max") is None


def test_a_cgroup_outside_the_namespace_root_is_not_read_as_that_roots(tmp_path: Path) -> None:
    # /proc/self/cgroup says /../elsewhere when the process sits outside its cgroup namespace's
    # root: the mount's root (a limit of 1 GiB here) is not one of its ancestors.
    limit_file(tmp_path, "memory.max", str(GIB))
    assert launch._smallest_limit("v2", str(tmp_path), "/../elsewhere", "memory.max") is None


def unconfined_results() -> Results:
    cpus = replace(
        record("roomy", "threads", 1, [float64_value("x", 1.0)]),
        confinement=asked(cpus_available=4, memory_cgroup="v2", memory_limit=4 * GIB),
    )
    memory = replace(
        record("roomy", "sums", 1, [float64_value("y", 2.0)]),
        confinement=asked(cpus_available=1, memory_cgroup="v2", memory_limit=None),
    )
    # No read-back (results from before it, a launcher that sent none): not checked.
    older = record("roomy", "older", 1, [float64_value("z", 3.0)], confinement=None)
    return results(
        [environment("roomy")],
        [case("threads"), case("sums"), case("older")],
        [cpus, memory, older],
        reference="roomy",
        repeats=1,
    )


def test_matrix_marks_a_cell_that_had_more_cpus_and_lists_every_limit_under_environments() -> None:
    run = unconfined_results()
    matrix = render(run, derive(run))
    threads = next(line for line in matrix.splitlines() if line.startswith("| [`threads`]"))
    sums = next(line for line in matrix.splitlines() if line.startswith("| [`sums`]"))
    assert threads.endswith("🔓 |")
    assert "🔓" not in sums  # memory does not change what the cell computed: listed, not marked
    assert "🔓 its repeats had more CPUs than the case asked for" in matrix
    assert (
        "- **roomy**: 1 CPU requested, 4 available: 1 repeat of threads; memory limit not enforced " in matrix
    )
    assert "(4g requested, no limit applied): 1 repeat of sums" in matrix
    assert "CPUs not checked (not read back): 1 repeat of older" in matrix
    assert "memory limit not checked (not read back): 1 repeat of older" in matrix


def test_a_repeat_without_a_read_back_has_its_limits_not_checked_never_taken_as_enforced() -> None:
    """Before: a record with no read-back said nothing, and its cell read as confined."""
    ran = record("e", "c", 1, [float64_value("x", 1.0)], confinement=None)
    crashed = record("e", "d", 1, [], status=RunStatus.ERROR, confinement=None)
    run = results([environment("e")], [case("c"), case("d")], [ran, crashed], reference="e", repeats=1)
    matrix = render(run, derive(run))
    row = next(line for line in matrix.splitlines() if line.startswith("| [`c`]"))
    assert row.endswith("🔓 |")
    assert "- **e**: CPUs not checked (not read back): 1 repeat of c; memory limit not checked " in matrix
    assert "repeat of d" not in matrix  # a failed repeat is not compared: its read-back says nothing more


def greeting_cell(tmp_path: Path, *, environment: str, host_python: str | None = None) -> Cell:
    """A one-repeat cell whose script prints a greeting (parsed as its value), with 512m asked."""
    (tmp_path / "script.py").write_text("print('hello')\n", encoding="utf-8")
    return Cell(
        environment=environment,
        case="c",
        script=tmp_path / "script.py",
        workdir=tmp_path,
        repeats=1,
        limits=Limits(timeout_seconds=120, memory="512m"),
        parse="(?P<greeting>hello)",
        host_python=host_python,
    )


@pytest.mark.docker
def test_a_container_reads_back_the_cpus_and_memory_limit_it_was_given(
    docker_client: docker.DockerClient, small_image: Build, run_label: str, tmp_path: Path
) -> None:
    tmp_path.chmod(0o755)  # mounted as the working directory; the script runs as nobody
    assert small_image.image_id is not None
    context = RunContext(
        client=docker_client,
        owner=container.Owner(run_id=run_label),
        host_environ={},
        identities={"small": small_image.image_id},
        jobs=1,
        cpu_ids=[0],
    )
    found = run_repeat(context, greeting_cell(tmp_path, environment="small"), 1, cpu_ids=[0])
    assert found.status is RunStatus.OK, found.stderr_tail
    assert found.confinement is not None
    assert found.confinement.cpus_available == 1
    assert found.confinement.memory_cgroup in ("v1", "v2")
    assert found.confinement.memory_limit == 512 << 20
    assert found.confinement.pids_requested == Limits(timeout_seconds=1).pids
    assert found.confinement.pids_cgroup in ("v1", "v2")
    assert found.confinement.pids_limit == found.confinement.pids_requested
    assert not_enforced(found.confinement) == ()


def test_a_host_process_reads_back_its_pinned_cpu_and_an_unenforced_memory_limit(tmp_path: Path) -> None:
    """The host backend applies no memory limit: a real run whose limit was not enforced."""
    cell = greeting_cell(tmp_path, environment="host", host_python=sys.executable)
    context = RunContext(
        client=None,
        owner=container.Owner(run_id="host-test"),
        host_environ=dict(os.environ),
        identities={"host": "host:test"},
        jobs=1,
        cpu_ids=[0],
    )
    found = run_repeat(context, cell, 1, cpu_ids=[0])
    assert found.status is RunStatus.OK, found.stderr_tail
    assert found.confinement is not None
    assert found.confinement.cpus_available == 1
    assert found.confinement.pids_requested is None  # no process limit asked: none to name
    readable = launch._cgroup_limit("memory", "memory.limit_in_bytes", "memory.max")
    if readable is None:
        pytest.skip("this machine's memory cgroup cannot be read, so there is no limit to compare")
    version, runner_limit = readable
    assert found.confinement.memory_cgroup == version
    assert found.confinement.memory_limit == runner_limit  # the runner's own cgroup: nothing added
    if runner_limit is not None and runner_limit <= 512 << 20:
        pytest.skip(f"this machine's cgroup allows only {runner_limit} bytes, less than asked")
    assert [f.text.split(" (")[0] for f in not_enforced(found.confinement)] == ["memory limit not enforced"]


def oom_file(root: Path, relative: str, kills: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"oom_kill_disable 0\nunder_oom 0\noom_kill {kills}\n", encoding="ascii")


def test_the_oom_count_is_read_from_our_own_cgroup_the_deepest_level_shown(tmp_path: Path) -> None:
    oom_file(tmp_path, "memory.oom_control", "7")  # the root: the host's count, or a container's own
    assert launch._oom_count("v1", str(tmp_path), "/docker/0123abcd") == 7
    oom_file(tmp_path, "batch/job/memory.oom_control", "2")
    assert launch._oom_count("v1", str(tmp_path), "/batch/job") == 2  # not its ancestors' 7
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "memory.events").write_text(
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n", encoding="ascii"
    )
    assert launch._oom_count("v2", str(tmp_path / "v2"), "/") == 1


@pytest.mark.parametrize(
    "text",
    [
        "oom_kill_disable 0\nunder_oom 0\n",  # kernels before 4.13 keep no count
        "oom_kill -1\n",
        "oom_kill 1 2\n",
        "oom_kill\n",
        "oom_kill 1\noom_kill 2\n",
    ],
)
def test_an_oom_count_that_is_not_one_plain_count_is_not_read(tmp_path: Path, text: str) -> None:
    (tmp_path / "memory.oom_control").write_text(text, encoding="ascii")
    assert launch._oom_count("v1", str(tmp_path), "/") is None
    assert launch._oom_count("v1", str(tmp_path / "absent"), "/") is None
    assert launch._oom_count("v1", str(tmp_path), "/../elsewhere") is None


@pytest.mark.parametrize(
    ("sent", "expected"), [(0, 0), (3, 3), (-1, None), (True, None), ("1", None), (1.0, None)]
)
def test_the_oom_count_in_a_report_is_taken_only_as_a_count(sent: object, expected: int | None) -> None:
    header = {"exit_code": 0, "records_bytes": 0, "side_files": [], "oom_kills": sent}
    assert read_report(json.dumps(header).encode() + b"\n\n" + b"\n\0end\n").oom_kills == expected


OWN_CGROUP = {"cpus": 1, "cgroup": "v1", "memory_limit": 512 << 20}  # a container's, with its limit
SHARED_CGROUP = {"cpus": 1, "cgroup": "v1", "memory_limit": None}  # a host session's: no limit


def ended(
    tmp_path: Path,
    *,
    script_exit: int,
    oom_kills: object,
    confinement: object = OWN_CGROUP,
    stopped_by: str | None = None,
) -> Record:
    """The record of a repeat whose engine said nothing of memory (Podman on cgroup v1, the host)."""
    header = {
        "exit_code": script_exit,
        "records_bytes": 0,
        "side_files": [],
        "oom_kills": oom_kills,
        "confinement": confinement,
        "stopped_by": stopped_by,
    }
    finished = Finished(
        exit_code=128 - script_exit if script_exit < 0 else script_exit,
        timed_out=False,
        oom_killed=False,
        seconds=1.0,
        stdout="",
        stderr="",
        report=json.dumps(header).encode() + b"\n\n" + b"\n\0end\n",
    )
    return to_record(greeting_cell(tmp_path, environment="podman"), 1, finished, ran_on="image")


def test_a_script_killed_by_sigkill_while_its_cgroup_counted_an_oom_kill_ran_out_of_memory(
    tmp_path: Path,
) -> None:
    found = ended(tmp_path, script_exit=-signal.SIGKILL, oom_kills=1)
    assert found.status is RunStatus.OUT_OF_MEMORY
    assert "killed by the kernel's OOM killer: 1 kill(s) counted" in found.stderr_tail


@pytest.mark.parametrize(
    ("script_exit", "oom_kills", "changes", "note"),
    [
        (-signal.SIGKILL, 0, {}, None),  # killed, but not by the OOM killer of its cgroup
        (-signal.SIGKILL, None, {}, None),  # the count was not read: no guess
        (-signal.SIGKILL, "1", {}, None),
        (1, 2, {}, "2 process(es) in the repeat's"),  # a child was killed; the script failed on its own
        # The launcher itself sent SIGKILL after Slurm's SIGTERM (preemption, a node failure): the
        # earlier OOM kill was of a process the script survived.
        (-signal.SIGKILL, 1, {"stopped_by": "SIGTERM"}, "1 process(es) in the repeat's"),
        # A host session's cgroup holds other processes too: their kills are not this repeat's.
        (-signal.SIGKILL, 1, {"confinement": SHARED_CGROUP}, "shares with other processes"),
        (-signal.SIGKILL, 1, {"confinement": None}, "shares with other processes"),
    ],
)
def test_without_every_sign_a_killed_script_is_an_error_not_out_of_memory(
    tmp_path: Path, script_exit: int, oom_kills: object, changes: dict[str, object], note: str | None
) -> None:
    found = ended(tmp_path, script_exit=script_exit, oom_kills=oom_kills, **changes)  # type: ignore[arg-type]
    assert found.status is RunStatus.ERROR
    assert ("OOM killer killed" in found.stderr_tail) is (note is not None)
    if note is not None:
        assert note in found.stderr_tail


@pytest.mark.docker
def test_a_script_over_the_memory_limit_is_seen_killed_from_inside_whatever_the_engine_says(
    docker_client: docker.DockerClient, small_image: Build, run_label: str, tmp_path: Path
) -> None:
    """Docker names the OOM kill itself; Podman on cgroup v1 does not (docs/podman.md), and there the
    launcher's count is what tells: `nox -s podman` runs this test against Podman."""
    limits = Limits(timeout_seconds=120, memory="128m")
    cell = replace(greeting_cell(tmp_path, environment="small"), limits=limits, parse=None)
    cell.script.write_text("blocks = [bytearray(16 << 20) for _ in range(64)]\n", encoding="utf-8")
    tmp_path.chmod(0o755)  # mounted as the working directory; the script runs as nobody
    assert small_image.image_id is not None
    finished = run_in_container(
        docker_client,
        container.Owner(run_id=run_label),
        cell,
        image=small_image.image_id,
        gpus=None,
        cpu_ids=[0],
        boundary=new_boundary(),
    )
    report = read_report(finished.report)
    assert report.exit_code == -signal.SIGKILL, finished.stderr
    assert report.oom_kills is not None
    assert report.oom_kills >= 1
    found = to_record(cell, 1, replace(finished, oom_killed=False), ran_on=small_image.image_id)
    assert found.status is RunStatus.OUT_OF_MEMORY
    assert "killed by the kernel's OOM killer" in found.stderr_tail
