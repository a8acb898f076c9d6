"""Where a cell's values first part: between its repeats, and from the reference environment.

"First" is program order: the order in which the script first showed its labels (values parsed
from its output, then its output files' arrays, follow in the order they are declared). A traced
model shows its layers' outputs, the loss and the gradients in the order they were computed, so
the first label that differs is the first place the numbers changed.

Pure functions over a `Comparison`. A label that could not be compared (it varies on the other
side, or could not be recorded) before the first one found is named: the divergence may have
started there, and the report says so rather than guess.
"""

from __future__ import annotations

from .compare import (
    WITH_VALUES,
    CellResult,
    CellState,
    Comparison,
    LabelResult,
    LabelState,
    Versus,
    series_difference,
)
from .results import Between, Divergence, ProfileRow


def divergences(comparison: Comparison) -> tuple[Divergence, ...]:
    """The first divergence of every cell that varies between repeats or differs from the reference."""
    found: list[Divergence | None] = []
    for cell in comparison.cells:
        if cell.state is CellState.VARIES:
            found.append(_between_repeats(cell))
        if cell.versus is Versus.DIFFERENT and (comparison.reference, cell.case) in comparison.keys:
            found.append(_from_reference(cell, comparison.cell(comparison.reference, cell.case)))
    return tuple(divergence for divergence in found if divergence is not None)


def _between_repeats(cell: CellResult) -> Divergence | None:
    first = next(
        (label for label in cell.labels if label.state in {LabelState.VARIES, LabelState.PARTIAL}), None
    )
    if first is None:
        return None
    base, other = _differing_repeats(first)
    profile = tuple(_repeat_row(label, base, other) for label in cell.labels)
    sides = f"repeat {first.repeats[other]} vs repeat {first.repeats[base]}"
    return _first(cell, Between.REPEATS, sides, profile)


def _first(
    cell: CellResult, between: Between, sides: str, profile: tuple[ProfileRow, ...]
) -> Divergence | None:
    position, first = next(((at, row) for at, row in enumerate(profile, start=1) if row.differs), (0, None))
    if first is None:
        return None
    return Divergence(
        environment=cell.environment,
        case=cell.case,
        between=between,
        sides=sides,
        label=first.label,
        position=position,
        labels=len(profile),
        differing_labels=sum(1 for row in profile if row.differs),
        difference=first.difference,
        missing=first.note if first.missing else "",
        unchecked_before=tuple(row.label for row in profile[: position - 1] if row.unchecked),
        profile=profile,
    )


def _differing_repeats(label: LabelResult) -> tuple[int, int]:
    """Indexes (into the label's series) of the first repeat that has it and the first that differs."""
    base = next(index for index, series in enumerate(label.series) if series)
    keys = [tuple(value.key for value in series) for series in label.series]
    other = next(index for index, key in enumerate(keys) if key != keys[base] or not label.series[index])
    return base, other


def _repeat_row(label: LabelResult, base: int, other: int) -> ProfileRow:
    if label.state is LabelState.NOT_RECORDED:
        return ProfileRow(label=label.label, difference=None, note="could not be recorded")
    mine, theirs = label.series[other], label.series[base]
    if not (mine and theirs):
        absent = label.repeats[other] if not mine else label.repeats[base]
        return ProfileRow(
            label=label.label, difference=None, missing=True, note=f"missing in repeat {absent}"
        )
    return ProfileRow(label=label.label, difference=series_difference(mine, theirs))


def _from_reference(cell: CellResult, reference: CellResult) -> Divergence | None:
    rows = [_reference_row(label) for label in cell.labels]
    if reference.state in WITH_VALUES:
        # A label only the reference recorded goes where the reference showed it: after the label
        # that preceded it there (program order on both sides).
        mine = {label.label for label in cell.labels}
        after = -1
        for label in reference.labels:
            if label.label in mine:
                after = next(at for at, row in enumerate(rows) if row.label == label.label)
                continue
            after += 1
            only_there = ProfileRow(
                label=label.label, difference=None, missing=True, note="recorded only in the reference"
            )
            rows.insert(after, only_there)
    return _first(cell, Between.REFERENCE, f"vs {reference.environment} (reference)", tuple(rows))


def _reference_row(label: LabelResult) -> ProfileRow:
    if label.versus in {Versus.EQUAL, Versus.DIFFERENT} and label.vs_reference is not None:
        return ProfileRow(label=label.label, difference=label.vs_reference)
    if label.versus is Versus.DIFFERENT:
        return ProfileRow(
            label=label.label, difference=None, missing=True, note="not recorded in the reference"
        )
    return ProfileRow(label=label.label, difference=None, note=label.reason or "not compared")
