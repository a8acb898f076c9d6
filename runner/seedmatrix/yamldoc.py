"""YAML text → plain data and the line of every key, with the document's size bounded first.

A few hundred bytes of YAML can expand, through anchors and aliases, into millions of nodes (the
"billion laughs"), or refer to itself. Composing is cheap because aliases share nodes; walking or
validating the expanded tree is not. So the composed graph is measured before anything walks it:
a cycle or more than `MAX_NODES` expanded nodes is refused at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

#: Far above any real matrix file (the default one expands to about 600 nodes, 6 levels deep).
MAX_NODES = 100_000
MAX_DEPTH = 64

KeyPath = tuple[str | int, ...]


def load(text: str, source: Path, *, key_path: Any) -> tuple[Any, dict[KeyPath, int]]:
    """The document's data and the 1-based line of each key path.

    `key_path` formats a key path for messages (config's `format_key_path`).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise invalid_yaml(error, source) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{source}: nested more than {MAX_DEPTH} levels deep") from None
    if root is None:
        return None, {}
    _check_size(root, source)
    lines: dict[KeyPath, int] = {}
    for path, node, duplicate in _walk(root, ()):
        if duplicate:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: {key_path(path)}: duplicate key")
        lines.setdefault(path, node.start_mark.line + 1)
    try:
        data = yaml.safe_load(text)  # composing passed; constructing can still fail (unknown tags)
    except yaml.YAMLError as error:
        raise invalid_yaml(error, source) from None
    return data, lines


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_size(root: yaml.Node, source: Path) -> None:
    """Refuse a node graph with a cycle, or one that expands deeper than MAX_DEPTH or to more than
    MAX_NODES nodes.

    Iterative depth-first search with the expanded size and height of each finished node
    memoised, so a shared node is measured once: linear in the composed graph, however much it
    expands.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) → (expanded nodes, height)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        where = f"{source}:{node.start_mark.line + 1}"
        if children_done:
            on_path.discard(key)
            children = [measured[id(child)] for child in _children(node)]
            size = 1 + sum(nodes for nodes, _ in children)
            height = 1 + max((height for _, height in children), default=0)
            if size > MAX_NODES:
                raise ConfigError(
                    f"{where}: the document expands to more than {MAX_NODES:,} nodes (YAML anchors "
                    "and aliases); a matrix file needs far fewer"
                )
            if height > MAX_DEPTH:
                raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
            measured[key] = (size, height)
            continue
        if key in measured:
            continue
        if key in on_path:
            raise ConfigError(f"{where}: an alias refers to the collection it is in (a cycle)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in measured)


def _walk(node: yaml.Node, path: KeyPath) -> Iterator[tuple[KeyPath, yaml.Node, bool]]:
    yield path, node, False
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield (*path, key), key_node, True
            seen.add(key)
            yield (*path, key), key_node, False
            yield from _walk(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def invalid_yaml(error: yaml.YAMLError, source: Path) -> ConfigError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = " ".join(str(error.problem or error.context).split())
        return ConfigError(f"{source}{line}: invalid YAML: {problem}")
    # e.g. a character YAML does not allow; its text spans several lines
    return ConfigError(f"{source}: invalid YAML: {' '.join(str(error).split())}")
