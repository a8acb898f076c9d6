"""Each claim kind is declared once (claims.KINDS): matrix.yaml's model and the docs table follow it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from seedmatrix.claims import KINDS, TOLERANT, Tolerance, Verdict, check_claims, written_claims
from seedmatrix.compare import compare
from seedmatrix.config import Claims

from builders import case, environment, float64_value, repeated, results

ROOT = Path(__file__).resolve().parent.parent
TABLE_HEADER = "| kind | form | holds when |"


def documented_kinds() -> list[str]:
    """The kinds in docs/configuration.md's claims table, in its order."""
    lines = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER) + 2  # past the header and its separator
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    kinds = [re.match(r"^\| `(\w+)` \|", row) for row in rows]
    assert all(kinds), f"a row of the claims table does not start with a kind: {rows}"
    return [kind.group(1) for kind in kinds if kind]


def test_the_docs_table_lists_every_kind_and_nothing_else_in_order() -> None:
    assert documented_kinds() == [kind.name for kind in KINDS]


def test_matrix_yaml_takes_every_kind_and_nothing_else() -> None:
    assert list(Claims.model_fields) == [kind.name for kind in KINDS]


def test_every_tolerant_kind_says_so_in_its_row() -> None:
    lines = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()
    for name in TOLERANT:
        row = next(line for line in lines if line.startswith(f"| `{name}` |"))
        assert "≈, not bitwise" in row


def test_claims_are_read_typed_from_their_written_form_in_the_registry_order() -> None:
    written = {
        "close_to_reference": {"loss": {"ulps": None, "atol": 1e-6, "rtol": None}},
        "same_as_case": "other",
        "close": {"gpu {x}": {"to": "cpu {x}", "ulps": 4, "atol": None, "rtol": None}},
        "stable": ["a", "b*"],
    }
    claims = list(written_claims(written))
    assert [(claim.kind.name, claim.pattern, claim.other) for claim in claims] == [
        ("stable", "a", None),
        ("stable", "b*", None),
        ("close", "gpu {x}", "cpu {x}"),
        ("same_as_case", "*", "other"),
        ("close_to_reference", "loss", None),
    ]
    assert claims[2].tolerance == Tolerance(ulps=4)
    assert [claim.shown for claim in claims] == [
        "a",
        "b*",
        "gpu {x} ≈ cpu {x} within 4 ULP",
        "other",
        "loss within atol 1e-06, rtol 0",
    ]
    assert [claim.kind.mark for claim in claims] == ["", "", "≈", "", "≈"]


def test_a_claim_results_json_holds_in_another_kinds_form_is_never_held() -> None:
    # matrix.yaml refuses these; a hand-edited results.json may still hold them.
    values = [float64_value("a", 1.0), float64_value("b", 1.0)]
    malformed: list[dict[str, Any]] = [
        {"equal": {"a": {"to": "b", "ulps": 0}}},  # a tolerance where a label template belongs
        {"close": {"a": "b"}},  # no tolerance
        {"stable_within": {"a": "b"}},
        {"close_to_reference": {"a": "b"}},
        {"same_as_case": ["a"]},  # patterns where a case name belongs
    ]
    for claims in malformed:
        res = results([environment("ref")], [case("c", claims=claims)], repeated("ref", "c", values))
        [check] = check_claims(res, compare(res))
        assert check.verdict is Verdict.UNCHECKED, claims
        assert "not a claim of this kind's form" in check.evidence
