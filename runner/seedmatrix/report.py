"""Render results and their comparison as MATRIX.md: summary first, matrix, environments, details.

Pure: strings in, string out. It must read well as rendered on GitHub (job summary included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

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
    CellState.WRONG_DEVICE: "🔀",
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
    ("🔀", "ran on the CPU although the environment asked for a GPU: never counted as a GPU result"),
    ("(CPU fallback)", "a CUDA build of TensorFlow that saw no GPU and ran on the CPU"),
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
    merged = results.host.get("merged_from")
    host = (
        ", ".join(str(part.get("hostname", "?")) for part in merged)
        if merged
        else results.host.get("hostname", "?")
    )
    engine = (
        ", ".join(str(part.get("docker", "?")) for part in merged)
        if merged
        else results.host.get("docker", "?")
    )
    lines = [
        "# Seed reproducibility matrix",
        "",
        f"Run `{results.run_id}` on host `{host}` (Docker {engine}), {results.started} → {results.finished}. "
        f"Each case ran {results.repeats} times per environment, each time in a fresh container "
        f"and process with no network. Reference environment: **{results.reference}**.",
        "",
        "**Summary:** " + summary_line(comparison),
    ]
    reused = sum(1 for record in results.records if record.reused_from)
    if reused:
        runs = sorted({record.reused_from for record in results.records if record.reused_from})
        lines += [
            "",
            f"♻️ {reused} of {len(results.records)} records were reused from earlier runs "
            f"({', '.join(f'`{run}`' for run in runs)}): same image, same scripts, same settings. "
            "`--fresh` runs them again.",
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
    quiet = {
        CellState.STABLE,
        CellState.VARIES,
        CellState.NOT_APPLICABLE,
        CellState.SKIPPED,
        CellState.WRONG_DEVICE,
    }
    failed = [c for c in comparison.cells if c.state not in quiet]
    on_cpu = comparison.count(CellState.WRONG_DEVICE)
    text = (
        f"{len(ran)} cells ran: {same} stable and bitwise equal to the reference, "
        f"{other} stable but different from the reference, {varies} varying between repeats"
    )
    if skipped:
        text += f"; {skipped} skipped on this host"
    if on_cpu:
        text += f"; {on_cpu} ran on the CPU although a GPU was asked for (not GPU results)"
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
    rows = ["## Matrix", ""]
    if len(names) <= WIDE:
        rows += [
            "| case | " + " | ".join(_matrix_heading(results, n) for n in names) + " |",
            "| :-- | " + " | ".join(":-:" for _ in names) + " |",
        ]
        for case in comparison.cases:
            cells = [cell_text(comparison.cell(env, case), verdicts.claims_of(env, case)) for env in names]
            rows.append(f"| [`{case}`](#{_anchor(case)}) | " + " | ".join(cells) + " |")
    else:
        # Many environments: one row each, so the table grows down instead of off the page.
        rows += _deviations(comparison, verdicts)
        rows += [
            "",
            f"<details><summary>The whole matrix ({len(names)} environments × "
            f"{len(comparison.cases)} cases)</summary>",
            "",
            "| environment | " + " | ".join(f"[`{c}`](#{_anchor(c)})" for c in comparison.cases) + " |",
            "| :-- | " + " | ".join(":-:" for _ in comparison.cases) + " |",
        ]
        for env in names:
            cells = [cell_text(comparison.cell(env, c), verdicts.claims_of(env, c)) for c in comparison.cases]
            rows.append(f"| {_matrix_heading(results, env)} | " + " | ".join(cells) + " |")
        rows += ["", "</details>"]
    rows += ["", "<sub>", ""]
    rows += [f"{symbol} {meaning}<br>" for symbol, meaning in LEGEND]
    rows += ["", "</sub>"]
    return "\n".join(rows)


def _deviations(comparison: Comparison, verdicts: Verdicts) -> list[str]:
    """Per environment, what sets it apart from the reference: the short list to read first."""
    lines = []
    for env in comparison.environments:
        cells = [comparison.cell(env, case) for case in comparison.cases]
        different = sum(1 for c in cells if c.group not in {None, "A"})
        failed = [
            c for c in cells if c.state not in {CellState.STABLE, CellState.VARIES, CellState.NOT_APPLICABLE}
        ]
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
    wide = len(results.environments) > WIDE
    rows = [
        "## Environments",
        "",
        "Versions are read inside each image after it was built, not copied from matrix.yaml.",
        "",
        *(["<details><summary>All environments</summary>", ""] if wide else []),
        "| environment | host | base | Python | NumPy | TensorFlow | device that ran | image | size "
        "| build |",
        "| :-- | :-- | :-- | :-- | :-- | :-- | :-- | :-- | --: | :-- |",
    ]
    for env in results.environments:
        observed = env.observed
        rows.append(
            "| "
            + " | ".join(
                [
                    _env_heading(env.name, results.reference),
                    env.host or "—",
                    _base(env),
                    observed.python if observed else "—",
                    (observed.numpy or "—") if observed else "—",
                    (observed.tensorflow or "—") if observed else "—",
                    _devices(
                        record for case in results.cases for record in results.records_of(env.name, case.name)
                    ),
                    f"`{env.image_id.removeprefix('sha256:')[:12]}`" if env.image_id else "—",
                    _size(env.image_size),
                    _build(env),
                ]
            )
            + " |"
        )
    if wide:
        rows += ["", "</details>"]
    rows += _listed(
        [f"**{env.name}**: {_one_line(env.error or '')}" for env in results.environments if env.error]
    )
    # Identical freezes are shown once, with the environments that share them.
    freezes: dict[tuple[str, ...], list[str]] = {}
    for env in results.environments:
        if env.observed:
            freezes.setdefault(env.observed.pip_freeze, []).append(env.name)
    rows += ["", "<details><summary>pip freeze of each image</summary>", ""]
    for freeze, names in freezes.items():
        rows += [f"**{_cut(names)}**", "", "```", *freeze, "```", ""]
    rows.append("</details>")
    return "\n".join(rows)


def _base(env: EnvironmentResult) -> str:
    if env.requested.get("debian"):
        return f"Debian {env.requested['debian']}"
    if env.requested.get("host_python"):
        return f"host `{env.requested['host_python']}`, no container"
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
        columns = _columns(cells, results.reference)
        labels = _label_order([cell for _, cell in columns])
        failures = [c for c in cells if c.detail and c.state is not CellState.NOT_APPLICABLE]
        if labels:
            lines += [
                "",
                "| label | " + " | ".join(heading for heading, _ in columns) + " |",
                "| :-- | " + " | ".join(":--" for _ in columns) + " |",
            ]
            for label in labels:
                row = [_label_cell(cell, label, results.reference) for _, cell in columns]
                lines.append(f"| `{_one_line(label)}` | " + " | ".join(row) + " |")
        if len(names) > WIDE:
            lines += _group_members(cells)
        lines += _listed(
            [f"{SYMBOL[cell.state]} **{cell.environment}**: {_one_line(cell.detail)}" for cell in failures]
        )
        lines += _claims_table([c for c in verdicts.claims if c.case == case.name], names)
        shown = [cell.environment for _, cell in columns] + [c.environment for c in failures]
        lines += _outputs(results, case.name, list(dict.fromkeys(shown)))
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


#: Above this many environments, tables show one column per group of identical environments.
WIDE = 8
#: Lists longer than this are cut, saying how many more there are.
LONGEST_LIST = 30


def _columns(cells: Sequence[CellResult], reference: str) -> list[tuple[str, CellResult]]:
    """One column per environment, or (for wide matrices) one per group, shown by its first member."""
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
    ]


def _group_members(cells: Sequence[CellResult]) -> list[str]:
    members: dict[str, list[str]] = {}
    for cell in cells:
        if cell.group is not None:
            members.setdefault(cell.group, []).append(cell.environment)
    lines = ["", "<details><summary>Environments in each group</summary>", ""]
    for letter, names in sorted(members.items(), key=lambda item: (len(item[0]), item[0])):
        lines.append(f"- **{letter}** ({len(names)}): {_cut(names)}")
    return [*lines, "", "</details>"]


def _cut(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LONGEST_LIST])
    return shown + (f", … and {len(names) - LONGEST_LIST} more" if len(names) > LONGEST_LIST else "")


def _listed(lines: Sequence[str]) -> list[str]:
    if not lines:
        return []
    kept = ["", *lines[:LONGEST_LIST]]
    if len(lines) > LONGEST_LIST:
        kept.append(f"… and {len(lines) - LONGEST_LIST} more (see results.json)")
    return kept


def _claims_table(checks: Sequence[ClaimCheck], environments: Sequence[str]) -> list[str]:
    if not checks:
        return []
    claims = list(dict.fromkeys((check.kind, check.pattern) for check in checks))
    if len(environments) > WIDE:
        lines = ["", "| claim | held | SURPRISE | not checked |", "| :-- | --: | --: | --: |"]
        for kind, pattern in claims:
            verdicts = [c.verdict for c in checks if (c.kind, c.pattern) == (kind, pattern)]
            counts = [verdicts.count(v) for v in (Verdict.HELD, Verdict.SURPRISE, Verdict.UNCHECKED)]
            lines.append(
                f"| {kind.replace('_', ' ')}: `{_one_line(pattern)}` | " + " | ".join(map(str, counts)) + " |"
            )
        return lines
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
    lines = ["", "<details><summary>What the script printed (repeat 1)</summary>", ""]
    for env in names:
        records = results.records_of(env, case)
        if not records:
            continue
        record = records[0]
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
