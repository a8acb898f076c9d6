"""Which release changed a label: a binary search per label over ordered candidate versions.

Pure logic, no engine: the caller probes the version `next_probe` names (the environment with only
that package re-pinned, its case run with its repeats, compared with the good end) and hands the
outcome back as a `Probe`. Probes are shared by every label, so a probe made for one label answers
another where it falls in that label's range.

A probe that could not be compared for a label (skipped: no wheel, a conflict; failed; varying
between repeats; the label not shown) is stepped around, as `git bisect skip` does: the search
probes another version in the range, and when only such probes are left between the last "same"
and the first "changed" the answer is the range, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """A label in one probe, against the good end's values."""

    SAME = "same"  # bitwise equal to the good end, every repeat
    CHANGED = "changed"  # stable, and not bitwise equal to the good end
    VARIES = "varies"  # differs between the probe's own repeats: nothing to compare
    SKIPPED = "skipped"  # not tested: no wheel, a conflict, the label not shown, the good end not stable
    FAILED = "failed"  # the probe's runs failed (an error, a timeout)


#: Outcomes that say nothing about where the change is: the search steps around them.
UNTESTABLE = frozenset({Outcome.VARIES, Outcome.SKIPPED, Outcome.FAILED})


@dataclass(frozen=True, kw_only=True)
class LabelOutcome:
    outcome: Outcome
    detail: str = ""  # Δ and ULP where changed; why where not compared


@dataclass(frozen=True, kw_only=True)
class Probe:
    """One version tried: each label's outcome, or why the whole probe could not be tested."""

    version: str
    labels: Mapping[str, LabelOutcome] = field(default_factory=dict)
    # Set when nothing of the probe could be compared (outcome SKIPPED or FAILED, with the reason).
    untested: LabelOutcome | None = None

    def outcome(self, label: str) -> LabelOutcome:
        if self.untested is not None:
            return self.untested
        # A label the probe did not show is not checked there, never "same".
        return self.labels.get(label, LabelOutcome(outcome=Outcome.SKIPPED, detail="label not shown"))


class Answer(StrEnum):
    FOUND = "found"  # the first changing release is known
    AMBIGUOUS = "ambiguous"  # untestable probes hide it: one of `candidates`
    UNCHANGED = "unchanged"  # the bad end is the same as the good end for this label
    NOT_CHECKED = "not checked"  # an end could not be compared: nothing can be said
    SEARCHING = "searching"  # more probes are needed


@dataclass(frozen=True, kw_only=True)
class LabelVerdict:
    label: str
    answer: Answer
    first_changed: str | None = None  # the first release that changed it (FOUND)
    last_same: str | None = None  # the last release known to be the same as the good end
    candidates: tuple[str, ...] = ()  # the releases that may have changed it first (AMBIGUOUS, FOUND)
    reason: str = ""  # why ambiguous or not checked; what is odd (a change that went back)
    next_version: str | None = None  # SEARCHING: the version to probe next


def verdict(label: str, versions: Sequence[str], probes: Mapping[str, Probe]) -> LabelVerdict:
    """Where `label` changed between versions[0] (good) and versions[-1] (bad), from the probes so far.

    The good end is the reference every probe was compared with: its own outcome must be SAME (a
    label that varies there, or a good end that failed, leaves nothing to compare with)."""
    if not versions:
        raise ValueError("no versions to bisect")
    good, bad = versions[0], versions[-1]
    if good not in probes:
        return LabelVerdict(label=label, answer=Answer.SEARCHING, next_version=good)
    at_good = probes[good].outcome(label)
    if at_good.outcome is not Outcome.SAME:
        return LabelVerdict(
            label=label,
            answer=Answer.NOT_CHECKED,
            reason=f"the good end {good} is {at_good.outcome.value}: {at_good.detail}".rstrip(": "),
        )
    if len(versions) == 1:
        return LabelVerdict(
            label=label, answer=Answer.UNCHANGED, last_same=good, reason="good and bad are one release"
        )
    if bad not in probes:
        return LabelVerdict(label=label, answer=Answer.SEARCHING, next_version=bad)
    at_bad = probes[bad].outcome(label)
    if at_bad.outcome is Outcome.SAME:
        return LabelVerdict(label=label, answer=Answer.UNCHANGED, last_same=bad)
    if at_bad.outcome is not Outcome.CHANGED:
        return LabelVerdict(
            label=label,
            answer=Answer.NOT_CHECKED,
            reason=f"the bad end {bad} is {at_bad.outcome.value}: {at_bad.detail}".rstrip(": "),
        )
    return _search(label, versions, probes)


def _search(label: str, versions: Sequence[str], probes: Mapping[str, Probe]) -> LabelVerdict:
    outcomes = [probes[v].outcome(label).outcome if v in probes else None for v in versions]
    first_changed = outcomes.index(Outcome.CHANGED)
    last_same = max(i for i in range(first_changed) if outcomes[i] is Outcome.SAME)
    between = range(last_same + 1, first_changed)
    untried = [i for i in between if outcomes[i] is None]
    if untried:
        # Nearest the middle of the range; an untestable probe there moves it to its neighbours.
        middle = (last_same + first_changed) / 2
        chosen = min(untried, key=lambda i: (abs(i - middle), i))
        return LabelVerdict(label=label, answer=Answer.SEARCHING, next_version=versions[chosen])
    same_again = [versions[i] for i in range(first_changed + 1, len(versions)) if outcomes[i] is Outcome.SAME]
    went_back = (
        f"the same as the good end again at {', '.join(same_again)}: the change is not monotonic, "
        "this is the first change between the probes"
        if same_again
        else ""
    )
    candidates = tuple(versions[last_same + 1 : first_changed + 1])
    if len(candidates) == 1:
        return LabelVerdict(
            label=label,
            answer=Answer.FOUND,
            first_changed=versions[first_changed],
            last_same=versions[last_same],
            candidates=candidates,
            reason=went_back,
        )
    hidden = "; ".join(
        f"{versions[i]} {probes[versions[i]].outcome(label).outcome.value}"
        + (f" ({detail})" if (detail := probes[versions[i]].outcome(label).detail) else "")
        for i in between
    )
    return LabelVerdict(
        label=label,
        answer=Answer.AMBIGUOUS,
        last_same=versions[last_same],
        candidates=candidates,
        reason="; ".join(filter(None, [f"not testable between them: {hidden}", went_back])),
    )


def verdicts(
    labels: Sequence[str], versions: Sequence[str], probes: Mapping[str, Probe]
) -> tuple[LabelVerdict, ...]:
    return tuple(verdict(label, versions, probes) for label in labels)


def next_probe(labels: Sequence[str], versions: Sequence[str], probes: Mapping[str, Probe]) -> str | None:
    """The version to probe next: the first label still searching asks for it; None when every
    label is answered (found, ambiguous, unchanged or not checked)."""
    for found in verdicts(labels, versions, probes):
        if found.answer is Answer.SEARCHING:
            return found.next_version
    return None


def shown_labels(versions: Sequence[str], probes: Mapping[str, Probe]) -> tuple[str, ...]:
    """Every label either end showed, the good end's first: what is bisected by default (a label
    only one end shows is reported as not checked, not dropped)."""
    ends = (probes[versions[0]], probes[versions[-1]])
    return tuple(dict.fromkeys(name for end in ends for name in end.labels))
