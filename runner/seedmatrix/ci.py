"""What CI reads besides MATRIX.md: junit.xml, and GitHub annotations at the claims' lines.

junit.xml has one test case per (case, environment) cell, named `<environment>` in class `<case>`:
a failure is a SURPRISE or, under the gate (fail_on_change), a change against the baseline; an error
is a cell that did not run as it should (crashed, timed out, out of memory, build failed, no value,
the wrong device); skipped is skipped or not applicable, with the reason; anything else passed. The
gate fails junit.xml wherever it fails the exit status: a skipped cell whose values vanished is a
failure, and a cell only the baseline has gets a test case of its own. Pure: results and verdicts
in, bytes and lines out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from .baseline import BaselineCell
from .claims import ClaimCheck, Verdict
from .compare import FAILED, CellState
from .results import Results
from .verdicts import Verdicts

#: GitHub shows at most ten error annotations per step; the rest are summed up in one notice.
MOST_ANNOTATIONS = 10
KeyPath = tuple[str | int, ...]


def junit_xml(results: Results, verdicts: Verdicts, *, fail_on_change: bool) -> bytes:
    """`fail_on_change`: the gate as the exit status applies it (matrix.yaml's or --fail-on-change)."""
    comparison = verdicts.comparison
    gated = (
        {(cell.environment, cell.case): cell for cell in verdicts.baseline.gated}
        if fail_on_change and verdicts.baseline
        else {}
    )
    suite = ET.Element("testsuite", name=f"seedmatrix {results.run_id}", timestamp=results.started)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for cell in comparison.cells:
        records = results.records_of(cell.environment, cell.case)
        case = ET.SubElement(
            suite,
            "testcase",
            classname=cell.case,
            name=cell.environment,
            time=f"{sum(record.seconds for record in records):.3f}",
        )
        counts["tests"] += 1
        surprises = [
            check
            for check in verdicts.claims_of(cell.environment, cell.case)
            if check.verdict is Verdict.SURPRISE
        ]
        change = gated.pop((cell.environment, cell.case), None)
        if cell.state in FAILED:
            counts["errors"] += 1
            message = _xml(f"{cell.state.value}: {cell.detail}"[:1000])
            ET.SubElement(case, "error", message=message, type=cell.state.value)
        elif surprises or change is not None:  # before skips: a cell that now skips lost its values
            counts["failures"] += 1
            _failure(case, surprises, change)
        elif cell.state in {CellState.SKIPPED, CellState.NOT_APPLICABLE}:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_xml(cell.detail or cell.state.value))
        ET.SubElement(case, "system-out").text = f"{cell.state.value}" + (
            f" ({cell.group})" if cell.group else ""
        )
    for change in gated.values():  # cells only the baseline has: not in this run's comparison
        case = ET.SubElement(suite, "testcase", classname=change.case, name=change.environment, time="0.000")
        counts["tests"] += 1
        counts["failures"] += 1
        _failure(case, [], change)
    root = ET.Element("testsuites", name="seedmatrix")
    for key, value in counts.items():
        suite.set(key, str(value))
        root.set(key, str(value))
    root.append(suite)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


def _failure(case: ET.Element, surprises: Sequence[ClaimCheck], change: BaselineCell | None) -> None:
    lines = [f"SURPRISE {check.claim_text}: {check.evidence}" for check in surprises]
    if change is not None:
        lines.append(f"changed against the baseline: {change.gate_line}")
    kind = "surprise" if surprises else "change"
    failure = ET.SubElement(case, "failure", message=_xml(lines[0][:1000]), type=kind)
    failure.text = _xml("\n".join(lines))


def github_annotations(
    surprises: Sequence[ClaimCheck],
    *,
    matrix_file: str,
    cases: Sequence[str],
    lines: Mapping[KeyPath, int],
) -> list[str]:
    """GitHub workflow commands: an error at each SURPRISE's claim in matrix.yaml (the first ten),
    then one notice that counts the rest."""
    found = []
    for check in surprises[:MOST_ANNOTATIONS]:
        line = _claim_line(check, cases, lines)
        title = f"SURPRISE {check.case} on {check.environment}"
        message = f"{check.claim_text}: {check.evidence}"
        found.append(
            f"::error file={_property(matrix_file)},line={line},title={_property(title)}::{_data(message)}"
        )
    if len(surprises) > MOST_ANNOTATIONS:
        more = len(surprises) - MOST_ANNOTATIONS
        found.append(f"::notice title=More SURPRISES::{more} more SURPRISES; MATRIX.md lists every one")
    return found


def _claim_line(check: ClaimCheck, cases: Sequence[str], lines: Mapping[KeyPath, int]) -> int:
    index = cases.index(check.case) if check.case in cases else None
    if index is None:
        return 1
    found = lines.get(("cases", index, check.block, check.kind)) or lines.get(("cases", index, check.block))
    return found or lines.get(("cases", index), 1)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    """Text XML 1.0 can carry: a script's stderr may hold terminal colours or NUL."""
    return _NOT_XML.sub("\ufffd", text)


def _data(text: str) -> str:
    """Escaped as GitHub's workflow commands require (%, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
