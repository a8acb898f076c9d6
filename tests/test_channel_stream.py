"""The launcher's side files written to the run's side directory as they arrive: memory stays bounded
whatever their size, and nothing but a whole file whose SHA-256 is its name is ever kept."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tracemalloc
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import docker
import numpy as np
import pytest

from seedmatrix.backends.docker import container
from seedmatrix.backends.docker.execute import run_in_container
from seedmatrix.backends.execute import to_record
from seedmatrix.backends.host.execute import run_on_host
from seedmatrix.channel import Capture, Finished, new_boundary
from seedmatrix.errors import ResultsError
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.results import Build, Record, RunStatus

MIB = 1 << 20
#: 1 MiB of float32 bits (no NaN), the chunk a side file is sent in
CHUNK = bytes(range(64)) * (MIB // 64)


def cell(tmp_path: Path) -> Cell:
    return Cell(
        environment="host",
        case="c",
        script=tmp_path / "script.py",
        workdir=tmp_path,
        repeats=1,
        limits=Limits(timeout_seconds=60),
    )


def records_line(*, sha256: str, size: int) -> bytes:
    record = {
        "label": "outputs/w.npy",
        "dtype": "float32",
        "shape": [size // 4],
        "bits": [],
        "values": [],
        "packed": {"sha256": sha256, "size": size},
    }
    return json.dumps(record).encode() + b"\n"


def feed(capture: Capture, boundary: bytes, *, announced: Iterable[tuple[str, int]], records: bytes) -> None:
    header = {"exit_code": 0, "records_bytes": len(records), "side_files": [list(s) for s in announced]}
    marker = b"\n" + boundary + b" "
    capture.add(b"the script's text\n" + marker + json.dumps(header).encode() + b"\n" + records, None)


def sending_one_chunk(
    tmp_path: Path, *, announced_size: int = len(CHUNK), report_limit: int = 4 * MIB
) -> tuple[Capture, bytes]:
    """A capture that has read a report up to its one side file, CHUNK's bits, announced at
    `announced_size` bytes; and the report's boundary."""
    digest = hashlib.sha256(CHUNK).hexdigest()
    boundary = new_boundary()
    capture = Capture(MIB, boundary=boundary, report_limit=report_limit, side_dir=tmp_path / "side")
    records = records_line(sha256=digest, size=len(CHUNK))
    feed(capture, boundary, announced=[(digest, announced_size)], records=records)
    return capture, boundary


def recorded(tmp_path: Path, capture: Capture) -> Record:
    finished = Finished.of(capture, exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)
    return to_record(cell(tmp_path), 1, finished, ran_on="host:test", side_dir=tmp_path / "side")


def kept(side_dir: Path) -> list[str]:
    """Every file in the side directory, temporary ones included."""
    return sorted(path.name for path in side_dir.iterdir()) if side_dir.exists() else []


def test_a_64_mib_side_file_goes_to_disk_as_it_arrives_in_bounded_memory(tmp_path: Path) -> None:
    """Before: the runner held the whole report, side files included (64 MiB here, 200 MB for the
    benchmark's checkpoint) until the record was made."""
    chunks = 64
    size = chunks * len(CHUNK)
    digest = hashlib.sha256(CHUNK * chunks).hexdigest()
    boundary = new_boundary()
    capture = Capture(MIB, boundary=boundary, report_limit=size + MIB, side_dir=tmp_path / "side")
    tracemalloc.start()
    try:
        feed(capture, boundary, announced=[(digest, size)], records=records_line(sha256=digest, size=size))
        for _ in range(chunks):
            capture.add(CHUNK, None)
        capture.add(b"\n" + boundary + b" end\n", None)
        record = recorded(tmp_path, capture)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.status is RunStatus.OK, record.stderr_tail
    assert peak < 8 * MIB
    assert kept(tmp_path / "side") == [digest]
    with (tmp_path / "side" / digest).open("rb") as stream:
        assert hashlib.file_digest(stream, "sha256").hexdigest() == digest
    assert record.output == "the script's text\n"


def test_a_side_file_already_kept_is_left_as_it_is(tmp_path: Path) -> None:
    digest = hashlib.sha256(CHUNK).hexdigest()
    (tmp_path / "side").mkdir()
    (tmp_path / "side" / digest).write_bytes(CHUNK)
    os.link(tmp_path / "side" / digest, tmp_path / "linked")  # as another run's directory holds it
    capture, boundary = sending_one_chunk(tmp_path)
    capture.add(CHUNK + b"\n" + boundary + b" end\n", None)
    assert recorded(tmp_path, capture).status is RunStatus.OK
    assert kept(tmp_path / "side") == [digest]
    assert (tmp_path / "side" / digest).stat().st_nlink == 2


@pytest.mark.parametrize(
    ("sent", "announced_size"),
    [
        (CHUNK[:-1] + b"\x01", len(CHUNK)),  # other bits under the same name
        (CHUNK + b"\0\0\0\0", len(CHUNK) + 4),  # longer than its record says
        (CHUNK[:-4], len(CHUNK) - 4),  # shorter than its record says
    ],
)
def test_a_side_file_unlike_its_record_is_refused_and_nothing_is_kept(
    tmp_path: Path, sent: bytes, announced_size: int
) -> None:
    capture, boundary = sending_one_chunk(tmp_path, announced_size=announced_size)
    capture.add(sent + b"\n" + boundary + b" end\n", None)
    record = recorded(tmp_path, capture)
    assert record.status is RunStatus.BAD_OUTPUT
    assert "does not match its size and SHA-256; refused" in record.stderr_tail
    assert kept(tmp_path / "side") == []


@pytest.mark.parametrize("cut", [0, 1000, len(CHUNK) - 1, len(CHUNK)])
def test_a_stream_cut_short_leaves_nothing_half_written(tmp_path: Path, cut: int) -> None:
    capture, _ = sending_one_chunk(tmp_path)
    capture.add(CHUNK[:cut], None)  # then the repeat is killed: no END marker
    capture.finish()
    record = recorded(tmp_path, capture)
    assert record.status is RunStatus.BAD_OUTPUT
    assert "the launcher's report was cut short" in record.stderr_tail
    if cut < len(CHUNK):
        assert "does not match its size and SHA-256; refused" in record.stderr_tail
        assert kept(tmp_path / "side") == []
    else:  # the side file itself came whole: kept, as it was before it was streamed
        assert kept(tmp_path / "side") == [hashlib.sha256(CHUNK).hexdigest()]


def test_bytes_that_arrive_after_the_stream_ended_are_not_written(tmp_path: Path) -> None:
    capture, _ = sending_one_chunk(tmp_path)
    capture.add(CHUNK[:100], None)
    capture.finish()
    capture.add(CHUNK[100:], None)
    assert kept(tmp_path / "side") == []


def test_a_report_over_its_limit_is_cut_and_its_side_file_refused(tmp_path: Path) -> None:
    capture, boundary = sending_one_chunk(tmp_path, report_limit=MIB)
    capture.add(CHUNK + b"\n" + boundary + b" end\n", None)
    record = recorded(tmp_path, capture)
    assert "the launcher's report was cut short" in record.stderr_tail
    assert "does not match its size and SHA-256; refused" in record.stderr_tail
    assert kept(tmp_path / "side") == []


def test_a_side_file_that_cannot_be_written_stops_the_run_naming_it(tmp_path: Path) -> None:
    (tmp_path / "side").write_text("a file where the side directory should be")
    capture, boundary = sending_one_chunk(tmp_path)
    capture.add(CHUNK + b"\n" + boundary + b" end\n", None)
    with pytest.raises(ResultsError, match=r"cannot write .*side"):
        recorded(tmp_path, capture)


def test_an_unreadable_header_is_kept_in_memory_and_refused_as_before(tmp_path: Path) -> None:
    boundary = new_boundary()
    capture = Capture(MIB, boundary=boundary, report_limit=4 * MIB, side_dir=tmp_path / "side")
    header = b'{"side_files": [["x", -1]], "records_bytes": 0}'
    capture.add(b"\n" + boundary + b" " + header + b"\n" + boundary + b" end\n", None)
    record = recorded(tmp_path, capture)
    assert record.status is RunStatus.BAD_OUTPUT
    assert "the launcher's report is unreadable (side file 'x' of -1 bytes)" in record.stderr_tail
    assert kept(tmp_path / "side") == []


SAVES_AN_ARRAY = (
    "import os\nimport numpy as np\n"
    "np.save(os.path.join(os.environ['SEEDMATRIX_OUTPUTS'], 'w.npy'), np.arange(1 << 20, dtype='<f4'))\n"
)


def check_streamed(streamed_cell: Cell, finished: Finished, *, ran_on: str, side_dir: Path) -> None:
    """The saved array's bits went to disk, not into the report, and are kept under their digest."""
    bits = np.arange(1 << 20, dtype=">f4").tobytes()
    digest = hashlib.sha256(bits).hexdigest()
    assert finished.report is not None
    assert len(finished.report) < len(bits)  # the side file went to disk, not into the report
    record = to_record(streamed_cell, 1, finished, ran_on=ran_on, side_dir=side_dir)
    assert record.status is RunStatus.OK, record.stderr_tail
    (value,) = record.values
    assert value.packed is not None
    assert value.packed.sha256 == digest
    assert kept(side_dir) == [digest]
    assert (side_dir / digest).read_bytes() == bits


def test_the_host_backend_streams_a_packed_array_into_the_side_directory(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SAVES_AN_ARRAY, encoding="utf-8")
    host_cell = replace(cell(tmp_path), outputs=("w.npy",), host_python=sys.executable)
    finished = run_on_host(
        host_cell,
        sys.executable,
        host_environ=os.environ,
        cpu_ids=[0],
        boundary=new_boundary(),
        side_dir=tmp_path / "side",
    )
    check_streamed(host_cell, finished, ran_on="host:test", side_dir=tmp_path / "side")


@pytest.mark.docker
def test_the_docker_backend_streams_a_packed_array_into_the_side_directory(
    docker_client: docker.DockerClient, small_image: Build, run_label: str, tmp_path: Path
) -> None:
    (tmp_path / "script.py").write_text(SAVES_AN_ARRAY, encoding="utf-8")
    tmp_path.chmod(0o755)  # mounted as the working directory; the script runs as nobody
    assert small_image.image_id is not None
    image_cell = replace(cell(tmp_path), environment="small", outputs=("w.npy",))
    finished = run_in_container(
        docker_client,
        container.Owner(run_id=run_label),
        image_cell,
        image=small_image.image_id,
        gpus=None,
        cpu_ids=[0],
        boundary=new_boundary(),
        side_dir=tmp_path / "side",
    )
    check_streamed(image_cell, finished, ran_on=small_image.image_id, side_dir=tmp_path / "side")
