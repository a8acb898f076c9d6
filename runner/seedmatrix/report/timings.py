"""The cost of determinism: paired cases timed against each other, per environment."""

from __future__ import annotations

from collections.abc import Sequence

from ..markdown import anchor, table
from ..results import Record, Results
from ..verdicts import median_seconds, paired_cases

#: Its heading in MATRIX.md.
TITLE = "Cost of determinism and other switches"


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


def paired_timings(results: Results) -> str:
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
        f"## {TITLE}",
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
