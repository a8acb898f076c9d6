"""Where a cell's values first part: between its repeats, and from the reference environment.

"First" is the earliest place in the run where the numbers part: by occurrence, then program order.
Each label's first differing occurrence counts (a label shown every epoch that first differs at
epoch 2 comes before one that first differs at epoch 3, whatever their program order); among labels
that first differ at the same occurrence, program order decides: the order in which the script first
showed its labels (values parsed from its output, then its output files' arrays, follow in the order
they are declared). A traced model shows its layers' outputs, the loss and the gradients in the
order they were computed, so the first label that differs is the first place the numbers changed.
A label shown once counts as its first occurrence. The profile keeps one row per label, in program
order.

Pure functions over a `Comparison`. A label that could not be compared (it varies on the other
side, or could not be recorded) that may have been shown before the first one found (program order
before it, or any label when the first differs at a later occurrence) is named: the divergence may
have started there, and the report says so rather than guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .compare import (
    WITH_VALUES,
    CellResult,
    CellState,
    Comparison,
    LabelResult,
    LabelState,
    Versus,
    known_difference,
    same_series,
)
from .results import Between, Divergence, ProfileRow
from .values import Difference, Value


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
    varying = [label for label in cell.labels if label.state in {LabelState.VARIES, LabelState.PARTIAL}]
    if not varying:
        return None
    repeats = varying[0].repeats
    # Each varying label names a pair of repeats; the pair that parts earliest in the run is the one shown.
    found = []
    pairs = (_differing_repeats(label) for label in varying)
    for base, other in dict.fromkeys(pair for pair in pairs if pair is not None):
        rows = [_repeat_row(label, base, other) for label in cell.labels]
        sides = f"repeat {repeats[other]} vs repeat {repeats[base]}"
        found.append(_first(cell, Between.REPEATS, sides, rows))
    earliest = min(
        (candidate for candidate in found if candidate is not None),
        key=lambda candidate: candidate.occurrence_key,
        default=None,
    )
    return None if earliest is None else earliest.divergence


@dataclass(frozen=True, kw_only=True)
class _Found:
    divergence: Divergence
    occurrence_key: tuple[int, int]  # (first differing occurrence, program position): earliest first


@dataclass(frozen=True, kw_only=True)
class _Row:
    row: ProfileRow
    parts_at: int = 1  # the first occurrence at which the two sides part (meaningful where it differs)


def _first(cell: CellResult, between: Between, sides: str, rows: Sequence[_Row]) -> _Found | None:
    differing = [(row.parts_at, at) for at, row in enumerate(rows, start=1) if row.row.differs]
    if not differing:
        return None
    occurrence, position = min(differing)
    first = rows[position - 1].row
    profile = tuple(row.row for row in rows)
    # An unchecked label may have parted at its first showing: before the first found when that is
    # earlier in program order, or when the first found parts at a later occurrence.
    unchecked_before = tuple(
        row.label
        for at, row in enumerate(profile, start=1)
        if row.unchecked and (1, at) < (occurrence, position)
    )
    divergence = Divergence(
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
        unchecked_before=unchecked_before,
        profile=profile,
    )
    return _Found(divergence=divergence, occurrence_key=(occurrence, position))


def _parts_at(
    difference: Difference | None,
    mine: Sequence[Value | None] | None,
    theirs: Sequence[Value | None] | None,
) -> int:
    """The first occurrence at which two series of a label part (1 where that cannot be told)."""
    if difference is not None and difference.occurrence is not None:
        return difference.occurrence
    if mine is None or theirs is None or len(mine) == len(theirs):
        return 1
    # Shown more times on one side: the series part at the first occurrence whose values differ,
    # or where the shorter one ends.
    return next(
        (
            occurrence
            for occurrence, (value, other) in enumerate(zip(mine, theirs, strict=False), start=1)
            if value is None or other is None or value.key != other.key
        ),
        min(len(mine), len(theirs)) + 1,
    )


def _differing_repeats(label: LabelResult) -> tuple[int, int] | None:
    """Indexes (into the label's series) of the first repeat that has it and the first that surely
    differs from it (a value not recorded is no difference); None when none surely does."""
    base = next(index for index, series in enumerate(label.series) if series)
    return next(
        (
            (base, index)
            for index, series in enumerate(label.series)
            if not series or same_series(series, label.series[base]) is False
        ),
        None,
    )


def _repeat_row(label: LabelResult, base: int, other: int) -> _Row:
    if label.state is LabelState.NOT_RECORDED:
        return _Row(row=ProfileRow(label=label.label, difference=None, note="could not be recorded"))
    mine, theirs = label.series[other], label.series[base]
    if not (mine and theirs):
        absent = label.repeats[other] if not mine else label.repeats[base]
        return _Row(
            row=ProfileRow(
                label=label.label, difference=None, missing=True, note=f"missing in repeat {absent}"
            )
        )
    difference = known_difference(mine, theirs)
    if difference is None:  # equal wherever both were recorded: whether it parts here is not known
        return _Row(
            row=ProfileRow(label=label.label, difference=None, note="not recorded in some occurrence")
        )
    return _Row(
        row=ProfileRow(label=label.label, difference=difference), parts_at=_parts_at(difference, mine, theirs)
    )


def _from_reference(cell: CellResult, reference: CellResult) -> Divergence | None:
    rows = [_reference_row(label, reference.label(label.label)) for label in cell.labels]
    if reference.state in WITH_VALUES:
        # A label only the reference recorded goes where the reference showed it: after the label
        # that preceded it there (program order on both sides).
        mine = {label.label for label in cell.labels}
        after = -1
        for label in reference.labels:
            if label.label in mine:
                after = next(at for at, row in enumerate(rows) if row.row.label == label.label)
                continue
            after += 1
            only_there = ProfileRow(
                label=label.label, difference=None, missing=True, note="recorded only in the reference"
            )
            rows.insert(after, _Row(row=only_there))
    found = _first(cell, Between.REFERENCE, f"vs {reference.environment} (reference)", rows)
    return None if found is None else found.divergence


def _reference_row(label: LabelResult, reference: LabelResult | None) -> _Row:
    if label.versus in {Versus.EQUAL, Versus.DIFFERENT} and label.vs_reference is not None:
        theirs = None if reference is None else reference.settled
        return _Row(
            row=ProfileRow(label=label.label, difference=label.vs_reference),
            parts_at=_parts_at(label.vs_reference, label.settled, theirs),
        )
    if label.versus is Versus.DIFFERENT:
        return _Row(
            row=ProfileRow(
                label=label.label, difference=None, missing=True, note="not recorded in the reference"
            )
        )
    return _Row(row=ProfileRow(label=label.label, difference=None, note=label.reason or "not compared"))
