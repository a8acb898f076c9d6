"""Compare records: across repeats (bitwise), and across environments against the reference.

Pure functions over `Results`; nothing here touches Docker or the disk. The verdicts err on the
side of "not checked": a label missing from a repeat is never stable, a value that could not be
recorded is never equal, and when the reference has no values nothing is equal to it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property

from .results import BuildStatus, Record, Results, RunStatus
from .values import Difference, Value, difference, element_count

Series = tuple[Value, ...]  # a label's values in one repeat, in the order shown


class CellState(StrEnum):
    STABLE = "stable"  # every recorded label bitwise identical across the repeats
    VARIES = "varies"  # some label differs between repeats, or is missing from one
    RAN_ONCE = "ran-once"  # one repeat: nothing to say about stability
    ERROR = "error"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out-of-memory"
    BAD_OUTPUT = "bad-output"
    BUILD_FAILED = "build-failed"
    NOT_APPLICABLE = "not-applicable"  # the environment lacks a framework the case requires
    SKIPPED = "skipped"  # this host cannot run it (reason in the detail); not a failure
    WRONG_DEVICE = "ran-on-cpu"  # a GPU was asked for, but the ops ran on the CPU
    DEVICE_UNKNOWN = "device-unknown"  # a GPU was asked for, but a repeat sent no device report
    MISSING = "missing"  # no complete set of records: the run was interrupted before this cell


#: Cells whose values were recorded and can be compared.
WITH_VALUES = frozenset({CellState.STABLE, CellState.VARIES, CellState.RAN_ONCE})
#: Cells that did not run as they should: the run's exit status is 1. Not a verdict about seeds.
FAILED = frozenset(
    {
        CellState.ERROR,
        CellState.TIMEOUT,
        CellState.OUT_OF_MEMORY,
        CellState.BAD_OUTPUT,
        CellState.BUILD_FAILED,
        CellState.MISSING,
        CellState.WRONG_DEVICE,
        CellState.DEVICE_UNKNOWN,
    }
)
_FROM_RUN = {
    RunStatus.ERROR: CellState.ERROR,
    RunStatus.TIMEOUT: CellState.TIMEOUT,
    RunStatus.OUT_OF_MEMORY: CellState.OUT_OF_MEMORY,
    RunStatus.BAD_OUTPUT: CellState.BAD_OUTPUT,
}


class LabelState(StrEnum):
    STABLE = "stable"  # the same series of values in every repeat
    VARIES = "varies"  # not the same in every repeat
    PARTIAL = "partial"  # missing from some repeats
    RAN_ONCE = "ran-once"
    NOT_RECORDED = "not-recorded"  # the recorder could not record it (its type is named)


class Versus(StrEnum):
    """A cell (or label) against the reference environment's."""

    REFERENCE = "reference"  # it is the reference
    EQUAL = "equal"  # bitwise equal, every label
    EQUAL_WHERE_STABLE = "equal where stable"  # every label comparable on both sides is equal
    DIFFERENT = "different"
    NO_REFERENCE = "no reference values"  # the reference has no values for it: nothing is equal
    NOT_COMPARED = "not compared"  # no values here, or the label varies or was not recorded


@dataclass(frozen=True, kw_only=True)
class LabelResult:
    label: str
    state: LabelState
    series: tuple[Series, ...]  # one per repeat that ran, by repeat (empty where the label is missing)
    repeats: tuple[int, ...]  # the repeat numbers of `series`
    distinct: int  # distinct series among the repeats that have the label
    versus: Versus = Versus.NOT_COMPARED
    vs_reference: Difference | None = None
    reason: str = ""  # why it was not compared, or what is odd about it

    @property
    def stable(self) -> bool:
        return self.state is LabelState.STABLE

    @property
    def single(self) -> bool:
        """One series to stand for the label: stable, or only one repeat ran."""
        return self.state in {LabelState.STABLE, LabelState.RAN_ONCE}

    @property
    def value(self) -> Series:
        """The first repeat's series (the one shown)."""
        return next((series for series in self.series if series), ())

    @property
    def missing_in(self) -> tuple[int, ...]:
        return tuple(repeat for repeat, series in zip(self.repeats, self.series, strict=True) if not series)

    @property
    def not_recorded_note(self) -> str:
        return next((value.note for series in self.series for value in series if not value.recorded), "")


@dataclass(frozen=True, kw_only=True)
class CellResult:
    environment: str
    case: str
    state: CellState
    labels: tuple[LabelResult, ...] = ()
    group: str | None = None  # environments sharing a letter agree bitwise on this case; A: the reference
    versus: Versus = Versus.NOT_COMPARED
    detail: str = ""

    @property
    def varying(self) -> tuple[str, ...]:
        return tuple(
            label.label for label in self.labels if label.state in {LabelState.VARIES, LabelState.PARTIAL}
        )

    @property
    def not_recorded(self) -> tuple[str, ...]:
        return tuple(label.label for label in self.labels if label.state is LabelState.NOT_RECORDED)

    def label(self, name: str) -> LabelResult | None:
        return next((label for label in self.labels if label.label == name), None)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    reference: str
    environments: tuple[str, ...]
    cases: tuple[str, ...]
    cells: tuple[CellResult, ...]

    def cell(self, environment: str, case: str) -> CellResult:
        return self._by_key[environment, case]

    @property
    def keys(self) -> Set[tuple[str, str]]:
        """The (environment, case) of every cell."""
        return self._by_key.keys()

    @cached_property
    def _by_key(self) -> dict[tuple[str, str], CellResult]:
        return {(cell.environment, cell.case): cell for cell in self.cells}

    def count(self, state: CellState) -> int:
        return sum(1 for cell in self.cells if cell.state is state)

    @property
    def failed(self) -> bool:
        """Something did not run as it should (not a verdict about seeds)."""
        return any(cell.state in FAILED for cell in self.cells)


def compare(results: Results) -> Comparison:
    environments = tuple(env.name for env in results.environments)
    skipped = {(skip.environment, skip.case): skip.reason for skip in results.skipped}
    reference_ran = results.has_environment(results.reference)
    order = sorted(environments, key=lambda name: name != results.reference)
    cells: list[CellResult] = []
    for case in results.cases:
        by_env = {name: _cell(results, name, case.name, case.requires, skipped) for name in environments}
        reference = by_env.get(results.reference)
        absent = "" if reference_ran else f"the reference environment {results.reference} is not in this run"
        compared = {
            name: cell if name == results.reference else _against_reference(cell, reference, absent)
            for name, cell in by_env.items()
        }
        grouped = _groups(compared, order=order, reference=results.reference)
        cells.extend(grouped[name] for name in environments)
    return Comparison(
        reference=results.reference,
        environments=environments,
        cases=tuple(case.name for case in results.cases),
        cells=tuple(cells),
    )


def _cell(
    results: Results,
    environment: str,
    case: str,
    requires: Sequence[str],
    skipped: Mapping[tuple[str, str], str],
) -> CellResult:
    env = results.environment(environment)

    def cell(state: CellState, detail: str = "") -> CellResult:
        return CellResult(environment=environment, case=case, state=state, detail=detail)

    missing = sorted(set(requires) - set(env.frameworks))
    if missing:
        return cell(CellState.NOT_APPLICABLE, f"needs {', '.join(missing)}")
    if (environment, case) in skipped:
        return cell(CellState.SKIPPED, skipped[environment, case])
    if env.build.status is BuildStatus.FAILED:
        return cell(CellState.BUILD_FAILED, env.build.error or "")
    records = results.records_of(environment, case)
    if not records:
        return cell(CellState.MISSING)
    failed = next((r for r in records if r.status not in {RunStatus.OK, RunStatus.SKIPPED}), None)
    if failed is not None:
        return cell(_FROM_RUN[failed.status], failure_detail(failed))
    if env.requested.get("device") == "gpu":  # before a skip: "no GPU here" in a GPU environment is a failure
        wrong = _not_on_gpu(records)
        if wrong is not None:
            return cell(*wrong)
    itself = _skipped_itself(records)
    if itself is not None:
        return cell(*itself)
    if len(records) < results.repeats:
        return cell(CellState.MISSING, f"{len(records)} of {results.repeats} repeats recorded")
    labels = label_results(records)
    if len(records) == 1:
        state = CellState.RAN_ONCE
    elif all(label.state in {LabelState.STABLE, LabelState.NOT_RECORDED} for label in labels):
        state = CellState.STABLE
    else:
        state = CellState.VARIES
    return CellResult(environment=environment, case=case, state=state, labels=labels)


def _skipped_itself(records: Sequence[Record]) -> tuple[CellState, str] | None:
    """A script that called recording.skip: skipped when every repeat did, else not whole."""
    skipping = [r for r in records if r.status is RunStatus.SKIPPED]
    if not skipping:
        return None
    reason = skipping[0].skipped
    if len(skipping) == len(records):
        return CellState.SKIPPED, f"the script skipped itself: {reason}"
    which = ", ".join(str(r.repeat) for r in skipping)
    return CellState.BAD_OUTPUT, f"the script skipped itself in repeat {which} only: {reason}"


def device_kind(record: Record) -> str | None:
    """ "GPU", "CPU", "CPU fallback" as the record's device report says; None: no report arrived."""
    kind = record.device.get("kind")
    return kind if kind in {"GPU", "CPU", "CPU fallback"} else None


def _not_on_gpu(records: Sequence[Record]) -> tuple[CellState, str] | None:
    """Why a GPU environment's records are not GPU results, if they are not."""
    for record in records:
        kind = device_kind(record)
        if kind is None:
            return (
                CellState.DEVICE_UNKNOWN,
                f"asked for a GPU, but repeat {record.repeat} sent no device report",
            )
        # Python and NumPy never use a GPU; only a GPU framework that did not is a wrong device.
        if kind != "GPU" and record.device.get("framework") != "python":
            where = f"{kind} ({record.device.get('detail')})"
            return CellState.WRONG_DEVICE, f"asked for a GPU, but repeat {record.repeat} ran on: {where}"
    return None


def failure_detail(record: Record) -> str:
    tail = record.stderr_tail.strip().splitlines()
    last = f": {tail[-1]}" if tail else ""
    if record.status is RunStatus.TIMEOUT:
        return f"repeat {record.repeat} stopped at the time limit after {record.seconds:.0f} s"
    if record.status is RunStatus.OUT_OF_MEMORY:
        return f"repeat {record.repeat} was killed at its memory limit"
    if record.status is RunStatus.BAD_OUTPUT:
        return f"repeat {record.repeat} exited 0, but its values are not whole{last}"
    return f"repeat {record.repeat} exited {record.exit_code}{last}"


def program_order(sequences: Sequence[Sequence[str]]) -> list[str]:
    """One order of labels from several runs' orders: a label one run shows and another does not
    goes after the label that preceded it in the run that showed it."""
    order: list[str] = []
    for sequence in sequences:
        after = -1
        for label in dict.fromkeys(sequence):
            if label in order:
                after = order.index(label)
            else:
                after += 1
                order.insert(after, label)
    return order


def label_results(records: Sequence[Record]) -> tuple[LabelResult, ...]:
    """Each label's series in every repeat, in program order (the order the repeats showed them)."""
    per_repeat: list[dict[str, list[Value]]] = []
    for record in records:
        shown: dict[str, list[Value]] = {}
        for value in record.values:
            shown.setdefault(value.label, []).append(value)
        per_repeat.append(shown)
    repeats = tuple(record.repeat for record in records)
    found = []
    for label in program_order([list(shown) for shown in per_repeat]):
        series = tuple(tuple(shown.get(label, ())) for shown in per_repeat)
        present = [item for item in series if item]
        distinct = len({tuple(value.key for value in item) for item in present})
        recorded = [item for item in present if all(value.recorded for value in item)]
        if not recorded:
            state, reason = LabelState.NOT_RECORDED, "could not be recorded"
        elif len(recorded) < len(series):  # missing, or not recorded, in some repeat: never stable
            state, reason = LabelState.PARTIAL, _partial_reason(repeats, series)
        elif len(series) == 1:
            state, reason = LabelState.RAN_ONCE, "one repeat: stability not checked"
        else:
            state = LabelState.STABLE if distinct == 1 else LabelState.VARIES
            reason = ""
        found.append(
            LabelResult(
                label=label, state=state, series=series, repeats=repeats, distinct=distinct, reason=reason
            )
        )
    return tuple(found)


def _partial_reason(repeats: Sequence[int], series: Sequence[Series]) -> str:
    missing = [str(r) for r, item in zip(repeats, series, strict=True) if not item]
    unrecorded = [
        str(r) for r, item in zip(repeats, series, strict=True) if item and not all(v.recorded for v in item)
    ]
    parts = [f"missing in repeat {', '.join(missing)}"] if missing else []
    parts += [f"not recorded in repeat {', '.join(unrecorded)}"] if unrecorded else []
    return "; ".join(parts)


def series_difference(mine: Series, other: Series) -> Difference:
    """A label's values in one run against another's, occurrence by occurrence (the first that differs)."""
    if len(mine) != len(other):
        return Difference(equal=False, notes=(f"shown {len(mine)} time(s) vs {len(other)}",))
    for occurrence, (value, reference) in enumerate(zip(mine, other, strict=True)):
        found = difference(value, reference)
        if not found.equal:
            if len(mine) > 1:
                return replace(
                    found,
                    occurrence=occurrence + 1,
                    notes=(f"occurrence {occurrence + 1} of {len(mine)}", *found.notes),
                )
            return found
    return Difference(equal=True, elements=sum(element_count(value) for value in mine))


def _against_reference(cell: CellResult, reference: CellResult | None, absent: str) -> CellResult:
    if cell.state not in WITH_VALUES:
        return cell
    if reference is None or reference.state not in WITH_VALUES:
        why = (
            absent
            or f"the reference has no values for this case ({reference.state.value if reference else '?'})"
        )
        unmatched = tuple(replace(label, versus=Versus.NO_REFERENCE, reason=why) for label in cell.labels)
        return replace(cell, labels=unmatched, versus=Versus.NO_REFERENCE, detail=cell.detail or why)
    theirs = {label.label: label for label in reference.labels}
    labels: list[LabelResult] = []
    for label in cell.labels:
        other = theirs.get(label.label)
        if other is None:
            labels.append(replace(label, versus=Versus.DIFFERENT, reason="not recorded in the reference"))
        elif label.state is LabelState.NOT_RECORDED or other.state is LabelState.NOT_RECORDED:
            labels.append(replace(label, versus=Versus.NOT_COMPARED, reason="could not be recorded"))
        elif not (label.single and other.single):
            side = "here" if not label.single else "in the reference"
            labels.append(replace(label, versus=Versus.NOT_COMPARED, reason=f"varies {side}"))
        else:
            found = series_difference(label.value, other.value)
            verdict = Versus.EQUAL if found.equal else Versus.DIFFERENT
            labels.append(replace(label, versus=verdict, vs_reference=found))
    only_there = [name for name in theirs if cell.label(name) is None]
    verdicts = {label.versus for label in labels}
    if Versus.DIFFERENT in verdicts or only_there:
        versus = Versus.DIFFERENT
    elif verdicts <= {Versus.EQUAL}:
        versus = Versus.EQUAL
    elif Versus.EQUAL in verdicts:
        versus = Versus.EQUAL_WHERE_STABLE
    else:
        versus = Versus.NOT_COMPARED
    detail = cell.detail
    if only_there:
        detail = (
            detail + "; " if detail else ""
        ) + f"not recorded here, but in the reference: {', '.join(only_there)}"
    return replace(cell, labels=tuple(labels), versus=versus, detail=detail)


def _groups(
    cells: Mapping[str, CellResult], *, order: Sequence[str], reference: str
) -> dict[str, CellResult]:
    """Letter the environments by their values; equal letters mean bitwise agreement.

    A is the reference's letter; when the reference has no values, no other cell gets A.
    """
    letters: dict[tuple[object, ...], str] = {}
    reference_cell = cells.get(reference)
    if reference_cell is None or reference_cell.state not in WITH_VALUES:
        letters[("no reference values",)] = "A"  # reserve A: no cell may look equal to the reference
    grouped = {}
    for name in order:
        cell = cells[name]
        if cell.state not in WITH_VALUES:
            grouped[name] = cell
            continue
        fingerprint = tuple(
            (label.label, tuple(value.key for value in label.value))
            if label.single
            else (label.label, label.state.value)
            for label in cell.labels
        )
        letter = letters.setdefault(fingerprint, letter_for(len(letters)))
        grouped[name] = replace(
            cell, group=letter, versus=Versus.REFERENCE if name == reference else cell.versus
        )
    return grouped


def letter_for(index: int) -> str:
    alphabet = string.ascii_uppercase
    return alphabet[index] if index < len(alphabet) else f"{alphabet[index // 26 - 1]}{alphabet[index % 26]}"
