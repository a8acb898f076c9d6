"""Every GPU figure the README's "On a GPU (measured)" section, docs/gpu-and-host.md and
docs/evidence/README.md state, recomputed from the committed evidence (docs/evidence/*/) with the
package's own decoder and comparison, so that the text cannot drift from what was measured.

The figures are read out of the text (a template per sentence, its numbers and verdict phrases as
placeholders), so an edit to the text that the evidence does not support fails here, and so does a
sentence rewritten past its template (it is no longer found, and must be checked again).

Where the figures come from:
- distinct values, ULP widths, |Δ|, "bitwise equal", claims, repeats, the shared-GPU cost ratios:
  each folder's `results.json.gz` (every record of the main run, bit for bit);
- the cost of determinism on an idle GPU and on the CPU: each folder's `TIMING.md`, as rendered on
  the GPU machine. The timing runs' own results were never committed (issue 32: they stayed on the
  GPU machines), so those ratios can only be checked against the two decimals TIMING.md shows, and a
  figure agrees only when every value those decimals stand for rounds to it;
- versions, CUDA and the run counts of the whole command: `machine.txt` and `run.log`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import pytest

from seedmatrix.baseline import Change, against_baseline
from seedmatrix.claims import Verdict, check_claims
from seedmatrix.compare import CellState, Comparison, LabelResult, compare, series_difference
from seedmatrix.report import median_seconds
from seedmatrix.results import Results, decode
from seedmatrix.values import Difference

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "docs" / "evidence"
CPU, GPU = "host-cpu", "host-gpu"


# --- the evidence ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Run:
    """One folder of docs/evidence."""

    results: Results
    comparison: Comparison
    timing: str  # TIMING.md
    log: str  # run.log
    machine: str  # machine.txt

    def label(self, environment: str, case: str, label: str) -> LabelResult:
        found = self.comparison.cell(environment, case).label(label)
        assert found is not None, f"{environment} / {case}: no label {label!r} in the evidence"
        return found

    def labels(self, environment: str, case: str) -> tuple[LabelResult, ...]:
        return self.comparison.cell(environment, case).labels

    def timing_ratio(self, case: str, environment: str) -> Rendered:
        """The ratio TIMING.md shows for `case` against the case it is timed against, on the work
        the script timed itself."""
        header, *rows = [
            line for line in _section(self.timing, "Cost of determinism") if line.startswith("|")
        ]
        column = _cells(header).index(environment)
        row = next(_cells(row) for row in rows if _cells(row)[0].startswith(f"[`{case}`]"))
        found = re.search(r"×([0-9.]+), work\)", row[column])
        assert found, f"TIMING.md: no work ratio for {case} in {environment}: {row[column]!r}"
        return Rendered(found[1])


Evidence = Mapping[str, Run]  # by GPU model: "H100", "H200"


@cache
def load_evidence() -> dict[str, Run]:
    runs: dict[str, Run] = {}
    for path in sorted(EVIDENCE.glob("*/results.json.gz")):
        results = decode(Results, gzip.decompress(path.read_bytes()), source=str(path))
        models = {
            str(record.device.get("gpu_model", "")) for record in results.records if record.environment == GPU
        }
        named = {found[0] for model in models if (found := re.search(r"\bH\d{3}\b", model))}
        assert len(named) == 1, f"{path}: one GPU model expected, the records name {sorted(models)}"
        model = named.pop()
        assert model not in runs, f"two folders of {model}: say which one the text quotes"
        folder = path.parent
        runs[model] = Run(
            results=results,
            comparison=compare(results),
            timing=(folder / "TIMING.md").read_text(encoding="utf-8"),
            log=(folder / "run.log").read_text(encoding="utf-8"),
            machine=(folder / "machine.txt").read_text(encoding="utf-8"),
        )
    return runs


def _section(markdown: str, heading: str) -> list[str]:
    """The lines of the `## heading…` section."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {heading}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start + 1 : end]


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


# --- what the evidence measures ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A number as a report rendered it: rounded to the digits shown."""

    text: str


@dataclass(frozen=True)
class AtLeast:
    """Only a lower bound is recorded."""

    value: Decimal


@dataclass(frozen=True)
class Span:
    """The smallest and the largest of several measurements (the text gives "low-high", or one
    figure that both must round to)."""

    low: int | float | Rendered
    high: int | float | Rendered


#: bool: the phrase the text uses holds; str: text that must be the same; int: exact; float: exact
#: value the text rounds; Rendered, AtLeast, Span: as above.
Measured = bool | int | float | str | Rendered | AtLeast | Span


def _one(values: Sequence[Measured], what: str) -> Measured:
    """The value when every measurement agrees, else a description that no figure equals."""
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else f"{what} not the same everywhere: {distinct}"


def _span(values: Sequence[int | float | Rendered]) -> Span:
    ordered = sorted(values, key=lambda value: Decimal(value.text) if isinstance(value, Rendered) else value)
    return Span(ordered[0], ordered[-1])


def widest_ulps(label: LabelResult) -> int:
    """The widest gap in ULP over every pair of the runs (not only against the first)."""
    gaps = [series_difference(a, b) for a, b in itertools.combinations(label.series, 2)]
    return max(_ulps(gap) for gap in gaps)


def _ulps(found: Difference) -> int:
    if found.equal:
        return 0
    assert found.max_ulps is not None, f"a difference with no ULP distance: {found}"
    return found.max_ulps


def gpu_against_cpu(run: Run, case: str, gpu_label: str, cpu_label: str | None = None) -> Difference:
    """A stable GPU value against the stable CPU one (in the same GPU process, or in the CPU
    environment when `cpu_label` is None)."""
    mine = run.label(GPU, case, gpu_label)
    theirs = run.label(GPU, case, cpu_label) if cpu_label else run.label(CPU, case, gpu_label)
    assert mine.stable, f"{case} / {gpu_label} varies on the GPU: no single value to compare"
    assert theirs.stable, f"{case} / {theirs.label} varies: no single value to compare"
    return series_difference(mine.value, theirs.value)


def _max_abs(found: Difference) -> float:
    assert found.max_abs is not None, f"no |Δ|: {found}"
    return float(found.max_abs)


def distinct_in_runs(run: Run, case: str) -> tuple[Measured, Measured]:
    """How many distinct values each label of `case` had on the GPU, and in how many runs."""
    labels = run.labels(GPU, case)
    return _one([label.distinct for label in labels], "distinct"), _one(
        [len(label.series) for label in labels], "runs"
    )


def stable_everywhere(run: Run, case: str, environments: Sequence[str] = (GPU,)) -> bool:
    return all(run.comparison.cell(env, case).state is CellState.STABLE for env in environments)


def varying(run: Run, case: str) -> list[LabelResult]:
    return [label for label in run.labels(GPU, case) if not label.stable]


def bitwise_equal_on_both_gpus(evidence: Evidence) -> bool:
    """Every label stable on both GPUs' runs, in either environment, has the same bits on both."""
    one, other = (run for _, run in sorted(evidence.items()))
    compared = 0
    for environment, case in sorted(one.comparison.keys & other.comparison.keys):
        for label in one.labels(environment, case):
            theirs = other.comparison.cell(environment, case).label(label.label)
            if label.stable and theirs is not None and theirs.stable:
                compared += 1
                if not series_difference(label.value, theirs.value).equal:
                    return False
    return compared > 0


def claims_held(run: Run) -> Measured:
    checks = check_claims(run.results, run.comparison)
    held = [check for check in checks if check.verdict is Verdict.HELD]
    return len(checks) if len(held) == len(checks) else f"{len(held)} of {len(checks)} held"


def shared_gpu_ratio(run: Run, case: str, against: str) -> float:
    """The cost ratio of the main run, repeats side by side: medians of the work the scripts timed."""
    mine = median_seconds(run.results.records_of(GPU, case), work=True)
    theirs = median_seconds(run.results.records_of(GPU, against), work=True)
    assert mine is not None, f"{case}: no work times"
    assert theirs, f"{against}: no work times"
    return mine / theirs


def versions(run: Run) -> Mapping[str, str]:
    line = next(line for line in run.machine.splitlines() if line.startswith("versions: "))
    found: dict[str, str] = json.loads(line.removeprefix("versions: "))
    return found


def cuda_version(run: Run) -> str:
    found = re.search(r"CUDA Version: ([0-9.]+)", run.machine)
    assert found, "machine.txt: no CUDA version"
    return found[1]


def observed(run: Run, framework: str) -> Measured:
    seen = {env.build.observed.version(framework) for env in run.results.environments if env.build.observed}
    return _one([str(version) for version in seen], framework)


def run_counts(run: Run) -> list[tuple[int, int]]:
    """(runs, at once) of each matrix run the command made, from run.log (the lines wrap there)."""
    return [
        (int(runs), int(at_once))
        for runs, at_once in re.findall(r"(\d+) runs, up to\s+(\d+)\s+at\s+once", run.log)
    ]


def command_span_seconds(run: Run) -> Decimal:
    """From the main run's start to the end of the timing run (TIMING.md's header)."""
    found = re.search(r"→ (\S+Z)\.", run.timing)
    assert found, "TIMING.md: no end time in its header"
    start = datetime.fromisoformat(run.results.started)
    return Decimal((datetime.fromisoformat(found[1]) - start).total_seconds())


def unchanged_against(evidence: Evidence, current: str, baseline: str) -> Mapping[Change, int]:
    compared = against_baseline(evidence[current].results, evidence[baseline].results, source=baseline)
    counts: dict[Change, int] = {}
    for cell in compared.cells:
        counts[cell.change] = counts.get(cell.change, 0) + 1
    return counts


# --- reading figures out of the text ------------------------------------------------------------------

#: A figure as written: 8,008 · 2.47 · 1.3e-3 · 580.159.04 · a range 2-3 or 5.65-5.71.
_NUMBER = r"[0-9](?:[0-9.,]*[0-9])?(?:e-?[0-9]+)?(?:-[0-9](?:[0-9.,]*[0-9])?)?"
_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^}]*))?\}")


@dataclass(frozen=True, kw_only=True, eq=False)  # one figure is one sentence: identity, hashable
class Figure:
    """A sentence (or table row) of the text: literal words, and `{name}` for a number or
    `{name:a phrase}` for a verdict the evidence must make true; each name has its measure."""

    template: str
    measures: Mapping[str, Callable[[Evidence], Measured]]

    def pattern(self) -> re.Pattern[str]:
        parts, end = [], 0
        for placeholder in _PLACEHOLDER.finditer(self.template):
            parts.append(_literal(self.template[end : placeholder.start()]))
            name, phrase = placeholder.groups()
            parts.append(f"(?P<{name}>{_NUMBER if phrase is None else _literal(phrase)})")
            end = placeholder.end()
        parts.append(_literal(self.template[end:]))
        return re.compile("".join(parts))

    def names(self) -> list[str]:
        return [placeholder[1] for placeholder in _PLACEHOLDER.finditer(self.template)]


def _literal(text: str) -> str:
    """Words as written; a space is any run of whitespace (the text is wrapped)."""
    return r"\s+".join(re.escape(word) for word in text.split(" "))


def _decimal(shown: str) -> Decimal | None:
    try:
        return Decimal(shown.replace(",", ""))
    except InvalidOperation:
        return None


def _half_unit(number: Decimal) -> Decimal:
    """Half a unit in the last digit written: the most a rounded figure can be off."""
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1).scaleb(exponent) / 2


def agrees(shown: str, measured: Measured) -> bool:
    """Does the figure the text shows say what was measured, to the digits it shows?"""
    if isinstance(measured, bool):
        return measured  # the phrase is a verdict: it agrees when the evidence makes it true
    if isinstance(measured, str):
        return shown == measured
    if isinstance(measured, Span):
        ends = re.fullmatch(r"([0-9.,]+)-([0-9.,]+)", shown)
        low, high = (ends[1], ends[2]) if ends else (shown, shown)
        return agrees(low, measured.low) and agrees(high, measured.high)
    number = _decimal(shown)
    if number is None:
        return False
    if isinstance(measured, AtLeast):
        return number >= measured.value
    if isinstance(measured, int):
        return number == measured
    if isinstance(measured, Rendered):
        # Every value the rendered digits stand for must round to the figure.
        rendered = Decimal(measured.text)
        return abs(rendered - number) + _half_unit(rendered) <= _half_unit(number)
    return abs(Decimal(measured) - number) <= _half_unit(number)


@cache
def measured(figure: Figure, name: str) -> Measured:
    """What the committed evidence says for one placeholder (measured once: the text is read again
    and again, the evidence is not)."""
    return figure.measures[name](load_evidence())


def disagreements(text: str, figures: Sequence[Figure]) -> list[str]:
    problems = []
    for figure in figures:
        found = figure.pattern().search(text)
        if found is None:
            problems.append(
                f"not in the text any more (check it again and change it here): {figure.template!r}"
            )
            continue
        for name in figure.measures:
            if not agrees(found[name], measured(figure, name)):
                problems.append(
                    f"{name}: the text says {found[name]!r}, the evidence {measured(figure, name)!r}"
                )
    return problems


# --- the figures --------------------------------------------------------------------------------------


def _h100(evidence: Evidence) -> Run:
    return evidence["H100"]


def _h200(evidence: Evidence) -> Run:
    return evidence["H200"]


def _both(evidence: Evidence) -> list[Run]:
    return [evidence["H100"], evidence["H200"]]


_INDEX_ADD, _SCATTER_ADD = "index_add_ (first 8 of 64)", "scatter_add_ (first 8 of 64)"
_SEGMENT_SUM = "segment_sum (first 8 of 64)"
_JAX_FIRST_LAYER = "[01] dense_1 output · intermediate"


def _randn(run: Run) -> Difference:
    return gpu_against_cpu(run, "torch_randn", "cuda randn", "cpu randn")


def _forward(run: Run, case: str, marker: str) -> float:
    """The largest |Δ| between GPU and CPU over the forward pass (the layers' outputs)."""
    return max(
        _max_abs(gpu_against_cpu(run, case, label.label))
        for label in run.labels(GPU, case)
        if marker in label.label
    )


def _scatter_det_ulps(run: Run) -> int:
    return max(
        _ulps(gpu_against_cpu(run, "torch_scatter_deterministic", label))
        for label in (_INDEX_ADD, _SCATTER_ADD)
    )


def _bias_gradients_only(run: Run) -> bool:
    names = [label.label for label in varying(run, "jax_trace")]
    return bool(names) and all("['b'] · gradient" in name for name in names)


def _repeats(evidence: Evidence) -> Measured:
    per_cell = [len(run.results.records_of(*key)) for run in _both(evidence) for key in run.comparison.keys]
    return _one([*(run.results.repeats for run in _both(evidence)), *filter(None, per_cell)], "repeats")


README_FIGURES = (
    Figure(
        template="{repeats} fresh processes per cell, GPU hidden and visible) ran on an H100 and an H200 "
        "(CUDA {cuda}, PyTorch {torch}, JAX {jax}, CuPy {cupy}): all {claims} claims held on both",
        measures={
            "repeats": _repeats,
            "cuda": lambda e: _one([cuda_version(run) for run in _both(e)], "CUDA"),
            "torch": lambda e: _one([observed(run, "torch") for run in _both(e)], "PyTorch"),
            "jax": lambda e: _one([observed(run, "jax") for run in _both(e)], "JAX"),
            "cupy": lambda e: _one([versions(run).get("cupy-cuda13x", "?") for run in _both(e)], "CuPy"),
            "claims": lambda e: _one([claims_held(run) for run in _both(e)], "claims"),
        },
    ),
    Figure(
        template="| {stable:each stable}; {differ} of {elements} numbers differ (max \\|Δ\\| {delta}) "
        "| {h200:the same} | confirmed |",
        measures={
            "stable": lambda e: stable_everywhere(_h100(e), "torch_randn", (CPU, GPU)),
            "differ": lambda e: _randn(_h100(e)).differing,
            "elements": lambda e: _randn(_h100(e)).elements,
            "delta": lambda e: _max_abs(_randn(_h100(e))),
            "h200": lambda e: (
                stable_everywhere(_h200(e), "torch_randn", (CPU, GPU))
                and _randn(_h200(e)) == _randn(_h100(e))
            ),
        },
    ),
    Figure(
        template="| {distinct} distinct sums in {runs} runs (up to {ulps} ULP apart); with the switch "
        "{det_stable:stable}, {det_ulps} ULP from the CPU's sum | {h200_distinct} in {h200_runs} "
        "(up to {h200_ulps} ULP); {h200_det:stable with the switch} | confirmed |",
        measures={
            "distinct": lambda e: distinct_in_runs(_h100(e), "torch_scatter")[0],
            "runs": lambda e: distinct_in_runs(_h100(e), "torch_scatter")[1],
            "ulps": lambda e: max(widest_ulps(label) for label in _h100(e).labels(GPU, "torch_scatter")),
            "det_stable": lambda e: stable_everywhere(_h100(e), "torch_scatter_deterministic"),
            "det_ulps": lambda e: _scatter_det_ulps(_h100(e)),
            "h200_distinct": lambda e: distinct_in_runs(_h200(e), "torch_scatter")[0],
            "h200_runs": lambda e: distinct_in_runs(_h200(e), "torch_scatter")[1],
            "h200_ulps": lambda e: max(widest_ulps(label) for label in _h200(e).labels(GPU, "torch_scatter")),
            "h200_det": lambda e: stable_everywhere(_h200(e), "torch_scatter_deterministic"),
        },
    ),
    Figure(
        template="JAX `random.bits`, same key, CPU vs GPU: bitwise equal | {h100:equal} | {h200:equal} "
        "| confirmed |",
        measures={
            "h100": lambda e: gpu_against_cpu(_h100(e), "jax_random", "bits on gpu", "bits on cpu").equal,
            "h200": lambda e: gpu_against_cpu(_h200(e), "jax_random", "bits on gpu", "bits on cpu").equal,
        },
    ),
    Figure(
        template="JAX `random.normal`, CPU vs GPU: equal or one ULP apart | {h100:bitwise equal} "
        "| {h200:bitwise equal} | confirmed ({ulps} ULP) |",
        measures={
            "h100": lambda e: gpu_against_cpu(_h100(e), "jax_random", "normal on gpu", "normal on cpu").equal,
            "h200": lambda e: gpu_against_cpu(_h200(e), "jax_random", "normal on gpu", "normal on cpu").equal,
            "ulps": lambda e: max(
                _ulps(gpu_against_cpu(run, "jax_random", "normal on gpu", "normal on cpu"))
                for run in _both(e)
            ),
        },
    ),
    Figure(
        template="| {distinct} distinct in {runs} (up to {ulps} ULP); {det:stable with the flag} "
        "| {h200_distinct} in {h200_runs} (up to {h200_ulps} ULP); {h200_det:stable with the flag} "
        "| confirmed |",
        measures={
            "distinct": lambda e: distinct_in_runs(_h100(e), "jax_segment_sum")[0],
            "runs": lambda e: distinct_in_runs(_h100(e), "jax_segment_sum")[1],
            "ulps": lambda e: widest_ulps(_h100(e).label(GPU, "jax_segment_sum", _SEGMENT_SUM)),
            "det": lambda e: stable_everywhere(_h100(e), "jax_segment_sum_deterministic"),
            "h200_distinct": lambda e: distinct_in_runs(_h200(e), "jax_segment_sum")[0],
            "h200_runs": lambda e: distinct_in_runs(_h200(e), "jax_segment_sum")[1],
            "h200_ulps": lambda e: widest_ulps(_h200(e).label(GPU, "jax_segment_sum", _SEGMENT_SUM)),
            "h200_det": lambda e: stable_everywhere(_h200(e), "jax_segment_sum_deterministic"),
        },
    ),
    Figure(
        template="CPU vs CUDA: within a few ULP (another summation order) | {h100:bitwise equal} "
        "| {h200:bitwise equal} | confirmed ({ulps} ULP) |",
        measures={
            "h100": lambda e: _model(_h100(e)).equal,
            "h200": lambda e: _model(_h200(e)).equal,
            "ulps": lambda e: max(_ulps(_model(run)) for run in _both(e)),
        },
    ),
    Figure(
        template="without the XLA flag a JAX training step's {bias:bias gradients varied} ({values} values "
        "in "
        "{runs} runs; {torch:PyTorch's did not}); JAX's GPU forward pass is up to {jax} from its CPU one "
        "(TF32 by JAX's docs, untested), PyTorch's {pytorch}; {agree:H100 and H200 agree bit for bit}.",
        measures={
            "bias": lambda e: all(_bias_gradients_only(run) for run in _both(e)),
            "values": lambda e: _span(
                [label.distinct for run in _both(e) for label in varying(run, "jax_trace")]
            ),
            "runs": _repeats,
            "torch": lambda e: all(stable_everywhere(run, "torch_trace") for run in _both(e)),
            "jax": lambda e: max(_forward(run, "jax_trace", "· intermediate") for run in _both(e)),
            "pytorch": lambda e: max(_forward(run, "torch_trace", "· output") for run in _both(e)),
            "agree": bitwise_equal_on_both_gpus,
        },
    ),
    Figure(
        template="Determinism cost ×{torch} (PyTorch), ×{jax} (JAX) on an idle GPU, ×{cpu} on the CPU",
        measures={
            "torch": lambda e: _span(
                [run.timing_ratio("torch_scatter_deterministic", GPU) for run in _both(e)]
            ),
            "jax": lambda e: _span(
                [run.timing_ratio("jax_segment_sum_deterministic", GPU) for run in _both(e)]
            ),
            "cpu": lambda e: _span(
                [
                    run.timing_ratio(case, CPU)
                    for run in _both(e)
                    for case in ("torch_scatter_deterministic", "jax_segment_sum_deterministic")
                ]
            ),
        },
    ),
)


def _model(run: Run) -> Difference:
    return gpu_against_cpu(run, "torch_model", "loss after 20 steps, cuda", "loss after 20 steps, cpu")


GPU_AND_HOST_FIGURES = (
    Figure(
        template="On an H100 the command took {seconds} s ({runs} runs {jobs} at a time, then {alone_runs} "
        "{alone:one at a time}, with `--repeats {repeats} --jobs {jobs_option}`)",
        measures={
            # Only the two matrix runs are timed (unpacking the wheels and probing the machine are not
            # recorded): the evidence bounds the command's time from below.
            "seconds": lambda e: AtLeast(command_span_seconds(_h100(e))),
            "runs": lambda e: run_counts(_h100(e))[0][0],
            "jobs": lambda e: run_counts(_h100(e))[0][1],
            "alone_runs": lambda e: run_counts(_h100(e))[1][0],
            "alone": lambda e: run_counts(_h100(e))[1][1] == 1,
            "repeats": lambda e: _h100(e).results.repeats,
            "jobs_option": lambda e: run_counts(_h100(e))[0][1],
        },
    ),
    Figure(
        template="On the H100 and the H200 all {claims} claims held.",
        measures={"claims": lambda e: _one([claims_held(run) for run in _both(e)], "claims")},
    ),
)


EVIDENCE_README_FIGURES = (
    Figure(
        template="gave {fewest} or {most} different values of each bias gradient in {runs} runs "
        "(up to {h100} "
        "ULP apart on the H100, {h200} on the H200); its {rest:forward pass, loss and weight gradients were "
        "stable}. The same step in PyTorch (`torch_trace`) was {torch:stable in every run}.",
        measures={
            "fewest": lambda e: min(
                label.distinct for run in _both(e) for label in varying(run, "jax_trace")
            ),
            "most": lambda e: max(label.distinct for run in _both(e) for label in varying(run, "jax_trace")),
            "runs": _repeats,
            "h100": lambda e: max(widest_ulps(label) for label in varying(_h100(e), "jax_trace")),
            "h200": lambda e: max(widest_ulps(label) for label in varying(_h200(e), "jax_trace")),
            "rest": lambda e: all(_bias_gradients_only(run) for run in _both(e)),
            "torch": lambda e: all(stable_everywhere(run, "torch_trace") for run in _both(e)),
        },
    ),
    Figure(
        template="JAX up to \\|Δ\\| {jax} ({differ} of {elements} elements differ), PyTorch up to {pytorch}.",
        measures={
            "jax": lambda e: max(
                _max_abs(gpu_against_cpu(run, "jax_trace", _JAX_FIRST_LAYER)) for run in _both(e)
            ),
            "differ": lambda e: _one(
                [gpu_against_cpu(run, "jax_trace", _JAX_FIRST_LAYER).differing for run in _both(e)],
                "differing",
            ),
            "elements": lambda e: _one(
                [gpu_against_cpu(run, "jax_trace", _JAX_FIRST_LAYER).elements for run in _both(e)], "elements"
            ),
            "pytorch": lambda e: max(
                _max_abs(gpu_against_cpu(run, "torch_trace", "[01] 0 (Linear) · output")) for run in _both(e)
            ),
        },
    ),
    Figure(
        template="a float32 `atomicAdd` sum of 2^20 values {every:differed in every run} (up to {ulps} ULP), "
        "`cupy.sum` of the same values {never:never did}.",
        measures={
            "every": lambda e: all(
                len(label.series) == label.distinct
                for run in _both(e)
                for label in [run.label(GPU, "cupy_streams_and_atomics", "atomicAdd sum of 2^20 float32")]
            ),
            "ulps": lambda e: max(
                widest_ulps(run.label(GPU, "cupy_streams_and_atomics", "atomicAdd sum of 2^20 float32"))
                for run in _both(e)
            ),
            "never": lambda e: all(
                run.label(GPU, "cupy_streams_and_atomics", "cupy.sum of the same values").stable
                for run in _both(e)
            ),
        },
    ),
    Figure(
        template="{agree:every stable value, on the CPU and on the GPU, bitwise equal on the two models}.",
        measures={"agree": bitwise_equal_on_both_gpus},
    ),
    Figure(
        template="took ×{h100} (H100) and ×{h200} (H200) the time of the default atomics "
        "(H100: {det} vs {plain} ms for 100 calls); JAX's deterministic `segment_sum` ×{jax_h100} and "
        "×{jax_h200}. With {shared} runs sharing the GPU the PyTorch ratio was ×{shared_h100} and "
        "×{shared_h200}. On the CPU the switches cost "
        "nothing measurable (×{cpu_low} to ×{cpu_high}).",
        measures={
            "h100": lambda e: _h100(e).timing_ratio("torch_scatter_deterministic", GPU),
            "h200": lambda e: _h200(e).timing_ratio("torch_scatter_deterministic", GPU),
            "det": lambda e: Rendered(_timing_ms(_h100(e), "torch_scatter_deterministic")[0]),
            "plain": lambda e: Rendered(_timing_ms(_h100(e), "torch_scatter_deterministic")[1]),
            "jax_h100": lambda e: _h100(e).timing_ratio("jax_segment_sum_deterministic", GPU),
            "jax_h200": lambda e: _h200(e).timing_ratio("jax_segment_sum_deterministic", GPU),
            "shared": lambda e: _one([run_counts(run)[0][1] for run in _both(e)], "at once"),
            "shared_h100": lambda e: shared_gpu_ratio(
                _h100(e), "torch_scatter_deterministic", "torch_scatter"
            ),
            "shared_h200": lambda e: shared_gpu_ratio(
                _h200(e), "torch_scatter_deterministic", "torch_scatter"
            ),
            "cpu_low": lambda e: _cpu_ratios(e).low,
            "cpu_high": lambda e: _cpu_ratios(e).high,
        },
    ),
    Figure(
        template="{unchanged} cells unchanged (every stable value bitwise equal, on the CPU and on the GPU), "
        "{other} not comparable",
        measures={
            "unchanged": lambda e: unchanged_against(e, "H200", "H100").get(Change.UNCHANGED, 0),
            "other": lambda e: _not_comparable_and_nothing_else(unchanged_against(e, "H200", "H100")),
        },
    ),
)


def _not_comparable_and_nothing_else(counts: Mapping[Change, int]) -> Measured:
    others = {change: count for change, count in counts.items() if change is not Change.UNCHANGED}
    if set(others) - {Change.NOT_COMPARABLE}:
        return f"other changes: {others}"
    return others.get(Change.NOT_COMPARABLE, 0)


def _timing_ms(run: Run, case: str) -> tuple[str, str]:
    """The two medians TIMING.md shows on the GPU, in ms: this case's and the other's."""
    row = next(
        line for line in _section(run.timing, "Cost of determinism") if line.startswith(f"| [`{case}`]")
    )
    found = re.search(r"([0-9.]+) ms vs ([0-9.]+) ms \(×[0-9.]+, work\) \|$", row)
    assert found, f"TIMING.md: no GPU times in {row!r}"
    return found[1], found[2]


def _cpu_ratios(evidence: Evidence) -> Span:
    return _span(
        [
            run.timing_ratio(case, CPU)
            for run in _both(evidence)
            for case in ("torch_scatter_deterministic", "jax_segment_sum_deterministic")
        ]
    )


# --- the tests ----------------------------------------------------------------------------------------


def readme_gpu_section() -> str:
    return "\n".join(_section((ROOT / "README.md").read_text(encoding="utf-8"), "On a GPU (measured)"))


TEXTS: dict[str, tuple[Callable[[], str], tuple[Figure, ...]]] = {
    "README.md, On a GPU (measured)": (readme_gpu_section, README_FIGURES),
    "docs/gpu-and-host.md": (
        lambda: (ROOT / "docs" / "gpu-and-host.md").read_text(encoding="utf-8"),
        GPU_AND_HOST_FIGURES,
    ),
    "docs/evidence/README.md": (
        lambda: (EVIDENCE / "README.md").read_text(encoding="utf-8"),
        EVIDENCE_README_FIGURES,
    ),
}


@pytest.mark.parametrize("where", list(TEXTS))
def test_every_gpu_figure_the_text_states_is_what_the_evidence_says(where: str) -> None:
    text, figures = TEXTS[where]
    assert disagreements(text(), figures) == []


@pytest.mark.parametrize("where", list(TEXTS))
def test_every_figure_read_out_of_the_text_has_a_measure(where: str) -> None:
    for figure in TEXTS[where][1]:
        assert sorted(figure.names()) == sorted(figure.measures), figure.template


@pytest.mark.parametrize(
    ("written", "wrong", "problem"),
    [
        ("6 distinct sums in 6 runs", "5 distinct sums in 6 runs", "distinct: the text says '5'"),
        ("up to 8,008 ULP apart", "up to 8,009 ULP apart", "ulps: the text says '8,009'"),
        ("(max \\|Δ\\| 2.47)", "(max \\|Δ\\| 2.57)", "delta: the text says '2.57'"),
        ("is up to 1.3e-3 from", "is up to 1.2e-3 from", "jax: the text says '1.2e-3'"),
        ("PyTorch's 2.4e-7", "PyTorch's 2.4e-8", "pytorch: the text says '2.4e-8'"),
        ("(up to 695 ULP)", "(up to 69 ULP)", "h200_ulps: the text says '69'"),
        ("all 34 claims held", "all 35 claims held", "claims: the text says '35'"),
        ("confirmed (0 ULP) |\n| **never", "confirmed (1 ULP) |\n| **never", "ulps: the text says '1'"),
        # The H200's ratio shown as 5.65 stands for 5.645 to 5.655, which may round to 5.6 as well.
        ("×5.65-5.71 (PyTorch)", "×5.7 (PyTorch)", "torch: the text says '5.7'"),
        ("×1.2-1.3 (JAX)", "×1.2 (JAX)", "jax: the text says '1.2'"),
        ("(2-3\nvalues in 6 runs", "(2-4\nvalues in 6 runs", "values: the text says '2-4'"),
        # A figure the evidence cannot check, or a verdict reworded, is no longer found: read again.
        ("×0.93-1.11 on the CPU", "~×1 on the CPU", "not in the text any more"),
        ("| equal | equal |", "| 1 ULP apart | equal |", "not in the text any more"),
        ("H100 and H200 agree bit for bit", "H100 and H200 differ", "not in the text any more"),
    ],
)
def test_a_figure_the_evidence_does_not_support_is_rejected(written: str, wrong: str, problem: str) -> None:
    text = readme_gpu_section()
    assert written in text, f"the README no longer says {written!r}: falsify another of its figures here"
    assert disagreements(text, README_FIGURES) == []
    found = disagreements(text.replace(written, wrong, 1), README_FIGURES)
    assert len(found) == 1
    assert found[0].startswith(problem)


@pytest.mark.parametrize(
    ("shown", "measured", "expected"),
    [
        ("2.47", 2.465658485889435, True),
        ("2.4", 2.465658485889435, False),
        ("1.3e-3", 0.0013257265090942383, True),
        ("1.4e-3", 0.0013257265090942383, False),
        ("8,008", 8008, True),
        ("8,008", 8007, False),
        ("5.7", Rendered("5.71"), True),
        ("5.7", Rendered("5.65"), False),  # 5.645 to 5.655: it may round to 5.6
        ("5.65", Rendered("5.65"), True),
        ("1.2-1.3", Span(Rendered("1.18"), Rendered("1.32")), True),
        ("1.2-1.3", Span(Rendered("1.18"), Rendered("1.36")), False),
        ("236", AtLeast(Decimal(224)), True),
        ("200", AtLeast(Decimal(224)), False),
        ("2.11.0", "2.11.0", True),
        ("2.11.1", "2.11.0", False),
        ("stable", False, False),
    ],
)
def test_a_figure_agrees_only_to_the_digits_it_shows(shown: str, measured: Measured, expected: bool) -> None:
    assert agrees(shown, measured) is expected


def test_the_gpu_section_says_what_has_never_been_measured() -> None:
    """The evidence is PyTorch, JAX and CuPy on Hopper, with no container: what it does not cover is
    said where the figures are."""
    for text in (readme_gpu_section(), (ROOT / "docs" / "gpu-and-host.md").read_text(encoding="utf-8")):
        flat = " ".join(text.split())
        assert re.search(r"never measured", flat, re.IGNORECASE)
        for missing in (
            "TensorFlow on a GPU",
            "the CUDA image on a GPU",
            "`device_requests`",
            "NVIDIA Container Toolkit",
            "Hopper",
        ):
            assert missing in flat, missing
