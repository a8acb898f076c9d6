"""junit.xml, read back with a real JUnit parser, and GitHub annotations at the claims' lines."""

from __future__ import annotations

import dataclasses
import os
import pty
import sys
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from seedmatrix import yamldoc
from seedmatrix.ci import MOST_ANNOTATIONS, github_annotations, junit_xml
from seedmatrix.claims import ClaimCheck, Verdict
from seedmatrix.config import format_key_path
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.report import derive
from seedmatrix.results import Results, RunStatus, SkippedCell
from seedmatrix.store import RunDirectory

from builders import case, environment, float32_value, float64_value, record, repeated, results


def test_junit_has_a_test_per_cell_and_each_outcome_in_its_place(tmp_path: Path) -> None:
    res = dataclasses.replace(
        results(
            [environment("ref"), environment("numpy-only", frameworks=("numpy",)), environment("far")],
            [case("seeded", claims={"varies": ["x"]}), case("tf", requires=("tensorflow",))],
            repeated("ref", "seeded", [float64_value("x", 1.0)])
            + repeated("numpy-only", "seeded", [float64_value("x", 1.0)])
            + [record("ref", "tf", n, [], status=RunStatus.ERROR, stderr_tail="boom <&>") for n in (1, 2, 3)],
        ),
        skipped=(
            SkippedCell(environment="far", case="seeded", reason="needs 2 CPUs, this host has 1"),
            SkippedCell(environment="far", case="tf", reason="needs 2 CPUs, this host has 1"),
        ),
    )
    path = tmp_path / "junit.xml"
    path.write_bytes(junit_xml(res, derive(res), fail_on_change=False))
    suites = JUnitXml.fromfile(str(path))
    cases = {(test.classname, test.name): test for suite in suites for test in suite}
    assert set(cases) == {(c, e) for c in ("seeded", "tf") for e in ("ref", "numpy-only", "far")}
    outcome = {key: [type(result) for result in test.result] for key, test in cases.items()}
    assert outcome["seeded", "ref"] == [Failure]  # the claim `varies` did not hold: a SURPRISE
    assert outcome["seeded", "numpy-only"] == [Failure]
    assert outcome["tf", "ref"] == [Error]
    assert outcome["tf", "numpy-only"] == [Skipped]  # not applicable: no TensorFlow there
    assert outcome["seeded", "far"] == [Skipped]
    assert "needs 2 CPUs" in cases["seeded", "far"].result[0].message
    assert "boom <&>" in cases["tf", "ref"].result[0].message  # escaped in the file, whole when read
    assert "SURPRISE varies: x" in cases["seeded", "ref"].result[0].message
    assert (suites.tests, suites.failures, suites.errors, suites.skipped) == (6, 2, 1, 3)


def test_a_stable_cell_whose_claims_held_passes() -> None:
    res = results(
        [environment("ref")],
        [case("seeded", claims={"stable": ["*"]})],
        repeated("ref", "seeded", [float64_value("x", 1.0)]),
    )
    [suite] = list(JUnitXml.fromstring(junit_xml(res, derive(res), fail_on_change=False).decode()))
    [test] = list(suite)
    assert test.is_passed
    assert float(test.time) == 4.5  # three records of 1.5 s


MATRIX = """\
repeats: 3
environments:
  - {name: ref, debian: bookworm, python: "3.11"}
cases:
  - name: first
    script: a.py
  - name: second
    script: b.py
    claims:
      stable: ["*"]
    claims_on_gpu:
      varies: ["x, y: 100%"]
"""


def surprise(case_name: str, kind: str, block: str, evidence: str = "seen") -> ClaimCheck:
    return ClaimCheck(
        environment="gpu,env", case=case_name, kind=kind, pattern="x, y: 100%", verdict=Verdict.SURPRISE,
        evidence=evidence, block=block,
    )  # fmt: skip


def test_annotations_point_at_the_claims_line_and_are_escaped() -> None:
    _, lines = yamldoc.load(MATRIX, Path("matrix.yaml"), key_path=format_key_path)
    found = github_annotations(
        [surprise("second", "varies", "claims_on_gpu", "two\nlines"), surprise("second", "stable", "claims")],
        matrix_file="matrix.yaml",
        cases=["first", "second"],
        lines=lines,
    )
    assert found[0].startswith("::error file=matrix.yaml,line=12,title=SURPRISE second on gpu%2Cenv::")
    assert found[0].endswith("varies: x, y: 100%25: two%0Alines")
    assert ",line=10," in found[1]  # `stable:` under `claims:`
    unknown = github_annotations(
        [surprise("gone", "stable", "claims")], matrix_file="m.yaml", cases=[], lines={}
    )
    assert ",line=1," in unknown[0]


def test_more_surprises_than_github_shows_are_summed_up() -> None:
    many = [surprise("second", "stable", "claims") for _ in range(MOST_ANNOTATIONS + 3)]
    found = github_annotations(many, matrix_file="matrix.yaml", cases=["first", "second"], lines={})
    assert len(found) == MOST_ANNOTATIONS + 1
    assert found[-1] == "::notice title=More SURPRISES::3 more SURPRISES; MATRIX.md lists every one"


def test_terminal_colours_and_nul_in_stderr_still_give_well_formed_xml() -> None:
    res = results(
        [environment("ref")],
        [case("c")],
        [
            record("ref", "c", n, [], status=RunStatus.ERROR, stderr_tail="\x1b[31mred\x00 end")
            for n in (1, 2, 3)
        ],
    )
    [suite] = list(JUnitXml.fromstring(junit_xml(res, derive(res), fail_on_change=False).decode()))
    [test] = list(suite)
    assert "red" in test.result[0].message
    assert "end" in test.result[0].message


def gate_run(*cells: tuple[str, str, float | None], claims: dict[str, list[str]] | None = None) -> Results:
    """One stable float32 `x` per (environment, case, value); None: the script skipped itself."""
    environments = list(dict.fromkeys(env for env, _, _ in cells))
    cases = list(dict.fromkeys(name for _, name, _ in cells))
    records = []
    for env, name, value in cells:
        if value is None:
            records += [
                dataclasses.replace(r, status=RunStatus.SKIPPED, skipped="no GPU here")
                for r in repeated(env, name, [])
            ]
        else:
            records += repeated(env, name, [float32_value("x", value)])
    return results(
        [environment(env) for env in environments], [case(name, claims=claims) for name in cases], records
    )


BEFORE = gate_run(*((env, name, 1.0) for env in ("app", "gone") for name in ("same", "moved", "skips")))
AFTER = gate_run(("app", "same", 1.0), ("app", "moved", 1.5), ("app", "skips", None))


def stored(tmp_path: Path, name: str, res: Results) -> RunDirectory:
    run = RunDirectory(tmp_path / name)
    run.path.mkdir()
    run.save_results(res)
    return run


def outcomes(run: RunDirectory) -> tuple[JUnitXml, dict[tuple[str, str], list[type]]]:
    suites = JUnitXml.fromfile(str(run.junit_file))
    return suites, {
        (test.classname, test.name): [type(result) for result in test.result]
        for suite in suites
        for test in suite
    }


def test_fail_on_change_from_the_command_line_fails_junit_too(tmp_path: Path) -> None:
    """Before: `report --fail-on-change` exited 1 and junit.xml said failures="0"."""
    before, after = stored(tmp_path, "before", BEFORE), stored(tmp_path, "after", AFTER)
    assert report_job([after.path], Output(env={}), baseline=before.results_file, fail_on_change=True) == 1
    suites, outcome = outcomes(after)
    assert outcome["same", "app"] == []  # unchanged: passed
    assert outcome["moved", "app"] == [Failure]
    assert outcome["skips", "app"] == [Failure]  # its values vanished: not merely skipped
    assert outcome["same", "gone"] == [Failure]  # in the baseline only: a cell of its own
    assert outcome["moved", "gone"] == [Failure]
    tests = {(test.classname, test.name): test for suite in suites for test in suite}
    assert "changed against the baseline: changed (x values changed" in tests["moved", "app"].result[0].text
    assert "values vanished: now skipped" in tests["skips", "app"].result[0].message
    assert "missing" in tests["same", "gone"].result[0].message
    assert (suites.tests, suites.failures, suites.errors, suites.skipped) == (6, 5, 0, 0)


def test_without_the_gate_a_change_is_not_a_junit_failure(tmp_path: Path) -> None:
    before, after = stored(tmp_path, "before", BEFORE), stored(tmp_path, "after", AFTER)
    assert report_job([after.path], Output(env={}), baseline=before.results_file) == 0
    suites, outcome = outcomes(after)
    assert outcome["skips", "app"] == [Skipped]
    assert ("same", "gone") not in outcome
    assert (suites.tests, suites.failures, suites.errors) == (3, 0, 0)


GATE_CASES = {
    "nothing changed": (BEFORE, True),
    "a value moved, gated from the command line": (AFTER, True),
    "a value moved, gated by matrix.yaml": (dataclasses.replace(AFTER, fail_on_change=True), False),
    "a value moved, no gate": (AFTER, False),
    "a SURPRISE": (gate_run(("app", "same", 1.0), claims={"varies": ["x"]}), False),
    "a crash": (
        results(
            [environment("app")],
            [case("same")],
            [record("app", "same", n, [], status=RunStatus.ERROR) for n in (1, 2, 3)],
        ),
        True,
    ),
}


@pytest.mark.parametrize("how", list(GATE_CASES))
def test_junit_fails_whenever_the_exit_status_does(how: str, tmp_path: Path) -> None:
    """A gate never passes what the report fails."""
    current, fail_on_change = GATE_CASES[how]
    before, after = stored(tmp_path, "before", BEFORE), stored(tmp_path, "after", current)
    status = report_job(
        [after.path], Output(env={}), baseline=before.results_file, fail_on_change=fail_on_change
    )
    suites, _ = outcomes(after)
    assert (status != 0) == (suites.failures + suites.errors > 0)


@pytest.mark.parametrize("on_github", [True, False])
def test_on_github_progress_is_lines_even_where_the_runner_gives_a_terminal(
    on_github: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # act's host runner gives steps a terminal: a live display's cursor codes then began the line an
    # annotation was printed on, and act (GitHub too) no longer read it as a workflow command.
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w", encoding="utf-8") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        out = Output(env={"GITHUB_ACTIONS": "true"} if on_github else {})
        with out.progress(("runs", 1)) as (bar,):
            bar.advance("e / c #1: ok")
        terminal.flush()
        shown = os.read(leader, 65536).decode("utf-8", "replace")
    os.close(leader)
    assert ("\x1b[?25" in shown) is not on_github  # cursor hidden and shown: a live display
    assert "runs 1/1: e / c #1: ok" in shown or not on_github
