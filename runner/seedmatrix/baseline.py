"""Did the upgrade change my numbers? The current run against a stored one, per environment and case.

Environments and cases are matched by name, so keep an environment's name when you change its
pins and the baseline tells you what the new pins did to each seeded stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .compare import CellResult, CellState, Comparison, compare, difference_between
from .results import Results


class Change(StrEnum):
    UNCHANGED = "unchanged"  # every stable value bitwise equal to the baseline's
    CHANGED = "changed"  # some stable value differs (max |Δ| and ULPs given)
    NEW = "new"  # not in the baseline
    MISSING = "missing"  # in the baseline, not in this run
    NOT_COMPARABLE = "not comparable"  # no stable values on one side (error, varies, skipped …)


@dataclass(frozen=True, kw_only=True)
class BaselineCell:
    environment: str
    case: str
    change: Change
    changed_labels: tuple[str, ...] = ()
    max_abs: float | None = None
    max_ulps: int | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class BaselineComparison:
    baseline_run: str
    baseline_source: str
    cells: tuple[BaselineCell, ...]

    def count(self, change: Change) -> int:
        return sum(1 for cell in self.cells if cell.change is change)


def against_baseline(
    current: Results, baseline: Results, *, source: str, current_comparison: Comparison | None = None
) -> BaselineComparison:
    now = current_comparison or compare(current)
    before = compare(baseline)
    before_cells = {(c.environment, c.case): c for c in before.cells}
    cells = []
    for cell in now.cells:
        old = before_cells.pop((cell.environment, cell.case), None)
        if cell.state is CellState.NOT_APPLICABLE and (old is None or old.state is CellState.NOT_APPLICABLE):
            continue
        cells.append(_versus(cell, old))
    cells.extend(
        BaselineCell(environment=old.environment, case=old.case, change=Change.MISSING)
        for old in before_cells.values()
        if old.state is not CellState.NOT_APPLICABLE
    )
    return BaselineComparison(baseline_run=baseline.run_id, baseline_source=source, cells=tuple(cells))


def _versus(cell: CellResult, old: CellResult | None) -> BaselineCell:
    if old is None:
        return BaselineCell(environment=cell.environment, case=cell.case, change=Change.NEW)
    now_stable = {label.label: label for label in cell.labels if label.stable}
    old_stable = {label.label: label for label in old.labels if label.stable}
    shared = [name for name in now_stable if name in old_stable]
    if not shared:
        note = f"now {cell.state.value}, baseline {old.state.value}"
        return BaselineCell(
            environment=cell.environment, case=cell.case, change=Change.NOT_COMPARABLE, note=note
        )
    changed, max_abs, max_ulps = [], None, None
    for name in shared:
        difference = difference_between(now_stable[name].value, old_stable[name].value)
        if difference.equal:
            continue
        changed.append(name)
        if difference.max_abs is not None:
            max_abs = max(max_abs or 0.0, difference.max_abs)
        if difference.max_ulps is not None:
            max_ulps = max(max_ulps or 0, difference.max_ulps)
    only_one_side = sorted(set(now_stable) ^ set(old_stable))
    note = f"compared {len(shared)} stable label(s)" + (
        f"; not on both sides: {', '.join(only_one_side)}" if only_one_side else ""
    )
    return BaselineCell(
        environment=cell.environment,
        case=cell.case,
        change=Change.CHANGED if changed else Change.UNCHANGED,
        changed_labels=tuple(changed),
        max_abs=max_abs,
        max_ulps=max_ulps,
        note=note,
    )
