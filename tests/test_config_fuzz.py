"""Generated bad matrix files: every one ends in a ConfigError naming where, never another exception.

Two generators: random mutations of a valid file (a key removed, a value replaced by junk of
another type, an unknown key added, a name duplicated) and arbitrary text. The counts tried are
set by `max_examples` below (600 + 400 per run).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedmatrix.config import parse_matrix
from seedmatrix.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "fuzzed.yaml"
VALID: dict[str, Any] = {
    "repeats": 2,
    "environments": [
        {"name": "one", "debian": "bookworm", "python": "3.11", "numpy": "2.0.2"},
        {"name": "two", "base_image": "python:3.12-slim", "python": "3.12", "tensorflow": "2.21.0"},
    ],
    "cases": [
        {
            "name": "random",
            "script": str(ROOT / "seeds" / "seed_random.py"),
            "claims": {"stable": ["*"], "equal": {"b {x}": "a {x}"}},
            "env": {"PYTHONHASHSEED": "0"},
        },
        {"name": "tf", "script": str(ROOT / "seeds" / "seed_tensorflow1.py"), "requires": ["tensorflow"]},
    ],
}
# Every problem line: "<file>[:line]: <key path>: <what is wrong>".
PROBLEM = re.compile(rf"^{re.escape(str(SOURCE))}(:\d+)?: \S.*: .+$")

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def parent_and_key(document: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    for part in path[:-1]:
        document = document[part]
    return document, path[-1]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    document = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        targets = paths(document)
        if not targets:
            break
        parent, key = parent_and_key(document, draw(st.sampled_from(targets)))
        action = draw(st.sampled_from(["remove", "replace", "unknown key", "duplicate"]))
        if action == "remove":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(junk)
        elif action == "unknown key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(junk)
        elif action == "duplicate" and isinstance(parent, list) and parent:
            parent.append(copy.deepcopy(parent[0]))
    return yaml.safe_dump(document, sort_keys=False)


def check(text: str) -> None:
    try:
        parse_matrix(text, source=SOURCE)
    except ConfigError as error:
        lines = str(error).splitlines()
        assert lines
        for line in lines:
            assert PROBLEM.match(line) or line.startswith(f"{SOURCE}: "), line


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_matrix_files_fail_cleanly(text: str) -> None:
    check(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_fails_cleanly(text: str) -> None:
    check(text)


def test_the_unmutated_document_is_valid() -> None:
    matrix = parse_matrix(yaml.safe_dump(VALID, sort_keys=False), source=SOURCE)
    assert [env.name for env in matrix.environments] == ["one", "two"]
