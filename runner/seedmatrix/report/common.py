"""What every section of MATRIX.md shares: how long lists and tables may grow, environment headings."""

from __future__ import annotations

from collections.abc import Sequence

from ..platforms import emulated
from ..results import EnvironmentResult, Results

#: Above this many environments, tables show one column per group of identical environments.
WIDE = 8


#: Lists longer than this are cut, saying how many more there are.
LONGEST_LIST = 30


def env_heading(name: str, reference: str) -> str:
    return f"{name} (reference)" if name == reference else name


def machine_note(results: Results, env: EnvironmentResult) -> str:
    """Its machine, where the run's environments ran on more than one or this one was emulated:
    "aarch64" or "aarch64, emulated" (as its image said from inside, beside the machine that ran
    it); "" otherwise."""
    machines = {e.build.observed.machine for e in results.environments if e.build.observed}
    observed = env.build.observed
    if observed is None or observed.machine is None:
        return ""
    # Named even when every environment shares it: emulation is not seen by comparing them.
    if emulated(observed.machine, env.host_machine):
        return f"{observed.machine}, emulated"
    return observed.machine if len(machines - {None}) > 1 else ""


def cut(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LONGEST_LIST])
    return shown + (f", … and {len(names) - LONGEST_LIST} more" if len(names) > LONGEST_LIST else "")


def listed(lines: Sequence[str]) -> list[str]:
    if not lines:
        return []
    kept = ["", *lines[:LONGEST_LIST]]
    if len(lines) > LONGEST_LIST:
        kept.append(f"- … and {len(lines) - LONGEST_LIST} more (see results.json)")
    return kept
