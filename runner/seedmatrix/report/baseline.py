"""Against the baseline: each cell of this run against a stored one, by name."""

from __future__ import annotations

from ..baseline import BaselineCell, BaselineComparison, Change
from ..markdown import code, plain, table
from ..values import combined, describe
from .common import listed

#: Its heading in MATRIX.md.
TITLE = "Against the baseline"

CHANGE_TEXT = {
    Change.UNCHANGED: "= unchanged",
    Change.CHANGED: "Δ changed",
    Change.SCRIPT_CHANGED: "✎ script changed",
    Change.PROJECT_CHANGED: "✎ project changed",
    Change.NEW: "🆕 new",
    Change.MISSING: "∅ missing",
    Change.NOT_COMPARABLE: "· not comparable",
}


def baseline(baseline: BaselineComparison) -> str:
    environments = list(dict.fromkeys(cell.environment for cell in baseline.cells))
    cases = list(dict.fromkeys(cell.case for cell in baseline.cells))
    by_key = {(cell.environment, cell.case): cell for cell in baseline.cells}
    lines = [
        f"## {TITLE}",
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
        lines += listed(
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
