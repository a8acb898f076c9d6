"""The top of MATRIX.md: the run, its one-line verdicts and warnings, then the SURPRISES."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..baseline import BaselineComparison, Change
from ..claims import TOLERANT, ClaimCheck, Verdict
from ..compare import FAILED, WITH_VALUES, CellResult, CellState, Comparison, Versus
from ..markdown import anchor, code, plain
from ..published import published_line
from ..results import Results
from ..verdicts import Verdicts, cpu_models, ignored_requests
from .common import LONGEST_LIST, cut, listed
from .matrix import SURPRISE

#: Its heading in MATRIX.md.
SURPRISES = "Surprises"


def header(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    merged = results.host.get("merged_from")
    parts = merged if merged else [results.host]
    host = ", ".join(str(part.get("hostname", "?")) for part in parts)
    engine = ", ".join(str(part.get("docker", "?")) for part in parts)
    state = (
        ""
        if results.state.value == "finished"
        else f" **This run is {results.state.value}**: some cells are missing."
    )
    lines = [
        "# Seed reproducibility matrix",
        "",
        f"Run `{results.run_id}` on host {plain(host)} (Docker {plain(engine)}), {results.started} → "
        f"{results.finished}. Each case ran {results.repeats} time(s) per environment, each time in a fresh "
        f"container (or process) with no network. Reference environment: **{plain(results.reference)}**."
        + state,
        "",
        "**Summary:** " + summary_line(comparison),
    ]
    reused = sum(1 for record in results.records if record.reused_from)
    if reused:
        runs = sorted({record.reused_from for record in results.records if record.reused_from})
        lines += [
            "",
            f"♻️ {reused} of {len(results.records)} records were reused from earlier runs "
            f"({', '.join(code(run) for run in runs[:LONGEST_LIST])}): same image, same scripts, same "
            "settings. `--fresh` runs them again.",
        ]
    if verdicts.claims:
        lines += ["", "**Claims:** " + claims_line(verdicts.claims)]
    if verdicts.published:
        lines += ["", "**Published values:** " + published_line(verdicts.published)]
    if verdicts.baseline is not None:
        lines += ["", "**Baseline:** " + baseline_line(verdicts.baseline)]
    ignored = ignored_requests(results)
    if ignored:
        lines += [
            "",
            f"⚠️ **CPU requests ignored:** {plain('; '.join(ignored[:LONGEST_LIST]), 2000)}. These "
            "environments did not run the kernels their names promise (see Environments).",
        ]
    models = cpu_models(results)
    if len(models) > 1:
        where = "; ".join(f"{plain(model)} ({cut(names)})" for model, names in models.items())
        lines += [
            "",
            f"**Different CPUs:** {where}. A difference between environments on different CPUs may "
            "come from the CPU's kernels, not from the software they pin.",
        ]
    return "\n".join(lines)


def claims_line(checks: Sequence[ClaimCheck]) -> str:
    held = sum(1 for c in checks if c.verdict is Verdict.HELD)
    within = sum(1 for c in checks if c.verdict is Verdict.HELD and c.kind in TOLERANT)
    surprising = sum(1 for c in checks if c.verdict is Verdict.SURPRISE)
    unchecked = sum(1 for c in checks if c.verdict is Verdict.UNCHECKED)
    text = f"{held} held" + (f" ({held - within} bitwise, {within} within a tolerance)" if within else "")
    text += f", {surprising} SURPRISE{'S' if surprising != 1 else ''}"
    return text + (f", {unchecked} not checked" if unchecked else "") + "."


def baseline_line(baseline: BaselineComparison) -> str:
    counts = ", ".join(
        f"{baseline.count(change)} {change.value}" for change in Change if baseline.count(change)
    )
    counts = counts or "nothing to compare"
    return f"against run `{baseline.baseline_run}` ({plain(baseline.baseline_source)}): {counts}."


def surprises(surprises: Sequence[ClaimCheck]) -> str:
    lines = [f"## {SURPRISES}", "", "Claims that did not hold, with what was seen:", ""]
    lines += listed(
        [
            f"- {SURPRISE} **{check.environment}** · [`{check.case}`](#{anchor(check.case)}) · "
            f"{code(check.claim_text)}: {plain(check.evidence, 400)}"
            for check in surprises
        ]
    )
    return "\n".join(lines)


def summary_line(comparison: Comparison) -> str:
    ran = [cell for cell in comparison.cells if cell.state in WITH_VALUES]

    def counted(state: CellState, *versus: Versus) -> int:
        return sum(1 for cell in ran if cell.state is state and (not versus or cell.versus in versus))

    equal = (Versus.REFERENCE, Versus.EQUAL)
    parts = [
        f"{counted(CellState.STABLE, *equal)} stable and bitwise equal to the reference",
        f"{counted(CellState.STABLE, Versus.DIFFERENT)} stable but different from the reference",
        f"{counted(CellState.VARIES)} varying between repeats",
    ]
    if counted(CellState.RAN_ONCE):
        parts.append(f"{counted(CellState.RAN_ONCE)} ran once (stability not checked)")
    text = f"{len(ran)} cells ran: " + ", ".join(parts)
    no_reference = sum(1 for cell in ran if cell.versus is Versus.NO_REFERENCE)
    if no_reference:
        text += f"; {no_reference} could not be compared: the reference has no values for them"
    skipped = comparison.count(CellState.SKIPPED)
    if skipped:
        text += f"; {skipped} skipped on this host"
    on_cpu = comparison.count(CellState.WRONG_DEVICE)
    if on_cpu:
        text += f"; {on_cpu} ran on the CPU although a GPU was asked for (not GPU results)"
    failed = [c for c in comparison.cells if c.state in FAILED and c.state is not CellState.WRONG_DEVICE]
    if failed:
        text += f"; {len(failed)} did not complete ({_count_states(failed)})"
    return text + "."


def _count_states(cells: Iterable[CellResult]) -> str:
    counts: dict[CellState, int] = {}
    for cell in cells:
        counts[cell.state] = counts.get(cell.state, 0) + 1
    return ", ".join(f"{n} {state.value}" for state, n in counts.items())
