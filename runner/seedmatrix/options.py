"""What the command line asks of a job: the matrix file, the results directory, the selection, and
the settings that override matrix.yaml's (`settings.resolve` weighs them against the environment
and matrix.yaml, once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .limits import DEFAULT_MEMORY
from .plan import Selection

#: Images built at once by default: a build waits on the network and the disk more than on the CPU,
#: so more than the cores (the longest need not wait for a free one); each holds a wheel set on disk.
DEFAULT_BUILD_JOBS = 4


@dataclass(frozen=True, kw_only=True)
class Options:
    config: Path
    results: Path
    selection: Selection = field(default_factory=Selection)
    ca_bundle: Path | None = None
    debian_mirror: str | None = None
    debian_base: str | None = None  # "archive" or "image": how Debian bases are made (None: either)
    memory: str = DEFAULT_MEMORY
    jobs: int | None = None  # containers at once; default: the engine's CPU count
    baseline: Path | None = None  # overrides matrix.yaml's `baseline:`
    report_only: bool = False  # a SURPRISE does not make the exit status non-zero
    resume: Path | None = None  # a run directory whose missing records are to be run
    fresh: bool = False  # run every cell, even where an earlier run's records could be reused
    fail_on_change: bool = False  # a change against the baseline exits 1 (also `fail_on_change:`)
    reuse_from: Path | None = None  # another run (results.json or its directory) whose cells may be reused
    registry: str | None = None  # overrides matrix.yaml's registry:
    push: bool = False  # push images to the registry after building (or finding) them
    build_jobs: int | None = None  # images built at once (default DEFAULT_BUILD_JOBS)
