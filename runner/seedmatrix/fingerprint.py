"""Short content hashes that name images, wheel directories and cache entries."""

from __future__ import annotations

import hashlib


def digest(*parts: bytes | str) -> str:
    """12 hex digits of SHA-256 over the parts, each ended by a NUL so no two splits collide."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode() if isinstance(part, str) else part)
        hashed.update(b"\0")
    return hashed.hexdigest()[:12]
