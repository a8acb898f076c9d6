"""The Slurm the `slurm` tests use: the one `bash scripts/slurm start` made, or any that answers.

Without one the tests are skipped, saying why; `sbatch`, `squeue` and `scancel` are run as they
would be on a cluster's login node.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

#: The partitions scripts/slurm makes: the tests route environments to both.
PARTITIONS = ("cpu-a", "cpu-b")


def why_no_slurm() -> str | None:
    """Why the slurm tests cannot run here, or None when a Slurm with both partitions answers."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no Slurm client here (start one: bash scripts/slurm start)"
    try:
        answer = subprocess.run(
            ["sinfo", "-h", "-o", "%R %a"], capture_output=True, text=True, timeout=15, check=False
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s (bash scripts/slurm status)"
    if answer.returncode != 0:
        return f"no Slurm answers (sinfo: {answer.stderr.strip()}); start one: bash scripts/slurm start"
    up = {line.split()[0] for line in answer.stdout.splitlines() if line.endswith(" up")}
    missing = [name for name in PARTITIONS if name not in up]
    if missing:
        return f"Slurm answers but has no partition {', '.join(missing)} up (scripts/slurm makes them)"
    return None


def needs_slurm() -> None:
    """Skip the calling test, with the reason, when no suitable Slurm answers."""
    reason = why_no_slurm()
    if reason is not None:
        if os.environ.get("CI") == "true":  # .ci/run starts one: its absence is a failure there
            pytest.fail(reason)
        pytest.skip(reason)
