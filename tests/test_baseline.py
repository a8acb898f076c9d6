"""Baselines: did the upgrade change my numbers? Current results against stored ones."""

from __future__ import annotations

import struct
from pathlib import Path

from seedmatrix.baseline import Change, against_baseline
from seedmatrix.compare import compare
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.report import Verdicts, render
from seedmatrix.results import RunDirectory

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
    by_key = {(cell.environment, cell.case): cell for cell in comparison.cells}
    assert by_key["app", "steady"].change is Change.UNCHANGED
    moved = by_key["app", "moved"]
    assert moved.change is Change.CHANGED
    assert moved.changed_labels == ("x",)
    assert moved.max_ulps == 3
    assert moved.max_abs == up(0.5, 3) - 0.5
    assert by_key["app", "noisy"].change is Change.NOT_COMPARABLE
    assert by_key["added", "steady"].change is Change.NEW
    assert by_key["gone", "steady"].change is Change.MISSING
    assert comparison.count(Change.CHANGED) == 1


def test_identical_runs_are_unchanged_everywhere_they_are_stable() -> None:
    comparison = against_baseline(BEFORE, BEFORE, source="self")
    assert {cell.change for cell in comparison.cells} == {Change.UNCHANGED, Change.NOT_COMPARABLE}


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
    assert "- **app** · `moved`: `x`" in markdown


def test_report_job_takes_a_baseline_file(tmp_path: Path) -> None:
    before, after = RunDirectory.create(tmp_path / "a"), RunDirectory.create(tmp_path / "b")
    before.save_results(BEFORE)
    after.save_results(AFTER)
    assert report_job(after.path, Output(env={}), baseline=before.results_file) == 0
    assert "Δ changed" in after.matrix_file.read_text(encoding="utf-8")
