"""The GitHub Actions workflow, executed: scripts/workflow.py (also `nox -s workflow`) runs it four
times with act on this machine and checks what a user would see (docs/ci.md, "The workflow on your
machine"). About ten minutes: it builds two small images on an engine of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def test_the_workflow_runs_cold_registry_fed_unchanged_and_for_a_pull_request(tmp_path: Path) -> None:
    actions = os.environ.get("SEEDMATRIX_ACTIONS")
    if not actions:
        pytest.skip(
            "SEEDMATRIX_ACTIONS is not set: act would fetch the workflow's actions from GitHub, "
            "which this machine cannot reach (.ci/run sets it when ../shared/actions exists)"
        )
    finished = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "workflow.py"), "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(finished.stdout)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    checks = ("cold: the merge job's summary holds the matrix", "nothing changed: no seed container started")
    for check in checks:
        assert f"ok: {check}" in finished.stdout
