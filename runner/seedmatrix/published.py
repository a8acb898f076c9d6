"""Published values: does today's run still print what someone printed, to the digits they printed?

A case's `expected:` maps labels to the numbers a person printed (an article, a paper, a team's
notebook) and how many digits after the decimal point they printed. A value reproduces them when
each element, printed the way Python and NumPy print to a fixed number of decimals, gives back the
printed number: its exact binary value (a float32 widens to a double exactly) rounded to `digits`
decimals, a tie to the even digit. That is `'%.8f' % x`, `format(x, '.8f')`, `round(x, 8)` and
NumPy before 1.14, which printed each array element with `'%.8f'` (trailing zeros left out, so
0.4139019 is 0.41390190). The float 0.125 prints 0.12 at 2 decimals, not 0.13; the double nearest
0.135 lies above the tie and prints 0.14. Printers of the shortest repr (NumPy 1.14 and later, for
a float32) are not this rule: a float32 0.3 they print 0.3 reads missed. Where a value does not
reproduce, the check says by how much it misses, in absolute terms and in units of the last printed
digit.

Pure: reads `Results` and their `Comparison`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from enum import StrEnum

from .compare import WITH_VALUES, Comparison, LabelResult
from .results import Results
from .values import Value, exact, is_float, is_integer


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
    unread = _not_read(values)
    if unread:
        return Reproduced.UNCHECKED, unread, None
    today = [(value, index) for value in values for index in range(len(value.bits))]
    if len(today) != len(numbers):
        return Reproduced.NO, f"{len(numbers)} number(s) printed, {len(today)} recorded", None
    misses: list[tuple[int, Decimal | None]] = []
    for position, ((value, index), text) in enumerate(zip(today, numbers, strict=True)):
        now = exact(value, index)
        try:
            then = Decimal(text)
        except InvalidOperation:
            return Reproduced.UNCHECKED, f"{text!r} is not a number", None
        if not then.is_finite():  # matrix.yaml refuses these; a results file made elsewhere may not
            return Reproduced.UNCHECKED, f"{text!r} is not a finite number", None
        if now is None:
            misses.append((position, None))
        elif _printed_as(now, digits) != then:
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
        evidence += "; some are masked or not finite numbers today"
    return Reproduced.NO, evidence, largest


def _not_read(values: Sequence[Value]) -> str:
    """Why today's values are not compared with printed decimals, if they are not."""
    if any(value.packed for value in values):
        return "an array kept in a side file: its numbers are not read here"
    # Text (`parse:`), complex numbers, booleans: not numbers a printed decimal stands for.
    other = next(
        (value.dtype for value in values if not (is_float(value.dtype) or is_integer(value.dtype))), ""
    )
    return f"{other} values are not compared with printed decimals" if other else ""


def _printed_as(number: Decimal, digits: int) -> Decimal:
    """`number` as Python and NumPy print it with `digits` decimals: from its exact value, a tie to
    the even digit."""
    # Room for every digit the result keeps (the default context keeps 28 and would round again).
    with localcontext(prec=max(28, number.adjusted() + digits + 2), Emax=MAX_EMAX, Emin=MIN_EMIN):
        return number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)


def published_line(checks: Sequence[PublishedCheck]) -> str:
    counts = {verdict: sum(1 for check in checks if check.verdict is verdict) for verdict in Reproduced}
    text = f"{counts[Reproduced.YES]} of {len(checks)} reproduced"
    if counts[Reproduced.NO]:
        text += f", {counts[Reproduced.NO]} missed"
    if counts[Reproduced.UNCHECKED]:
        text += f", {counts[Reproduced.UNCHECKED]} not checked"
    return text + "."
