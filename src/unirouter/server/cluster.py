"""Several servers on one PostgreSQL database: one routing leader, followers, failover (SPEC §9).

Every server of a deployment runs this beside its :class:`~unirouter.server.host.EngineHost`:

* **Election.** Followers campaign every ``campaign_s`` (:class:`~unirouter.storage.postgres_ha.
  Elector`): a dead leader's seat is free as soon as its database session is gone, a paused or
  cut-off one's once its lease (``ttl_s``) runs out. The winner fences the store with its new term,
  catches up to the last durable record, and leads. The leader renews every ``ttl_s / 4``; a
  renewal that finds another term, or no renewal for a whole lease, stops the process (its
  supervisor starts it again as a follower): a deposed leader never appends, since every append
  carries its term.
* **Following.** A LISTEN thread wakes the follower on every commit; it reads the log after its
  cursor and folds it into its read model (:meth:`EngineHost.apply`), which serves reads, SSE and
  agent WebSockets.
* **Writes** reaching a follower are forwarded to the leader (:class:`LeaderProxy`), not
  redirected: clients, browsers and load balancers never learn who leads. The answer waits until
  this follower has applied the write, so a client reads its own writes from the same server.
* **Liveness (R35).** Each server tells the leader which agents hold a stream on it (at once on
  a change, and every second). The leader reconnects an agent seen on any server and disconnects
  one seen on none, except during ``grace_s`` after an election, when the agents of the dead
  leader are reconnecting elsewhere: nobody goes offline because of a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ConfigDict
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unirouter import errors
from unirouter.server import problems
from unirouter.server.host import EngineHost, HostStopped
from unirouter.storage import postgres_ha
from unirouter.storage.postgres import PostgresStore

__all__ = ["Cluster", "LeaderProxy", "install"]

log = logging.getLogger("unirouter.server")
SECRET_KEY = "cluster-secret"
SECRET_HEADER = "unirouter-cluster"
CURSOR_HEADER = "unirouter-cursor"
FORWARDED_HEADER = "unirouter-forwarded"
#: A server's report of its agents counts this long (it reports every second).
FRESH_S = 5.0
_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"}


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: str
    #: Reports of one server are numbered: one that arrives after a newer one is ignored.
    number: int
    agents: list[str]


class Cluster:
    """One server's part in the deployment: its seat in the election, its log follower, and
    (while it leads) the agents every server reports connected."""

    def __init__(self, host: EngineHost, store: PostgresStore, url: str, *, ttl_s: float = 3.0,
                 campaign_s: float = 0.2, grace_s: float = 10.0) -> None:  # fmt: skip
        self.host = host
        self.store = store
        self.url = url
        self.server_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.elector = postgres_ha.Elector(store.info, self.server_id, url, ttl_s=ttl_s)
        self.ttl_s, self.campaign_s, self.grace_s = ttl_s, campaign_s, grace_s
        self.term: int | None = None
        self.leader_url: str | None = None
        self.secret = ""
        self._reports: dict[str, tuple[frozenset[str], float]] = {}
        self._numbers: dict[str, int] = {}
        self._sent = 0
        self._sending = asyncio.Lock()
        self._grace_until = 0.0
        self._wake = asyncio.Event()
        self._applying = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: postgres_ha.Listener | None = None
        self._client: httpx.AsyncClient | None = None
        registry = host.metrics.registry
        self.elections = Counter("unirouter_elections", "Elections this server won.",
                                 registry=registry)  # fmt: skip
        self.leader_gauge = Gauge("unirouter_leader", "1 while this server leads.",
                                  registry=registry)  # fmt: skip
        self.lag_gauge = Gauge("unirouter_replication_lag_records",
                               "Durable records this server has not applied yet.",
                               registry=registry)  # fmt: skip
        self.term_gauge = Gauge("unirouter_leader_term", "The leader term this server knows.",
                                registry=registry)  # fmt: skip

    # -- start and stop -------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.secret = await asyncio.to_thread(
            self.store.remember_key, "server", SECRET_KEY, secrets.token_hex(32)
        )
        self._client = httpx.AsyncClient(timeout=10.0)

        def wake(cursor: int | None) -> None:  # in the listener's thread
            loop.call_soon_threadsafe(self._wake.set)

        self._listener = postgres_ha.Listener(self.store.info, wake)
        self._listener.start()
        for name, job in (("seat", self._seat), ("follow", self._follow), ("report", self._report)):
            self._tasks.append(asyncio.create_task(job(), name=f"unirouter-cluster-{name}"))

    async def stop(self) -> None:
        """Leave: a leader resigns its lease so a follower takes over at once."""
        for task in self._tasks:
            task.cancel()
        if self._listener is not None:
            self._listener.stop()
        if self.host.leading and self.term is not None:
            await asyncio.to_thread(self.elector.resign, self.term)
        await asyncio.to_thread(self.elector.close)
        if self._client is not None:
            await self._client.aclose()

    @property
    def role(self) -> str:
        return "leader" if self.host.leading else "follower"

    # -- the seat: campaign while following, renew while leading --------------------------------

    async def _seat(self) -> None:
        last_renewal = time.monotonic()
        while True:
            try:
                if self.host.leading:
                    await self._renew(last_renewal)
                    last_renewal = time.monotonic()
                else:
                    await self._campaign()
                    last_renewal = time.monotonic()
            except Exception as exc:  # a lost connection: the elector reconnects next time
                log.warning("leader election: %s", exc)
                if self.host.leading and time.monotonic() - last_renewal > self.ttl_s:
                    self._depose("the lease could not be renewed for a whole lease")
                    return
            await asyncio.sleep(self.ttl_s / 4 if self.host.leading else self.campaign_s)

    async def _renew(self, last_renewal: float) -> None:
        assert self.term is not None
        if not await asyncio.to_thread(self.elector.renew, self.term):
            self._depose(f"another server was elected after term {self.term}")

    async def _campaign(self) -> None:
        elected = await asyncio.to_thread(self.elector.campaign)
        if elected is None:
            seat = await asyncio.to_thread(self.elector.leadership)
            self.leader_url, self.term = seat.url, seat.term
            self.term_gauge.set(seat.term)
            return
        self.store.fence(elected.term)
        self.term, self.leader_url = elected.term, self.url
        await self._catch_up()
        self._grace_until = time.monotonic() + self.grace_s
        self._reports.clear()
        await self.host.lead()
        self.elections.inc()
        self.leader_gauge.set(1)
        self.term_gauge.set(elected.term)
        log.warning("elected leader (term %d, %s) at cursor %d", elected.term, elected.reason,
                    self.host.durable_cursor)  # fmt: skip

    def _depose(self, why: str) -> None:
        log.error("no longer the leader: %s; stopping", why)
        self.leader_gauge.set(0)
        self.host.failure = HostStopped(f"deposed: {why}")
        self.host.on_failure(self.host.failure)

    # -- following the log ----------------------------------------------------------------------

    async def _follow(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.host.leading:
                with contextlib.suppress(errors.UnirouterError):
                    await self._catch_up()

    async def _catch_up(self) -> None:
        """Apply every durable record after this host's cursor (in the loop: the engine's)."""
        async with self._applying:
            if self.host.leading:
                return  # its own appends: the engine ran them (a forward that outlived a promotion)
            records = await asyncio.to_thread(self.store.read, self.host.durable_cursor)
            if records:
                self.host.apply(records)
        last = await asyncio.to_thread(self.store.last_cursor)
        self.lag_gauge.set(max(0, last - self.host.durable_cursor))

    async def applied(self, cursor: int, timeout_s: float = 2.0) -> None:
        """Wait until this follower applied ``cursor`` (read-your-writes after a forward)."""
        deadline = time.monotonic() + timeout_s
        while self.host.durable_cursor < cursor and time.monotonic() < deadline:
            await self._catch_up()
            if self.host.durable_cursor < cursor:
                await asyncio.sleep(0.002)

    # -- liveness (R35) ---------------------------------------------------------------------------

    async def connections_changed(self) -> None:
        """Called by the agent stream when an agent's first or last stream here opens or closes."""
        await self._send_report()

    async def _report(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self._send_report()
            await asyncio.sleep(1.0)

    def _mine(self) -> list[str]:
        return sorted(agent for agent, count in self.host.connections.items() if count > 0)

    async def _send_report(self) -> None:
        if self.host.leading:
            await self.reconcile()
            return
        if self.leader_url is None or self._client is None:
            return
        async with self._sending:  # one at a time, so they arrive in order
            self._sent += 1
            report = {"server": self.server_id, "number": self._sent, "agents": self._mine()}
            with contextlib.suppress(httpx.HTTPError):
                await self._client.put(self.leader_url + "/v1/cluster/connections", json=report,
                                       headers={SECRET_HEADER: self.secret})  # fmt: skip

    async def take_report(self, report: _Report) -> None:
        if report.number <= self._numbers.get(report.server, 0):
            return  # overtaken by a newer report of the same server
        self._numbers[report.server] = report.number
        self._reports[report.server] = (frozenset(report.agents), time.monotonic())
        await self.reconcile()

    async def reconcile(self) -> None:
        """Reconnect agents streaming anywhere; disconnect those streaming nowhere (not in grace)."""
        if not self.host.leading:
            return
        now = time.monotonic()
        live = set(self._mine())
        for agents, seen in self._reports.values():
            if now - seen < FRESH_S:
                live |= agents
        grace = now < self._grace_until
        for agent in list(self.host.engine.agents()):
            op = _liveness_op(agent.id in live, agent.connected, grace)
            if op is not None:
                with contextlib.suppress(errors.CommandError):
                    await self.host.command(op, {"agent": agent.id})

    # -- forwarding -----------------------------------------------------------------------------

    async def forward(
        self, scope: Scope, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send a write to the leader; its status, headers and body (503 when none answers)."""
        if self.leader_url is None or self._client is None or self.leader_url == self.url:
            return _unavailable("no leader is elected yet; retry")
        headers = [(k, v) for k, v in scope["headers"] if k.decode().lower() not in _HOP]
        headers.append((FORWARDED_HEADER.encode(), b"1"))
        query = scope.get("query_string", b"").decode()
        url = self.leader_url + scope["path"] + (f"?{query}" if query else "")
        try:
            answer = await self._client.request(scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            return _unavailable(f"the leader did not answer ({type(exc).__name__}); retry")
        cursor = answer.headers.get(CURSOR_HEADER)
        if cursor is not None and cursor.isdigit():
            await self.applied(int(cursor))
        out = [(k.encode(), v.encode()) for k, v in answer.headers.items() if k.lower() not in _HOP]
        return answer.status_code, out, answer.content


def _liveness_op(live: bool, connected: bool, grace: bool) -> str | None:
    if live and not connected:
        return "reconnect"
    if not live and connected and not grace:
        return "disconnect"
    return None


def _unavailable(detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    response = problems.problem_response(503, "unavailable", detail)
    headers = [(k.encode(), v.encode()) for k, v in response.headers.items()
               if k.lower() != "content-length"]  # fmt: skip
    return 503, [*headers, (b"retry-after", b"1")], bytes(response.body)


class LeaderProxy:
    """On a follower, forward every write under ``/v1/`` to the leader; on the leader, stamp each
    write's answer with the durable cursor it reached (``Unirouter-Cursor``)."""

    def __init__(self, app: ASGIApp, cluster: Cluster) -> None:
        self.app = app
        self.cluster = cluster

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_write(scope):
            await self.app(scope, receive, send)
        elif self.cluster.host.leading:
            await self.app(scope, receive, self._stamped(send))
        elif any(k == FORWARDED_HEADER.encode() for k, _ in scope["headers"]):
            status, headers, body = _unavailable("this server no longer leads; retry")
            await _answer(send, status, headers, body)
        else:
            body = b"".join([chunk async for chunk in _body(receive)])
            await _answer(send, *await self.cluster.forward(scope, body))

    def _stamped(self, send: Send) -> Send:
        host = self.cluster.host

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                cursor = str(host.durable_cursor).encode()
                message = {**message, "headers": [*message.get("headers", []),
                                                   (CURSOR_HEADER.encode(), cursor)]}  # fmt: skip
            await send(message)

        return stamped


def _is_write(scope: Scope) -> bool:
    path = scope.get("path", "")
    return (scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and path.startswith("/v1/") and not path.startswith("/v1/cluster/"))  # fmt: skip


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


def _router(cluster: Cluster) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.put("/v1/cluster/connections")
    async def connections(report: _Report, request: Request) -> dict[str, str]:
        """A server's agents with a stream open on it (servers of the deployment only)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given, cluster.secret):
            raise problems.ApiProblem(403, "forbidden", "only servers of this deployment report")
        await cluster.take_report(report)
        return {"role": cluster.role}

    return router


def install(
    app: FastAPI, host: EngineHost, store: PostgresStore, url: str, **timing: float
) -> Cluster:
    """Make the app one server of a deployment on ``store``; ``url`` is how the others reach it."""
    cluster = Cluster(host, store, url, **timing)
    host.cluster = cluster
    app.state.cluster = cluster
    app.include_router(_router(cluster))
    app.user_middleware.append(Middleware(LeaderProxy, cluster=cluster))  # inside BodyLimit
    return cluster
