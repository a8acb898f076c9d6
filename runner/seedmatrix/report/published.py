"""Published values: does the run print what was published, to the digits printed."""

from __future__ import annotations

from collections.abc import Sequence

from ..markdown import anchor, code, plain, table
from ..published import PublishedCheck, Reproduced

#: Its heading in MATRIX.md.
TITLE = "Published values"

REPRODUCED_MARK = {
    Reproduced.YES: "✔ reproduced",
    Reproduced.NO: "✘ missed",
    Reproduced.UNCHECKED: "· not checked",
}


def published(checks: Sequence[PublishedCheck]) -> str:
    lines = [
        f"## {TITLE}",
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
