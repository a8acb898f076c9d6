"""Baselines: did the upgrade change my numbers? Current results against stored ones."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from seedmatrix.baseline import Change, against_baseline
from seedmatrix.compare import compare
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.report import Verdicts, render
from seedmatrix.results import Record
from seedmatrix.store import RunDirectory

from builders import case, environment, float32_value, record, repeated, results


def up(value: float, ulps: int) -> float:
    bits = struct.unpack(">I", struct.pack(">f", value))[0]
    return float(struct.unpack(">f", struct.pack(">I", bits + ulps))[0])


BEFORE = results(
    [environment("app"), environment("gone")],
    [case("steady"), case("moved"), case("noisy")],
    repeated("app", "steady", [float32_value("x", 1.0, 2.0)])
    + repeated("app", "moved", [float32_value("x", 0.5), float32_value("y", 3.0)])
    + [record("app", "noisy", n, [float32_value("x", float(n))]) for n in (1, 2, 3)]
    + repeated("gone", "steady", [float32_value("x", 1.0, 2.0)]),
)
AFTER = results(
    [environment("app"), environment("added")],
    [case("steady"), case("moved"), case("noisy")],
    repeated("app", "steady", [float32_value("x", 1.0, 2.0)])
    + repeated("app", "moved", [float32_value("x", up(0.5, 3)), float32_value("y", 3.0)])
    + [record("app", "noisy", n, [float32_value("x", float(n))]) for n in (1, 2, 3)]
    + repeated("added", "steady", [float32_value("x", 1.0, 2.0)])
    + repeated("added", "moved", [float32_value("x", 0.5)])
    + repeated("added", "noisy", [float32_value("x", 0.5)]),
)


def test_each_kind_of_change_is_found() -> None:
    comparison = against_baseline(AFTER, BEFORE, source="before.json")
    cells = {(cell.environment, cell.case): cell for cell in comparison.cells}
    assert cells["app", "steady"].change is Change.UNCHANGED
    moved = cells["app", "moved"]
    assert moved.change is Change.CHANGED
    assert list(moved.changed) == ["x"]
    assert moved.changed["x"].max_ulps == 3
    assert moved.changed["x"].max_abs == up(0.5, 3) - 0.5
    assert cells["app", "noisy"].change is Change.NOT_COMPARABLE  # varies on both sides: nothing compared
    assert cells["added", "steady"].change is Change.NEW
    assert cells["gone", "steady"].change is Change.MISSING
    assert comparison.count(Change.CHANGED) == 1


def stable_labels(**labels: float) -> list[Record]:
    return repeated("app", "c", [float32_value(name, value) for name, value in labels.items()])


def test_a_label_that_now_varies_vanished_or_appeared_is_never_unchanged() -> None:
    """Before: only labels stable on both sides were compared, so any of these read "unchanged"."""
    before = results([environment("app")], [case("c")], stable_labels(a=1.0, b=2.0, c=3.0))
    varying_b = [
        record(
            "app", "c", n, [float32_value("a", 1.0), float32_value("b", float(n)), float32_value("c", 3.0)]
        )
        for n in (1, 2, 3)
    ]
    cell = against_baseline(results([environment("app")], [case("c")], varying_b), before, source="b").cells[
        0
    ]
    assert (cell.change, cell.now_varies) == (Change.CHANGED, ("b",))
    gone = against_baseline(
        results([environment("app")], [case("c")], stable_labels(a=1.0, b=2.0)), before, source="b"
    ).cells[0]
    assert (gone.change, gone.gone) == (Change.CHANGED, ("c",))
    added = against_baseline(
        results([environment("app")], [case("c")], stable_labels(a=1.0, b=2.0, c=3.0, d=4.0)),
        before,
        source="b",
    ).cells[0]
    assert (added.change, added.new_labels) == (Change.CHANGED, ("d",))
    assert added.named == [("d", "newly recorded")]


def test_a_changed_script_is_shown_as_such_not_blamed_on_the_pins() -> None:
    before = results([environment("app")], [case("c")], stable_labels(a=1.0))
    after = results([environment("app")], [case("c", script_sha256="f" * 64)], stable_labels(a=2.0))
    cell = against_baseline(after, before, source="b").cells[0]
    assert cell.change is Change.SCRIPT_CHANGED
    assert "the script changed since the baseline" in cell.note
    unchanged_values = results(
        [environment("app")], [case("c", script_sha256="f" * 64)], stable_labels(a=1.0)
    )
    assert against_baseline(unchanged_values, before, source="b").cells[0].change is Change.SCRIPT_CHANGED


def test_identical_runs_are_unchanged_where_anything_was_compared() -> None:
    comparison = against_baseline(BEFORE, BEFORE, source="self")
    assert {(cell.environment, cell.case, cell.change) for cell in comparison.cells} == {
        ("app", "steady", Change.UNCHANGED),
        ("app", "moved", Change.UNCHANGED),
        ("app", "noisy", Change.NOT_COMPARABLE),  # varies on both sides: nothing to compare
        ("gone", "steady", Change.UNCHANGED),
        ("gone", "moved", Change.NOT_COMPARABLE),  # no records on either side
        ("gone", "noisy", Change.NOT_COMPARABLE),
    }


def test_report_has_a_baseline_section() -> None:
    comparison = compare(AFTER)
    baseline = against_baseline(AFTER, BEFORE, source="before.json", current_comparison=comparison)
    markdown = render(AFTER, Verdicts(comparison=comparison, baseline=baseline))
    assert (
        "**Baseline:** against run `20261125T000000Z-abcdef` (before.json): 1 unchanged, 1 changed"
        in markdown
    )
    assert "## Against the baseline" in markdown
    assert "| `moved` | Δ changed (max \\|Δ\\| 1.79e-07, 3 ULP) |" in markdown
    assert "- **app** · `moved`: `x` values changed" in markdown


def test_report_job_takes_a_baseline_file(tmp_path: Path) -> None:
    before, after = RunDirectory.create(tmp_path / "a"), RunDirectory.create(tmp_path / "b")
    before.save_results(BEFORE)
    after.save_results(dataclasses.replace(AFTER))
    assert report_job([after.path], Output(env={}), baseline=before.results_file) == 0
    assert "Δ changed" in after.matrix_file.read_text(encoding="utf-8")


def test_fail_on_change_exits_1_and_lists_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = RunDirectory.create(tmp_path / "a"), RunDirectory.create(tmp_path / "b")
    before.save_results(BEFORE)
    after.save_results(AFTER)
    assert report_job([after.path], Output(env={}), baseline=before.results_file) == 0
    assert report_job([after.path], Output(env={}), baseline=before.results_file, fail_on_change=True) == 1
    said = capsys.readouterr().err
    assert "cell(s) changed against the baseline (fail_on_change)" in said
    assert "app / moved: changed (x values changed)" in said
    after.save_results(dataclasses.replace(AFTER, fail_on_change=True))  # or `fail_on_change: true`
    assert report_job([after.path], Output(env={}), baseline=before.results_file) == 1
    clean = results(
        [environment("app")], [case("steady")], repeated("app", "steady", [float32_value("x", 1.0)])
    )
    old, same = RunDirectory.create(tmp_path / "c"), RunDirectory.create(tmp_path / "d")
    old.save_results(clean)
    same.save_results(dataclasses.replace(clean, fail_on_change=True))
    assert report_job([same.path], Output(env={}), baseline=old.results_file) == 0  # nothing changed


def test_cells_left_out_by_choice_are_not_missing() -> None:
    """A run of some environments or cases (--environment, --case, a shard) is compared on those only."""
    part = dataclasses.replace(
        results(
            [environment("app")], [case("steady")], repeated("app", "steady", [float32_value("x", 1.0, 2.0)])
        ),
        matrix_environments=("app", "gone"),
        matrix_cases=("steady", "moved", "noisy"),
    )
    comparison = against_baseline(part, BEFORE, source="before.json")
    assert [(c.environment, c.case, c.change) for c in comparison.cells] == [
        ("app", "steady", Change.UNCHANGED)
    ]
    renamed = dataclasses.replace(part, matrix_environments=("app",))
    assert ("gone", "steady", Change.MISSING) in {
        (c.environment, c.case, c.change) for c in against_baseline(renamed, BEFORE, source="b").cells
    }
