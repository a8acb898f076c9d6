"""Published values: does today's run still print what was published, to the printed digits?"""

from __future__ import annotations

import struct
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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


def test_a_tie_rounds_half_to_even_as_python_and_numpy_print_it() -> None:
    # 0.125 and 0.375 are exact binary fractions: '%.2f' prints them 0.12 and 0.38.
    assert checks([float64_value("x", 0.125)], {"x": ["0.13"]}, digits=2)[0][1] is Reproduced.NO
    assert checks([float64_value("x", 0.125)], {"x": ["0.12"]}, digits=2)[0][1] is Reproduced.YES
    assert checks([float64_value("x", 0.375)], {"x": ["0.38"]}, digits=2)[0][1] is Reproduced.YES
    assert checks([float64_value("x", 0.375)], {"x": ["0.37"]}, digits=2)[0][1] is Reproduced.NO


def test_a_decimal_tie_that_is_not_a_binary_tie_rounds_from_the_exact_value() -> None:
    # The double nearest 0.135 is 0.13500000000000000888…: above the tie, printed 0.14.
    assert checks([float64_value("x", 0.135)], {"x": ["0.14"]}, digits=2)[0][1] is Reproduced.YES
    assert checks([float64_value("x", 0.135)], {"x": ["0.13"]}, digits=2)[0][1] is Reproduced.NO


def test_a_float32_tie_rounds_half_to_even_as_numpy_before_1_14_printed_arrays() -> None:
    # NumPy 1.11 (the article's) printed each float32 element with '%.8f' of its exact value:
    # 2**-9 = 0.001953125 printed 0.00195312.
    assert checks([float32_value("x", 2**-9)], {"x": ["0.00195312"]})[0][1] is Reproduced.YES
    assert checks([float32_value("x", 2**-9)], {"x": ["0.00195313"]})[0][1] is Reproduced.NO


def _quad(exponent_field: int, mantissa: int) -> str:
    return f"{(exponent_field << 112) | mantissa:032x}"


@pytest.mark.parametrize(
    ("bits", "digits", "above", "below"),
    [
        # IEEE quadruple 0.125 + 2**-115: above the tie, '%.2Lf' prints 0.13.
        (_quad(16380, 1), 2, "0.13", "0.12"),
        # x87 (x86's long double) just above the tie at 12 decimals: '%.12Lf' prints 1.000209913501.
        ("3fff8006e0e1cf503eb1", 12, "1.000209913501", "1.000209913500"),
    ],
)
def test_a_long_double_just_above_a_tie_rounds_up_from_its_exact_value(
    bits: str, digits: int, above: str, below: str
) -> None:
    """Before: the exact value was first rounded to 28 digits (Decimal's default context), onto the
    tie, which then rounded to even: the rounded-down number read reproduced."""
    value = Value(label="x", dtype="longdouble", shape=(), bits=(bits,), values=("v",))
    assert checks([value], {"x": [above]}, digits=digits)[0][1] is Reproduced.YES
    assert checks([value], {"x": [below]}, digits=digits)[0][1] is Reproduced.NO


@pytest.mark.parametrize(
    "value",
    [
        Value(label="x", dtype="text", shape=(), bits=("0.12",), values=("0.12",)),
        Value(label="x", dtype="complex128", shape=(), bits=("3fbeb851eb851eb8" + "0" * 16,), values=("z",)),
        Value(label="x", dtype="bool", shape=(), bits=("true",), values=(True,)),
    ],
)
def test_values_that_are_not_real_numbers_are_not_checked_not_missed(value: Value) -> None:
    """Before: text (`parse:`), complex and bool values read "missed ... not finite numbers today"."""
    [(_, verdict, evidence)] = checks([value], {"x": ["0.12"]}, digits=2)
    assert verdict is Reproduced.UNCHECKED
    assert evidence == f"{value.dtype} values are not compared with printed decimals"


def test_trailing_zeros_the_printer_left_out_still_reproduce() -> None:
    # NumPy 1.11 printed 0.41390190 as 0.4139019 (trailing zeros replaced by spaces).
    assert checks([float32_value("x", 0.4139019)], {"x": ["0.4139019"]})[0][1] is Reproduced.YES


@example(number=0.125, digits=2, single=False)  # ties, which random floats seldom are
@example(number=1.712890625, digits=8, single=True)
@example(number=-2.5, digits=0, single=False)
@given(
    number=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30),
    digits=st.integers(min_value=0, max_value=20),
    single=st.booleans(),
)
def test_what_python_prints_at_the_published_digits_is_reproduced_and_the_next_digit_is_not(
    number: float, digits: int, single: bool
) -> None:
    value = float32_value("x", number) if single else float64_value("x", number)
    exact = struct.unpack(">f", struct.pack(">f", number))[0] if single else number
    printed = f"{exact:.{digits}f}"  # what '%.Nf' (and NumPy before 1.14, element by element) prints
    assert checks([value], {"x": [printed]}, digits=digits)[0][1] is Reproduced.YES
    unit = Decimal(1).scaleb(-digits)
    with localcontext(prec=60):  # exact: up to 31 integer digits and 20 decimals
        neighbours = (Decimal(printed) - unit, Decimal(printed) + unit)
    for neighbour in neighbours:
        assert checks([value], {"x": [str(neighbour)]}, digits=digits)[0][1] is Reproduced.NO


def test_a_non_finite_published_value_from_a_results_file_is_not_checked_not_a_crash() -> None:
    # matrix.yaml refuses them; a results.json written elsewhere may still carry one.
    for text in ("nan", "NaN", "inf", "-Infinity", "sNaN"):
        [(_, verdict, evidence)] = checks([float64_value("x", 0.5)], {"x": [text]})
        assert verdict is Reproduced.UNCHECKED
        assert evidence == f"{text!r} is not a finite number"
    res = results(
        [environment("e")],
        [case("c", expected={"source": "t", "digits": 8, "values": {"x": ["nan"]}})],
        repeated("e", "c", [float64_value("x", float("nan"))]),
    )
    comparison = compare(res)
    markdown = render(res, Verdicts(comparison=comparison, published=check_published(res, comparison)))
    assert "0 of 1 reproduced, 1 not checked." in markdown


@pytest.mark.parametrize(
    ("printed", "problem"),
    [
        (".nan", "'nan' is not a finite number"),
        (".inf", "'inf' is not a finite number"),
        ("-.inf", "'-inf' is not a finite number"),
        ("'NaN'", "'NaN' is not a finite number"),
        ("'-Infinity'", "'-Infinity' is not a finite number"),
        ("0.123456789", "'0.123456789' has 9 decimals, more than digits: 8"),
        ("1.5e-9", "'1.5e-09' has 10 decimals, more than digits: 8"),
    ],
)
def test_a_published_value_that_cannot_be_printed_to_the_digits_is_a_config_error(
    tmp_path: Path, printed: str, problem: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "environments: [{name: e, debian: bookworm, python: '3.11'}]\n"
        f"cases:\n  - name: c\n    script: {ROOT / 'seeds' / 'seed_random.py'}\n"
        "    expected:\n"
        "      digits: 8\n"
        f"      values: {{'1': [0.5, {printed}]}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_matrix(path)
    assert f"cases[0].expected: values.1: {problem}" in str(raised.value)


def test_a_quoted_or_long_published_number_keeps_every_printed_digit(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "environments: [{name: e, debian: bookworm, python: '3.11'}]\n"
        f"cases:\n  - name: c\n    script: {ROOT / 'seeds' / 'seed_random.py'}\n"
        "    expected:\n"
        "      digits: 20\n"
        "      values: {'1': ['0.10000000000000000001', 12345678901234567891, 0.5, 7]}\n",
        encoding="utf-8",
    )
    published = load_matrix(path).case("c").expected
    assert published is not None
    assert published.printed["1"] == ["0.10000000000000000001", "12345678901234567891", "0.5", "7"]


def test_a_float32_printed_by_its_shortest_repr_is_not_the_rule_and_misses() -> None:
    # NumPy 1.14 and later print float32 0.3 as 0.3; '%.8f' (NumPy 1.11, the rule) as 0.30000001.
    assert checks([float32_value("x", 0.3)], {"x": ["0.30000001"]})[0][1] is Reproduced.YES
    assert checks([float32_value("x", 0.3)], {"x": ["0.3"]})[0][1] is Reproduced.NO
