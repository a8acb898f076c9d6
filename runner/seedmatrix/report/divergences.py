"""Where values first part: the section across cases, and each case's details and profiles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..markdown import anchor, code, details, plain, table
from ..results import Between, Divergence
from ..values import Difference, combined, describe
from .common import LONGEST_LIST, cut, listed

#: Its heading in MATRIX.md.
TITLE = "First divergences"


def first_divergences(found: Sequence[Divergence]) -> str:
    """Per case, where values first part: one row per case, comparison and first label."""
    rows: dict[tuple[str, Between, str], list[Divergence]] = {}
    for divergence in found:
        rows.setdefault((divergence.case, divergence.between, divergence.label), []).append(divergence)
    lines = [
        f"## {TITLE}",
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
        environments = cut([d.environment for d in group])
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


def divergence_details(found: Sequence[Divergence]) -> list[str]:
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
    lines = ["", "**First divergence:**", *listed(items)]
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
