"""Render results and their comparison as MATRIX.md: summary first, matrix, environments, details.

Pure: strings in, string out. It must read well as rendered on GitHub (job summary included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .baseline import BaselineCell, BaselineComparison, Change
from .claims import ClaimCheck, Verdict
from .compare import CellResult, CellState, Comparison, Difference, LabelResult
from .results import EnvironmentResult, Record, Results, Scalar, Value


@dataclass(frozen=True, kw_only=True)
class Verdicts:
    """Everything derived from a run that the report shows."""

    comparison: Comparison
    claims: tuple[ClaimCheck, ...] = ()
    baseline: BaselineComparison | None = None

    @property
    def surprises(self) -> list[ClaimCheck]:
        return [check for check in self.claims if check.verdict is Verdict.SURPRISE]


SYMBOL = {
    CellState.STABLE: "✅",
    CellState.VARIES: "🎲",
    CellState.ERROR: "💥",
    CellState.TIMEOUT: "⏱️",
    CellState.OUT_OF_MEMORY: "🧠",
    CellState.BAD_OUTPUT: "❓",
    CellState.BUILD_FAILED: "🧱",
    CellState.NOT_APPLICABLE: "➖",
    CellState.SKIPPED: "⏭️",
    CellState.MISSING: "⋯",
}
HELD = "✔"
SURPRISE = "❗"
CHANGE_TEXT = {
    Change.UNCHANGED: "= unchanged",
    Change.CHANGED: "Δ changed",
    Change.NEW: "🆕 new",
    Change.MISSING: "∅ missing",
    Change.NOT_COMPARABLE: "· not comparable",
}

LEGEND = (
    ("✅", "stable: every labelled value is bitwise identical across the repeats"),
    ("🎲", "varies: at least one value differs between repeats (the count says how many of the labels)"),
    (
        "A, B, …",
        "environments with the same letter printed bitwise identical values for the case (values that "
        "vary aside); the reference environment is A",
    ),
    ("💥", "error: the script exited non-zero (last line of stderr in the details)"),
    ("⏱️", "timeout: killed at the time limit"),
    ("🧠", "out of memory: killed at the container's memory limit"),
    ("❓", "bad output: the script exited 0 but recorded no value"),
    ("🧱", "build failed: the environment's image could not be built (log path in Environments)"),
    ("➖", "not applicable: the environment lacks a framework the case needs"),
    ("⏭️", "skipped: this host cannot run it (the reason is in the details); not a failure"),
    (HELD, "every claim the case makes held in this environment"),
    (SURPRISE, "SURPRISE: a claim did not hold (what was seen is listed under Surprises)"),
    ("⋯", "missing: no complete set of records (the run was interrupted)"),
)


def render(results: Results, verdicts: Verdicts) -> str:
    parts = [_header(results, verdicts)]
    if verdicts.surprises:
        parts.append(_surprises(verdicts.surprises))
    parts.append(_matrix(results, verdicts))
    if verdicts.baseline is not None:
        parts.append(_baseline(results, verdicts.baseline))
    parts += [_environments(results), _cases(results, verdicts)]
    return "\n\n".join(part.rstrip() for part in parts) + "\n"


def _header(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    host = results.host.get("hostname", "?")
    engine = results.host.get("docker", "?")
    lines = [
        "# Seed reproducibility matrix",
        "",
        f"Run `{results.run_id}` on host `{host}` (Docker {engine}), {results.started} → {results.finished}. "
        f"Each case ran {results.repeats} times per environment, each time in a fresh container "
        f"and process with no network. Reference environment: **{results.reference}**.",
        "",
        "**Summary:** " + summary_line(comparison),
    ]
    if verdicts.claims:
        lines += ["", "**Claims:** " + claims_line(verdicts.claims)]
    if verdicts.baseline is not None:
        lines += ["", "**Baseline:** " + baseline_line(verdicts.baseline)]
    return "\n".join(lines)


def claims_line(checks: Sequence[ClaimCheck]) -> str:
    held = sum(1 for c in checks if c.verdict is Verdict.HELD)
    surprising = sum(1 for c in checks if c.verdict is Verdict.SURPRISE)
    unchecked = sum(1 for c in checks if c.verdict is Verdict.UNCHECKED)
    text = f"{held} held, {surprising} SURPRISE{'S' if surprising != 1 else ''}"
    return text + (f", {unchecked} not checked (no values)" if unchecked else "") + "."


def baseline_line(baseline: BaselineComparison) -> str:
    counts = ", ".join(
        f"{baseline.count(change)} {change.value}" for change in Change if baseline.count(change)
    )
    counts = counts or "nothing to compare"
    return f"against run `{baseline.baseline_run}` ({baseline.baseline_source}): {counts}."


def _surprises(surprises: Sequence[ClaimCheck]) -> str:
    lines = ["## Surprises", "", "Claims that did not hold, with what was seen:", ""]
    for check in surprises:
        lines.append(
            f"- {SURPRISE} **{check.environment}** · [`{check.case}`](#{_anchor(check.case)}) · "
            f"`{check.claim_text}`: {_one_line(check.evidence)}"
        )
    return "\n".join(lines)


def summary_line(comparison: Comparison) -> str:
    ran = [c for c in comparison.cells if c.state in {CellState.STABLE, CellState.VARIES}]
    skipped = comparison.count(CellState.SKIPPED)
    same = sum(1 for c in ran if c.state is CellState.STABLE and c.group == "A")
    other = sum(1 for c in ran if c.state is CellState.STABLE and c.group != "A")
    varies = sum(1 for c in ran if c.state is CellState.VARIES)
    quiet = {CellState.STABLE, CellState.VARIES, CellState.NOT_APPLICABLE, CellState.SKIPPED}
    failed = [c for c in comparison.cells if c.state not in quiet]
    text = (
        f"{len(ran)} cells ran: {same} stable and bitwise equal to the reference, "
        f"{other} stable but different from the reference, {varies} varying between repeats"
    )
    if skipped:
        text += f"; {skipped} skipped on this host"
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


def _matrix(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    names = comparison.environments
    rows = [
        "## Matrix",
        "",
        "| case | " + " | ".join(_env_heading(n, results.reference) for n in names) + " |",
        "| :-- | " + " | ".join(":-:" for _ in names) + " |",
    ]
    for case in comparison.cases:
        cells = [
            cell_text(comparison.cell(env, case), _claims_of(verdicts.claims, env, case)) for env in names
        ]
        rows.append(f"| [`{case}`](#{_anchor(case)}) | " + " | ".join(cells) + " |")
    rows += ["", "<sub>", ""]
    rows += [f"{symbol} {meaning}<br>" for symbol, meaning in LEGEND]
    rows += ["", "</sub>"]
    return "\n".join(rows)


def _claims_of(checks: Sequence[ClaimCheck], environment: str, case: str) -> list[ClaimCheck]:
    return [c for c in checks if c.environment == environment and c.case == case]


def cell_text(cell: CellResult, checks: Sequence[ClaimCheck] = ()) -> str:
    symbol = SYMBOL[cell.state]
    if cell.state is CellState.STABLE:
        text = f"{symbol} {cell.group}"
    elif cell.state is CellState.VARIES:
        text = f"{symbol} {cell.group} · {len(cell.varying)} of {len(cell.labels)} vary"
    else:
        return f"{symbol} {cell.state.value}"
    if any(c.verdict is Verdict.SURPRISE for c in checks):
        return f"{text} {SURPRISE} SURPRISE"
    if checks and all(c.verdict is Verdict.HELD for c in checks):
        return f"{text} {HELD}"
    return text


def _baseline(results: Results, baseline: BaselineComparison) -> str:
    environments = list(dict.fromkeys(cell.environment for cell in baseline.cells))
    cases = list(dict.fromkeys(cell.case for cell in baseline.cells))
    by_key = {(cell.environment, cell.case): cell for cell in baseline.cells}
    rows = [
        "## Against the baseline",
        "",
        f"Baseline: run `{baseline.baseline_run}` from `{baseline.baseline_source}`. Environments and "
        "cases are matched by name; stable values are compared bit for bit.",
        "",
        "| case | " + " | ".join(environments) + " |",
        "| :-- | " + " | ".join(":-:" for _ in environments) + " |",
    ]
    for case in cases:
        cells = [_baseline_text(by_key.get((env, case))) for env in environments]
        rows.append(f"| `{case}` | " + " | ".join(cells) + " |")
    changed = [cell for cell in baseline.cells if cell.change is Change.CHANGED]
    if changed:
        rows += ["", "Changed values:", ""]
        rows += [
            f"- **{cell.environment}** · `{cell.case}`: "
            + ", ".join(f"`{label}`" for label in cell.changed_labels)
            for cell in changed
        ]
    return "\n".join(rows)


def _baseline_text(cell: BaselineCell | None) -> str:
    if cell is None:
        return ""
    text = CHANGE_TEXT[cell.change]
    if cell.change is Change.CHANGED:
        details = []
        if cell.max_abs is not None:
            details.append(f"max \\|Δ\\| {cell.max_abs:.3g}")
        if cell.max_ulps is not None:
            details.append(f"{cell.max_ulps} ULP")
        text += f" ({', '.join(details)})" if details else ""
    return text


def _environments(results: Results) -> str:
    rows = [
        "## Environments",
        "",
        "Versions are read inside each image after it was built, not copied from matrix.yaml.",
        "",
        "| environment | base | Python | NumPy | TensorFlow | device that ran | image | size | build |",
        "| :-- | :-- | :-- | :-- | :-- | :-- | :-- | --: | :-- |",
    ]
    for env in results.environments:
        observed = env.observed
        rows.append(
            "| "
            + " | ".join(
                [
                    _env_heading(env.name, results.reference),
                    _base(env),
                    observed.python if observed else "—",
                    (observed.numpy or "—") if observed else "—",
                    (observed.tensorflow or "—") if observed else "—",
                    _devices(r for r in results.records if r.environment == env.name),
                    f"`{env.image_id.removeprefix('sha256:')[:12]}`" if env.image_id else "—",
                    _size(env.image_size),
                    _build(env),
                ]
            )
            + " |"
        )
    failed = [env for env in results.environments if env.error]
    for env in failed:
        rows += ["", f"**{env.name}**: {_one_line(env.error or '')}"]
    rows += ["", "<details><summary>pip freeze of each image</summary>", ""]
    for env in results.environments:
        if env.observed:
            rows += [f"**{env.name}**", "", "```", *env.observed.pip_freeze, "```", ""]
    rows.append("</details>")
    return "\n".join(rows)


def _base(env: EnvironmentResult) -> str:
    if env.requested.get("debian"):
        return f"Debian {env.requested['debian']}"
    return f"`{env.requested.get('base_image', '?')}`"


def _devices(records: Iterable[Record]) -> str:
    seen = sorted(
        {(str(r.device.get("kind", "?")), str(r.device.get("detail", ""))) for r in records if r.device}
    )
    if not seen:
        return "—"
    return "<br>".join(f"{kind} ({detail})" if detail else kind for kind, detail in seen)


def _build(env: EnvironmentResult) -> str:
    text = f"{env.build.value} {env.build_seconds:.1f} s"
    return f"{text}, log `{env.build_log}`" if env.build_log and env.error else text


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
            f'### <a id="{_anchor(case.name)}"></a>`{case.name}`',
            "",
            f"Script `{case.script}` (sha256 `{case.script_sha256[:12]}`)."
            + (f" Needs {', '.join(case.requires)}." if case.requires else ""),
        ]
        if case.claim:
            lines += ["", f"> **Claim:** {case.claim}"]
        cells = [comparison.cell(env, case.name) for env in names]
        labels = _label_order(cells)
        failures = [c for c in cells if c.detail and c.state is not CellState.NOT_APPLICABLE]
        if labels:
            lines += [
                "",
                "| label | " + " | ".join(_env_heading(n, results.reference) for n in names) + " |",
                "| :-- | " + " | ".join(":--" for _ in names) + " |",
            ]
            for label in labels:
                row = [_label_cell(cell, label, results.reference) for cell in cells]
                lines.append(f"| `{label}` | " + " | ".join(row) + " |")
        for cell in failures:
            lines += ["", f"{SYMBOL[cell.state]} **{cell.environment}**: {_one_line(cell.detail)}"]
        lines += _claims_table([c for c in verdicts.claims if c.case == case.name], names)
        lines += _outputs(results, case.name, names)
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _claims_table(checks: Sequence[ClaimCheck], environments: Sequence[str]) -> list[str]:
    if not checks:
        return []
    claims = list(dict.fromkeys((check.kind, check.pattern) for check in checks))
    lines = [
        "",
        "| claim | " + " | ".join(environments) + " |",
        "| :-- | " + " | ".join(":-:" for _ in environments) + " |",
    ]
    mark = {Verdict.HELD: HELD, Verdict.SURPRISE: f"{SURPRISE} SURPRISE", Verdict.UNCHECKED: "·"}
    for kind, pattern in claims:
        row = []
        for env in environments:
            found = next(
                (c for c in checks if c.environment == env and (c.kind, c.pattern) == (kind, pattern)), None
            )
            row.append(mark[found.verdict] if found else "")
        lines.append(f"| {kind.replace('_', ' ')}: `{_one_line(pattern)}` | " + " | ".join(row) + " |")
    return lines


def _label_order(cells: Sequence[CellResult]) -> list[str]:
    order: list[str] = []
    for cell in cells:
        for label in cell.labels:
            if label.label not in order:
                order.append(label.label)
    return order


def _label_cell(cell: CellResult, label: str, reference: str) -> str:
    found = next((item for item in cell.labels if item.label == label), None)
    if found is None:
        return SYMBOL[cell.state] if cell.state is not CellState.STABLE else "(not recorded)"
    if not found.stable:
        return f"🎲 {found.distinct} distinct in {found.repeats} repeats"
    if cell.environment == reference or found.vs_reference is None:
        return f"✅ `{format_value(found.value)}`"
    return "✅ " + describe_difference(found.vs_reference, found)


def describe_difference(difference: Difference, label: LabelResult) -> str:
    if difference.equal:
        return "= reference"
    parts = [f"`{format_value(label.value)}`"]
    if difference.max_abs is not None:
        parts.append(f"max \\|Δ\\| {difference.max_abs:.3g}")
    if difference.max_ulps is not None:
        parts.append(f"{difference.max_ulps} ULP")
    if difference.note:
        parts.append(difference.note)
    return "≠ reference: " + ", ".join(parts)


def format_value(value: Value) -> str:
    """Full precision: repr of each element (a float32 widened to a double is exact)."""
    items = [_scalar(v) for v in value.values]
    return items[0] if not value.shape and len(items) == 1 else "[" + ", ".join(items) + "]"


def _scalar(value: Scalar) -> str:
    return repr(value)


def _outputs(results: Results, case: str, names: Sequence[str]) -> list[str]:
    lines = ["", "<details><summary>What the script printed (repeat 1 of each environment)</summary>", ""]
    for env in names:
        record = next(
            (r for r in results.records if r.environment == env and r.case == case and r.repeat == 1), None
        )
        if record is None:
            continue
        lines += [f"**{env}** ({record.status.value}, {record.seconds:.1f} s)", "", "```text"]
        lines += _shortened((record.output or "(no output)").splitlines())
        if record.stderr_tail.strip():
            lines += ["--- stderr (tail) ---", *_shortened(record.stderr_tail.splitlines())]
        lines += ["```", ""]
    lines.append("</details>")
    return lines


def _shortened(lines: list[str], *, most: int = 40, width: int = 240) -> list[str]:
    """Keep a report readable whatever a script printed: at most `most` lines of `width` characters."""
    kept = [
        line if len(line) <= width else line[:width] + f" … ({len(line):,} characters)"
        for line in lines[:most]
    ]
    if len(lines) > most:
        kept.append(f"… ({len(lines) - most:,} more lines in results.json)")
    return kept


def _anchor(case: str) -> str:
    return "case-" + "".join(ch if ch.isalnum() else "-" for ch in case.lower())


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
