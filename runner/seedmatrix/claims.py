"""Check what each case claims against what was observed: held, or SURPRISE with the evidence.

Pure: reads `Results` and their `Comparison`; the claims travel in results.json, so a stored run
can be re-checked without running anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .compare import CellResult, CellState, Comparison, LabelResult, difference_between
from .labels import fill, matching
from .results import Record, Results

CLAIM_KINDS = ("stable", "varies", "equal", "differ", "same_across_environments", "same_as_case")


class Verdict(StrEnum):
    HELD = "held"
    SURPRISE = "surprise"
    UNCHECKED = "unchecked"  # the cell did not produce values to check (error, skipped, …)


@dataclass(frozen=True, kw_only=True)
class ClaimCheck:
    environment: str
    case: str
    kind: str
    pattern: str
    verdict: Verdict
    evidence: str = ""

    @property
    def claim_text(self) -> str:
        return f"{self.kind}: {self.pattern}"


def check_claims(results: Results, comparison: Comparison) -> tuple[ClaimCheck, ...]:
    checks: list[ClaimCheck] = []
    for case in results.cases:
        everywhere = list(_entries(case.claims))
        on_device = {"CPU": list(_entries(case.claims_on_cpu)), "GPU": list(_entries(case.claims_on_gpu))}
        if not (everywhere or on_device["CPU"] or on_device["GPU"]):
            continue
        for environment in comparison.environments:
            cell = comparison.cell(environment, case.name)
            if cell.state in {CellState.NOT_APPLICABLE, CellState.SKIPPED}:
                continue  # nothing was meant to run here
            records = results.records_of(environment, case.name)
            ran_on_gpu = bool(records) and all(r.device.get("kind") == "GPU" for r in records)
            for kind, pattern, template in everywhere + on_device["GPU" if ran_on_gpu else "CPU"]:
                if cell.state in {CellState.STABLE, CellState.VARIES}:
                    verdict, evidence = _evaluate(
                        kind,
                        pattern,
                        template,
                        cell=cell,
                        records=records,
                        comparison=comparison,
                        reference=results.reference,
                    )
                else:
                    verdict, evidence = Verdict.UNCHECKED, f"cell is {cell.state.value}"
                checks.append(
                    ClaimCheck(
                        environment=environment,
                        case=case.name,
                        kind=kind,
                        pattern=_shown(kind, pattern, template),
                        verdict=verdict,
                        evidence=evidence,
                    )
                )
    return tuple(checks)


def _entries(claims: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(kind, label pattern, template or other case) for every claim, in a fixed order."""
    for kind in CLAIM_KINDS:
        value = claims.get(kind)
        if not value:
            continue
        if isinstance(value, Mapping):
            yield from ((kind, pattern, template) for pattern, template in value.items())
        elif isinstance(value, str):
            yield kind, "*", value  # same_as_case: every label, against that case
        else:
            yield from ((kind, pattern, None) for pattern in value)


def _shown(kind: str, pattern: str, template: str | None) -> str:
    if kind == "same_as_case":
        return f"{template}"
    if kind in {"equal", "differ"}:
        return f"{pattern} {'=' if kind == 'equal' else '≠'} {template}"
    return pattern


def _evaluate(
    kind: str,
    pattern: str,
    template: str | None,
    *,
    cell: CellResult,
    records: Sequence[Record],
    comparison: Comparison,
    reference: str,
) -> tuple[Verdict, str]:
    labels = {label.label: label for label in cell.labels}
    matched = matching(pattern, labels)
    if not matched:
        return Verdict.SURPRISE, f"no recorded label matches {pattern!r}"
    if kind == "stable":
        return _stable(matched, labels)
    if kind == "varies":
        return _varies(matched, labels)
    assert template is not None or kind == "same_across_environments"
    if kind in {"equal", "differ"}:
        return _pairs(matched, str(template), records, equal=kind == "equal")
    other = (cell.environment, str(template)) if kind == "same_as_case" else (reference, cell.case)
    if other not in comparison.keys:
        return Verdict.UNCHECKED, f"{other[1] if kind == 'same_as_case' else other[0]} was not in this run"
    name = str(template) if kind == "same_as_case" else reference
    return _same_as(matched, labels, comparison.cell(*other), name)


Matched = list[tuple[str, Mapping[str, str]]]


def _stable(matched: Matched, labels: Mapping[str, LabelResult]) -> tuple[Verdict, str]:
    varying = [name for name, _ in matched if not labels[name].stable]
    if varying:
        counts = ", ".join(f"{name} ({labels[name].distinct} distinct)" for name in varying)
        return Verdict.SURPRISE, f"varies across repeats: {counts}"
    return Verdict.HELD, f"{len(matched)} label(s) bitwise stable"


def _varies(matched: Matched, labels: Mapping[str, LabelResult]) -> tuple[Verdict, str]:
    steady = [name for name, _ in matched if labels[name].stable]
    if steady:
        return Verdict.SURPRISE, f"identical in every repeat: {', '.join(steady)}"
    return Verdict.HELD, f"{len(matched)} label(s) differ between repeats"


def _pairs(matched: Matched, template: str, records: Sequence[Record], *, equal: bool) -> tuple[Verdict, str]:
    for record in sorted(records, key=lambda r: r.repeat):
        bits = {value.label: (value.dtype, value.bits) for value in record.values}
        for name, captured in matched:
            target = fill(template, captured)
            if target not in bits:
                return Verdict.SURPRISE, f"{target!r} was not recorded (repeat {record.repeat})"
            if name in bits and (bits[name] == bits[target]) != equal:
                relation = "≠" if equal else "="
                return Verdict.SURPRISE, f"{name} {relation} {target} in repeat {record.repeat}"
    relation = "bitwise equal" if equal else "different"
    return Verdict.HELD, f"{len(matched)} pair(s) {relation} in every repeat"


def _same_as(
    matched: Matched, labels: Mapping[str, LabelResult], other: CellResult, other_name: str
) -> tuple[Verdict, str]:
    """Every matched stable label bitwise equal to the same label in another cell."""
    if other.state not in {CellState.STABLE, CellState.VARIES}:
        return Verdict.UNCHECKED, f"{other_name} has no values here ({other.state.value})"
    other_labels = {label.label: label for label in other.labels}
    differences = []
    for name, _ in matched:
        mine, theirs = labels[name], other_labels.get(name)
        if theirs is None:
            differences.append(f"{name}: not recorded there")
        elif not (mine.stable and theirs.stable):
            differences.append(f"{name}: varies across repeats, so not comparable")
        else:
            difference = difference_between(mine.value, theirs.value)
            if not difference.equal:
                ulps = f", {difference.max_ulps} ULP" if difference.max_ulps is not None else ""
                size = (
                    f"max |Δ| {difference.max_abs:.3g}" if difference.max_abs is not None else difference.note
                )
                differences.append(f"{name}: {size}{ulps}")
    if differences:
        return Verdict.SURPRISE, f"differs from {other_name}: " + "; ".join(differences)
    return Verdict.HELD, f"{len(matched)} label(s) bitwise equal to {other_name}"


def surprises(checks: Sequence[ClaimCheck]) -> list[ClaimCheck]:
    return [check for check in checks if check.verdict is Verdict.SURPRISE]
