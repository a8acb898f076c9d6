"""Synthetic results of any size, for the scale test and the benchmark (no engine needed)."""

from __future__ import annotations

from seedmatrix.results import (
    Build,
    BuildStatus,
    CaseResult,
    EnvironmentResult,
    Observed,
    Record,
    Results,
    RunState,
    RunStatus,
)
from seedmatrix.values import Value

from builders import float32_value


def synthetic_results(environments: int, cases: int, repeats: int, labels: int = 4) -> Results:
    """Every fifth environment drifts by one ULP, every third case has a varying label."""

    def value(label: str, number: float) -> Value:
        return float32_value(label, number, number, number)

    env_results = tuple(
        EnvironmentResult(
            name=f"env{e:03d}",
            requested={"python": "3.11", "debian": "bookworm", "requirements": ["numpy==2.0.2"]},
            frameworks=("numpy", "tensorflow"),
            build=Build(
                status=BuildStatus.CACHED,
                seconds=0.5,
                tag=f"seedmatrix-env:env{e:03d}-0123456789ab",
                image_id="sha256:" + f"{e:064x}",
                identity="sha256:" + f"{e:064x}",
                size=1_500_000_000,
                observed=Observed(
                    python="3.11.2",
                    frameworks={"numpy": "2.0.2", "tensorflow": "tensorflow-cpu 2.18.1"},
                    pip_freeze=("numpy==2.0.2",) * 40,
                ),
            ),
        )
        for e in range(environments)
    )
    case_results = tuple(
        CaseResult(
            name=f"case{c:02d}",
            script=f"seeds/case{c:02d}.py",
            script_sha256="0" * 64,
            requires=(),
            claim="synthetic",
            claims={"stable": ["stable*"], "varies": ["noisy*"]} if c % 3 == 0 else {"stable": ["*"]},
        )
        for c in range(cases)
    )
    records = []
    for e in range(environments):
        drift = 1e-7 if e % 5 == 4 else 0.0
        for c in range(cases):
            for r in range(1, repeats + 1):
                values = [value(f"stable {n}", 0.5 + n + drift) for n in range(labels)]
                if c % 3 == 0:
                    values.append(value("noisy 0", float(r)))
                records.append(
                    Record(
                        environment=f"env{e:03d}",
                        case=f"case{c:02d}",
                        repeat=r,
                        status=RunStatus.OK,
                        exit_code=0,
                        seconds=1.2,
                        values=tuple(values),
                        device={"kind": "CPU", "detail": "TensorFlow sees no GPU"},
                        output="\n".join(f"{v.label}: {v.values}" for v in values),
                    )
                )
    return Results(
        run_id="20261125T000000Z-scale0",
        started="2026-11-25T00:00:00Z",
        finished="2026-11-25T01:00:00Z",
        state=RunState.FINISHED,
        host={"hostname": "synthetic", "docker": "-"},
        matrix_file="synthetic.yaml",
        matrix_environments=tuple(env.name for env in env_results),
        matrix_cases=tuple(case.name for case in case_results),
        reference="env000",
        repeats=repeats,
        environments=env_results,
        cases=case_results,
        records=tuple(records),
    )
