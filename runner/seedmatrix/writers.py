"""The writers of a run, as one list: what a report leaves behind besides the lines it prints.

results.json (a new or merged run), MATRIX.md, junit.xml, the GitHub job summary and annotations,
each from the same results and verdicts. Adding an output format: a writer here and an entry in
WRITERS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from . import yamldoc
from .ci import github_annotations, junit_xml
from .config import format_key_path
from .errors import ConfigError
from .files import atomic_write
from .log import Output
from .report import render
from .results import Results
from .store import RunDirectory
from .verdicts import Verdicts


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """One run's results and verdicts, and where its report goes."""

    run: RunDirectory
    results: Results
    verdicts: Verdicts
    out: Output
    save: bool  # results.json too: a stored run keeps the one it has
    fail_on_change: bool  # the gate the exit status applies, which junit.xml applies too

    @cached_property
    def markdown(self) -> str:
        return render(self.results, self.verdicts)


def _results_json(report: RunReport) -> None:
    if report.save:
        report.run.save_results(replace(report.results, divergences=report.verdicts.divergences))


def _matrix_md(report: RunReport) -> None:
    atomic_write(report.run.matrix_file, report.markdown)


def _junit_xml(report: RunReport) -> None:
    xml = junit_xml(report.results, report.verdicts, fail_on_change=report.fail_on_change)
    atomic_write(report.run.junit_file, xml)


def _job_summary(report: RunReport) -> None:
    report.out.github_summary(report.markdown)


def _annotations(report: RunReport) -> None:
    results = report.results
    report.out.github_annotations(
        github_annotations(
            report.verdicts.surprises,
            matrix_file=os.path.relpath(results.matrix_file),  # GitHub wants it relative to the checkout
            cases=results.matrix_cases,
            lines=_matrix_lines(results.matrix_file),
        )
    )


def _matrix_lines(matrix_file: str) -> dict[tuple[str | int, ...], int]:
    """The line of each key of the matrix file, for annotations; none when it is not here."""
    path = Path(matrix_file)
    try:
        _, lines = yamldoc.load(path.read_text(encoding="utf-8"), path, key_path=format_key_path)
    except (OSError, UnicodeDecodeError, ConfigError):
        return {}
    return lines


#: In the order they are written: results.json before anything derived from it.
WRITERS: tuple[Callable[[RunReport], None], ...] = (
    _results_json,
    _matrix_md,
    _junit_xml,
    _job_summary,
    _annotations,
)


def write_run(report: RunReport) -> None:
    for writer in WRITERS:
        writer(report)
