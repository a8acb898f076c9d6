"""Render results and their comparison as MATRIX.md: summary first, matrix, environments, details.

Pure: strings in, string out. It must read well as rendered on GitHub (job summary included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .compare import CellResult, CellState, Comparison, Difference, LabelResult
from .results import EnvironmentResult, Record, Results, Scalar, Value

SYMBOL = {
    CellState.STABLE: "✅",
    CellState.VARIES: "🎲",
    CellState.ERROR: "💥",
    CellState.TIMEOUT: "⏱️",
    CellState.BAD_OUTPUT: "❓",
    CellState.BUILD_FAILED: "🧱",
    CellState.NOT_APPLICABLE: "➖",
    CellState.MISSING: "⋯",
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
    ("❓", "bad output: the script exited 0 but recorded no value"),
    ("🧱", "build failed: the environment's image could not be built (log path in Environments)"),
    ("➖", "not applicable: the environment lacks a framework the case needs"),
    ("⋯", "missing: no complete set of records (the run was interrupted)"),
)


def render(results: Results, comparison: Comparison) -> str:
    parts = [
        _header(results, comparison),
        _matrix(results, comparison),
        _environments(results),
        _cases(results, comparison),
    ]
    return "\n\n".join(part.rstrip() for part in parts) + "\n"


def _header(results: Results, comparison: Comparison) -> str:
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
    return "\n".join(lines)


def summary_line(comparison: Comparison) -> str:
    ran = [c for c in comparison.cells if c.state in {CellState.STABLE, CellState.VARIES}]
    same = sum(1 for c in ran if c.state is CellState.STABLE and c.group == "A")
    other = sum(1 for c in ran if c.state is CellState.STABLE and c.group != "A")
    varies = sum(1 for c in ran if c.state is CellState.VARIES)
    failed = [
        c
        for c in comparison.cells
        if c.state not in {CellState.STABLE, CellState.VARIES, CellState.NOT_APPLICABLE}
    ]
    text = (
        f"{len(ran)} cells ran: {same} stable and bitwise equal to the reference, "
        f"{other} stable but different from the reference, {varies} varying between repeats"
    )
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


def _matrix(results: Results, comparison: Comparison) -> str:
    names = comparison.environments
    rows = [
        "## Matrix",
        "",
        "| case | " + " | ".join(_env_heading(n, results.reference) for n in names) + " |",
        "| :-- | " + " | ".join(":-:" for _ in names) + " |",
    ]
    for case in comparison.cases:
        cells = [cell_text(comparison.cell(env, case)) for env in names]
        rows.append(f"| [`{case}`](#{_anchor(case)}) | " + " | ".join(cells) + " |")
    rows += ["", "<sub>", ""]
    rows += [f"{symbol} {meaning}<br>" for symbol, meaning in LEGEND]
    rows += ["", "</sub>"]
    return "\n".join(rows)


def cell_text(cell: CellResult) -> str:
    symbol = SYMBOL[cell.state]
    if cell.state is CellState.STABLE:
        return f"{symbol} {cell.group}"
    if cell.state is CellState.VARIES:
        return f"{symbol} {cell.group} · {len(cell.varying)} of {len(cell.labels)} vary"
    return f"{symbol} {cell.state.value}"


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


def _cases(results: Results, comparison: Comparison) -> str:
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
        lines += _outputs(results, case.name, names)
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


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
        lines += (record.output or "(no output)").splitlines()
        if record.stderr_tail.strip():
            lines += ["--- stderr (tail) ---", *record.stderr_tail.splitlines()]
        lines += ["```", ""]
    lines.append("</details>")
    return lines


def _anchor(case: str) -> str:
    return "case-" + "".join(ch if ch.isalnum() else "-" for ch in case.lower())


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
