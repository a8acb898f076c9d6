"""A matrix of 200 environments × 20 cases × 5 repeats: correct, and readable as rendered.

Timing and memory at this size are figures of `nox -s bench`, not assertions here.
"""

from __future__ import annotations

import re

import pytest

from seedmatrix.claims import Verdict, check_claims
from seedmatrix.compare import CellState, compare
from seedmatrix.report import derive, render
from seedmatrix.results import Results

from scale import synthetic_results

GITHUB_SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts in one step summary


@pytest.fixture(scope="module")
def large() -> Results:
    return synthetic_results(200, 20, 5)


@pytest.fixture(scope="module")
def markdown(large: Results) -> str:
    return render(large, derive(large))


def test_every_cell_is_compared_and_every_claim_checked(large: Results) -> None:
    comparison = compare(large)
    assert len(comparison.cells) == 200 * 20
    drifting = {f"env{e:03d}" for e in range(200) if e % 5 == 4}
    assert {c.environment for c in comparison.cells if c.group == "B"} == drifting
    assert comparison.count(CellState.VARIES) == 200 * 7  # cases 0, 3, …, 18 have a noisy label
    checks = check_claims(large, comparison)
    assert {c.verdict for c in checks} == {Verdict.HELD}
    assert len(checks) == 200 * (7 * 2 + 13)


def test_the_report_fits_a_github_summary_and_puts_the_summary_first(markdown: str) -> None:
    assert len(markdown.encode()) < GITHUB_SUMMARY_LIMIT
    assert markdown.index("**Summary:**") < markdown.index("## Matrix") < markdown.index("## Cases")
    assert (
        "**Summary:** 4000 cells ran: 2080 stable and bitwise equal to the reference, 520 stable but"
        in markdown
    )


def test_the_big_tables_are_folded_and_deviations_listed_first(markdown: str) -> None:
    matrix = markdown[markdown.index("## Matrix") : markdown.index("## Environments")]
    assert matrix.index("Environments that differ from the reference somewhere:") < matrix.index("<details>")
    assert "<summary>The whole matrix (200 environments × 20 cases)</summary>" in matrix
    assert "- **env004**: 20 cases, 20 differ from the reference" in matrix
    assert "… and 10 more (see results.json)" in matrix  # 40 drifting environments, 30 listed
    widest = max(len(line.split(" | ")) for line in markdown.splitlines() if line.startswith("| `"))
    assert widest <= 4  # case tables: label plus one column per group, not per environment


def test_case_details_name_the_members_of_each_group(markdown: str) -> None:
    section = markdown[markdown.index('id="case-case01"') :]
    assert re.search(r"\| label \| A: env000 \(reference\) \+159 \| B: env004 \+39 \|", section)
    assert "- **B** (40): env004, env009," in section
