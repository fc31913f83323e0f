"""The HTTP connection's own limits (issue 17 item 5): how large a request head may be, how long
its head and its body may take to arrive, how long an idle keep-alive connection stays, and how
many connections are served at once.

uvicorn's fast parser (httptools) has no bound on the head it buffers and no deadline for a head
or a body that trickles in: a 50 MB header was read and answered, and 1,000 stalled bodies were
still held after 33 s. :class:`BoundedHttp` is uvicorn's httptools protocol with those bounds:

* a head (request line and headers) over ``header_bytes`` is answered 431 and the connection
  closed, counted as it arrives, so at most one read past the bound is ever buffered;
* a head not complete ``header_timeout_ms`` after the connection opened or the request began,
  and a body not complete ``body_timeout_ms`` after its head, are dropped: 408 when no answer has
  started, then the connection is closed. A WebSocket upgrade leaves both timers behind.

:func:`uvicorn_config` also sets uvicorn's own ``limit_concurrency`` (503 past ``connections``),
``timeout_keep_alive`` and the WebSocket message size.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from unirouter.server import limits

__all__ = ["BoundedHttp", "uvicorn_config"]

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class BoundedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head and deadlines for head and body; the
    bounds are class attributes set by :func:`protocol_for`."""

    bounds = limits.Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_bytes = 0
        self._in_head = True
        self._refused = False
        self._timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm(self.bounds.header_timeout_ms, "the request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_too_large(self._head_bytes) and self._serving():
            self._refuse_head()

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._in_head = True
        self._arm(self.bounds.header_timeout_ms, "the request head")

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        # The head's size as written (the request line's method and version counted as 16).
        size = 16 + len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if self._head_too_large(size):
            self._refuse_head()
            return
        self._in_head, self._head_bytes = False, 0
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        super().on_headers_complete()
        if not upgrading:
            self._arm(self.bounds.body_timeout_ms, "the request body")

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    def _head_too_large(self, size: int) -> bool:
        return bool(self.bounds.header_bytes) and size > self.bounds.header_bytes

    def _refuse_head(self) -> None:
        detail = f"the request head is over {self.bounds.header_bytes} bytes"
        self._refuse(431, "header_too_large", detail, "header_bytes", self.bounds.header_bytes)

    # -- deadlines ---------------------------------------------------------------------------

    def _arm(self, ms: int, what: str) -> None:
        self._disarm()
        if ms:
            self._timer = self.loop.call_later(ms / 1000, self._expired, ms, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, ms: int, what: str) -> None:
        self._timer = None
        if not self._serving():
            return
        name = "header_timeout_ms" if self._in_head else "body_timeout_ms"
        self._refuse(408, "request_timeout", f"{what} did not arrive within {ms} ms", name, ms)

    def _serving(self) -> bool:
        """Still this protocol's connection (not closed, not handed to a WebSocket)."""
        transport = self.transport
        return not transport.is_closing() and transport.get_protocol() is self

    def _refuse(self, status: int, code: str, detail: str, name: str, limit: int) -> None:
        """Answer ``status`` as problem JSON unless another answer is under way on the
        connection, then close it (the app waiting for the body then reads a disconnect)."""
        self._disarm()
        self._refused = True
        cycle = self.cycle
        if self._in_head:  # no request yet: the cycle, if any, is the previous request's
            quiet = cycle is None or cycle.response_complete
        else:
            quiet = not cycle.response_started
        if quiet:
            self.transport.write(_problem(status, code, detail, name, limit))
        self.transport.close()


def _problem(status: int, code: str, detail: str, name: str, limit: int) -> bytes:
    body: dict[str, Any] = {
        "type": f"urn:unirouter:problem:{code}", "title": _REASONS[status].decode(),
        "status": status, "detail": detail, "field": "headers" if status == 431 else "body",
        "limit_name": name, "limit": limit,
    }  # fmt: skip
    payload = json.dumps(body).encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/problem+json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(payload))
    )
    return head + payload


def protocol_for(bounds: limits.Limits) -> type[BoundedHttp]:
    """A :class:`BoundedHttp` holding ``bounds``."""
    return type("BoundedHttp", (BoundedHttp,), {"bounds": bounds})


def uvicorn_config(app: Any, bounds: limits.Limits, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the connection limits of ``bounds``."""
    return uvicorn.Config(
        app,
        http=protocol_for(bounds),
        limit_concurrency=bounds.connections or None,
        timeout_keep_alive=bounds.keep_alive_s,
        h11_max_incomplete_event_size=bounds.header_bytes or None,
        ws_max_size=bounds.websocket_message_bytes,
        **options,
    )
