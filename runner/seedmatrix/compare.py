"""Compare records: across repeats (bitwise), and across environments against the reference.

Pure functions over `Results`; nothing here touches Docker or the disk. The verdicts err on the
side of "not checked": a label missing from a repeat is never stable, a value that could not be
recorded (or an output not written) is never equal, distinct or stable, and when the reference has
no values nothing is equal to it.

Slightly over 500 lines: labels, cells, groups and the reference comparison are one pass over the
records, and the "not checked" rules above apply across all of them.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from itertools import combinations

from .results import BuildStatus, Record, Results, RunStatus
from .values import Difference, Value, difference, element_count

Series = tuple[Value, ...]  # a label's values in one repeat, in the order shown


class CellState(StrEnum):
    STABLE = "stable"  # every recorded label bitwise identical across the repeats (one at least recorded)
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
    DEVICE_UNKNOWN = "device-unknown"  # a GPU was asked for, but a repeat cannot say it ran on one
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
    VARIES = "varies"  # not the same in every repeat: recorded values that differ, or shown more often
    PARTIAL = "partial"  # missing from some repeats
    RAN_ONCE = "ran-once"
    # Some value the recorder could not record (its type is named) or an output not written, and the
    # recorded ones do not vary: whether it is stable is not checked.
    NOT_RECORDED = "not-recorded"


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
    distinct: int  # distinct series among the repeats that have the label and recorded all of it
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

    @property
    def partly_recorded(self) -> bool:
        """Some of its values were recorded and some were not."""
        if self.state in {LabelState.STABLE, LabelState.RAN_ONCE}:  # every value was recorded
            return False
        values = [value.recorded for series in self.series for value in series]
        return any(values) and not all(values)

    @property
    def unrecorded_where(self) -> str:
        """'not recorded in repeat 2' (by occurrence for a label shown several times); '' if none."""
        return _unrecorded_where(self.repeats, self.series)

    @property
    def settled(self) -> tuple[Value | None, ...] | None:
        """Per occurrence, its value where every repeat recorded the same one, None where some repeat
        did not record it; None as a whole when the label varies, is missing from a repeat or ran once
        without recording everything (nothing settled to compare with other environments)."""
        if self.single:
            return self.value
        # Not recorded, and missing from a repeat or shown a different number of times: nothing settled.
        if self.state is not LabelState.NOT_RECORDED or len({len(item) for item in self.series}) != 1:
            return None
        return tuple(
            occurrence[0] if all(value.recorded for value in occurrence) else None
            for occurrence in zip(*self.series, strict=True)
        )


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
        """Labels with a value that could not be recorded (or an output not written)."""
        return tuple(
            label.label
            for label in self.labels
            if label.state is LabelState.NOT_RECORDED
            or (label.state in {LabelState.VARIES, LabelState.PARTIAL} and label.partly_recorded)
        )

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
    state, detail = _state_of_values(records, labels)
    spread = _spread_over_nodes(records)
    if spread and state in {CellState.STABLE, CellState.VARIES}:
        said = "the hardware may be why they vary" if state is CellState.VARIES else "the same on each"
        detail = f"the repeats ran on {spread}: {said}"
    return CellResult(environment=environment, case=case, state=state, labels=labels, detail=detail)


def _spread_over_nodes(records: Sequence[Record]) -> str:
    """On Slurm, the nodes (and the GPU models) a cell's repeats ran on when there was more than one,
    with the repeats on each; "" when they all ran on one. Repeats that vary across machines may
    vary with the machine and not with the seeding, and repeats that agree agree across them."""
    nodes: dict[str, list[int]] = {}
    models: dict[str, list[int]] = {}
    for record in records:
        placed = record.slurm
        if placed is None:
            continue
        nodes.setdefault(placed.node or "no node", []).append(record.repeat)
        if placed.gpus is not None and placed.gpus.count > 0:
            named = " + ".join(placed.gpus.models) if placed.gpus.models else "GPU model not read"
            models.setdefault(named, []).append(record.repeat)
    spread = []
    if len(nodes) > 1:
        spread.append(f"{len(nodes)} nodes ({_with_repeats(nodes)})")
    if len(models) > 1:
        spread.append(f"{len(models)} kinds of GPU ({_with_repeats(models)})")
    return " and ".join(spread)


def _with_repeats(where: Mapping[str, Sequence[int]]) -> str:
    return "; ".join(
        f"{name}: repeat{'s' if len(repeats) > 1 else ''} {', '.join(map(str, sorted(repeats)))}"
        for name, repeats in where.items()
    )


def _state_of_values(records: Sequence[Record], labels: Sequence[LabelResult]) -> tuple[CellState, str]:
    """A whole set of repeats by its values: stable, varies, ran once, or nothing recorded at all."""
    shown = [value for record in records for value in record.values]
    # Values shown, none recorded: nothing was compared, never "stable". The labels stay, each saying
    # why. (Repeats that showed nothing at all are bad output already, when they arrive.)
    if shown and not any(value.recorded for value in shown):
        notes = {value.label: value.note or value.dtype for value in shown}
        named = "; ".join(f"{label}: {note}" for label, note in list(notes.items())[:3])
        return CellState.BAD_OUTPUT, f"exited 0, but no value could be recorded ({named})"
    if len(records) == 1:
        return CellState.RAN_ONCE, ""
    if all(label.state in {LabelState.STABLE, LabelState.NOT_RECORDED} for label in labels):
        return CellState.STABLE, ""
    return CellState.VARIES, ""


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
    """ "GPU", "CPU", "CPU fallback" as the record's device report says; None: no report arrived,
    or the frameworks it reports on disagree.

    A report of several frameworks (`frameworks`: each one's own report) is read from those alone:
    which of them computed a value cannot be told, so they must all say the same. Older records
    have one report, the first imported framework's.
    """
    frameworks = record.device.get("frameworks")
    if frameworks is None:
        kind = record.device.get("kind")
        return kind if kind in _DEVICE_KINDS else None
    if not isinstance(frameworks, Mapping) or not frameworks:
        return None
    kinds = {each.get("kind") if isinstance(each, Mapping) else None for each in frameworks.values()}
    if kinds == {"GPU"}:
        return "GPU"
    if kinds <= {"CPU", "CPU fallback"}:
        return "CPU fallback" if "CPU fallback" in kinds else "CPU"
    return None


_DEVICE_KINDS = frozenset({"GPU", "CPU", "CPU fallback"})


def _not_on_gpu(records: Sequence[Record]) -> tuple[CellState, str] | None:
    """Why a GPU environment's records are not GPU results, if they are not."""
    for record in records:
        # On Slurm, the GPUs the task got were read on its node: a task without one (the job asked
        # for none, or landed where there is none) is no GPU result, whatever its script computed.
        placed = record.slurm
        if placed is not None and placed.gpus is None:
            why = f"which GPU Slurm task {placed.job_id} got was not read on its node"
            return CellState.DEVICE_UNKNOWN, f"asked for a GPU, but {why}"
        if placed is not None and placed.gpus is not None and placed.gpus.count == 0:
            where = f"Slurm task {placed.job_id} on {placed.node or 'no node'}"
            return CellState.WRONG_DEVICE, f"asked for a GPU, but {where} had none: {placed.gpus.detail}"
        kind = device_kind(record)
        if kind is None:
            why = (
                f"the device repeat {record.repeat} ran on is unknown: {record.device.get('detail')}"
                if record.device
                else f"repeat {record.repeat} sent no device report"
            )
            return CellState.DEVICE_UNKNOWN, f"asked for a GPU, but {why}"
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
        whole = [item for item in present if all(value.recorded for value in item)]
        distinct = len({tuple(value.key for value in item) for item in whole})
        unrecorded = _unrecorded_where(repeats, series)
        # Missing from a repeat comes first: the script did something else there, whatever was
        # or was not recorded where it showed the label.
        if len(present) < len(series):  # missing in some repeat: never stable
            state, reason = LabelState.PARTIAL, _partial_reason(repeats, series)
        elif not any(value.recorded for item in present for value in item):
            state, reason = LabelState.NOT_RECORDED, "could not be recorded"
        elif not unrecorded:
            if len(series) == 1:
                state, reason = LabelState.RAN_ONCE, "one repeat: stability not checked"
            else:
                state = LabelState.STABLE if distinct == 1 else LabelState.VARIES
                reason = ""
        elif any(same_series(a, b) is False for a, b in combinations(present, 2)):
            state, reason = LabelState.VARIES, unrecorded
        else:  # what was recorded agrees, what was not cannot be told
            state, reason = LabelState.NOT_RECORDED, unrecorded
        found.append(
            LabelResult(
                label=label, state=state, series=series, repeats=repeats, distinct=distinct, reason=reason
            )
        )
    return tuple(found)


def _partial_reason(repeats: Sequence[int], series: Sequence[Series]) -> str:
    missing = [str(r) for r, item in zip(repeats, series, strict=True) if not item]
    unrecorded = _unrecorded_where(repeats, series)
    return "; ".join([f"missing in repeat {', '.join(missing)}", *([unrecorded] if unrecorded else [])])


def _unrecorded_where(repeats: Sequence[int], series: Sequence[Series]) -> str:
    """'not recorded in repeat 2', or by occurrence for a label shown several times; '' if none."""
    where: dict[int, list[str]] = {}
    for repeat, item in zip(repeats, series, strict=True):
        for occurrence, value in enumerate(item, start=1):
            if not value.recorded:
                where.setdefault(occurrence, []).append(str(repeat))
    if not where:
        return ""
    if all(len(item) <= 1 for item in series):
        return f"not recorded in repeat {', '.join(where[1])}"
    return "not recorded: " + "; ".join(
        f"occurrence {occurrence} in repeat {', '.join(found)}" for occurrence, found in sorted(where.items())
    )


def same_series(mine: Series, other: Series) -> bool | None:
    """Whether a label was shown identically twice; None when that cannot be told: a value that was
    not recorded (or an output not written) counts as neither equal nor distinct. Shown a different
    number of times, or a recorded occurrence with other bits: False."""
    if len(mine) != len(other):
        return False
    pairs = list(zip(mine, other, strict=True))
    if any(a.recorded and b.recorded and a.key != b.key for a, b in pairs):
        return False
    return True if all(a.recorded and b.recorded for a, b in pairs) else None


def series_difference(mine: Series, other: Series) -> Difference:
    """A label's values in one run against another's, occurrence by occurrence (the first that differs);
    never equal where a value was not recorded."""
    found = known_difference(mine, other)
    if found is not None:
        return found
    note = next((value.note for value in (*mine, *other) if not value.recorded), "") or "not recorded"
    return Difference(equal=False, notes=(note,))


def known_difference(mine: Sequence[Value | None], other: Sequence[Value | None]) -> Difference | None:
    """Like `series_difference`, over the occurrences recorded on both sides (None or a value not
    recorded: unknown). The first recorded occurrence that differs; None when none differs but some
    could not be compared."""
    if len(mine) != len(other):
        return Difference(equal=False, notes=(f"shown {len(mine)} time(s) vs {len(other)}",))
    unknown = False
    for occurrence, (value, reference) in enumerate(zip(mine, other, strict=True), start=1):
        if value is None or reference is None or not (value.recorded and reference.recorded):
            unknown = True
            continue
        found = difference(value, reference)
        if not found.equal:
            if len(mine) > 1:
                return replace(
                    found,
                    occurrence=occurrence,
                    notes=(f"occurrence {occurrence} of {len(mine)}", *found.notes),
                )
            return found
    if unknown:
        return None
    return Difference(equal=True, elements=sum(element_count(value) for value in mine if value is not None))


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
    labels = [_label_versus(label, theirs.get(label.label)) for label in cell.labels]
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


def _label_versus(label: LabelResult, other: LabelResult | None) -> LabelResult:
    """A label against the reference's: its settled values, occurrence by occurrence."""
    if other is None:
        return replace(label, versus=Versus.DIFFERENT, reason="not recorded in the reference")
    mine, reference_values = label.settled, other.settled
    if mine is not None and reference_values is not None:
        found = known_difference(mine, reference_values)
        if found is None:  # what both recorded agrees; the rest cannot be told
            return replace(label, versus=Versus.NOT_COMPARED, reason="could not be recorded")
        verdict = Versus.EQUAL if found.equal else Versus.DIFFERENT
        return replace(label, versus=verdict, vs_reference=found)
    if LabelState.NOT_RECORDED in {label.state, other.state}:
        return replace(label, versus=Versus.NOT_COMPARED, reason="could not be recorded")
    side = "here" if mine is None else "in the reference"
    return replace(label, versus=Versus.NOT_COMPARED, reason=f"varies {side}")


def _groups(
    cells: Mapping[str, CellResult], *, order: Sequence[str], reference: str
) -> dict[str, CellResult]:
    """Letter the environments by their values; equal letters mean bitwise agreement.

    Values that vary or were not recorded are set aside (the label itself still counts); a cell with
    no value left to compare gets no letter. A is the reference's letter; when the reference has no
    letter, no other cell gets A.
    """
    letters: dict[tuple[object, ...], str] = {}
    fingerprints = {name: _fingerprint(cell) for name, cell in cells.items() if cell.state in WITH_VALUES}
    if fingerprints.get(reference) is None:
        letters[("no reference values",)] = "A"  # reserve A: no cell may look equal to the reference
    grouped = {}
    for name in order:
        cell = cells[name]
        if cell.state not in WITH_VALUES:
            grouped[name] = cell
            continue
        fingerprint = fingerprints[name]
        letter = None if fingerprint is None else letters.setdefault(fingerprint, letter_for(len(letters)))
        grouped[name] = replace(
            cell, group=letter, versus=Versus.REFERENCE if name == reference else cell.versus
        )
    return grouped


def _fingerprint(cell: CellResult) -> tuple[object, ...] | None:
    """What two cells must share to share a letter; None when no value of the cell can be compared."""
    compared = False
    parts: list[object] = []
    for label in cell.labels:
        settled = label.settled
        if settled is None:
            parts.append((label.label, label.state.value))
            continue
        compared = compared or any(value is not None for value in settled)
        parts.append((label.label, tuple(None if value is None else value.key for value in settled)))
    return tuple(parts) if compared else None


def letter_for(index: int) -> str:
    """A, …, Z, AA, …, ZZ, AAA, …: a different letter for every index."""
    alphabet = string.ascii_uppercase
    letters = ""
    index += 1
    while index:
        index, position = divmod(index - 1, len(alphabet))
        letters = alphabet[position] + letters
    return letters
