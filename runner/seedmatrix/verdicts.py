"""Everything derived from a run that its report shows, apart from how it is shown.

Pure: `derive` reads `Results` and returns `Verdicts` (the comparison, claims, published values,
baseline, divergences); the report, junit.xml and the exit status read them, never the other way.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .baseline import BaselineComparison, against_baseline
from .claims import KIND, ClaimCheck, Verdict, check_claims, written_claims
from .compare import Comparison, compare
from .cpu import Applied, Request, environment_requests
from .divergence import divergences
from .limits import CPUS, NOT_READ_BACK, not_enforced
from .published import PublishedCheck, check_published
from .results import Divergence, EnvironmentResult, Record, Results, RunStatus


@dataclass(frozen=True, kw_only=True)
class LimitCheck:
    """A limit the cell's repeats asked for and did not get (`limits.not_enforced`), and in how many."""

    environment: str
    case: str
    limit: str  # "CPUs", "memory" or "processes"
    text: str
    repeats: int


@dataclass(frozen=True, kw_only=True)
class Verdicts:
    """Everything derived from a run that the report shows."""

    comparison: Comparison
    claims: tuple[ClaimCheck, ...] = ()
    published: tuple[PublishedCheck, ...] = ()
    baseline: BaselineComparison | None = None
    divergences: tuple[Divergence, ...] = ()
    limits: tuple[LimitCheck, ...] = ()

    def cpus_not_as_asked(self, environment: str, case: str) -> bool:
        """Whether a repeat of the cell had other CPUs than it asked for (or they were not read)."""
        return (environment, case) in self._cells_without_their_cpus

    @cached_property
    def _cells_without_their_cpus(self) -> frozenset[tuple[str, str]]:
        return frozenset((check.environment, check.case) for check in self.limits if check.limit == CPUS)

    def divergences_of(self, case: str) -> tuple[Divergence, ...]:
        return tuple(divergence for divergence in self.divergences if divergence.case == case)

    def claims_of(self, environment: str, case: str) -> tuple[ClaimCheck, ...]:
        return self._claims_by_cell.get((environment, case), ())

    @cached_property
    def _claims_by_cell(self) -> dict[tuple[str, str], tuple[ClaimCheck, ...]]:
        cells: dict[tuple[str, str], list[ClaimCheck]] = {}
        for check in self.claims:
            cells.setdefault((check.environment, check.case), []).append(check)
        return {key: tuple(found) for key, found in cells.items()}

    @property
    def surprises(self) -> list[ClaimCheck]:
        return [check for check in self.claims if check.verdict is Verdict.SURPRISE]


def derive(results: Results, baseline: tuple[Results, str] | None = None) -> Verdicts:
    """Every verdict the report shows, from `results` (and a baseline run with its source)."""
    comparison = compare(results)
    return Verdicts(
        comparison=comparison,
        claims=check_claims(results, comparison),
        published=check_published(results, comparison),
        baseline=against_baseline(results, baseline[0], source=baseline[1], current_comparison=comparison)
        if baseline
        else None,
        divergences=divergences(comparison),
        limits=limit_checks(results),
    )


def limit_checks(results: Results) -> tuple[LimitCheck, ...]:
    """A repeat that ran and has no read-back (results from before it existed, a launcher that sent
    none) had its limits not checked, never taken as enforced; a failed repeat's values are not
    compared, so its missing read-back says nothing more."""
    counted: dict[tuple[str, str, str, str], int] = {}
    for record in results.records:
        if record.confinement is not None:
            unenforced = not_enforced(record.confinement)
        elif record.status is RunStatus.OK:
            unenforced = NOT_READ_BACK
        else:
            continue
        for found in unenforced:
            key = (record.environment, record.case, found.limit, found.text)
            counted[key] = counted.get(key, 0) + 1
    return tuple(
        LimitCheck(environment=env, case=case, limit=limit, text=text, repeats=repeats)
        for (env, case, limit, text), repeats in counted.items()
    )


def paired_cases(results: Results) -> list[tuple[str, str]]:
    """(case, the case it is timed against): `timed_against`, or a `same_as_case` claim."""
    names = {case.name for case in results.cases}
    pairs: dict[tuple[str, str], None] = {}
    for case in results.cases:
        claimed = [
            claim.other
            for block in (case.claims, case.claims_on_cpu, case.claims_on_gpu)
            for claim in written_claims(block)
            if claim.kind is KIND["same_as_case"]
        ]
        for other in (case.timed_against, *claimed):
            if isinstance(other, str) and other in names and other != case.name:
                pairs.setdefault((case.name, other))
    return list(pairs)


def median_seconds(records: Sequence[Record], *, work: bool) -> float | None:
    """The median time per successful repeat: of the work the script timed itself (`timed()`), or of
    the whole script (the launcher's measure, no container start-up). None unless every successful
    repeat has that time: a median over some repeats would compare unlike with unlike."""
    done = [record for record in records if record.status is RunStatus.OK]
    times = [record.work_seconds if work else record.script_seconds for record in done]
    if not done or any(time is None for time in times):
        return None
    return statistics.median(time for time in times if time is not None)


def cpu_readbacks(results: Results, environment: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(case, device["cpu"]) of every record of an environment that read its CPU back."""
    return [
        (case.name, record.device["cpu"])
        for case in results.cases
        for record in results.records_of(environment, case.name)
        if isinstance(record.device.get("cpu"), Mapping)
    ]


@dataclass(frozen=True, kw_only=True)
class CpuRequests:
    """What an environment asked of its CPU kernels (`cpu_isa:`, `onednn:`), and each framework's
    verdict on it from what its runs read back."""

    environment: EnvironmentResult
    cpu_isa: str | None
    onednn: bool | None
    found: tuple[Request, ...]


def cpu_requests(results: Results) -> list[CpuRequests]:
    """The CPU requests of every environment that made some."""
    found = []
    for env in results.environments:
        cpu_isa, onednn = env.requested.get("cpu_isa"), env.requested.get("onednn")
        if cpu_isa is None and onednn is None:
            continue
        verdicts = environment_requests(cpu_isa, onednn, cpu_readbacks(results, env.name), env.dispatch)
        found.append(CpuRequests(environment=env, cpu_isa=cpu_isa, onednn=onednn, found=tuple(verdicts)))
    return found


def ignored_requests(results: Results) -> list[str]:
    """'env: framework (seen)' for every CPU request some run shows ignored."""
    return [
        f"{requests.environment.name}: {request.framework} ran {request.seen}"
        for requests in cpu_requests(results)
        for request in requests.found
        if request.applied is Applied.IGNORED
    ]


def cpu_models(results: Results) -> dict[str, list[str]]:
    """CPU model → the environments whose runs read it back (more than one: compare with care)."""
    models: dict[str, list[str]] = {}
    for env in results.environments:
        for _, readback in cpu_readbacks(results, env.name):
            model = readback.get("model")
            if isinstance(model, str) and model and env.name not in models.get(model, []):
                models.setdefault(model, []).append(env.name)
    return models
