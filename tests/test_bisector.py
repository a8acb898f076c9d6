"""`seedmatrix bisect` without an engine: a probe's records against the good end, build failures as
skips, re-pinning, BISECT.md and bisect.json, and the errors for names the matrix lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedmatrix.__main__ import main
from seedmatrix.bisection import Answer, LabelOutcome, LabelVerdict, Outcome, Probe
from seedmatrix.bisector import (
    Bisect,
    BisectRequest,
    Tried,
    as_json,
    build_outcome,
    label_outcomes,
    pip_refusal,
    render,
    repinned,
    restored,
)
from seedmatrix.compare import label_results
from seedmatrix.config import Environment
from seedmatrix.errors import ConfigError
from seedmatrix.releases import Candidate
from seedmatrix.results import Build, BuildStatus, Observed, Record, RunStatus
from seedmatrix.values import Value

from builders import float32_value, record, unrecordable_value

DATA = Path(__file__).parent / "data"
ENV = "bookworm-np2.0"  # bisect.yaml's environment


def runs(*values_per_repeat: list[Value], status: RunStatus = RunStatus.OK) -> list[Record]:
    return [
        record("e", "c", repeat, values, status=status)
        for repeat, values in enumerate(values_per_repeat, start=1)
    ]


GOOD = runs(
    [float32_value("sum", 1.0), float32_value("mean", 0.5)],
    [float32_value("sum", 1.0), float32_value("mean", 0.5)],
)


def test_the_good_end_against_itself_is_the_same_where_stable() -> None:
    probe = label_outcomes("2.0.2", GOOD, {f.label: f for f in label_results(GOOD)})
    assert {label: found.outcome for label, found in probe.labels.items()} == {
        "sum": Outcome.SAME,
        "mean": Outcome.SAME,
    }


def test_a_changed_value_says_by_how_much_in_ulp() -> None:
    changed = runs(
        [float32_value("sum", 1.0000001), float32_value("mean", 0.5)],
        [float32_value("sum", 1.0000001), float32_value("mean", 0.5)],
    )
    probe = label_outcomes("2.4.6", changed, {f.label: f for f in label_results(GOOD)})
    assert probe.labels["sum"].outcome is Outcome.CHANGED
    assert "1 ULP" in probe.labels["sum"].detail
    assert probe.labels["mean"].outcome is Outcome.SAME


def test_a_label_varying_between_repeats_is_never_same() -> None:
    varying = runs([float32_value("sum", 1.0)], [float32_value("sum", 2.0)])
    probe = label_outcomes("2.1.0", varying, {f.label: f for f in label_results(GOOD)})
    assert probe.labels["sum"].outcome is Outcome.VARIES


def test_a_label_varying_at_the_good_end_leaves_the_probes_unchecked() -> None:
    varying_good = runs([float32_value("sum", 1.0)], [float32_value("sum", 2.0)])
    probe = label_outcomes("2.1.0", GOOD, {f.label: f for f in label_results(varying_good)})
    assert probe.labels["sum"].outcome is Outcome.SKIPPED
    assert "varies at the good end" in probe.labels["sum"].detail
    assert probe.labels["mean"].outcome is Outcome.SKIPPED  # not shown at the good end


def test_a_value_that_could_not_be_recorded_is_skipped_not_same() -> None:
    unrecorded = runs([unrecordable_value("sum")], [unrecordable_value("sum")])
    both = {f.label: f for f in label_results(unrecorded)}
    probe = label_outcomes("2.1.0", unrecorded, both)
    assert probe.labels["sum"].outcome is Outcome.SKIPPED


@pytest.mark.parametrize(
    ("status", "outcome", "said"),
    [(RunStatus.ERROR, Outcome.FAILED, "exited 1"), (RunStatus.TIMEOUT, Outcome.FAILED, "time limit")],
)
def test_a_failed_repeat_makes_the_whole_probe_untested(
    status: RunStatus, outcome: Outcome, said: str
) -> None:
    failed = [GOOD[0], *runs([float32_value("sum", 1.0)], status=status)]
    probe = label_outcomes("2.1.0", failed, {f.label: f for f in label_results(GOOD)})
    assert probe.untested is not None
    assert probe.untested.outcome is outcome
    assert said in probe.untested.detail
    assert probe.outcome("mean").outcome is outcome  # no label of it counts as the same


def test_no_records_is_a_failure() -> None:
    probe = label_outcomes("2.1.0", [], {})
    assert probe.untested == LabelOutcome(outcome=Outcome.FAILED, detail="no repeat ran")


def test_pip_refusing_the_pins_is_a_skip_in_pips_words(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text(
        "Collecting numpy==2.2.0\n"
        "ERROR: Cannot install numpy==2.2.0 and tensorflow-cpu==2.18.1 because these package versions "
        "have conflicting dependencies.\n\nThe conflict is caused by:\n    The user requested numpy==2.2.0\n"
        "    tensorflow-cpu 2.18.1 depends on numpy<2.1.0 and >=1.26.0\n\nTo fix this you could try to:\n"
        "1. loosen the range\n"
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io\n",
        encoding="utf-8",
    )
    build = Build(
        status=BuildStatus.FAILED, seconds=3.0, log=str(log), error="fetching wheels failed: pip exited 1"
    )
    found = build_outcome(build, "numpy", "2.2.0")
    assert found is not None
    assert found.outcome is Outcome.SKIPPED
    assert found.detail == (
        "pip: Cannot install numpy==2.2.0 and tensorflow-cpu==2.18.1 because these package versions have "
        "conflicting dependencies. the conflict is caused by: The user requested numpy==2.2.0; "
        "tensorflow-cpu 2.18.1 depends on numpy<2.1.0 and >=1.26.0"
    )


def test_pip_saying_only_resolution_impossible_is_kept() -> None:
    assert pip_refusal("ERROR: ResolutionImpossible: see the docs\n") == "ResolutionImpossible: see the docs"
    assert pip_refusal("Collecting numpy\nSuccessfully built\n") == ""


def test_another_build_failure_is_a_failure_with_its_error() -> None:
    build = Build(status=BuildStatus.FAILED, seconds=3.0, error="building x failed: the engine went away")
    assert build_outcome(build, "numpy", "2.2.0") == LabelOutcome(
        outcome=Outcome.FAILED, detail="building x failed: the engine went away"
    )


def test_an_image_that_does_not_hold_the_release_is_never_compared() -> None:
    observed = Observed(python="3.11.2", frameworks={"numpy": "2.1.0"}, pip_freeze=())
    build = Build(status=BuildStatus.CACHED, seconds=1.0, identity="sha256:1", observed=observed)
    found = build_outcome(build, "numpy", "2.2.0")
    assert found == LabelOutcome(outcome=Outcome.FAILED, detail="the image holds numpy 2.1.0")
    assert build_outcome(build, "numpy", "2.1.0") is None
    tensorflow = Observed(python="3.11.2", frameworks={"tensorflow": "tensorflow-cpu 2.18.1"}, pip_freeze=())
    built = Build(status=BuildStatus.BUILT, seconds=1.0, identity="sha256:2", observed=tensorflow)
    assert build_outcome(built, "tensorflow-cpu", "2.18.1") is None
    assert build_outcome(built, "tensorflow-cpu", "2.19.0") == LabelOutcome(
        outcome=Outcome.FAILED, detail="the image holds tensorflow-cpu 2.18.1"
    )


def environment(**pins: object) -> Environment:
    return Environment.model_validate({"name": "app", "debian": "bookworm", "python": "3.11", **pins})


def test_repinning_changes_that_package_alone() -> None:
    env = environment(numpy="2.0.2", tensorflow="2.18.1", packages=["scikit-learn==1.6.1", "scipy==1.14.0"])
    probe = repinned(env, "numpy", "2.1.3")
    assert (probe.name, probe.numpy, probe.tensorflow, probe.packages) == (
        "app-numpy-2.1.3",
        "2.1.3",
        "2.18.1",
        env.packages,
    )
    assert repinned(env, "tensorflow-cpu", "2.19.0").tensorflow == "2.19.0"
    assert repinned(env, "Scikit_Learn", "1.7.0").packages == ("scikit-learn==1.7.0", "scipy==1.14.0")


def test_a_package_the_environment_does_not_pin_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"environment app does not pin torch"):
        repinned(environment(numpy="2.0.2"), "torch", "2.5.0")


def a_bisect(*, finished: bool = True) -> Bisect:
    request = BisectRequest(
        config=Path("m.yaml"), results=Path("r"), environment="app", case="sums", package="numpy",
        good="2.0.2", bad="2.4.6",
    )  # fmt: skip
    same = LabelOutcome(outcome=Outcome.SAME)
    changed = LabelOutcome(outcome=Outcome.CHANGED, detail="1 of 1 element(s), max |Δ| 0.00061, 5 ULP")
    tried = (
        Tried(
            probe=Probe(version="2.0.2", labels={"sum|x": same}),
            environment="app-numpy-2.0.2",
            build="cached",
            runs=2,
        ),
        Tried(
            probe=Probe(version="2.2.0", untested=LabelOutcome(outcome=Outcome.SKIPPED, detail="yanked")),
            environment="app-numpy-2.2.0",
            build="not built",
        ),
        Tried(
            probe=Probe(version="2.4.6", labels={"sum|x": changed}),
            environment="app-numpy-2.4.6",
            build="built",
            runs=2,
        ),
    )
    return Bisect(
        request=request,
        run_id="run-1",
        candidates=(
            Candidate(version="2.0.2"),
            Candidate(version="2.2.0", skipped="yanked"),
            Candidate(version="2.4.6"),
            Candidate(version="2.5.0"),
        ),
        labels=("sum|x",),
        tried=tried,
        verdicts=(
            LabelVerdict(
                label="sum|x",
                answer=Answer.AMBIGUOUS,
                last_same="2.0.2",
                candidates=("2.2.0", "2.4.6"),
                reason="2.2.0 skipped",
            ),
        ),
        wall_seconds=12.5,
        finished=finished,
    )  # fmt: skip


def test_bisect_md_shows_every_version_tried_and_the_answer_without_breaking_its_tables() -> None:
    text = render(a_bisect())
    assert "| `sum\\|x` | one of 2.2.0, 2.4.6 | 2.0.2 | 2.2.0 skipped |" in text
    assert "| 2.2.0 | not built | 0 | 0 | skipped: yanked | — |" in text
    assert "5 ULP" in text
    assert "`records/app-numpy-2.4.6@*.json`" in text
    assert "Not probed (1): 2.5.0." in text
    assert "3 probes (1 images built), 4 runs, 12 s" in text
    assert "not finished" not in text
    assert "**not finished**" in render(a_bisect(finished=False))


def test_bisect_json_holds_the_same_as_bisect_md() -> None:
    document = json.loads(json.dumps(as_json(a_bisect())))
    assert document["request"]["config"] == "m.yaml"
    assert [t["version"] for t in document["tried"]] == ["2.0.2", "2.2.0", "2.4.6"]
    assert document["tried"][1]["untested"] == {"outcome": "skipped", "detail": "yanked"}
    assert document["tried"][2]["labels"]["sum|x"]["outcome"] == "changed"
    assert document["verdicts"][0]["answer"] == "ambiguous"
    assert document["verdicts"][0]["candidates"] == ["2.2.0", "2.4.6"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["-e", "nope", "--case", "numpy_sums", "--package", "numpy"],
            "no environment 'nope'; it has bookworm-np2.0",
        ),
        (
            ["-e", ENV, "--case", "nope", "--package", "numpy"],
            "no case 'nope'; it has seed_numpy, numpy_sums",
        ),
        (["-e", ENV, "--case", "numpy_sums", "--package", "torch"], f"environment {ENV} does not pin torch"),
    ],
)
def test_names_the_matrix_lacks_are_clear_errors_before_anything_runs(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["bisect", "--matrix", str(DATA / "bisect.yaml"), "--results", str(tmp_path), "--good", "2.0.2",
         "--bad", "2.4.6", *arguments]
    )  # fmt: skip
    assert status == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_a_stopped_bisect_is_restored_from_its_bisect_json_as_it_was() -> None:
    stopped = a_bisect(finished=False)
    found, tried, seconds = restored(json.loads(json.dumps(as_json(stopped))))
    assert found == stopped.candidates
    assert tuple(tried.values()) == stopped.tried
    assert tuple(tried) == ("2.0.2", "2.2.0", "2.4.6")
    assert seconds == stopped.wall_seconds


def test_resuming_with_nothing_to_resume_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["bisect", "--matrix", str(DATA / "bisect.yaml"), "--results", str(tmp_path), "-e", ENV,
         "--case", "numpy_sums", "--package", "numpy", "--good", "2.0.2", "--bad", "2.4.6", "--resume"]
    )  # fmt: skip
    assert status == 5
    assert "no stopped bisect of numpy 2.0.2 → 2.4.6 on bookworm-np2.0 / numpy_sums" in " ".join(
        capsys.readouterr().err.split()
    )
