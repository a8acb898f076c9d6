"""`seedmatrix bisect probe` without an engine: git's exit statuses from a probe's outcomes, the
reference's labels, and every error stopping the bisect (128) instead of marking the commit bad."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import seedmatrix.__main__
import seedmatrix.gitprobe
from seedmatrix.__main__ import main
from seedmatrix.bisection import LabelOutcome, Outcome, Probe
from seedmatrix.bisector import label_outcomes, unbuilt
from seedmatrix.compare import label_results
from seedmatrix.errors import EngineError, ResultsError
from seedmatrix.gitprobe import (
    EXIT_ABORT,
    EXIT_CHANGED,
    EXIT_SAME,
    EXIT_UNTESTABLE,
    compared,
    exit_status,
    reference_labels,
    summary_lines,
)
from seedmatrix.results import Build, BuildStatus, Record, RunStatus, encode

from builders import case, environment, float32_value, record, results

DATA = Path(__file__).parent / "data"
ENV = "bookworm-np2.0"  # bisect.yaml's environment
CASE = "seed_numpy"

SAME = LabelOutcome(outcome=Outcome.SAME)
CHANGED = LabelOutcome(outcome=Outcome.CHANGED, detail="Δ 1.2e-07, 1 ULP")


def runs(*sums: float, status: RunStatus = RunStatus.OK) -> list[Record]:
    return [
        record(ENV, CASE, repeat, [float32_value("sum", value), float32_value("mean", 0.5)], status=status)
        for repeat, value in enumerate(sums, start=1)
    ]


REFERENCE = {found.label: found for found in label_results(runs(1.0, 1.0))}


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ({"sum": SAME, "mean": SAME}, EXIT_SAME),
        ({"sum": CHANGED, "mean": SAME}, EXIT_CHANGED),
        # A change seen is a change, whatever another label could not say.
        ({"sum": CHANGED, "mean": LabelOutcome(outcome=Outcome.VARIES)}, EXIT_CHANGED),
        ({"sum": SAME, "mean": LabelOutcome(outcome=Outcome.VARIES)}, EXIT_UNTESTABLE),
        ({"sum": SAME, "mean": LabelOutcome(outcome=Outcome.SKIPPED)}, EXIT_UNTESTABLE),
        ({"sum": LabelOutcome(outcome=Outcome.FAILED)}, EXIT_UNTESTABLE),
        ({}, EXIT_UNTESTABLE),  # nothing compared is never "same"
    ],
)
def test_git_gets_good_only_when_every_label_is_the_same(
    outcomes: dict[str, LabelOutcome], status: int
) -> None:
    assert exit_status(outcomes) == status


def test_the_statuses_are_gits_contract() -> None:
    assert (EXIT_SAME, EXIT_CHANGED, EXIT_UNTESTABLE) == (0, 1, 125)
    assert EXIT_ABORT >= 128  # git bisect run stops on 128 to 255, and marks 1..127 (but 125) bad


def test_a_probe_compared_with_the_reference_bit_for_bit() -> None:
    probe = label_outcomes("HEAD", runs(2.0, 2.0), REFERENCE)
    found = compared(probe, ("sum", "mean"), REFERENCE)
    assert found["mean"] == SAME
    assert found["sum"].outcome is Outcome.CHANGED
    assert "ULP" in found["sum"].detail
    assert exit_status(found) == EXIT_CHANGED
    lines = summary_lines(found, exit_status(found))
    assert lines[0] == "sum: changed (" + found["sum"].detail + ")"
    assert lines[1] == "mean: same"
    assert lines[-1] == "exit 1: git bisect marks this commit bad"


def test_a_label_the_probe_no_longer_shows_has_changed() -> None:
    only_mean = [record(ENV, CASE, repeat, [float32_value("mean", 0.5)]) for repeat in (1, 2)]
    found = compared(label_outcomes("HEAD", only_mean, REFERENCE), ("sum", "mean"), REFERENCE)
    assert found["sum"] == LabelOutcome(
        outcome=Outcome.CHANGED, detail="no longer shown: the reference shows it"
    )
    assert exit_status(found) == EXIT_CHANGED


def test_a_label_varying_in_the_reference_or_in_the_probe_cannot_be_tested() -> None:
    varying = {found.label: found for found in label_results(runs(1.0, 3.0))}
    found = compared(label_outcomes("HEAD", runs(1.0, 1.0), varying), ("sum", "mean"), varying)
    assert found["sum"].outcome is Outcome.SKIPPED  # not stable at the reference
    assert found["mean"] == SAME
    assert exit_status(found) == EXIT_UNTESTABLE
    gone = [record(ENV, CASE, repeat, [float32_value("mean", 0.5)]) for repeat in (1, 2)]
    missing = compared(label_outcomes("HEAD", gone, varying), ("sum",), varying)
    assert missing["sum"].outcome is Outcome.SKIPPED  # gone, but there was nothing stable to lose
    probe_varies = compared(label_outcomes("HEAD", runs(1.0, 2.0), REFERENCE), ("sum",), REFERENCE)
    assert probe_varies["sum"].outcome is Outcome.VARIES
    assert exit_status(probe_varies) == EXIT_UNTESTABLE


@pytest.mark.parametrize("status", [RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.SKIPPED])
def test_a_repeat_that_did_not_run_through_leaves_the_commit_untested(status: RunStatus) -> None:
    probe = label_outcomes("HEAD", [*runs(1.0), *runs(1.0, status=status)[:1]], REFERENCE)
    found = compared(probe, ("sum", "mean"), REFERENCE)
    assert {outcome.outcome for outcome in found.values()} <= {Outcome.FAILED, Outcome.SKIPPED}
    assert exit_status(found) == EXIT_UNTESTABLE


def test_a_build_that_failed_leaves_the_commit_untested() -> None:
    failed = Probe(version="HEAD", untested=LabelOutcome(outcome=Outcome.FAILED, detail="no wheel was built"))
    found = compared(failed, ("sum",), REFERENCE)
    assert exit_status(found) == EXIT_UNTESTABLE
    assert summary_lines(found, EXIT_UNTESTABLE) == [
        "sum: cannot test: failed (no wheel was built)",
        "exit 125: git bisect marks this commit skip",
    ]


def test_a_working_tree_that_gives_no_image_is_a_failed_probe() -> None:
    failed = Build(status=BuildStatus.FAILED, seconds=1.0, error="fetching wheels failed (log: x.log)")
    assert unbuilt(failed) == LabelOutcome(
        outcome=Outcome.FAILED, detail="fetching wheels failed (log: x.log)"
    )
    made = Build(status=BuildStatus.BUILT, seconds=1.0, tag="t", image_id="sha256:a", identity="sha256:a")
    assert unbuilt(made) is None


def test_the_reference_must_hold_the_cells_records_and_have_run_through() -> None:
    assert set(reference_labels(runs(1.0, 1.0), environment=ENV, case=CASE, source="r")) == {"sum", "mean"}
    with pytest.raises(ResultsError, match=rf"r holds no records of {ENV} / other: record the reference"):
        reference_labels(runs(1.0, 1.0), environment=ENV, case="other", source="r")
    with pytest.raises(ResultsError, match="did not all run: failed"):
        reference_labels(runs(1.0, status=RunStatus.ERROR), environment=ENV, case=CASE, source="r")


def said_on(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())  # the console wraps long lines


def reference_file(tmp_path: Path, records: Sequence[Record]) -> Path:
    path = tmp_path / "reference" / "results.json"
    path.parent.mkdir()
    path.write_bytes(encode(results([environment(ENV)], [case(CASE)], records)))
    return path


def probe(tmp_path: Path, *arguments: str, reference: Path | None = None) -> int:
    given = reference or reference_file(tmp_path, runs(1.0, 1.0))
    return main(
        ["bisect", "probe", "--matrix", str(DATA / "bisect.yaml"), "--results", str(tmp_path / "results"),
         "--reference", str(given), *arguments]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["-e", ENV], "--case must be given"),
        (["-e", "nowhere", "--case", CASE], "no environment 'nowhere'"),
        (["-e", ENV, "--case", "nothing"], "no case 'nothing'"),
        (["-e", ENV, "--case", "numpy_sums"], f"holds no records of {ENV} / numpy_sums"),
        (["-e", ENV, "--case", CASE, "--label", "median"], "show no label 'median'; they show 'sum', 'mean'"),
        (["-e", ENV, "--case", CASE, "--matrix", "/nowhere/matrix.yaml"], "cannot read"),
    ],
)
def test_every_error_stops_the_bisect_instead_of_marking_the_commit_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], said: str
) -> None:
    assert probe(tmp_path, *arguments) == EXIT_ABORT
    assert said in said_on(capsys)
    assert not (tmp_path / "results").exists()  # nothing ran


def test_an_unreadable_reference_stops_the_bisect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "results.json"
    broken.write_text("{not json", encoding="utf-8")
    assert probe(tmp_path, "-e", ENV, "--case", CASE, reference=broken) == EXIT_ABORT
    assert probe(tmp_path, "-e", ENV, "--case", CASE, reference=tmp_path / "absent") == EXIT_ABORT
    assert "no such results file or directory" in said_on(capsys)


def test_a_command_line_argparse_refuses_stops_the_bisect(tmp_path: Path) -> None:
    assert probe(tmp_path, "-e", ENV, "--case", CASE, "--unknown-option") == EXIT_ABORT
    assert main(["bisect", "probe", "-e", ENV, "--case", CASE]) == EXIT_ABORT  # no --reference
    with pytest.raises(SystemExit) as helped:
        main(["bisect", "probe", "--help"])
    assert helped.value.code == 0


def test_no_engine_stops_the_bisect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_engine(*_: object) -> None:
        raise EngineError("cannot reach the Docker engine")

    monkeypatch.setattr(seedmatrix.gitprobe, "engine_for", no_engine)
    assert probe(tmp_path, "-e", ENV, "--case", CASE) == EXIT_ABORT
    assert EngineError.exit_code < 128  # what `bisect probe` must not return
    assert "cannot reach the Docker engine" in said_on(capsys)


def test_an_unforeseen_exception_stops_the_bisect_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(seedmatrix.__main__, "probe_job", broken)
    assert probe(tmp_path, "-e", ENV, "--case", CASE) == EXIT_ABORT
    assert "RuntimeError: a bug" in said_on(capsys)


def test_the_release_bisect_keeps_its_own_statuses(tmp_path: Path) -> None:
    arguments = ["bisect", "--matrix", str(DATA / "bisect.yaml"), "--results", str(tmp_path)]
    assert main([*arguments, "-e", ENV, "--case", CASE]) == 2  # --package, --good, --bad missing
    assert (
        main([*arguments, "-e", "nowhere", "--case", CASE, "--package", "numpy", "--good", "1", "--bad", "2"])
        == 2
    )
