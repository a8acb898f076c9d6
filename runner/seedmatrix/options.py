"""What the command line asks of a job: the matrix file, the results directory, the selection, and
the settings that override matrix.yaml's (`settings.resolve` weighs them against the environment
and matrix.yaml, once).

A run keeps its options in its directory (`stored`), so that `seedmatrix collect RUN` finishes it
as it was asked without the user repeating them; environment variables are read again then.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from pydantic import ConfigDict, TypeAdapter, ValidationError

from .errors import ConfigError, ResultsError
from .limits import DEFAULT_MEMORY, MEMORY_PATTERN
from .plan import Selection, parse_shard

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
    detach: bool = False  # submit the Slurm repeats and return without waiting for them

    __pydantic_config__ = ConfigDict(extra="forbid")  # a stored key Options lacks is not ours


_ADAPTER = TypeAdapter(Options)

DEVICES = ("cpu", "gpu")
PLATFORMS = ("linux/amd64", "linux/arm64", "host")
DEBIAN_BASES = ("archive", "image")


def memory_size(text: str) -> str:
    """--memory's value, checked as matrix.yaml's `memory:` is (512m, 4g)."""
    if not re.fullmatch(MEMORY_PATTERN, text):
        raise ConfigError(
            f"--memory: {text!r} is not a memory size; write a whole number and k, m or g, e.g. 4g"
        )
    return text


def check(options: Options) -> None:
    """What the command line's own checks refuse, for options that did not come through it (a run's
    stored options.json): ConfigError naming the option."""
    memory_size(options.memory)
    for name in ("jobs", "build_jobs"):
        value = getattr(options, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: must be at least 1, not {value}")
    selection = options.selection
    if selection.device not in (None, *DEVICES):
        raise ConfigError(f"--device: {selection.device!r} is not one of {', '.join(DEVICES)}")
    if unknown := [name for name in selection.platforms if name not in PLATFORMS]:
        raise ConfigError(f"--platform: {unknown[0]!r} is not one of {', '.join(PLATFORMS)}")
    if options.debian_base not in (None, *DEBIAN_BASES):
        raise ConfigError(f"--debian-base: {options.debian_base!r} is not one of {', '.join(DEBIAN_BASES)}")
    parse_shard("/".join(str(part) for part in selection.shard))


def stored(options: Options) -> bytes:
    """The options as a run keeps them: every path absolute (`collect` may run from elsewhere),
    without `resume` and `detach`, which say how this one process ran, not what the run is."""
    absolute = {
        item.name: getattr(options, item.name).absolute()
        for item in fields(options)
        if isinstance(getattr(options, item.name), Path)
    }
    kept = replace(options, **{**absolute, "resume": None, "detach": False})
    return _ADAPTER.dump_json(kept, indent=1) + b"\n"


def from_stored(data: bytes, *, source: Path) -> Options:
    """The options `stored` wrote, checked as the command line checks them; `resume` and `detach`
    set, or a key Options lacks, mean the file is not one `stored` wrote."""
    try:
        options = _ADAPTER.validate_json(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ResultsError(
            f"{source}: not the options of a run this seedmatrix can read ({error.error_count()} "
            f"problems, first: {where}: {first['msg']})"
        ) from None
    if options.resume is not None or options.detach:
        raise ResultsError(f"{source}: resume and detach say how one process ran; a run never stores them")
    try:
        check(options)
    except ConfigError as error:
        raise ResultsError(f"{source}: {error}") from None
    return options


def matrix_command(options: Options) -> str:
    """`seedmatrix matrix` with these options, each one that differs from its default, as a shell
    line a person can paste (for `--resume` after a `collect` that cannot finish a run)."""
    words = ["seedmatrix", "matrix", "--config", str(options.config), "--results", str(options.results)]
    defaults = Options(config=options.config, results=options.results)
    for item in fields(options):
        value = getattr(options, item.name)
        flag = "--" + item.name.replace("_", "-")
        if item.name == "selection" or value == getattr(defaults, item.name):
            continue
        words += [flag] if value is True else [flag, str(value)]
    selection = options.selection
    words += [word for name in selection.environments for word in ("--environment", name)]
    words += [word for name in selection.cases for word in ("--case", name)]
    words += [word for name in selection.platforms for word in ("--platform", name)]
    words += ["--device", selection.device] if selection.device else []
    words += ["--shard", f"{selection.shard[0]}/{selection.shard[1]}"] if selection.shard != (1, 1) else []
    return shlex.join(words)
