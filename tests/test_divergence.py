"""Where values first diverge: between repeats and from the reference, in program order."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from seedmatrix.compare import compare
from seedmatrix.divergence import divergences
from seedmatrix.report import derive, render
from seedmatrix.results import Between, Divergence, Record
from seedmatrix.values import NOT_WRITTEN, SHA256, UNRECORDABLE, Value

from builders import case, environment, float32_value, float64_value, record, repeated, results


def text_value(label: str, text: str) -> Value:
    return Value(label=label, dtype="str", shape=(), bits=(text,), values=(text,))


def one(found: Sequence[Divergence], between: Between) -> Divergence:
    matching = [divergence for divergence in found if divergence.between is between]
    assert len(matching) == 1, found
    return matching[0]


def from_records(records: Sequence[Record], *environments: str) -> tuple[Divergence, ...]:
    names = environments or ("e",)
    repeats = max(record.repeat for record in records)
    return divergences(
        compare(results([environment(name) for name in names], [case("c")], records, repeats=repeats))
    )


def test_a_stable_cell_equal_to_the_reference_has_no_divergence() -> None:
    values = [float32_value("a", 1.0, 2.0)]
    assert from_records(repeated("ref", "c", values) + repeated("other", "c", values), "ref", "other") == ()


def test_the_first_label_in_program_order_that_varies_is_the_divergence() -> None:
    records = [
        record(
            "e",
            "c",
            n,
            [
                float64_value("seed", 42.0),
                float32_value("layer 1", 1.0, 2.0, 3.0, 4.0 + (n == 3) * 2**-21),
                float64_value("loss", 0.5 + n),
            ],
        )
        for n in (1, 2, 3)
    ]
    found = one(from_records(records), Between.REPEATS)
    assert (found.label, found.position, found.labels, found.differing_labels) == ("layer 1", 2, 3, 2)
    assert found.sides == "repeat 3 vs repeat 1"  # the first repeat in which layer 1 differs
    assert found.difference is not None
    assert (found.difference.differing, found.difference.first_index, found.difference.max_ulps) == (
        1,
        (3,),
        1,
    )
    assert [row.label for row in found.profile if row.differs] == ["layer 1", "loss"]


def test_between_the_same_two_repeats_the_first_differing_label_is_named_with_index_count_and_ulps() -> None:
    records = [
        record(
            "e",
            "c",
            n,
            [float64_value("seed", 1.0), float32_value("w", 1.0, 2.0, 3.0 + (n - 1) * 2**-22, 4.0)],
        )
        for n in (1, 2)
    ]
    found = one(from_records(records), Between.REPEATS)
    assert (found.label, found.position, found.sides) == ("w", 2, "repeat 2 vs repeat 1")
    assert found.difference is not None
    assert (found.difference.differing, found.difference.elements) == (1, 4)
    assert found.difference.first_index == (2,)
    assert found.difference.max_ulps == 1
    assert found.unchecked_before == ()


def test_a_scalar_that_varies_is_its_own_first_divergence() -> None:
    records = [record("e", "c", n, [float64_value("x", float(n))]) for n in (1, 2, 3)]
    found = one(from_records(records), Between.REPEATS)
    assert found.label == "x"
    assert found.difference is not None
    assert found.difference.first_index == ()
    assert found.difference.max_abs == 1.0


def test_a_label_shown_several_times_names_the_first_occurrence_that_differs() -> None:
    records = [
        record(
            "e", "c", n, [float64_value("step", 1.0), float64_value("step", 2.0), float64_value("step", n)]
        )
        for n in (1, 2)
    ]
    found = one(from_records(records), Between.REPEATS)
    assert found.difference is not None
    assert found.difference.occurrence == 3


def test_a_label_missing_from_a_repeat_is_a_divergence_that_says_where_it_is_missing() -> None:
    records = [
        record("e", "c", 1, [float64_value("a", 1.0), float64_value("b", 2.0)]),
        record("e", "c", 2, [float64_value("a", 1.0)]),
    ]
    found = one(from_records(records), Between.REPEATS)
    assert (found.label, found.missing, found.difference) == ("b", "missing in repeat 2", None)


def test_a_label_that_could_not_be_recorded_before_the_divergence_is_named_as_unchecked() -> None:
    unrecordable = Value(
        label="obj", dtype=UNRECORDABLE, shape=(), bits=(), values=(), note="cannot record a X"
    )
    records = [record("e", "c", n, [unrecordable, float64_value("b", float(n))]) for n in (1, 2)]
    found = one(from_records(records), Between.REPEATS)
    assert (found.label, found.unchecked_before) == ("b", ("obj",))


def test_the_first_divergence_from_the_reference_skips_equal_labels_and_names_unchecked_ones() -> None:
    records = [
        *[
            record(
                "ref",
                "c",
                n,
                [float64_value("seed", 1.0), float64_value("noise", n), float32_value("w", 1.0, 2.0)],
            )
            for n in (1, 2)
        ],
        *[
            record(
                "new",
                "c",
                n,
                [float64_value("seed", 1.0), float64_value("noise", n), float32_value("w", 1.0, 2.5)],
            )
            for n in (1, 2)
        ],
    ]
    found = from_records(records, "ref", "new")
    versus = one([d for d in found if d.environment == "new"], Between.REFERENCE)
    assert (versus.label, versus.position, versus.sides) == ("w", 3, "vs ref (reference)")
    assert versus.unchecked_before == ("noise",)  # it varies on both sides: not compared
    assert versus.difference is not None
    assert versus.difference.first_index == (1,)
    assert {d.environment for d in found if d.between is Between.REPEATS} == {"ref", "new"}


def test_a_label_only_the_reference_recorded_is_a_divergence_from_it() -> None:
    records = repeated("ref", "c", [float64_value("a", 1.0), float64_value("b", 2.0)]) + repeated(
        "new", "c", [float64_value("a", 1.0)]
    )
    found = one(from_records(records, "ref", "new"), Between.REFERENCE)
    assert (found.environment, found.label, found.position, found.labels) == ("new", "b", 2, 2)
    assert found.missing == "recorded only in the reference"


def test_a_label_the_reference_lacks_is_a_divergence_from_it() -> None:
    records = repeated("ref", "c", [float64_value("a", 1.0)]) + repeated(
        "new", "c", [float64_value("extra", 0.0), float64_value("a", 1.0)]
    )
    found = one(from_records(records, "ref", "new"), Between.REFERENCE)
    assert (found.label, found.position, found.missing) == ("extra", 1, "not recorded in the reference")


def test_an_output_file_diverges_at_its_first_differing_array_or_its_digest() -> None:
    def outputs(kernel: float, digest: str) -> list[Value]:
        return [
            float64_value("loss", 0.25),
            float32_value("outputs/model.npz:bias", 0.0, 0.0),
            float32_value("outputs/model.npz:kernel", 1.0, kernel),
            Value(label="outputs/log.bin", dtype=SHA256, shape=(), bits=(digest,), values=(12,)),
            Value(
                label="outputs/extra.json",
                dtype=NOT_WRITTEN,
                shape=(),
                bits=(),
                values=(),
                note="not written",
            ),
        ]

    records = repeated("ref", "c", outputs(2.0, "aa" * 32)) + repeated(
        "new", "c", outputs(2.0 + 2**-22, "bb" * 32)
    )
    found = one(from_records(records, "ref", "new"), Between.REFERENCE)
    assert (found.label, found.position, found.differing_labels) == ("outputs/model.npz:kernel", 3, 2)
    assert found.difference is not None
    assert (found.difference.first_index, found.difference.max_ulps) == ((1,), 1)
    digest_row = next(row for row in found.profile if row.label == "outputs/log.bin")
    assert digest_row.differs
    assert next(row for row in found.profile if row.label == "outputs/extra.json").unchecked


def test_nan_against_a_number_is_a_divergence_not_equality() -> None:
    nan = Value(
        label="x", dtype="float64", shape=(), bits=(struct.pack(">d", float("nan")).hex(),), values=("nan",)
    )
    records = repeated("ref", "c", [float64_value("x", 1.0)]) + repeated("new", "c", [nan])
    found = one(from_records(records, "ref", "new"), Between.REFERENCE)
    assert found.difference is not None
    assert not found.difference.equal
    assert found.difference.notes


def test_text_values_diverge_without_distances() -> None:
    records = repeated("ref", "c", [text_value("order", "a,b")]) + repeated(
        "new", "c", [text_value("order", "b,a")]
    )
    found = one(from_records(records, "ref", "new"), Between.REFERENCE)
    assert found.difference is not None
    assert (found.difference.max_ulps, found.difference.max_abs) == (None, None)


@given(
    st.lists(st.booleans(), min_size=1, max_size=8),
    st.lists(st.integers(min_value=0, max_value=7), max_size=3),
)
def test_the_divergence_is_the_smallest_position_whose_values_differ(
    differs: list[bool], dropped: list[int]
) -> None:
    labels = [f"[{index:02d}] layer" for index in range(len(differs))]
    missing = {index for index in dropped if index < len(labels)}
    reference = [float64_value(label, 1.0) for label in labels]
    mine = [
        float64_value(label, 2.0 if changed else 1.0)
        for index, (label, changed) in enumerate(zip(labels, differs, strict=True))
        if index not in missing
    ]
    found = list(from_records(repeated("ref", "c", reference) + repeated("new", "c", mine), "ref", "new"))
    expected = [index for index, changed in enumerate(differs) if changed or index in missing]
    if not expected:
        assert found == []
        return
    (divergence,) = found
    assert divergence.label == labels[expected[0]]
    assert divergence.differing_labels == len(expected)


def test_the_report_lists_first_divergences_and_profiles_them_whatever_the_labels_hold() -> None:
    hostile = "[02] a|b `x` <b>"

    def trace(n: int, shift: float) -> list[Value]:
        return [
            float64_value("[01] input", 1.0),
            float32_value(hostile, 1.0, 2.0 + shift),
            float32_value("[03] loss", 0.5 + shift * 4),
        ]

    records = [
        *(record("ref", "c", n, trace(n, 0.0)) for n in (1, 2)),
        *(record("new", "c", n, trace(n, 2**-22)) for n in (1, 2)),
    ]
    res = results([environment("ref"), environment("new")], [case("c")], records, repeats=2)
    markdown = render(res, derive(res))
    section = markdown.split("## First divergences", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith("| [`c`]"))
    assert row.count(" | ") == 4  # five cells: the pipe in the label is escaped
    assert "(label 2 of 3)" in row
    assert "1 of 2 element(s), first at \\[1\\]" in row
    assert "1 ULP" in row
    details = markdown.split('<a id="case-c"></a>', 1)[1]
    assert "**First divergence:**" in details
    assert "Profile of each divergence" in details
    profile = [line for line in details.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert profile[0].endswith("| · |")  # [01] equal
    assert profile[1].split(" | ")[-1].strip(" |") in set("▁▂▃▅▇")
    assert "a\\|b" in row  # the label's pipe cannot split the table


def test_an_output_missing_from_one_repeat_makes_the_cell_vary_even_if_the_rest_agree() -> None:
    written = Value(
        label="outputs/w.npy", dtype=NOT_WRITTEN, shape=(), bits=(), values=(), note="not written"
    )
    records = [
        record("e", "c", 1, [float32_value("outputs/w.npy", 1.0)]),
        record("e", "c", 2, [float32_value("outputs/w.npy", 2.0)]),
        record("e", "c", 3, [written]),
    ]
    comparison = compare(results([environment("e")], [case("c")], records))
    assert comparison.cell("e", "c").state.value == "varies"  # never "stable": two repeats disagree
    assert comparison.cell("e", "c").labels[0].reason == "not recorded in repeat 3"
    found = one(divergences(comparison), Between.REPEATS)
    assert found.label == "outputs/w.npy"


def test_a_label_shown_only_in_a_later_repeat_keeps_its_place_in_program_order() -> None:
    records = [
        record("e", "c", 1, [float64_value("a", 1.0), float64_value("c", 3.0)]),
        record("e", "c", 2, [float64_value("a", 1.0), float64_value("b", 2.0), float64_value("c", 3.0)]),
    ]
    comparison = compare(results([environment("e")], [case("c")], records, repeats=2))
    assert [label.label for label in comparison.cell("e", "c").labels] == ["a", "b", "c"]
    found = one(divergences(comparison), Between.REPEATS)
    assert (found.label, found.position, found.missing) == ("b", 2, "missing in repeat 1")


def epochs(losses: Sequence[float], grad_norms: Sequence[float]) -> list[Value]:
    """A training loop's values as it shows them: each epoch's loss, then its grad norm."""
    shown: list[Value] = []
    for loss, grad_norm in zip(losses, grad_norms, strict=True):
        shown += [float64_value("loss", loss), float64_value("grad norm", grad_norm)]
    return shown


def test_a_label_shown_every_epoch_that_differs_at_an_earlier_epoch_is_the_first_divergence() -> None:
    records = [
        record("e", "c", 1, epochs([0.9, 0.8, 0.7], [3.0, 2.0, 1.0])),
        record("e", "c", 2, epochs([0.9, 0.8, 0.75], [3.0, 2.5, 1.0])),
    ]
    found = one(from_records(records), Between.REPEATS)
    assert found.difference is not None
    # `loss` comes first in program order but first differs at epoch 3; `grad norm` at epoch 2.
    assert (found.label, found.position, found.difference.occurrence) == ("grad norm", 2, 2)
    assert [row.label for row in found.profile] == ["loss", "grad norm"]  # still one row per label
    assert found.differing_labels == 2


def test_at_the_same_epoch_the_first_label_in_program_order_is_the_first_divergence() -> None:
    records = [
        record("e", "c", 1, epochs([0.9, 0.8], [3.0, 2.0])),
        record("e", "c", 2, epochs([0.9, 0.85], [3.0, 2.5])),
    ]
    found = one(from_records(records), Between.REPEATS)
    assert (found.label, found.position) == ("loss", 1)


def test_from_the_reference_the_earliest_epoch_that_differs_is_the_first_divergence() -> None:
    records = repeated("ref", "c", epochs([0.9, 0.8, 0.7], [3.0, 2.0, 1.0])) + repeated(
        "other", "c", epochs([0.9, 0.8, 0.75], [3.0, 2.5, 1.0])
    )
    found = one(from_records(records, "ref", "other"), Between.REFERENCE)
    assert found.difference is not None
    assert (found.label, found.difference.occurrence) == ("grad norm", 2)


def test_a_label_shown_more_times_on_one_side_diverges_where_the_shorter_side_ends() -> None:
    shorter = [*epochs([0.9, 0.8], [3.0, 2.0]), float64_value("loss", 0.7)]
    longer = [*shorter, float64_value("loss", 0.6), float64_value("grad norm", 1.0)]
    records = repeated("ref", "c", longer) + repeated("other", "c", shorter)
    found = one(from_records(records, "ref", "other"), Between.REFERENCE)
    # grad norm is shown 2 times here and 3 in the reference: the runs part at its 3rd showing,
    # after loss's 3rd (equal) and before loss's 4th (missing here).
    assert found.label == "grad norm"


def test_between_repeats_the_pair_that_parts_earliest_is_the_first_divergence() -> None:
    records = [
        record("e", "c", 1, epochs([0.9, 0.8, 0.7], [3.0, 2.0, 1.0])),
        record("e", "c", 2, epochs([0.9, 0.8, 0.75], [3.0, 2.0, 1.0])),  # loss parts at epoch 3
        record("e", "c", 3, epochs([0.9, 0.8, 0.7], [3.0, 2.5, 1.0])),  # grad norm at epoch 2
    ]
    found = one(from_records(records), Between.REPEATS)
    assert (found.label, found.sides) == ("grad norm", "repeat 3 vs repeat 1")


def test_a_label_not_compared_may_have_diverged_at_an_earlier_epoch_and_is_named() -> None:
    unrecordable = Value(label="obj", dtype=UNRECORDABLE, shape=(), bits=(), values=(), note="cannot record")
    records = [
        record("e", "c", 1, [*epochs([0.9, 0.8], [3.0, 2.0]), unrecordable]),
        record("e", "c", 2, [*epochs([0.9, 0.8], [3.0, 2.5]), unrecordable]),
    ]
    found = one(from_records(records), Between.REPEATS)
    # `obj` comes later in program order, but its first showing is before grad norm's second.
    assert (found.label, found.unchecked_before) == ("grad norm", ("obj",))


def test_a_repeat_that_differs_only_where_a_value_was_not_recorded_is_not_the_divergence() -> None:
    """Repeat 2 lacks occurrence 2 (not recorded) and agrees elsewhere; repeat 3 surely differs. Before:
    repeat 2 was named, its 'difference' the value it could not record."""
    lost = Value(label="step", dtype=UNRECORDABLE, shape=(), bits=(), values=(), note="cannot record a X")
    records = [
        record("e", "c", 1, [float64_value("step", 1.0), float64_value("step", 2.0)]),
        record("e", "c", 2, [float64_value("step", 1.0), lost]),
        record("e", "c", 3, [float64_value("step", 1.5), float64_value("step", 2.0)]),
    ]
    found = one(from_records(records), Between.REPEATS)
    assert found.sides == "repeat 3 vs repeat 1"
    assert found.difference is not None
    assert (found.difference.occurrence, found.difference.max_abs) == (1, 0.5)
