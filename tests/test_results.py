"""The results store: one decoder, atomic files, per-record saving, latest, liveness, resume discovery."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seedmatrix.errors import ResultsError
from seedmatrix.files import atomic_write
from seedmatrix.results import SCHEMA, BuildStatus, Record, Results, RunState, decode, encode, results_schema
from seedmatrix.store import (
    RunDirectory,
    is_alive,
    latest_unfinished,
    load_results,
    read_results,
    resolve_run_directory,
)
from seedmatrix.values import Value

from builders import case, environment, float32_value, record, repeated, results


def sample() -> Results:
    return results(
        [environment("a"), environment("b", build=BuildStatus.FAILED, error="boom")],
        [case("c", requires=("numpy",), claim="stable")],
        repeated("a", "c", [float32_value("x", 0.1, -0.0)]),
    )


def test_json_round_trip_keeps_every_bit() -> None:
    original = sample()
    data = encode(original)
    assert json.loads(data)["schema"] == SCHEMA
    assert decode(Results, data, source="x") == original


def test_results_json_is_standard_json_even_with_non_finite_values() -> None:
    odd = Value(
        label="nan",
        dtype="float64",
        shape=(2,),
        bits=("7ff8000000000000", "7ff0000000000000"),
        values=("NaN", "Infinity"),
    )
    res = results(
        [environment("a")],
        [case("c")],
        [record("a", "c", 1, [odd], device={"kind": "CPU", "x": float("nan")})],
    )
    data = encode(res)
    json.loads(data, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert decode(Results, data, source="x").records[0].values[0] == odd


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "results.json: .*Invalid JSON"),
        (
            b'{"schema": "other/9"}',
            "expected seedmatrix results of schema 'seedmatrix/results/3', found schema 'other/9'",
        ),
        (b"[]", "results.json: .*"),
        (
            json.dumps({"schema": SCHEMA, "run_id": "x"}).encode(),
            r"results.json: \w+: Field required \(and \d+ more\)",
        ),
        (b'{"run_id": "x"}', "found no schema"),
    ],
)
def test_unreadable_results_are_explained(data: bytes, message: str) -> None:
    with pytest.raises(ResultsError, match=message):
        decode(Results, data, source="results.json")


def test_bits_that_do_not_fit_their_dtype_are_refused_when_read() -> None:
    broken = record(
        "a", "c", 1, [Value(label="x", dtype="float32", shape=(), bits=("not hex",), values=(1.0,))]
    )
    with pytest.raises(ResultsError, match="'x': 'not hex' is not float32 bits"):
        decode(Record, encode(broken), source="record.json")


@pytest.mark.parametrize(
    ("shape", "bits", "message"),
    [
        ((-1,), ("3f800000",), r"negative shape \[-1\]"),
        ((3,), ("3f800000",), r"shape \[3\] holds 3 element\(s\), not 1 bits"),
        ((), ("3f80",), "'3f80' is not float32 bits"),
    ],
)
def test_a_value_whose_shape_or_bits_do_not_match_is_refused_naming_its_record(
    shape: tuple[int, ...], bits: tuple[str, ...], message: str
) -> None:
    broken = Value(label="x", dtype="float32", shape=shape, bits=bits, values=(1.0,) * len(bits))
    stored = results([environment("a")], [case("c")], [record("a", "c", 2, [broken])])
    with pytest.raises(ResultsError, match=f"results.json: record a/c repeat 2: 'x': {message}"):
        decode(Results, encode(stored), source="results.json")
    with pytest.raises(ResultsError, match=f"record.json: record a/c repeat 2: 'x': {message}"):
        decode(Record, encode(stored.records[0]), source="record.json")


def test_a_repeat_recorded_twice_is_refused_when_read() -> None:
    # Two records of one repeat count as two repeats: the same values twice make a cell "stable"
    # whose second repeat never ran.
    once = record("a", "c", 1, [float32_value("x", 1.0)])
    stored = results([environment("a")], [case("c")], [once, once], repeats=2)
    with pytest.raises(ResultsError, match=r"results.json: record a/c repeat 1 is there twice"):
        decode(Results, encode(stored), source="results.json")


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom"])
def test_an_endless_results_file_is_refused_after_the_limit(source: str) -> None:
    code = (
        "import resource, sys; from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from seedmatrix.store import read_results\n"
        "from seedmatrix.errors import ResultsError\n"
        f"try:\n    read_results(Path({source!r}))\n"
        "except ResultsError as error:\n    print(error); sys.exit(5)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 5, finished.stderr
    assert "larger than 1,024 MiB" in finished.stdout


def test_a_json_schema_is_generated_for_results() -> None:
    schema = results_schema()
    assert schema["type"] == "object"
    assert {"run_id", "records", "environments", "state"} <= set(schema["properties"])


def test_records_are_saved_one_by_one_and_read_back(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path)
    first = record("a", "c", 1, [float32_value("x", 1.0)])
    second = record("a", "c", 2, [float32_value("x", 1.0)])
    run.save_record(first)
    run.save_record(second)
    assert run.load_records() == [first, second]
    assert not list(run.path.rglob("*.tmp"))


def test_two_runs_started_together_get_separate_directories(tmp_path: Path) -> None:
    assert RunDirectory.create(tmp_path).path != RunDirectory.create(tmp_path).path


def test_latest_points_at_the_newest_run_from_the_moment_it_starts(tmp_path: Path) -> None:
    older = RunDirectory.create(tmp_path)
    newer = RunDirectory.create(tmp_path)
    assert (tmp_path / "latest").resolve() == newer.path.resolve()
    older.mark_latest()  # an older run finishing later must not take `latest` back
    assert (tmp_path / "latest").resolve() == newer.path.resolve()
    newer.save_results(sample())
    assert resolve_run_directory(tmp_path).path == newer.path.resolve()
    assert resolve_run_directory(tmp_path / "latest").load_results() == sample()


def test_a_run_is_alive_while_its_process_holds_the_lock(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path)
    assert not is_alive(run.path)
    with run.held():
        assert is_alive(run.path)
        with pytest.raises(ResultsError, match="still running in another process"), run.held():
            pass
    assert not is_alive(run.path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
            "print(1, flush=True); time.sleep(60)",
            str(run.lock_file),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        assert is_alive(run.path)
        os.kill(holder.pid, 9)  # SIGKILL: the lock dies with the process
        holder.wait()
        assert not is_alive(run.path)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_resume_finds_the_newest_run_that_did_not_finish(tmp_path: Path) -> None:
    killed = RunDirectory.create(tmp_path)  # killed outright: no results.json at all
    finished = RunDirectory.create(tmp_path)
    finished.save_results(sample())
    assert latest_unfinished(tmp_path).path == killed.path.resolve()
    stopped = RunDirectory.create(tmp_path)
    stopped.save_results(dataclasses.replace(sample(), state=RunState.STOPPED))
    assert latest_unfinished(tmp_path).path == stopped.path.resolve()
    with stopped.held():  # still running: not a run to resume
        assert latest_unfinished(tmp_path).path == killed.path.resolve()


def test_resume_with_nothing_unfinished_is_explained(tmp_path: Path) -> None:
    RunDirectory.create(tmp_path).save_results(sample())
    with pytest.raises(ResultsError, match="no stopped run to resume"):
        latest_unfinished(tmp_path)


def test_resolving_a_missing_directory_or_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results directory"):
        resolve_run_directory(tmp_path / "nope")
    with pytest.raises(ResultsError, match=r"no results\.json here"):
        RunDirectory(tmp_path).load_results()
    with pytest.raises(ResultsError, match="no such results file"):
        load_results(tmp_path / "nope.json")
    with pytest.raises(ResultsError, match="cannot read results"):
        read_results(tmp_path / "nope.json")


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.txt"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text(encoding="utf-8") == "two"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_a_file_that_cannot_be_written_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"cannot write .*a-file/results.json: "):
        atomic_write(tmp_path / "a-file" / "results.json", "{}")
    directory = tmp_path / "results.json"  # the rename onto a directory fails after the write
    directory.mkdir()
    with pytest.raises(ResultsError, match=r"cannot write .*results.json: "):
        atomic_write(directory, "{}")
    assert sorted(tmp_path.iterdir()) == sorted([tmp_path / "a-file", directory])  # no temporary left


def test_results_that_validate_but_carry_another_schema_are_refused() -> None:
    other = dataclasses.replace(results([environment("a")], [case("c")], []), schema="seedmatrix/results/1")
    with pytest.raises(ResultsError, match="found schema 'seedmatrix/results/1'"):
        decode(Results, encode(other), source="results.json")


def test_schema_2_results_are_read_and_written_again_as_schema_3() -> None:
    """Schema 3 adds packed arrays (no bits in the record): a schema 2 reader would take two of them
    for equal, so new results carry 3; the committed schema 2 baselines are still read."""
    assert SCHEMA == "seedmatrix/results/3"
    example = Path(__file__).parent.parent / "examples" / "numpy-upgrade" / "baseline.json"
    assert json.loads(example.read_bytes())["schema"] == "seedmatrix/results/2"
    read = decode(Results, example.read_bytes(), source=str(example))
    assert read.records
    assert json.loads(encode(read))["schema"] == SCHEMA
