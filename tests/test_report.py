"""MATRIX.md rendering: what a person reads, from hand-made results."""

from __future__ import annotations

import re
import struct

from seedmatrix.compare import CellState, compare
from seedmatrix.report import LEGEND, SYMBOL, Verdicts, format_value, render
from seedmatrix.results import BuildStatus, RunStatus

from builders import case, environment, float32_value, float64_value, record, repeated, results


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
        [
            case("seed_random", claim="Values 4-6 equal 1-3."),
            case("tf", requires=("tensorflow",)),
        ],
        repeated("ref", "seed_random", [float64_value("Random number 1", 0.8444218515250481)])
        + repeated("drift", "seed_random", [float64_value("Random number 1", 0.8444218515250481)])
        + repeated("numpy-only", "seed_random", [float64_value("Random number 1", 0.8444218515250481)])
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
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]


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
    header = table_row(markdown, "case")
    assert header == ["case", "ref (reference)", "drift", "numpy-only", "broken"]
    assert table_row(markdown, "[`seed_random`]")[1:] == ["✅ A", "✅ A", "✅ A", "🧱 build-failed"]
    assert table_row(markdown, "[`tf`]")[1:] == [
        "🎲 A · 1 of 2 vary",
        "🎲 B · 1 of 2 vary",
        "➖ not-applicable",
        "🧱 build-failed",
    ]


def test_legend_explains_every_symbol_used() -> None:
    markdown = sample()
    explained = {symbol for symbol, _ in LEGEND}
    assert set(SYMBOL.values()) <= explained
    for symbol in SYMBOL.values():
        assert f"{symbol} " in markdown


def test_details_show_full_precision_values_and_distances() -> None:
    markdown = sample()
    assert "✅ `0.8444218515250481`" in markdown
    op2 = table_row(markdown, "`op2-1`")
    assert op2[1] == "✅ `[-1.25]`"
    assert re.fullmatch(r"✅ ≠ reference: `\[-1\.25000\d+\]`, max \\\|Δ\\\| 3\.58e-07, 3 ULP", op2[2])
    assert table_row(markdown, "`op1-1`")[1] == "🎲 3 distinct in 3 repeats"
    assert "> **Claim:** Values 4-6 equal 1-3." in markdown


def test_environment_table_shows_observed_versions_and_the_build_failure() -> None:
    markdown = sample()
    row = table_row(markdown, "ref (reference)")
    assert row[1] == "—"  # no host recorded in these hand-made results
    assert row[2:7] == [
        "Debian bookworm",
        "3.11.2",
        "2.0.2",
        "tensorflow-cpu 2.18.1",
        "CPU (TensorFlow sees no GPU)",
    ]
    assert row[8] == "1.23 GB"
    broken = table_row(markdown, "broken")
    assert broken[3] == "—"
    assert "log `results/build-logs/broken.log`" in broken[9]
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


def test_details_blocks_are_balanced_for_github() -> None:
    markdown = sample()
    assert markdown.count("<details>") == markdown.count("</details>") > 0
    assert markdown.count("```") % 2 == 0


def test_format_value_keeps_every_digit() -> None:
    assert format_value(float64_value("x", 0.1)) == "0.1"
    assert format_value(float64_value("x", 1 / 3)) == "0.3333333333333333"
    assert format_value(float32_value("x", 0.1)) == "[0.10000000149011612]"
