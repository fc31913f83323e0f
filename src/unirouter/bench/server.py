"""``unirouter bench server``: durable intakes per second and intake-to-offer latency (issue 4).

Everything goes over loopback to real processes: a ``unirouter serve`` subprocess on a fresh SQLite
file (WAL, ``synchronous=FULL``: every 201 is durable), and beside it, in the same run, a bare
endpoint of the same framework (FastAPI on uvicorn, one POST route validating the same body and
answering 201, no engine, no log) so the figures can be read against what the framework and the
client alone reach on this machine.

* **Throughput**: ``clients`` concurrent HTTP/1.1 keep-alive clients post intakes as fast as the
  server answers, for ``seconds``; durable intakes per second = 201s / elapsed. They go to the
  workstream ``bulk``, whose agents never connect: the items wait, and the server holds them
  (and snapshots them) through the latency phase.
* **Latency**: agents hold their ``WS /v1/agents/{id}/stream`` open while intakes arrive at a fixed
  ``rate`` (open loop); latency = the moment the agent's socket delivers the ``offer_made`` minus
  the moment the intake was sent, p50 and p99. The intakes start once every agent's stream said
  hello and has delivered the offers of the backlog the throughput phase left (half a second
  without a frame).

The client runs in this process: one event loop (uvloop when installed) driving keep-alive
HTTP/1.1 connections over raw streams, one request in flight per connection, each request one write
with ``TCP_NODELAY``. It costs tens of microseconds per request, so the figures measure the server;
on a small machine it still shares the cores with it, and the bare endpoint's figure shows that
ceiling. Figures only, never a pass or fail (STYLE: benchmarks are not tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from websockets.asyncio.client import connect as ws_connect

from unirouter.server.app import listen_socket

__all__ = ["Figures", "Phases", "as_json", "report", "run", "serve_bare"]

T = TypeVar("T")
AGENTS = 8
_CLI = [sys.executable, "-c", "from unirouter.cli import main; main()"]
_BARE = [sys.executable, "-c", "from unirouter.bench.server import serve_bare; serve_bare()"]
_INTAKE, _AGENT = "bench-intake-token", "bench-agent-token-{}"
_LATENCY_CONNECTIONS = 16
#: The latency phase starts after the agents' streams were this long without a frame.
_QUIET_S = 0.5


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _config() -> str:
    """Two push workstreams alike: ``bulk`` takes the throughput phase's intakes (its agents
    never connect, so its items stay waiting, held by the server), ``chat`` the latency phase's,
    offered to the connected agents ``a*``, which have room for every offer (no answers needed).
    Without the split the agents' first connection was offered the whole throughput backlog in
    one command (over 10,000 offers: a second-long burst, and a stream closed for overflow)."""
    agents = "\n".join(f"  a{n}: {{capacity_units: 10000000}}" for n in range(AGENTS))
    agents += "\n" + "\n".join(f"  b{n}: {{capacity_units: 10000000}}" for n in range(AGENTS))
    tokens = "\n".join(
        f"    - {{name: a{n}, role: agent, agent: a{n}, sha256: {_sha(_AGENT.format(n))}}}"
        for n in range(AGENTS)
    )
    members = ", ".join(f"a{n}" for n in range(AGENTS))
    bulk = ", ".join(f"b{n}" for n in range(AGENTS))
    return f"""version: 1
workstreams:
  chat: {{kind: messaging, mode: push, capacity: {{units: 1}}, offer: {{timeout_s: 86400}},
          fallback_queue: chat_q}}
  bulk: {{kind: messaging, mode: push, capacity: {{units: 1}}, offer: {{timeout_s: 86400}},
          fallback_queue: bulk_q}}
queues:
  chat_q: {{kind: messaging, members: [{members}]}}
  bulk_q: {{kind: messaging, members: [{bulk}]}}
agents:
{agents}
auth:
  tokens:
    - {{name: intake, role: intake, sha256: {_sha(_INTAKE)}}}
{tokens}
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    clients: int
    seconds: float
    durable_intakes_per_s: float
    bare_requests_per_s: float
    rate_per_s: float
    offers_measured: int
    p50_ms: float
    p99_ms: float
    #: The store's group commits per second during the throughput phase (against
    #: ``durable_intakes_per_s``: how many intakes one commit carries).
    commits_per_s: float = math.nan
    #: The same two phases on PostgreSQL, when ``run(postgres=…)`` was given a server.
    postgres: Phases | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Phases:
    durable_intakes_per_s: float
    offers_measured: int
    p50_ms: float
    p99_ms: float
    commits_per_s: float = math.nan


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "http://" not in line:
        process.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, line.split()[-1]


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


class _Connection:
    """One keep-alive HTTP/1.1 connection over raw asyncio streams, one request in flight (no
    pipelining): each request leaves in one write, ``TCP_NODELAY`` on. A benchmark client that
    costs a few tens of microseconds per request, so it measures the server, not itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                 headers: dict[str, str]) -> None:  # fmt: skip
        self._reader, self._writer = reader, writer
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f"Host: {host}\r\nContent-Type: application/json\r\n{lines}"

    @classmethod
    async def open(cls, url: str, headers: dict[str, str]) -> _Connection:
        authority = url.split("//", 1)[1].rstrip("/")
        host, port = authority.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, authority, headers)

    async def post(
        self, path: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one POST (a JSON object, or raw bytes with this request's own ``headers``) and
        read its whole answer: (status, body)."""
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (f"POST {path} HTTP/1.1\r\n{self._head}{extra}"
                   f"Content-Length: {len(data)}\r\n\r\n")  # fmt: skip
        self._writer.write(request.encode() + data)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        length = None
        for line in fields:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"the answer has no Content-Length: {status_line!r}")
        return int(status_line.split()[1]), await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def _hammer(url: str, path: str, clients: int, seconds: float, tag: str,
                  workstream: str = "bulk") -> float:  # fmt: skip
    """Requests answered 201 per second by ``clients`` closed-loop keep-alive connections."""
    headers = {"Authorization": f"Bearer {_INTAKE}"}
    connections = [await _Connection.open(url, headers) for _ in range(clients)]
    done = 0
    end = time.perf_counter() + seconds

    async def one(k: int, connection: _Connection) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < end:
            body = {"external_id": f"{tag}-{k}-{n}", "workstream": workstream}
            n += 1
            status, _ = await connection.post(path, body)
            if status == 201:
                done += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(k, c) for k, c in enumerate(connections)))
        return done / (time.perf_counter() - started)
    finally:
        for connection in connections:
            await connection.close()


async def _latency(url: str, rate: float, seconds: float) -> list[float]:
    """Seconds from sending an intake to its offer arriving on the agent's socket."""
    sent: dict[str, float] = {}
    offered: dict[str, float] = {}
    heard = [time.perf_counter()]  # when the agents' streams last delivered a frame
    greeted: set[int] = set()  # agents whose stream said hello (it is open, the agent connected)
    ws_base = "ws" + url.removeprefix("http")

    async def agent(n: int) -> None:
        headers = {"Authorization": f"Bearer {_AGENT.format(n)}"}
        # max_size=None: the hello of the agent the backlog went to lists thousands of offers,
        # over the client's default 1 MiB (it used to close that agent's stream mid-phase).
        async with ws_connect(f"{ws_base}/v1/agents/a{n}/stream", additional_headers=headers,
                              max_queue=None, max_size=None) as ws:  # fmt: skip
            async for raw in ws:
                heard[0] = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") == "hello":
                    greeted.add(n)
                event = frame.get("event") or {}
                if event.get("type") == "offer_made":
                    offered.setdefault(event["item"], time.perf_counter())

    listeners = [asyncio.create_task(agent(n)) for n in range(AGENTS)]
    # The agents' first connection offers them every item the throughput phase left waiting (in
    # one command: thousands of offers and frames); the phase starts once that has been
    # delivered, so it measures intakes arriving at a settled server, not the backlog's drain.
    while len(greeted) < AGENTS or time.perf_counter() - heard[0] < _QUIET_S:
        await asyncio.sleep(0.05)
        for task in listeners:
            if task.done():  # a stream that closed before the phase began: say why
                raise RuntimeError(f"an agent's stream ended: {task.exception()!r}")
    headers = {"Authorization": f"Bearer {_INTAKE}"}
    # Open loop: a pool of keep-alive connections deep enough that an intake never waits for one.
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(_LATENCY_CONNECTIONS):
        pool.put_nowait(await _Connection.open(url, headers))

    async def intake(n: int) -> None:
        at = time.perf_counter()  # before taking a connection: any wait for one counts
        connection = await pool.get()
        status, answer = await connection.post("/v1/work-items",
                                               {"external_id": f"lat-{n}", "workstream": "chat"})  # fmt: skip
        pool.put_nowait(connection)
        if status == 201:
            sent[json.loads(answer)["id"]] = at

    start = time.perf_counter()
    tasks = []
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(intake(n)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        await pool.get_nowait().close()
    await asyncio.sleep(0.5)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return [offered[i] - at for i, at in sent.items() if i in offered]


def _run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the client on uvloop when it is installed (a cheaper client), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run(
    *,
    clients: int = 32,
    seconds: float = 5.0,
    rate: float = 200.0,
    snapshot_every: int | None = None,
    postgres: str | None = None,
) -> Figures:
    """Start the server and the bare endpoint, measure both in one run. ``snapshot_every``: the
    server's ``--snapshot-every`` (None: its default; 0: no snapshots). ``postgres``: a
    ``postgresql://`` URL whose server also runs the phases, in a database made for the run
    (and dropped after it), beside SQLite."""
    with tempfile.TemporaryDirectory(prefix="unirouter-bench-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(_config())
        extra = [] if snapshot_every is None else ["--snapshot-every", str(snapshot_every)]
        sqlite = _phases(str(Path(folder) / "bench.db"), config, extra, clients, seconds, rate)
        on_postgres = None
        if postgres is not None:
            with _bench_database(postgres) as url:
                on_postgres = _phases(url, config, extra, clients, seconds, rate)
    bare_process, bare_url = _start(_BARE)
    try:
        bare = _run_async(_hammer(bare_url, "/bare", clients, seconds, "bare"))
    finally:
        _stop(bare_process)
    return Figures(clients=clients, seconds=seconds,
                   durable_intakes_per_s=sqlite.durable_intakes_per_s, bare_requests_per_s=bare,
                   rate_per_s=rate, offers_measured=sqlite.offers_measured, p50_ms=sqlite.p50_ms,
                   p99_ms=sqlite.p99_ms, commits_per_s=sqlite.commits_per_s,
                   postgres=on_postgres)  # fmt: skip


def _phases(db: str, config: Path, extra: list[str], clients: int, seconds: float,
            rate: float) -> Phases:  # fmt: skip
    """Throughput, then latency, against one ``unirouter serve`` on ``db``."""
    server, url = _start([*_CLI, "serve", "--db", db, "--port", "0", "--config", str(config),
                          *extra])  # fmt: skip
    try:
        _wait_leading(url)
        commits, started = _commits(url), time.perf_counter()
        durable = _run_async(_hammer(url, "/v1/work-items", clients, seconds, "tp"))
        commits_per_s = (_commits(url) - commits) / (time.perf_counter() - started)
        latencies = _run_async(_latency(url, rate, seconds))
    finally:
        _stop(server)
    return Phases(durable_intakes_per_s=durable, offers_measured=len(latencies),
                  p50_ms=1000 * _quantile(latencies, 0.5),
                  p99_ms=1000 * _quantile(latencies, 0.99), commits_per_s=commits_per_s)  # fmt: skip


def _commits(url: str) -> float:
    """The server's group commits so far (``unirouter_store_commits_total``; NaN if absent)."""
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("unirouter_store_commits_total "):
            return float(line.split()[1])
    return math.nan


def _wait_leading(url: str, timeout_s: float = 30.0) -> None:
    """On PostgreSQL a server starts as a follower and leads after its first campaign."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(url + "/readyz", timeout=2).json().get("role") == "leader":
                return
        time.sleep(0.05)
    raise RuntimeError("the server did not start leading")


@contextlib.contextmanager
def _bench_database(url: str) -> Iterator[str]:
    """A new database on the server ``url`` names, dropped afterwards (needs CREATEDB)."""
    import psycopg
    from psycopg import sql

    from unirouter.storage import postgres

    name = f"unirouter_bench_{secrets.token_hex(4)}"
    info = postgres.conninfo(url)
    with psycopg.connect(info, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield info.split("?")[0].rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(info, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def report(figures: Figures) -> str:
    f = figures
    return "\n".join([
        f"unirouter bench server ({f.clients} clients over loopback, {f.seconds:g} s per phase)",
        f"  durable intakes/s (SQLite WAL, synchronous=FULL)  {f.durable_intakes_per_s:10.0f}",
        f"  group commits/s in that phase                     {f.commits_per_s:10.0f}",
        f"  bare FastAPI endpoint, same client, requests/s    {f.bare_requests_per_s:10.0f}",
        f"  intake-to-offer on the agent's WebSocket at {f.rate_per_s:g} items/s "
        f"({f.offers_measured} offers): p50 {f.p50_ms:.1f} ms, p99 {f.p99_ms:.1f} ms",
        *_postgres_lines(f),
    ])  # fmt: skip


def _postgres_lines(f: Figures) -> list[str]:
    pg = f.postgres
    if pg is None:
        return []
    return [
        f"  durable intakes/s (PostgreSQL, synchronous_commit) {pg.durable_intakes_per_s:10.0f}",
        f"  group commits/s in that phase                      {pg.commits_per_s:10.0f}",
        f"  intake-to-offer on PostgreSQL at {f.rate_per_s:g} items/s ({pg.offers_measured} "
        f"offers): p50 {pg.p50_ms:.1f} ms, p99 {pg.p99_ms:.1f} ms",
    ]


def as_json(figures: Figures) -> dict[str, Any]:
    return asdict(figures)  # the PostgreSQL phases nest under "postgres" (null without --db)


class _BareIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: str
    workstream: str


async def _bare(body: _BareIntake) -> dict[str, str]:
    return {"id": body.external_id, "workstream": body.workstream, "state": "queued"}


def serve_bare() -> None:
    """The bare endpoint: FastAPI on uvicorn, one POST validating an intake-shaped body; prints
    its URL once listening."""
    app = FastAPI()
    app.post("/bare", status_code=201)(_bare)
    sock = listen_socket("127.0.0.1", 0)  # the server's own socket setup (TCP_NODELAY)
    sock.listen(2048)  # connections made once the URL is printed wait in the backlog
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(f"bare endpoint on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
