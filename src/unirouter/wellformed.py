"""Decoded JSON and YAML values that are safe to keep and to send back (issue 17).

``json.loads`` and YAML accept what no strict encoder can write back: a lone surrogate escape
(``"\\ud800"``) decodes to a ``str`` that UTF-8 cannot encode, and ``NaN`` or ``Infinity`` decode
to floats that strict JSON cannot write (and that break every ordering they enter). Kept in the log,
such a value would answer 500 to everyone who reads it, for ever. So every edge (HTTP bodies, query
and path parameters, configuration, channel traffic) asks :func:`first_flaw` and refuses the input,
naming the field; and every encoder on the way out uses :func:`encode`, which cannot fail on what
an older build may have stored (it writes U+FFFD for a lone surrogate and null for a non-finite
number, and only then, so well-formed values cost one plain encode).

:func:`encode` and :func:`decode` go through orjson (issue 10 item 3: the hot endpoints and the
streams), falling back to the standard library wherever orjson would refuse a value or read it
differently (a lone surrogate, an integer past 64 bits, ``NaN`` in a document an older build
stored), so the bytes mean exactly what ``json`` would have written and read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "Flaw", "FlawKind", "clean", "decode", "encode", "first_flaw", "scrub"]

#: The deepest nesting of objects and lists a request body may have (issue 17).
MAX_DEPTH = 64

Path = tuple[str | int, ...]
_SURROGATE = re.compile("[\ud800-\udfff]")


class FlawKind(StrEnum):
    """Why a value cannot be kept: what each edge tells the caller."""

    TEXT = "invalid_text"
    NUMBER = "non_finite_number"
    DEPTH = "too_deep"


@dataclass(frozen=True, slots=True, kw_only=True)
class Flaw:
    """The first value of a document that cannot be kept: where it is, and why."""

    path: Path
    kind: FlawKind
    message: str

    @property
    def field(self) -> str:
        """The path as problems name fields: ``skills[0].name``, ``attributes.note``."""
        out = ""
        for step in self.path:
            out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
        return out


_MESSAGES = {
    FlawKind.TEXT: "is not valid Unicode text (a lone surrogate such as \\ud800)",
    FlawKind.NUMBER: "must be a finite number (not NaN or Infinity)",
    FlawKind.DEPTH: f"nests objects and lists more than {MAX_DEPTH} deep",
}


def is_text(value: str) -> bool:
    """Whether ``value`` is a sequence of Unicode scalar values (UTF-8 can encode it)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_flaw(value: object, *, max_depth: int | None = MAX_DEPTH) -> Flaw | None:
    """The first lone surrogate (in a string or a key), non-finite number or, with ``max_depth``,
    nesting too deep in ``value``; ``None`` when all of it can be kept and sent back.

    Walks with its own stack, so no nesting makes it raise ``RecursionError``.
    """
    for path, depth, node in _walk(value):
        kind = _flaw_of(node)
        if kind is None and max_depth is not None and depth > max_depth:
            kind = FlawKind.DEPTH
        if kind is not None:
            return Flaw(path=path, kind=kind, message=_MESSAGES[kind])
    return None


def _flaw_of(node: object) -> FlawKind | None:
    if type(node) is str:
        return None if is_text(node) else FlawKind.TEXT
    if type(node) is float:
        return None if math.isfinite(node) else FlawKind.NUMBER
    return None


def _walk(value: object) -> Iterator[tuple[Path, int, object]]:
    """Every value and key under ``value`` with its path and depth, parents first."""
    stack: list[tuple[Path, int, object]] = [((), 0, value)]
    while stack:
        path, depth, node = stack.pop()
        yield path, depth, node
        if isinstance(node, dict):
            for key, child in reversed(node.items()):
                key_path = (*path, scrub(key) if isinstance(key, str) else str(key))
                if isinstance(key, str) and not is_text(key):
                    yield key_path, depth + 1, key
                stack.append((key_path, depth + 1, child))
        elif isinstance(node, list | tuple):
            stack.extend(((*path, i), depth + 1, child) for i, child in reversed(
                list(enumerate(node))))  # fmt: skip


def scrub(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (what a decoder does with bad bytes)."""
    return text if is_text(text) else _SURROGATE.sub("\ufffd", text)


def clean(value: Any) -> Any:
    """A copy of ``value`` that strict JSON can hold: lone surrogates scrubbed, non-finite
    numbers as null."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


#: A run of digits that may be an integer past 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(rb"\d{19}")


def encode(value: Any, **options: Any) -> bytes:
    """``value`` as strict, compact UTF-8 JSON, never failing on text or numbers (see the
    module's docstring): a non-finite number is written null. ``options`` go to
    :func:`json.dumps` (``separators``, ``default``) instead of orjson."""
    if not options:
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # a lone surrogate, an integer past 64 bits, a type orjson lacks
            pass
    options.setdefault("separators", (",", ":"))
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return json.dumps(clean(value), ensure_ascii=False, allow_nan=False, **options).encode()


def decode(data: bytes | str) -> Any:
    """The value of the JSON document ``data``, as :func:`json.loads` reads it (orjson when it
    reads it the same: no 19-digit number, no ``NaN``, no lone surrogate escape)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _LONG_NUMBER.search(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
