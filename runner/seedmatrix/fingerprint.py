"""Short content hashes that name images, wheel directories and cache entries."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path


def digest(*parts: bytes | str) -> str:
    """12 hex digits of SHA-256 over the parts, each ended by a NUL so no two splits collide."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode() if isinstance(part, str) else part)
        hashed.update(b"\0")
    return hashed.hexdigest()[:12]


#: Directories that hold no source: caches, builds, virtual environments, version control.
NOT_SOURCE = frozenset(
    {
        ".git",
        ".hg",
        "__pycache__",
        ".nox",
        ".tox",
        ".venv",
        "venv",
        "build",
        "dist",
        "node_modules",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        "results",
    }
)


def source_files(directory: Path) -> list[Path]:
    """The files of a source tree, sorted, without caches, builds and version control."""
    found = []
    for path in directory.rglob("*"):
        parts = path.relative_to(directory).parts
        if any(part in NOT_SOURCE or part.endswith(".egg-info") for part in parts[:-1] or parts):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found)


def tree_digest(directory: Path) -> str:
    """A SHA-256 over every source file's relative path and content: a changed file changes it."""
    hashed = hashlib.sha256()
    for path in source_files(directory):
        hashed.update(str(path.relative_to(directory)).encode() + b"\0")
        hashed.update(path.read_bytes() + b"\0")
    return hashed.hexdigest()


def files_digest(workdir: Path, data: Mapping[Path, str]) -> str:
    """A SHA-256 over what a case's container sees of the project: every source file of its working
    directory and every file it mounts (`data:`, by its place in the container and its content)."""
    hashed = hashlib.sha256(tree_digest(workdir).encode() + b"\0")
    for host_path, target in sorted(data.items()):
        files = [host_path] if host_path.is_file() else source_files(host_path)
        for path in files:
            found = path.stat()
            place = f"{target}/{path.relative_to(host_path)}" if path != host_path else target
            content = _content_digest(path, found.st_size, found.st_mtime_ns)
            hashed.update(f"{place}\0{content}\0".encode())
    return hashed.hexdigest()


@functools.lru_cache(maxsize=4096)
def _content_digest(path: Path, size: int, modified_ns: int) -> str:
    """A file's SHA-256, read once per size and modification time: data can be large, and results
    are assembled many times in a run."""
    del size, modified_ns  # part of the cache's key only
    hashed = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            hashed.update(chunk)
    return hashed.hexdigest()
