"""What a job does, decided once from its three sources: the command line beats the environment
variables, which beat matrix.yaml, which beats the defaults. Each rule is written here, once; the
jobs read the resolved values and merge nothing themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .backends.docker.wheels import chosen_ca_bundle
from .config import Matrix, registry_option
from .errors import ConfigError
from .options import DEFAULT_BUILD_JOBS, Options
from .plan import Selection

#: The Debian archive base images are built from, where --debian-mirror does not name one.
DEBIAN_MIRROR_VARIABLE = "SEEDMATRIX_DEBIAN_MIRROR"
#: How Debian bases are made ("archive" or "image"), where --debian-base does not say.
DEBIAN_BASE_VARIABLE = "SEEDMATRIX_DEBIAN_BASE"


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """A `matrix` or `images` job's settings, every one resolved (None: the documented default
    of whatever reads it, such as the recipe's own mirror or no baseline)."""

    results: Path
    selection: Selection
    memory: str
    resume: Path | None
    fresh: bool
    reuse_from: Path | None
    baseline: Path | None  # --baseline, else matrix.yaml's baseline:
    fail_on_change: bool  # a change against the baseline exits 1
    fail_on_surprise: bool  # a SURPRISE exits 1
    ca_bundle: Path | None  # --ca-bundle, else the first CA bundle variable set
    debian_mirror: str | None  # --debian-mirror, else $SEEDMATRIX_DEBIAN_MIRROR, else the recipe's
    debian_base: str | None  # --debian-base, else $SEEDMATRIX_DEBIAN_BASE; None: whichever this host can
    registry: str | None  # --registry (checked as registry: is), else matrix.yaml's registry:
    push: bool
    jobs: int | None  # runs at once as asked; `runs_at_once` gives the engine's default
    build_jobs: int  # images built at once

    def runs_at_once(self, engine_cpus: int) -> int:
        """--jobs, else one run for each of the engine's CPUs (known only once it answers)."""
        return self.jobs or engine_cpus


def resolve(options: Options, *, environ: Mapping[str, str], matrix: Matrix) -> JobSettings:
    return JobSettings(
        results=options.results,
        selection=options.selection,
        memory=options.memory,
        resume=options.resume,
        fresh=options.fresh,
        reuse_from=options.reuse_from,
        baseline=options.baseline or matrix.baseline,
        fail_on_change=change_gate(configured=matrix.fail_on_change, asked=options.fail_on_change),
        fail_on_surprise=surprise_gate(configured=matrix.fail_on_surprise, report_only=options.report_only),
        ca_bundle=chosen_ca_bundle(environ, ca_bundle=options.ca_bundle),
        debian_mirror=options.debian_mirror or environ.get(DEBIAN_MIRROR_VARIABLE) or None,
        debian_base=debian_base(options.debian_base or environ.get(DEBIAN_BASE_VARIABLE) or None),
        registry=registry_option(options.registry) if options.registry else matrix.registry,
        push=options.push,
        jobs=options.jobs,
        build_jobs=options.build_jobs or DEFAULT_BUILD_JOBS,
    )


def debian_base(way: str | None) -> str | None:
    if way not in (None, "archive", "image"):
        raise ConfigError(f"${DEBIAN_BASE_VARIABLE} must be archive or image, not {way!r}")
    return way


def change_gate(*, configured: bool, asked: bool) -> bool:
    """fail_on_change: matrix.yaml's (or a stored run's) `fail_on_change: true` or --fail-on-change;
    either turns it on, neither can turn the other off."""
    return configured or asked


def surprise_gate(*, configured: bool, report_only: bool) -> bool:
    """fail_on_surprise: matrix.yaml's (or a stored run's) setting, which --report-only turns off."""
    return configured and not report_only
