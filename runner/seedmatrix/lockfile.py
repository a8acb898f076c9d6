"""A requirements or lock file of exact pins (`requirements:` of an environment).

Every requirement must pin one release (`name==1.2.3`, extras and environment markers allowed);
`--hash` options are kept and checked when the wheels are fetched (pip's hash-checking mode).
Anything that would let the index choose (ranges, URLs, editable installs, other files, other
indexes) is an error naming the file and the line, so an image is always defined by its files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .files import MIB, read_text_bounded

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)(\[[A-Za-z0-9._,\s-]+\])?\s*==\s*"
    r"(?P<version>[0-9][0-9A-Za-z.!+_-]*)\s*(;\s*(?P<marker>[^#]+))?$"
)
_HASH = re.compile(r"--hash[= ]\s*(sha256|sha384|sha512):[0-9a-f]+")


@dataclass(frozen=True, kw_only=True)
class LockFile:
    path: Path
    text: str  # the file as written: fetched as it is (hashes checked); part of the image's identity
    pins: tuple[str, ...]  # its requirements without options, for installing from the fetched wheels
    hashed: bool


def read_lock_file(path: Path, *, key: str) -> LockFile:
    """Parse and check `path`; a ConfigError names the key, the file and the line of each problem."""
    text = read_text_bounded(path, limit=16 * MIB, what="the requirements file", error=ConfigError)
    pins: list[str] = []
    problems: list[str] = []
    hashed = False
    for number, line in _logical_lines(text):
        requirement, hashes = _split_options(line)
        if requirement is None:
            problems.append(
                f"{path}:{number}: {key}: {line.split()[0]!r} is not allowed here: only exact pins "
                "(and --hash) define an image"
            )
            continue
        if hashes:
            hashed = True
        if not requirement:
            continue
        if not _PIN.match(requirement):
            problems.append(
                f"{path}:{number}: {key}: {requirement!r} is not an exact pin; write name==version"
            )
            continue
        pins.append(requirement)
    if problems:
        raise ConfigError("\n".join(problems))
    if not pins:
        raise ConfigError(f"{path}: {key}: the file pins nothing")
    return LockFile(path=path, text=text, pins=tuple(pins), hashed=hashed)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with comments removed and backslash continuations joined, with their first line number."""
    found: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            found.append((start, joined))
    if pending.strip():
        found.append((start, pending.strip()))
    return found


def _split_options(line: str) -> tuple[str | None, list[str]]:
    """(the requirement, its hashes); the requirement is None when an option other than --hash is there."""
    hashes = [match.group(0) for match in _HASH.finditer(line)]
    rest = _HASH.sub("", line).strip()
    if rest.startswith("-"):
        return None, hashes
    return rest, hashes
