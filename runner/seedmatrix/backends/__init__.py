"""Where environments are made ready and their repeats run, behind one protocol: Docker images and
containers (`docker/`), interpreters on this machine (`host/`) or on a Slurm cluster's nodes
(`slurm/`).

The jobs (`pipeline`, `plan`, `preview`) see a `Backend` (`machine.Machine`) and never which one: a
new engine implements the protocol in a package of its own here, is chosen in `machine`, says what
it can give cells in `placement`, and runs a repeat in `execute.run_repeat` (its half of a repeat
in its own `execute.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .host.hostrun import interpreter

if TYPE_CHECKING:
    from ..config import Environment
    from ..plan import Cell, HostFacts
    from ..results import Build


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """One environment's image (or interpreter) as it is now, before anything is built."""

    environment: str
    action: str  # "found", "build", "host interpreter", "unknown"
    detail: str = ""
    tag: str | None = None
    base_tag: str | None = None
    image_id: str | None = None
    wheel_dirs: tuple[Path, ...] = ()
    ready: bool = False  # its cells can run without anything being built first


@dataclass(frozen=True, kw_only=True)
class Placement:
    """What an environment's backend can give its cells, known from matrix.yaml alone (the plan
    decides with it before anything is built)."""

    interpreter: str | None = None  # the host interpreter its cells run; None: its image's
    data_refused: str | None = None  # why its cells cannot have `data:` mounts, if they cannot
    gpu_asked: bool = True  # whether a GPU must be asked of an engine (the host leaves them visible)
    probed_frameworks: bool = False  # the frameworks it has are what its probe found, not the pins
    # Whether a later run may reuse its records: not where a scheduler picks the node, which may
    # not be the one that made them.
    reusable: bool = True


def placement(environment: Environment, *, matrix_dir: Path) -> Placement:
    if environment.host_python is None:
        return Placement(reusable=environment.slurm is None)
    return Placement(
        interpreter=interpreter(environment.host_python, relative_to=matrix_dir),
        data_refused="its data: mounts need a container; the host backend cannot remap paths",
        gpu_asked=False,
        probed_frameworks=True,
        reusable=environment.slurm is None,
    )


def runs_on_host(cell: Cell) -> bool:
    """Whether the cell runs in a host interpreter, where nothing isolates what it loads."""
    return cell.host_python is not None


class Backend(Protocol):
    """What the jobs ask of a backend, from the image to the last container removed."""

    @property
    def cpu_ids(self) -> Sequence[int]:
        """The CPUs repeats are pinned to, numbered as the backend numbers them."""

    @property
    def engine(self) -> str:
        """The engine's version, as results.json records it."""

    @property
    def machine(self) -> str:
        """The architecture its repeats run on, as `uname -m` names it ("" when it cannot tell): an
        environment's image of another architecture runs emulated there."""

    def sweep(self, *, resumed: str | None) -> Mapping[str, int]:
        """Remove what runs killed outright left behind (and a resumed run's own); run id → count."""

    def prepare(self, environment: Environment) -> Build:
        """The environment's image built, found or pulled (or its interpreter probed); a failure is
        a Build that says so, not an exception."""

    def facts(self, environment: Environment, build: Build) -> HostFacts:
        """What the plan needs to know to decide the environment's cells, now that `build` is ready."""

    def dispatch(
        self, environment: Environment, build: Build, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        """The oneDNN ISA TensorFlow dispatches under `variables` (see `probes.probe_dispatch`)."""

    def forecast(self, environment: Environment) -> Forecast:
        """What `prepare` would do, without doing it (`seedmatrix plan`)."""

    def close(self, *, interrupted: bool = False) -> None:
        """Remove what this run started (and, `interrupted`, stop what still runs)."""
