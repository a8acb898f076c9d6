"""Claims: each kind, held and failed, on hand-made results; and what the exit status makes of them."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import Any

import pytest

from seedmatrix.claims import Verdict, check_claims
from seedmatrix.compare import compare
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.report import Verdicts, render
from seedmatrix.results import Record, Results, RunDirectory, RunStatus

from builders import case, environment, float32_value, float64_value, record, repeated, results


def verdicts_for(
    claims: dict[str, Any], records: list[Record], environments: int = 1
) -> list[tuple[str, Verdict, str]]:
    names = ["ref", "other"][:environments]
    res = results([environment(n) for n in names], [case("c", claims=claims)], records)
    return [(c.environment, c.verdict, c.evidence) for c in check_claims(res, compare(res))]


def steady(values: dict[str, float], environment: str = "ref") -> list[Record]:
    return repeated(environment, "c", [float64_value(label, v) for label, v in values.items()])


def changing(label: str) -> list[Record]:
    return [record("ref", "c", n, [float64_value(label, float(n))]) for n in (1, 2, 3)]


def test_stable_held_and_failed() -> None:
    assert verdicts_for({"stable": ["*"]}, steady({"a": 1.0})) == [
        ("ref", Verdict.HELD, "1 label(s) bitwise stable")
    ]
    [(_, verdict, evidence)] = verdicts_for({"stable": ["x*"]}, changing("x1"))
    assert verdict is Verdict.SURPRISE
    assert evidence == "varies across repeats: x1 (3 distinct)"


def test_varies_held_and_failed() -> None:
    assert verdicts_for({"varies": ["x1"]}, changing("x1"))[0][1] is Verdict.HELD
    [(_, verdict, evidence)] = verdicts_for({"varies": ["a"]}, steady({"a": 1.0}))
    assert verdict is Verdict.SURPRISE
    assert evidence == "identical in every repeat: a"


def test_a_pattern_that_matches_nothing_is_a_surprise_not_a_pass() -> None:
    [(_, verdict, evidence)] = verdicts_for({"stable": ["typo*"]}, steady({"a": 1.0}))
    assert verdict is Verdict.SURPRISE
    assert evidence == "no recorded label matches 'typo*'"


def test_equal_with_placeholders_held_and_failed() -> None:
    same = steady({"Session 1 op1": 0.5, "Session 2 op1": 0.5, "Session 1 op2": 0.25, "Session 2 op2": 0.25})
    assert verdicts_for({"equal": {"Session 2 {op}": "Session 1 {op}"}}, same)[0][1] is Verdict.HELD
    different = steady({"Session 1 op1": 0.5, "Session 2 op1": 0.75})
    [(_, verdict, evidence)] = verdicts_for({"equal": {"Session 2 {op}": "Session 1 {op}"}}, different)
    assert verdict is Verdict.SURPRISE
    assert evidence == "Session 2 op1 ≠ Session 1 op1 in repeat 1"


def test_differ_held_and_failed() -> None:
    assert (
        verdicts_for({"differ": {"call 2": "call 1"}}, steady({"call 1": 1.0, "call 2": 2.0}))[0][1]
        is Verdict.HELD
    )
    [(_, verdict, evidence)] = verdicts_for(
        {"differ": {"call 2": "call 1"}}, steady({"call 1": 1.0, "call 2": 1.0})
    )
    assert verdict is Verdict.SURPRISE
    assert evidence == "call 2 = call 1 in repeat 1"


def test_same_across_environments_held_and_failed_with_ulps() -> None:
    assert [
        v
        for _, v, _ in verdicts_for(
            {"same_across_environments": ["*"]}, steady({"x": 0.5}, "ref") + steady({"x": 0.5}, "other"), 2
        )
    ] == [
        Verdict.HELD,
        Verdict.HELD,
    ]
    next_up = struct.unpack(">d", struct.pack(">Q", struct.unpack(">Q", struct.pack(">d", 0.5))[0] + 2))[0]
    checks = verdicts_for(
        {"same_across_environments": ["*"]}, steady({"x": 0.5}, "ref") + steady({"x": next_up}, "other"), 2
    )
    assert checks[0][1] is Verdict.HELD
    assert checks[1][1] is Verdict.SURPRISE
    assert checks[1][2] == "differs from ref: x: max |Δ| 2.22e-16, 2 ULP"


def test_same_as_case_held_and_failed() -> None:
    def run(other_value: float) -> list[tuple[str, Verdict]]:
        res = results(
            [environment("ref")],
            [case("one"), case("two", claims={"same_as_case": "one"})],
            repeated("ref", "one", [float32_value("sum", 1.5)])
            + repeated("ref", "two", [float32_value("sum", other_value)]),
        )
        return [(c.case, c.verdict) for c in check_claims(res, compare(res))]

    assert run(1.5) == [("two", Verdict.HELD)]
    assert run(1.25) == [("two", Verdict.SURPRISE)]


def test_claims_of_a_failed_cell_are_unchecked_not_held() -> None:
    crashed = [record("ref", "c", 1, [], status=RunStatus.ERROR, stderr_tail="boom")]
    assert verdicts_for({"stable": ["*"]}, crashed) == [("ref", Verdict.UNCHECKED, "cell is error")]


def sample_with_surprise() -> Results:
    return results(
        [environment("ref")],
        [case("c", claims={"stable": ["x*"], "varies": ["x1"]})],
        changing("x1"),
    )


def test_report_lists_surprises_first_and_marks_the_cell() -> None:
    res = sample_with_surprise()
    comparison = compare(res)
    markdown = render(res, Verdicts(comparison=comparison, claims=check_claims(res, comparison)))
    assert "**Claims:** 1 held, 1 SURPRISE." in markdown
    assert markdown.index("## Surprises") < markdown.index("## Matrix")
    assert "- ❗ **ref** · [`c`](#case-c) · `stable: x*`: varies across repeats: x1 (3 distinct)" in markdown
    assert "| [`c`](#case-c) | 🎲 A · 1 of 1 vary ❗ SURPRISE |" in markdown
    assert "| varies: `x1` | ✔ |" in markdown


@pytest.mark.parametrize(("report_only", "status"), [(False, 1), (True, 0)])
def test_a_surprise_fails_the_exit_status_unless_report_only(
    tmp_path: Path, report_only: bool, status: int
) -> None:
    store = RunDirectory.create(tmp_path)
    store.save_results(sample_with_surprise())
    assert report_job(store.path, Output(env={}), report_only=report_only) == status
    assert "SURPRISE" in store.matrix_file.read_text(encoding="utf-8")


def test_held_claims_exit_zero(tmp_path: Path) -> None:
    store = RunDirectory.create(tmp_path)
    store.save_results(
        results([environment("ref")], [case("c", claims={"stable": ["*"]})], steady({"a": 1.0}))
    )
    assert report_job(store.path, Output(env={})) == 0


def test_same_as_case_when_the_other_case_did_not_run_is_unchecked() -> None:
    res = results(
        [environment("ref")],
        [case("two", claims={"same_as_case": "one"})],
        repeated("ref", "two", [float32_value("sum", 1.5)]),
    )
    [check] = check_claims(res, compare(res))
    assert (check.verdict, check.evidence) == (Verdict.UNCHECKED, "one was not in this run")


def test_report_follows_the_runs_fail_on_surprise_setting(tmp_path: Path) -> None:
    store = RunDirectory.create(tmp_path)
    store.save_results(dataclasses.replace(sample_with_surprise(), fail_on_surprise=False))
    assert report_job(store.path, Output(env={})) == 0
