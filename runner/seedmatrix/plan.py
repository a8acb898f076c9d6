"""matrix.yaml and this host's facts → the frozen list of cells to run: (environment, case) × repeats.

Pure: each environment's cells are decided once, before any of them runs, from the matrix, the
selection and what is known of the host (its CPUs, whether the engine can give a GPU, what each
host interpreter provides); a unit test can check it without Docker.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .backends import placement
from .config import Matrix
from .cpu import CpuFacts, lacking, switches
from .errors import ConfigError
from .limits import DEFAULT_MEMORY, Limits
from .results import SkippedCell


@dataclass(frozen=True, kw_only=True)
class Cell:
    environment: str
    case: str
    script: Path
    repeats: int
    limits: Limits
    workdir: Path  # mounted read-only (container) and the working directory; it holds the script
    args: tuple[str, ...] = ()
    data: Mapping[Path, str] = field(default_factory=dict)  # read-only mounts: host path → container path
    outputs: tuple[str, ...] = ()  # files the script writes into $SEEDMATRIX_OUTPUTS, to compare
    parse: str | None = None  # a regular expression whose named groups are values taken from stdout
    cpus: int = 1  # the container sees exactly this many CPUs, however many run beside it
    variables: Mapping[str, str] = field(default_factory=dict)  # the CPU switches and the case's `env:`
    gpu: bool = False  # ask the engine for the host's GPUs (host backend: leave them visible)
    host_python: str | None = None  # the host backend's interpreter; None for a container


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which part of the matrix this machine runs (everything by default)."""

    environments: Sequence[str] = ()
    cases: Sequence[str] = ()
    device: str | None = None  # only environments that run on this device ("cpu" or "gpu")
    # Only environments made for one of these (`platform:`; "host": those without one).
    platforms: tuple[str, ...] = ()
    shard: tuple[int, int] = (1, 1)  # (i, n): the i-th of n slices of the environments, 1-based


@dataclass(frozen=True, kw_only=True)
class HostFacts:
    """What the plan needs to know of the machine it runs on."""

    cpus: int
    gpu_unavailable: str | None = None  # why the engine cannot give a container a GPU, if it cannot
    provides: Mapping[str, frozenset[str]] = field(default_factory=dict)  # host interpreter → frameworks
    cpu: CpuFacts | None = None  # the CPU runs use (None: unknown); decides which `cpu_isa:` can run


@dataclass(frozen=True, kw_only=True)
class Plan:
    environments: tuple[str, ...]  # the selected environments, in matrix order
    cases: tuple[str, ...]
    cells: tuple[Cell, ...]
    skipped: tuple[SkippedCell, ...] = ()

    def adding(self, cells: Sequence[Cell], skipped: Sequence[SkippedCell]) -> Plan:
        """This plan with one more environment's cells, kept in matrix order whatever order the
        environments' images were ready in."""
        environment_order = {name: index for index, name in enumerate(self.environments)}
        case_order = {name: index for index, name in enumerate(self.cases)}

        def order(item: Cell | SkippedCell) -> tuple[int, int]:
            return environment_order[item.environment], case_order[item.case]

        return replace(
            self,
            cells=tuple(sorted((*self.cells, *cells), key=order)),
            skipped=tuple(sorted((*self.skipped, *skipped), key=order)),
        )


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' → (2, 3); the error says what a shard looks like."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
        raise ConfigError(f"--shard: {text!r} is not a shard; write i/n with 1 <= i <= n, e.g. 1/2")
    return int(index), int(count)


#: `--platform host`: the environments without `platform:`, made for the machine that runs them.
HOST = "host"


def select_environments(matrix: Matrix, selection: Selection) -> tuple[str, ...]:
    """The environments this machine builds and runs, in matrix order; never empty."""
    chosen = _select("--environment", selection.environments, [env.name for env in matrix.environments])
    if selection.device is not None:
        chosen = [name for name in chosen if matrix.environment(name).device == selection.device]
    if selection.platforms:
        chosen = [
            name for name in chosen if (matrix.environment(name).platform or HOST) in selection.platforms
        ]
    index, count = selection.shard
    chosen = chosen[index - 1 :: count]
    if not chosen:
        platforms = f", platform {' or '.join(selection.platforms)}" if selection.platforms else ""
        raise ConfigError(
            f"the selection (device {selection.device or 'any'}{platforms}, shard {index}/{count}) "
            "matches no environment"
        )
    return tuple(chosen)


def make_plan(
    matrix: Matrix, selection: Selection, facts: HostFacts, *, memory: str = DEFAULT_MEMORY
) -> Plan:
    """Cells for the selected environments and cases (all when none are named).

    A case whose required frameworks an environment lacks gets no cell (the comparison marks it
    not applicable); one that needs more CPUs than the host has, or a GPU the engine cannot give,
    is skipped with the reason. `memory` is the limit of cases that do not set their own.
    """
    plan = empty_plan(matrix, selection)
    for env_name in plan.environments:
        plan = plan.adding(*plan_environment(matrix, env_name, plan.cases, facts, memory=memory))
    return plan


def empty_plan(matrix: Matrix, selection: Selection) -> Plan:
    """The selected environments and cases, with no cell yet: each environment's are added when
    what decides them is known (its image and, for a GPU environment, whether the engine has one)."""
    return Plan(
        environments=select_environments(matrix, selection),
        cases=tuple(_select("--case", selection.cases, [case.name for case in matrix.cases])),
        cells=(),
    )


def plan_environment(
    matrix: Matrix, env_name: str, cases: Sequence[str], facts: HostFacts, *, memory: str = DEFAULT_MEMORY
) -> tuple[list[Cell], list[SkippedCell]]:
    """One environment's cells and skipped cells (see `make_plan`)."""
    cells = []
    skipped = []
    env = matrix.environment(env_name)
    where = placement(env, matrix_dir=matrix.source.parent)
    provided = facts.provides.get(env.name, env.frameworks)
    for case in matrix.cases:
        if case.name not in cases or not set(case.requires) <= provided:
            continue
        reason = None
        if env.device == "gpu" and where.gpu_asked and facts.gpu_unavailable is not None:
            reason = facts.gpu_unavailable
        elif case.cpus > facts.cpus:
            reason = f"needs {case.cpus} CPUs, this host has {facts.cpus}"
        elif case.data and where.data_refused is not None:
            reason = where.data_refused
        elif env.cpu_isa is not None:
            reason = lacking(env.cpu_isa, facts.cpu)
        if reason is not None:
            skipped.append(SkippedCell(environment=env.name, case=case.name, reason=reason))
            continue
        cells.append(
            Cell(
                environment=env.name,
                case=case.name,
                script=matrix.scripts[case.name],
                repeats=matrix.repeats,
                limits=Limits(
                    timeout_seconds=case.timeout_seconds or matrix.timeout_seconds,
                    memory=case.memory or memory,
                    tmp_mb=case.tmp_mb or Limits.tmp_mb,
                    shm_mb=case.shm_mb or Limits.shm_mb,
                    outputs_mb=case.outputs_mb,
                ),
                workdir=matrix.workdir(case.name),
                args=case.args,
                data=dict(matrix.data.get(case.name, {})),
                outputs=case.outputs,
                parse=case.parse,
                cpus=case.cpus,
                # The case's own variables win: the read-back then shows the request ignored.
                variables={**switches(env.cpu_isa, env.onednn), **case.env},
                gpu=env.device == "gpu",
                host_python=where.interpreter,
            )
        )
    return cells, skipped


def _select(option: str, wanted: Sequence[str], available: list[str]) -> list[str]:
    unknown = [name for name in wanted if name not in available]
    if unknown:
        close = difflib.get_close_matches(unknown[0], available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(available)}"
        raise ConfigError(f"{option}: no {unknown[0]!r} in the matrix{hint}")
    return [name for name in available if not wanted or name in wanted]
