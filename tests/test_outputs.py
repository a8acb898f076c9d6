"""Output files a script writes, read back as values by the launcher: each format, on this machine."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

from seedmatrix.backends.execute import parsed_values, to_record
from seedmatrix.backends.host import hostrun
from seedmatrix.channel import new_boundary, value_from_record
from seedmatrix.compare import LabelState, compare
from seedmatrix.config import INSIDE, LAUNCHER
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.report import Verdicts, render
from seedmatrix.results import Record, RunStatus
from seedmatrix.values import NOT_WRITTEN, PARSED, SHA256, Value

from builders import case, environment, results


def run_with_outputs(
    tmp_path: Path,
    code: str,
    outputs: tuple[str, ...],
    *,
    outputs_mb: int = 256,
    parse: str | None = None,
    side_dir: Path | None = None,
) -> Record:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    limits = Limits(timeout_seconds=120, outputs_mb=outputs_mb)
    finished = hostrun.run(
        [sys.executable, str(INSIDE / LAUNCHER), str(script)],
        environment={"PYTHONPATH": str(INSIDE)},
        host_environ=os.environ,
        limits=limits,
        cpu_ids=sorted(os.sched_getaffinity(0)),
        boundary=new_boundary(),
        outputs=outputs,
        cwd=tmp_path,
    )
    cell = Cell(
        environment="host",
        case="c",
        script=script,
        workdir=tmp_path,
        repeats=1,
        limits=limits,
        outputs=outputs,
        parse=parse,
    )
    return to_record(cell, 1, finished, ran_on="host:test", side_dir=side_dir)


def by_label(record: Record) -> dict[str, Value]:
    return {value.label: value for value in record.values}


WRITE_EVERY_FORMAT = """
    import json, os
    import numpy as np
    import h5py
    from safetensors.numpy import save_file
    out = os.environ["SEEDMATRIX_OUTPUTS"]
    np.save(os.path.join(out, "vector.npy"), np.array([1.5, -2.0], dtype=np.float32))
    np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)))
    np.save(os.path.join(out, "half.npy"), np.array([1.0], dtype=np.float16))
    np.save(os.path.join(out, "complex.npy"), np.array([1 + 2j], dtype=np.complex64))
    np.savez(os.path.join(out, "both.npz"), weights=np.ones(2), bias=np.zeros(1, dtype=np.float32))
    save_file({"w": np.array([0.5, 0.25], dtype=np.float32)}, os.path.join(out, "model.safetensors"))
    with h5py.File(os.path.join(out, "model.weights.h5"), "w") as handle:
        handle.create_dataset("dense/kernel", data=np.array([[1.0, 2.0]], dtype=np.float32))
    with open(os.path.join(out, "metrics.json"), "w") as stream:
        json.dump({"loss": [0.5, 0.25], "epochs": 2, "name": "run"}, stream)
    with open(os.path.join(out, "notes.bin"), "wb") as stream:
        stream.write(b"\\x00\\x01")
    from recording import show
    show("done", 1)
"""


def test_every_output_format_becomes_values(tmp_path: Path) -> None:
    record = run_with_outputs(
        tmp_path, WRITE_EVERY_FORMAT, ("*.npy", "both.npz", "model.*", "metrics.json", "notes.bin")
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    found = by_label(record)
    assert (found["outputs/vector.npy"].dtype, found["outputs/vector.npy"].bits) == (
        "float32",
        ("3fc00000", "c0000000"),
    )
    fortran = found["outputs/fortran.npy"]
    assert (fortran.shape, fortran.bits) == ((2, 3), ("0", "1", "2", "3", "4", "5"))  # row-major order
    assert found["outputs/half.npy"].bits == ("3c00",)
    assert found["outputs/complex.npy"].bits == ("3f80000040000000",)
    assert found["outputs/both.npz:weights"].bits == ("3ff0000000000000",) * 2
    assert found["outputs/both.npz:bias"].dtype == "float32"
    assert found["outputs/model.safetensors:w"].bits == ("3f000000", "3e800000")
    kernel = found["outputs/model.weights.h5:dense/kernel"]
    assert (kernel.dtype, kernel.shape, kernel.bits) == ("float32", (1, 2), ("3f800000", "40000000"))
    assert found["outputs/metrics.json:/loss/1"].bits == (struct.pack(">d", 0.25).hex(),)
    assert found["outputs/metrics.json:/epochs"].bits == ("2",)
    assert found["outputs/metrics.json:/name"].bits == ("run",)
    opaque = found["outputs/notes.bin"]
    assert (opaque.dtype, opaque.values) == (SHA256, (2,))
    assert opaque.bits == (hashlib.sha256(b"\x00\x01").hexdigest(),)


def test_safetensors_bfloat16_keeps_its_bits(tmp_path: Path) -> None:
    header = json.dumps({"t": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    code = f"""
        import os
        data = {(len(header)).to_bytes(8, "little") + header + bytes([0xC0, 0x3F, 0x00, 0xC0])!r}
        open(os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "t.safetensors"), "wb").write(data)
        from recording import show
        show("done", 1)
        """
    record = run_with_outputs(tmp_path, code, ("t.safetensors",))
    tensor = by_label(record)["outputs/t.safetensors:t"]
    assert (tensor.dtype, tensor.bits, tensor.values) == ("bfloat16", ("3fc0", "c000"), (1.5, -2.0))


def test_an_unreadable_file_is_compared_by_its_digest_with_the_reason(tmp_path: Path) -> None:
    code = """
        import os
        open(os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "broken.npy"), "wb").write(b"not numpy")
        from recording import show
        show("done", 1)
        """
    broken = by_label(run_with_outputs(tmp_path, code, ("broken.npy",)))["outputs/broken.npy"]
    assert broken.dtype == SHA256
    assert "read as bytes: Unreadable: not a .npy file" in broken.note


def test_an_output_never_written_is_its_own_visible_state(tmp_path: Path) -> None:
    code = "from recording import show\nshow('done', 1)\n"
    record = run_with_outputs(tmp_path, code, ("model.npz",))
    assert record.status is RunStatus.OK
    missing = by_label(record)["outputs/model.npz"]
    assert (missing.dtype, missing.note) == (NOT_WRITTEN, "the script did not write it")
    res = results(
        [environment("e")],
        [case("c")],
        [
            record.__class__(**{**record.__dict__, "environment": "e", "case": "c", "repeat": n})
            for n in (1, 2, 3)
        ],
    )
    comparison = compare(res)
    label = comparison.cell("e", "c").label("outputs/model.npz")
    assert label is not None
    assert label.state is LabelState.NOT_RECORDED  # never "stable", however often it is missing
    assert "📭 not written" in render(res, Verdicts(comparison=comparison))


def test_outputs_over_their_limit_make_the_record_bad_output(tmp_path: Path) -> None:
    code = """
        import os
        open(os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "big.bin"), "wb").write(b"x" * (2 << 20))
        from recording import show
        show("done", 1)
        """
    record = run_with_outputs(tmp_path, code, ("big.bin",), outputs_mb=1)
    assert record.status is RunStatus.BAD_OUTPUT
    assert "more outputs than their limit" in record.stderr_tail


def test_parse_takes_values_from_printed_text(tmp_path: Path) -> None:
    code = """
        for epoch, loss in enumerate([0.5, 0.25]):
            print(f"epoch {epoch} loss {loss}")
        print("accuracy 0.97")
        """
    record = run_with_outputs(tmp_path, code, (), parse=r"loss (?P<loss>\S+)|accuracy (?P<accuracy>\S+)")
    assert record.status is RunStatus.OK, record.stderr_tail
    assert [(v.label, v.bits, v.dtype) for v in record.values] == [
        ("loss", ("0.5",), PARSED),
        ("loss", ("0.25",), PARSED),
        ("accuracy", ("0.97",), PARSED),
    ]


def test_parsed_values_follow_named_groups_in_order() -> None:
    values = parsed_values(r"(?P<a>\d+)-(?P<b>\d+)", "1-2\n3-4\n")
    assert [(v.label, v.bits[0]) for v in values] == [("a", "1"), ("b", "2"), ("a", "3"), ("b", "4")]
    assert parsed_values(r"(?P<a>x)|(?P<b>y)", "y") == [
        Value(label="b", dtype=PARSED, shape=(), bits=("y",), values=("y",))
    ]


@pytest.mark.parametrize("pattern", ["*.npz", "sub/*.json"])
def test_patterns_match_files_in_subdirectories_too(tmp_path: Path, pattern: str) -> None:
    code = """
        import json, os
        import numpy as np
        out = os.environ["SEEDMATRIX_OUTPUTS"]
        os.makedirs(os.path.join(out, "sub"))
        np.savez(os.path.join(out, "a.npz"), x=np.ones(1))
        json.dump({"x": 1}, open(os.path.join(out, "sub", "m.json"), "w"))
        from recording import show
        show("done", 1)
        """
    found = by_label(run_with_outputs(tmp_path, code, (pattern,)))
    assert any(label.startswith("outputs/") and value.dtype != NOT_WRITTEN for label, value in found.items())


READ_UNDER_A_MEMORY_CAP = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
import outputs
json.dump(outputs.read_file(sys.argv[1], sys.argv[2]), sys.stdout)
"""


def read_output(path: Path) -> dict[str, Value]:
    """One file as the launcher reads it (its reader, here under a 2 GiB memory cap), decoded as the
    runner decodes records, by label without the file's name."""
    done = subprocess.run(
        [sys.executable, "-c", READ_UNDER_A_MEMORY_CAP, str(path), "outputs/file"],
        env={**os.environ, "PYTHONPATH": str(INSIDE), "OPENBLAS_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    records = [value_from_record(record) for record in json.loads(done.stdout)]
    return {value.label.removeprefix("outputs/file"): value for value in records}


def npy_bytes(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, version=version)
    return stream.getvalue()


def safetensors_bytes(header: Mapping[str, object], body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


@pytest.mark.parametrize("name", ["f2", "f4", "f8", "c8", "c16", "i2", "i4", "u8", "b1"])
def test_big_endian_output_files_record_the_bits_of_their_values(tmp_path: Path, name: str) -> None:
    """Before: an HDF5 dataset stored big-endian was recorded byte-swapped (.npy was read right)."""
    native = np.array([[1, 0], [2, 1000]], dtype="=" + name)
    big = native.astype(">" + name)
    (tmp_path / "native.npy").write_bytes(npy_bytes(native))
    (tmp_path / "big.npy").write_bytes(npy_bytes(big))
    np.savez(tmp_path / "both.npz", native=native, big=big)
    with h5py.File(tmp_path / "both.h5", "w") as handle:
        handle.create_dataset("native", data=native)
        handle.create_dataset("big", data=big, dtype=big.dtype)
        assert handle["big"].dtype == big.dtype
    expected = read_output(tmp_path / "native.npy")[""]
    assert expected.shape == (2, 2)
    assert read_output(tmp_path / "big.npy")[""].key == expected.key
    archive = read_output(tmp_path / "both.npz")
    assert archive[":big"].key == archive[":native"].key == expected.key
    hdf5 = read_output(tmp_path / "both.h5")
    assert hdf5[":big"].key == hdf5[":native"].key == expected.key


def test_empty_json_containers_are_values_of_their_own(tmp_path: Path) -> None:
    """Before: an empty list or object recorded nothing, so {"warnings": []} equalled {}; and the
    document `1` was labelled like the key "" (`:/`)."""
    documents = {
        "empty list": {"warnings": []},
        "empty object": {"warnings": {}},
        "no key": {},
        "empty list document": [],
        "a value": {"warnings": [1]},
        "a document that is a number": 1,
        "the number under the key ''": {"": 1},
    }
    recorded = {}
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        recorded[name] = {label: value.key for label, value in read_output(path).items()}
    assert all(recorded[name] for name in documents), recorded
    distinct = {json.dumps(sorted(found.items())) for found in recorded.values()}
    assert len(distinct) == len(documents), recorded


def test_truncated_arrays_are_refused_never_read_as_zeros(tmp_path: Path) -> None:
    whole = npy_bytes(np.array([1, 2, 3], dtype="<i4"))
    (tmp_path / "short.npy").write_bytes(whole[:-4])
    (tmp_path / "short float.npy").write_bytes(npy_bytes(np.array([1.0, 2.0], dtype="<f4"))[:-1])
    header = {"w": {"dtype": "I32", "shape": [3], "data_offsets": [0, 12]}}
    (tmp_path / "short.safetensors").write_bytes(safetensors_bytes(header, b"\x01\0\0\0\x02\0\0\0"))
    for name in ("short.npy", "short float.npy", "short.safetensors"):
        found = read_output(tmp_path / name)
        assert list(found) == [""], (name, found)
        assert found[""].dtype == SHA256, name
        assert "truncated" in found[""].note, (name, found[""].note)


def test_a_header_announcing_a_huge_shape_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    """Before: the reader built a list of 2**40 elements (here: out of memory under the cap)."""
    small = npy_bytes(np.zeros(1, dtype="i1"))
    huge = small.replace(b"(1,)", b"(1099511627776,)".ljust(4)).replace(b" \n", b"\n", 1)
    (tmp_path / "huge.npy").write_bytes(huge)
    header = {"w": {"dtype": "I8", "shape": [2**40], "data_offsets": [0, 1]}}
    (tmp_path / "huge.safetensors").write_bytes(safetensors_bytes(header, b"\0"))
    for name in ("huge.npy", "huge.safetensors"):
        found = read_output(tmp_path / name)[""]
        assert found.dtype == SHA256, name
        assert "1,099,511,627,776" in found.note, (name, found.note)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_every_npy_format_version_is_read(tmp_path: Path, version: tuple[int, int]) -> None:
    """Before: versions 2.0 and 3.0 (a 4-byte header length) were read from the wrong offset."""
    (tmp_path / "v.npy").write_bytes(npy_bytes(np.array([1.5, -2.0], dtype="<f4"), version))
    found = read_output(tmp_path / "v.npy")[""]
    assert (found.dtype, found.bits) == ("float32", ("3fc00000", "c0000000"))


def npy_v3_with_header(header: bytes, body: bytes, *, version: int = 3) -> bytes:
    """A .npy file of format `version` (4-byte header length) whose header is `header`, padded."""
    padded = header + b" " * (63 - (12 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(padded).to_bytes(4, "little") + padded + body


@pytest.mark.parametrize("elements", [3, 70_000])  # read whole, or packed into a side file
@pytest.mark.parametrize(
    "broken",
    [  # the header (%d: the element count), the format version, why it is refused
        (b"{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), 'by': '\xff'}", 3, "UnicodeDecodeError"),
        (b"{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }", 4, ".npy format version 4.0"),
    ],
)
def test_a_npy_header_is_read_alike_whatever_the_array_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elements: int, broken: tuple[bytes, int, str]
) -> None:
    """Before: a big array's header was read apart (latin-1 for version 3, which is UTF-8; any
    version but 1 as 2), so an array refused when small was packed when big."""
    header, version, reason = broken
    monkeypatch.syspath_prepend(str(INSIDE))
    import outputs  # type: ignore[import-not-found]  # noqa: PLC0415  (inside/ is not the runner's package)

    written = tmp_path / "outputs"
    written.mkdir()
    body = np.arange(elements, dtype="<f4").tobytes()
    (written / "w.npy").write_bytes(npy_v3_with_header(header % elements, body, version=version))
    (record,) = outputs.collect(str(written), ["w.npy"], str(tmp_path / "side"))
    value = value_from_record(record)
    assert (value.dtype, value.packed) == (SHA256, None)
    assert reason in value.note
    assert not (tmp_path / "side").exists() or not list((tmp_path / "side").iterdir())
