"""Baselines: did the upgrade change my numbers? Current results against stored ones."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seedmatrix.assemble import assemble
from seedmatrix.baseline import GATED, Change, against_baseline
from seedmatrix.compare import compare
from seedmatrix.config import load_matrix
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.plan import HostFacts, Selection, make_plan
from seedmatrix.report import Verdicts, render
from seedmatrix.results import Build, BuildStatus, Record, Results, RunState, RunStatus, SkippedCell
from seedmatrix.store import RunDirectory
from seedmatrix.values import NOT_WRITTEN, Packed, Value, check

from builders import case, environment, float32_value, record, repeated, results, unrecordable_value


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


def test_the_same_array_packed_now_and_element_by_element_in_the_baseline_is_unchanged(
    tmp_path: Path,
) -> None:
    """Before: a schema-2 baseline (the array recorded element by element) against the bit-identical
    array packed now read "changed" (gated, exit 1): the two forms were never compared by content."""
    array = np.arange(70_000, dtype=np.float32)
    big_endian = array.astype(">f4").tobytes()
    digest = hashlib.sha256(big_endian).hexdigest()
    (tmp_path / digest).write_bytes(big_endian)
    packed = Packed(sha256=digest, size=len(big_endian), path=tmp_path / digest)
    label, shape = "outputs/w.npy", (70_000,)
    now_value = Value(label=label, dtype="float32", shape=shape, bits=(), values=(), packed=packed)
    bits = tuple(big_endian[i : i + 4].hex() for i in range(0, len(big_endian), 4))
    then_value = Value(label=label, dtype="float32", shape=shape, bits=bits, values=("v",) * len(bits))
    now = results([environment("a")], [case("c")], repeated("a", "c", [check(now_value)]))
    then = results(
        [environment("a")],
        [case("c")],
        repeated("a", "c", [check(then_value)]),
        run_id="20261101T000000Z-000000",
    )
    (cell,) = against_baseline(now, then, source="baseline").cells
    assert cell.change is Change.UNCHANGED, cell.described
    changed = dataclasses.replace(then_value, bits=("3f800000", *bits[1:]))
    then = dataclasses.replace(then, records=tuple(repeated("a", "c", [check(changed)])))
    (cell,) = against_baseline(now, then, source="baseline").cells
    assert cell.change is Change.CHANGED, cell.described
    found = cell.changed["outputs/w.npy"]
    assert (found.differing, found.first_index, found.max_abs) == (1, (0,), 1.0)


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


# Under fail_on_change, values that vanished fail the gate like values that moved: the baseline had
# values for `b` (and the cell), this run has none.
HAD_VALUES = results([environment("app")], [case("c", requires=("numpy",))], stable_labels(a=1.0, b=2.0))


def now(records: list[Record], **changes: Any) -> Results:
    return dataclasses.replace(
        results([environment("app")], [case("c", requires=("numpy",))], records), **changes
    )


def self_skipped() -> list[Record]:
    return [
        dataclasses.replace(r, status=RunStatus.SKIPPED, skipped="needs a GPU")
        for r in repeated("app", "c", [])
    ]


def failed(status: RunStatus) -> list[Record]:
    return [record("app", "c", n, [], status=status) for n in (1, 2, 3)]


def not_written(label: str) -> Value:
    return dataclasses.replace(unrecordable_value(label, "the script did not write it"), dtype=NOT_WRITTEN)


VANISHED: dict[str, tuple[Results, str]] = {
    "the cell now skips itself": (
        now(self_skipped()),
        "values vanished: now skipped: the script skipped itself: needs a GPU",
    ),
    "the host skips it": (
        now([], skipped=(SkippedCell(environment="app", case="c", reason="needs 2 CPUs, this host has 1"),)),
        "now skipped: needs 2 CPUs, this host has 1",
    ),
    "an error": (now(failed(RunStatus.ERROR)), "now error"),
    "a timeout": (now(failed(RunStatus.TIMEOUT)), "now timeout"),
    "the environment lost the framework": (
        dataclasses.replace(
            HAD_VALUES, environments=(environment("app", frameworks=("tensorflow",)),), records=()
        ),
        "now not-applicable: needs numpy",
    ),
    "a label is now unrecordable": (
        now(repeated("app", "c", [float32_value("a", 1.0), unrecordable_value("b")])),
        "b now not recorded (cannot record a Foo)",
    ),
    "an output is no longer written": (
        now(repeated("app", "c", [float32_value("a", 1.0), not_written("b")])),
        "b now not recorded (the script did not write it)",
    ),
}


@pytest.mark.parametrize("how", list(VANISHED))
def test_values_that_vanished_are_a_change_the_gate_fails_on(how: str, tmp_path: Path) -> None:
    """Before: each of these was "not comparable", which fail_on_change passed."""
    current, said = VANISHED[how]
    [cell] = against_baseline(current, HAD_VALUES, source="b").cells
    assert cell.change in GATED
    assert said in cell.described
    before, after = RunDirectory.create(tmp_path / "a"), RunDirectory.create(tmp_path / "b")
    before.save_results(HAD_VALUES)
    after.save_results(current)
    assert report_job([after.path], Output(env={}), baseline=before.results_file, fail_on_change=True) == 1


def test_no_values_on_either_side_is_not_a_vanishing() -> None:
    unrecorded = now(repeated("app", "c", [float32_value("a", 1.0), unrecordable_value("b")]))
    [cell] = against_baseline(unrecorded, unrecorded, source="b").cells
    assert cell.change is Change.NOT_COMPARABLE  # `b` could not be compared, and it did not vanish
    assert "could not be recorded (not compared): b" in cell.note
    crashed = now(failed(RunStatus.ERROR))
    assert against_baseline(crashed, crashed, source="b").cells[0].change is Change.NOT_COMPARABLE
    assert against_baseline(HAD_VALUES, crashed, source="b").cells[0].change is Change.NOT_COMPARABLE


@pytest.mark.parametrize("where", ["case files", "installed projects"])
def test_a_changed_project_is_shown_as_such_not_blamed_on_the_pins(where: str) -> None:
    """Before: a case whose working directory, data or installed project changed read "changed",
    as if the pins had moved its numbers."""

    def run(digest: str | None, value: float) -> Results:
        made = results([environment("app")], [case("c")], stable_labels(a=value))
        if where == "case files":
            return dataclasses.replace(made, cases=(dataclasses.replace(made.cases[0], files_sha256=digest),))
        env = dataclasses.replace(made.environments[0], projects_sha256=digest)
        return dataclasses.replace(made, environments=(env,))

    before = run("1" * 64, 1.0)
    moved = against_baseline(run("2" * 64, 2.0), before, source="b").cells[0]
    assert moved.change is Change.PROJECT_CHANGED
    assert moved.change in GATED
    assert "the project changed since the baseline" in moved.note
    assert list(moved.changed) == ["a"]
    same_values = against_baseline(run("2" * 64, 1.0), before, source="b").cells[0]
    assert same_values.change is Change.UNCHANGED  # its numbers did not move: nothing to blame
    assert "the project changed since the baseline" in same_values.note
    same_project = against_baseline(run("1" * 64, 2.0), before, source="b").cells[0]
    assert same_project.change is Change.CHANGED
    unknown_then = against_baseline(run("2" * 64, 2.0), run(None, 1.0), source="b").cells[0]
    assert unknown_then.change is Change.CHANGED  # an older baseline did not record its project


def test_the_project_a_case_ran_with_is_recorded_by_content(tmp_path: Path) -> None:
    """What `project changed` compares: the working directory, the `data:` files (by content, not
    by modification time: a fresh checkout is not a change) and the `install:` projects."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "train.py").write_text("print(1)\n", encoding="utf-8")
    (tmp_path / "work" / "helper.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "train.csv").write_text("1,2\n", encoding="utf-8")
    (tmp_path / "matrix.yaml").write_text(
        "environments:\n"
        "  - {name: app, debian: bookworm, python: '3.11', numpy: '2.0.2', install: app}\n"
        "cases:\n"
        "  - {name: train, script: work/train.py, data: {train.csv: /data/train.csv}}\n",
        encoding="utf-8",
    )

    def recorded() -> tuple[str | None, str | None]:
        matrix = load_matrix(tmp_path / "matrix.yaml")
        made = assemble(
            matrix=matrix,
            plan=make_plan(matrix, Selection(), HostFacts(cpus=1)),
            builds={"app": Build(status=BuildStatus.CACHED, seconds=0.0)},
            records=[],
            run_id="r",
            started="2026-01-01T00:00:00Z",
            state=RunState.FINISHED,
            engine="test",
        )
        return made.environments[0].projects_sha256, made.cases[0].files_sha256

    first = recorded()
    assert None not in first
    os.utime(tmp_path / "train.csv", ns=(1, 1))
    assert recorded() == first  # touched, not changed
    (tmp_path / "train.csv").write_text("1,3\n", encoding="utf-8")
    data_changed = recorded()
    assert data_changed[0] == first[0]
    assert data_changed[1] != first[1]
    (tmp_path / "work" / "helper.py").write_text("x = 2\n", encoding="utf-8")
    assert recorded()[1] != data_changed[1]
    (tmp_path / "app" / "app.py").write_text("y = 1\n", encoding="utf-8")
    assert recorded()[0] != first[0]
