"""The per-label binary search, driven by a simulated package: each label changes at a given release,
and some releases cannot be tested (no wheel, failing, varying). Hostile cases included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from seedmatrix.bisection import (
    Answer,
    LabelOutcome,
    Outcome,
    Probe,
    next_probe,
    shown_labels,
    verdict,
    verdicts,
)

VERSIONS = tuple(f"2.{minor}.{patch}" for minor in range(5) for patch in range(4))  # 20 releases


def same() -> LabelOutcome:
    return LabelOutcome(outcome=Outcome.SAME)


def changed() -> LabelOutcome:
    return LabelOutcome(outcome=Outcome.CHANGED, detail="1 of 1 element(s), 5 ULP")


def run_bisect(
    changes_at: Mapping[str, str | None],
    *,
    versions: Sequence[str] = VERSIONS,
    untested: Mapping[str, LabelOutcome] | None = None,
    varying: Mapping[str, set[str]] | None = None,
    labels: Sequence[str] | None = None,
) -> tuple[dict[str, Probe], tuple[str, ...]]:
    """Bisect a simulated package to the end: label L is the same as the good end before
    changes_at[L] and changed from it on (None: never changes); `untested` versions cannot be
    probed at all; `varying` names, per version, the labels that vary between its repeats.
    Returns the probes made, and the versions in the order they were probed."""
    untested = untested or {}
    varying = varying or {}

    def probe(version: str) -> Probe:
        if version in untested:
            return Probe(version=version, untested=untested[version])
        outcomes = {}
        for label, first in changes_at.items():
            if label in varying.get(version, set()):
                outcomes[label] = LabelOutcome(outcome=Outcome.VARIES, detail="2 distinct series")
            elif first is not None and versions.index(version) >= versions.index(first):
                outcomes[label] = changed()
            else:
                outcomes[label] = same()
        return Probe(version=version, labels=outcomes)

    probes: dict[str, Probe] = {}
    order: list[str] = []
    for end in (versions[0], versions[-1]):
        probes[end] = probe(end)
        order.append(end)
    names = tuple(labels) if labels is not None else shown_labels(versions, probes)
    while (version := next_probe(names, versions, probes)) is not None:
        assert version not in probes, f"{version} probed twice"
        probes[version] = probe(version)
        order.append(version)
    return probes, tuple(order)


@pytest.mark.parametrize("first", VERSIONS[1:])
def test_finds_the_first_changing_release_wherever_it_is(first: str) -> None:
    probes, order = run_bisect({"sum": first})
    found = verdict("sum", VERSIONS, probes)
    assert found.answer is Answer.FOUND
    assert found.first_changed == first
    assert found.last_same == VERSIONS[VERSIONS.index(first) - 1]
    assert len(order) <= 2 + 5  # the ends and ceil(log2(18 between)) probes


def test_labels_changing_at_different_releases_each_get_their_own_and_share_probes() -> None:
    probes, order = run_bisect({"sum": "2.1.2", "mean": "2.3.0", "dot": "2.1.2"})
    found = {v.label: v for v in verdicts(("sum", "mean", "dot"), VERSIONS, probes)}
    assert (found["sum"].first_changed, found["mean"].first_changed, found["dot"].first_changed) == (
        "2.1.2",
        "2.3.0",
        "2.1.2",
    )
    _, alone = run_bisect({"sum": "2.1.2"})
    _, with_dot = run_bisect({"sum": "2.1.2", "dot": "2.1.2"})
    assert with_dot == alone  # dot, changing with sum, needed no probe of its own
    assert set(alone) <= set(order)
    assert len(order) < 2 * len(alone)  # mean reused the ends and sum's probes


def test_a_label_the_same_at_both_ends_is_unchanged_without_any_probe_between() -> None:
    probes, _ = run_bisect({"float64 sum": None, "sum": "2.1.0"})
    float64, _ = verdicts(("float64 sum", "sum"), VERSIONS, probes)
    assert float64.answer is Answer.UNCHANGED
    _, alone = run_bisect({"float64 sum": None})
    assert alone == (VERSIONS[0], VERSIONS[-1])


def test_a_skipped_release_is_stepped_around_and_the_answer_stays_exact_when_it_can() -> None:
    no_wheel = LabelOutcome(outcome=Outcome.SKIPPED, detail="no wheel for cp311")
    middle = run_bisect({"sum": "2.3.1"})[1][2]  # the first probe between the ends
    probes, order = run_bisect({"sum": "2.3.1"}, untested={middle: no_wheel})
    assert middle in order  # it was tried, found untestable, and the search went on
    found = verdict("sum", VERSIONS, probes)
    assert (found.answer, found.first_changed) == (Answer.FOUND, "2.3.1")


def test_a_skipped_release_next_to_the_change_makes_the_answer_an_honest_range() -> None:
    failing = LabelOutcome(outcome=Outcome.FAILED, detail="exit status 1")
    probes, _ = run_bisect({"sum": "2.2.1"}, untested={"2.2.1": failing})
    found = verdict("sum", VERSIONS, probes)
    assert found.answer is Answer.AMBIGUOUS
    assert found.first_changed is None
    assert found.candidates == ("2.2.1", "2.2.2")
    assert found.last_same == "2.2.0"
    assert "2.2.1 failed (exit status 1)" in found.reason


def test_a_varying_probe_next_to_the_change_is_never_taken_as_same_or_changed() -> None:
    probes, _ = run_bisect({"sum": "2.2.1", "mean": "2.2.1"}, varying={"2.2.0": {"sum"}})
    sum_found, mean_found = verdicts(("sum", "mean"), VERSIONS, probes)
    assert sum_found.answer is Answer.AMBIGUOUS
    assert sum_found.candidates == ("2.2.0", "2.2.1")
    assert "2.2.0 varies" in sum_found.reason
    assert (mean_found.answer, mean_found.first_changed) == (Answer.FOUND, "2.2.1")  # not varying there


def test_every_probe_between_the_ends_skipped_gives_the_whole_range() -> None:
    untested = {v: LabelOutcome(outcome=Outcome.SKIPPED, detail="conflict") for v in VERSIONS[1:-1]}
    probes, order = run_bisect({"sum": "2.2.0"}, untested=untested)
    assert set(order) == set(VERSIONS)  # every one tried before giving up
    found = verdict("sum", VERSIONS, probes)
    assert found.answer is Answer.AMBIGUOUS
    assert found.candidates == VERSIONS[1:]
    assert found.last_same == VERSIONS[0]


@pytest.mark.parametrize("end", [0, -1])
def test_an_end_that_cannot_be_compared_leaves_every_label_not_checked(end: int) -> None:
    failing = LabelOutcome(outcome=Outcome.FAILED, detail="build failed")
    probes, order = run_bisect({"sum": "2.2.0"}, untested={VERSIONS[end]: failing}, labels=("sum",))
    found = verdict("sum", VERSIONS, probes)
    assert found.answer is Answer.NOT_CHECKED
    assert "build failed" in found.reason
    assert set(order) == {VERSIONS[0], VERSIONS[-1]}  # nothing between was probed for nothing


def test_a_label_varying_at_the_good_end_is_not_checked() -> None:
    probes, _ = run_bisect({"sum": "2.2.0", "mean": "2.2.0"}, varying={VERSIONS[0]: {"sum"}})
    sum_found, mean_found = verdicts(("sum", "mean"), VERSIONS, probes)
    assert sum_found.answer is Answer.NOT_CHECKED
    assert "varies" in sum_found.reason
    assert mean_found.first_changed == "2.2.0"


def test_good_equal_to_bad_is_one_probe_and_unchanged() -> None:
    probes, order = run_bisect({"sum": None}, versions=("2.0.0",), labels=("sum",))
    assert set(order) == {"2.0.0"}
    assert verdict("sum", ("2.0.0",), probes).answer is Answer.UNCHANGED


def test_adjacent_ends_need_no_probe_between() -> None:
    probes, order = run_bisect({"sum": "2.0.1"}, versions=("2.0.0", "2.0.1"))
    assert order == ("2.0.0", "2.0.1")
    assert verdict("sum", ("2.0.0", "2.0.1"), probes).first_changed == "2.0.1"


def test_a_label_not_shown_by_a_probe_is_skipped_there_never_same() -> None:
    probe = Probe(version="2.1.0", labels={"mean": same()})
    assert probe.outcome("sum").outcome is Outcome.SKIPPED
    versions = ("2.0.0", "2.1.0", "2.2.0")
    probes = {
        "2.0.0": Probe(version="2.0.0", labels={"sum": same(), "mean": same()}),
        "2.1.0": probe,
        "2.2.0": Probe(version="2.2.0", labels={"sum": changed(), "mean": changed()}),
    }
    found = verdict("sum", versions, probes)
    assert (found.answer, found.candidates) == (Answer.AMBIGUOUS, ("2.1.0", "2.2.0"))
    assert "label not shown" in found.reason


def test_a_change_that_goes_back_is_reported_not_hidden() -> None:
    versions = ("1", "2", "3", "4")
    probes = {
        "1": Probe(version="1", labels={"sum": same()}),
        "2": Probe(version="2", labels={"sum": changed()}),
        "3": Probe(version="3", labels={"sum": same()}),
        "4": Probe(version="4", labels={"sum": changed()}),
    }
    found = verdict("sum", versions, probes)
    assert found.first_changed == "2"
    assert "not monotonic" in found.reason
    assert "3" in found.reason


def test_the_ends_are_probed_first() -> None:
    assert next_probe(("sum",), VERSIONS, {}) == VERSIONS[0]
    good_only = {VERSIONS[0]: Probe(version=VERSIONS[0], labels={"sum": same()})}
    assert next_probe(("sum",), VERSIONS, good_only) == VERSIONS[-1]


def test_default_labels_are_those_either_end_showed() -> None:
    probes = {
        "1": Probe(version="1", labels={"a": same(), "b": same()}),
        "2": Probe(version="2", labels={"b": changed(), "c": changed()}),
    }
    assert shown_labels(("1", "2"), probes) == ("a", "b", "c")
    a, _, c = verdicts(("a", "b", "c"), ("1", "2"), probes)
    assert a.answer is c.answer is Answer.NOT_CHECKED  # shown at one end only: nothing to compare


def test_no_versions_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no versions"):
        verdict("sum", (), {})
