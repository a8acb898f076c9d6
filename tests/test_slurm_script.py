"""scripts/slurm's cluster: a job submitted to each of its two partitions runs there and completes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from slurm_cluster import PARTITIONS, needs_slurm

pytestmark = pytest.mark.slurm


@pytest.mark.parametrize("partition", PARTITIONS)
def test_a_job_in_each_partition_completes(partition: str, tmp_path: Path) -> None:
    needs_slurm()
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/sh\necho "ran on $SLURM_JOB_PARTITION"\n', encoding="utf-8")
    output = tmp_path / "job.out"
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--wait", f"--partition={partition}", f"--output={output}",
         "--job-name=seedmatrix-test-script", "--time=1", str(script)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    job_id = submitted.stdout.strip().split(";")[0]
    shown = subprocess.run(
        ["squeue", "--states=all", "-h", "-j", job_id, "-o", "%T %P"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert shown.stdout.split() == ["COMPLETED", partition]
    assert output.read_text(encoding="utf-8") == f"ran on {partition}\n"
