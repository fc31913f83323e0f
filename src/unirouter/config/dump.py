"""A configuration written back as a person would write it: YAML without the fields left at
their defaults, yet read back equal (``GET /v1/config`` for the configuration page's editor).

Leaving defaults out is not always faithful on its own: some defaults depend on other fields (a
workstream's capacity ``units`` defaults differently when it names profiles), so a field equal to
its declared default may still be needed. :func:`compact` therefore checks its answer by reading it
back and puts back every field whose absence changes the result; if that does not settle within a
few rounds it answers the full dump, which always reads back equal.
"""

from __future__ import annotations

from typing import Any

import yaml

from unirouter.config import model
from unirouter.config.load import validate

__all__ = ["compact", "to_yaml"]

Loc = tuple[str | int, ...]
_ROUNDS = 4


def to_yaml(config: model.Config) -> str:
    """:func:`compact` as YAML, sections in the configuration's order."""
    return yaml.safe_dump(compact(config), sort_keys=False, allow_unicode=True, width=100)


def compact(config: model.Config) -> dict[str, Any]:
    """The configuration as JSON data without its default fields, reading back equal to it."""
    full = config.model_dump(mode="json", warnings=False)
    small = config.model_dump(mode="json", exclude_defaults=True, warnings=False)
    for _ in range(_ROUNDS):
        back = validate(small).model_dump(mode="json", warnings=False)
        missing = list(_differences(full, back, ()))
        if not missing:
            return small
        for loc in missing:
            _restore(small, full, loc)
    return full


def _differences(a: object, b: object, loc: Loc) -> list[Loc]:
    """The paths where ``a`` and ``b`` differ, as deep as both stay alike in shape."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a.keys() | b.keys() for d in _differences(a.get(k), b.get(k), (*loc, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, (*loc, i))]  # fmt: skip
    return [] if a == b else [loc]


def _restore(small: dict[str, Any], full: dict[str, Any], loc: Loc) -> None:
    """Copy ``full``'s value at ``loc`` into ``small``, or the whole subtree where ``small``
    stops (a left-out mapping comes back whole)."""
    target: Any = small
    source: Any = full
    for depth, part in enumerate(loc):
        present = part in target if isinstance(target, dict) else 0 <= int(part) < len(target)
        if not present or depth == len(loc) - 1:
            target[part] = source[part]
            return
        target, source = target[part], source[part]
