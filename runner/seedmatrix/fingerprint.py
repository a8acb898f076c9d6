"""Short content hashes that name images, wheel directories and cache entries."""

from __future__ import annotations

import hashlib
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
