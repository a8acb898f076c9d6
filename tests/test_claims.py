"""Claims: each kind, held and failed, on hand-made results; inputs that must never read "held"."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seedmatrix.claims import Verdict, check_claims, ran_on
from seedmatrix.compare import CellState, compare
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.report import Verdicts, derive, render
from seedmatrix.results import Record, Results, RunStatus
from seedmatrix.store import RunDirectory
from seedmatrix.values import Value

from builders import (
    case,
    environment,
    float32_value,
    float64_value,
    int64_value,
    record,
    repeated,
    results,
    unrecordable_value,
)


def verdicts_for(
    claims: dict[str, Any], records: list[Record], environments: int = 1, repeats: int = 3
) -> list[tuple[str, Verdict, str]]:
    names = ["ref", "other"][:environments]
    res = results([environment(n) for n in names], [case("c", claims=claims)], records, repeats=repeats)
    return [(c.environment, c.verdict, c.evidence) for c in check_claims(res, compare(res))]


def steady(values: dict[str, float], environment: str = "ref", repeats: int = 3) -> list[Record]:
    return repeated(environment, "c", [float64_value(label, v) for label, v in values.items()], repeats)


def changing(label: str, numbers: tuple[float, ...] = (1.0, 2.0, 3.0)) -> list[Record]:
    return [record("ref", "c", n, [float64_value(label, x)]) for n, x in enumerate(numbers, start=1)]


def test_stable_held_and_failed() -> None:
    assert verdicts_for({"stable": ["*"]}, steady({"a": 1.0})) == [
        ("ref", Verdict.HELD, "1 label(s) bitwise stable")
    ]
    [(_, verdict, evidence)] = verdicts_for({"stable": ["x*"]}, changing("x1"))
    assert verdict is Verdict.SURPRISE
    assert evidence == "x1: 3 distinct values in 3 repeats"


def test_varies_means_not_all_repeats_identical() -> None:
    assert verdicts_for({"varies": ["x1"]}, changing("x1", (1.0, 1.0, 2.0)))[0][1] is Verdict.HELD
    [(_, verdict, evidence)] = verdicts_for({"varies": ["a"]}, steady({"a": 1.0}))
    assert verdict is Verdict.SURPRISE
    assert evidence == "a: identical in all 3 repeats that recorded it"


def test_varies_every_repeat_needs_a_new_value_in_each() -> None:
    assert verdicts_for({"varies_every_repeat": ["x1"]}, changing("x1"))[0][1] is Verdict.HELD
    [(_, verdict, evidence)] = verdicts_for({"varies_every_repeat": ["x1"]}, changing("x1", (1.0, 1.0, 2.0)))
    assert verdict is Verdict.SURPRISE
    assert evidence == "x1: 2 distinct values in 3 repeats"


@pytest.mark.parametrize("kind", ["stable", "varies", "varies_every_repeat"])
def test_one_repeat_cannot_check_stability(kind: str) -> None:
    [(_, verdict, evidence)] = verdicts_for({kind: ["a"]}, steady({"a": 1.0}, repeats=1), repeats=1)
    assert verdict is Verdict.UNCHECKED
    assert evidence == "a: one repeat: stability cannot be checked"


def test_a_pattern_that_matches_nothing_is_a_surprise_not_a_pass() -> None:
    [(_, verdict, evidence)] = verdicts_for({"stable": ["typo*"]}, steady({"a": 1.0}))
    assert verdict is Verdict.SURPRISE
    assert evidence == "no recorded label matches 'typo*'"


def test_equal_with_placeholders_held_and_failed() -> None:
    same = steady({"Session 1 op1": 0.5, "Session 2 op1": 0.5, "Session 1 op2": 0.25, "Session 2 op2": 0.25})
    assert verdicts_for({"equal": {"Session 2 {op}": "Session 1 {op}"}}, same)[0][1] is Verdict.HELD
    different = steady({"Session 1 op1": 0.5, "Session 2 op1": 0.75})
    [(_, verdict, evidence)] = verdicts_for({"equal": {"Session 2 {op}": "Session 1 {op}"}}, different)
    assert verdict is Verdict.SURPRISE
    assert evidence.startswith("Session 2 op1 ≠ Session 1 op1 in repeat 1: 1 of 1 element(s), max |Δ| 0.25, ")


@pytest.mark.parametrize("kind", ["equal", "differ"])
def test_equal_and_differ_do_not_hold_over_a_repeat_where_a_label_is_missing(kind: str) -> None:
    """Before: a repeat without the label was skipped, and the claim held."""
    values = {"a": 1.0, "b": 1.0 if kind == "equal" else 2.0}
    records = steady(values)
    records[1] = record("ref", "c", 2, [float64_value("b", values["b"])])  # `a` missing in repeat 2
    [(_, verdict, evidence)] = verdicts_for({kind: {"a": "b"}}, records)
    assert verdict is Verdict.SURPRISE
    assert evidence == "'a' was not recorded in repeat 2"


def test_stable_over_a_label_missing_from_a_repeat_is_a_surprise() -> None:
    records = steady({"a": 1.0})
    records[2] = record("ref", "c", 3, [float64_value("other", 1.0)])
    [(_, verdict, evidence)] = verdicts_for({"stable": ["a"]}, records)
    assert (verdict, evidence) == (Verdict.SURPRISE, "a: missing in repeat 3")


def test_differ_held_and_failed() -> None:
    assert (
        verdicts_for({"differ": {"call 2": "call 1"}}, steady({"call 1": 1.0, "call 2": 2.0}))[0][1]
        is Verdict.HELD
    )
    [(_, verdict, evidence)] = verdicts_for(
        {"differ": {"call 2": "call 1"}}, steady({"call 1": 1.0, "call 2": 1.0})
    )
    assert verdict is Verdict.SURPRISE
    assert evidence == "call 2 = call 1 in repeat 1"


def test_same_across_environments_held_and_failed_with_ulps() -> None:
    held = verdicts_for(
        {"same_across_environments": ["*"]}, steady({"x": 0.5}, "ref") + steady({"x": 0.5}, "other"), 2
    )
    assert [v for _, v, _ in held] == [Verdict.HELD, Verdict.HELD]
    next_up = struct.unpack(">d", struct.pack(">Q", struct.unpack(">Q", struct.pack(">d", 0.5))[0] + 2))[0]
    checks = verdicts_for(
        {"same_across_environments": ["*"]}, steady({"x": 0.5}, "ref") + steady({"x": next_up}, "other"), 2
    )
    assert checks[1][1] is Verdict.SURPRISE
    assert checks[1][2] == "x: differs from ref: 1 of 1 element(s), max |Δ| 2.22e-16, 2 ULP"


def test_same_across_environments_is_unchecked_when_the_reference_has_no_values() -> None:
    crashed = [record("ref", "c", n, [], status=RunStatus.ERROR) for n in (1, 2, 3)]
    checks = verdicts_for({"same_across_environments": ["*"]}, crashed + steady({"x": 0.5}, "other"), 2)
    assert checks[0][:2] == ("ref", Verdict.UNCHECKED)
    assert checks[1][:2] == ("other", Verdict.UNCHECKED)
    assert "the reference has no values for this case (error)" in checks[1][2]


def test_same_as_case_held_and_failed() -> None:
    def run(other_value: float) -> list[tuple[str, Verdict]]:
        res = results(
            [environment("ref")],
            [case("one"), case("two", claims={"same_as_case": "one"})],
            repeated("ref", "one", [float32_value("sum", 1.5)])
            + repeated("ref", "two", [float32_value("sum", other_value)]),
        )
        return [(c.case, c.verdict) for c in check_claims(res, compare(res))]

    assert run(1.5) == [("two", Verdict.HELD)]
    assert run(1.25) == [("two", Verdict.SURPRISE)]


def test_claims_of_a_failed_cell_are_unchecked_not_held() -> None:
    crashed = [record("ref", "c", 1, [], status=RunStatus.ERROR, stderr_tail="boom")]
    assert verdicts_for({"stable": ["*"]}, crashed) == [("ref", Verdict.UNCHECKED, "cell is error")]


def test_claims_on_a_value_that_could_not_be_recorded_are_unchecked() -> None:
    odd = Value(label="obj", dtype="unrecordable", shape=(), bits=(), values=(), note="cannot record a Foo")
    for kind in ("stable", "varies"):
        recorded = float32_value("y", 1.0)  # a cell with no value recorded at all is ❓ bad output
        [(_, verdict, evidence)] = verdicts_for({kind: ["obj"]}, repeated("ref", "c", [odd, recorded]))
        assert verdict is Verdict.UNCHECKED
        assert "could not be recorded (cannot record a Foo)" in evidence


@pytest.mark.parametrize("device", [{}, {"kind": "unknown", "detail": "the device report failed"}])
def test_device_claims_are_unchecked_where_the_device_is_unknown(device: dict[str, str]) -> None:
    res = results(
        [environment("ref")],
        [
            case(
                "c",
                claims={"stable": ["*"]},
                claims_on_cpu={"stable": ["*"]},
                claims_on_gpu={"varies": ["*"]},
            )
        ],
        [record("ref", "c", n, [float64_value("x", 1.0)], device=device) for n in (1, 2, 3)],
    )
    checks = check_claims(res, compare(res))
    assert [(c.kind, c.verdict) for c in checks] == [
        ("stable", Verdict.HELD),
        ("stable", Verdict.UNCHECKED),
        ("varies", Verdict.UNCHECKED),
    ]
    assert checks[1].evidence == "claims on the CPU: the device that ran is unknown"


def sample_with_surprise() -> Results:
    return results(
        [environment("ref")], [case("c", claims={"stable": ["x*"], "varies": ["x1"]})], changing("x1")
    )


def test_report_lists_surprises_first_and_marks_the_cell() -> None:
    res = sample_with_surprise()
    comparison = compare(res)
    markdown = render(res, Verdicts(comparison=comparison, claims=check_claims(res, comparison)))
    assert "**Claims:** 1 held, 1 SURPRISE." in markdown
    assert markdown.index("## Surprises") < markdown.index("## Matrix")
    assert "- ❗ **ref** · [`c`](#case-c) · `stable: x*`: x1: 3 distinct values in 3 repeats" in markdown
    assert "| [`c`](#case-c) | 🎲 · 1 of 1 vary ❗ SURPRISE |" in markdown  # nothing compared: no letter
    assert "| varies: `x1` | ✔ |" in markdown


@pytest.mark.parametrize(("report_only", "status"), [(False, 1), (True, 0)])
def test_a_surprise_fails_the_exit_status_unless_report_only(
    tmp_path: Path, report_only: bool, status: int
) -> None:
    run = RunDirectory.create(tmp_path)
    run.save_results(sample_with_surprise())
    assert report_job([run.path], Output(env={}), report_only=report_only) == status
    assert "SURPRISE" in run.matrix_file.read_text(encoding="utf-8")


def test_held_claims_exit_zero(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path)
    run.save_results(results([environment("ref")], [case("c", claims={"stable": ["*"]})], steady({"a": 1.0})))
    assert report_job([run.path], Output(env={})) == 0


def test_same_as_case_when_the_other_case_did_not_run_is_unchecked() -> None:
    res = results(
        [environment("ref")],
        [case("two", claims={"same_as_case": "one"})],
        repeated("ref", "two", [float32_value("sum", 1.5)]),
    )
    [check] = check_claims(res, compare(res))
    assert (check.verdict, check.evidence) == (Verdict.UNCHECKED, "one was not in this run")


def test_report_follows_the_runs_fail_on_surprise_setting(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path)
    run.save_results(dataclasses.replace(sample_with_surprise(), fail_on_surprise=False))
    assert report_job([run.path], Output(env={})) == 0


def ulps_up(number: float, steps: int) -> float:
    bits = struct.unpack(">Q", struct.pack(">d", number))[0]
    return float(struct.unpack(">d", struct.pack(">Q", bits + steps))[0])


def test_stable_within_a_tolerance_is_held_and_kept_apart_from_bitwise() -> None:
    wobbly = [record("ref", "c", n, [float64_value("loss", ulps_up(0.5, n))]) for n in (1, 2, 3)]
    checks = verdicts_for({"stable": ["loss"], "stable_within": {"loss": {"ulps": 4}}}, wobbly)
    assert [verdict for _, verdict, _ in checks] == [Verdict.SURPRISE, Verdict.HELD]
    assert checks[1][2] == "1 label(s) within 4 ULP"
    [(_, verdict, evidence)] = verdicts_for({"stable_within": {"loss": {"ulps": 1}}}, wobbly)
    assert verdict is Verdict.SURPRISE
    assert evidence == "loss: repeat 3 vs repeat 1: 2 ULP apart at [] (more than 1)"
    res = results([environment("ref")], [case("c", claims={"stable_within": {"loss": {"ulps": 4}}})], wobbly)
    comparison = compare(res)
    markdown = render(res, Verdicts(comparison=comparison, claims=check_claims(res, comparison)))
    assert "**Claims:** 1 held (0 bitwise, 1 within a tolerance), 0 SURPRISES." in markdown
    assert "| ≈ stable within: `loss within 4 ULP` | ≈ ✔ |" in markdown


def test_an_absolute_and_relative_tolerance() -> None:
    near = steady({"x": 1.0}) + steady({"x": 1.0 + 5e-7}, "other")
    held = verdicts_for({"close_to_reference": {"x": {"atol": 1e-6}}}, near, 2)
    assert [verdict for _, verdict, _ in held] == [Verdict.HELD, Verdict.HELD]
    [_, (_, verdict, evidence)] = verdicts_for({"close_to_reference": {"x": {"rtol": 1e-7}}}, near, 2)
    assert verdict is Verdict.SURPRISE
    assert evidence.startswith("x: repeat 1: |Δ| 5e-07 at [] (more than 1e-07)")


def test_nan_is_never_close_to_a_number() -> None:
    nan = float("nan")
    [_, (_, verdict, evidence)] = verdicts_for(
        {"close_to_reference": {"x": {"atol": 1e9}}}, steady({"x": 1.0}) + steady({"x": nan}, "other"), 2
    )
    assert verdict is Verdict.SURPRISE
    assert "NaN vs 1.0" in evidence


def test_long_doubles_of_two_platforms_are_not_checked_against_a_tolerance() -> None:
    """x87 against IEEE quad (runs merged from two machines): no distance means anything, so not a
    SURPRISE either (before: a SURPRISE saying 'not comparable')."""
    x87, quad = "3ffdaaaaaaaaaaaaaaab", "3ffd5555555555555555555555555555"

    def third(bits: str) -> Value:
        return Value(label="x", dtype="longdouble", shape=(), bits=(bits,), values=(1 / 3,))

    records = repeated("ref", "c", [third(x87)]) + repeated("other", "c", [third(quad)])
    [_, (_, verdict, evidence)] = verdicts_for({"close_to_reference": {"x": {"atol": 1.0}}}, records, 2)
    assert verdict is Verdict.UNCHECKED
    assert evidence == "x: repeat 1: longdouble IEEE quadruple vs x87 80-bit: not comparable"


def test_close_to_reference_is_unchecked_when_the_reference_has_no_values() -> None:
    crashed = [record("ref", "c", n, [], status=RunStatus.ERROR) for n in (1, 2, 3)]
    checks = verdicts_for(
        {"close_to_reference": {"x": {"ulps": 2}}}, crashed + steady({"x": 0.5}, "other"), 2
    )
    assert checks[1][1:] == (Verdict.UNCHECKED, "x: the reference has no values for this case")


def test_close_pairs_labels_of_one_run_within_a_tolerance_and_says_how_far() -> None:
    """A CPU and a GPU result in the same run: held within the tolerance, with the measured distance."""
    records = steady({"loss, cpu": 0.5, "loss, cuda": ulps_up(0.5, 3)})
    [(_, verdict, evidence)] = verdicts_for(
        {"close": {"loss, cuda": {"to": "loss, cpu", "ulps": 4}}}, records
    )
    assert verdict is Verdict.HELD
    assert evidence == "loss, cuda vs loss, cpu: 1 of 1 element(s), max |Δ| 3.33e-16, 3 ULP"
    [(_, verdict, evidence)] = verdicts_for(
        {"close": {"loss, cuda": {"to": "loss, cpu", "ulps": 2}}}, records
    )
    assert verdict is Verdict.SURPRISE
    assert evidence == "loss, cuda vs loss, cpu, repeat 1: 3 ULP apart at [] (more than 2)"
    same = steady({"bits {device}": 1.0, "x on gpu": 1.0, "x on cpu": 1.0})
    held = verdicts_for({"close": {"x on {d}": {"to": "x on cpu", "ulps": 0}}}, same)
    assert held[0][1:] == (Verdict.HELD, "x on gpu vs x on cpu: bitwise equal")


def test_close_reports_the_widest_repeat_and_never_holds_over_a_missing_label() -> None:
    records = [
        record("ref", "c", n, [float64_value("cpu", 0.5), float64_value("gpu", ulps_up(0.5, n))])
        for n in (1, 2, 3)
    ]
    [(_, verdict, evidence)] = verdicts_for({"close": {"gpu": {"to": "cpu", "ulps": 8}}}, records)
    assert (verdict, evidence.endswith("3 ULP")) == (Verdict.HELD, True)
    records[1] = record("ref", "c", 2, [float64_value("cpu", 0.5)])
    [(_, verdict, evidence)] = verdicts_for({"close": {"gpu": {"to": "cpu", "ulps": 8}}}, records)
    assert (verdict, evidence) == (Verdict.SURPRISE, "'gpu' was not recorded in repeat 2")
    [(_, verdict, evidence)] = verdicts_for(
        {"close": {"gpu": {"to": "absent", "ulps": 8}}}, steady({"gpu": 1.0})
    )
    assert (verdict, evidence) == (Verdict.SURPRISE, "'absent' was not recorded")


def test_differ_says_how_far_apart_the_pair_is() -> None:
    [(_, verdict, evidence)] = verdicts_for(
        {"differ": {"cuda": "cpu"}}, steady({"cpu": 0.5, "cuda": ulps_up(0.5, 2)})
    )
    assert verdict is Verdict.HELD
    assert (
        evidence
        == "1 pair(s) different in every repeat (cuda vs cpu: 1 of 1 element(s), max |Δ| 2.22e-16, 2 ULP)"
    )


@pytest.mark.parametrize("kind", ["equal", "differ", "close"])
def test_a_label_paired_with_itself_proves_nothing(kind: str) -> None:
    """`x on {d}` → `x on cpu` where the GPU label was never shown (no CUDA): the only match is the
    CPU label itself. Before, `equal` and `close` held on it ("x on cpu vs x on cpu")."""
    template: object = {"to": "x on cpu", "ulps": 0} if kind == "close" else "x on cpu"
    [(_, verdict, evidence)] = verdicts_for({kind: {"x on {d}": template}}, steady({"x on cpu": 1.0}))
    assert (verdict, evidence) == (
        Verdict.SURPRISE,
        "no recorded label other than its pair matches 'x on {d}'",
    )
    [(_, verdict, _)] = verdicts_for({kind: {"x": template if kind != "close" else {"to": "x", "ulps": 0}}},
                                      steady({"x": 1.0}))  # fmt: skip
    assert verdict is Verdict.SURPRISE


def test_the_distance_shown_is_the_widest_occurrence_of_a_label_shown_several_times() -> None:
    """A loss per epoch, 1 ULP apart in epoch 1 and 50 in epoch 2: the evidence says 50."""
    records = [
        record(
            "ref",
            "c",
            n,
            [
                float64_value("cpu", 0.5),
                float64_value("gpu", ulps_up(0.5, 1)),
                float64_value("cpu", 0.25),
                float64_value("gpu", ulps_up(0.25, 50)),
            ],
        )
        for n in (1, 2, 3)
    ]
    [(_, verdict, evidence)] = verdicts_for({"close": {"gpu": {"to": "cpu", "ulps": 64}}}, records)
    assert verdict is Verdict.HELD
    assert evidence.endswith("50 ULP, occurrence 2 of 2")
    [(_, verdict, evidence)] = verdicts_for({"differ": {"gpu": "cpu"}}, records)
    assert "50 ULP, occurrence 2 of 2" in evidence


def test_integers_far_apart_in_a_later_repeat_are_the_widest() -> None:
    def ints(n: int, gap: int) -> Record:
        return record("ref", "c", n, [int64_value("a", 1000), int64_value("b", 1000 + gap)])

    [(_, verdict, evidence)] = verdicts_for(
        {"close": {"b": {"to": "a", "atol": 1000}}}, [ints(1, 1), ints(2, 100), ints(3, 2)]
    )
    assert verdict is Verdict.HELD
    assert evidence == "b vs a: 1 of 1 element(s), max |Δ| 100"


JAX_ON_GPU_TORCH_ON_CPU: dict[str, Any] = {
    "detail": "torch: CPU (PyTorch sees no GPU); jax: GPU (1 × H100, driver 550.54)",
    "framework": "torch, jax",
    "frameworks": {
        "torch": {"kind": "CPU", "detail": "PyTorch sees no GPU", "framework": "torch"},
        "jax": {"kind": "GPU", "detail": "1 × H100, driver 550.54", "framework": "jax"},
    },
}


@pytest.mark.parametrize("kind", ["mixed", "CPU", "GPU"])
def test_frameworks_that_disagree_on_the_device_leave_it_unknown(kind: str) -> None:
    """Before: one framework's device stood for the run (the first imported: a JAX run on the GPU
    with torch merely imported read "ran on CPU"), whatever the others said."""
    device = {**JAX_ON_GPU_TORCH_ON_CPU, "kind": kind}
    records = [record("gpu", "c", n, [float64_value("x", 1.0)], device=device) for n in (1, 2, 3)]
    assert ran_on(records) is None
    res = results(
        [environment("gpu", device="gpu")],
        [case("c", claims_on_cpu={"stable": ["*"]}, claims_on_gpu={"stable": ["*"]})],
        records,
    )
    comparison = compare(res)
    cell = comparison.cell("gpu", "c")
    assert cell.state is CellState.DEVICE_UNKNOWN
    assert "torch: CPU" in cell.detail
    assert "jax: GPU" in cell.detail
    assert all(check.verdict is Verdict.UNCHECKED for check in check_claims(res, comparison))


def test_frameworks_that_agree_on_the_gpu_ran_on_it_and_an_older_single_report_still_reads() -> None:
    both_on_gpu = {
        "kind": "GPU",
        "detail": "torch: GPU (1 × H100); jax: GPU (1 × H100)",
        "framework": "torch, jax",
        "frameworks": {
            "torch": {"kind": "GPU", "detail": "1 × H100", "framework": "torch"},
            "jax": {"kind": "GPU", "detail": "1 × H100", "framework": "jax"},
        },
    }
    older = {"kind": "GPU", "framework": "jax", "detail": "1 × H100, driver 550.54"}
    for device in (both_on_gpu, older):
        assert ran_on([record("gpu", "c", n, [], device=device) for n in (1, 2)]) == "GPU"
    cpu_and_fallback = {
        "kind": "CPU fallback",
        "frameworks": {"torch": {"kind": "CPU fallback"}, "jax": {"kind": "CPU"}},
    }
    assert ran_on([record("e", "c", 1, [], device=cpu_and_fallback)]) == "CPU"


NOT_WRITTEN = Value(label="", dtype="not-written", shape=(), bits=(), values=(), note="not written")


def unwritten(label: str) -> Value:
    return dataclasses.replace(NOT_WRITTEN, label=label)


@pytest.mark.parametrize("kind", ["stable", "varies", "varies_every_repeat"])
def test_a_value_recorded_in_one_repeat_only_is_not_counted_distinct_or_stable(kind: str) -> None:
    """Before: 1.0 in repeat 1, unrecordable in repeat 2 held `varies` and `varies_every_repeat`."""
    records = [
        record("ref", "c", 1, [float64_value("x", 1.0)]),
        record("ref", "c", 2, [unrecordable_value("x")]),
    ]
    [(_, verdict, evidence)] = verdicts_for({kind: ["x"]}, records, repeats=2)
    assert (verdict, evidence) == (Verdict.UNCHECKED, "x: not recorded in repeat 2 (cannot record a Foo)")


def test_what_the_recorded_repeats_show_still_decides_beside_an_unrecorded_one() -> None:
    def three(*first: float) -> list[Record]:
        shown = [[float64_value("x", n)] for n in first] + [[unrecordable_value("x")]]
        return [record("ref", "c", n, values) for n, values in enumerate(shown, start=1)]

    assert verdicts_for({"varies": ["x"]}, three(1.0, 2.0))[0][1] is Verdict.HELD
    assert verdicts_for({"stable": ["x"]}, three(1.0, 2.0))[0][1] is Verdict.SURPRISE
    [(_, verdict, evidence)] = verdicts_for({"varies_every_repeat": ["x"]}, three(1.0, 1.0))
    assert (verdict, evidence) == (Verdict.SURPRISE, "x: repeats 1 and 2 are identical")
    assert verdicts_for({"varies_every_repeat": ["x"]}, three(1.0, 2.0))[0][1] is Verdict.UNCHECKED


@pytest.mark.parametrize("missing", [unrecordable_value, unwritten])
@pytest.mark.parametrize(
    ("claims", "first_b"),
    [
        ({"equal": {"a": "b"}}, 1.0),
        ({"close": {"a": {"to": "b", "ulps": 1}}}, 1.0),
        ({"differ": {"a": "b"}}, 2.0),
    ],
)
def test_pairs_with_a_value_not_recorded_are_not_checked(
    claims: dict[str, Any], first_b: float, missing: Callable[[str], Value]
) -> None:
    """Before: two unrecordable values (or two outputs not written) paired up as bitwise equal:
    `equal` and `close` held, and `differ` was a SURPRISE."""
    records = [
        record("ref", "c", 1, [float64_value("a", 1.0), float64_value("b", first_b)]),
        record("ref", "c", 2, [missing("a"), missing("b")]),
    ]
    [(_, verdict, evidence)] = verdicts_for(claims, records, repeats=2)
    assert verdict is Verdict.UNCHECKED
    assert evidence.startswith("a vs b, repeat 2: not recorded")


def test_the_reference_does_not_hold_same_across_environments_for_a_value_it_could_not_record() -> None:
    """Before: "held: this is the reference environment", whatever the reference recorded."""
    records = repeated("ref", "c", [unrecordable_value("x"), float64_value("y", 1.0)])
    records += repeated("other", "c", [unrecordable_value("x"), float64_value("y", 1.0)])
    verdicts = verdicts_for({"same_across_environments": ["*"]}, records, environments=2)
    assert verdicts == [
        ("ref", Verdict.UNCHECKED, "x: could not be recorded (cannot record a Foo)"),
        ("other", Verdict.UNCHECKED, "x: could not be recorded"),
    ]
    assert verdicts_for({"same_across_environments": ["y"]}, records, environments=2)[0][1] is Verdict.HELD


def test_integers_beyond_float_range_in_differ_and_close_claims() -> None:
    """Before: `differ` on integers beyond float range raised OverflowError (and so did the report)."""
    huge = 1 << 4096
    res = results(
        [environment("ref")],
        [case("c", claims={"differ": {"a": "b"}, "close": {"a": {"to": "b", "ulps": 0}}})],
        repeated("ref", "c", [int64_value("a", huge), int64_value("b", 0)]),
    )
    comparison = compare(res)
    checks = check_claims(res, comparison)
    assert [(c.kind, c.verdict) for c in checks] == [("differ", Verdict.HELD), ("close", Verdict.SURPRISE)]
    assert "max |Δ| 1.04e+1233" in checks[0].evidence
    assert "1.04e+1233" in render(res, derive(res))


def test_close_to_reference_is_not_checked_against_a_reference_that_varies() -> None:
    """The reference shows 1.0, 5.0, 5.0; 'other' shows 1.0 every time. Before: held (atol 0.1), as
    only the reference's first repeat was looked at."""
    reference = [record("ref", "c", n, [float64_value("x", v)]) for n, v in ((1, 1.0), (2, 5.0), (3, 5.0))]
    [_, (_, verdict, evidence)] = verdicts_for(
        {"close_to_reference": {"x": {"atol": 0.1}}}, reference + steady({"x": 1.0}, "other"), 2
    )
    assert verdict is Verdict.UNCHECKED
    assert evidence.startswith("x: varies in the reference")


def test_varies_every_repeat_does_not_hold_for_a_label_missing_from_a_repeat() -> None:
    """Before: x differs between repeats 1 and 3 and is not shown in repeat 2; the pairs are built
    from the repeats that showed x only, so the claim held although repeat 2 gave no value."""
    y = float32_value("y", 1.0)
    records = [
        record("a", "c", 1, [float32_value("x", 1.0), y]),
        record("a", "c", 2, [y]),
        record("a", "c", 3, [float32_value("x", 2.0), y]),
    ]
    run = results([environment("a")], [case("c", claims={"varies_every_repeat": ["x"]})], records)
    (found,) = check_claims(run, compare(run))
    assert (found.verdict, found.evidence) == (Verdict.SURPRISE, "x: missing in repeat 2")
