"""`seedmatrix bisect probe`: one commit tested for `git bisect run`.

The environment is prepared from the working tree as it is (`install: .` builds the commit git
checked out; an image of the same content is found, not rebuilt), the case runs with the matrix's
repeats by the run path of `seedmatrix matrix`, and each label is compared bit for bit with a
reference run's values by the code `seedmatrix bisect` compares probes with. The exit status is
git's contract: 0 good, 1 bad, 125 skip this commit, 128 stop the bisect. Anything that is not a
verdict on this commit (a configuration error, an unreadable reference, no engine) must stop the
bisect: seedmatrix's own error statuses lie in 1..127, where git would mark the commit bad.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import interrupts
from .backends.docker.container import Owner
from .backends.machine import Machine, engine_for
from .bisection import LabelOutcome, Outcome, Probe
from .bisector import label_outcomes, run_case, unbuilt
from .builds import build_settings, sweep
from .compare import LabelResult, LabelState, label_results
from .config import load_matrix
from .errors import ConfigError, ResultsError
from .files import atomic_write
from .limits import DEFAULT_MEMORY
from .log import Output
from .options import Options
from .plan import Selection
from .results import Record
from .settings import resolve
from .store import RunDirectory, load_results

PROBE_DIR = "probe"  # under the results root: results/probe/<run-id>/, results/probe/latest
PROBE_JSON = "probe.json"

#: git bisect run's exit statuses.
EXIT_SAME = 0  # good: every label compared is bitwise the reference's
EXIT_CHANGED = 1  # bad: some label changed
EXIT_UNTESTABLE = 125  # git skips the commit
EXIT_ABORT = 128  # git stops the bisect (any status from 128 to 255 does)


@dataclass(frozen=True, kw_only=True)
class ProbeRequest:
    """What `seedmatrix bisect probe` asks."""

    config: Path
    results: Path
    environment: str
    case: str
    reference: Path  # a matrix run (results.json or its directory) at the good commit
    labels: tuple[str, ...] = ()  # default: every label the reference shows
    ca_bundle: Path | None = None
    memory: str = DEFAULT_MEMORY


def reference_labels(
    records: Sequence[Record], *, environment: str, case: str, source: str
) -> dict[str, LabelResult]:
    """The reference run's labels of one environment and case (label → its result there)."""
    mine = sorted(
        (record for record in records if (record.environment, record.case) == (environment, case)),
        key=lambda record: record.repeat,
    )
    if not mine:
        raise ResultsError(
            f"{source} holds no records of {environment} / {case}: record the reference at the good "
            f"commit with `seedmatrix matrix --environment {environment} --case {case}`"
        )
    whole = label_outcomes("reference", mine, {})
    if whole.untested is not None:
        raise ResultsError(
            f"{source}: the reference's repeats of {environment} / {case} did not all run: "
            f"{whole.untested.outcome.value}: {whole.untested.detail}"
        )
    found = {result.label: result for result in label_results(mine)}
    if not found:
        raise ResultsError(f"{source}: the reference's records of {environment} / {case} show no values")
    return found


def compared(
    probe: Probe, labels: Sequence[str], reference: Mapping[str, LabelResult]
) -> dict[str, LabelOutcome]:
    """Each label's outcome in this probe against the reference. A label the reference shows (and
    could compare) that the probe no longer shows has changed: its values are gone."""
    found: dict[str, LabelOutcome] = {}
    for label in labels:
        if probe.untested is not None:
            found[label] = probe.untested
        elif label in probe.labels:
            found[label] = probe.labels[label]
        elif reference[label].settled is None or reference[label].state in {
            LabelState.VARIES,
            LabelState.PARTIAL,
        }:
            found[label] = LabelOutcome(
                outcome=Outcome.SKIPPED, detail=f"{reference[label].state.value} in the reference"
            )
        else:
            found[label] = LabelOutcome(
                outcome=Outcome.CHANGED, detail="no longer shown: the reference shows it"
            )
    return found


def exit_status(outcomes: Mapping[str, LabelOutcome]) -> int:
    """git's verdict on the commit: bad when any label changed (a change seen is a change, whatever
    the other labels say), good only when every label is the same, skipped otherwise."""
    found = {outcome.outcome for outcome in outcomes.values()}
    if Outcome.CHANGED in found:
        return EXIT_CHANGED
    if found == {Outcome.SAME}:
        return EXIT_SAME
    return EXIT_UNTESTABLE


def summary_lines(outcomes: Mapping[str, LabelOutcome], status: int) -> list[str]:
    """One line a label (same / changed with Δ and ULP / why it cannot be tested) and the verdict."""
    lines = []
    for label, found in outcomes.items():
        if found.outcome is Outcome.SAME:
            lines.append(f"{label}: same")
        elif found.outcome is Outcome.CHANGED:
            lines.append(f"{label}: changed ({found.detail})")
        else:
            why = f" ({found.detail})" if found.detail else ""
            lines.append(f"{label}: cannot test: {found.outcome.value}{why}")
    verdict = {EXIT_SAME: "good", EXIT_CHANGED: "bad", EXIT_UNTESTABLE: "skip"}[status]
    lines.append(f"exit {status}: git bisect marks this commit {verdict}")
    return lines


def probe_job(request: ProbeRequest, out: Output, host_environ: Mapping[str, str]) -> int:
    """Prepare the environment from the working tree, run the case, compare with the reference:
    EXIT_SAME, EXIT_CHANGED or EXIT_UNTESTABLE. Errors raise (the command line stops the bisect)."""
    matrix = load_matrix(request.config)
    names = [environment.name for environment in matrix.environments]
    if request.environment not in names:
        raise ConfigError(
            f"{request.config}: no environment {request.environment!r}; it has {', '.join(names)}"
        )
    cases = [case.name for case in matrix.cases]
    if request.case not in cases:
        raise ConfigError(f"{request.config}: no case {request.case!r}; it has {', '.join(cases)}")
    environment = matrix.environment(request.environment)
    reference = reference_labels(
        load_results(request.reference).records,
        environment=environment.name,
        case=request.case,
        source=str(request.reference),
    )
    unknown = [label for label in request.labels if label not in reference]
    if unknown:
        raise ConfigError(
            f"the reference's records of {environment.name} / {request.case} show no label "
            f"{', '.join(map(repr, unknown))}; they show {', '.join(map(repr, reference))}"
        )
    labels = request.labels or tuple(reference)
    options = Options(
        config=request.config,
        results=request.results,
        selection=Selection(environments=(environment.name,)),
        ca_bundle=request.ca_bundle,
        memory=request.memory,
    )
    resolved = resolve(options, environ=host_environ, matrix=matrix)
    engine = engine_for(matrix, [environment.name])
    run = RunDirectory.create(request.results / PROBE_DIR)
    with run.held():
        settings = build_settings(
            resolved, host_environ=host_environ, owner=Owner(run_id=run.run_id, run_dir=run.path)
        )
        machine = Machine.open(matrix, engine, settings=settings, out=out)
        try:
            sweep(machine, resolved.results, out)
            out.step(f"probe: preparing {environment.name}")
            build = machine.prepare(environment)
            out.note(f"{environment.name}: image {build.status.value} in {build.seconds:.1f} s")
            problem = unbuilt(build)
            records: list[Record] = []
            if problem is None:
                records, problem = run_case(
                    machine,
                    matrix,
                    environment,
                    request.case,
                    build,
                    memory=request.memory,
                    jobs=resolved.runs_at_once(len(engine.cpu_ids)),
                    run=run,
                    host_environ=host_environ,
                    out=out,
                )
        except BaseException:
            settings.stopping.set()  # builds in flight give up at their next step
            with interrupts.shielded():
                machine.close(interrupted=True)
            raise
        machine.close()
    probe = (
        Probe(version=environment.name, untested=problem)
        if problem is not None
        else label_outcomes(environment.name, records, reference)
    )
    outcomes = compared(probe, labels, reference)
    status = exit_status(outcomes)
    atomic_write(
        run.path / PROBE_JSON,
        json.dumps(
            _as_json(
                request,
                run_id=run.run_id,
                build=build.status.value,
                image=build.tag,
                runs=len(records),
                outcomes=outcomes,
                status=status,
            ),
            indent=1,
        )
        + "\n",
    )
    for line in summary_lines(outcomes, status):
        sys.stdout.write(line + "\n")  # stdout: what git bisect run shows for the commit
    sys.stdout.flush()
    out.note(f"records: {run.path / 'records'}")
    return status


def _as_json(
    request: ProbeRequest,
    *,
    run_id: str,
    build: str,
    image: str | None,
    runs: int,
    outcomes: Mapping[str, LabelOutcome],
    status: int,
) -> dict[str, Any]:
    asked = {
        key: str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        for key, value in asdict(request).items()
    }
    return {
        "request": asked,
        "run_id": run_id,
        "build": build,
        "image": image,
        "runs": runs,
        "labels": {label: asdict(found) for label, found in outcomes.items()},
        "exit_status": status,
    }
