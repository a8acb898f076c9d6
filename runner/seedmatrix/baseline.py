"""Did the upgrade change my numbers? The current run against a stored one, per environment and case.

Environments and cases are matched by name, so keep an environment's name when you change its
pins and the baseline tells you what the new pins did to each seeded stream. A cell is "unchanged"
only when both runs recorded the same labels, no label went from stable to varying (or back), and
every stable value is bitwise equal; anything else is named. A case whose script changed says so,
so a difference is not blamed on the pins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .compare import WITH_VALUES, CellResult, CellState, Comparison, LabelState, compare, series_difference
from .results import Results
from .values import Difference


class Change(StrEnum):
    UNCHANGED = "unchanged"  # same labels, same stability, every stable value bitwise equal
    CHANGED = "changed"  # values differ, a label now varies (or no longer does), appeared or vanished
    SCRIPT_CHANGED = "script changed"  # the case's script is not the one the baseline ran
    NEW = "new"  # not in the baseline
    MISSING = "missing"  # in the baseline, not in this run
    NOT_COMPARABLE = "not comparable"  # no values on one side (error, skipped, build failed …)


#: Changes that a CI gate (`fail_on_change`) fails on. A cell that produced no values now fails the
#: run by itself; one that varies on both sides did not change.
GATED = frozenset({Change.CHANGED, Change.SCRIPT_CHANGED, Change.MISSING})


@dataclass(frozen=True, kw_only=True)
class BaselineCell:
    environment: str
    case: str
    change: Change
    changed: Mapping[str, Difference] = field(default_factory=dict)  # label → how its values moved
    now_varies: tuple[str, ...] = ()  # stable in the baseline, varying now
    now_stable: tuple[str, ...] = ()  # varying in the baseline, stable now
    gone: tuple[str, ...] = ()  # recorded in the baseline, not now
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
        parts += [(label, "newly recorded") for label in self.new_labels]
        return parts


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
    cells = []
    for cell in now.cells:
        old = before_cells.pop((cell.environment, cell.case), None)
        if cell.state is CellState.NOT_APPLICABLE and (old is None or old.state is CellState.NOT_APPLICABLE):
            continue
        script_changed = cell.case in scripts_then and scripts_then[cell.case] != scripts_now.get(cell.case)
        cells.append(_versus(cell, old, script_changed=script_changed))
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


def _versus(cell: CellResult, old: CellResult | None, *, script_changed: bool) -> BaselineCell:
    if old is None:
        return BaselineCell(environment=cell.environment, case=cell.case, change=Change.NEW)
    if cell.state not in WITH_VALUES or old.state not in WITH_VALUES:
        note = f"now {cell.state.value}, baseline {old.state.value}"
        change = Change.SCRIPT_CHANGED if script_changed else Change.NOT_COMPARABLE
        return BaselineCell(environment=cell.environment, case=cell.case, change=change, note=note)
    moves = _label_moves(cell, old)
    moved = moves.changed or moves.now_varies or moves.now_stable or moves.gone or moves.new_labels
    compared = len(cell.labels) - len(moves.new_labels) - len(moves.still_varies) - len(moves.unrecorded)
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
        new_labels=moves.new_labels,
        still_varies=moves.still_varies,
        note="; ".join(notes),
    )


@dataclass(frozen=True, kw_only=True)
class _Moves:
    changed: dict[str, Difference]
    now_varies: tuple[str, ...]
    now_stable: tuple[str, ...]
    still_varies: tuple[str, ...]
    unrecorded: tuple[str, ...]
    gone: tuple[str, ...]
    new_labels: tuple[str, ...]


def _label_moves(cell: CellResult, old: CellResult) -> _Moves:
    """Each label of a cell against the same label in the baseline's cell."""
    theirs = {label.label: label for label in old.labels}
    changed: dict[str, Difference] = {}
    kinds: dict[str, list[str]] = {"now_varies": [], "now_stable": [], "still_varies": [], "unrecorded": []}
    for label in cell.labels:
        other = theirs.get(label.label)
        if other is None:
            continue
        if LabelState.NOT_RECORDED in {label.state, other.state}:
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
        **{kind: tuple(names) for kind, names in kinds.items()},
        gone=tuple(name for name in theirs if name not in mine),
        new_labels=tuple(label.label for label in cell.labels if label.label not in theirs),
    )
