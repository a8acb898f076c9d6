"""What earlier runs learned and later runs need not redo, kept under <results>/.cache/.

- probes/<image>.json: what an image contains (an image id never changes content);
- builds/<image>.json: how long the image's cold build took;
- cells.json: for each cell key (image id, script directory content, case settings), the run whose
  complete, successful records can be reused instead of running the containers again.

Every file is written atomically. Losing the cache costs time, never results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .results import Observed, atomic_write, observed_from_dict


@dataclass(frozen=True)
class Cache:
    root: Path

    def probe(self, image_id: str) -> Observed | None:
        data = self._read(self.root / "probes" / f"{_hex(image_id)}.json")
        if not isinstance(data, dict):
            return None
        try:
            return observed_from_dict(data)
        except (KeyError, TypeError):
            return None

    def save_probe(self, image_id: str, observed: Observed) -> None:
        atomic_write(self.root / "probes" / f"{_hex(image_id)}.json", json.dumps(asdict(observed)))

    def build_seconds(self, image_id: str) -> float | None:
        data = self._read(self.root / "builds" / f"{_hex(image_id)}.json")
        return float(data["seconds"]) if isinstance(data, dict) and "seconds" in data else None

    def save_build(self, image_id: str, *, seconds: float, tag: str) -> None:
        atomic_write(
            self.root / "builds" / f"{_hex(image_id)}.json", json.dumps({"seconds": seconds, "tag": tag})
        )

    def cell_run(self, key: str) -> str | None:
        """The run directory name whose records of this cell can be reused."""
        index = self._read(self.root / "cells.json")
        found = index.get(key) if isinstance(index, dict) else None
        return found if isinstance(found, str) else None

    def save_cells(self, keys: Mapping[str, str]) -> None:
        """Add cell key → run entries (a concurrent run may win a race; it is only a cache)."""
        index = self._read(self.root / "cells.json")
        merged = {**(index if isinstance(index, dict) else {}), **keys}
        atomic_write(self.root / "cells.json", json.dumps(merged, indent=0, sort_keys=True))

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def cell_key(*, image_id: str, script: Path, helpers: Path, settings: Mapping[str, Any]) -> str:
    """Everything a cell's outcome can depend on: the image, every file the container sees beside the
    script (helpers it imports, data it reads, in subdirectories too), the runner's in-container
    modules, and the case's settings."""
    digest = hashlib.sha256()
    digest.update(image_id.encode())
    for directory in (script.parent, helpers):
        files = (p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in sorted(files):
            digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(script.name.encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _hex(image_id: str) -> str:
    return image_id.removeprefix("sha256:")
