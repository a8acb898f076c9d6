"""Did the upgrade change my numbers? The current run against a stored one, per environment and case.

Environments and cases are matched by name, so keep an environment's name when you change its
pins and the baseline tells you what the new pins did to each seeded stream. A cell is "unchanged"
only when both runs recorded the same labels, no label went from stable to varying (or back), and
every stable value is bitwise equal; anything else is named. Values that vanished are a change too: a
cell with values in the baseline that now has none (it skips itself, is skipped, crashed, timed out,
is not applicable) and a label recorded in the baseline that cannot be recorded now. A case whose
script changed says so, and so does one whose project changed (its working directory, its `data:`
files or the environment's `install:` projects), so a difference is not blamed on the pins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .compare import WITH_VALUES, CellResult, CellState, Comparison, LabelState, compare, series_difference
from .results import Results
from .values import Difference


class Change(StrEnum):
    UNCHANGED = "unchanged"  # same labels, same stability, every stable value bitwise equal
    CHANGED = "changed"  # values differ or vanished, a label now varies (or no longer does) or appeared
    SCRIPT_CHANGED = "script changed"  # the case's script is not the one the baseline ran
    PROJECT_CHANGED = "project changed"  # values moved, and the project's files are not the baseline's
    NEW = "new"  # not in the baseline
    MISSING = "missing"  # in the baseline, not in this run
    NOT_COMPARABLE = "not comparable"  # no values on one side (error, skipped, build failed …)


#: Changes that a CI gate (`fail_on_change`) fails on. Values that vanished are CHANGED, so a cell
#: that stops producing them cannot pass the gate; one that varies on both sides did not change.
GATED = frozenset({Change.CHANGED, Change.SCRIPT_CHANGED, Change.PROJECT_CHANGED, Change.MISSING})


@dataclass(frozen=True, kw_only=True)
class BaselineCell:
    environment: str
    case: str
    change: Change
    changed: Mapping[str, Difference] = field(default_factory=dict)  # label → how its values moved
    now_varies: tuple[str, ...] = ()  # stable in the baseline, varying now
    now_stable: tuple[str, ...] = ()  # varying in the baseline, stable now
    gone: tuple[str, ...] = ()  # recorded in the baseline, not shown now
    now_unrecorded: Mapping[str, str] = field(default_factory=dict)  # recorded in the baseline, not now → why
    new_labels: tuple[str, ...] = ()  # recorded now, not in the baseline
    still_varies: tuple[str, ...] = ()  # varying on both sides: nothing to compare
    note: str = ""

    @property
    def named(self) -> list[tuple[str, str]]:
        """What changed, label by label: (label, what happened to it)."""
        parts = [(label, "values changed") for label in self.changed]
        parts += [(label, "now varies") for label in self.now_varies]
        parts += [(label, "no longer varies") for label in self.now_stable]
        parts += [(label, "no longer recorded") for label in self.gone]
        parts += [(label, f"now not recorded ({why})") for label, why in self.now_unrecorded.items()]
        parts += [(label, "newly recorded") for label in self.new_labels]
        return parts

    @property
    def gate_line(self) -> str:
        """The change and what changed, as the gate's message and junit.xml say it."""
        return self.change.value + (f" ({self.described})" if self.described else "")

    @property
    def described(self) -> str:
        """What changed in one line, for the gate's message and junit.xml."""
        return "; ".join(
            [*(f"{label} {what}" for label, what in self.named), *([self.note] if self.note else [])]
        )


@dataclass(frozen=True, kw_only=True)
class BaselineComparison:
    baseline_run: str
    baseline_source: str
    cells: tuple[BaselineCell, ...]

    def count(self, change: Change) -> int:
        return sum(1 for cell in self.cells if cell.change is change)

    @property
    def gated(self) -> tuple[BaselineCell, ...]:
        return tuple(cell for cell in self.cells if cell.change in GATED)


def against_baseline(
    current: Results, baseline: Results, *, source: str, current_comparison: Comparison | None = None
) -> BaselineComparison:
    now = current_comparison or compare(current)
    before = compare(baseline)
    before_cells = {(c.environment, c.case): c for c in before.cells}
    scripts_then = {case.name: case.script_sha256 for case in baseline.cases}
    scripts_now = {case.name: case.script_sha256 for case in current.cases}
    projects = _Projects.of(baseline), _Projects.of(current)
    cells = []
    for cell in now.cells:
        old = before_cells.pop((cell.environment, cell.case), None)
        if cell.state is CellState.NOT_APPLICABLE and (old is None or old.state is CellState.NOT_APPLICABLE):
            continue
        script_changed = cell.case in scripts_then and scripts_then[cell.case] != scripts_now.get(cell.case)
        found = _versus(cell, old, script_changed=script_changed)
        if not script_changed and _project_changed(*projects, cell.environment, cell.case):
            found = _blame_the_project(found)
        cells.append(found)
    # A cell this run left out by choice (--environment, --case, a shard) is not missing.
    selected_out = {
        (env, case)
        for env in current.matrix_environments
        for case in current.matrix_cases
        if not current.has_environment(env) or case not in scripts_now
    }
    cells.extend(
        BaselineCell(environment=old.environment, case=old.case, change=Change.MISSING)
        for old in before_cells.values()
        if old.state is not CellState.NOT_APPLICABLE and (old.environment, old.case) not in selected_out
    )
    return BaselineComparison(baseline_run=baseline.run_id, baseline_source=source, cells=tuple(cells))


@dataclass(frozen=True, kw_only=True)
class _Projects:
    """A run's project digests: installed projects by environment, case files by case."""

    installed: Mapping[str, str | None]
    files: Mapping[str, str | None]

    @classmethod
    def of(cls, results: Results) -> _Projects:
        return cls(
            installed={env.name: env.projects_sha256 for env in results.environments},
            files={case.name: case.files_sha256 for case in results.cases},
        )


def _project_changed(then: _Projects, now: _Projects, environment: str, case: str) -> bool:
    """The case's files or the environment's installed projects differ from the baseline's (where
    both runs recorded them: older results did not)."""
    pairs = (
        (then.installed.get(environment), now.installed.get(environment)),
        (then.files.get(case), now.files.get(case)),
    )
    return any(before is not None and after is not None and before != after for before, after in pairs)


def _blame_the_project(cell: BaselineCell) -> BaselineCell:
    """A cell whose project changed: moved values are the project's change, not the pins'."""
    note = "; ".join(filter(None, ["the project changed since the baseline", cell.note]))
    change = Change.PROJECT_CHANGED if cell.change is Change.CHANGED else cell.change
    return replace(cell, change=change, note=note)


def _versus(cell: CellResult, old: CellResult | None, *, script_changed: bool) -> BaselineCell:
    if old is None:
        return BaselineCell(environment=cell.environment, case=cell.case, change=Change.NEW)
    if cell.state not in WITH_VALUES and _had_values(old):
        note = f"values vanished: now {cell.state.value}" + (f": {cell.detail}" if cell.detail else "")
        change = Change.SCRIPT_CHANGED if script_changed else Change.CHANGED
        return BaselineCell(environment=cell.environment, case=cell.case, change=change, note=note)
    if cell.state not in WITH_VALUES or old.state not in WITH_VALUES:
        note = f"now {cell.state.value}, baseline {old.state.value}"
        change = Change.SCRIPT_CHANGED if script_changed else Change.NOT_COMPARABLE
        return BaselineCell(environment=cell.environment, case=cell.case, change=change, note=note)
    moves = _label_moves(cell, old)
    moved = (
        moves.changed
        or moves.now_varies
        or moves.now_stable
        or moves.gone
        or moves.now_unrecorded
        or moves.new_labels
    )
    uncompared = (
        len(moves.new_labels) + len(moves.still_varies) + len(moves.unrecorded) + len(moves.now_unrecorded)
    )
    compared = len(cell.labels) - uncompared
    if script_changed:
        change = Change.SCRIPT_CHANGED
    elif moved:
        change = Change.CHANGED
    elif moves.unrecorded or compared == 0:
        change = Change.NOT_COMPARABLE  # what could not be compared cannot be called unchanged
    else:
        change = Change.UNCHANGED
    notes = []
    if script_changed:
        notes.append("the script changed since the baseline")
    if moves.still_varies:
        notes.append(f"varies on both sides (not compared): {', '.join(moves.still_varies)}")
    if moves.unrecorded:
        notes.append(f"could not be recorded (not compared): {', '.join(moves.unrecorded)}")
    return BaselineCell(
        environment=cell.environment,
        case=cell.case,
        change=change,
        changed=moves.changed,
        now_varies=moves.now_varies,
        now_stable=moves.now_stable,
        gone=moves.gone,
        now_unrecorded=moves.now_unrecorded,
        new_labels=moves.new_labels,
        still_varies=moves.still_varies,
        note="; ".join(notes),
    )


def _had_values(cell: CellResult) -> bool:
    """The cell recorded something its labels can be compared on (not only unrecordable values)."""
    return cell.state in WITH_VALUES and any(
        label.state is not LabelState.NOT_RECORDED for label in cell.labels
    )


@dataclass(frozen=True, kw_only=True)
class _Moves:
    changed: dict[str, Difference]
    now_varies: tuple[str, ...]
    now_stable: tuple[str, ...]
    still_varies: tuple[str, ...]
    unrecorded: tuple[str, ...]  # not recorded in the baseline (nor perhaps now): nothing vanished
    now_unrecorded: dict[str, str]  # recorded in the baseline, not now → why
    gone: tuple[str, ...]
    new_labels: tuple[str, ...]


def _label_moves(cell: CellResult, old: CellResult) -> _Moves:
    """Each label of a cell against the same label in the baseline's cell."""
    theirs = {label.label: label for label in old.labels}
    changed: dict[str, Difference] = {}
    now_unrecorded: dict[str, str] = {}
    kinds: dict[str, list[str]] = {"now_varies": [], "now_stable": [], "still_varies": [], "unrecorded": []}
    for label in cell.labels:
        other = theirs.get(label.label)
        if other is None:
            continue
        if label.state is LabelState.NOT_RECORDED and other.state is not LabelState.NOT_RECORDED:
            now_unrecorded[label.label] = label.not_recorded_note or label.reason
        elif LabelState.NOT_RECORDED in {label.state, other.state}:
            kinds["unrecorded"].append(label.label)
        elif label.single and other.single:
            found = series_difference(label.value, other.value)
            if not found.equal:
                changed[label.label] = found
        elif other.single:
            kinds["now_varies"].append(label.label)
        elif label.single:
            kinds["now_stable"].append(label.label)
        else:
            kinds["still_varies"].append(label.label)
    mine = {label.label for label in cell.labels}
    return _Moves(
        changed=changed,
        now_unrecorded=now_unrecorded,
        **{kind: tuple(names) for kind, names in kinds.items()},
        gone=tuple(name for name in theirs if name not in mine),
        new_labels=tuple(label.label for label in cell.labels if label.label not in theirs),
    )
