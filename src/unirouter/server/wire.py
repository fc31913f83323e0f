"""How values leave the server: JSON responses, server-sent events and WebSocket frames.

None of them may fail on what the log holds (issue 17 item 1): a log written before the edges
refused lone surrogates and non-finite numbers can still hold them, and an encoder that raised on
one would answer 500, or drop an agent's stream, for as long as the value lives. So each encoder
here goes through :func:`unirouter.wellformed.encode`, and an event is formatted once, when it is
published, however many readers it goes to (issue 17 item 8).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse as _StarletteJSON

from unirouter import wellformed

__all__ = ["JSONResponse", "sse_frame", "stored_json", "text_bytes", "ws_frame"]


class JSONResponse(_StarletteJSON):
    """Starlette's JSON response (compact, strict: no NaN), unable to fail on stored text."""

    def render(self, content: Any) -> bytes:
        return wellformed.encode(content)


def sse_frame(cursor: int, kind: str, data: bytes) -> bytes:
    """One server-sent event; ``data`` is the event's JSON as the log holds it (one line)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (cursor, text_bytes(kind), data)


def ws_frame(
    kind: str, cursor: int, key: str, data: bytes, extra: dict[str, Any] | None = None
) -> str:
    """``{"type": kind, "cursor": cursor, key: DATA, **extra}`` where ``data`` is JSON already
    encoded (the event as the log holds it)."""
    more = "".join(f',"{k}":{wellformed.encode(v).decode()}' for k, v in (extra or {}).items())
    return f'{{"type":"{kind}","cursor":{cursor},"{key}":{data.decode("utf-8", "replace")}{more}}}'


def stored_json(data: bytes, value: Any) -> bytes:
    """A record's ``data`` as read from the store, fit to send: a record an older build wrote may
    hold ``NaN`` or an escaped lone surrogate, and is then written again from its ``value``."""
    if b"NaN" in data or b"Infinity" in data or b"\\ud" in data:
        return wellformed.encode(value)
    return data


def text_bytes(text: str) -> bytes:
    """``text`` as UTF-8 for a text response (YAML, CSV), a lone surrogate written as U+FFFD."""
    return wellformed.scrub(text).encode("utf-8")
