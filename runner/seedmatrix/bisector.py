"""`seedmatrix bisect`: which release of a package, or which commit of the project an environment
installs (`--commits`), changed a case's values.

Each probe is the environment with only that package re-pinned (or its project installed from that
commit, exported by git into the bisect's run directory and removed after), prepared by the machine like any
environment (an image with that content is reused) and its case run with its repeats by the normal
run path; its labels are compared bit for bit with the good end's (`compare`). `bisection` decides
what to probe next; this module only runs the probes and writes what they found: BISECT.md and
bisect.json in results/bisect/<run-id>/, after every probe, with the probes' records beside them.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from . import interrupts
from .backends.docker.container import Owner
from .backends.machine import Machine, engine_for
from .bisection import (
    Answer,
    LabelOutcome,
    LabelVerdict,
    Outcome,
    Probe,
    next_probe,
    shown_labels,
    verdicts,
)
from .builds import build_settings, sweep
from .commits import Commit, commits_between, exported, relocated, repository_of
from .compare import LabelResult, LabelState, failure_detail, known_difference, label_results
from .config import Environment, Matrix, load_matrix
from .errors import ConfigError, ResultsError
from .files import MIB, atomic_write, read_text_bounded
from .limits import DEFAULT_MEMORY
from .log import Output
from .markdown import code, plain, table
from .options import Options
from .plan import Selection, plan_environment
from .platforms import MACHINE, host_platform
from .releases import Candidate, candidates, index_url, read_index
from .results import FRAMEWORKS, Build, BuildStatus, Record, RunStatus
from .settings import resolve
from .store import RunDirectory, is_alive
from .store import runs as run_directories
from .values import describe

BISECT_DIR = "bisect"  # under the results root: results/bisect/<run-id>/, results/bisect/latest
BISECT_FILE = "BISECT.md"
BISECT_JSON = "bisect.json"
_PIP_ERROR = re.compile(r"^ERROR: (.+)$", re.MULTILINE)
_PIP_CONFLICT = re.compile(r"^The conflict is caused by:\n((?:[ \t]+\S.*(?:\n|$))+)", re.MULTILINE)
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")
_LONGEST_NAME = 64  # config's environment names
MAX_BISECT_BYTES = 64 * MIB


@dataclass(frozen=True, kw_only=True)
class BisectRequest:
    """What `seedmatrix bisect` asks."""

    config: Path
    results: Path
    environment: str
    case: str
    package: str = ""  # the package re-pinned; empty when bisecting commits
    good: str  # a release, or a revision with `commits`
    bad: str
    commits: bool = False  # good and bad are revisions of the git repository of the installed project
    labels: tuple[str, ...] = ()  # default: every label either end shows
    pre: bool = False
    ca_bundle: Path | None = None
    memory: str = DEFAULT_MEMORY
    resume: bool = False  # continue the newest stopped bisect of this same request


#: What a resumed bisect must share with the one it continues (its bisect.json's request).
_SAME_BISECT = ("config", "environment", "case", "package", "good", "bad", "commits", "labels", "pre")
COMMITS_DIR = "commits"  # in a bisect's run directory: the commit being probed, exported


@dataclass(frozen=True, kw_only=True)
class Tried:
    """One probe as it went: what was prepared, what ran, what it found."""

    probe: Probe
    environment: str  # the probe's environment (the records' name)
    build: str  # built, cached, pulled, failed; "not built" for a candidate skipped before
    image: str | None = None
    seconds: float = 0.0  # preparing and running it
    runs: int = 0


@dataclass(frozen=True, kw_only=True)
class Bisect:
    """Everything BISECT.md and bisect.json say."""

    request: BisectRequest
    run_id: str
    candidates: tuple[Candidate, ...]
    labels: tuple[str, ...]
    tried: tuple[Tried, ...]
    verdicts: tuple[LabelVerdict, ...]
    wall_seconds: float
    finished: bool  # False while probing (and when interrupted)
    commits: tuple[Commit, ...] = ()  # bisecting commits: each candidate's sha and subject


def repinned(environment: Environment, package: str, version: str) -> Environment:
    """The environment with only `package` pinned to `version`, under a name of its own."""
    wanted = canonicalize_name(package)
    name = _probe_name(environment.name, wanted, version)
    tensorflow = canonicalize_name(environment.tensorflow_package.split("[")[0])
    for framework in FRAMEWORKS:
        pinned = environment.pins.get(framework)
        if pinned and wanted in {framework, tensorflow if framework == "tensorflow" else framework}:
            return environment.model_copy(update={"name": name, framework: version})
    packages = list(environment.packages)
    for index, pin in enumerate(packages):
        requirement, _ = pin.split("==", 1)
        if canonicalize_name(requirement.split("[")[0]) == wanted:
            packages[index] = f"{requirement}=={version}"
            return environment.model_copy(update={"name": name, "packages": tuple(packages)})
    raise ConfigError(
        f"environment {environment.name} does not pin {package}: bisect re-pins a package the "
        "environment pins (numpy:, tensorflow:, torch:, jax: or packages:)"
    )


def _probe_name(environment: str, *parts: str) -> str:
    suffix = _NAME_CHARACTERS.sub("_", "".join(f"-{part}" for part in parts))
    return environment[: _LONGEST_NAME - len(suffix)] + suffix


def label_outcomes(version: str, records: Sequence[Record], good: Mapping[str, LabelResult]) -> Probe:
    """A probe's records against the good end's labels (`good`: label → its result there); the
    good end's own records against themselves give SAME for each stable label."""
    ordered = sorted(records, key=lambda record: record.repeat)
    failed = [record for record in ordered if record.status is not RunStatus.OK]
    if not ordered:
        return Probe(version=version, untested=LabelOutcome(outcome=Outcome.FAILED, detail="no repeat ran"))
    if failed:
        first = failed[0]
        if first.status is RunStatus.SKIPPED:
            why = LabelOutcome(outcome=Outcome.SKIPPED, detail=f"the script skipped itself: {first.skipped}")
        else:
            why = LabelOutcome(outcome=Outcome.FAILED, detail=failure_detail(first))
        return Probe(version=version, untested=why)
    return Probe(
        version=version, labels={found.label: _versus(found, good) for found in label_results(ordered)}
    )


def _versus(found: LabelResult, good: Mapping[str, LabelResult]) -> LabelOutcome:
    if found.state in {LabelState.VARIES, LabelState.PARTIAL}:
        return LabelOutcome(
            outcome=Outcome.VARIES, detail=found.reason or f"{found.distinct} distinct series in its repeats"
        )
    mine = found.settled
    theirs = good.get(found.label)
    if mine is None:
        return LabelOutcome(outcome=Outcome.SKIPPED, detail=found.reason or "could not be recorded")
    if theirs is None:
        return LabelOutcome(outcome=Outcome.SKIPPED, detail="not shown at the good end")
    if theirs.settled is None or theirs.state in {LabelState.VARIES, LabelState.PARTIAL}:
        return LabelOutcome(outcome=Outcome.SKIPPED, detail=f"{theirs.state.value} at the good end")
    difference = known_difference(mine, theirs.settled)
    if difference is None:
        return LabelOutcome(outcome=Outcome.SKIPPED, detail="could not be recorded")
    if difference.equal:
        return LabelOutcome(outcome=Outcome.SAME)
    return LabelOutcome(outcome=Outcome.CHANGED, detail=describe(difference))


def build_outcome(build: Build, package: str, version: str) -> LabelOutcome | None:
    """Why a prepared probe cannot be run (None: it can). pip refusing the pins (a conflict, no
    matching distribution) is a skip with pip's own words; any other failure a failure."""
    if build.identity is None:
        said = ""
        if build.log and "pip" in (build.error or ""):
            said = pip_refusal(Path(build.log).read_text(encoding="utf-8", errors="replace"))
        if said:
            return LabelOutcome(outcome=Outcome.SKIPPED, detail=f"pip: {said}")
        return LabelOutcome(outcome=Outcome.FAILED, detail=build.error or "the image could not be made")
    # The distributions TensorFlow is installed as (config's tensorflow_package) report as "tensorflow".
    framework = {"tensorflow-cpu": "tensorflow"}.get(canonicalize_name(package), canonicalize_name(package))
    observed = build.observed.version(framework) if build.observed and framework in FRAMEWORKS else None
    # TensorFlow's observed version reads "<distribution> <version>".
    held = observed.rsplit(" ", 1)[-1] if observed is not None else None
    if held is not None and held != version:
        # Never compare an image that does not hold the release it stands for.
        return LabelOutcome(outcome=Outcome.FAILED, detail=f"the image holds {package} {held}")
    return None


def unbuilt(build: Build) -> LabelOutcome | None:
    """Why a project's tree gave no image (None: it did): the probe cannot be tested. The error
    names the build's log."""
    if build.identity is not None:
        return None
    return LabelOutcome(outcome=Outcome.FAILED, detail=build.error or "the image could not be made")


def pip_refusal(log: str) -> str:
    """What pip said when it refused the pins: its errors, and the requirements that conflict."""
    errors = _PIP_ERROR.findall(log)
    # ResolutionImpossible only points at pip's docs; the conflict's causes say what clashed.
    said = [line for line in errors if not line.startswith("ResolutionImpossible")] or errors
    causes = _PIP_CONFLICT.search(log)
    if causes and said:
        said.append(
            "the conflict is caused by: " + "; ".join(line.strip() for line in causes[1].splitlines())
        )
    return " ".join(said)


def bisect_job(request: BisectRequest, out: Output, host_environ: Mapping[str, str]) -> int:
    """Probe releases (or commits) until every label's first change is known (or cannot be); 0 when
    every label is answered exactly (found or unchanged), 1 otherwise."""
    started = time.monotonic()
    matrix = load_matrix(request.config)
    environment = _environment(matrix, request)
    case = _case(matrix, request)
    # Refused before any work: a package the environment does not pin, a project git does not keep.
    repository = _repository(matrix, environment) if request.commits else None
    if repository is None:
        repinned(environment, request.package, request.good)
    options = Options(
        config=request.config,
        results=request.results,
        selection=Selection(environments=(environment.name,)),
        ca_bundle=request.ca_bundle,
        memory=request.memory,
    )
    resolved = resolve(options, environ=host_environ, matrix=matrix)
    run, found, commits, tried, seconds = _begun(
        request,
        environment,
        repository=repository,
        ca_bundle=resolved.ca_bundle,
        out=out,
        host_environ=host_environ,
    )
    if repository is not None:
        out.note(f"{len(found)} commits on the ancestry path from {request.good} to {request.bad}")
        probes_of, projects, sources = _commit_probes(matrix, environment, repository, commits, run)
    else:
        probes_of, projects = _release_probes(matrix, environment, request, found, out)
        sources = _nothing_to_export
    probing = replace(
        matrix,
        environments=(*matrix.environments, *probes_of.values()),
        projects={**matrix.projects, **projects},
    )
    engine = engine_for(probing, [environment.name])
    with run.held():
        settings = build_settings(
            resolved, host_environ=host_environ, owner=Owner(run_id=run.run_id, run_dir=run.path)
        )
        machine = Machine.open(probing, engine, settings=settings, out=out)
        session = _Session(
            request=request,
            matrix=probing,
            case=case,
            machine=machine,
            run=run,
            out=out,
            found=found,
            commits=commits,
            probes_of=probes_of,
            sources=sources,
            started=started - seconds,  # a resumed bisect's wall time counts what it took before
            host_environ=host_environ,
            jobs=resolved.runs_at_once(len(engine.cpu_ids)),
            tried=tried,
        )
        good = tried.get(found[0].version)
        if good is not None and good.probe.untested is None:
            # The good end's values are the reference for the probes still to come.
            records = run.records_of(good.environment, case)
            session.good_labels = {label.label: label for label in label_results(records)}
        try:
            sweep(machine, resolved.results, out)
            result = session.bisect()
        except BaseException:
            settings.stopping.set()  # builds in flight give up at their next step
            with interrupts.shielded():
                session.write(finished=False)
                machine.close(interrupted=True)
                out.note(f"what was probed so far: {run.path / BISECT_FILE}; continue it with --resume")
            raise
        machine.close()
    for line in summary_lines(result):
        out.step(line)
    out.note(f"report: {run.path / BISECT_FILE}")
    exact = {Answer.FOUND, Answer.UNCHANGED}
    return 0 if result.verdicts and all(v.answer in exact for v in result.verdicts) else 1


def _begun(
    request: BisectRequest,
    environment: Environment,
    *,
    repository: Path | None,
    ca_bundle: Path | None,
    out: Output,
    host_environ: Mapping[str, str],
) -> tuple[RunDirectory, tuple[Candidate, ...], tuple[Commit, ...], dict[str, Tried], float]:
    """The bisect's run directory, candidates (and commits), the probes made and the seconds spent:
    a stopped bisect's with --resume, else a new one's."""
    if request.resume:
        run, document = _stopped_bisect(request)
        found, tried, seconds = restored(document)
        commits = tuple(Commit(**commit) for commit in document.get("commits", ()))
        out.step(f"resuming bisect {run.run_id}: {len(tried)} probes done, {seconds:.0f} s so far")
        return run, found, commits, tried, seconds
    if repository is not None:
        commits = commits_between(repository, request.good, request.bad)
        found = tuple(Candidate(version=commit.short) for commit in commits)
    else:
        commits = ()
        found = _releases(request, environment, ca_bundle, out, host_environ)
    return RunDirectory.create(request.results / BISECT_DIR), found, commits, {}, 0.0


def _releases(
    request: BisectRequest,
    environment: Environment,
    ca_bundle: Path | None,
    out: Output,
    host_environ: Mapping[str, str],
) -> tuple[Candidate, ...]:
    out.step(f"reading the releases of {request.package} from {index_url(host_environ)}")
    files = read_index(request.package, index=index_url(host_environ), ca_bundle=ca_bundle)
    return candidates(
        files,
        good=request.good,
        bad=request.bad,
        python=environment.python,
        pre=request.pre,
        machine=MACHINE[environment.platform or host_platform() or "linux/amd64"],
    )


def _release_probes(
    matrix: Matrix, environment: Environment, request: BisectRequest, found: Sequence[Candidate], out: Output
) -> tuple[dict[str, Environment], dict[str, tuple[Path, ...]]]:
    """Each release's probe environment (the package re-pinned), and the projects it installs."""
    skipped = sum(1 for candidate in found if candidate.skipped)
    out.note(
        f"{len(found)} releases from {request.good} to {request.bad}"
        + (f", {skipped} skipped (yanked, or no wheel for Python {environment.python})" if skipped else "")
    )
    probes_of = {c.version: repinned(environment, request.package, c.version) for c in found}
    projects = {
        p.name: matrix.projects[environment.name]
        for p in probes_of.values()
        if environment.name in matrix.projects
    }
    return probes_of, projects


def _nothing_to_export(_: str) -> AbstractContextManager[object]:
    return nullcontext()


def _repository(matrix: Matrix, environment: Environment) -> Path:
    """The git repository of the project the environment installs (its first `install:`)."""
    projects = matrix.projects.get(environment.name, ())
    if not projects:
        raise ConfigError(
            f"environment {environment.name} installs no local project (install:): --commits bisects "
            "the git commits of the project an environment installs"
        )
    return repository_of(projects[0])


def _commit_probes(
    matrix: Matrix, environment: Environment, repository: Path, commits: Sequence[Commit], run: RunDirectory
) -> tuple[
    dict[str, Environment], dict[str, tuple[Path, ...]], Callable[[str], AbstractContextManager[object]]
]:
    """Each commit's probe environment (`<environment>-<short sha>`), the projects it installs from
    that commit's export, and the export itself (made while the probe is prepared and run)."""
    exports = run.path / COMMITS_DIR
    shutil.rmtree(exports, ignore_errors=True)  # what a bisect killed outright left
    probes_of = {
        commit.short: environment.model_copy(update={"name": _probe_name(environment.name, commit.short)})
        for commit in commits
    }
    projects = {
        probes_of[commit.short].name: relocated(
            matrix.projects[environment.name], repository, exports / commit.short
        )
        for commit in commits
    }
    shas = {commit.short: commit.sha for commit in commits}

    def export(version: str) -> AbstractContextManager[object]:
        return exported(repository, shas[version], exports / version)

    return probes_of, projects, export


def _stopped_bisect(request: BisectRequest) -> tuple[RunDirectory, dict[str, Any]]:
    """The newest bisect of this same request under the results root that stopped before it
    finished (and whose process is gone), with its bisect.json."""
    wanted = _request_json(request)
    for run in reversed(run_directories(request.results / BISECT_DIR)):
        path = run.path / BISECT_JSON
        if not path.is_file() or is_alive(run.path):
            continue
        document = json.loads(
            read_text_bounded(path, limit=MAX_BISECT_BYTES, what="bisect.json", error=ResultsError)
        )
        asked = {"commits": False, **document["request"]}  # bisects from before --commits
        if not document["finished"] and all(asked[key] == wanted[key] for key in _SAME_BISECT):
            return run, document
    bisected = (
        f"commits {request.good}..{request.bad}"
        if request.commits
        else (f"{request.package} {request.good} → {request.bad}")
    )
    raise ResultsError(
        f"{request.results / BISECT_DIR}: no stopped bisect of {bisected} on {request.environment} / "
        f"{request.case} to resume"
    )


def restored(document: Mapping[str, Any]) -> tuple[tuple[Candidate, ...], dict[str, Tried], float]:
    """A stopped bisect's candidates, probes and wall time, from its bisect.json (`as_json`)."""

    def outcome(found: Mapping[str, str]) -> LabelOutcome:
        return LabelOutcome(outcome=Outcome(found["outcome"]), detail=found["detail"])

    tried = {
        entry["version"]: Tried(
            probe=Probe(
                version=entry["version"],
                labels={label: outcome(found) for label, found in entry["labels"].items()},
                untested=outcome(entry["untested"]) if entry["untested"] else None,
            ),
            environment=entry["environment"],
            build=entry["build"],
            image=entry["image"],
            seconds=entry["seconds"],
            runs=entry["runs"],
        )
        for entry in document["tried"]
    }
    found = tuple(Candidate(**candidate) for candidate in document["candidates"])
    return found, tried, float(document["wall_seconds"])


def _environment(matrix: Matrix, request: BisectRequest) -> Environment:
    names = [env.name for env in matrix.environments]
    if request.environment not in names:
        raise ConfigError(
            f"{request.config}: no environment {request.environment!r}; it has {', '.join(names)}"
        )
    environment = matrix.environment(request.environment)
    if environment.host_python is not None:
        raise ConfigError(
            f"environment {environment.name} runs a host interpreter, whose packages seedmatrix does "
            "not install: bisect needs an image it can re-pin"
        )
    if environment.requirements is not None and not request.commits:
        raise ConfigError(
            f"environment {environment.name} installs a lock file ({environment.requirements}), whose "
            "exact pins a re-pinned package would conflict with: bisect an environment without one"
        )
    return environment


def _case(matrix: Matrix, request: BisectRequest) -> str:
    names = [case.name for case in matrix.cases]
    if request.case not in names:
        raise ConfigError(f"{request.config}: no case {request.case!r}; it has {', '.join(names)}")
    return request.case


@dataclass(kw_only=True)
class _Session:
    """One bisect's growing state: the probes made so far."""

    request: BisectRequest
    matrix: Matrix
    case: str
    machine: Machine
    run: RunDirectory
    out: Output
    found: tuple[Candidate, ...]
    probes_of: Mapping[str, Environment]
    started: float
    commits: tuple[Commit, ...] = ()
    # What a probe's environment needs on disk while it is prepared and run (a commit's export).
    sources: Callable[[str], AbstractContextManager[object]] = _nothing_to_export
    host_environ: Mapping[str, str]
    jobs: int
    tried: dict[str, Tried] = field(default_factory=dict)
    good_labels: dict[str, LabelResult] = field(default_factory=dict)

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(candidate.version for candidate in self.found)

    def bisect(self) -> Bisect:
        # The good end first: its labels are what every probe is compared with. When it cannot be
        # compared, nothing can: the bad end is not probed for nothing.
        for end in dict.fromkeys((self.versions[0], self.versions[-1])):
            if end not in self.tried:
                self._probe(end)
                self.write(finished=False)
            if self.tried[end].probe.untested is not None:
                return self.write(finished=True)
        labels = self._labels()
        while (version := next_probe(labels, self.versions, self._probes())) is not None:
            self._probe(version)
            self.write(finished=False)
        return self.write(finished=True)

    def _probes(self) -> dict[str, Probe]:
        return {version: tried.probe for version, tried in self.tried.items()}

    def _ends_tried(self) -> bool:
        return self.versions[0] in self.tried and self.versions[-1] in self.tried

    def _labels(self) -> tuple[str, ...]:
        """The labels bisected, once both ends are probed."""
        return self.request.labels or shown_labels(self.versions, self._probes())

    def _probe(self, version: str) -> None:
        number = len(self.tried) + 1
        package = self.request.package or "commit"
        environment = self.probes_of[version]
        candidate = next(c for c in self.found if c.version == version)
        if candidate.skipped:
            self.out.step(f"probe {number}: {package} {version} skipped: {candidate.skipped}")
            untested = LabelOutcome(outcome=Outcome.SKIPPED, detail=candidate.skipped)
            self.tried[version] = Tried(
                probe=Probe(version=version, untested=untested),
                environment=environment.name,
                build="not built",
            )
            return
        self.out.step(f"probe {number}: {package} {version}: preparing {environment.name}")
        began = time.monotonic()
        with self.sources(version):
            build = self.machine.prepare(environment)
            self.out.note(f"{package} {version}: image {build.status.value} in {build.seconds:.1f} s")
            problem = unbuilt(build) if self.request.commits else build_outcome(build, package, version)
            records: list[Record] = []
            if problem is None:
                records, problem = self._run(environment, build)
        if problem is not None:
            probe = Probe(version=version, untested=problem)
            self.out.warn(f"{package} {version}: {problem.outcome.value}: {problem.detail}")
        else:
            if version == self.versions[0]:  # probed first: its labels are the reference
                self.good_labels = {
                    found.label: found for found in label_results(sorted(records, key=_repeat))
                }
            probe = label_outcomes(version, records, self.good_labels)
            self.out.note(f"{package} {version}: {outcome_line(probe)}")
        self.tried[version] = Tried(
            probe=probe,
            environment=environment.name,
            build=build.status.value,
            image=build.tag,
            seconds=round(time.monotonic() - began, 1),
            runs=len(records),
        )

    def _run(self, environment: Environment, build: Build) -> tuple[list[Record], LabelOutcome | None]:
        return run_case(
            self.machine,
            self.matrix,
            environment,
            self.case,
            build,
            memory=self.request.memory,
            jobs=self.jobs,
            run=self.run,
            host_environ=self.host_environ,
            out=self.out,
        )

    def write(self, *, finished: bool) -> Bisect:
        versions = self.versions
        labels = self._labels() if self._ends_tried() else ()
        result = Bisect(
            request=self.request,
            run_id=self.run.run_id,
            candidates=self.found,
            labels=labels,
            tried=tuple(self.tried[v] for v in versions if v in self.tried),
            verdicts=verdicts(labels, versions, self._probes()) if labels else (),
            wall_seconds=round(time.monotonic() - self.started, 1),
            finished=finished,
            commits=self.commits,
        )
        atomic_write(self.run.path / BISECT_FILE, render(result))
        atomic_write(self.run.path / BISECT_JSON, json.dumps(as_json(result), indent=1) + "\n")
        return result


def run_case(
    machine: Machine,
    matrix: Matrix,
    environment: Environment,
    case: str,
    build: Build,
    *,
    memory: str,
    jobs: int,
    run: RunDirectory,
    host_environ: Mapping[str, str],
    out: Output,
) -> tuple[list[Record], LabelOutcome | None]:
    """The case's repeats on a prepared environment, by the run path of `seedmatrix matrix`, each
    record saved in `run` as it arrives; or why the case cannot run there (planned out)."""
    facts = machine.facts(environment, build)
    cells, skipped = plan_environment(matrix, environment.name, (case,), facts, memory=memory)
    if skipped:
        return [], LabelOutcome(outcome=Outcome.SKIPPED, detail=skipped[0].reason)
    if not cells:
        lacking = f"the image lacks a framework {case} requires"
        return [], LabelOutcome(outcome=Outcome.SKIPPED, detail=lacking)
    records: list[Record] = []

    def keep(record: Record) -> None:
        run.save_record(record)
        records.append(record)

    runs = machine.runs(jobs=jobs, side_dir=run.side_dir, host_environ=host_environ, on_record=keep)
    try:
        work = [(cell, repeat) for cell in cells for repeat in range(1, cell.repeats + 1)]
        out.note(f"{environment.name}: running {case} × {len(work)} repeats")
        for future in wait(runs.submit(work)).done:
            future.result()  # a lost engine ends the bisect
    finally:
        runs.close()
    return records, None


def _repeat(record: Record) -> int:
    return record.repeat


def outcome_line(probe: Probe) -> str:
    """'same: a, b · changed: c' (a probe's labels by outcome)."""
    if probe.untested is not None:
        return f"{probe.untested.outcome.value}: {probe.untested.detail}"
    by_outcome: dict[str, list[str]] = {}
    for label, found in probe.labels.items():
        by_outcome.setdefault(found.outcome.value, []).append(label)
    return " · ".join(f"{outcome}: {', '.join(labels)}" for outcome, labels in by_outcome.items())


def _named(result: Bisect, version: str) -> str:
    """A release as '<package> <version>', a commit as '<short sha> (<subject>)'."""
    subjects = {commit.short: commit.subject for commit in result.commits}
    if version in subjects:
        return f"commit {version} ({subjects[version]})"
    return f"{result.request.package} {version}"


def summary_lines(result: Bisect) -> list[str]:
    lines = []
    for found in result.verdicts:
        if found.answer is Answer.FOUND:
            lines.append(
                f"{found.label}: first changed in {_named(result, found.first_changed or '')} "
                f"(the same as {result.request.good} up to {found.last_same})"
            )
        elif found.answer is Answer.AMBIGUOUS:
            lines.append(
                f"{found.label}: first changed in one of {', '.join(found.candidates)} ({found.reason})"
            )
        else:
            lines.append(
                f"{found.label}: {found.answer.value}" + (f" ({found.reason})" if found.reason else "")
            )
    if not result.verdicts:
        lines.append("nothing could be compared: an end could not be tested (see BISECT.md)")
    built = sum(1 for tried in result.tried if tried.build == BuildStatus.BUILT.value)
    runs = sum(tried.runs for tried in result.tried)
    lines.append(
        f"cost: {len(result.tried)} probes ({built} images built), {runs} runs, {result.wall_seconds:.0f} s"
    )
    return lines


def render(result: Bisect) -> str:
    """BISECT.md: releases of a package, or commits of a project (each named by short sha and subject)."""
    request = result.request
    named: Callable[[str], str] = plain
    if request.commits:
        subjects = {commit.short: commit.subject for commit in result.commits}

        def by_commit(version: str) -> str:
            return f"{code(version)} {plain(subjects.get(version, ''))}".rstrip()

        named = by_commit

        title = f"commits {plain(request.good)}..{plain(request.bad)}"
        what = (
            f"{len(result.candidates)} commits on the ancestry path from the good end to the bad end; each "
            "probe installs the project as that commit has it (git archive) and runs the case, the matrix's "
            "script, with its repeats; its values are compared bit for bit with the good commit's."
        )
        noun, column, good_end = "commit", "commit", "the good commit"
    else:
        title = f"{plain(request.package)} {plain(request.good)} → {plain(request.bad)}"
        what = (
            f"{len(result.candidates)} releases from the good end to the bad end; each probe re-pins "
            f"{plain(request.package)} alone and runs the case with its repeats; its values are compared bit "
            f"for bit with {plain(request.good)}'s."
        )
        noun, column, good_end = "release", "version", "the good end"
    lines = [
        f"# Bisect: {title}",
        "",
        f"Environment {code(request.environment)}, case {code(request.case)}, matrix "
        f"{code(str(request.config))}; run {code(result.run_id)}"
        + ("" if result.finished else " — **not finished** (stopped or still probing)")
        + ".",
        "",
        what,
        "",
        f"## First changing {noun} per label",
        "",
    ]
    if result.verdicts:
        rows = []
        for found in result.verdicts:
            answer = {
                Answer.FOUND: f"**{named(found.first_changed or '')}**",
                Answer.AMBIGUOUS: "one of " + ", ".join(named(v) for v in found.candidates),
            }.get(found.answer, found.answer.value)
            last = named(found.last_same) if found.last_same else "—"
            rows.append([code(found.label), answer, last, plain(found.reason or "")])
        lines += table(["label", "first changed in", "last the same", "note"], rows)
    else:
        lines.append("Nothing could be compared: an end could not be tested (below).")
    lines += ["", f"## {column.capitalize()}s tried", ""]
    rows = []
    for tried in result.tried:
        probe = tried.probe
        records = f"`records/{tried.environment}@*.json`" if tried.runs else "—"
        row = [named(probe.version), plain(tried.build), str(tried.runs), f"{tried.seconds:.0f}"]
        rows.append([*row, _against(probe), records])
    lines += table([column, "image", "runs", "seconds", f"against {good_end}", "records"], rows)
    untried = [
        c.version for c in result.candidates if c.version not in {t.probe.version for t in result.tried}
    ]
    lines += ["", f"Not probed ({len(untried)}): {', '.join(named(v) for v in untried) or '—'}.", ""]
    lines += ["## Cost", "", *(f"- {plain(line)}" for line in summary_lines(result)[-1:]), ""]
    return "\n".join(lines)


def _against(probe: Probe) -> str:
    if probe.untested is not None:
        return f"{probe.untested.outcome.value}: {plain(probe.untested.detail)}"
    return "<br>".join(
        f"{code(label)} {found.outcome.value}" + (f" ({plain(found.detail)})" if found.detail else "")
        for label, found in probe.labels.items()
    )


def _request_json(request: BisectRequest) -> dict[str, Any]:
    return {
        key: str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        for key, value in asdict(request).items()
    }


def as_json(result: Bisect) -> dict[str, Any]:
    """bisect.json: the request, the candidates, every probe's outcomes and the verdicts."""
    return {
        "request": _request_json(result.request),
        "run_id": result.run_id,
        "finished": result.finished,
        "wall_seconds": result.wall_seconds,
        "candidates": [asdict(candidate) for candidate in result.candidates],
        "commits": [asdict(commit) for commit in result.commits],
        "labels": list(result.labels),
        "tried": [
            {
                "version": tried.probe.version,
                "environment": tried.environment,
                "build": tried.build,
                "image": tried.image,
                "seconds": tried.seconds,
                "runs": tried.runs,
                "untested": asdict(tried.probe.untested) if tried.probe.untested else None,
                "labels": {label: asdict(found) for label, found in tried.probe.labels.items()},
            }
            for tried in result.tried
        ],
        "verdicts": [asdict(found) for found in result.verdicts],
    }
