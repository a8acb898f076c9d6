"""One results set from runs on several machines (`report RUN... --into DIR`).

Machines share a matrix by environment (`--shard`, `--device`), so each environment comes from one
run; the runs must come from the same matrix file (same environments, reference, cases, repeats).
The merge does not depend on the order the runs are given in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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
            ("environments", part.matrix_environments, first.matrix_environments),
        ):
            if mine != theirs:
                raise ResultsError(
                    f"run {part.run_id} has other {what} than run {first.run_id} ({mine} vs {theirs}); "
                    "merge runs of one matrix file"
                )
    environments: dict[str, tuple[EnvironmentResult, str]] = {}
    cases: dict[str, tuple[CaseResult, str]] = {}
    for part in parts:
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
            if known is not None and known[0].script_sha256 != case.script_sha256:
                raise ResultsError(
                    f"case {case.name} ran different scripts in run {known[1]} and run {part.run_id}"
                )
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
        fail_on_surprise=all(part.fail_on_surprise for part in parts),
        fail_on_change=any(part.fail_on_change for part in parts),
        # each part's cells (environments are in one part only), so a merged run can be reused from
        cell_keys=dict(sorted(item for part in parts for item in part.cell_keys.items())),
    )


def sorted_records(records: Sequence[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=lambda record: (record.environment, record.case, record.repeat)))
