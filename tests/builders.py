"""Small constructors of results for the pure-logic tests (no Docker involved)."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from seedmatrix.results import (
    BuildStatus,
    CaseResult,
    EnvironmentResult,
    Observed,
    Record,
    Results,
    RunStatus,
    Value,
)


def float32_value(label: str, *numbers: float) -> Value:
    rounded = [struct.unpack(">f", struct.pack(">f", n))[0] for n in numbers]
    return Value(
        label=label,
        dtype="float32",
        shape=(len(numbers),),
        values=tuple(rounded),
        bits=tuple(struct.pack(">f", n).hex() for n in numbers),
    )


def float64_value(label: str, number: float) -> Value:
    return Value(
        label=label, dtype="float64", shape=(), values=(number,), bits=(struct.pack(">d", number).hex(),)
    )


def record(
    environment: str,
    case: str,
    repeat: int,
    values: Sequence[Value],
    *,
    status: RunStatus = RunStatus.OK,
    stderr_tail: str = "",
) -> Record:
    return Record(
        environment=environment,
        case=case,
        repeat=repeat,
        status=status,
        exit_code=0 if status is RunStatus.OK else (None if status is RunStatus.TIMEOUT else 1),
        seconds=1.5,
        values=tuple(values),
        device={"kind": "CPU", "detail": "TensorFlow sees no GPU"},
        output="\n".join(f"{v.label}: {v.values}" for v in values),
        stderr_tail=stderr_tail,
    )


def environment(
    name: str,
    *,
    frameworks: Sequence[str] = ("numpy", "tensorflow"),
    build: BuildStatus = BuildStatus.CACHED,
    error: str | None = None,
) -> EnvironmentResult:
    failed = build is BuildStatus.FAILED
    return EnvironmentResult(
        name=name,
        requested={"python": "3.11", "debian": "bookworm", "requirements": ["numpy==2.0.2"]},
        frameworks=tuple(frameworks),
        build=build,
        build_seconds=0.5,
        build_log=f"results/build-logs/{name}.log",
        image_tag=None if failed else f"seedmatrix-env:{name}-0123456789ab",
        image_id=None if failed else "sha256:" + "ab" * 32,
        image_size=None if failed else 1_234_000_000,
        error=error,
        observed=None
        if failed
        else Observed(
            python="3.11.2", numpy="2.0.2", tensorflow="tensorflow-cpu 2.18.1", pip_freeze=("numpy==2.0.2",)
        ),
    )


def case(
    name: str, *, requires: Sequence[str] = (), claim: str = "", claims: Mapping[str, Any] | None = None
) -> CaseResult:
    return CaseResult(
        name=name,
        script=f"seeds/{name}.py",
        script_sha256="0" * 64,
        requires=tuple(requires),
        claim=claim,
        claims=dict(claims or {}),
    )


def results(
    environments: Sequence[EnvironmentResult],
    cases: Sequence[CaseResult],
    records: Sequence[Record],
    *,
    repeats: int = 3,
    reference: str | None = None,
) -> Results:
    return Results(
        run_id="20261125T000000Z-abcdef",
        started="2026-11-25T00:00:00Z",
        finished="2026-11-25T00:01:00Z",
        host={"hostname": "test-host", "docker": "20.10"},
        matrix_file="matrix.yaml",
        reference=reference or environments[0].name,
        repeats=repeats,
        environments=tuple(environments),
        cases=tuple(cases),
        records=tuple(records),
    )


def repeated(environment: str, case: str, values: Sequence[Value], repeats: int = 3) -> list[Record]:
    return [record(environment, case, n, values) for n in range(1, repeats + 1)]
