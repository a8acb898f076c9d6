"""The checks of claims on labels: per label (or pair of labels), held, SURPRISE with the evidence, or
not checked, and one verdict over the labels a pattern matched.

Pure. `claims` picks the labels each claim names and the check its kind makes; this module says
what the values show. A value that could not be recorded (or an output not written) is neither
equal to nor distinct from anything: only what the other values show can decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import combinations

from .compare import (
    WITH_VALUES,
    CellResult,
    LabelResult,
    LabelState,
    Versus,
    known_difference,
    same_series,
    series_difference,
)
from .labels import fill
from .values import Difference, Value, describe, difference, long_double_platforms, within


class Verdict(StrEnum):
    HELD = "held"
    SURPRISE = "surprise"
    UNCHECKED = "unchecked"  # nothing to check it on, or not everything it names could be checked


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    """How far apart two values may be and still count as close: in ULPs, or |a - b| <= atol + rtol * |b|."""

    ulps: int | None = None
    atol: float | None = None
    rtol: float | None = None

    @property
    def text(self) -> str:
        if self.ulps is not None:
            return f"within {self.ulps} ULP"
        return f"within atol {self.atol or 0:g}, rtol {self.rtol or 0:g}"


Matched = list[tuple[str, Mapping[str, str]]]


Outcome = tuple[Verdict, str]


def summed(outcomes: Sequence[tuple[str, Verdict, str]], held: str) -> Outcome:
    """One verdict over the labels a pattern matched: any SURPRISE wins, then any unchecked label."""
    for verdict in (Verdict.SURPRISE, Verdict.UNCHECKED):
        found = [f"{name}: {why}" for name, label_verdict, why in outcomes if label_verdict is verdict]
        if found:
            return verdict, "; ".join(found)
    return Verdict.HELD, f"{len(outcomes)} label(s) {held}"


def _unchecked_state(label: LabelResult) -> str | None:
    if label.state is LabelState.NOT_RECORDED:
        return _not_recorded(label)
    if label.state is LabelState.RAN_ONCE:
        return "one repeat: stability cannot be checked"
    return None


def stable(label: LabelResult) -> tuple[str, Verdict, str]:
    unchecked = _unchecked_state(label)
    if unchecked:
        return label.label, Verdict.UNCHECKED, unchecked
    if label.state is LabelState.PARTIAL:
        return label.label, Verdict.SURPRISE, label.reason
    if label.state is LabelState.VARIES:
        if label.partly_recorded:
            return label.label, Verdict.SURPRISE, f"the recorded values vary; {_not_recorded(label)}"
        return (
            label.label,
            Verdict.SURPRISE,
            f"{label.distinct} distinct values in {len(label.series)} repeats",
        )
    return label.label, Verdict.HELD, ""


def _not_recorded(label: LabelResult) -> str:
    where = label.unrecorded_where if label.partly_recorded else "could not be recorded"
    return f"{where} ({label.not_recorded_note})"


def varies(label: LabelResult, *, every: bool) -> tuple[str, Verdict, str]:
    """Repeats are compared in pairs: a pair with a value not recorded is neither the same nor
    different, so it can only leave the claim not checked."""
    if label.state is LabelState.RAN_ONCE or not any(value.recorded for s in label.series for value in s):
        return label.label, Verdict.UNCHECKED, _unchecked_state(label) or ""
    present = [(repeat, series) for repeat, series in zip(label.repeats, label.series, strict=True) if series]
    if len(present) < 2:
        return label.label, Verdict.UNCHECKED, f"recorded in {len(present)} repeat(s): nothing to compare"
    pairs = [(a[0], b[0], same_series(a[1], b[1])) for a, b in combinations(present, 2)]
    absent = ", ".join(str(repeat) for repeat in label.missing_in)
    missing = f" (missing in repeat {absent})" if absent else ""
    unknown = any(same is None for _, _, same in pairs)
    if every:
        identical = next(((a, b) for a, b, same in pairs if same is True), None)
        if identical is not None:
            if label.partly_recorded:
                return (
                    label.label,
                    Verdict.SURPRISE,
                    f"repeats {identical[0]} and {identical[1]} are identical",
                )
            distinct = f"{label.distinct} distinct values in {len(present)} repeats{missing}"
            return label.label, Verdict.SURPRISE, distinct
        if absent:  # a repeat that showed no value did not give one unlike the others'
            return label.label, Verdict.SURPRISE, f"missing in repeat {absent}"
        if unknown:
            return label.label, Verdict.UNCHECKED, _not_recorded(label)
        return label.label, Verdict.HELD, ""
    if any(same is False for _, _, same in pairs):
        return label.label, Verdict.HELD, ""
    if unknown:
        return label.label, Verdict.UNCHECKED, _not_recorded(label)
    return label.label, Verdict.SURPRISE, f"identical in all {len(present)} repeats that recorded it{missing}"


def _pairings(
    matched: Matched, pattern: str, template: str, labels: Mapping[str, LabelResult]
) -> list[tuple[str, str]] | Outcome:
    """(label, the label the template names) for each matched label, or the outcome that ends the
    check. A label paired with itself proves nothing (`x on {d}` → `x on cpu` matching only the CPU
    label, where the GPU label was never shown), so such pairs are left out, and a claim with no
    other pair is a SURPRISE."""
    pairs = [(name, fill(template, captured)) for name, captured in matched]
    pairs = [(name, target) for name, target in pairs if name != target]
    if not pairs:
        return Verdict.SURPRISE, f"no recorded label other than its pair matches {pattern!r}"
    for name, target in pairs:
        if target not in labels:
            return Verdict.SURPRISE, f"{target!r} was not recorded"
        for label in (labels[name], labels[target]):
            if label.state is LabelState.NOT_RECORDED and not label.partly_recorded:
                return Verdict.UNCHECKED, f"{label.label}: {_not_recorded(label)}"
    return pairs


def pairs(
    kind: str,
    matched: Matched,
    pattern: str,
    template: str,
    labels: Mapping[str, LabelResult],
    *,
    tolerance: Tolerance | None = None,
) -> Outcome:
    """`equal`, `differ` or `close` (within `tolerance`): in every repeat, each matched label against
    the label the template names; held, the evidence says how far apart they were at most. A repeat
    where a value of the pair was not recorded can only make the claim not checked (a SURPRISE seen
    in another repeat still wins)."""
    pairs = _pairings(matched, pattern, template, labels)
    if not isinstance(pairs, list):
        return pairs
    distances: list[str] = []
    unchecked: list[str] = []
    for name, target in pairs:
        widest: Difference | None = None
        for repeat, mine, theirs in zip(
            labels[name].repeats, labels[name].series, labels[target].series, strict=True
        ):
            if not mine or not theirs:
                missing = name if not mine else target
                return Verdict.SURPRISE, f"{missing!r} was not recorded in repeat {repeat}"
            surprise, unknown = _pair_in_repeat(kind, (name, target, repeat), mine, theirs, tolerance)
            if surprise:
                return Verdict.SURPRISE, surprise
            if unknown:
                unchecked.append(f"{name} vs {target}, repeat {repeat}: {unknown}")
                continue
            widest = _wider(widest, _widest(mine, theirs))
        if widest is not None:
            distances.append(
                f"{name} vs {target}: " + ("bitwise equal" if widest.equal else describe(widest))
            )
    if unchecked:
        return Verdict.UNCHECKED, "; ".join(unchecked)
    if kind == "equal":
        return Verdict.HELD, f"{len(pairs)} pair(s) bitwise equal in every repeat"
    if kind == "differ":  # how far apart at most: a reader wants the distance, not only "≠"
        return Verdict.HELD, f"{len(pairs)} pair(s) different in every repeat ({'; '.join(distances)})"
    return Verdict.HELD, "; ".join(distances)


def _pair_in_repeat(
    kind: str,
    where: tuple[str, str, int],
    mine: tuple[Value, ...],
    theirs: tuple[Value, ...],
    tolerance: Tolerance | None,
) -> tuple[str, str]:
    """One repeat of a pair (label, the label paired with it, repeat): the SURPRISE's evidence, or what
    could not be told there; both empty when the claim held in it."""
    name, target, repeat = where
    if tolerance is not None:
        why, unknown = _close_series(mine, theirs, tolerance)
        return (f"{name} vs {target}, repeat {repeat}: {why}" if why is not None else ""), unknown
    found = known_difference(mine, theirs)
    if found is None:
        return "", _not_recorded_in(mine, theirs)
    if found.equal == (kind == "equal"):
        return "", ""
    if kind == "equal":
        return f"{name} ≠ {target} in repeat {repeat}: {describe(found)}", ""
    return f"{name} = {target} in repeat {repeat}", ""


def _widest(mine: tuple[Value, ...], theirs: tuple[Value, ...]) -> Difference:
    """The occurrence of a label shown several times (a loss per epoch) that lies farthest apart."""
    if len(mine) != len(theirs):
        return series_difference(mine, theirs)
    found: Difference | None = None
    for occurrence, (value, other) in enumerate(zip(mine, theirs, strict=True), start=1):
        this = difference(value, other)
        if len(mine) > 1 and not this.equal:
            this = replace(
                this, occurrence=occurrence, notes=(f"occurrence {occurrence} of {len(mine)}", *this.notes)
            )
        found = _wider(found, this)
    assert found is not None  # both sides recorded it (checked by the caller)
    return found


def _wider(found: Difference | None, other: Difference) -> Difference:
    """The farther apart of two differences: by ULPs, then by |Δ|, then by how many elements."""

    # Compared as they are: an integer |Δ| can lie beyond any float.
    def distance(item: Difference) -> tuple[int, float | int, int]:
        magnitude = item.max_abs if item.max_abs is not None else 0
        return (item.max_ulps or 0, magnitude, item.differing)

    if found is None or distance(other) > distance(found):
        return other
    return found


def _close_series(
    mine: Sequence[Value], theirs: Sequence[Value], tolerance: Tolerance
) -> tuple[str | None, str]:
    """Why `mine` is not within the tolerance of `theirs` (None: it is, as far as could be told), and
    what could not be told: an occurrence not recorded on a side ('' when everything was)."""
    if len(mine) != len(theirs):
        return f"shown {len(mine)} time(s) vs {len(theirs)}", ""
    unknown = ""
    for occurrence, (value, other) in enumerate(zip(mine, theirs, strict=True), start=1):
        if not (value.recorded and other.recorded):
            unknown = unknown or _not_recorded_in([value], [other])
            continue
        platforms = long_double_platforms(value, other)
        if platforms:  # x87 against quad: no distance means nothing, so the claim is not checked
            unknown = unknown or f"{platforms}: not comparable"
            continue
        if value.key != other.key and (value.packed or other.packed):
            unknown = unknown or "tolerances are not checked on arrays kept in side files"
            continue
        why = within(
            value, other, ulps=tolerance.ulps, atol=tolerance.atol or 0.0, rtol=tolerance.rtol or 0.0
        )
        if why is not None:
            return (why if len(mine) == 1 else f"occurrence {occurrence}: {why}"), ""
    return None, unknown


def _not_recorded_in(mine: Sequence[Value], theirs: Sequence[Value]) -> str:
    """'not recorded (why)' for the first value of either side that was not recorded."""
    note = next((value.note for value in (*mine, *theirs) if not value.recorded), "")
    return f"not recorded ({note})" if note else "not recorded"


def stable_within(label: LabelResult, tolerance: Tolerance) -> tuple[str, Verdict, str]:
    unchecked = _unchecked_state(label)
    if unchecked:
        return label.label, Verdict.UNCHECKED, unchecked
    if label.state is LabelState.PARTIAL:
        return label.label, Verdict.SURPRISE, label.reason
    first = label.series[0]
    unchecked = ""
    for repeat, series in zip(label.repeats[1:], label.series[1:], strict=True):
        why, unknown = _close_series(series, first, tolerance)
        if why is not None:
            return label.label, Verdict.SURPRISE, f"repeat {repeat} vs repeat {label.repeats[0]}: {why}"
        unchecked = unchecked or (
            f"repeat {repeat} vs repeat {label.repeats[0]}: {unknown}" if unknown else ""
        )
    return label.label, (Verdict.UNCHECKED if unchecked else Verdict.HELD), unchecked


def close_to(
    label: LabelResult, reference: CellResult | None, tolerance: Tolerance
) -> tuple[str, Verdict, str]:
    if reference is None or reference.state not in WITH_VALUES:
        return label.label, Verdict.UNCHECKED, "the reference has no values for this case"
    theirs = reference.label(label.label)
    if theirs is None:
        return label.label, Verdict.SURPRISE, "not recorded in the reference"
    for item in (label, theirs):
        if item.state in {LabelState.NOT_RECORDED, LabelState.PARTIAL}:
            return label.label, Verdict.UNCHECKED, f"{item.state.value}: {item.reason}"
    if not theirs.single:  # which of the reference's values would it be close to?
        return label.label, Verdict.UNCHECKED, f"varies in the reference: {theirs.reason}"
    unchecked = ""
    for repeat, series in zip(label.repeats, label.series, strict=True):
        why, unknown = _close_series(series, theirs.value, tolerance)
        if why is not None:
            return label.label, Verdict.SURPRISE, f"repeat {repeat}: {why}"
        unchecked = unchecked or (f"repeat {repeat}: {unknown}" if unknown else "")
    return label.label, (Verdict.UNCHECKED if unchecked else Verdict.HELD), unchecked


def same_across(chosen: Sequence[LabelResult], cell: CellResult, reference: str) -> Outcome:
    outcomes = []
    for label in chosen:
        if cell.versus is Versus.REFERENCE:  # equal to itself, where it has a value to compare
            if label.single:
                outcomes.append((label.label, Verdict.HELD, ""))
            else:
                why = _unchecked_state(label) or "varies across repeats, so not comparable"
                outcomes.append((label.label, Verdict.UNCHECKED, why))
        elif label.versus is Versus.EQUAL:
            outcomes.append((label.label, Verdict.HELD, ""))
        elif label.versus is Versus.DIFFERENT:
            outcomes.append((label.label, Verdict.SURPRISE, _differs(label.vs_reference, reference)))
        else:
            outcomes.append((label.label, Verdict.UNCHECKED, label.reason or "not compared"))
    if cell.versus is Versus.REFERENCE:
        return summed(outcomes, "stable in the reference environment itself")
    return summed(outcomes, f"bitwise equal to {reference}")


def same_as_case(chosen: Sequence[LabelResult], other: CellResult, other_name: str) -> Outcome:
    """Every matched label bitwise equal to the same label of another case, same environment."""
    if other.state not in WITH_VALUES:
        return Verdict.UNCHECKED, f"{other_name} has no values here ({other.state.value})"
    outcomes = []
    for label in chosen:
        theirs = other.label(label.label)
        if theirs is None:
            outcomes.append((label.label, Verdict.SURPRISE, f"not recorded in {other_name}"))
            continue
        unchecked = next(
            (_unchecked_state(item) for item in (label, theirs) if item.state is LabelState.NOT_RECORDED),
            None,
        )
        if unchecked:
            outcomes.append((label.label, Verdict.UNCHECKED, unchecked))
        elif not (label.single and theirs.single):
            outcomes.append((label.label, Verdict.UNCHECKED, "varies across repeats, so not comparable"))
        else:
            found = series_difference(label.value, theirs.value)
            if found.equal:
                outcomes.append((label.label, Verdict.HELD, ""))
            else:
                outcomes.append((label.label, Verdict.SURPRISE, _differs(found, other_name)))
    return summed(outcomes, f"bitwise equal to {other_name}")


def _differs(found: Difference | None, against: str) -> str:
    return f"differs from {against}" + (f": {describe(found)}" if found is not None else "")
