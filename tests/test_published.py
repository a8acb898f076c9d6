"""Published values: does today's run still print what was published, to the printed digits?"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from seedmatrix.compare import compare
from seedmatrix.config import load_matrix
from seedmatrix.errors import ConfigError
from seedmatrix.published import Reproduced, check_published
from seedmatrix.report import Verdicts, render
from seedmatrix.values import Value

from builders import case, environment, float32_value, float64_value, record, repeated, results

ROOT = Path(__file__).resolve().parent.parent


def checks(
    values: list[Value], expected: dict[str, list[str]], digits: int = 8, repeats: int = 3
) -> list[tuple[str, Reproduced, str]]:
    res = results(
        [environment("e")],
        [case("c", expected={"source": "test", "digits": digits, "values": expected})],
        repeated("e", "c", values, repeats),
        repeats=repeats,
    )
    return [(c.label, c.verdict, c.evidence) for c in check_published(res, compare(res))]


def test_the_articles_numpy_values_are_reproduced_to_eight_decimals() -> None:
    today = [float64_value("1", 0.5488135039273248)]
    assert checks(today, {"1": ["0.5488135"]}) == [("1", Reproduced.YES, "1 number(s) to 8 decimals")]


def test_a_float32_printed_through_its_double_reproduces() -> None:
    assert checks([float32_value("op", -1.40955448)], {"op": ["-1.40955448"]})[0][1] is Reproduced.YES


def test_a_miss_says_by_how_much_in_the_last_printed_digit() -> None:
    [(_, verdict, evidence)] = checks([float32_value("op", 0.5, -1.4095)], {"op": ["0.5", "-1.40955448"]})
    assert verdict is Reproduced.NO
    assert evidence.startswith(
        "1 of 2 number(s) differ (at 1), by up to 5.45e-05 (5,448 in the last printed digit)"
    )


def test_half_a_unit_of_the_last_digit_is_the_boundary() -> None:
    assert checks([float64_value("x", 0.1234567851)], {"x": ["0.12345679"]})[0][1] is Reproduced.YES
    assert checks([float64_value("x", 0.1234567849)], {"x": ["0.12345679"]})[0][1] is Reproduced.NO


def test_values_that_vary_are_not_checked_against_published_ones() -> None:
    res = results(
        [environment("e")],
        [case("c", expected={"source": "t", "digits": 8, "values": {"op1": ["0.1"]}})],
        [record("e", "c", n, [float64_value("op1", n / 10)]) for n in (1, 2, 3)],
    )
    [check] = check_published(res, compare(res))
    assert check.verdict is Reproduced.UNCHECKED


def test_a_different_count_or_a_missing_label_misses() -> None:
    assert checks([float32_value("x", 1.0)], {"x": ["1", "2"]})[0][2] == "2 number(s) printed, 1 recorded"
    assert checks([float32_value("x", 1.0)], {"y": ["1"]})[0][1:] == (
        Reproduced.NO,
        "not recorded in this run",
    )


def test_nan_today_is_a_miss_not_a_match() -> None:
    nan = Value(
        label="x", dtype="float64", shape=(), bits=(struct.pack(">d", float("nan")).hex(),), values=("NaN",)
    )
    [(_, verdict, evidence)] = checks([nan], {"x": ["0.5"]})
    assert verdict is Reproduced.NO
    assert "not finite" in evidence


def test_published_values_are_in_the_report() -> None:
    res = results(
        [environment("e")],
        [case("c", expected={"source": "t", "digits": 8, "values": {"1": ["0.5488135"], "2": ["0.1"]}})],
        repeated("e", "c", [float64_value("1", 0.5488135039273248), float64_value("2", 0.2)]),
    )
    comparison = compare(res)
    markdown = render(res, Verdicts(comparison=comparison, published=check_published(res, comparison)))
    assert "**Published values:** 1 of 2 reproduced, 1 missed." in markdown
    assert "| `1` | ✔ reproduced |" in markdown
    assert "| `2` | ✘ missed by 0.1 (10,000,000 in the last digit) |" in markdown


def test_the_default_matrix_declares_the_articles_values() -> None:
    matrix = load_matrix(ROOT / "matrix.yaml")
    numpy_case = matrix.case("seed_numpy").expected
    assert numpy_case is not None
    assert numpy_case.digits == 8
    assert numpy_case.printed["2"] == ["0.54488318", "0.4236548", "0.64589411"]
    for varying in ("seed_tensorflow2", "seed_tensorflow3"):
        published = matrix.case(varying).expected
        assert published is not None
        assert sorted(published.printed) == ["op2-1", "op2-2"]  # op1 varied in the article: not published
    random_case = matrix.case("seed_random").expected
    assert random_case is not None
    assert random_case.printed["3"] == ["0.420571580830845"]


def test_a_printed_value_that_is_not_a_number_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "environments: [{name: e, debian: bookworm, python: '3.11'}]\n"
        f"cases:\n  - name: c\n    script: {ROOT / 'seeds' / 'seed_random.py'}\n"
        "    expected: {digits: 8, values: {'1': ['0.5x']}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"cases\[0\]\.expected: .*'0\.5x' is not a number"):
        load_matrix(path)
