"""Each case's details: its values per environment, claims, divergences and what the script printed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..claims import MEASURED, TOLERANT, TOLERANT_MARK, ClaimCheck, Verdict
from ..compare import WITH_VALUES, CellResult, CellState, LabelResult, LabelState, Versus
from ..markdown import anchor, code, details, fenced, plain, shorten, table
from ..results import Results
from ..values import NOT_WRITTEN, PARSED, Shown, Value, describe
from ..verdicts import Verdicts
from .common import LONGEST_LIST, WIDE, cut, env_heading, listed
from .divergences import divergence_details
from .matrix import HELD, STATES, SURPRISE

#: Its heading in MATRIX.md.
TITLE = "Cases"

#: Elements of a value shown in a table cell; results.json keeps every one.
SHOWN_ELEMENTS = 8


def cases(results: Results, verdicts: Verdicts) -> str:
    comparison = verdicts.comparison
    sections = [f"## {TITLE}"]
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
        lines += listed(
            [
                f"- {STATES[cell.state][0]} **{cell.environment}**: {plain(cell.detail, 400)}"
                for cell in failures
            ]
        )
        lines += divergence_details(verdicts.divergences_of(case.name))
        lines += _claims_table([c for c in verdicts.claims if c.case == case.name], names)
        shown = [cell.environment for _, cell in columns] + [c.environment for c in failures]
        lines += _outputs(results, case.name, list(dict.fromkeys(shown)))
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _columns(cells: Sequence[CellResult], reference: str) -> list[tuple[str, CellResult]]:
    """One column per environment, or (for wide matrices) one per group, shown by its first member,
    then one for the cells with values but no letter (nothing in them could be compared)."""
    if len(cells) <= WIDE:
        return [(env_heading(cell.environment, reference), cell) for cell in cells]
    members: dict[str, list[CellResult]] = {}
    for cell in cells:
        if cell.group is not None:
            members.setdefault(cell.group, []).append(cell)
    ordered = sorted(members.items(), key=lambda item: (len(item[0]), item[0]))
    return [
        (
            f"{letter}: {env_heading(group[0].environment, reference)}"
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
    return [(f"no letter: {env_heading(letterless[0].environment, reference)}{more}", letterless[0])]


def _group_members(cells: Sequence[CellResult]) -> list[str]:
    members: dict[str, list[str]] = {}
    for cell in cells:
        if cell.group is not None:
            members.setdefault(cell.group, []).append(cell.environment)
    body = [
        f"- **{letter}** ({len(names)}): {cut(names)}"
        for letter, names in sorted(members.items(), key=lambda item: (len(item[0]), item[0]))
    ]
    letterless = [cell.environment for cell in cells if cell.group is None and cell.state in WITH_VALUES]
    if letterless:
        body.append(f"- no letter, nothing compared ({len(letterless)}): {cut(letterless)}")
    return ["", *details("Environments in each group", body)]


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
        tolerant = f"{TOLERANT_MARK} " if kind in TOLERANT else ""
        row = [f"{tolerant}{kind.replace('_', ' ')}: {code(pattern)}"]
        for env in environments:
            found = by_key.get((env, kind, pattern))
            row.append(f"{tolerant}{mark[found.verdict]}" if found else "")
        rows.append(row)
    lines = ["", *table(["claim", *environments], rows, [":--"] + [":-:"] * len(environments))]
    # A pair held apart or close: how far apart is the finding (a CPU and a GPU stream, a loss).
    measured = [c for c in checks if c.verdict is Verdict.HELD and c.kind in MEASURED]
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
