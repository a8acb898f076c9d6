"""Check what each case claims against what was observed: held, SURPRISE with the evidence, or not checked.

Pure: reads `Results` and their `Comparison`; the claims travel in results.json, so a stored run can
be re-checked without running anything. A claim is "held" only when every label it names was
checked and held; a label that could not be checked (one repeat, not recorded, no reference values,
an unknown device) makes it "not checked", never "held". A value that could not be recorded (or an
output not written) is neither equal to nor distinct from anything: only what the other values show
can decide a claim it takes part in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import combinations
from typing import Any

from .compare import (
    WITH_VALUES,
    CellResult,
    CellState,
    Comparison,
    LabelResult,
    LabelState,
    Versus,
    device_kind,
    known_difference,
    same_series,
    series_difference,
)
from .labels import fill, matching
from .results import Record, Results
from .values import Difference, Value, describe, difference, long_double_platforms, within


class Verdict(StrEnum):
    HELD = "held"
    SURPRISE = "surprise"
    UNCHECKED = "unchecked"  # nothing to check it on, or not everything it names could be checked


@dataclass(frozen=True, kw_only=True)
class ClaimCheck:
    environment: str
    case: str
    kind: str
    pattern: str
    verdict: Verdict
    evidence: str = ""
    block: str = "claims"  # where matrix.yaml states it: claims, claims_on_cpu or claims_on_gpu

    @property
    def claim_text(self) -> str:
        return f"{self.kind}: {self.pattern}"


def check_claims(results: Results, comparison: Comparison) -> tuple[ClaimCheck, ...]:
    checks: list[ClaimCheck] = []
    for case in results.cases:
        everywhere = list(written_claims(case.claims))
        on_device = {
            "CPU": list(written_claims(case.claims_on_cpu)),
            "GPU": list(written_claims(case.claims_on_gpu)),
        }
        if not (everywhere or on_device["CPU"] or on_device["GPU"]):
            continue
        for environment in comparison.environments:
            cell = comparison.cell(environment, case.name)
            if cell.state in {CellState.NOT_APPLICABLE, CellState.SKIPPED}:
                continue  # nothing was meant to run here
            records = results.records_of(environment, case.name)
            device = ran_on(records)
            entries: list[tuple[Claim, str | None, str]] = [(entry, None, "claims") for entry in everywhere]
            for kind, listed in on_device.items():
                block = f"claims_on_{kind.lower()}"
                if device == kind:
                    entries += [(entry, None, block) for entry in listed]
                elif device is None and cell.state in WITH_VALUES:
                    unknown = f"claims on the {kind}: the device that ran is unknown"
                    entries += [(entry, unknown, block) for entry in listed]
            for claim, unknown_device, block in entries:
                if unknown_device is not None:
                    verdict, evidence = Verdict.UNCHECKED, unknown_device
                elif cell.state in WITH_VALUES:
                    verdict, evidence = _evaluate(claim, cell=cell, comparison=comparison)
                else:
                    verdict, evidence = Verdict.UNCHECKED, f"cell is {cell.state.value}"
                checks.append(
                    ClaimCheck(
                        environment=environment,
                        case=case.name,
                        kind=claim.kind.name,
                        pattern=claim.shown,
                        verdict=verdict,
                        evidence=evidence,
                        block=block,
                    )
                )
    return tuple(checks)


def ran_on(records: Sequence[Record]) -> str | None:
    """ "GPU" or "CPU" when every repeat says so; None when any device report is missing, the
    repeats differ, or a repeat's frameworks disagree (`device_kind`): never a guess at "GPU"."""
    kinds = {device_kind(record) for record in records}
    if kinds == {"GPU"}:
        return "GPU"
    if kinds and kinds <= {"CPU", "CPU fallback"}:
        return "CPU"
    return None


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


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim of a case, typed from the form results.json keeps it in (as matrix.yaml wrote it)."""

    kind: ClaimKind
    pattern: str  # the labels it is about
    other: str | None = None  # the label template (equal, differ, close), or the other case (same_as_case)
    tolerance: Tolerance | None = None  # close, stable_within, close_to_reference

    @property
    def shown(self) -> str:
        return self.kind.shown(self)


def written_claims(claims: Mapping[str, Any]) -> Iterator[Claim]:
    """Every claim of one block (`claims`, `claims_on_cpu`, `claims_on_gpu`), in the registry's order."""
    for kind in KINDS:
        value = claims.get(kind.name)
        if not value:
            continue
        if isinstance(value, Mapping):
            yield from (_claim(kind, pattern, template) for pattern, template in value.items())
        elif isinstance(value, str):
            yield Claim(kind=kind, pattern="*", other=value)  # same_as_case: every label, against that case
        else:
            yield from (Claim(kind=kind, pattern=pattern) for pattern in value)


def _claim(kind: ClaimKind, pattern: str, template: Any) -> Claim:
    if isinstance(template, Mapping):
        tolerance = Tolerance(ulps=template.get("ulps"), atol=template.get("atol"), rtol=template.get("rtol"))
        return Claim(kind=kind, pattern=pattern, other=template.get("to"), tolerance=tolerance)
    return Claim(kind=kind, pattern=pattern, other=template)


Matched = list[tuple[str, Mapping[str, str]]]
Outcome = tuple[Verdict, str]


@dataclass(frozen=True, kw_only=True)
class Subject:
    """What one claim is checked on in one cell: the labels its pattern matched, in the cell's order."""

    claim: Claim
    cell: CellResult
    comparison: Comparison
    labels: Mapping[str, LabelResult]
    matched: Matched

    @property
    def chosen(self) -> list[LabelResult]:
        return [self.labels[name] for name, _ in self.matched]


def _evaluate(claim: Claim, *, cell: CellResult, comparison: Comparison) -> Outcome:
    labels = {label.label: label for label in cell.labels}
    matched = matching(claim.pattern, labels)
    if not matched:
        return Verdict.SURPRISE, f"no recorded label matches {claim.pattern!r}"
    return claim.kind.evaluate(
        Subject(claim=claim, cell=cell, comparison=comparison, labels=labels, matched=matched)
    )


def _malformed(claim: Claim) -> Outcome:
    """A claim results.json holds in a form its kind does not take (matrix.yaml's validation refuses
    it): nothing it says can be checked."""
    return Verdict.UNCHECKED, f"{claim.kind.name}: not a claim of this kind's form"


def _check_stable(subject: Subject) -> Outcome:
    return _summed([_stable(label) for label in subject.chosen], "bitwise stable")


def _check_varies(subject: Subject) -> Outcome:
    return _summed([_varies(label, every=False) for label in subject.chosen], "differ between repeats")


def _check_varies_every_repeat(subject: Subject) -> Outcome:
    return _summed([_varies(label, every=True) for label in subject.chosen], "differ between repeats")


def _check_pairs(subject: Subject) -> Outcome:
    claim = subject.claim
    if not isinstance(claim.other, str) or claim.tolerance is not None:
        return _malformed(claim)
    return _pairs(claim.kind.name, subject.matched, claim.pattern, claim.other, subject.labels)


def _check_close(subject: Subject) -> Outcome:
    claim = subject.claim
    if not isinstance(claim.other, str) or claim.tolerance is None:
        return _malformed(claim)
    return _pairs(
        claim.kind.name,
        subject.matched,
        claim.pattern,
        claim.other,
        subject.labels,
        tolerance=claim.tolerance,
    )


def _check_stable_within(subject: Subject) -> Outcome:
    tolerance = subject.claim.tolerance
    if tolerance is None:
        return _malformed(subject.claim)
    return _summed([_stable_within(label, tolerance) for label in subject.chosen], tolerance.text)


def _check_close_to_reference(subject: Subject) -> Outcome:
    tolerance, cell, comparison = subject.claim.tolerance, subject.cell, subject.comparison
    if tolerance is None:
        return _malformed(subject.claim)
    reference = (
        comparison.cell(comparison.reference, cell.case)
        if (comparison.reference, cell.case) in comparison.keys
        else None
    )
    outcomes = [_close_to(label, reference, tolerance) for label in subject.chosen]
    return _summed(outcomes, f"{tolerance.text} of {comparison.reference}")


def _check_same_across(subject: Subject) -> Outcome:
    return _same_across(subject.chosen, subject.cell, subject.comparison.reference)


def _check_same_as_case(subject: Subject) -> Outcome:
    other, cell, comparison = subject.claim.other, subject.cell, subject.comparison
    if not isinstance(other, str):
        return _malformed(subject.claim)
    if (cell.environment, other) not in comparison.keys:
        return Verdict.UNCHECKED, f"{other} was not in this run"
    return _same_as_case(subject.chosen, comparison.cell(cell.environment, other), other)


def _summed(outcomes: Sequence[tuple[str, Verdict, str]], held: str) -> Outcome:
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


def _stable(label: LabelResult) -> tuple[str, Verdict, str]:
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


def _varies(label: LabelResult, *, every: bool) -> tuple[str, Verdict, str]:
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


def _pairs(
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


def _stable_within(label: LabelResult, tolerance: Tolerance) -> tuple[str, Verdict, str]:
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


def _close_to(
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
    unchecked = ""
    for repeat, series in zip(label.repeats, label.series, strict=True):
        why, unknown = _close_series(series, theirs.value, tolerance)
        if why is not None:
            return label.label, Verdict.SURPRISE, f"repeat {repeat}: {why}"
        unchecked = unchecked or (f"repeat {repeat}: {unknown}" if unknown else "")
    return label.label, (Verdict.UNCHECKED if unchecked else Verdict.HELD), unchecked


def _same_across(chosen: Sequence[LabelResult], cell: CellResult, reference: str) -> Outcome:
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
        return _summed(outcomes, "stable in the reference environment itself")
    return _summed(outcomes, f"bitwise equal to {reference}")


def _same_as_case(chosen: Sequence[LabelResult], other: CellResult, other_name: str) -> Outcome:
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
    return _summed(outcomes, f"bitwise equal to {other_name}")


def _differs(found: Difference | None, against: str) -> str:
    return f"differs from {against}" + (f": {describe(found)}" if found is not None else "")


def _shown_pattern(claim: Claim) -> str:
    return claim.pattern


def _shown_pair(claim: Claim) -> str:
    return f"{claim.pattern} {'=' if claim.kind.name == 'equal' else '≠'} {claim.other}"


def _shown_close(claim: Claim) -> str:
    return f"{claim.pattern} ≈ {claim.other} {_tolerance_text(claim)}"


def _shown_tolerance(claim: Claim) -> str:
    return f"{claim.pattern} {_tolerance_text(claim)}"


def _shown_case(claim: Claim) -> str:
    return f"{claim.other}"


def _tolerance_text(claim: Claim) -> str:
    return (claim.tolerance or Tolerance()).text


@dataclass(frozen=True, kw_only=True)
class ClaimKind:
    """A kind of claim, declared once: adding one is an entry in KINDS (and a row in
    docs/configuration.md's table, which a test checks against KINDS)."""

    name: str  # its key in matrix.yaml and results.json
    evaluate: Callable[[Subject], Outcome]
    shown: Callable[[Claim], str]  # how the report writes one claim of this kind
    # Allows a tolerance: counted apart from the bitwise claims and marked with TOLERANT_MARK, so that
    # it is never mistaken for a bitwise one.
    tolerant: bool = False
    measured: bool = False  # held, its evidence is a measured distance, listed under the case's claims

    @property
    def mark(self) -> str:
        return TOLERANT_MARK if self.tolerant else ""


TOLERANT_MARK = "≈"

#: Every claim kind, in the order they are checked and shown.
KINDS = (
    ClaimKind(name="stable", evaluate=_check_stable, shown=_shown_pattern),
    ClaimKind(name="varies", evaluate=_check_varies, shown=_shown_pattern),
    ClaimKind(name="varies_every_repeat", evaluate=_check_varies_every_repeat, shown=_shown_pattern),
    ClaimKind(name="equal", evaluate=_check_pairs, shown=_shown_pair),
    ClaimKind(name="differ", evaluate=_check_pairs, shown=_shown_pair, measured=True),
    ClaimKind(name="close", evaluate=_check_close, shown=_shown_close, tolerant=True, measured=True),
    ClaimKind(name="same_across_environments", evaluate=_check_same_across, shown=_shown_pattern),
    ClaimKind(name="same_as_case", evaluate=_check_same_as_case, shown=_shown_case),
    ClaimKind(name="stable_within", evaluate=_check_stable_within, shown=_shown_tolerance, tolerant=True),
    ClaimKind(
        name="close_to_reference", evaluate=_check_close_to_reference, shown=_shown_tolerance, tolerant=True
    ),
)
KIND = {kind.name: kind for kind in KINDS}
CLAIM_KINDS = tuple(KIND)
#: Claims that allow a tolerance: shown apart from the bitwise ones.
TOLERANT = frozenset(kind.name for kind in KINDS if kind.tolerant)
#: Held claims whose evidence is a measured distance, listed under the case's claims.
MEASURED = frozenset(kind.name for kind in KINDS if kind.measured)
