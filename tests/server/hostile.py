"""Hypothesis strategies for JSON bodies no server may keep (issue 17): text holding a lone
surrogate, non-finite numbers and nesting deeper than any parser or encoder should be asked to
follow, each somewhere in an otherwise plausible body.

A body is drawn as bytes, the way a hostile client sends it: ``json.dumps`` with its defaults writes
a lone surrogate as the escape ``\\udXXX`` (which ``json.loads`` turns back into a lone surrogate)
and NaN and Infinity as the bare tokens Python's parser accepts; deep nesting is written as text, so
that drawing it never recurses.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

__all__ = ["HOSTILE_KINDS", "hostile_body", "hostile_value", "lone_surrogate_text"]

#: What :func:`hostile_body` may put into a body.
HOSTILE_KINDS = ("lone_surrogate", "non_finite", "deep")
_HOLE = "\x00hole\x00"

#: Text around the surrogate: hypothesis's text never holds surrogates, so the one drawn is lone.
_plain = st.text(max_size=8)
lone_surrogate_text = st.builds(
    lambda before, code, after: before + chr(code) + after,
    _plain,
    st.integers(0xD800, 0xDFFF),
    _plain,
)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
#: Depths past the 64 the server allows, up to far past what Python's parser can follow.
depths = st.one_of(st.integers(65, 900), st.sampled_from([5_000, 100_000]))


@st.composite
def _deep(draw: st.DrawFn) -> str:
    depth = draw(depths)
    if draw(st.booleans()):
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def hostile_value(kind: str) -> st.SearchStrategy[str]:
    """The JSON text of one hostile value of ``kind`` (see :data:`HOSTILE_KINDS`)."""
    if kind == "lone_surrogate":
        return lone_surrogate_text.map(json.dumps)
    if kind == "non_finite":
        return non_finite.map(json.dumps)
    return _deep()


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.text(max_size=8))


@st.composite
def hostile_body(draw: st.DrawFn, fields: list[str]) -> tuple[bytes, str]:
    """A JSON object with some of ``fields`` (the operation's properties) and plain values, and
    one hostile value: a field's value, inside a list or object under a field, or (a lone
    surrogate) a key. Returns the body's bytes and the kind drawn."""
    kind = draw(st.sampled_from(HOSTILE_KINDS))
    names = draw(st.lists(st.sampled_from(fields or ["x"]), unique=True, min_size=1, max_size=4))
    body: dict[str, Any] = {name: draw(_scalars) for name in names}
    target = draw(st.sampled_from(names))
    where = draw(st.sampled_from(["value", "in_list", "in_object", "key"]))
    if where == "key" and kind == "lone_surrogate":
        body[target] = {draw(lone_surrogate_text): 1}
        return json.dumps(body).encode(), kind
    hole = {"value": _HOLE, "in_list": ["ok", _HOLE], "in_object": {"inner": _HOLE}}
    body[target] = hole.get(where, _HOLE)
    text = json.dumps(body).replace(json.dumps(_HOLE), draw(hostile_value(kind)), 1)
    return text.encode(), kind
