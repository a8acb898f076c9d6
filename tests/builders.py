"""Small constructors of results for the pure-logic tests (no Docker involved)."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from seedmatrix.results import (
    Build,
    BuildStatus,
    CaseResult,
    Confinement,
    EnvironmentResult,
    Observed,
    Record,
    Results,
    RunState,
    RunStatus,
)
from seedmatrix.values import UNRECORDABLE, Value


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


def int64_value(label: str, number: int) -> Value:
    return Value(label=label, dtype="int64", shape=(), values=(number,), bits=(str(number),))


def unrecordable_value(label: str, note: str = "cannot record a Foo") -> Value:
    return Value(label=label, dtype=UNRECORDABLE, shape=(), values=(), bits=(), note=note)


#: What a repeat's launcher reads back where the engine enforced what a case asks by default.
AS_ASKED = Confinement(
    cpus_requested=1, memory_requested="4g", cpus_available=1, memory_cgroup="v2", memory_limit=4 << 30
)


def record(
    environment: str,
    case: str,
    repeat: int,
    values: Sequence[Value],
    *,
    status: RunStatus = RunStatus.OK,
    stderr_tail: str = "",
    device: Mapping[str, Any] | None = None,
    confinement: Confinement | None = AS_ASKED,
) -> Record:
    return Record(
        environment=environment,
        case=case,
        repeat=repeat,
        status=status,
        exit_code=0 if status is RunStatus.OK else (None if status is RunStatus.TIMEOUT else 1),
        seconds=1.5,
        script_seconds=1.0,
        values=tuple(values),
        device={"kind": "CPU", "detail": "TensorFlow sees no GPU"} if device is None else device,
        output="\n".join(f"{v.label}: {v.values}" for v in values),
        stderr_tail=stderr_tail,
        confinement=confinement,
    )


def environment(
    name: str,
    *,
    frameworks: Sequence[str] = ("numpy", "tensorflow"),
    build: BuildStatus = BuildStatus.CACHED,
    error: str | None = None,
    device: str = "cpu",
) -> EnvironmentResult:
    failed = build is BuildStatus.FAILED
    image_id = None if failed else "sha256:" + "ab" * 32
    return EnvironmentResult(
        name=name,
        requested={
            "python": "3.11",
            "debian": "bookworm",
            "requirements": ["numpy==2.0.2"],
            "device": device,
        },
        frameworks=tuple(frameworks),
        build=Build(
            status=build,
            seconds=0.5,
            log=f"results/build-logs/{name}.log",
            tag=None if failed else f"seedmatrix-env:{name}-0123456789ab",
            image_id=image_id,
            identity=image_id,
            size=None if failed else 1_234_000_000,
            error=error,
            observed=None
            if failed
            else Observed(
                python="3.11.2",
                frameworks={
                    "numpy": "2.0.2",
                    "tensorflow": "tensorflow-cpu 2.18.1",
                    "torch": None,
                    "jax": None,
                },
                pip_freeze=("numpy==2.0.2",),
            ),
        ),
    )


def case(
    name: str,
    *,
    requires: Sequence[str] = (),
    claim: str = "",
    claims: Mapping[str, Any] | None = None,
    claims_on_cpu: Mapping[str, Any] | None = None,
    claims_on_gpu: Mapping[str, Any] | None = None,
    expected: Mapping[str, Any] | None = None,
    script_sha256: str = "0" * 64,
) -> CaseResult:
    return CaseResult(
        name=name,
        script=f"seeds/{name}.py",
        script_sha256=script_sha256,
        requires=tuple(requires),
        claim=claim,
        claims=dict(claims or {}),
        claims_on_cpu=dict(claims_on_cpu or {}),
        claims_on_gpu=dict(claims_on_gpu or {}),
        expected=dict(expected or {}),
    )


def results(
    environments: Sequence[EnvironmentResult],
    cases: Sequence[CaseResult],
    records: Sequence[Record],
    *,
    repeats: int = 3,
    reference: str | None = None,
    run_id: str = "20261125T000000Z-abcdef",
    matrix_environments: Sequence[str] | None = None,
) -> Results:
    return Results(
        run_id=run_id,
        started="2026-11-25T00:00:00Z",
        finished="2026-11-25T00:01:00Z",
        state=RunState.FINISHED,
        host={"hostname": "test-host", "docker": "20.10"},
        matrix_file="matrix.yaml",
        matrix_environments=tuple(matrix_environments or [env.name for env in environments]),
        matrix_cases=tuple(case.name for case in cases),
        reference=reference or environments[0].name,
        repeats=repeats,
        environments=tuple(environments),
        cases=tuple(cases),
        records=tuple(records),
    )


def repeated(environment: str, case: str, values: Sequence[Value], repeats: int = 3) -> list[Record]:
    return [record(environment, case, n, values) for n in range(1, repeats + 1)]
