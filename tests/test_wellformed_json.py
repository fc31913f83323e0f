"""``wellformed.encode`` and ``decode`` (issue 10 item 3: orjson on the hot endpoints and the
streams) mean exactly what the standard library writes and reads, edge cases included."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from unirouter import wellformed

_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text())  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _standard(value: Any) -> bytes:
    """What the standard library writes: strict, compact, lone surrogates and NaN cleaned."""
    return json.dumps(wellformed.clean(value), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types (1 is not 1.0 here), -0.0 and 0.0 told apart."""
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@given(_VALUES)
def test_encode_writes_what_the_standard_library_writes(value: Any) -> None:
    """Same keys, values and types once read back; NaN and Infinity written null, a lone
    surrogate as U+FFFD; never an exception."""
    assert _same(json.loads(wellformed.encode(value)), json.loads(_standard(value)))


@given(_VALUES)
def test_decode_reads_what_the_standard_library_reads(value: Any) -> None:
    """Also what orjson alone would read differently: integers past 64 bits (orjson: a float),
    NaN and lone surrogate escapes that an older build stored (orjson: an error)."""
    text = json.dumps(value)  # ASCII, NaN as NaN, lone surrogates escaped
    assert repr(wellformed.decode(text.encode())) == repr(json.loads(text))
    assert repr(wellformed.decode(text)) == repr(json.loads(text))


def test_encode_edge_cases_named() -> None:
    """The cases that differ between orjson and json, one by one."""
    assert wellformed.encode({"x": math.nan, "y": -math.inf}) == b'{"x":null,"y":null}'
    assert wellformed.encode({"s": "a\ud800"}) == '{"s":"a\ufffd"}'.encode()
    assert wellformed.encode({"n": 10**30}) == b'{"n":1000000000000000000000000000000}'
    assert wellformed.encode({1: "k"}) == b'{"1":"k"}'
    assert wellformed.encode("Zoë") == '"Zoë"'.encode()  # UTF-8, not \\u escapes
    assert wellformed.decode(b'{"n":123456789012345678901}') == {"n": 123456789012345678901}
