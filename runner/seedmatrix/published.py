"""Published values: does today's run still print what someone printed, to the digits they printed?

A case's `expected:` maps labels to the numbers a person printed (an article, a paper, a team's
notebook) and how many digits after the decimal point they printed. A value reproduces them when
each element lies within half a unit of the last printed digit of the printed number, which is
exactly what printing today's value with that many digits would give back. Where it does not, the
check says by how much it misses, in absolute terms and in units of the last printed digit.

Pure: reads `Results` and their `Comparison`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from .compare import WITH_VALUES, Comparison, LabelResult
from .results import Results
from .values import exact


class Reproduced(StrEnum):
    YES = "reproduced"
    NO = "missed"
    UNCHECKED = "not checked"


@dataclass(frozen=True, kw_only=True)
class PublishedCheck:
    environment: str
    case: str
    label: str
    verdict: Reproduced
    digits: int
    evidence: str = ""
    max_miss: Decimal | None = None  # the largest |today - printed|, when it missed


def check_published(results: Results, comparison: Comparison) -> tuple[PublishedCheck, ...]:
    checks = []
    for case in results.cases:
        if not case.expected:
            continue
        digits = int(case.expected["digits"])
        printed: Mapping[str, Sequence[str]] = case.expected["values"]
        for environment in comparison.environments:
            cell = comparison.cell(environment, case.name)
            if cell.state not in WITH_VALUES:
                continue
            for label, numbers in printed.items():
                verdict, evidence, miss = _check(cell.label(label), numbers, digits)
                checks.append(
                    PublishedCheck(
                        environment=environment,
                        case=case.name,
                        label=label,
                        verdict=verdict,
                        digits=digits,
                        evidence=evidence,
                        max_miss=miss,
                    )
                )
    return tuple(checks)


def _check(
    label: LabelResult | None, numbers: Sequence[str], digits: int
) -> tuple[Reproduced, str, Decimal | None]:
    if label is None:
        return Reproduced.NO, "not recorded in this run", None
    if not label.single:
        return (
            Reproduced.UNCHECKED,
            f"{label.state.value}: {label.reason}" if label.reason else label.state.value,
            None,
        )
    values = label.value
    if any(value.packed for value in values):
        return Reproduced.UNCHECKED, "an array kept in a side file: its numbers are not read here", None
    today = [(value, index) for value in values for index in range(len(value.bits))]
    if len(today) != len(numbers):
        return Reproduced.NO, f"{len(numbers)} number(s) printed, {len(today)} recorded", None
    half_unit = Decimal(5).scaleb(-digits - 1)
    misses: list[tuple[int, Decimal | None]] = []
    for position, ((value, index), text) in enumerate(zip(today, numbers, strict=True)):
        now = exact(value, index)
        try:
            then = Decimal(text)
        except InvalidOperation:
            return Reproduced.UNCHECKED, f"{text!r} is not a number", None
        if now is None:
            misses.append((position, None))
        elif abs(now - then) > half_unit:
            misses.append((position, abs(now - then)))
    if not misses:
        return Reproduced.YES, f"{len(numbers)} number(s) to {digits} decimals", None
    finite = [miss for _, miss in misses if miss is not None]
    largest = max(finite) if finite else None
    where = ", ".join(str(position) for position, _ in misses[:8]) + (" …" if len(misses) > 8 else "")
    evidence = f"{len(misses)} of {len(numbers)} number(s) differ (at {where})"
    if largest is not None:
        units = largest.scaleb(digits)
        evidence += f", by up to {float(largest):.3g} ({units:,.0f} in the last printed digit)"
    if len(finite) < len(misses):
        evidence += "; some are not finite numbers today"
    return Reproduced.NO, evidence, largest


def published_line(checks: Sequence[PublishedCheck]) -> str:
    counts = {verdict: sum(1 for check in checks if check.verdict is verdict) for verdict in Reproduced}
    text = f"{counts[Reproduced.YES]} of {len(checks)} reproduced"
    if counts[Reproduced.NO]:
        text += f", {counts[Reproduced.NO]} missed"
    if counts[Reproduced.UNCHECKED]:
        text += f", {counts[Reproduced.UNCHECKED]} not checked"
    return text + "."
