"""Label patterns used by claims: `*` matches anything, `{name}` captures a part to reuse.

`Session 2 {op}` matches `Session 2 op1-1` with op = `op1-1`, and the template `Session 1 {op}`
then names the label it must equal. Anything else in a pattern matches literally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(_literal(pattern[position : match.start()]))
        parts.append(f"(?P<{match.group(1)}>.+?)")
        position = match.end()
    parts.append(_literal(pattern[position:]))
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _literal(text: str) -> str:
    return ".*".join(re.escape(piece) for piece in text.split("*"))


def placeholders(pattern: str) -> list[str]:
    return _PLACEHOLDER.findall(pattern)


def matching(pattern: str, labels: Iterable[str]) -> list[tuple[str, Mapping[str, str]]]:
    """The labels the pattern matches, each with what its placeholders captured."""
    regex = compile_pattern(pattern)
    found: list[tuple[str, Mapping[str, str]]] = []
    for label in labels:
        match = regex.match(label)
        if match:
            found.append((label, match.groupdict()))
    return found


def fill(template: str, captured: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: captured[match.group(1)], template)
