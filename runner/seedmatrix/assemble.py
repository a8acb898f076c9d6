"""Results from what a run did: the matrix as declared, the plan, the builds and the records."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from .backends import placement
from .config import Case, Claims, Matrix
from .cpu import host_cpu
from .files import utc_now
from .fingerprint import files_digest, tree_digest
from .merge import sorted_records
from .plan import Plan
from .results import Build, CaseResult, EnvironmentResult, Record, Results, RunState


def assemble(
    *,
    matrix: Matrix,
    plan: Plan,
    builds: Mapping[str, Build],
    records: Sequence[Record],
    run_id: str,
    started: str,
    state: RunState,
    engine: str,
    dispatch: Mapping[str, Mapping[str, Any]] | None = None,
    cell_keys: Mapping[tuple[str, str], str] | None = None,
    machines: Mapping[str, str] | None = None,
) -> Results:
    """`machines`: environment → the architecture its repeats ran on (its backend's: a remote
    engine's, not this machine's); None: this machine's, for every environment."""
    environments = []
    for name in plan.environments:
        spec = matrix.environment(name)
        build = builds.get(name)
        if build is None:
            continue
        requested: dict[str, Any] = {
            "python": spec.python,
            "requirements": [
                *spec.framework_pins,
                *(lock.pins if (lock := matrix.lock_files.get(name)) else ()),
            ],
            "device": spec.device,
        }
        origin = {
            "debian": spec.debian,
            "base_image": spec.base_image,
            "host_python": spec.host_python,
            "platform": spec.platform,
        }
        requested.update({key: value for key, value in origin.items() if value})
        kernels = {"cpu_isa": spec.cpu_isa, "onednn": spec.onednn}
        requested.update({key: value for key, value in kernels.items() if value is not None})
        probed = placement(spec, matrix_dir=matrix.source.parent).probed_frameworks
        provides = build.observed.provides if probed and build.observed else spec.frameworks
        environments.append(
            EnvironmentResult(
                name=spec.name,
                requested=requested,
                frameworks=tuple(sorted(provides)),
                build=build,
                host=socket.gethostname(),
                host_machine=platform.machine() if machines is None else machines.get(name, ""),
                dispatch=dict((dispatch or {}).get(name, {})),
                projects_sha256=hashlib.sha256(
                    "\0".join(tree_digest(project) for project in matrix.projects.get(name, ())).encode()
                ).hexdigest(),
            )
        )
    return Results(
        run_id=run_id,
        started=started,
        finished=utc_now(),
        state=state,
        host=host_facts(engine),
        matrix_file=str(matrix.source),
        matrix_environments=tuple(env.name for env in matrix.environments),
        matrix_cases=tuple(case.name for case in matrix.cases),
        reference=matrix.reference,
        repeats=matrix.repeats,
        environments=tuple(environments),
        cases=tuple(case_result(matrix, matrix.case(name)) for name in plan.cases),
        records=sorted_records(records),
        skipped=plan.skipped,
        fail_on_surprise=matrix.fail_on_surprise,
        fail_on_change=matrix.fail_on_change,
        cell_keys={f"{environment}/{case}": key for (environment, case), key in (cell_keys or {}).items()},
    )


def case_result(matrix: Matrix, case: Case) -> CaseResult:
    script = matrix.scripts[case.name]
    return CaseResult(
        name=case.name,
        script=os.path.relpath(script, matrix.source.parent),
        script_sha256=hashlib.sha256(script.read_bytes()).hexdigest(),
        requires=case.requires,
        claim=case.claim,
        claims=_written(case.claims),
        claims_on_cpu=_written(case.claims_on_cpu),
        claims_on_gpu=_written(case.claims_on_gpu),
        expected=(
            {"source": case.expected.source, "digits": case.expected.digits, "values": case.expected.printed}
            if case.expected
            else {}
        ),
        variables=dict(case.env),
        cpus=case.cpus,
        timed_against=case.timed_against,
        files_sha256=files_digest(matrix.workdir(case.name), matrix.data.get(case.name, {})),
    )


def _written(claims: Claims) -> dict[str, Any]:
    return {key: value for key, value in claims.model_dump().items() if value}


def host_facts(engine: str) -> dict[str, Any]:
    cpu = host_cpu()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": {"vendor": cpu.vendor, "model": cpu.model, "flags": sorted(cpu.flags)} if cpu else {},
        "docker": engine,
    }
