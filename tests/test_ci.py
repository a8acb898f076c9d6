"""junit.xml, read back with a real JUnit parser, and GitHub annotations at the claims' lines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped

from seedmatrix import yamldoc
from seedmatrix.ci import MOST_ANNOTATIONS, github_annotations, junit_xml
from seedmatrix.claims import ClaimCheck, Verdict
from seedmatrix.config import format_key_path
from seedmatrix.report import derive
from seedmatrix.results import RunStatus, SkippedCell

from builders import case, environment, float64_value, record, repeated, results


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
    path.write_bytes(junit_xml(res, derive(res)))
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
    [suite] = list(JUnitXml.fromstring(junit_xml(res, derive(res)).decode()))
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
    [suite] = list(JUnitXml.fromstring(junit_xml(res, derive(res)).decode()))
    [test] = list(suite)
    assert "red" in test.result[0].message
    assert "end" in test.result[0].message
