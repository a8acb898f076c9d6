"""Render results and their verdicts as MATRIX.md: summary first, matrix, environments, details.

Pure: data in, string out. It must read well as rendered on GitHub (job summary included), and
nothing a script prints or records can break its tables (every piece of user text goes through
`markdown`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from .baseline import BaselineCell, BaselineComparison, Change, against_baseline
from .claims import TOLERANT, ClaimCheck, Verdict, check_claims
from .compare import (
    FAILED,
    WITH_VALUES,
    CellResult,
    CellState,
    Comparison,
    LabelResult,
    LabelState,
    Versus,
    compare,
)
from .cpu import Applied, environment_requests, kernels
from .divergence import divergences
from .markdown import anchor, code, details, fenced, plain, shorten, table
from .published import PublishedCheck, Reproduced, check_published, published_line
from .results import (
    FRAMEWORKS,
    Between,
    Divergence,
    EnvironmentResult,
    Record,
    Results,
    RunStatus,
)
from .values import NOT_WRITTEN, PARSED, Difference, Shown, Value, combined, describe


@dataclass(frozen=True, kw_only=True)
class Verdicts:
    """Everything derived from a run that the report shows."""

    comparison: Comparison
    claims: tuple[ClaimCheck, ...] = ()
    published: tuple[PublishedCheck, ...] = ()
    baseline: BaselineComparison | None = None
    divergences: tuple[Divergence, ...] = ()

    def divergences_of(self, case: str) -> tuple[Divergence, ...]:
        return tuple(divergence for divergence in self.divergences if divergence.case == case)

    def claims_of(self, environment: str, case: str) -> tuple[ClaimCheck, ...]:
        return self._claims_by_cell.get((environment, case), ())

    @cached_property
    def _claims_by_cell(self) -> dict[tuple[str, str], tuple[ClaimCheck, ...]]:
        cells: dict[tuple[str, str], list[ClaimCheck]] = {}
        for check in self.claims:
            cells.setdefault((check.environment, check.case), []).append(check)
        return {key: tuple(found) for key, found in cells.items()}

    @property
    def surprises(self) -> list[ClaimCheck]:
        return [check for check in self.claims if check.verdict is Verdict.SURPRISE]


def derive(results: Results, baseline: tuple[Results, str] | None = None) -> Verdicts:
    """Every verdict the report shows, from `results` (and a baseline run with its source)."""
    comparison = compare(results)
    return Verdicts(
        comparison=comparison,
        claims=check_claims(results, comparison),
        published=check_published(results, comparison),
        baseline=against_baseline(results, baseline[0], source=baseline[1], current_comparison=comparison)
        if baseline
        else None,
        divergences=divergences(comparison),
    )


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
#: Held claims whose evidence is a measured distance, listed under the case's claims.
MEASURED_PAIRS = frozenset({"differ", "close"})
SURPRISE = "❗"
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
    "≈": "a claim with a tolerance (`close`, `stable_within`, `close_to_reference`), not a bitwise one",
}
CHANGE_TEXT = {
    Change.UNCHANGED: "= unchanged",
    Change.CHANGED: "Δ changed",
    Change.SCRIPT_CHANGED: "✎ script changed",
    Change.PROJECT_CHANGED: "✎ project changed",
    Change.NEW: "🆕 new",
    Change.MISSING: "∅ missing",
    Change.NOT_COMPARABLE: "· not comparable",
}
REPRODUCED_MARK = {
    Reproduced.YES: "✔ reproduced",
    Reproduced.NO: "✘ missed",
    Reproduced.UNCHECKED: "· not checked",
}
#: Above this many environments, tables show one column per group of identical environments.
WIDE = 8
#: Lists longer than this are cut, saying how many more there are.
LONGEST_LIST = 30
#: Elements of a value shown in a table cell; results.json keeps every one.
SHOWN_ELEMENTS = 8


def render(results: Results, verdicts: Verdicts) -> str:
    parts = [_header(results, verdicts)]
    if verdicts.surprises:
        parts.append(_surprises(verdicts.surprises))
    parts.append(_matrix(results, verdicts))
    if verdicts.divergences:
        parts.append(_first_divergences(verdicts.divergences))
    if verdicts.published:
        parts.append(_published(verdicts.published))
    if verdicts.baseline is not None:
        parts.append(_baseline(verdicts.baseline))
    timings = _paired_timings(results)
    if timings:
        parts.append(timings)
    parts += [_environments(results), _cases(results, verdicts)]
    return "\n\n".join(part.rstrip() for part in parts) + "\n"


def _header(results: Results, verdicts: Verdicts) -> str:
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
        where = "; ".join(f"{plain(model)} ({_cut(names)})" for model, names in models.items())
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


def _surprises(surprises: Sequence[ClaimCheck]) -> str:
    lines = ["## Surprises", "", "Claims that did not hold, with what was seen:", ""]
    lines += _listed(
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


def _env_heading(name: str, reference: str) -> str:
    return f"{name} (reference)" if name == reference else name


def _matrix_heading(results: Results, name: str) -> str:
    """The environment's name, with the device it really ran on when that is not plain."""
    kinds = {
        str(record.device.get("kind"))
        for case in results.cases
        for record in results.records_of(name, case.name)
        if record.device
    }
    heading = _env_heading(name, results.reference)
    if "CPU fallback" in kinds:
        heading += " (CPU fallback)"
    elif "GPU" in kinds:
        heading += " (GPU)"
    return heading


def _matrix(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    names = comparison.environments
    lines = ["## Matrix", ""]
    if not results.has_environment(results.reference):
        lines += [
            f"The reference environment {plain(results.reference)} did not run here: nothing is "
            "compared with it.",
            "",
        ]
    if len(names) <= WIDE:
        rows = [
            [f"[`{case}`](#{anchor(case)})"]
            + [cell_text(comparison.cell(env, case), verdicts.claims_of(env, case)) for env in names]
            for case in comparison.cases
        ]
        lines += table(
            ["case", *(_matrix_heading(results, n) for n in names)], rows, [":--"] + [":-:"] * len(names)
        )
    else:
        # Many environments: one row each, so the table grows down instead of off the page.
        lines += _deviations(comparison, verdicts)
        rows = [
            [_matrix_heading(results, env)]
            + [cell_text(comparison.cell(env, c), verdicts.claims_of(env, c)) for c in comparison.cases]
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
    if any(check.kind in TOLERANT for check in verdicts.claims):
        marks.append("≈")
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
    return ["Environments that differ from the reference somewhere:", *_listed(lines)]


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


def _first_divergences(found: Sequence[Divergence]) -> str:
    """Per case, where values first part: one row per case, comparison and first label."""
    rows: dict[tuple[str, Between, str], list[Divergence]] = {}
    for divergence in found:
        rows.setdefault((divergence.case, divergence.between, divergence.label), []).append(divergence)
    lines = [
        "## First divergences",
        "",
        "Where values first part, in program order (the order the script showed its labels; output files "
        "last): between two repeats of a cell, or against the reference environment. The sizes are the "
        "largest over the environments listed; each case's details say more.",
        "",
    ]
    body = []
    for (case, between, label), group in rows.items():
        first = group[0]
        where = f"{code(label)} (label {first.position} of {first.labels})"
        if first.missing:
            where += f", {plain(first.missing)}"
        size = describe(combined([d.difference for d in group if d.difference]), counts=False)
        if len(group) == 1 and first.difference is not None:
            size = describe(first.difference)
        environments = _cut([d.environment for d in group])
        body.append(
            [
                f"[`{case}`](#{anchor(case)})",
                "repeats" if between is Between.REPEATS else "reference",
                plain(environments, 300),
                where,
                plain(size, 300) or "—",
            ]
        )
    lines += table(["case", "between", "in", "first divergence", "how much"], body[:LONGEST_LIST])
    if len(body) > LONGEST_LIST:
        lines += ["", f"… and {len(body) - LONGEST_LIST} more (see results.json)"]
    return "\n".join(lines)


def _divergence_details(found: Sequence[Divergence]) -> list[str]:
    if not found:
        return []
    items = []
    for divergence in found:
        text = (
            f"- **{divergence.environment}**, {plain(divergence.sides)}: {code(divergence.label)} "
            f"(label {divergence.position} of {divergence.labels}; "
            f"{divergence.differing_labels} of {divergence.labels} labels differ)"
        )
        if divergence.missing:
            text += f", {plain(divergence.missing)}"
        elif divergence.difference is not None:
            text += f": {plain(describe(divergence.difference), 400)}"
        if divergence.unchecked_before:
            shown = divergence.unchecked_before[:PROFILES_SHOWN]
            more = len(divergence.unchecked_before) - len(shown)
            text += (
                ". Not compared before it (it may start there): "
                + ", ".join(code(label, 80) for label in shown)
                + (f" and {more} more" if more > 0 else "")
            )
        items.append(text)
    lines = ["", "**First divergence:**", *_listed(items)]
    profiled = [divergence for divergence in found if len(divergence.profile) >= PROFILED_LABELS]
    profiles: list[str] = []
    for divergence in profiled[:PROFILES_SHOWN]:
        profiles += [
            f"**{divergence.environment}**, {plain(divergence.sides)}",
            "",
            *_profile(divergence),
            "",
        ]
    if len(profiled) > PROFILES_SHOWN:
        profiles += [f"… and {len(profiled) - PROFILES_SHOWN} more profiles (see results.json)", ""]
    if profiles:
        lines += ["", *details("Profile of each divergence, label by label", [*profiles, PROFILE_LEGEND])]
    return lines


#: A divergence among this many labels or more gets a profile (a traced model's layers).
PROFILED_LABELS = 3
#: Profiles (and labels not compared) shown per case; results.json keeps every one.
PROFILES_SHOWN = 5
#: Rows of one profile shown: the first ones, then every one that differs, up to this many.
PROFILE_ROWS = 40
#: Labels shown before the first divergence when a profile is cut.
PROFILE_CONTEXT = 5
BARS = "▁▂▃▅▇"
PROFILE_LEGEND = (
    "<sub>· equal · ▁▂▃▅▇ differ, the bar grows with the distance in ULPs (log scale, ▇ the largest "
    "here) · ≠ differ, no distance in ULPs (text, another dtype or shape) · ∅ on one side only · "
    "? not compared</sub>"
)


def _profile(divergence: Divergence) -> list[str]:
    """Per label: elements that differ, the largest ULP distance, and a one-character bar."""
    every = list(enumerate(divergence.profile, start=1))
    rows = every
    if len(every) > PROFILE_ROWS:  # the first divergence with a few labels before it, then what differs
        first = divergence.position
        before = [(at, row) for at, row in every if first - PROFILE_CONTEXT <= at < first]
        after = [(at, row) for at, row in every if at > first and row.differs]
        rows = [*before, every[first - 1], *after][:PROFILE_ROWS]
    largest = max(
        (row.difference.max_ulps for _, row in rows if row.difference and row.difference.max_ulps), default=0
    )
    body = []
    for position, row in rows:
        found = row.difference
        if found is None:
            body.append(
                [str(position), code(row.label, 100), plain(row.note), "", "∅" if row.missing else "?"]
            )
            continue
        differing = f"{found.differing:,} of {found.elements:,}" if found.elements else "—"
        ulps = f"{found.max_ulps:,}" if found.max_ulps is not None else "—"
        body.append([str(position), code(row.label, 100), differing, ulps, _bar(found, largest)])
    lines = table(
        ["#", "label", "elements that differ", "max ULP", ""], body, ["--:", ":--", "--:", "--:", ":-:"]
    )
    shown = {at for at, _ in rows}
    hidden = [row for at, row in every if at not in shown]
    if not hidden:
        return lines
    counts = {
        "equal": sum(1 for row in hidden if not row.differs and not row.unchecked),
        "differing": sum(1 for row in hidden if row.differs),
        "not compared": sum(1 for row in hidden if row.unchecked),
    }
    words = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return [*lines, "", f"Labels not shown here: {words} (results.json has every row)."]


def _bar(found: Difference, largest: int) -> str:
    if found.equal:
        return "·"
    if found.max_ulps is None:
        return "≠"
    if largest <= 1:
        return BARS[-1]
    level = math.log2(found.max_ulps + 1) / math.log2(largest + 1)
    return BARS[max(0, min(len(BARS) - 1, math.ceil(level * len(BARS)) - 1))]


def paired_cases(results: Results) -> list[tuple[str, str]]:
    """(case, the case it is timed against): `timed_against`, or a `same_as_case` claim."""
    names = {case.name for case in results.cases}
    pairs: dict[tuple[str, str], None] = {}
    for case in results.cases:
        claimed = [
            claims.get("same_as_case") for claims in (case.claims, case.claims_on_cpu, case.claims_on_gpu)
        ]
        for other in (case.timed_against, *claimed):
            if isinstance(other, str) and other in names and other != case.name:
                pairs.setdefault((case.name, other))
    return list(pairs)


def median_seconds(records: Sequence[Record], *, work: bool) -> float | None:
    """The median time per successful repeat: of the work the script timed itself (`timed()`), or of
    the whole script (the launcher's measure, no container start-up). None unless every successful
    repeat has that time: a median over some repeats would compare unlike with unlike."""
    done = [record for record in records if record.status is RunStatus.OK]
    times = [record.work_seconds if work else record.script_seconds for record in done]
    if not done or any(time is None for time in times):
        return None
    return statistics.median(time for time in times if time is not None)


def _paired_timing(mine: Sequence[Record], theirs: Sequence[Record]) -> str:
    if len({record.reused_from for record in (*mine, *theirs)}) > 1:
        return "— (timed in different runs)"  # another run, perhaps another machine
    for work, what in ((True, "work"), (False, "script")):
        this, that = median_seconds(mine, work=work), median_seconds(theirs, work=work)
        if this is not None and that is not None and that > 0:
            return f"{_duration(this)} vs {_duration(that)} (×{this / that:.2f}, {what})"
    return "—"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"


def _paired_timings(results: Results) -> str:
    environments = [env.name for env in results.environments]
    rows = []
    for case, other in paired_cases(results):
        cells = [
            _paired_timing(results.records_of(env, case), results.records_of(env, other))
            for env in environments
        ]
        if any(cell != "—" for cell in cells):
            rows.append([f"[`{case}`](#{anchor(case)}) vs `{other}`", *cells])
    if not rows:
        return ""
    lines = [
        "## Cost of determinism and other switches",
        "",
        "Cases paired with another (`same_as_case`, or `timed_against`) that differ in one switch: the "
        "median time per repeat, this case vs the other, and the ratio. *work*: the part the script "
        "timed itself (`recording.timed()`, warm, waited for); *script*: the whole script as the "
        "launcher measured it (imports and device start-up included, not the container's start). "
        "Timings on a shared machine vary by a few percent from run to run.",
        "",
    ]
    lines += table(["pair", *environments], rows, [":--"] + [":-:"] * len(environments))
    return "\n".join(lines)


def _published(checks: Sequence[PublishedCheck]) -> str:
    lines = [
        "## Published values",
        "",
        "Does today's run print what was published, to the digits that were printed? A number is reproduced "
        "when it lies within half a unit of its last printed digit.",
    ]
    for case in dict.fromkeys(check.case for check in checks):
        mine = [check for check in checks if check.case == case]
        environments = list(dict.fromkeys(check.environment for check in mine))
        labels = list(dict.fromkeys(check.label for check in mine))
        by_key = {(check.environment, check.label): check for check in mine}
        rows = [
            [code(label)] + [_published_text(by_key.get((env, label))) for env in environments]
            for label in labels
        ]
        lines += ["", f"[`{case}`](#{anchor(case)}) ({mine[0].digits} decimals)", ""]
        lines += table(["label", *environments], rows, [":--"] + [":-:"] * len(environments))
    return "\n".join(lines)


def _published_text(check: PublishedCheck | None) -> str:
    if check is None:
        return ""
    text = REPRODUCED_MARK[check.verdict]
    if check.verdict is Reproduced.NO and check.max_miss is not None:
        units = check.max_miss.scaleb(check.digits)
        text += f" by {float(check.max_miss):.3g} ({units:,.0f} in the last digit)"
    elif check.verdict is not Reproduced.YES:
        text += f": {plain(check.evidence, 80)}"
    return text


def _baseline(baseline: BaselineComparison) -> str:
    environments = list(dict.fromkeys(cell.environment for cell in baseline.cells))
    cases = list(dict.fromkeys(cell.case for cell in baseline.cells))
    by_key = {(cell.environment, cell.case): cell for cell in baseline.cells}
    lines = [
        "## Against the baseline",
        "",
        f"Baseline: run `{baseline.baseline_run}` from {code(baseline.baseline_source)}. Environments and "
        "cases are matched by name; stable values are compared bit for bit.",
        "",
    ]
    rows = [
        [f"`{case}`"] + [_baseline_text(by_key.get((env, case))) for env in environments] for case in cases
    ]
    lines += table(["case", *environments], rows, [":--"] + [":-:"] * len(environments))
    moved = [cell for cell in baseline.cells if cell.named or cell.note]
    if moved:
        lines += ["", "What changed:"]
        lines += _listed(
            [
                f"- **{cell.environment}** · `{cell.case}`: "
                + "; ".join(
                    [
                        *(f"{code(label)} {what}" for label, what in cell.named),
                        *([plain(cell.note, 300)] if cell.note else []),
                    ]
                )
                for cell in moved
            ]
        )
    return "\n".join(lines)


def _baseline_text(cell: BaselineCell | None) -> str:
    if cell is None:
        return ""
    text = CHANGE_TEXT[cell.change]
    if cell.changed:
        distances = describe(combined(list(cell.changed.values())), counts=False)
        text += f" ({plain(distances)})" if distances else ""
    extra = len(cell.now_varies) + len(cell.gone) + len(cell.new_labels) + len(cell.now_stable)
    if extra:
        text += f" · {extra} label(s) appeared, vanished or changed stability"
    return text


def _environments(results: Results) -> str:
    wide = len(results.environments) > WIDE
    # A column for each framework some environment has, in FRAMEWORKS order.
    shown = [
        name
        for name in FRAMEWORKS
        if any(env.build.observed and env.build.observed.version(name) for env in results.environments)
    ]
    header = [
        "environment",
        "host",
        "base",
        "Python",
        *(FRAMEWORK_TITLES[name] for name in shown),
        "device that ran",
        "CPU and the kernels it ran",
        "image",
        "size",
        "build",
    ]
    rows = []
    for env in results.environments:
        observed = env.build.observed
        versions = [(observed.version(name) or "—") if observed else "—" for name in shown]
        rows.append(
            [
                _env_heading(env.name, results.reference),
                plain(env.host) or "—",
                _base(env),
                observed.python if observed else "—",
                *(plain(version) for version in versions),
                _devices(
                    record for case in results.cases for record in results.records_of(env.name, case.name)
                ),
                _kernels_text(results, env),
                f"`{env.build.image_id.removeprefix('sha256:')[:12]}`" if env.build.image_id else "—",
                _size(env.build.size),
                _build(env),
            ]
        )
    environments = table(header, rows, [":--"] * (len(header) - 2) + ["--:", ":--"])
    requests = _requests_lines(results)
    lines = [
        "## Environments",
        "",
        "Versions are read inside each image (or interpreter), not copied from matrix.yaml.",
        "",
    ]
    lines += details("All environments", environments) if wide else environments
    if requests:
        lines += ["", "CPU requests (`cpu_isa:`, `onednn:`), as each run read back what it dispatched:", ""]
        lines += requests
    lines += _listed(
        [
            f"- **{env.name}**: {plain(env.build.error or '', 400)}"
            for env in results.environments
            if env.build.error
        ]
    )
    # Identical freezes are shown once, with the environments that share them.
    freezes: dict[tuple[str, ...], list[str]] = {}
    for env in results.environments:
        if env.build.observed:
            freezes.setdefault(env.build.observed.pip_freeze, []).append(env.name)
    body: list[str] = []
    for freeze, names in freezes.items():
        body += [f"**{_cut(names)}**", "", *fenced(list(freeze)), ""]
    lines += ["", *details("pip freeze of each image", body)]
    return "\n".join(lines)


def cpu_readbacks(results: Results, environment: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(case, device["cpu"]) of every record of an environment that read its CPU back."""
    return [
        (case.name, record.device["cpu"])
        for case in results.cases
        for record in results.records_of(environment, case.name)
        if isinstance(record.device.get("cpu"), Mapping)
    ]


def _kernels_text(results: Results, env: EnvironmentResult) -> str:
    found = kernels([readback for _, readback in cpu_readbacks(results, env.name)], env.dispatch)
    if not found.cpu and not found.dispatched:
        return "—"
    return "<br>".join(plain(part, 120) for part in (found.cpu, " · ".join(found.dispatched)) if part)


REQUEST_MARK = {
    Applied.APPLIED: "✔",
    Applied.IGNORED: "⚠️ IGNORED",
    Applied.NOT_USED: "·",
    Applied.UNKNOWN: "❔",
}


def _requests_lines(results: Results) -> list[str]:
    lines = []
    for env in results.environments:
        cpu_isa, onednn = env.requested.get("cpu_isa"), env.requested.get("onednn")
        if cpu_isa is None and onednn is None:
            continue
        asked = ", ".join(
            [
                *([f"cpu_isa {cpu_isa}"] if cpu_isa else []),
                *([f"onednn {'on' if onednn else 'off'}"] if onednn is not None else []),
            ]
        )
        found = environment_requests(cpu_isa, onednn, cpu_readbacks(results, env.name), env.dispatch)
        verdicts = "; ".join(
            f"{request.framework} {REQUEST_MARK[request.applied]} {plain(request.seen, 120)}"
            for request in found
        )
        lines.append(f"- **{env.name}** ({plain(asked)}): {verdicts or 'no run read anything back'}")
    return lines


def ignored_requests(results: Results) -> list[str]:
    """'env: framework (seen)' for every CPU request some run shows ignored."""
    found = []
    for env in results.environments:
        cpu_isa, onednn = env.requested.get("cpu_isa"), env.requested.get("onednn")
        if cpu_isa is None and onednn is None:
            continue
        for request in environment_requests(cpu_isa, onednn, cpu_readbacks(results, env.name), env.dispatch):
            if request.applied is Applied.IGNORED:
                found.append(f"{env.name}: {request.framework} ran {request.seen}")
    return found


def cpu_models(results: Results) -> dict[str, list[str]]:
    """CPU model → the environments whose runs read it back (more than one: compare with care)."""
    models: dict[str, list[str]] = {}
    for env in results.environments:
        for _, readback in cpu_readbacks(results, env.name):
            model = readback.get("model")
            if isinstance(model, str) and model and env.name not in models.get(model, []):
                models.setdefault(model, []).append(env.name)
    return models


#: How each framework is written in headings.
FRAMEWORK_TITLES = {"numpy": "NumPy", "tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


def _base(env: EnvironmentResult) -> str:
    if env.requested.get("debian"):
        return f"Debian {plain(str(env.requested['debian']))}"
    if env.requested.get("host_python"):
        return f"host {code(str(env.requested['host_python']))}, no container"
    return code(str(env.requested.get("base_image", "?")))


def _devices(records: Iterable[Record]) -> str:
    seen = sorted(
        {(str(r.device.get("kind", "?")), str(r.device.get("detail", ""))) for r in records if r.device}
    )
    if not seen:
        return "—"
    return "<br>".join(plain(f"{kind} ({detail})" if detail else kind, 200) for kind, detail in seen)


def _build(env: EnvironmentResult) -> str:
    text = f"{env.build.status.value} {env.build.seconds:.1f} s"
    return f"{text}, log {code(env.build.log)}" if env.build.log and env.build.error else text


def _size(size: int | None) -> str:
    if not size:
        return "—"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def _cases(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    sections = ["## Cases"]
    names = comparison.environments
    for case in results.cases:
        lines = [
            f'### <a id="{anchor(case.name)}"></a>`{case.name}`',
            "",
            f"Script {code(case.script)} (sha256 `{case.script_sha256[:12]}`)."
            + (f" Needs {', '.join(case.requires)}." if case.requires else ""),
        ]
        if case.claim:
            lines += ["", f"> **Claim:** {plain(case.claim, 2000)}"]
        cells = [comparison.cell(env, case.name) for env in names]
        columns = _columns(cells, results.reference)
        labels = _label_order([cell for _, cell in columns])
        failures = [c for c in cells if c.detail and c.state is not CellState.NOT_APPLICABLE]
        if labels:
            parsed = _parsed_labels([cell for _, cell in columns])
            rows = [
                [code(label) + (" (parsed)" if label in parsed else "")]
                + [label_cell(cell, label, results.reference) for _, cell in columns]
                for label in labels
            ]
            lines += ["", *table(["label", *(heading for heading, _ in columns)], rows)]
        if len(names) > WIDE:
            lines += _group_members(cells)
        lines += _listed(
            [
                f"- {STATES[cell.state][0]} **{cell.environment}**: {plain(cell.detail, 400)}"
                for cell in failures
            ]
        )
        lines += _divergence_details(verdicts.divergences_of(case.name))
        lines += _claims_table([c for c in verdicts.claims if c.case == case.name], names)
        shown = [cell.environment for _, cell in columns] + [c.environment for c in failures]
        lines += _outputs(results, case.name, list(dict.fromkeys(shown)))
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _columns(cells: Sequence[CellResult], reference: str) -> list[tuple[str, CellResult]]:
    """One column per environment, or (for wide matrices) one per group, shown by its first member,
    then one for the cells with values but no letter (nothing in them could be compared)."""
    if len(cells) <= WIDE:
        return [(_env_heading(cell.environment, reference), cell) for cell in cells]
    members: dict[str, list[CellResult]] = {}
    for cell in cells:
        if cell.group is not None:
            members.setdefault(cell.group, []).append(cell)
    ordered = sorted(members.items(), key=lambda item: (len(item[0]), item[0]))
    return [
        (
            f"{letter}: {_env_heading(group[0].environment, reference)}"
            + (f" +{len(group) - 1}" if len(group) > 1 else ""),
            group[0],
        )
        for letter, group in ordered
    ] + _letterless_column(cells, reference)


def _letterless_column(cells: Sequence[CellResult], reference: str) -> list[tuple[str, CellResult]]:
    letterless = [cell for cell in cells if cell.group is None and cell.state in WITH_VALUES]
    if not letterless:
        return []
    more = f" +{len(letterless) - 1}" if len(letterless) > 1 else ""
    return [(f"no letter: {_env_heading(letterless[0].environment, reference)}{more}", letterless[0])]


def _group_members(cells: Sequence[CellResult]) -> list[str]:
    members: dict[str, list[str]] = {}
    for cell in cells:
        if cell.group is not None:
            members.setdefault(cell.group, []).append(cell.environment)
    body = [
        f"- **{letter}** ({len(names)}): {_cut(names)}"
        for letter, names in sorted(members.items(), key=lambda item: (len(item[0]), item[0]))
    ]
    letterless = [cell.environment for cell in cells if cell.group is None and cell.state in WITH_VALUES]
    if letterless:
        body.append(f"- no letter, nothing compared ({len(letterless)}): {_cut(letterless)}")
    return ["", *details("Environments in each group", body)]


def _cut(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LONGEST_LIST])
    return shown + (f", … and {len(names) - LONGEST_LIST} more" if len(names) > LONGEST_LIST else "")


def _listed(lines: Sequence[str]) -> list[str]:
    if not lines:
        return []
    kept = ["", *lines[:LONGEST_LIST]]
    if len(lines) > LONGEST_LIST:
        kept.append(f"- … and {len(lines) - LONGEST_LIST} more (see results.json)")
    return kept


def _claims_table(checks: Sequence[ClaimCheck], environments: Sequence[str]) -> list[str]:
    if not checks:
        return []
    claims = list(dict.fromkeys((check.kind, check.pattern) for check in checks))
    if len(environments) > WIDE:
        rows = []
        for kind, pattern in claims:
            verdicts = [c.verdict for c in checks if (c.kind, c.pattern) == (kind, pattern)]
            counts = [str(verdicts.count(v)) for v in (Verdict.HELD, Verdict.SURPRISE, Verdict.UNCHECKED)]
            rows.append([f"{kind.replace('_', ' ')}: {code(pattern)}", *counts])
        return ["", *table(["claim", "held", "SURPRISE", "not checked"], rows, [":--", "--:", "--:", "--:"])]
    mark = {Verdict.HELD: HELD, Verdict.SURPRISE: f"{SURPRISE} SURPRISE", Verdict.UNCHECKED: "· not checked"}
    by_key = {(c.environment, c.kind, c.pattern): c for c in checks}
    rows = []
    # Bitwise claims first, then those allowing a tolerance, marked ≈: never mistaken for bitwise.
    for kind, pattern in sorted(claims, key=lambda claim: claim[0] in TOLERANT):
        tolerant = "≈ " if kind in TOLERANT else ""
        row = [f"{tolerant}{kind.replace('_', ' ')}: {code(pattern)}"]
        for env in environments:
            found = by_key.get((env, kind, pattern))
            row.append(f"{tolerant}{mark[found.verdict]}" if found else "")
        rows.append(row)
    lines = ["", *table(["claim", *environments], rows, [":--"] + [":-:"] * len(environments))]
    # A pair held apart or close: how far apart is the finding (a CPU and a GPU stream, a loss).
    measured = [c for c in checks if c.verdict is Verdict.HELD and c.kind in MEASURED_PAIRS]
    if measured:
        lines += ["", "How far apart the paired labels were:", ""]
        lines += [
            f"- **{c.environment}** · {code(c.claim_text)}: {plain(c.evidence, 300)}"
            for c in measured[:LONGEST_LIST]
        ]
    unchecked = [c for c in checks if c.verdict is Verdict.UNCHECKED]
    if unchecked:
        lines += [
            "",
            *details(
                "Why some claims were not checked",
                [
                    f"- **{c.environment}** · {code(c.claim_text)}: {plain(c.evidence, 300)}"
                    for c in unchecked[:LONGEST_LIST]
                ],
            ),
        ]
    return lines


def _parsed_labels(cells: Sequence[CellResult]) -> set[str]:
    """Labels whose values were taken from printed text (`parse:`), not recorded."""
    return {
        label.label for cell in cells for label in cell.labels if any(v.dtype == PARSED for v in label.value)
    }


def _label_order(cells: Sequence[CellResult]) -> list[str]:
    order: dict[str, None] = {}
    for cell in cells:
        for label in cell.labels:
            order.setdefault(label.label)
    return list(order)


def label_cell(cell: CellResult, name: str, reference: str) -> str:
    found = cell.label(name)
    if found is None:
        return STATES[cell.state][0] if cell.state not in WITH_VALUES else "(not recorded)"
    if found.state is LabelState.NOT_RECORDED:
        unwritten = any(value.dtype == NOT_WRITTEN for series in found.series for value in series)
        if found.partly_recorded:  # the recorded values agree; the rest cannot be compared
            what = "not written" if unwritten else plain(found.not_recorded_note, 120)
            return f"⚠️ not checked: {plain(found.unrecorded_where)} ({what})"
        if unwritten:
            return "📭 not written"
        return f"⚠️ not recorded: {plain(found.not_recorded_note, 120)}"
    if found.state is LabelState.PARTIAL:
        return f"🎲 {plain(found.reason)}"
    if found.state is LabelState.VARIES:
        if found.partly_recorded:
            return f"🎲 the recorded values vary; {plain(found.unrecorded_where)} (not checked)"
        return f"🎲 {found.distinct} distinct in {len(found.series)} repeats"
    symbol = STATES[CellState.RAN_ONCE][0] if found.state is LabelState.RAN_ONCE else "✅"
    if cell.environment == reference or found.versus is not Versus.DIFFERENT:
        note = "" if found.versus is not Versus.NO_REFERENCE else " (no reference value)"
        if found.versus is Versus.EQUAL:
            return f"{symbol} = reference"
        return f"{symbol} {code(format_series(found.value))}{note}"
    return f"{symbol} ≠ reference: {code(format_series(found.value))}, {plain(_short_difference(found), 200)}"


def _short_difference(label: LabelResult) -> str:
    return describe(label.vs_reference) if label.vs_reference is not None else ""


def format_series(series: Sequence[Value]) -> str:
    shown = [format_value(value) for value in series]
    return shown[0] if len(shown) == 1 else " ; ".join(shown)


def format_value(value: Value, most: int = SHOWN_ELEMENTS) -> str:
    """Full precision of the first `most` elements (a float32 widened to a double is exact)."""
    if not value.recorded:
        return f"(not recorded: {value.note})"
    if value.packed is not None:
        return f"({value.dtype} {list(value.shape)}, SHA-256 {value.packed.sha256[:12]}…)"
    items = [_element_text(item, value.dtype) for item in value.values[:most]]
    if not value.shape and len(items) == 1:
        return items[0]
    more = f", … {len(value.values):,} values" if len(value.values) > most else ""
    return "[" + ", ".join(items) + more + "]"


#: Integers longer than this are shown by their size: Python 3.11 refuses to print one of more than
#: 4,300 digits (sys.get_int_max_str_digits()), and a record made on Python 3.9 can hold one.
LONGEST_INTEGER_BITS = 4096


def _element_text(item: Shown, dtype: str) -> str:
    if isinstance(item, str):
        return repr(item) if dtype in {"str", "bytes", "object"} else item
    if isinstance(item, int) and item.bit_length() > LONGEST_INTEGER_BITS:
        exact = Decimal(item)  # Decimal takes an integer of any length
        return f"{exact:.6e} ({exact.adjusted() + 1:,} digits)"
    return repr(item)


def _outputs(results: Results, case: str, names: Sequence[str]) -> list[str]:
    body: list[str] = []
    for env in names:
        records = results.records_of(env, case)
        if not records:
            continue
        record = records[0]
        body += [f"**{env}** ({record.status.value}, {record.seconds:.1f} s)", ""]
        text = _shortened((record.output or "(no output)").splitlines())
        if record.stderr_tail.strip():
            text += ["--- stderr (tail) ---", *_shortened(record.stderr_tail.splitlines())]
        body += [*fenced(text), ""]
    return ["", *details("What the script printed (repeat 1)", body)] if body else []


def _shortened(lines: list[str], *, most: int = 40, width: int = 240) -> list[str]:
    """Keep a report readable whatever a script printed: at most `most` lines of `width` characters."""
    kept = [shorten(line, width) for line in lines[:most]]
    if len(lines) > most:
        kept.append(f"… ({len(lines) - most:,} more lines in results.json)")
    return kept
