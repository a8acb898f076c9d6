"""Check what each case claims against what was observed: held, SURPRISE with the evidence, or not checked.

Pure: reads `Results` and their `Comparison`; the claims travel in results.json, so a stored run can
be re-checked without running anything. A claim is "held" only when every label it names was
checked and held; a label that could not be checked (one repeat, not recorded, no reference values,
an unknown device) makes it "not checked", never "held". A value that could not be recorded (or an
output not written) is neither equal to nor distinct from anything: only what the other values show
can decide a claim it takes part in.

Each kind of claim is declared once, in KINDS (its name, its check, how it is shown, whether it
allows a tolerance); `labelchecks` holds the checks label by label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .compare import (
    WITH_VALUES,
    CellResult,
    CellState,
    Comparison,
    LabelResult,
    device_kind,
)
from .labelchecks import (
    Matched,
    Outcome,
    Tolerance,
    Verdict,
    close_to,
    pairs,
    same_across,
    same_as_case,
    stable,
    stable_within,
    summed,
    varies,
)
from .labels import matching
from .results import Record, Results

# Verdict and Tolerance are labelchecks' types, which every reader of claims needs.
__all__ = [
    "CLAIM_KINDS",
    "KIND",
    "KINDS",
    "MEASURED",
    "TOLERANT",
    "TOLERANT_MARK",
    "Claim",
    "ClaimCheck",
    "ClaimKind",
    "Subject",
    "Tolerance",
    "Verdict",
    "check_claims",
    "ran_on",
    "written_claims",
]


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
    return summed([stable(label) for label in subject.chosen], "bitwise stable")


def _check_varies(subject: Subject) -> Outcome:
    return summed([varies(label, every=False) for label in subject.chosen], "differ between repeats")


def _check_varies_every_repeat(subject: Subject) -> Outcome:
    return summed([varies(label, every=True) for label in subject.chosen], "differ between repeats")


def _check_pairs(subject: Subject) -> Outcome:
    """equal, differ (bitwise) and close (within its tolerance): a tolerance exactly where the kind
    takes one."""
    claim = subject.claim
    if not isinstance(claim.other, str) or (claim.tolerance is not None) != claim.kind.tolerant:
        return _malformed(claim)
    return pairs(
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
    return summed([stable_within(label, tolerance) for label in subject.chosen], tolerance.text)


def _check_close_to_reference(subject: Subject) -> Outcome:
    tolerance, cell, comparison = subject.claim.tolerance, subject.cell, subject.comparison
    if tolerance is None:
        return _malformed(subject.claim)
    reference = (
        comparison.cell(comparison.reference, cell.case)
        if (comparison.reference, cell.case) in comparison.keys
        else None
    )
    outcomes = [close_to(label, reference, tolerance) for label in subject.chosen]
    return summed(outcomes, f"{tolerance.text} of {comparison.reference}")


def _check_same_across(subject: Subject) -> Outcome:
    return same_across(subject.chosen, subject.cell, subject.comparison.reference)


def _check_same_as_case(subject: Subject) -> Outcome:
    other, cell, comparison = subject.claim.other, subject.cell, subject.comparison
    if not isinstance(other, str):
        return _malformed(subject.claim)
    if (cell.environment, other) not in comparison.keys:
        return Verdict.UNCHECKED, f"{other} was not in this run"
    return same_as_case(subject.chosen, comparison.cell(cell.environment, other), other)


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
    ClaimKind(name="close", evaluate=_check_pairs, shown=_shown_close, tolerant=True, measured=True),
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
