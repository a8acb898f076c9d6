"""Markdown that whatever a script prints or records cannot break.

Labels, values and output come from user scripts: they may hold `|`, backticks, newlines, HTML,
code fences, or a hundred thousand numbers. Every piece of such text goes through one of these
functions before it reaches MATRIX.md: `code` (an inline code span, one line, shortened), `plain`
(escaped text), `fenced` (a code block whose fence no line can close). `table` checks that every
row has as many cells as the header, so a table can never lose its shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LONGEST_CELL = 160  # characters of user text in one table cell; results.json keeps it whole
_BACKTICKS = re.compile(r"`+")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})", re.MULTILINE)
_ESCAPED = re.compile(r"([\\`*_\[\]<>|#&~])")


def shorten(text: str, most: int = LONGEST_CELL) -> str:
    one_line = " ⏎ ".join(text.splitlines())
    if len(one_line) <= most:
        return one_line
    return one_line[: most - 1] + f"… ({len(one_line):,} characters)"


def code(text: str, most: int = LONGEST_CELL) -> str:
    """An inline code span on one line, safe inside a table cell."""
    text = shorten(text, most).replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or not text.strip() else text
    return f"{ticks}{padded}{ticks}"


def plain(text: str, most: int = LONGEST_CELL) -> str:
    """Text shown as written: markdown and HTML characters escaped, one line, shortened."""
    return _ESCAPED.sub(r"\\\1", shorten(text, most))


def fenced(lines: Sequence[str], info: str = "text") -> list[str]:
    """A fenced code block no line inside can end early."""
    longest = max(
        (len(match.group(1)) for line in lines for match in [_FENCE.match(line)] if match), default=0
    )
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *lines, fence]


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None
) -> list[str]:
    """A GitHub table; `align` per column: ":--", ":-:" or "--:" (default left)."""
    widths = len(header)
    aligns = list(align or [":--"] * widths)
    lines = [_row(header), _row(aligns)]
    for row in rows:
        if len(row) != widths:
            raise ValueError(f"table row has {len(row)} cells, the header {widths}")
        lines.append(_row(row))
    return lines


def _row(cells: Sequence[str]) -> str:
    for cell in cells:
        if "\n" in cell or "\r" in cell:
            raise ValueError(f"a table cell spans lines: {cell[:40]!r}")
    return "| " + " | ".join(cells) + " |"


def details(summary: str, body: Sequence[str]) -> list[str]:
    """A folded section; the blank lines let GitHub render the markdown inside."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>"]


def anchor(name: str) -> str:
    return "case-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())
