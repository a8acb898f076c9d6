"""The matrix itself: one cell per environment and case, its symbols and their legend."""

from __future__ import annotations

from collections.abc import Sequence

from ..claims import KINDS, TOLERANT, TOLERANT_MARK, ClaimCheck, Verdict
from ..compare import WITH_VALUES, CellResult, CellState, Comparison, Versus
from ..limits import CPUS
from ..markdown import anchor, code, details, plain, table
from ..results import Results
from ..values import NOT_WRITTEN, PARSED
from ..verdicts import Verdicts
from .common import WIDE, env_heading, listed, machine_note

#: Its heading in MATRIX.md.
TITLE = "Matrix"

#: Each cell state's symbol and what it means: the matrix uses the symbols, the legend the meanings.
STATES: dict[CellState, tuple[str, str]] = {
    CellState.STABLE: ("✅", "stable: every recorded value is bitwise identical across the repeats"),
    CellState.VARIES: (
        "🎲",
        "varies: some value differs between repeats, or is missing from one (count given)",
    ),
    CellState.RAN_ONCE: ("1️⃣", "ran once (`repeats: 1`): compared across environments, stability not checked"),
    CellState.ERROR: ("💥", "error: the script exited non-zero (last line of stderr in the details)"),
    CellState.TIMEOUT: ("⏱️", "timeout: stopped at the time limit"),
    CellState.OUT_OF_MEMORY: ("🧠", "out of memory: killed at the container's memory limit"),
    CellState.BAD_OUTPUT: ("❓", "bad output: exited 0, but recorded no value or its records are not whole"),
    CellState.BUILD_FAILED: (
        "🧱",
        "build failed: the environment's image could not be built (log in Environments)",
    ),
    CellState.NOT_APPLICABLE: ("➖", "not applicable: the environment lacks a framework the case needs"),
    CellState.SKIPPED: (
        "⏭️",
        "skipped: this host cannot run it (the reason is in the details); not a failure",
    ),
    CellState.WRONG_DEVICE: (
        "🔀",
        "ran on the CPU although the environment asked for a GPU: not a GPU result",
    ),
    CellState.DEVICE_UNKNOWN: (
        "❔",
        "device unknown: a GPU was asked for, but no device report came back or its frameworks disagree",
    ),
    CellState.MISSING: ("⋯", "missing: no complete set of records (the run was interrupted)"),
}


HELD = "✔"


SURPRISE = "❗"


UNCONFINED = "🔓"


OTHER_MARKS = {
    "A, B, …": "cells with the same letter recorded bitwise identical values for the case (values that vary "
    "or could not be recorded aside; a cell with no other value has no letter); A is the reference "
    "environment's letter and no other cell gets it",
    HELD: "every claim the case makes held in this environment",
    SURPRISE: "SURPRISE: a claim did not hold (what was seen is listed under Surprises)",
    "(CPU fallback)": "a CUDA build that saw no GPU and ran on the CPU",
    "(n not recorded)": "labels with a value the recorder could not record, or an output not written "
    "(named in the details): not checked, never counted equal, distinct or stable",
    "📭": "an output file the case declares that the script did not write",
    "(parsed)": "a value taken from what the script printed (`parse:`), compared as text, not recorded",
    UNCONFINED: "its repeats had more CPUs than the case asked for, or they could not be read back (see "
    "Environments): a result that may depend on the CPU count is not the one asked for",
    TOLERANT_MARK: "a claim with a tolerance ("
    + ", ".join(code(kind.name) for kind in KINDS if kind.tolerant)
    + "), not a bitwise one",
}


def _matrix_heading(results: Results, name: str) -> str:
    """The environment's name, with the device it really ran on when that is not plain."""
    kinds = {
        str(record.device.get("kind"))
        for case in results.cases
        for record in results.records_of(name, case.name)
        if record.device
    }
    heading = env_heading(name, results.reference)
    machine = machine_note(results, results.environment(name)) if results.has_environment(name) else ""
    if machine:
        heading += f" ({machine})"
    if "CPU fallback" in kinds:
        heading += " (CPU fallback)"
    elif "GPU" in kinds:
        heading += " (GPU)"
    return heading


def matrix(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    names = comparison.environments
    lines = [f"## {TITLE}", ""]
    if not results.has_environment(results.reference):
        lines += [
            f"The reference environment {plain(results.reference)} did not run here: nothing is "
            "compared with it.",
            "",
        ]
    if len(names) <= WIDE:
        rows = [
            [f"[`{case}`](#{anchor(case)})"] + [_cell(verdicts, env, case) for env in names]
            for case in comparison.cases
        ]
        lines += table(
            ["case", *(_matrix_heading(results, n) for n in names)], rows, [":--"] + [":-:"] * len(names)
        )
    else:
        # Many environments: one row each, so the table grows down instead of off the page.
        lines += _deviations(comparison, verdicts)
        rows = [
            [_matrix_heading(results, env)] + [_cell(verdicts, env, c) for c in comparison.cases]
            for env in names
        ]
        lines += [
            "",
            *details(
                f"The whole matrix ({len(names)} environments × {len(comparison.cases)} cases)",
                table(
                    ["environment", *(f"[`{c}`](#{anchor(c)})" for c in comparison.cases)],
                    rows,
                    [":--"] + [":-:"] * len(comparison.cases),
                ),
            ),
        ]
    lines += ["", "<sub>", ""]
    lines += [f"{symbol} {meaning}<br>" for symbol, meaning in legend(comparison, verdicts)]
    lines += ["", "</sub>"]
    return "\n".join(lines)


def legend(comparison: Comparison, verdicts: Verdicts) -> list[tuple[str, str]]:
    """The symbols this matrix uses, each with its meaning."""
    states = {cell.state for cell in comparison.cells}
    shown = [STATES[state] for state in CellState if state in states]
    marks = ["A, B, …"] if any(cell.group for cell in comparison.cells) else []
    verdict_kinds = {check.verdict for check in verdicts.claims}
    if Verdict.HELD in verdict_kinds:
        marks.append(HELD)
    if Verdict.SURPRISE in verdict_kinds:
        marks.append(SURPRISE)
    if any(cell.not_recorded for cell in comparison.cells):
        marks.append("(n not recorded)")
    values = [value for cell in comparison.cells for label in cell.labels for value in label.value]
    if any(value.dtype == NOT_WRITTEN for value in values):
        marks.append("📭")
    if any(value.dtype == PARSED for value in values):
        marks.append("(parsed)")
    if any(check.limit == CPUS for check in verdicts.limits):
        marks.append(UNCONFINED)
    if any(check.kind in TOLERANT for check in verdicts.claims):
        marks.append(TOLERANT_MARK)
    return shown + [(mark, OTHER_MARKS[mark]) for mark in marks]


def _deviations(comparison: Comparison, verdicts: Verdicts) -> list[str]:
    """Per environment, what sets it apart from the reference: the short list to read first."""
    lines = []
    for env in comparison.environments:
        cells = [comparison.cell(env, case) for case in comparison.cases]
        different = sum(1 for c in cells if c.versus is Versus.DIFFERENT)
        failed = [c for c in cells if c.state not in WITH_VALUES | {CellState.NOT_APPLICABLE}]
        surprising = sum(
            1
            for c in cells
            if any(check.verdict is Verdict.SURPRISE for check in verdicts.claims_of(env, c.case))
        )
        notes = [
            f"{n} {what}"
            for n, what in (
                (different, "differ from the reference"),
                (len(failed), "did not complete"),
                (surprising, "with a SURPRISE"),
            )
            if n
        ]
        if notes:
            lines.append(f"- **{env}**: {len(cells)} cases, " + ", ".join(notes))
    if not lines:
        return ["Every environment matches the reference in every case."]
    return ["Environments that differ from the reference somewhere:", *listed(lines)]


def _cell(verdicts: Verdicts, environment: str, case: str) -> str:
    text = cell_text(verdicts.comparison.cell(environment, case), verdicts.claims_of(environment, case))
    return f"{text} {UNCONFINED}" if verdicts.cpus_not_as_asked(environment, case) else text


def cell_text(cell: CellResult, checks: Sequence[ClaimCheck] = ()) -> str:
    symbol = STATES[cell.state][0]
    if cell.state not in WITH_VALUES:
        return f"{symbol} {cell.state.value}"
    text = f"{symbol} {cell.group}" if cell.group else symbol
    if cell.state is CellState.VARIES:
        text += f" · {len(cell.varying)} of {len(cell.labels)} vary"
    if cell.not_recorded:
        text += f" ({len(cell.not_recorded)} not recorded)"
    if any(c.verdict is Verdict.SURPRISE for c in checks):
        return f"{text} {SURPRISE} SURPRISE"
    if checks and all(c.verdict is Verdict.HELD for c in checks):
        return f"{text} {HELD}"
    return text
