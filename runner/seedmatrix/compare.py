"""Compare records: across repeats (bitwise), and across environments against a reference.

Pure functions over `Results`; nothing here touches Docker or the disk.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property

from .results import BuildStatus, Record, Results, RunStatus, Value

_IEEE_WIDTH = {"float16": 2, "float32": 4, "float64": 8}


class CellState(StrEnum):
    STABLE = "stable"  # every labelled value is bitwise identical across repeats
    VARIES = "varies"  # at least one labelled value differs between repeats
    ERROR = "error"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out-of-memory"
    BAD_OUTPUT = "bad-output"
    BUILD_FAILED = "build-failed"
    NOT_APPLICABLE = "not-applicable"  # the environment lacks a framework the case requires
    SKIPPED = "skipped"  # this host cannot run it (reason in the detail); not a failure
    WRONG_DEVICE = "ran-on-cpu"  # a GPU was asked for, but the ops ran on the CPU
    MISSING = "missing"  # no record: the run was interrupted before this cell


@dataclass(frozen=True, kw_only=True)
class Difference:
    """A stable value against the reference environment's stable value for the same label."""

    equal: bool
    max_abs: float | None = None
    max_ulps: int | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class LabelResult:
    label: str
    distinct: int  # distinct bit patterns over the repeats; 1 means stable
    repeats: int
    value: Value  # from the first repeat
    vs_reference: Difference | None = None

    @property
    def stable(self) -> bool:
        return self.distinct == 1 and self.repeats > 0


@dataclass(frozen=True, kw_only=True)
class CellResult:
    environment: str
    case: str
    state: CellState
    labels: tuple[LabelResult, ...] = ()
    group: str | None = None  # environments sharing a letter agree bitwise on this case
    detail: str = ""

    @property
    def varying(self) -> tuple[str, ...]:
        return tuple(label.label for label in self.labels if not label.stable)

    @property
    def differs_from_reference(self) -> bool:
        return any(label.vs_reference is not None and not label.vs_reference.equal for label in self.labels)


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
        return any(
            cell.state
            in {
                CellState.ERROR,
                CellState.TIMEOUT,
                CellState.OUT_OF_MEMORY,
                CellState.BAD_OUTPUT,
                CellState.BUILD_FAILED,
                CellState.MISSING,
                CellState.WRONG_DEVICE,
            }
            for cell in self.cells
        )


def compare(results: Results) -> Comparison:
    environments = tuple(env.name for env in results.environments)
    skipped = {(skip.environment, skip.case): skip.reason for skip in results.skipped}
    cells: list[CellResult] = []
    for case in results.cases:
        by_env = {
            env.name: _cell(results, env.name, case.name, case.requires, skipped)
            for env in results.environments
        }
        reference = by_env.get(results.reference)
        compared = {
            name: _against_reference(cell, reference) if name != results.reference else cell
            for name, cell in by_env.items()
        }
        grouped = {
            cell.environment: cell
            for cell in _assign_groups(compared, order=_reference_first(environments, results.reference))
        }
        cells.extend(grouped[name] for name in environments)
    return Comparison(
        reference=results.reference,
        environments=environments,
        cases=tuple(case.name for case in results.cases),
        cells=tuple(cells),
    )


def _reference_first(environments: Sequence[str], reference: str) -> list[str]:
    return sorted(environments, key=lambda name: name != reference)


def _cell(
    results: Results,
    environment: str,
    case: str,
    requires: Sequence[str],
    skipped: Mapping[tuple[str, str], str],
) -> CellResult:
    env = results.environment(environment)
    missing = sorted(set(requires) - set(env.frameworks))
    if missing:
        return CellResult(
            environment=environment,
            case=case,
            state=CellState.NOT_APPLICABLE,
            detail=f"needs {', '.join(missing)}",
        )
    if (environment, case) in skipped:
        return CellResult(
            environment=environment, case=case, state=CellState.SKIPPED, detail=skipped[environment, case]
        )
    if env.build is BuildStatus.FAILED:
        return CellResult(
            environment=environment, case=case, state=CellState.BUILD_FAILED, detail=env.error or ""
        )
    records = results.records_of(environment, case)
    if not records:
        return CellResult(environment=environment, case=case, state=CellState.MISSING)
    failed = next((r for r in records if r.status is not RunStatus.OK), None)
    if failed is not None:
        state = {
            RunStatus.ERROR: CellState.ERROR,
            RunStatus.TIMEOUT: CellState.TIMEOUT,
            RunStatus.OUT_OF_MEMORY: CellState.OUT_OF_MEMORY,
            RunStatus.BAD_OUTPUT: CellState.BAD_OUTPUT,
        }[failed.status]
        return CellResult(environment=environment, case=case, state=state, detail=_failure_detail(failed))
    if env.requested.get("device") == "gpu":
        # Python and NumPy never use a GPU; only a GPU framework that did not is a wrong device.
        elsewhere = [
            r
            for r in records
            if r.device.get("kind", "GPU") != "GPU" and r.device.get("framework") != "python"
        ]
        if elsewhere:
            first = elsewhere[0]
            where = f"{first.device.get('kind')} ({first.device.get('detail')})"
            detail = f"asked for a GPU, but repeat {first.repeat} ran on: {where}"
            return CellResult(environment=environment, case=case, state=CellState.WRONG_DEVICE, detail=detail)
    if len(records) < results.repeats:
        return CellResult(
            environment=environment,
            case=case,
            state=CellState.MISSING,
            detail=f"{len(records)} of {results.repeats} repeats recorded",
        )
    labels = _label_results(records)
    state = CellState.STABLE if all(label.stable for label in labels) else CellState.VARIES
    return CellResult(environment=environment, case=case, state=state, labels=labels)


def _failure_detail(record: Record) -> str:
    if record.status is RunStatus.TIMEOUT:
        return f"repeat {record.repeat} killed after {record.seconds:.0f} s"
    if record.status is RunStatus.OUT_OF_MEMORY:
        return f"repeat {record.repeat} was killed at its memory limit"
    if record.status is RunStatus.BAD_OUTPUT:
        return f"repeat {record.repeat} exited 0 but recorded no value"
    tail = record.stderr_tail.strip().splitlines()
    return f"repeat {record.repeat} exited {record.exit_code}" + (f": {tail[-1]}" if tail else "")


def _label_results(records: Sequence[Record]) -> tuple[LabelResult, ...]:
    order: list[str] = []
    seen: dict[str, list[Value]] = {}
    for record in records:
        for value in record.values:
            if value.label not in seen:
                order.append(value.label)
                seen[value.label] = []
            seen[value.label].append(value)
    results = []
    for label in order:
        values = seen[label]
        patterns = {(v.dtype, v.shape, v.bits) for v in values}
        # A label absent from some repeat is not stable, whatever the others printed.
        distinct = len(patterns) + (1 if len(values) < len(records) else 0)
        results.append(LabelResult(label=label, distinct=distinct, repeats=len(records), value=values[0]))
    return tuple(results)


def _against_reference(cell: CellResult, reference: CellResult | None) -> CellResult:
    if reference is None or not cell.labels or not reference.labels:
        return cell
    reference_labels = {label.label: label for label in reference.labels}
    labels = []
    for label in cell.labels:
        other = reference_labels.get(label.label)
        difference = None
        if other is not None and label.stable and other.stable:
            difference = difference_between(label.value, other.value)
        labels.append(replace(label, vs_reference=difference))
    return replace(cell, labels=tuple(labels))


def difference_between(value: Value, reference: Value) -> Difference:
    if value.bits == reference.bits and value.dtype == reference.dtype and value.shape == reference.shape:
        return Difference(equal=True)
    if value.shape != reference.shape or len(value.values) != len(reference.values):
        return Difference(equal=False, note=f"shape {list(value.shape)} vs {list(reference.shape)}")
    pairs = list(zip(value.values, reference.values, strict=True))
    numeric = [(a, b) for a, b in pairs if isinstance(a, int | float) and isinstance(b, int | float)]
    if len(numeric) != len(pairs):
        return Difference(equal=False, note="not numeric")
    max_abs = max((abs(float(a) - float(b)) for a, b in numeric), default=0.0)
    max_ulps = None
    if value.dtype == reference.dtype and value.dtype in _IEEE_WIDTH:
        max_ulps = max(
            (ulp_distance(a, b) for a, b in zip(value.bits, reference.bits, strict=True)), default=0
        )
    note = "" if value.dtype == reference.dtype else f"dtype {value.dtype} vs {reference.dtype}"
    return Difference(
        equal=False, max_abs=max_abs if math.isfinite(max_abs) else None, max_ulps=max_ulps, note=note
    )


def ulp_distance(bits_a: str, bits_b: str) -> int:
    """Units in the last place between two IEEE floats of the same width, given as big-endian hex.

    Floats are sign-magnitude; mapping negative ones below zero makes adjacent floats adjacent
    integers, so the distance is a subtraction (and +0/-0 are 0 apart).
    """
    return abs(_ordered(bits_a) - _ordered(bits_b))


def _ordered(bits: str) -> int:
    width = len(bits) * 4
    raw = int(bits, 16)
    sign = 1 << (width - 1)
    return -(raw & (sign - 1)) if raw & sign else raw


def _assign_groups(cells: dict[str, CellResult], *, order: Sequence[str]) -> list[CellResult]:
    """Letter the environments by their stable output; equal letters mean bitwise agreement."""
    letters: dict[tuple[object, ...], str] = {}
    grouped = []
    for name in order:
        cell = cells[name]
        if cell.state not in {CellState.STABLE, CellState.VARIES}:
            grouped.append(cell)
            continue
        fingerprint = tuple(
            (label.label, label.value.dtype, label.value.bits) if label.stable else (label.label, "varies")
            for label in cell.labels
        )
        letter = letters.setdefault(fingerprint, _letter(len(letters)))
        grouped.append(replace(cell, group=letter))
    return grouped


def _letter(index: int) -> str:
    alphabet = string.ascii_uppercase
    return alphabet[index] if index < len(alphabet) else f"{alphabet[index // 26 - 1]}{alphabet[index % 26]}"
