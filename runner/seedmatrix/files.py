"""The files seedmatrix reads and writes: bounded reads, atomic writes.

Every file a user names (matrix.yaml, a recipe, a baseline, stored results) is read through
`read_bounded`, which never takes more than its limit plus one byte: `/dev/zero`, a huge file or
an endless pipe is refused at once instead of filling memory, and process substitution
(`--config <(...)`) still works because nothing but `read` is asked of the file.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from .errors import ResultsError, SeedmatrixError

MIB = 1 << 20


def read_bounded(path: Path, *, limit: int, what: str, error: type[SeedmatrixError]) -> bytes:
    """The whole file, or `error` naming the path when it cannot be read or is over `limit` bytes."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as problem:
        raise error(f"{path}: cannot read {what} ({problem.strerror or problem})") from None
    if len(data) > limit:
        raise error(f"{path}: {what} is larger than {_size(limit)}; is it the right file?")
    return data


def read_text_bounded(path: Path, *, limit: int, what: str, error: type[SeedmatrixError]) -> str:
    data = read_bounded(path, limit=limit, what=what, error=error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{path}: {what} is not UTF-8 text (byte {problem.start})") from None


def _size(limit: int) -> str:
    return f"{limit // MIB:,} MiB" if limit >= MIB and limit % MIB == 0 else f"{limit:,} bytes"


def atomic_write(path: Path, text: str | bytes | memoryview) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see half a file.

    A disk that is full or not writable is a ResultsError naming the file, not a traceback.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise ResultsError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes it private; results are meant to be read
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8") if isinstance(text, str) else text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ResultsError(f"cannot write {path}: {error.strerror or error}") from None
        raise


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
