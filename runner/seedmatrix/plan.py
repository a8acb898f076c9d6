"""matrix.yaml → the frozen list of cells to run: (environment, case) × repeats.

Pure: the plan is decided before any image or container exists, and a unit test can check it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path

from .config import Matrix
from .errors import ConfigError
from .hostrun import interpreter


@dataclass(frozen=True, kw_only=True)
class Cell:
    environment: str
    case: str
    script: Path
    repeats: int
    cpus: int = 1  # the container sees exactly this many CPUs, however many run beside it
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: bool = False  # ask the engine for the host's GPUs (host backend: leave them visible)
    host_python: str | None = None  # the host backend's interpreter; None for a container


@dataclass(frozen=True, kw_only=True)
class Skip:
    """A cell that will not run on this host, and why (shown in the matrix, not a failure)."""

    environment: str
    case: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    environments: tuple[str, ...]  # those whose images are needed, in matrix order
    cases: tuple[str, ...]
    cells: tuple[Cell, ...]
    skipped: tuple[Skip, ...] = ()

    @property
    def runs(self) -> int:
        return sum(cell.repeats for cell in self.cells)

    def runs_left(self, done: Set[tuple[str, str, int]]) -> list[tuple[Cell, int]]:
        """(cell, repeat) for every run without a record in `done` (environment, case, repeat)."""
        return [
            (cell, repeat)
            for cell in self.cells
            for repeat in range(1, cell.repeats + 1)
            if (cell.environment, cell.case, repeat) not in done
        ]


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which part of the matrix this machine runs (everything by default)."""

    environments: Sequence[str] = ()
    cases: Sequence[str] = ()
    device: str | None = None  # only environments that run on this device ("cpu" or "gpu")
    shard: tuple[int, int] = (1, 1)  # (i, n): the i-th of n slices of the environments, 1-based


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' → (2, 3); the error says what a shard looks like."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
        raise ConfigError(f"--shard: {text!r} is not a shard; write i/n with 1 <= i <= n, e.g. 1/2")
    return int(index), int(count)


def make_plan(
    matrix: Matrix,
    *,
    host_cpus: int,
    selection: Selection | None = None,
    gpu_unavailable: str | None = None,
    frameworks: Mapping[str, frozenset[str]] | None = None,
) -> Plan:
    """Cells for the selected environments and cases (all when none are named).

    A case whose required frameworks an environment lacks gets no cell (the comparison marks it
    not applicable); one that needs more CPUs than the host has, or a GPU the host cannot give
    (`gpu_unavailable` says why), is skipped with the reason. `frameworks` overrides what an
    environment provides (a host interpreter provides what it was found to have).
    """
    selection = selection or Selection()
    chosen_envs = _select("--environment", selection.environments, [env.name for env in matrix.environments])
    chosen_envs = _slice(matrix, chosen_envs, selection)
    if not chosen_envs:
        index, count = selection.shard
        device = selection.device or "any"
        raise ConfigError(f"the selection (device {device}, shard {index}/{count}) matches no environment")
    chosen_cases = _select("--case", selection.cases, [case.name for case in matrix.cases])
    cells = []
    skipped = []
    for env_name in chosen_envs:
        env = matrix.environment(env_name)
        for case in matrix.cases:
            provided = (frameworks or {}).get(env.name, env.frameworks)
            if case.name not in chosen_cases or not set(case.requires) <= provided:
                continue
            if env.device == "gpu" and env.host_python is None and gpu_unavailable is not None:
                skipped.append(Skip(environment=env.name, case=case.name, reason=gpu_unavailable))
                continue
            if case.cpus > host_cpus:
                reason = f"needs {case.cpus} CPUs, this host has {host_cpus}"
                skipped.append(Skip(environment=env.name, case=case.name, reason=reason))
                continue
            cells.append(
                Cell(
                    environment=env.name,
                    case=case.name,
                    script=matrix.scripts[case.name],
                    repeats=matrix.repeats,
                    cpus=case.cpus,
                    env=dict(case.env),
                    gpu=env.device == "gpu",
                    host_python=interpreter(env.host_python, relative_to=matrix.source.parent)
                    if env.host_python
                    else None,
                )
            )
    return Plan(
        environments=tuple(chosen_envs),
        cases=tuple(chosen_cases),
        cells=tuple(cells),
        skipped=tuple(skipped),
    )


def _slice(matrix: Matrix, names: list[str], selection: Selection) -> list[str]:
    if selection.device is not None:
        names = [name for name in names if matrix.environment(name).device == selection.device]
    index, count = selection.shard
    return names[index - 1 :: count]


def _select(option: str, wanted: Sequence[str], available: list[str]) -> list[str]:
    unknown = [name for name in wanted if name not in available]
    if unknown:
        close = difflib.get_close_matches(unknown[0], available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(available)}"
        raise ConfigError(f"{option}: no {unknown[0]!r} in the matrix{hint}")
    return [name for name in available if not wanted or name in wanted]
