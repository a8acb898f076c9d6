"""Hostile reports read both ways, held in memory and streamed to the side directory: the same
record either way, split at any byte, and nothing kept under a digest's name that is not it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_channel_stream import cell

from seedmatrix.backends.execute import to_record
from seedmatrix.channel import Capture, Finished
from seedmatrix.config import INSIDE, LAUNCHER
from seedmatrix.results import Record, RunStatus
from seedmatrix.values import Value

BOUNDARY = b"@@seedmatrix-" + b"0" * 32
MARKER = b"\n" + BOUNDARY + b" "
END = b"\n" + BOUNDARY + b" end\n"
BITS = bytes(range(16))  # four float32 (no NaN)
DIGEST = hashlib.sha256(BITS).hexdigest()
OTHER_BITS = bytes(range(16, 32))
OTHER = hashlib.sha256(OTHER_BITS).hexdigest()


def packed(sha256: str, size: int, label: str = "w") -> bytes:
    record = {
        "label": label,
        "dtype": "float32",
        "shape": [size // 4],
        "bits": [],
        "values": [],
        "packed": {"sha256": sha256, "size": size},
    }
    return json.dumps(record).encode() + b"\n"


def report(header: object, records: bytes, *side: bytes, end: bytes = END) -> bytes:
    head = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return b"text\n" + MARKER + head + b"\n" + records + b"".join(side) + end


def announced(records: bytes, *side: tuple[str, object], **more: object) -> dict[str, object]:
    return {"exit_code": 0, "records_bytes": len(records), "side_files": [list(s) for s in side], **more}


ONE = packed(DIGEST, 16)
PLAIN = announced(ONE, (DIGEST, 16))
TWO = packed(DIGEST, 16) + packed(OTHER, 16, "v")
HOSTILE = {
    "whole": report(announced(ONE, (DIGEST, 16)), ONE, BITS),
    "records longer than said": report({**PLAIN, "records_bytes": len(ONE) + 5}, ONE, BITS),
    "records shorter than said": report({**PLAIN, "records_bytes": len(ONE) - 5}, ONE, BITS),
    "records negative": report({**PLAIN, "records_bytes": -3}, ONE, BITS),
    "records huge": report({**PLAIN, "records_bytes": 10**30}, ONE, BITS),
    "records a float": report({**PLAIN, "records_bytes": float(len(ONE))}, ONE, BITS),
    "records infinite": report(
        json.dumps({**PLAIN, "records_bytes": "X"}).replace('"X"', "Infinity").encode(),
        ONE,
        BITS,
    ),
    "strays infinite": report(
        json.dumps({**PLAIN, "strays": "X"}).replace('"X"', "Infinity").encode(),
        ONE,
        BITS,
    ),
    "strays text": report({**PLAIN, "strays": "many"}, ONE, BITS),
    "side length negative": report(announced(ONE, (DIGEST, -16)), ONE, BITS),
    "side length huge": report(announced(ONE, (DIGEST, 10**30)), ONE, BITS),
    "side length true": report(announced(ONE, (DIGEST, True)), ONE, BITS),
    "side length text": report(announced(ONE, (DIGEST, "16")), ONE, BITS),
    "side length float": report(announced(ONE, (DIGEST, 16.0)), ONE, BITS),
    "side entry short": report({**announced(ONE), "side_files": [[DIGEST]]}, ONE, BITS),
    "side files a dict": report({**announced(ONE), "side_files": {DIGEST: 16}}, ONE, BITS),
    "side length short": report(announced(ONE, (DIGEST, 12)), ONE, BITS[:12]),
    "side length long": report(announced(ONE, (DIGEST, 20)), ONE, BITS + b"\0" * 4),
    "same name twice, good first": report(announced(ONE, (DIGEST, 16), (DIGEST, 4)), ONE, BITS, BITS[:4]),
    "same name twice, good last": report(announced(ONE, (DIGEST, 4), (DIGEST, 16)), ONE, BITS[:4], BITS),
    "same name twice, both good": report(announced(ONE, (DIGEST, 16), (DIGEST, 16)), ONE, BITS, BITS),
    "two names swapped": report(announced(TWO, (DIGEST, 16), (OTHER, 16)), TWO, OTHER_BITS, BITS),
    "two values, one file, two sizes": report(
        announced(ONE + packed(DIGEST, 32, "v"), (DIGEST, 16)), ONE + packed(DIGEST, 32, "v"), BITS
    ),
    "a name with separators": report(announced(ONE, ("../" + DIGEST, 16)), ONE, BITS),
    "an absolute name": report(announced(ONE, ("/tmp/" + DIGEST, 16)), ONE, BITS),
    "a name no value names": report(announced(ONE, (DIGEST, 16), (OTHER, 16)), ONE, BITS, OTHER_BITS),
    "a value without its file": report(announced(TWO, (DIGEST, 16)), TWO, BITS),
    "no end": report(announced(ONE, (DIGEST, 16)), ONE, BITS, end=b""),
    "end twice": report(announced(ONE, (DIGEST, 16)), ONE, BITS, end=END + END),
    "bytes after end": report(announced(ONE, (DIGEST, 16)), ONE, BITS, end=END + b"x"),
    "end cut": report(announced(ONE, (DIGEST, 16)), ONE, BITS, end=END[:-1]),
    "header a list": report([1, 2], ONE, BITS),
    "header not json": report(b"{", ONE, BITS),
    "no header line": b"text\n" + MARKER + json.dumps(announced(ONE, (DIGEST, 16))).encode(),
}


def read(tmp_path: Path, chunks: list[bytes], *, side_dir: Path | None, limit: int) -> Record:
    capture = Capture(1 << 20, boundary=BOUNDARY, report_limit=limit, side_dir=side_dir)
    for chunk in chunks:
        capture.add(chunk, None)
    finished = Finished.of(capture, exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)
    return to_record(
        cell(tmp_path), 1, finished, ran_on="host:test", side_dir=side_dir or tmp_path / "memory"
    )


def splits(data: bytes, step: int) -> list[list[bytes]]:
    return (
        [[data]] + [[data[:at], data[at:]] for at in range(1, len(data), step)] + [[bytes([b]) for b in data]]
    )


def record_values(verdict: tuple[object, ...]) -> tuple[Value, ...]:
    values = verdict[1]
    assert isinstance(values, tuple)
    return values


def verdict(record: Record) -> tuple[object, ...]:
    return record.status, record.values, record.stderr_tail, record.output


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize(
    "cut", [0, 3, len(END) + 5]
)  # bytes over the report's limit: none, in END, in a side file
def test_a_hostile_report_reads_the_same_in_memory_and_streamed_split_anywhere(
    tmp_path: Path, name: str, cut: int
) -> None:
    data = HOSTILE[name]
    limit = len(data) - len(b"text\n" + MARKER) - cut
    expected = verdict(read(tmp_path, [data], side_dir=None, limit=limit))
    for number, chunks in enumerate(splits(data, 7)):
        side_dir = tmp_path / f"side{number}"
        got = verdict(read(tmp_path, chunks, side_dir=side_dir, limit=limit))
        assert got == expected, [len(c) for c in chunks][:3]
        for path in side_dir.iterdir() if side_dir.exists() else ():  # temporary files too
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path.name
        if got[0] is RunStatus.OK:  # every side file its values name is at hand
            assert all((side_dir / v.packed.sha256).exists() for v in record_values(got) if v.packed)


@pytest.mark.parametrize("field", ["records_bytes", "strays"])
@pytest.mark.parametrize("number", [b"Infinity", b"-Infinity", b"NaN", b'"many"'])
def test_a_header_number_that_is_no_integer_is_unreadable_not_a_crash(
    tmp_path: Path, field: str, number: bytes
) -> None:
    """Before: int() of it raised out of read_report (OverflowError, ValueError), stopping the run."""
    header = json.dumps({**PLAIN, field: "X"}).replace('"X"', number.decode())
    for side_dir in (None, tmp_path / "side"):
        record = read(tmp_path, [report(header.encode(), ONE, BITS)], side_dir=side_dir, limit=1 << 20)
        assert record.status is RunStatus.BAD_OUTPUT
        assert "the launcher's report is unreadable" in record.stderr_tail


@pytest.mark.parametrize("streamed", [False, True])
def test_a_value_whose_size_is_not_its_side_files_is_refused_though_another_names_it_rightly(
    tmp_path: Path, streamed: bool
) -> None:
    """Before: the second value naming one side file was not checked, whatever size it claimed."""
    records = ONE + packed(DIGEST, 32, "v")
    data = report(announced(records, (DIGEST, 16)), records, BITS)
    record = read(tmp_path, [data], side_dir=tmp_path / "side" if streamed else None, limit=1 << 20)
    assert record.status is RunStatus.BAD_OUTPUT
    assert "'v': its side file does not match its size and SHA-256; refused" in record.stderr_tail


def test_a_side_file_no_value_names_is_not_kept_streamed_as_in_memory(tmp_path: Path) -> None:
    """Before: streamed, every whole side file was kept, named by a value or not: a script could
    fill the run's directory with files no record needs, which the memory path never kept."""
    data = report(announced(ONE, (DIGEST, 16), (OTHER, 16)), ONE, BITS, OTHER_BITS)
    for side_dir in (tmp_path / "memory", tmp_path / "side"):
        record = read(
            tmp_path, [data], side_dir=None if side_dir.name == "memory" else side_dir, limit=1 << 20
        )
        assert record.status is RunStatus.OK, record.stderr_tail
        assert sorted(path.name for path in side_dir.iterdir()) == [DIGEST]


def test_the_script_cannot_read_the_boundary_from_the_launchers_environment() -> None:
    # The launcher pops the boundary from os.environ, but /proc/<its pid>/environ keeps the block it
    # started with; a script (its child, the same user: nobody in a container) that read it could
    # forge the report after it. Run as nobody, with the system's Python, as in a container.
    setpriv, python = shutil.which("setpriv"), "/usr/bin/python3"
    if os.getuid() != 0 or setpriv is None or not os.access(python, os.X_OK):
        pytest.skip("needs root, setpriv and /usr/bin/python3 to run the launcher as nobody")
    tmp_path = Path(tempfile.mkdtemp(prefix="sm-nobody-"))  # pytest's own is root's alone
    try:
        denied = _launch_as_nobody(tmp_path, setpriv, python)
    finally:
        shutil.rmtree(tmp_path)
    assert denied


def _launch_as_nobody(tmp_path: Path, setpriv: str, python: str) -> bool:
    """Whether a script under the launcher, both run as nobody, was denied the launcher's environ."""
    peek = tmp_path / "peek.py"
    peek.write_text(
        "import os\n"
        "try:\n"
        "    with open(f'/proc/{os.getppid()}/environ', 'rb') as parent:\n"
        "        print('read', b'SEEDMATRIX_BOUNDARY=' in parent.read())\n"
        "except PermissionError:\n"
        "    print('denied')\n",
        encoding="utf-8",
    )
    records = tmp_path / "records"
    records.mkdir()
    for path in (tmp_path, peek, records):
        path.chmod(0o777 if path.is_dir() else 0o644)
    launcher = tmp_path / "launch.py"
    shutil.copy(INSIDE / LAUNCHER, launcher)  # where nobody can read it
    launcher.chmod(0o644)
    finished = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, str(launcher), str(peek)],
        env={"SEEDMATRIX_BOUNDARY": "b0undary", "SEEDMATRIX_RECORDS_DIR": str(records),
             "SEEDMATRIX_RECORDS_LIMIT": "100000", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.splitlines()[0] == "denied"
