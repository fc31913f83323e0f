"""Reading configuration text within bounds (issue 17 item 4), for files and API bodies alike.

A few hundred bytes of YAML aliases can stand for hundreds of millions of nodes (the "billion
laughs"), and text nested thousands deep exhausts the recursion of the parsers: each made the
server stall or answer 500. So text is refused, with :class:`~unirouter.errors.ConfigTooComplex`
naming the limit, when it is over ``max_bytes``, nested deeper than ``max_depth`` or would expand
to more than ``max_nodes`` nodes once every alias is counted where it is used. The checks run on
the composed node tree, where an alias is one shared node, so counting never expands anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from unirouter.errors import ConfigIssue, ConfigTooComplex

__all__ = ["Bounds", "Loader", "check_bytes", "parse_json", "parse_yaml"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    """How large a configuration's text may be (docs/concepts/configuration.md, "Validation")."""

    #: The text's size in bytes (the server's request bodies stop at 1 MiB anyway).
    max_bytes: int = 1024 * 1024
    #: Mappings and lists inside each other (a real configuration needs fewer than ten).
    max_depth: int = 64
    #: Nodes (mappings, lists, scalars) with each alias counted as what it stands for: as many
    #: as 1 MiB of text can hold without aliases.
    max_nodes: int = 500_000


DEFAULT = Bounds()


def _refuse(where: str, limit_name: str, limit: int, message: str, line: int | None = None) -> None:
    path = where if line is None or not where.endswith((".yaml", ".yml")) else f"{where}:{line}"
    raise ConfigTooComplex([ConfigIssue(path=path, message=message)],
                           limit_name=limit_name, limit=limit, line=line)  # fmt: skip


def check_bytes(size: int, where: str, bounds: Bounds = DEFAULT) -> None:
    """Refuse text of ``size`` bytes over ``max_bytes``."""
    if size > bounds.max_bytes:
        _refuse(where, "max_bytes", bounds.max_bytes,
                f"is {size} bytes; a configuration may have at most {bounds.max_bytes}")  # fmt: skip


class Loader(yaml.SafeLoader):
    """A safe loader that reads every mapping key as the text written, and refuses nesting deeper
    than ``max_depth`` while composing (before Python's recursion limit would be reached)."""

    bounds: Bounds = DEFAULT
    where = "body"
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, counting how deep it lies."""
        self._depth += 1
        try:
            # A guard against recursion only (a scalar leaf is one node deeper than the lists
            # around it); the exact depth, aliases included, is checked on the composed tree.
            if self._depth > self.bounds.max_depth + 1:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                _refuse(self.where, "max_depth", self.bounds.max_depth,
                        f"is nested deeper than {self.bounds.max_depth} levels", mark.line + 1)  # fmt: skip
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Like SafeLoader's, but ``1001:`` or ``no:`` as a key stays the string written."""
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    "a key must be a name",
                    key_node.start_mark,
                )
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping


def parse_yaml(
    text: str, where: str = "body", bounds: Bounds = DEFAULT
) -> tuple[yaml.Node | None, object]:
    """The document's node tree and its data; ConfigTooComplex past a bound, YAMLError when the
    text is not YAML."""
    check_bytes(len(text.encode("utf-8", "surrogatepass")), where, bounds)
    loader = Loader(text)
    loader.bounds, loader.where = bounds, where
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_nodes(node, where, bounds)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, where: str, bounds: Bounds) -> None:
    """Refuse a tree that, with each alias standing for the node it names, is deeper than
    ``max_depth``, has more than ``max_nodes`` nodes or holds itself. Each node is sized once
    (post-order, without recursion), so this costs the nodes written, not the nodes used."""
    done: dict[int, tuple[int, int]] = {}  # node id -> (nodes, depth)
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in done:
            continue
        children = _children(node)
        if not children_done:
            if key in entered:  # entered and not finished: an ancestor of itself
                _refuse(where, "max_nodes", bounds.max_nodes, "holds itself through an alias",
                        node.start_mark.line + 1)  # fmt: skip
            entered.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in done)
            continue
        nodes = 1 + sum(done[id(c)][0] for c in children)
        depth = (1 + max(done[id(c)][1] for c in children)) if children else 0
        done[key] = (nodes, depth)
        line = node.start_mark.line + 1
        if depth > bounds.max_depth:
            _refuse(where, "max_depth", bounds.max_depth,
                    f"is nested deeper than {bounds.max_depth} levels (aliases counted where "
                    f"they are used)", line)  # fmt: skip
        if nodes > bounds.max_nodes:
            _refuse(where, "max_nodes", bounds.max_nodes,
                    f"expands to more than {bounds.max_nodes} nodes (aliases counted where "
                    f"they are used)", line)  # fmt: skip


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_json(text: str, where: str = "body", bounds: Bounds = DEFAULT) -> object:
    """JSON text as data; ConfigTooComplex past a bound, ValueError when it is not JSON."""
    check_bytes(len(text.encode("utf-8", "surrogatepass")), where, bounds)
    try:
        data = json.loads(text)
    except RecursionError:
        _refuse(where, "max_depth", bounds.max_depth,
                f"is nested deeper than {bounds.max_depth} levels")  # fmt: skip
    _check_depth(data, where, bounds)
    return data


def _check_depth(data: object, where: str, bounds: Bounds) -> None:
    """Refuse JSON data nested deeper than ``max_depth`` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth + 1 > bounds.max_depth:
                _refuse(where, "max_depth", bounds.max_depth,
                        f"is nested deeper than {bounds.max_depth} levels")  # fmt: skip
            items = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in items)
