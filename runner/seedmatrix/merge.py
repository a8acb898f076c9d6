"""One results set from runs on several machines (`report RUN... --into DIR`).

Machines share a matrix by environment (`--shard`, `--device`), so each environment comes from one
run; the runs must come from the same matrix file (same environments, reference, cases, repeats,
gates, and each case's script, claims and published values). Anything else is refused with what
differs: keeping one run's claims would drop the other run's SURPRISES. The merge does not depend on
the order the runs are given in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from .errors import ResultsError
from .results import CaseResult, EnvironmentResult, Record, Results, RunState


def merge(parts: Sequence[Results]) -> Results:
    if not parts:
        raise ResultsError("nothing to merge")
    parts = sorted(parts, key=lambda part: part.run_id)
    first = parts[0]
    for part in parts[1:]:
        for what, mine, theirs in (
            ("repeats", part.repeats, first.repeats),
            ("reference environment", part.reference, first.reference),
            ("fail_on_surprise", part.fail_on_surprise, first.fail_on_surprise),
            ("fail_on_change", part.fail_on_change, first.fail_on_change),
        ):
            if mine != theirs:
                raise ResultsError(
                    f"run {part.run_id} has other {what} than run {first.run_id} ({mine} vs {theirs}); "
                    "merge runs of one matrix file"
                )
        for what, listed, known_listed in (
            ("environments", part.matrix_environments, first.matrix_environments),
            ("cases", part.matrix_cases, first.matrix_cases),
        ):
            if listed != known_listed:
                raise ResultsError(
                    f"run {part.run_id} has other {what} than run {first.run_id} "
                    f"({_names_differ(part.run_id, listed, first.run_id, known_listed)}); "
                    "merge runs of one matrix file"
                )
    environments: dict[str, tuple[EnvironmentResult, str]] = {}
    cases: dict[str, tuple[CaseResult, str]] = {}
    for part in parts:
        _only_its_own_records(part)
        for env in part.environments:
            if env.name in environments:
                raise ResultsError(
                    f"environment {env.name} is in run {environments[env.name][1]} and in run {part.run_id}; "
                    "give each machine its own environments (--shard, --device)"
                )
            host = env.host or str(part.host.get("hostname", ""))
            environments[env.name] = (replace(env, host=host), part.run_id)
        for case in part.cases:
            known = cases.get(case.name)
            if known is not None:
                _same_case(known[0], case, runs=(known[1], part.run_id))
            cases.setdefault(case.name, (case, part.run_id))
    order = {name: index for index, name in enumerate(first.matrix_environments)}
    names = sorted(environments, key=lambda name: (order.get(name, len(order)), name))
    records = tuple(record for part in parts for record in part.records)
    ran = {(record.environment, record.case) for record in records}
    skipped = {(skip.environment, skip.case): skip for part in parts for skip in part.skipped}
    return Results(
        run_id="merged-" + "+".join(part.run_id for part in parts),
        started=min(part.started for part in parts),
        finished=max(part.finished for part in parts),
        state=RunState.FINISHED if all(p.state is RunState.FINISHED for p in parts) else RunState.STOPPED,
        host={"merged_from": [{"run_id": part.run_id, **part.host} for part in parts]},
        matrix_file=first.matrix_file,
        matrix_environments=first.matrix_environments,
        matrix_cases=first.matrix_cases,
        reference=first.reference,
        repeats=first.repeats,
        environments=tuple(environments[name][0] for name in names),
        cases=tuple(case for case, _ in cases.values()),
        records=sorted_records(records),
        skipped=tuple(skip for key, skip in sorted(skipped.items()) if key not in ran),
        fail_on_surprise=first.fail_on_surprise,
        fail_on_change=first.fail_on_change,
        # each part's cells (environments are in one part only), so a merged run can be reused from
        cell_keys=dict(sorted(item for part in parts for item in part.cell_keys.items())),
    )


def _only_its_own_records(part: Results) -> None:
    """A record of an environment another run holds would stand beside that run's own repeats (a
    repeat twice, or one that never ran there)."""
    own = {env.name for env in part.environments}
    for record in part.records:
        if record.environment not in own:
            raise ResultsError(
                f"run {part.run_id} has records of environment {record.environment}, which it did "
                "not run; merge each run's results.json as written"
            )


def sorted_records(records: Sequence[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=lambda record: (record.environment, record.case, record.repeat)))


def _names_differ(run: str, names: Sequence[str], other_run: str, other_names: Sequence[str]) -> str:
    only_here = [name for name in names if name not in other_names]
    only_there = [name for name in other_names if name not in names]
    if not (only_here or only_there):
        return "the same ones in another order"
    return "; ".join(
        f"only in run {which}: {', '.join(found)}"
        for which, found in ((run, only_here), (other_run, only_there))
        if found
    )


#: How much of a differing setting an error shows.
SHOWN_CHARACTERS = 80
_NOT_SET = object()


def _same_case(known: CaseResult, case: CaseResult, *, runs: tuple[str, str]) -> None:
    """A ResultsError naming what differs when two runs ran one case differently."""
    if known.script_sha256 != case.script_sha256:
        raise ResultsError(f"case {case.name} ran different scripts in run {runs[0]} and run {runs[1]}")
    differences = _case_differences(known, case)
    if differences:
        raise ResultsError(
            f"case {case.name} differs between run {runs[0]} and run {runs[1]}: "
            f"{'; '.join(differences)}; merge runs of one matrix file"
        )


def _case_differences(first: CaseResult, other: CaseResult) -> list[str]:
    """Each setting of a case that differs between two runs: a claim, a published value, a field."""
    return [
        found
        for setting in fields(CaseResult)
        for found in _differences(setting.name, getattr(first, setting.name), getattr(other, setting.name))
    ]


def _differences(path: str, mine: Any, theirs: Any) -> list[str]:
    """Where two settings differ, key by key down nested mappings (`claims.close_to_reference.loss`)."""
    if mine == theirs or repr(mine) == repr(theirs):  # repr: a NaN is not equal to itself
        return []
    if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
        return [
            found
            for key in dict.fromkeys([*mine, *theirs])
            for found in _differences(f"{path}.{key}", mine.get(key, _NOT_SET), theirs.get(key, _NOT_SET))
        ]
    return [f"{path} ({_shown(mine)} vs {_shown(theirs)})"]


def _shown(setting: Any) -> str:
    if setting is _NOT_SET:
        return "not set"
    text = repr(setting)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"
