"""Where a field path lies in a YAML text: the line an editor should show for an issue (R41).

Issues name fields by path (``queues.billing_chat.overflow[0].action.transfer``, see
``validate.field_path``). A person editing the file needs the line too: :func:`line_of` walks the
YAML node tree along the path and answers the line of the deepest node it reaches, so an issue about
a missing field points at the mapping that lacks it.
"""

from __future__ import annotations

import ast
import re

import yaml

__all__ = ["line_in", "line_of", "parse_path"]

Loc = tuple[str | int, ...]

#: One step of a path: ``.name`` (or a leading ``name``), ``[3]``, or ``['quoted key']``.
_STEP = re.compile(r"""\.?([^.\[\]'"]+)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]""")


def parse_path(path: str) -> Loc | None:
    """``queues.q.overflow[0]`` -> ``("queues", "q", "overflow", 0)``; None if it is no path."""
    parts: list[str | int] = []
    position = 0
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            return None
        name, index, quoted = step.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(name if quoted is None else str(ast.literal_eval(quoted)))
        position = step.end()
    return tuple(parts)


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of the node at ``path`` in the YAML ``text`` (or of its deepest existing
    ancestor); None when the text does not parse or the path is not one."""
    loc = parse_path(path)
    if loc is None:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    return _walk(node, loc) + 1


def line_in(node: yaml.Node | None, path: str) -> int | None:
    """Like :func:`line_of`, in a node tree already composed (one parse for every issue)."""
    loc = parse_path(path)
    return None if loc is None or node is None else _walk(node, loc) + 1


def _walk(node: yaml.Node, loc: Loc) -> int:
    """The 0-based line of ``loc`` under ``node``, or of the deepest step on the way there: a
    mapping entry is shown by its key's line, a list entry by its first line."""
    line = node.start_mark.line
    for part in loc:
        step = _child(node, part)
        if step is None:
            break
        line, node = step
    return line


def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return node.value[part].start_mark.line, node.value[part]
        return None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line, value
    return None
