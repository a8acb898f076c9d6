"""What one repeat sent back: the text people read, and the launcher's report with the records.

The launcher (inside/launch.py) writes its report on stdout after the script has ended, behind a
line that starts with a boundary the runner chose for that repeat. `Capture` reads stdout and
stderr as they arrive: stdout up to the boundary is the script's text (the first `text_limit`
bytes are kept, the rest counted), what follows is the report (kept up to `report_limit` bytes).
Stderr keeps its last `text_limit` bytes. Memory is bounded whatever the script prints, and the
script's printing can never crowd out its values: they travel in the report.

Given a side directory, `Capture` writes the report's side files (a packed array's bits, as big as
a checkpoint) into it as they arrive, so memory stays bounded by the records however big the
outputs: each goes to a temporary file, hashed on the way, and is renamed to its name only when it
came whole and its SHA-256 is that name. Whatever ends the stream early, nothing half-written is
left under a digest's name.

`read_report` turns a report into values and a device report; pure, so a unit test can feed it
anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import tempfile
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .limits import Limits
from .values import Packed, Value, check

END = b" end\n"


def new_boundary() -> bytes:
    """A line prefix no script prints by accident."""
    return b"@@seedmatrix-" + secrets.token_hex(16).encode()


def launcher_variables(
    boundary: bytes, *, records_dir: str, outputs_dir: str, limits: Limits, outputs: Sequence[str]
) -> dict[str, str]:
    """What inside/launch.py reads (and hides from the script), and where the script writes outputs."""
    return {
        "SEEDMATRIX_BOUNDARY": boundary.decode(),
        "SEEDMATRIX_RECORDS_DIR": records_dir,
        "SEEDMATRIX_RECORDS_LIMIT": str(limits.records_bytes),
        "SEEDMATRIX_OUTPUTS": outputs_dir,  # the script's: where to write the files to compare
        "SEEDMATRIX_OUTPUT_FILES": json.dumps(list(outputs)),
        "SEEDMATRIX_OUTPUTS_LIMIT": str(limits.outputs_mb << 20),
    }


class Capture:
    """Stdout split at the boundary, each part bounded; stderr's tail. Counts everything.

    With a `side_dir`, the report's side files go there as they arrive instead of into `report`."""

    def __init__(
        self,
        text_limit: int,
        *,
        boundary: bytes | None = None,
        report_limit: int = 0,
        side_dir: Path | None = None,
    ) -> None:
        self.text_limit = text_limit
        self.report_limit = report_limit
        self._marker = b"\n" + boundary + b" " if boundary else None
        self._pending = b""  # the end of stdout that might be the start of the marker
        self.text = bytearray()
        self.report: bytearray | None = None  # None until the boundary was seen
        self.report_bytes = 0  # bytes after the boundary, side files included, up to report_limit
        self.report_overflow = False
        self.stderr = bytearray()
        self.total = 0  # bytes the process wrote, kept or not
        self.text_bytes = 0  # bytes of the script's own stdout
        self.stderr_bytes = 0
        self.taken = False  # the stream ended, or Finished holds the report: nothing more is added
        self._side_dir = side_dir  # None once the side files are known to stay in `report`
        self._header_searched = 0  # how much of `report` holds no newline (the header's end)
        self._side_files: _SideFileWriter | None = None  # once the header is read
        self._lock = threading.Lock()  # a reader thread may still add while the repeat is finished

    def add(self, out: bytes | None, err: bytes | None) -> None:
        with self._lock:
            if self.taken:  # a late chunk from a stream closing after the repeat ended
                return
            if out:
                self.total += len(out)
                self._stdout(out)
            if err:
                self.total += len(err)
                self.stderr_bytes += len(err)
                self.stderr += err
                del self.stderr[: max(0, len(self.stderr) - self.text_limit)]

    def _stdout(self, data: bytes) -> None:
        if self.report is not None:
            self._report(data)
            return
        if self._marker is None:
            self._text(data)
            return
        window = self._pending + data
        found = window.find(self._marker)
        if found >= 0:
            self._text(window[:found])
            self._pending = b""
            self.report = bytearray()
            self._report(window[found + len(self._marker) :])
            return
        keep = len(self._marker) - 1
        self._text(window[: max(0, len(window) - keep)])
        self._pending = window[max(0, len(window) - keep) :]

    def _text(self, data: bytes) -> None:
        self.text_bytes += len(data)
        room = self.text_limit - len(self.text)
        if room > 0:
            self.text += data[:room]

    def _report(self, data: bytes) -> None:
        assert self.report is not None
        room = self.report_limit - self.report_bytes
        if len(data) > room:
            self.report_overflow = True
        view = memoryview(data)[: max(0, room)]
        self.report_bytes += len(view)
        if self._side_files is not None:
            self._side_files.write(view, rest=self.report)
            return
        self.report += view
        if self._side_dir is not None:
            self._stream_side_files()

    def _stream_side_files(self) -> None:
        """Once the header has come: from here on its side files go to disk, what follows them
        to `report`. A header read_report cannot follow keeps everything in `report` (it is
        refused there, in the same words as ever)."""
        assert self.report is not None
        assert self._side_dir is not None
        end = self.report.find(b"\n", self._header_searched)
        if end < 0:
            self._header_searched = len(self.report)
            return
        side_dir, self._side_dir = self._side_dir, None
        try:
            header = json.loads(bytes(self.report[:end]))
            records = int(header["records_bytes"])
            announced = _announced_side_files(header)
        except (ValueError, KeyError, TypeError, OverflowError):
            return
        if records < 0:
            return
        after = bytes(self.report[end + 1 :])
        del self.report[end + 1 :]
        self._side_files = _SideFileWriter(side_dir, records=records, announced=announced)
        self._side_files.write(memoryview(after), rest=self.report)

    def finish(self) -> None:
        """The stream ended: what was held back waiting for the marker is text after all; a side
        file not yet whole is removed. Nothing is added from here on."""
        with self._lock:
            if self.taken:
                return
            self.taken = True
            if self._pending:
                self._text(self._pending)
                self._pending = b""
            if self._side_files is not None:
                self._side_files.end()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *_: object) -> None:
        self.finish()

    def drain_pipe(self, pipe: IO[bytes], *, stderr: bool) -> None:
        """Read a process's stdout or stderr to its end (the host backend)."""
        with pipe:
            while chunk := os.read(pipe.fileno(), 65536):
                self.add(None, chunk) if stderr else self.add(chunk, None)

    @property
    def capped(self) -> bool:
        """The script wrote more text (stdout or stderr) than was kept."""
        return self.text_bytes > len(self.text) or self.stderr_bytes > len(self.stderr)

    @property
    def side_files(self) -> Mapping[str, StreamedSideFile] | None:
        """The side files written to disk as they came, by the name the launcher gave each; None
        when they stayed in `report` (no side directory, or a header that could not be followed)."""
        return None if self._side_files is None else self._side_files.arrived

    @property
    def unwritable(self) -> str | None:
        """Why a side file could not be written to disk (full, not writable), if one could not."""
        return None if self._side_files is None else self._side_files.unwritable


@dataclass(frozen=True, kw_only=True)
class StreamedSideFile:
    """What arrived of a side file the launcher announced (sent to disk, not kept in memory)."""

    size: int
    sha256: str


class _SideFileWriter:
    """The report after its header line: the records to the report's buffer, each announced side
    file to a temporary file of `side_dir` (hashed as it comes, renamed to its name when it came
    whole and its SHA-256 is that name), and what follows them (the end marker) to the buffer.

    Only side files the records name are written (read_report keeps no other when they stay in
    memory); the others are only hashed, so a script cannot fill the run's directory with them."""

    def __init__(self, side_dir: Path, *, records: int, announced: Sequence[tuple[str, int]]) -> None:
        self._side_dir = side_dir
        self._records_size = records
        self._records_left = records
        self._named: set[str] = set()  # the side files the records name, once they have come
        self._announced = list(reversed(announced))  # popped in the order they come
        self._name = ""
        self._under_way = False  # a side file has begun and not ended
        self._left = 0  # bytes of the current side file still to come
        self._size = 0
        self._digest = hashlib.sha256()
        self._stream: IO[bytes] | None = None  # the current side file's temporary file
        self._temporary: Path | None = None
        self.arrived: dict[str, StreamedSideFile] = {}
        self.unwritable: str | None = None

    def write(self, data: memoryview, *, rest: bytearray) -> None:
        records = data[: self._records_left]
        rest += records
        if records and len(records) == self._records_left:  # the records have come whole
            self._named = _named_side_files(bytes(rest[len(rest) - self._records_size :]))
        self._records_left -= len(records)
        data = data[len(records) :]
        while data and (self._under_way or self._announced):
            if not self._under_way:
                self._start(*self._announced.pop())
                if not self._left:
                    self._done()
                    continue
            part = data[: self._left]
            self._digest.update(part)
            self._size += len(part)
            self._left -= len(part)
            self._store(part)
            data = data[len(part) :]
            if not self._left:
                self._done()
        rest += data

    def end(self) -> None:
        """The stream ended: the side file under way and those never begun arrived as they are."""
        if self._under_way:
            self._done()
        while self._announced:
            self._start(*self._announced.pop())
            self._done()

    def _start(self, name: str, length: int) -> None:
        self._name, self._left, self._size, self._digest = name, length, 0, hashlib.sha256()
        self._under_way = True
        if self.unwritable is not None or name not in self._named:
            return
        try:
            self._side_dir.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._side_dir, prefix=".arriving.", suffix=".tmp")
            self._temporary = Path(temporary)
            self._stream = os.fdopen(handle, "wb")
            os.fchmod(handle, 0o644)  # mkstemp makes it private; results are meant to be read
        except OSError as error:
            self._refuse(error)

    def _store(self, part: memoryview) -> None:
        if self._stream is None:
            return
        try:
            self._stream.write(part)
        except OSError as error:
            self._refuse(error)

    def _done(self) -> None:
        """The current side file ended (whole or not): kept under its name only if it is its name."""
        digest = self._digest.hexdigest()
        self.arrived[self._name] = StreamedSideFile(size=self._size, sha256=digest)
        whole = not self._left and digest == self._name
        stream, temporary = self._stream, self._temporary
        self._stream = self._temporary = None
        self._under_way = False
        if stream is None or temporary is None:
            return
        try:
            with stream:
                if whole:
                    stream.flush()
                    os.fsync(stream.fileno())
            if whole and not (self._side_dir / digest).exists():  # equal arrays share one file
                temporary.replace(self._side_dir / digest)
        except OSError as error:
            self._refuse(error)
        finally:
            temporary.unlink(missing_ok=True)

    def _refuse(self, error: OSError) -> None:
        """The disk refused a side file: the rest of it is only counted, the runner stops on it."""
        if self.unwritable is None:
            self.unwritable = f"cannot write {self._side_dir / self._name}: {error.strerror or error}"
        if self._stream is not None:
            with suppress(OSError):
                self._stream.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
        self._stream = self._temporary = None


@dataclass(frozen=True, kw_only=True)
class Finished:
    """How a container or host process ended, and what it wrote (bounded)."""

    exit_code: int | None  # None when it had to be killed
    timed_out: bool
    oom_killed: bool
    seconds: float
    stdout: str  # the script's own text, the first `text_limit` bytes
    stderr: str  # the last `text_limit` bytes
    output_bytes: int = 0  # everything written, kept or not
    output_capped: bool = False
    # What followed the boundary (None: no boundary came); Capture's own buffer, not a copy: with
    # side files it is as big as the outputs.
    report: bytes | bytearray | None = None
    report_overflow: bool = False
    # The side files Capture wrote to the side directory as they came (None: they are in `report`),
    # and why one could not be written, if so.
    side_files: Mapping[str, StreamedSideFile] | None = None
    side_files_unwritable: str | None = None

    @classmethod
    def of(
        cls, capture: Capture, *, exit_code: int | None, timed_out: bool, oom_killed: bool, seconds: float
    ) -> Finished:
        capture.finish()
        return cls(
            exit_code=exit_code,
            timed_out=timed_out,
            oom_killed=oom_killed,
            seconds=seconds,
            stdout=bytes(capture.text).decode("utf-8", "replace"),
            stderr=bytes(capture.stderr).decode("utf-8", "replace"),
            output_bytes=capture.total,
            output_capped=capture.capped,
            report=capture.report,
            report_overflow=capture.report_overflow,
            side_files=capture.side_files,
            side_files_unwritable=capture.unwritable,
        )


@dataclass(frozen=True, kw_only=True)
class Readback:
    """The CPUs, memory limit and process limit the launcher found applied to the script (see
    `results.Confinement`)."""

    cpus: int | None = None
    cgroup: str | None = None
    memory_limit: int | None = None
    pids_cgroup: str | None = None
    pids_limit: int | None = None


def _readback(found: object) -> Readback | None:
    """The header's `confinement`; a number that is not a positive integer is left unread, and so
    is a limit without its cgroup, or a cgroup without its limit: "not checked", never a limit guessed."""
    if not isinstance(found, dict):
        return None
    cgroup, memory_limit = _cgroup_limit(found, "cgroup", "memory_limit")
    pids_cgroup, pids_limit = _cgroup_limit(found, "pids_cgroup", "pids_limit")
    return Readback(
        cpus=_positive(found.get("cpus")),
        cgroup=cgroup,
        memory_limit=memory_limit,
        pids_cgroup=pids_cgroup,
        pids_limit=pids_limit,
    )


def _cgroup_limit(
    found: dict[object, object], cgroup_key: str, limit_key: str
) -> tuple[str | None, int | None]:
    """(the cgroup version, the limit or None for none), or (None, None) when not read as a pair."""
    cgroup = found.get(cgroup_key)
    limit = found.get(limit_key)
    unread = limit_key not in found or (limit is not None and _positive(limit) is None)
    if cgroup not in ("v1", "v2") or unread:
        return None, None
    return str(cgroup), _positive(limit)


def _positive(item: object) -> int | None:
    return item if type(item) is int and item > 0 else None  # not bool, not float


def _count(item: object) -> int | None:
    return item if type(item) is int and item >= 0 else None


@dataclass(frozen=True, kw_only=True)
class Report:
    """What the launcher said about one repeat, and the values it carried."""

    exit_code: int | None = None
    script_seconds: float | None = None
    strays: int = 0  # processes the script left running, killed when it ended
    stopped_by: str | None = None  # the signal that stopped the script early (time limit, Ctrl-C)
    values: tuple[Value, ...] = ()
    device: Mapping[str, Any] = field(default_factory=dict)  # empty: no device report arrived
    skipped: str | None = None  # why the script skipped itself (recording.skip)
    timed_seconds: float | None = None  # the script's own `timed()` blocks, summed
    problems: tuple[str, ...] = ()  # what makes the record untrustworthy, in words
    # SHA-256 → a packed array's bits: only those the values name, each checked against its digest.
    side_files: Mapping[str, memoryview] = field(default_factory=dict)
    confinement: Readback | None = None  # None: the launcher read nothing back
    # Processes of the repeat's memory cgroup the kernel's OOM killer killed while the script ran
    # (None: not read, or not a count).
    oom_kills: int | None = None


def read_report(
    raw: bytes | bytearray | None,
    *,
    overflow: bool = False,
    streamed: Mapping[str, StreamedSideFile] | None = None,
) -> Report:
    """Parse the bytes after the boundary; never raises (a broken report is its own finding).

    Side files are views into `raw`, never copies: memory stays at one report's size. With
    `streamed`, Capture sent them to disk as they came: `raw` holds the rest of the report."""
    if raw is None:
        return Report(problems=("no report from the launcher: the repeat was killed before it ended",))
    header_end = raw.find(b"\n")
    header_line = bytes(raw[:header_end]) if header_end >= 0 else bytes(raw)
    rest = memoryview(raw)[header_end + 1 :] if header_end >= 0 else memoryview(b"")
    try:
        header = json.loads(header_line)
        size = int(header["records_bytes"])
        strays = int(header.get("strays") or 0)
    except (ValueError, KeyError, TypeError, OverflowError):  # OverflowError: int(Infinity)
        return Report(problems=("the launcher's report is unreadable",))
    problems = []
    try:
        arrived, side_end = _side_files(header, rest, size) if streamed is None else (streamed, size)
    except (ValueError, TypeError) as error:
        return Report(problems=(f"the launcher's report is unreadable ({error})",))
    if overflow or bytes(rest[side_end:][-len(END) :]) != END:
        problems.append("the launcher's report was cut short")
    if header.get("records_over_limit"):
        problems.append("the script recorded more than the records limit; later values were dropped")
    if header.get("records_lost"):
        problems.append("some values could not be written (no space left for records)")
    if header.get("outputs_over_limit"):
        problems.append("the script wrote more outputs than their limit; they were not compared")
    parsed = _records(bytes(rest[:size]))
    problems += parsed.problems
    side_files, refused = _verified_side_files(parsed.values, arrived)
    problems += refused
    return Report(
        exit_code=header.get("exit_code"),
        script_seconds=header.get("script_seconds"),
        strays=strays,
        stopped_by=header.get("stopped_by"),
        values=tuple(parsed.values),
        device=parsed.device,
        skipped=parsed.skipped,
        timed_seconds=sum(parsed.timed) if parsed.timed else None,
        problems=tuple(problems),
        side_files=side_files,
        confinement=_readback(header.get("confinement")),
        oom_kills=_count(header.get("oom_kills")),
    )


def _announced_side_files(header: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(name, length) of each side file the header says follows the records, in order."""
    announced = []
    for name, length in header.get("side_files") or []:
        if not isinstance(length, int) or length < 0:
            raise ValueError(f"side file {name!r} of {length!r} bytes")
        announced.append((str(name), length))
    return announced


def _named_side_files(records: bytes) -> set[str]:
    """The SHA-256 of each side file the records' packed values name."""
    return {value.packed.sha256 for value in _records(records).values if value.packed is not None}


def _side_files(header: Mapping[str, Any], rest: memoryview, start: int) -> tuple[dict[str, memoryview], int]:
    """The side files that follow the records, by the name the launcher gave each, and where they end."""
    found: dict[str, memoryview] = {}
    for name, length in _announced_side_files(header):
        found[name] = rest[start : start + length]
        start += length
    return found, start


def _verified_side_files(
    values: Sequence[Value], side_files: Mapping[str, memoryview] | Mapping[str, StreamedSideFile]
) -> tuple[dict[str, memoryview], list[str]]:
    """The side files the values name that match their size and SHA-256 (those still to be kept:
    the ones in memory), and a problem for each packed value whose side file did not come whole
    (its bits are not what its record says)."""
    verified: dict[str, memoryview] = {}
    whole: set[tuple[str, int]] = set()  # digest and size: two values naming one file may differ in size
    problems = []
    for value in values:
        if value.packed is None or (value.packed.sha256, value.packed.size) in whole:
            continue
        data = side_files.get(value.packed.sha256)
        if data is None:
            problems.append(f"{value.label!r}: its side file did not come back")
        elif not _matches(data, value.packed):
            problems.append(f"{value.label!r}: its side file does not match its size and SHA-256; refused")
        else:
            whole.add((value.packed.sha256, value.packed.size))
            if isinstance(data, memoryview):
                verified[value.packed.sha256] = data
    return verified, problems


def _matches(data: memoryview | StreamedSideFile, packed: Packed) -> bool:
    if isinstance(data, StreamedSideFile):  # hashed as it came; kept under its name if it is its digest
        return data.size == packed.size and data.sha256 == packed.sha256
    return len(data) == packed.size and hashlib.sha256(data).hexdigest() == packed.sha256


@dataclass(kw_only=True)
class _Records:
    values: list[Value] = field(default_factory=list)
    device: Mapping[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    timed: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _records(data: bytes) -> _Records:
    found = _Records()
    lines = data.split(b"\n")
    if lines and lines[-1]:  # the last line has no newline: it was cut while being written
        found.problems.append(f"record line {len(lines)} is incomplete")
        lines = lines[:-1]
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            payload = json.loads(line)
            if "device" in payload:
                found.device = dict(payload["device"])
            elif "skip" in payload:
                found.skipped = str(payload["skip"])[:500]
            elif "timed" in payload:
                found.timed.append(_seconds(payload["timed"]))
            else:
                found.values.append(value_from_record(payload))
        except (ValueError, KeyError, TypeError) as error:
            found.problems.append(f"record line {number} is unreadable ({error})")
    return found


def _seconds(payload: Any) -> float:
    if isinstance(payload, bool) or not isinstance(payload, int | float):
        raise TypeError(f"a time that is not a number: {payload!r}")
    if not math.isfinite(payload) or payload < 0:
        raise ValueError(f"a time that is not a finite duration: {payload!r}")
    return float(payload)


def value_from_record(payload: Mapping[str, Any]) -> Value:
    """One line of the records file as a Value; its form is checked so later arithmetic is safe."""
    dtype = str(payload["dtype"])
    shape = tuple(int(n) for n in payload["shape"])
    bits = tuple(str(b) for b in payload["bits"])
    shown = tuple(payload["values"])
    packed = _packed(payload.get("packed"))
    return check(  # refuses a shape that does not match the bits
        Value(
            label=str(payload["label"]),
            dtype=dtype,
            shape=shape,
            bits=bits,
            values=shown,
            note=str(payload.get("note", "")),
            packed=packed,
            mask=_mask(payload.get("mask")),
        )
    )


def _mask(payload: Any) -> tuple[bool, ...] | None:
    if payload is None:
        return None
    if not isinstance(payload, list) or not all(isinstance(flag, bool) for flag in payload):
        raise TypeError("a mask that is not a list of true/false")
    return tuple(payload)


def _packed(payload: Any) -> Packed | None:
    if payload is None:
        return None
    if isinstance(payload["size"], bool) or not isinstance(payload["size"], int):
        raise TypeError(f"a side file size that is not an integer: {payload['size']!r}")
    return Packed(sha256=str(payload["sha256"]), size=payload["size"])
