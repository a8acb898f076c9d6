"""The results store: JSON round trip, atomic files, per-record saving, the latest link."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedmatrix.errors import ResultsError
from seedmatrix.results import (
    SCHEMA,
    BuildStatus,
    Results,
    RunDirectory,
    atomic_write,
    from_json,
    resolve_run_directory,
    to_json,
)

from builders import case, environment, float32_value, record, repeated, results


def sample() -> Results:
    return results(
        [environment("a"), environment("b", build=BuildStatus.FAILED, error="boom")],
        [case("c", requires=("numpy",), claim="stable")],
        repeated("a", "c", [float32_value("x", 0.1, -0.0)]),
    )


def test_json_round_trip_keeps_every_bit() -> None:
    original = sample()
    text = to_json(original)
    assert json.loads(text)["schema"] == SCHEMA
    assert from_json(text, source="x") == original


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"schema": "other/9"}', "expected schema 'seedmatrix/results/1', found 'other/9'"),
        ("[]", "found 'list'"),
        (json.dumps({"schema": SCHEMA, "run_id": "x"}), "malformed results"),
    ],
)
def test_unreadable_results_are_explained(text: str, message: str) -> None:
    with pytest.raises(ResultsError, match=message):
        from_json(text, source="results.json")


def test_records_are_saved_one_by_one_and_read_back(tmp_path: Path) -> None:
    store = RunDirectory.create(tmp_path)
    first = record("a", "c", 1, [float32_value("x", 1.0)])
    second = record("a", "c", 2, [float32_value("x", 1.0)])
    store.save_record(first)
    store.save_record(second)
    assert store.load_records() == [first, second]
    assert not list(store.path.rglob("*.tmp"))


def test_two_runs_started_together_get_separate_directories(tmp_path: Path) -> None:
    assert RunDirectory.create(tmp_path).path != RunDirectory.create(tmp_path).path


def test_latest_follows_the_newest_marked_run(tmp_path: Path) -> None:
    older, newer = RunDirectory.create(tmp_path), RunDirectory.create(tmp_path)
    older.save_results(sample())
    newer.save_results(sample())
    older.mark_latest()
    newer.mark_latest()
    assert (tmp_path / "latest").resolve() == newer.path.resolve()
    assert resolve_run_directory(tmp_path).path == newer.path.resolve()
    assert resolve_run_directory(tmp_path / "latest").load_results() == sample()


def test_resolving_a_missing_directory_or_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results directory"):
        resolve_run_directory(tmp_path / "nope")
    with pytest.raises(ResultsError, match=r"no results\.json here"):
        RunDirectory(tmp_path).load_results()


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.txt"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text(encoding="utf-8") == "two"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]
