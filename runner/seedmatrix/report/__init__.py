"""Render results and their verdicts as MATRIX.md: summary first, matrix, environments, details.

Pure: data in, string out. It must read well as rendered on GitHub (job summary included), and
nothing a script prints or records can break its tables (every piece of user text goes through
`markdown`). Each section is a module; SECTIONS is their order, and a section with nothing to show
is left out. Adding a section: a module here and an entry in SECTIONS (docs/results.md lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..results import Results
from ..verdicts import Verdicts, derive, median_seconds
from . import baseline, cases, divergences, environments, matrix, published, summary, timings
from .cases import format_series, format_value, label_cell
from .common import LONGEST_LIST, WIDE
from .matrix import STATES, cell_text, legend
from .summary import baseline_line, claims_line, summary_line

__all__ = [
    "LONGEST_LIST",
    "SECTIONS",
    "STATES",
    "WIDE",
    "Section",
    "Verdicts",
    "baseline_line",
    "cell_text",
    "claims_line",
    "derive",
    "format_series",
    "format_value",
    "label_cell",
    "legend",
    "median_seconds",
    "render",
    "summary_line",
]


@dataclass(frozen=True, kw_only=True)
class Section:
    title: str  # its heading in MATRIX.md ("" for the summary, under the document's title)
    render: Callable[[Results, Verdicts], str]  # "" when it has nothing to show


def _surprises(results: Results, verdicts: Verdicts) -> str:
    return summary.surprises(verdicts.surprises) if verdicts.surprises else ""


def _first_divergences(results: Results, verdicts: Verdicts) -> str:
    return divergences.first_divergences(verdicts.divergences) if verdicts.divergences else ""


def _published(results: Results, verdicts: Verdicts) -> str:
    return published.published(verdicts.published) if verdicts.published else ""


def _baseline(results: Results, verdicts: Verdicts) -> str:
    return baseline.baseline(verdicts.baseline) if verdicts.baseline is not None else ""


def _timings(results: Results, verdicts: Verdicts) -> str:
    return timings.paired_timings(results)


def _environments(results: Results, verdicts: Verdicts) -> str:
    return environments.environments(results, verdicts.limits)


#: The sections of MATRIX.md, in order.
SECTIONS = (
    Section(title="", render=summary.header),
    Section(title=summary.SURPRISES, render=_surprises),
    Section(title=matrix.TITLE, render=matrix.matrix),
    Section(title=divergences.TITLE, render=_first_divergences),
    Section(title=published.TITLE, render=_published),
    Section(title=baseline.TITLE, render=_baseline),
    Section(title=timings.TITLE, render=_timings),
    Section(title=environments.TITLE, render=_environments),
    Section(title=cases.TITLE, render=cases.cases),
)


def render(results: Results, verdicts: Verdicts) -> str:
    parts = [section.render(results, verdicts) for section in SECTIONS]
    return "\n\n".join(part.rstrip() for part in parts if part) + "\n"
