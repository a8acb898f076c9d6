"""matrix.yaml → the frozen list of cells to run: (environment, case) × repeats.

Pure: the plan is decided before any image or container exists, and a unit test can check it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import Matrix
from .errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Cell:
    environment: str
    case: str
    script: Path
    repeats: int


@dataclass(frozen=True, kw_only=True)
class Plan:
    environments: tuple[str, ...]  # those whose images are needed, in matrix order
    cases: tuple[str, ...]
    cells: tuple[Cell, ...]

    @property
    def runs(self) -> int:
        return sum(cell.repeats for cell in self.cells)


def make_plan(matrix: Matrix, *, environments: Sequence[str] = (), cases: Sequence[str] = ()) -> Plan:
    """Cells for the selected environments and cases (all when none are named).

    A case whose required frameworks an environment lacks gets no cell; the comparison marks it
    not applicable.
    """
    chosen_envs = _select("--environment", environments, [env.name for env in matrix.environments])
    chosen_cases = _select("--case", cases, [case.name for case in matrix.cases])
    cells = []
    for env_name in chosen_envs:
        env = matrix.environment(env_name)
        for case in matrix.cases:
            if case.name in chosen_cases and set(case.requires) <= env.frameworks:
                cells.append(
                    Cell(
                        environment=env.name,
                        case=case.name,
                        script=matrix.scripts[case.name],
                        repeats=matrix.repeats,
                    )
                )
    return Plan(environments=tuple(chosen_envs), cases=tuple(chosen_cases), cells=tuple(cells))


def _select(option: str, wanted: Sequence[str], available: list[str]) -> list[str]:
    unknown = [name for name in wanted if name not in available]
    if unknown:
        close = difflib.get_close_matches(unknown[0], available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(available)}"
        raise ConfigError(f"{option}: no {unknown[0]!r} in the matrix{hint}")
    return [name for name in available if not wanted or name in wanted]
