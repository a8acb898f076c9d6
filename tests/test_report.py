"""MATRIX.md rendering: what a person reads, from hand-made results; hostile text cannot break it."""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from seedmatrix.claims import check_claims
from seedmatrix.compare import CellState, compare
from seedmatrix.log import Output
from seedmatrix.pipeline import report_job
from seedmatrix.report import STATES, WIDE, Verdicts, derive, format_value, legend, render
from seedmatrix.results import BuildStatus, Record, Results, RunStatus
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


def sample() -> str:
    near = struct.unpack(">f", bytes.fromhex(f"{int(struct.pack('>f', -1.25).hex(), 16) + 3:08x}"))[0]
    res = results(
        [
            environment("ref"),
            environment("drift"),
            environment("numpy-only", frameworks=("numpy",)),
            environment(
                "broken", build=BuildStatus.FAILED, error="building broken failed: no matching distribution"
            ),
        ],
        [case("seed_random", claim="Values 4-6 equal 1-3."), case("tf", requires=("tensorflow",))],
        repeated("ref", "seed_random", [float64_value("1", 0.8444218515250481)])
        + repeated("drift", "seed_random", [float64_value("1", 0.8444218515250481)])
        + repeated("numpy-only", "seed_random", [float64_value("1", 0.8444218515250481)])
        + [
            record("ref", "tf", n, [float32_value("op1-1", n * 0.5), float32_value("op2-1", -1.25)])
            for n in (1, 2, 3)
        ]
        + [
            record("drift", "tf", n, [float32_value("op1-1", n * 0.25), float32_value("op2-1", near)])
            for n in (1, 2, 3)
        ],
    )
    return render(res, Verdicts(comparison=compare(res)))


def table_row(markdown: str, first_cell: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {first_cell}"))
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))]


def test_summary_comes_first_and_counts_the_cells() -> None:
    markdown = sample()
    assert markdown.startswith("# Seed reproducibility matrix\n")
    summary = next(line for line in markdown.splitlines() if line.startswith("**Summary:**"))
    assert "5 cells ran: 3 stable and bitwise equal to the reference" in summary
    assert "0 stable but different from the reference, 2 varying between repeats" in summary
    assert "2 did not complete (2 build-failed)" in summary
    assert markdown.index("**Summary:**") < markdown.index("## Matrix") < markdown.index("## Environments")


def test_matrix_row_has_a_symbol_and_group_per_environment() -> None:
    markdown = sample()
    assert table_row(markdown, "case") == ["case", "ref (reference)", "drift", "numpy-only", "broken"]
    assert table_row(markdown, "[`seed_random`]")[1:] == ["✅ A", "✅ A", "✅ A", "🧱 build-failed"]
    assert table_row(markdown, "[`tf`]")[1:] == [
        "🎲 A · 1 of 2 vary",
        "🎲 B · 1 of 2 vary",
        "➖ not-applicable",
        "🧱 build-failed",
    ]


def test_the_legend_lists_exactly_the_symbols_this_matrix_uses() -> None:
    """The legend follows the matrix: a symbol that is not used is not explained, one that is, is."""
    markdown = sample()
    legend_block = markdown[markdown.index("<sub>") : markdown.index("</sub>")]
    used = {"✅", "🎲", "➖", "🧱"}
    for state, (symbol, meaning) in STATES.items():
        assert (f"{symbol} {meaning}" in legend_block) is (symbol in used), state
    matrix_block = markdown[markdown.index("## Matrix") : markdown.index("<sub>")]
    symbols_in_cells = {
        cell.split()[0]
        for line in matrix_block.splitlines()[4:]
        if line.startswith("| [")
        for cell in table_row(line, "[")[1:]
    }
    assert symbols_in_cells == used


def test_the_legend_explains_claim_marks_only_when_claims_were_checked() -> None:
    res = results(
        [environment("e")],
        [case("c", claims={"stable": ["*"]})],
        repeated("e", "c", [float64_value("x", 1.0)]),
    )
    comparison = compare(res)
    with_claims = dict(
        legend(comparison, Verdicts(comparison=comparison, claims=check_claims(res, comparison)))
    )
    without = dict(legend(comparison, Verdicts(comparison=comparison)))
    assert "✔" in with_claims
    assert "✔" not in without
    assert "❗" not in with_claims


def test_details_show_full_precision_values_and_distances() -> None:
    markdown = sample()
    assert "✅ `0.8444218515250481`" in markdown
    op2 = table_row(markdown, "`op2-1`")
    assert op2[1] == "✅ `[-1.25]`"
    assert re.fullmatch(
        r"✅ ≠ reference: `\[-1\.25000\d+\]`, 1 of 1 element\(s\), max \\\|Δ\\\| 3\.58e-07, 3 ULP", op2[2]
    )
    assert table_row(markdown, "`op1-1`")[1] == "🎲 3 distinct in 3 repeats"
    assert "> **Claim:** Values 4-6 equal 1-3." in markdown


def test_environment_table_shows_observed_versions_and_the_build_failure() -> None:
    markdown = sample()
    header = table_row(markdown, "environment")
    row = dict(zip(header, table_row(markdown, "ref (reference)"), strict=True))
    assert row["base"] == "Debian bookworm"
    assert (row["Python"], row["NumPy"], row["TensorFlow"]) == ("3.11.2", "2.0.2", "tensorflow-cpu 2.18.1")
    assert row["device that ran"] == "CPU (TensorFlow sees no GPU)"
    assert row["size"] == "1.23 GB"
    broken = dict(zip(header, table_row(markdown, "broken"), strict=True))
    assert broken["Python"] == "—"
    assert "log `results/build-logs/broken.log`" in broken["build"]
    assert "**broken**: building broken failed: no matching distribution" in markdown


def test_errors_show_the_last_line_of_stderr() -> None:
    res = results(
        [environment("e")],
        [case("c")],
        [record("e", "c", 1, [], status=RunStatus.ERROR, stderr_tail="Traceback ...\nImportError: no numpy")],
    )
    comparison = compare(res)
    assert comparison.cell("e", "c").state is CellState.ERROR
    markdown = render(res, Verdicts(comparison=comparison))
    assert "💥 **e**: repeat 1 exited 1: ImportError: no numpy" in markdown
    assert "--- stderr (tail) ---" in markdown


def test_format_value_keeps_every_digit_and_shortens_long_arrays() -> None:
    assert format_value(float64_value("x", 0.1)) == "0.1"
    assert format_value(float64_value("x", 1 / 3)) == "0.3333333333333333"
    assert format_value(float32_value("x", 0.1)) == "[0.10000000149011612]"
    many = float32_value("x", *[float(n) for n in range(20)])
    assert format_value(many) == "[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, … 20 values]"


# Hostile labels, values and output: every one must leave MATRIX.md's structure intact.
HOSTILE_LABELS = [
    "pipe | in | label",
    "back`tick``s",
    "new\nline\r\nand\u2028separator",
    "```\nfence in a label",
    "</details><details>",
    "<script>alert(1)</script>",
    "# not a heading",
    "\\|escaped already",
    " ",
]
HOSTILE_OUTPUT = "\n".join(
    [
        "```",
        "~~~",
        "````python",
        "</details>",
        "| a | b |",
        "<details><summary>x</summary>",
        "# heading?",
        "x" * 5000,
    ]
)


def hostile_results() -> Results:
    big = float32_value("big", *[float(n % 97) for n in range(100_000)])
    strings = Value(
        label="string value", dtype="str", shape=(2,), bits=("a|b`c", "x\ny"), values=("a|b`c", "x\ny")
    )
    values = [float64_value(label, float(n)) for n, label in enumerate(HOSTILE_LABELS)] + [big, strings]
    records = [
        record(env, "c", n, values, stderr_tail="```\n</details>\n| x |")
        for env in ("ref", "other")
        for n in (1, 2, 3)
    ]
    records = [
        r if r.environment == "ref" else type(r)(**{**r.__dict__, "output": HOSTILE_OUTPUT}) for r in records
    ]
    return results(
        [environment("ref"), environment("other")],
        [
            case(
                "c",
                claim="a claim with | pipes and `ticks` and\nnew lines",
                claims={"stable": ["pipe | in*"], "varies": ["*"]},
            )
        ],
        records,
    )


def tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Each table as rows of cell texts, from the parsed document."""
    found: list[list[list[str]]] = []
    row: list[str] = []
    cell = False
    for token in tokens:
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in {"th_open", "td_open"}:
            cell = True
        elif token.type in {"th_close", "td_close"}:
            cell = False
        elif token.type == "inline" and cell:
            row.append(token.content)
        elif token.type == "tr_close":
            found[-1].append(row)
    return found


def test_hostile_text_cannot_break_tables_details_or_headings() -> None:
    res = hostile_results()
    comparison = compare(res)
    markdown = render(res, Verdicts(comparison=comparison, claims=check_claims(res, comparison)))
    # Every table row has exactly as many cells as its header, counting unescaped pipes.
    block: list[int] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append(len(re.split(r"(?<!\\)\|", line.strip())) - 2)
        elif block:
            assert len(set(block)) == 1, block
            block = []
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [
        "Seed reproducibility matrix",
        "Surprises",
        "Matrix",
        "Environments",
        "Cases",
        '<a id="case-c"></a>`c`',
    ]
    html = "".join(t.content for t in tokens if t.type in {"html_block", "html_inline"})
    assert html.count("<details>") == html.count("</details>") == 2  # ours: pip freeze, printed output
    assert "<script>" not in html
    label_table = next(t for t in tables(tokens) if t[0][0] == "label")
    assert len(label_table) == 1 + len(HOSTILE_LABELS) + 2  # header + every label once
    fences = [t for t in tokens if t.type == "fence"]
    assert any("</details>" in t.content and "````python" in t.content for t in fences)


def test_long_values_are_shortened_in_the_report_and_kept_whole_in_results() -> None:
    res = hostile_results()
    markdown = render(res, Verdicts(comparison=compare(res)))
    assert len(markdown) < 60_000
    assert "… 100,000 values]" in markdown
    big = next(v for v in res.records[0].values if v.label == "big")
    assert len(big.bits) == 100_000


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_each_hostile_label_stays_in_one_cell(label: str) -> None:
    res = results([environment("e")], [case("c")], repeated("e", "c", [float64_value(label, 1.0)]))
    markdown = render(res, Verdicts(comparison=compare(res)))
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    label_table = next(t for t in tables(tokens) if t[0][0] == "label")
    assert len(label_table) == 2
    assert len(label_table[1]) == 2


def cpu_device(model: str) -> dict[str, object]:
    return {
        "kind": "CPU",
        "detail": "TensorFlow sees no GPU",
        "cpu": {"model": model, "flags": ["avx2", "fma"]},
    }


def test_paired_cases_show_the_median_script_time_of_each_and_the_ratio() -> None:
    def timed(env: str, name: str, seconds: tuple[float, ...]) -> list[Record]:
        return [
            dataclasses.replace(record(env, name, n, [float64_value("x", 1.0)]), script_seconds=s)
            for n, s in enumerate(seconds, start=1)
        ]

    res = results(
        [environment("e")],
        [case("plain"), dataclasses.replace(case("deterministic"), timed_against="plain"), case("alone")],
        timed("e", "plain", (1.0, 9.0, 2.0))
        + timed("e", "deterministic", (3.0, 4.0, 30.0))
        + timed("e", "alone", (1.0,) * 3),
    )
    markdown = render(res, derive(res))
    section = markdown.split("## Cost of determinism and other switches", 1)[1].split("\n## ", 1)[0]
    row = table_row(section, "[`deterministic`]")
    assert row[1:] == ["4.00 s vs 2.00 s (×2.00, script)"]  # medians: a slow outlier does not move them
    assert "[`alone`]" not in section


def test_the_work_a_script_timed_itself_is_preferred_and_only_when_every_repeat_has_it() -> None:
    """GPU scripts spend seconds importing and starting the device, and milliseconds on the work:
    the switch's cost is in the work."""

    def timed(name: str, work: tuple[float | None, ...]) -> list[Record]:
        return [
            dataclasses.replace(
                record("e", name, n, [float64_value("x", 1.0)]), script_seconds=5.0, work_seconds=w
            )
            for n, w in enumerate(work, start=1)
        ]

    pair = [case("plain"), dataclasses.replace(case("deterministic"), timed_against="plain")]
    steady = timed("plain", (0.002,) * 3) + timed("deterministic", (0.01,) * 3)
    res = results([environment("e")], pair, steady)
    section = render(res, derive(res)).split("## Cost of determinism and other switches", 1)[1]
    assert table_row(section, "[`deterministic`]")[1] == "10 ms vs 2 ms (×5.00, work)"
    partly = results(
        [environment("e")], pair, timed("plain", (0.002,) * 3) + timed("deterministic", (0.01, None, 0.01))
    )
    section = render(partly, derive(partly)).split("## Cost of determinism and other switches", 1)[1]
    assert table_row(section, "[`deterministic`]")[1] == "5.00 s vs 5.00 s (×1.00, script)"


def test_a_case_that_skips_itself_everywhere_is_skipped_with_its_reason_and_partly_is_not_whole() -> None:
    def skipping(env: str, repeats: tuple[int, ...]) -> list[Record]:
        return [
            dataclasses.replace(record(env, "c", n, []), status=RunStatus.SKIPPED, skipped="CuPy sees no GPU")
            if n in repeats
            else record(env, "c", n, [float64_value("x", 1.0)])
            for n in (1, 2, 3)
        ]

    res = results(
        [environment("all"), environment("some")],
        [case("c")],
        skipping("all", (1, 2, 3)) + skipping("some", (2,)),
    )
    comparison = compare(res)
    everywhere, partly = comparison.cell("all", "c"), comparison.cell("some", "c")
    assert (everywhere.state, everywhere.detail) == (
        CellState.SKIPPED,
        "the script skipped itself: CuPy sees no GPU",
    )
    assert partly.state is CellState.BAD_OUTPUT
    assert "repeat 2 only" in partly.detail


def test_environments_on_different_cpus_are_named_in_the_summary() -> None:
    res = results(
        [environment("here"), environment("there")],
        [case("c")],
        [record("here", "c", n, [float64_value("x", 1.0)], device=cpu_device("AMD EPYC")) for n in (1, 2, 3)]
        + [
            record("there", "c", n, [float64_value("x", 1.0)], device=cpu_device("Intel Xeon"))
            for n in (1, 2, 3)
        ],
    )
    markdown = render(res, derive(res))
    summary = markdown.split("## Matrix", 1)[0]
    assert "**Different CPUs:** AMD EPYC (here); Intel Xeon (there)." in summary
    assert "AMD EPYC · AVX2 + FMA" in markdown
    same = results(
        [environment("here")],
        [case("c")],
        [record("here", "c", n, [float64_value("x", 1.0)], device=cpu_device("AMD EPYC")) for n in (1, 2, 3)],
    )
    assert "Different CPUs" not in render(same, derive(same))


def test_a_gpu_environment_whose_script_skips_for_want_of_a_gpu_ran_on_the_wrong_device() -> None:
    skipped = [
        dataclasses.replace(
            record(
                "gpu", "c", n, [], device={"kind": "CPU fallback", "framework": "torch", "detail": "no GPU"}
            ),
            status=RunStatus.SKIPPED,
            skipped="no CUDA device visible",
        )
        for n in (1, 2, 3)
    ]
    res = results([environment("gpu", device="gpu")], [case("c")], skipped)
    cell = compare(res).cell("gpu", "c")
    assert cell.state is CellState.WRONG_DEVICE  # a failure, not a quiet skip


def test_timings_from_different_runs_are_not_compared() -> None:
    def timed(name: str, origin: str | None) -> list[Record]:
        return [
            dataclasses.replace(
                record("e", name, n, [float64_value("x", 1.0)]), script_seconds=1.0, reused_from=origin
            )
            for n in (1, 2, 3)
        ]

    res = results(
        [environment("e")],
        [case("plain"), dataclasses.replace(case("deterministic"), timed_against="plain")],
        timed("plain", "20261101T000000Z-aaaaaa") + timed("deterministic", None),
    )
    section = render(res, derive(res)).split("## Cost of determinism and other switches", 1)[1]
    assert table_row(section, "[`deterministic`]")[1] == "— (timed in different runs)"


def test_a_long_profile_keeps_its_first_divergence_and_counts_what_it_hides() -> None:
    def trace(shift: float) -> list[Value]:
        return [float64_value(f"[{i:03d}] layer", 1.0 + (shift if i >= 60 else 0.0)) for i in range(100)]

    res = results(
        [environment("ref"), environment("new")],
        [case("c")],
        repeated("ref", "c", trace(0.0)) + repeated("new", "c", trace(1.0)),
    )
    markdown = render(res, derive(res))
    profile = markdown.split("Profile of each divergence", 1)[1].split("</details>", 1)[0]
    assert "| 61 | `[060] layer`" in profile  # the first divergence is always shown
    assert "| 56 | `[055] layer`" in profile  # with a few labels before it
    assert "Labels not shown here: 55 equal, 5 differing (results.json has every row)." in profile


def test_held_close_and_differ_claims_show_how_far_apart_the_pair_was() -> None:
    def values(n: int) -> list[Value]:
        return [float64_value("cpu", 0.5), float64_value("gpu", 0.5 + n * 2**-53), float64_value("same", 0.5)]

    claims = {"close": {"gpu": {"to": "cpu", "ulps": 8}}, "differ": {"gpu": "cpu"}, "equal": {"same": "cpu"}}
    res = results(
        [environment("e")], [case("c", claims=claims)], [record("e", "c", n, values(1)) for n in (1, 2, 3)]
    )
    markdown = render(res, derive(res))
    listed = markdown.split("How far apart the paired labels were:", 1)[1].split("\n\n", 2)[1]
    assert listed.splitlines() == [
        "- **e** · `differ: gpu ≠ cpu`: 1 pair(s) different in every repeat (gpu vs cpu: 1 of 1 element(s), "
        "max \\|Δ\\| 1.11e-16, 1 ULP)",
        "- **e** · `close: gpu ≈ cpu within 8 ULP`: gpu vs cpu: 1 of 1 element(s), "
        "max \\|Δ\\| 1.11e-16, 1 ULP",
    ]


def test_values_not_recorded_are_not_checked_in_the_matrix_and_the_details() -> None:
    """Before: occurrence 1 varying beside an unrecordable occurrence 2 read "✅ A (1 not recorded)",
    the same letter as an environment with other values; 1.0 then unrecordable read 🎲."""

    def shown(first: float) -> list[Value]:
        return [float64_value("x", first), unrecordable_value("x")]

    res = results(
        [environment("ref"), environment("other"), environment("once")],
        [case("c", claims={"stable": ["x"], "varies": ["x"]})],
        [record("ref", "c", n, shown(first)) for n, first in ((1, 1.0), (2, 1.5), (3, 1.0))]
        + repeated("other", "c", shown(7.0))
        + [record("once", "c", 1, shown(7.0))]
        + [record("once", "c", n, [float64_value("x", 7.0), float64_value("x", 8.0)]) for n in (2, 3)],
    )
    markdown = render(res, derive(res))
    assert table_row(markdown, "[`c`]")[1:] == [
        "🎲 · 1 of 1 vary (1 not recorded) ❗ SURPRISE",
        "✅ B (1 not recorded)",
        "✅ B (1 not recorded)",
    ]
    assert table_row(markdown, "`x`")[1:] == [
        "🎲 the recorded values vary; not recorded: occurrence 2 in repeat 1, 2, 3 (not checked)",
        "⚠️ not checked: not recorded: occurrence 2 in repeat 1, 2, 3 (cannot record a Foo)",
        "⚠️ not checked: not recorded: occurrence 2 in repeat 1 (cannot record a Foo)",
    ]
    assert "- **other** · `varies: x`: x: not recorded: occurrence 2 in repeat 1, 2, 3" in markdown


def test_more_than_702_groups_render_with_letters_of_their_own() -> None:
    """Before: the 703rd group raised IndexError, so the report of a run with that many did not render."""
    names = [f"e{n}" for n in range(703)]
    res = results(
        [environment(name) for name in names],
        [case("c")],
        [record(name, "c", 1, [float64_value("x", float(n))]) for n, name in enumerate(names)],
        repeats=1,
    )
    markdown = render(res, derive(res))
    assert "- **AAA** (1): e702" in markdown
    assert "- **ZZ** (1): e701" in markdown


def test_integers_too_long_to_print_are_shortened_not_a_traceback() -> None:
    """Python 3.11 refuses str() of an integer over 4,300 digits; a record from Python 3.9 can hold one."""
    digits = 10**5000 - 1
    as_number = Value(label="n", dtype="int", shape=(), bits=("9" * 5000,), values=(digits,))
    as_text = dataclasses.replace(as_number, values=(as_number.bits[0],))
    assert format_value(as_number) == "1.000000e+5000 (5,000 digits)"
    res = results(
        [environment("ref"), environment("same")],
        [case("c", claims={"stable": ["n"], "same_across_environments": ["n"]})],
        [dataclasses.replace(shown, values=(as_number,)) for shown in repeated("ref", "c", [as_text])]
        + repeated("same", "c", [as_text]),
    )
    markdown = render(res, derive(res))
    assert table_row(markdown, "`n`")[1:] == ["✅ `1.000000e+5000 (5,000 digits)`", "✅ = reference"]


def test_integers_too_long_to_print_that_differ_are_compared_not_a_traceback() -> None:
    nines = Value(label="n", dtype="int", shape=(), bits=("9" * 5000,), values=("9" * 5000,))
    eights = Value(label="n", dtype="int", shape=(), bits=("8" * 5000,), values=("8" * 5000,))
    res = results(
        [environment("ref"), environment("other")],
        [case("c", claims={"close_to_reference": {"n": {"atol": 1}}})],
        repeated("ref", "c", [nines]) + repeated("other", "c", [eights]),
    )
    markdown = render(res, derive(res))
    assert r"1 of 1 element(s), max \|Δ\| 1.11e+4999" in markdown
    assert r"close_to_reference: n within atol 1, rtol 0`: n: repeat 1: \|Δ\| 1.11e+4999" in markdown


def test_a_wide_matrix_shows_the_cells_without_a_letter_in_a_column_of_their_own() -> None:
    names = [f"e{n}" for n in range(WIDE + 1)]
    res = results(
        [environment(name) for name in names],
        [case("c")],
        # e0 and e1: x not recorded, y varying (a cell with no value recorded at all is ❓ bad output)
        [
            record(name, "c", n, [unrecordable_value("x"), float64_value("y", n)])
            for name in names[:2]
            for n in (1, 2, 3)
        ]
        + [record(name, "c", n, [float64_value("x", 1.0)]) for name in names[2:] for n in (1, 2, 3)],
    )
    markdown = render(res, derive(res))
    assert "| label | B: e2 +6 | no letter: e0 (reference) +1 |" in markdown
    assert "- no letter, nothing compared (2): e0, e1" in markdown


def test_a_stored_run_with_every_edge_reports_without_a_traceback(tmp_path: Path) -> None:
    """What `seedmatrix report` (and the end of `seedmatrix matrix`) does, on results.json as stored."""

    def integer(label: str, number: int) -> Value:  # a Python int: no range to keep to
        return dataclasses.replace(int64_value(label, number), dtype="int", values=(str(number),))

    def shown(first: float) -> list[Value]:
        return [float64_value("x", first), unrecordable_value("x"), integer("big", 1 << 4000)]

    claims = {
        "stable": ["*"],
        "varies": ["x"],
        "differ": {"big": "one"},
        "same_across_environments": ["*"],
    }
    res = results(
        [environment("ref"), environment("other")],
        [case("c", claims=claims)],
        [
            record("ref", "c", n, [*shown(first), integer("one", 1)])
            for n, first in ((1, 1.0), (2, 1.5), (3, 1.0))
        ]
        + [
            record("other", "c", n, [*shown(7.0)[:2], integer("big", n), integer("one", 1)])
            for n in (1, 2, 3)
        ],
    )
    run = RunDirectory.create(tmp_path)
    run.save_results(res)
    assert report_job([run.path], Output(env={})) == 1  # SURPRISES: `stable` does not hold
    markdown = run.matrix_file.read_text(encoding="utf-8")
    assert "big vs one: 1 of 1 element(s), max \\|Δ\\| 1.32e+1204" in markdown
    assert 'failures="' in run.junit_file.read_text(encoding="utf-8")
