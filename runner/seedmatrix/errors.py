"""One error hierarchy for everything a user can get wrong or a host can lack.

`__main__` catches `SeedmatrixError` once and prints its message without a traceback; the exit code
tells scripts what kind of failure it was.
"""

from __future__ import annotations


class SeedmatrixError(Exception):
    """A failure explained to the user; never shown with a traceback."""

    exit_code = 1


class ConfigError(SeedmatrixError):
    """matrix.yaml (or a file it names) is invalid; the message names the key path and line."""

    exit_code = 2


class EngineError(SeedmatrixError):
    """The Docker engine cannot be reached or refused a request."""

    exit_code = 3


class SchedulerError(EngineError):
    """Slurm cannot be reached, refused a job, or cancelled one outside the run: the run stops as
    when the engine is lost (what completed is kept; --resume finishes it)."""


class ImageError(SeedmatrixError):
    """A base or environment image could not be made or inspected."""

    exit_code = 4


class ResultsError(SeedmatrixError):
    """A results directory is missing or holds something this version cannot read."""

    exit_code = 5


class PackageIndexError(SeedmatrixError):
    """The package index could not be read, or does not list the release asked for."""

    exit_code = 6
