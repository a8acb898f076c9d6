"""Big output files (real checkpoints): packed arrays, their side files, and distances read in chunks."""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import replace
from pathlib import Path

import docker
import numpy as np
import pytest

from seedmatrix.backends.docker import container
from seedmatrix.backends.execute import RunContext, keep_side_files, run_repeat
from seedmatrix.channel import Capture, Finished, new_boundary, read_report
from seedmatrix.claims import Verdict, check_claims
from seedmatrix.compare import compare
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.published import Reproduced, check_published
from seedmatrix.results import Build, RunStatus
from seedmatrix.store import RunDirectory, load_results
from seedmatrix.values import Packed, Value, check, difference, within

from builders import case, environment, record, repeated, results
from test_outputs import run_with_outputs


def packed_value(side_dir: Path, array: np.ndarray, label: str = "outputs/w.npy") -> Value:
    """A packed value as the launcher records it: canonical big-endian bits in a side file."""
    data = array.astype(array.dtype.newbyteorder(">")).tobytes()
    digest = hashlib.sha256(data).hexdigest()
    side_dir.mkdir(parents=True, exist_ok=True)
    (side_dir / digest).write_bytes(data)
    packed = Packed(sha256=digest, size=len(data), path=side_dir / digest)
    return check(
        Value(label=label, dtype=str(array.dtype), shape=array.shape, bits=(), values=(), packed=packed)
    )


def test_a_float32_output_of_two_million_elements_is_recorded(tmp_path: Path) -> None:
    # 8 MiB of float32: as per-element JSON it overflowed the 64 MiB records file (bad output).
    record = run_with_outputs(
        tmp_path,
        """
        import os
        import numpy as np
        weights = np.random.default_rng(0).standard_normal((2100, 1000)).astype("<f4")
        np.save(os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "w.npy"), weights)
        """,
        ("w.npy",),
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    (value,) = record.values
    expected = np.random.default_rng(0).standard_normal((2100, 1000)).astype(">f4").tobytes()
    assert (value.dtype, value.shape) == ("float32", (2100, 1000))
    assert value.packed == Packed(sha256=hashlib.sha256(expected).hexdigest(), size=len(expected))


def test_side_files_reach_the_run_directory_once_and_equal_arrays_compare_equal(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path / "results")
    code = """
        import os
        import numpy as np
        out = os.environ["SEEDMATRIX_OUTPUTS"]
        np.save(os.path.join(out, "a.npy"), np.arange(100_000, dtype="<i8"))
        np.save(os.path.join(out, "b.npy"), np.arange(100_000, dtype=">i8"))  # same numbers, other order
        """
    first = run_with_outputs(tmp_path, code, ("*.npy",), side_dir=run.side_dir)
    assert first.status is RunStatus.OK, first.stderr_tail
    run.save_record(first)
    a, b = RunDirectory(run.path).load_records()[0].values
    assert a.packed is not None
    assert a.packed.path is not None
    assert a.key[1:] == b.key[1:]
    assert difference(a, b).equal
    assert [path.name for path in run.side_dir.iterdir()] == [a.packed.sha256]
    assert a.packed.path.read_bytes() == np.arange(100_000, dtype=">i8").tobytes()


def test_one_changed_element_gives_its_index_distance_and_ulps(tmp_path: Path) -> None:
    weights = np.random.default_rng(0).standard_normal((500, 400)).astype(np.float32)
    changed = weights.copy()
    changed[321, 17] = np.nextafter(changed[321, 17], np.float32(np.inf))
    changed[480, 3] = np.nextafter(np.nextafter(changed[480, 3], np.float32(-np.inf)), np.float32(-np.inf))
    mine, theirs = packed_value(tmp_path / "a", changed), packed_value(tmp_path / "b", weights)
    found = difference(mine, theirs)
    assert not found.equal
    assert (found.elements, found.differing, found.first_index) == (200_000, 2, (321, 17))
    assert found.max_ulps == 2
    gaps = np.abs(changed.astype(np.float64) - weights.astype(np.float64))
    assert found.max_abs == gaps.max()
    assert within(mine, theirs, ulps=2) is not None
    assert "not checked" in str(within(mine, theirs, ulps=2))


def test_a_corrupted_or_missing_side_file_leaves_the_distance_not_checked(tmp_path: Path) -> None:
    weights = np.arange(70_000, dtype=np.float32)
    other = weights + 1
    mine, theirs = packed_value(tmp_path / "a", weights), packed_value(tmp_path / "b", other)
    assert mine.packed is not None
    assert mine.packed.path is not None
    data = bytearray(mine.packed.path.read_bytes())
    data[-1] ^= 1
    mine.packed.path.write_bytes(bytes(data))
    found = difference(mine, theirs)
    assert not found.equal
    assert found.differing == 0
    assert found.max_abs is None
    assert any("distance not checked" in note and "SHA-256" in note for note in found.notes)
    mine.packed.path.unlink()
    assert any("distance not checked" in note for note in difference(mine, theirs).notes)


def test_a_side_file_missing_at_first_is_read_once_it_is_there(tmp_path: Path) -> None:
    mine = packed_value(tmp_path / "a", np.zeros(70_000, np.float16))
    theirs = packed_value(tmp_path / "b", np.ones(70_000, np.float16))
    assert mine.packed is not None
    assert mine.packed.path is not None
    kept = mine.packed.path.read_bytes()
    mine.packed.path.unlink()
    assert any("distance not checked" in note for note in difference(mine, theirs).notes)
    mine.packed.path.write_bytes(kept)
    assert (difference(mine, theirs).differing, difference(mine, theirs).max_abs) == (70_000, 1.0)


def element_by_element(packed: Value, array: np.ndarray) -> Value:
    """`array` as a schema-2 run recorded it: each element's bits in the record (big-endian hex)."""
    if array.dtype == np.bool_:
        bits = tuple("true" if x else "false" for x in array.tolist())
    elif array.dtype.kind in "iu":
        bits = tuple(str(x) for x in array.tolist())
    else:
        raw = array.astype(array.dtype.newbyteorder(">")).tobytes()
        width = array.dtype.itemsize
        bits = tuple(raw[i : i + width].hex() for i in range(0, len(raw), width))
    return check(replace(packed, packed=None, bits=bits, values=("v",) * len(bits)))


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8, np.bool_, np.complex64])
def test_a_packed_array_against_one_recorded_element_by_element_is_compared_by_content(
    tmp_path: Path, dtype: type[np.generic]
) -> None:
    """Before: never equal ("distance not checked: one is kept in a side file, the other element by
    element"), so the same array in a schema-2 baseline and packed today read "changed"."""
    array = (np.arange(70_000) % 7 - 3).astype(dtype)
    mine = packed_value(tmp_path, array)
    theirs = element_by_element(mine, array)
    for found in (difference(mine, theirs), difference(theirs, mine)):
        assert (found.equal, found.elements, found.notes) == (True, 70_000, ())
    assert mine.packed is not None
    assert mine.packed.path is not None
    mine.packed.path.unlink()  # equal by digest: the side file is not needed
    assert difference(mine, theirs).equal
    assert within(mine, theirs) is None  # the same bits: within any tolerance


def test_a_packed_array_unlike_the_one_recorded_element_by_element_has_its_distance(tmp_path: Path) -> None:
    array = np.arange(70_000, dtype=np.float32)
    nudged = array.copy()
    nudged[69_999] += 0.5
    mine = packed_value(tmp_path, nudged)
    theirs = element_by_element(mine, array)
    found = difference(mine, theirs)
    assert (found.equal, found.differing, found.first_index, found.max_abs) == (False, 1, (69_999,), 0.5)
    assert mine.packed is not None
    assert mine.packed.path is not None
    mine.packed.path.unlink()
    assert "not checked" in str(within(mine, theirs, atol=1.0))  # tolerances on side files: not checked
    missing = difference(theirs, mine)
    assert (missing.equal, missing.differing) == (False, 0)
    assert any(note.startswith("distance not checked: side file") for note in missing.notes), missing


def test_a_side_file_that_does_not_match_its_record_is_refused_on_arrival(tmp_path: Path) -> None:
    bits = b"\x3f\x80\x00\x00" * 70_000
    digest = hashlib.sha256(bits).hexdigest()
    records = (
        '{"label": "outputs/w.npy", "dtype": "float32", "shape": [70000], "bits": [], "values": [], '
        f'"packed": {{"sha256": "{digest}", "size": {len(bits)}}}}}\n'
    ).encode()

    def report(side: bytes) -> bytes:
        header = (
            f'{{"exit_code": 0, "records_bytes": {len(records)}, "side_files": [["{digest}", {len(side)}]]}}'
        )
        return header.encode() + b"\n" + records + side + b"\n@@b end\n"

    whole = read_report(report(bits))
    assert whole.problems == ()
    keep_side_files(whole, tmp_path / "whole")
    assert (tmp_path / "whole" / digest).read_bytes() == bits
    for side in (bits[:-1] + b"\x01", bits[:-4]):
        corrupted = read_report(report(side))
        assert any(
            "does not match its size and SHA-256; refused" in problem for problem in corrupted.problems
        )
        keep_side_files(corrupted, tmp_path / "corrupted")
        assert not (tmp_path / "corrupted").exists()


def test_a_late_chunk_cannot_resize_the_report_a_record_is_reading() -> None:
    boundary = new_boundary()
    capture = Capture(1 << 20, boundary=boundary, report_limit=1 << 20)
    capture.add(
        b"text\n" + boundary + b' {"exit_code": 0, "records_bytes": 0}\n' + boundary + b" end\n", None
    )
    finished = Finished.of(capture, exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)
    report = read_report(finished.report)  # its side files are views into the capture's buffer
    capture.add(b"x" * 100, None)
    assert report.problems == ()
    assert finished.report == b'{"exit_code": 0, "records_bytes": 0}\n' + boundary + b" end\n"


@pytest.mark.parametrize("size", [70_000 * 4 - 1, 70_000 * 4 + 4])
def test_a_packed_value_whose_size_is_not_its_shape_is_refused(size: int) -> None:
    packed = Packed(sha256="0" * 64, size=size)
    with pytest.raises(ValueError, match="is not float32 of shape"):
        check(Value(label="w", dtype="float32", shape=(70_000,), bits=(), values=(), packed=packed))


def test_safetensors_checkpoints_pack_big_tensors_and_keep_small_ones_whole(tmp_path: Path) -> None:
    record = run_with_outputs(
        tmp_path,
        """
        import os
        import numpy as np
        from safetensors.numpy import save_file
        out = os.environ["SEEDMATRIX_OUTPUTS"]
        save_file({"big": np.full((300, 300), 1.5, np.float16), "bias": np.ones(3, np.float32)},
                  os.path.join(out, "model.safetensors"))
        np.save(os.path.join(out, "c.npy"), np.full(70_000, 1 + 2j, dtype="<c8"))
        """,
        ("model.safetensors", "c.npy"),
        side_dir=tmp_path / "side",
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    bias, big, complex_ = record.values
    assert bias.packed is None
    assert bias.bits == ("3f800000",) * 3
    assert big.packed is not None
    assert (big.dtype, big.shape) == ("float16", (300, 300))
    assert (tmp_path / "side" / big.packed.sha256).read_bytes() == b"\x3e\x00" * 90_000
    assert complex_.packed is not None
    assert complex_.dtype == "complex64"
    assert (tmp_path / "side" / complex_.packed.sha256).read_bytes() == b"\x3f\x80\0\0\x40\0\0\0" * 70_000


def test_published_numbers_are_not_checked_against_a_packed_array(tmp_path: Path) -> None:
    weights = packed_value(tmp_path, np.zeros(70_000, np.float32), label="w")
    res = results(
        [environment("e")],
        [case("c", expected={"source": "test", "digits": 8, "values": {"w": ["0.0"] * 70_000}})],
        repeated("e", "c", [weights], 2),
        repeats=2,
    )
    [found] = check_published(res, compare(res))
    assert found.verdict is Reproduced.UNCHECKED
    assert "side file" in found.evidence


def test_a_record_reused_or_merged_into_another_run_brings_its_side_file(tmp_path: Path) -> None:
    earlier, later, merged = (RunDirectory.create(tmp_path / name) for name in ("one", "two", "merged"))
    value = packed_value(earlier.side_dir, np.arange(70_000, dtype=np.int32))
    earlier.save_record(record("e", "c", 1, [value]))
    [reused] = earlier.load_records()
    later.save_record(reused)
    merged.save_results(results([environment("e")], [case("c")], [reused], repeats=1))
    from_records = RunDirectory(later.path).load_records()[0].values[0]
    from_results = load_results(merged.results_file).records[0].values[0]
    for run, kept in ((later, from_records), (merged, from_results)):
        assert kept.packed is not None
        assert kept.packed.path == run.side_dir / kept.packed.sha256
        assert kept.packed.path.read_bytes() == np.arange(70_000, dtype=">i4").tobytes()


def test_npz_archives_pack_their_big_arrays_compressed_or_not(tmp_path: Path) -> None:
    record = run_with_outputs(
        tmp_path,
        """
        import os
        import numpy as np
        out = os.environ["SEEDMATRIX_OUTPUTS"]
        np.savez(os.path.join(out, "plain.npz"), big=np.ones(70_000, bool), step=np.int64(7))
        np.savez_compressed(os.path.join(out, "small.npz"), big=np.arange(70_000, dtype="<u2"))
        """,
        ("plain.npz", "small.npz"),
        side_dir=tmp_path / "side",
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    big, step, compressed = record.values
    assert (big.label, step.label, compressed.label) == (
        "outputs/plain.npz:big",
        "outputs/plain.npz:step",
        "outputs/small.npz:big",
    )
    assert step.bits == ("7",)
    assert big.packed is not None
    assert compressed.packed is not None
    assert (tmp_path / "side" / big.packed.sha256).read_bytes() == b"\1" * 70_000
    assert (tmp_path / "side" / compressed.packed.sha256).read_bytes() == np.arange(
        70_000, dtype=">u2"
    ).tobytes()


def test_a_big_array_cut_short_is_compared_by_its_digest_with_the_reason(tmp_path: Path) -> None:
    record = run_with_outputs(
        tmp_path,
        """
        import os
        import numpy as np
        path = os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "w.npy")
        np.save(path, np.zeros(70_000, np.float32))
        os.truncate(path, os.path.getsize(path) - 4)
        """,
        ("w.npy",),
        side_dir=tmp_path / "side",
    )
    (value,) = record.values
    assert value.dtype == "sha256"
    assert "the file ends 4 bytes early" in value.note
    assert not (tmp_path / "side").exists()


@pytest.mark.docker
def test_a_container_sends_a_big_checkpoint_back_through_its_records_space(
    docker_client: docker.DockerClient, small_image: Build, run_label: str, tmp_path: Path
) -> None:
    # 64 MB of float32 (16 M elements): as big as the records limit, in a 96 MiB outputs directory.
    (tmp_path / "write.py").write_text(
        textwrap.dedent(
            """
            import os
            import numpy as np
            weights = np.arange(16 << 20, dtype="<f4").reshape(4096, 4096)
            np.save(os.path.join(os.environ["SEEDMATRIX_OUTPUTS"], "w.npy"), weights)
            """
        ),
        encoding="utf-8",
    )
    tmp_path.chmod(0o755)  # mounted as the working directory; the script runs as nobody
    assert small_image.image_id is not None
    cell = Cell(
        environment="small",
        case="c",
        script=tmp_path / "write.py",
        workdir=tmp_path,
        repeats=1,
        limits=Limits(timeout_seconds=120, memory="1g", outputs_mb=96),
        outputs=("w.npy",),
    )
    context = RunContext(
        client=docker_client,
        owner=container.Owner(run_id=run_label),
        host_environ={},
        identities={"small": small_image.image_id},
        jobs=1,
        cpu_ids=[0],
        side_dir=tmp_path / "side",
    )
    record = run_repeat(context, cell, 1, cpu_ids=[0])
    assert record.status is RunStatus.OK, record.stderr_tail
    (value,) = record.values
    expected = np.arange(16 << 20, dtype=">f4").tobytes()
    assert value.packed == Packed(sha256=hashlib.sha256(expected).hexdigest(), size=len(expected))
    assert (tmp_path / "side" / value.packed.sha256).read_bytes() == expected


@pytest.mark.parametrize("kind", ["stable_within", "close_to_reference"])
def test_a_tolerance_claim_on_differing_packed_arrays_is_not_checked_not_a_surprise(
    tmp_path: Path, kind: str
) -> None:
    """Before: within()'s 'not checked' answer was taken for 'not within': a SURPRISE for 1 ULP under 4."""
    weights = np.arange(70_000, dtype=np.float32)
    nudged = weights.copy()
    nudged[5] = np.nextafter(nudged[5], np.float32(np.inf))
    first, second = packed_value(tmp_path / "a", weights), packed_value(tmp_path / "b", nudged)
    tolerance = {"outputs/w.npy": {"ulps": 4, "atol": None, "rtol": None}}
    if kind == "stable_within":
        records = [record("a", "c", 1, [first]), record("a", "c", 2, [second]), record("a", "c", 3, [first])]
        envs = [environment("a")]
    else:
        records = [*repeated("a", "c", [first]), *repeated("b", "c", [second])]
        envs = [environment("a"), environment("b")]
    run = results(envs, [case("c", claims={kind: tolerance})], records)
    checks = [found for found in check_claims(run, compare(run)) if found.kind == kind]
    assert checks
    assert {found.verdict for found in checks} <= {Verdict.HELD, Verdict.UNCHECKED}
    assert any(
        found.verdict is Verdict.UNCHECKED
        and "tolerances are not checked on arrays kept in side files" in found.evidence
        for found in checks
    )
