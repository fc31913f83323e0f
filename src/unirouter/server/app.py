"""The application factory: ``create_app(host, auth)`` and ``open_app(db, config)``.

Tests, ``unirouter serve`` and later tools (benchmarks, the demo) build the app the same way::

    host = EngineHost(storage.open_store("sqlite:///u.db"))
    host.restore(config)          # replays the log (blocking), or starts one from ``config``
    app = create_app(host)        # FastAPI; its lifespan starts and stops the host
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import unirouter
from unirouter import errors, web
from unirouter.channels import routes as channel_routes
from unirouter.channels import runtime as channel_runtime
from unirouter.config import model
from unirouter.engine import ItemState
from unirouter.server import limits, models, problems, wire
from unirouter.server._http import uvicorn_config
from unirouter.server.auth import Authenticator
from unirouter.server.host import RETAIN_CLOSED, EngineHost
from unirouter.server.routes import admin, agents, items, session, stream
from unirouter.storage import PostgresStore, open_store

__all__ = ["BODY_LIMIT", "create_app", "listen_socket", "open_app", "uvicorn_config"]

#: SPEC §10: request bodies over 1 MiB are refused (413).
BODY_LIMIT = 1024 * 1024


class BodyLimit:
    """Refuse a request whose body exceeds ``limit`` bytes with a 413 problem, before the route
    reads it (declared length) or as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, limit: int = BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or was dropped) before its body arrived: run nothing
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over {self.limit} bytes"
        response = problems.problem_response(413, "body_too_large", detail, field="body",
                                             limit=self.limit)  # fmt: skip
        await response(scope, receive, send)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port) for uvicorn to serve on.

    Made with ``IPPROTO_TCP`` on purpose: asyncio turns Nagle's algorithm off (``TCP_NODELAY``)
    only on sockets whose ``proto`` says TCP, and accepted sockets inherit the listener's. With a
    bare ``socket.socket()`` (proto 0) every response whose headers and body leave in two writes
    waits for the client's delayed ACK: about 40 ms per keep-alive request on Linux.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def customer_token_expired(host: EngineHost, item_id: str) -> bool:
    """Issue 17 item 7: a customer token runs out ``auth.customer_token_ttl_s`` after its
    conversation closed, and with the item once the server no longer keeps it."""
    if not host.has_engine:
        return True
    try:
        item = host.engine.item(item_id)
    except errors.NotFound:
        return True
    if item.state is not ItemState.CLOSED:
        return False
    closed_at = host.projection.times(item_id).get("closed_at")
    ttl = host.engine.config.auth.customer_token_ttl_s
    return closed_at is None or host.now() - closed_at > ttl


def create_app(
    host: EngineHost, auth: Authenticator | None = None, bounds: limits.Limits | None = None
) -> FastAPI:
    """The API of SPEC §6.3 over a restored ``host`` (see :meth:`EngineHost.restore`), holding
    callers to ``bounds`` (default: :class:`~unirouter.server.limits.Limits`)."""
    if auth is None:
        auth = Authenticator(host.store, lambda: host.engine.config.auth.tokens,
                             lambda item_id: customer_token_expired(host, item_id))  # fmt: skip
        auth.forget_legacy_secret()

    channels = channel_runtime.Runtime(host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await host.start()
        cluster = getattr(app.state, "cluster", None)  # several servers: server.cluster.install
        try:
            if cluster is not None:
                await cluster.start()
            if host.has_engine:  # a follower of an empty log has no configuration yet
                await channels.start()
            yield
        finally:
            await channels.stop()
            if cluster is not None:
                await cluster.stop()
            await host.stop()

    # Swagger UI at /docs from the assets installed with fastapi-offline: the API's own page
    # works without the Internet (issue 16 item 7). ReDoc is left out: its bundle fetches its
    # logo from redoc.ly.
    app = FastAPIOffline(
        static_url="/docs/assets",
        redoc_url=None,
        title="unirouter",
        version=unirouter.__version__,
        description="Unified routing and work distribution (SPEC §6.3).",
        lifespan=lifespan,
        default_response_class=wire.JSONResponse,  # cannot fail on stored text (issue 17)
        responses={
            401: {"model": models.Problem, "description": "No valid bearer token"},
            403: {"model": models.Problem, "description": "Beyond the token's role"},
            422: {"model": models.Problem, "description": "Invalid input"},
        },
    )
    app.state.host = host
    app.state.auth = auth
    app.state.limits = bounds = bounds or limits.Limits()
    app.state.rates = limits.RateLimiter()
    app.state.config_parser = limits.OffLoop(bounds.config_parse_ms)
    app.state.channels = channels
    host.metrics.watch_queues(lambda: _queue_rows(host))
    host.metrics.watch_commits(lambda: _commit_counts(host))
    problems.install(app)
    _document_problems(app)
    for module in (items, agents, admin, stream, channel_routes, session):
        app.include_router(module.router)
    web.mount(app)
    app.add_middleware(BodyLimit)
    return app


#: What any operation may answer besides its own statuses (SPEC §10), all as problem JSON.
PROBLEM_STATUSES = {
    400: "Malformed JSON",
    401: "No valid bearer token",
    403: "Beyond the token's role",
    404: "Unknown id",
    408: "The request head or body stalled (the connection is closed)",
    409: "Illegal transition",
    413: "Request body over 1 MiB, or a message over its size limit",
    422: "Invalid input",
    429: "Over a rate limit (Retry-After says when to try again)",
    431: "Request head over its size limit (the connection is closed)",
    503: "The server is not serving (stopping, or the log could not be written)",
}


def _document_problems(app: FastAPI) -> None:
    """Make ``/openapi.json`` say what the server answers: every error status it may send, each
    as ``application/problem+json`` (FastAPI alone would document ``application/json``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    for status, description in PROBLEM_STATUSES.items():
                        responses[str(status)] = {"description": description,
                                                  "content": {problems.MEDIA_TYPE: problem}}  # fmt: skip
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _commit_counts(host: EngineHost) -> tuple[int, int] | None:
    committer = getattr(host.store, "committer", None)
    return None if committer is None else (committer.transactions, committer.writes)


def _queue_rows(host: EngineHost) -> list[dict[str, Any]]:
    engine, now = host.engine, host.now()
    return [engine.queue_status(name, at=now) for name in engine.queue_names()]


def open_app(
    db: str,
    config: model.Config | None,
    bounds: limits.Limits | None = None,
    retain_closed: int = RETAIN_CLOSED,
) -> tuple[FastAPI, EngineHost, str]:
    """Open the store ``db``, replay its log (or start one from ``config``) and build the app;
    returns the app, its host and a sentence saying what the restore did. On PostgreSQL the host
    starts as a follower: :func:`unirouter.server.cluster.install` makes it campaign.
    ``retain_closed``: closed items kept readable in memory (older ones live on in the log)."""
    store = open_store(db)
    host = EngineHost(store, retain_closed=retain_closed)
    try:
        said = host.restore(config, follow=isinstance(store, PostgresStore))
    except BaseException:
        store.close()
        raise
    return create_app(host, bounds=bounds), host, said
