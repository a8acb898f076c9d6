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


@dataclass(frozen=True, kw_only=True)
class Cell:
    environment: str
    case: str
    script: Path
    repeats: int
    cpus: int = 1  # the container sees exactly this many CPUs, however many run beside it
    env: Mapping[str, str] = field(default_factory=dict)


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


def make_plan(
    matrix: Matrix,
    *,
    host_cpus: int,
    environments: Sequence[str] = (),
    cases: Sequence[str] = (),
) -> Plan:
    """Cells for the selected environments and cases (all when none are named).

    A case whose required frameworks an environment lacks gets no cell (the comparison marks it
    not applicable); one that needs more CPUs than the host has is skipped with the reason.
    """
    chosen_envs = _select("--environment", environments, [env.name for env in matrix.environments])
    chosen_cases = _select("--case", cases, [case.name for case in matrix.cases])
    cells = []
    skipped = []
    for env_name in chosen_envs:
        env = matrix.environment(env_name)
        for case in matrix.cases:
            if case.name not in chosen_cases or not set(case.requires) <= env.frameworks:
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
                )
            )
    return Plan(
        environments=tuple(chosen_envs),
        cases=tuple(chosen_cases),
        cells=tuple(cells),
        skipped=tuple(skipped),
    )


def _select(option: str, wanted: Sequence[str], available: list[str]) -> list[str]:
    unknown = [name for name in wanted if name not in available]
    if unknown:
        close = difflib.get_close_matches(unknown[0], available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(available)}"
        raise ConfigError(f"{option}: no {unknown[0]!r} in the matrix{hint}")
    return [name for name in available if not wanted or name in wanted]
