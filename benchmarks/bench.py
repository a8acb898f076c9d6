"""Benchmark of the matrix job against a naive baseline and the ideal, on this machine.

Run by `nox -s bench` (images are built first and not timed, unless --cold). Prints a table and
writes JSON. Every figure comes from one run on one machine:

- matrix: `seedmatrix matrix --fresh` wall time (parallel, every repeat a fresh container);
- naive: the same runs one after another with plain `docker run --rm` (the docker CLI), each timed;
- ideal: the CPU time those runs hold, each measured alone in the naive loop (its time × the CPUs
  it is given: a two-CPU run holds both), / cores (times measured while runs compete for the cores
  would flatter the matrix);
- cached: `seedmatrix matrix` again with nothing changed (records reused, no container);
- report: `seedmatrix report` alone;
- images: each image's cold build time and size;
- scale: `seedmatrix report` over synthetic results of 200 environments × 20 cases × 5 repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from seedmatrix.backends.docker import container, images
from seedmatrix.backends.docker.execute import INSIDE_MOUNT, OUTPUTS_MOUNT, RECORDS_MOUNT, WORK_MOUNT
from seedmatrix.backends.docker.wheels import Fetching
from seedmatrix.cache import Cache
from seedmatrix.channel import launcher_variables, new_boundary
from seedmatrix.config import INSIDE, LAUNCHER, load_matrix
from seedmatrix.limits import Limits
from seedmatrix.store import RunDirectory, load_results

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"matrix / ideal": ("≤", 1.10), "naive / matrix": ("≥", 1.6), "cached run (s)": ("<", 3.0)}


def seedmatrix(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "seedmatrix", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return time.perf_counter() - started


def naive(results_file: Path) -> tuple[float, list[float]]:
    """The same (environment, case, repeat) runs, one `docker run --rm` after another: the total
    wall time and the CPU time each run held (its own time × its CPUs)."""
    results = load_results(results_file)
    matrix = load_matrix(Path(results.matrix_file))
    images_by_env = {env.name: env.build.image_id for env in results.environments}
    each, held = [], []
    for record in results.records:
        script = matrix.scripts[record.case]
        case = matrix.case(record.case)
        workdir = matrix.workdir(record.case)
        variables = launcher_variables(
            new_boundary(),
            records_dir=RECORDS_MOUNT,
            outputs_dir=OUTPUTS_MOUNT,
            limits=Limits(timeout_seconds=1),
            outputs=case.outputs,
        )
        variables |= {**case.env, "PYTHONPATH": INSIDE_MOUNT, "HOME": "/tmp"}
        command = ["docker", "run", "--rm", "--network", "none", "--user", "65534:65534", "--read-only"]
        command += ["--tmpfs", "/tmp", "--tmpfs", RECORDS_MOUNT, "--tmpfs", OUTPUTS_MOUNT, "-w", WORK_MOUNT]
        command += ["-v", f"{workdir}:{WORK_MOUNT}:ro", "-v", f"{INSIDE}:{INSIDE_MOUNT}:ro"]
        command += [arg for name, value in variables.items() for arg in ("-e", f"{name}={value}")]
        command += ["--cpuset-cpus", ",".join(str(n) for n in range(case.cpus))]
        command += [str(images_by_env[record.environment]), images.VENV_PYTHON, f"{INSIDE_MOUNT}/{LAUNCHER}"]
        command += [f"{WORK_MOUNT}/{script.relative_to(workdir).as_posix()}", *case.args]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        each.append(time.perf_counter() - started)
        held.append(each[-1] * case.cpus)
    return sum(each), held


def image_table(config: Path, results_root: Path, *, cold: bool) -> list[dict[str, Any]]:
    """Each image's size and cold build time, as recorded when `nox -s matrix` built it (or now, --cold)."""
    matrix = load_matrix(config)
    client = container.connect()
    cache = Cache(results_root / ".cache")
    settings = images.BuildSettings(
        logs_dir=results_root / "build-logs",
        cache=cache,
        fetching=Fetching.from_environment(os.environ, ca_bundle=None),
        owner=container.Owner(run_id="bench"),
    )
    rows = []
    for env in matrix.environments:
        if cold:
            for image in client.images.list(name=images.ENV_REPOSITORY):
                if any(tag.startswith(f"{images.ENV_REPOSITORY}:{env.name}-") for tag in image.tags):
                    client.images.remove(str(image.id), force=True)
        build = images.ensure_environment_image(client, matrix, env, settings, progress=lambda _: None)
        seconds = cache.build_seconds(build.image_id) if build.image_id else None
        rows.append({"environment": env.name, "cold_build_s": seconds, "size_bytes": build.size})
    return rows


MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps([time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))
"""


def scale(work: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "tests"))
    from scale import synthetic_results  # noqa: PLC0415  (the tests' generator, shared on purpose)

    store = RunDirectory.create(work)
    build = time.perf_counter()
    store.save_results(synthetic_results(200, 20, 5))
    generated = time.perf_counter() - build
    # RUSAGE_CHILDREN keeps the largest child so far, so measure from a process of its own.
    measured = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            sys.executable,
            "-m",
            "seedmatrix",
            "report",
            str(store.path),
            "--report-only",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, peak_kib = json.loads(measured.stdout)
    return {
        "records": 200 * 20 * 5,
        "report_s": round(seconds, 2),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "matrix_md_kb": round(store.matrix_file.stat().st_size / 1024, 1),
        "generate_s": round(generated, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "matrix.yaml")
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument(
        "--cold", action="store_true", help="remove and rebuild the environment images, timed"
    )
    arguments = parser.parse_args()
    root: Path = arguments.results
    shutil.rmtree(root / "runs", ignore_errors=True)
    runs = root / "runs"
    cores = container.engine_cpus(container.connect())

    image_rows = image_table(arguments.config, ROOT / "results", cold=arguments.cold)
    matrix_s = seedmatrix(
        "matrix", "--config", str(arguments.config), "--results", str(runs), "--fresh", "--report-only"
    )
    fresh = load_results(runs / "latest" / "results.json")
    cached_s = seedmatrix(
        "matrix", "--config", str(arguments.config), "--results", str(runs), "--report-only"
    )
    cached = load_results(runs / "latest" / "results.json")
    report_s = seedmatrix("report", str(runs / "latest"), "--report-only")
    naive_s, held = naive(runs / fresh.run_id / "results.json")
    ideal_s = sum(held) / cores
    scaled = scale(root / "scale")

    figures = {
        "machine": {"cores": cores, "runs": len(fresh.records)},
        "matrix_s": round(matrix_s, 1),
        "naive_s": round(naive_s, 1),
        "ideal_s": round(ideal_s, 1),
        "cached_s": round(cached_s, 2),
        "cached_reused_records": sum(1 for r in cached.records if r.reused_from),
        "report_s": round(report_s, 2),
        "ratios": {
            "matrix / ideal": round(matrix_s / ideal_s, 3),
            "naive / matrix": round(naive_s / matrix_s, 3),
            "cached run (s)": round(cached_s, 2),
        },
        "images": image_rows,
        "scale": scaled,
    }
    (root / "bench.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(render(figures))
    print(f"\nJSON: {root / 'bench.json'}")
    return 0


def render(figures: dict[str, Any]) -> str:
    machine = figures["machine"]
    lines = [
        f"| measure ({machine['runs']} container runs, {machine['cores']} cores) | seconds |",
        "| --- | --: |",
        f"| matrix run (`seedmatrix matrix --fresh`) | {figures['matrix_s']} |",
        f"| naive: the same runs, one `docker run --rm` after another | {figures['naive_s']} |",
        f"| ideal: CPU time the runs hold, each measured alone, / cores | {figures['ideal_s']} |",
        f"| cached re-run, nothing changed ({figures['cached_reused_records']} records reused) "
        f"| {figures['cached_s']} |",
        f"| `seedmatrix report` alone | {figures['report_s']} |",
        "",
        "| target | measured | goal | met |",
        "| --- | --: | --- | --- |",
    ]
    for name, (relation, goal) in TARGETS.items():
        value = figures["ratios"][name]
        met = {"≤": value <= goal, "≥": value >= goal, "<": value < goal}[relation]
        lines.append(f"| {name} | {value} | {relation} {goal} | {'yes' if met else 'NO'} |")
    lines += ["", "| image | cold build (s) | size (GB) |", "| --- | --: | --: |"]
    for row in figures["images"]:
        build = row["cold_build_s"] if row["cold_build_s"] is not None else "not recorded (--cold)"
        lines.append(f"| {row['environment']} | {build} | {row['size_bytes'] / 1e9:.2f} |")
    s = figures["scale"]
    lines += [
        "",
        f"Scale: `seedmatrix report` over {s['records']:,} synthetic records (200 environments × 20 cases "
        f"× 5 repeats): {s['report_s']} s wall including interpreter start, peak RSS {s['peak_rss_mb']} MB, "
        f"MATRIX.md {s['matrix_md_kb']} KB (goal: under 2 s and 300 MB).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
