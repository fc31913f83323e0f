"""``unirouter bench server``: durable intakes per second and intake-to-offer latency (issue 4).

Everything goes over loopback to real processes: a ``unirouter serve`` subprocess on a fresh SQLite
file (WAL, ``synchronous=FULL``: every 201 is durable), and beside it, in the same run, a bare
endpoint of the same framework (FastAPI on uvicorn, one POST route validating the same body and
answering 201, no engine, no log) so the figures can be read against what the framework and the
client alone reach on this machine.

* **Throughput**: ``clients`` concurrent HTTP/1.1 keep-alive clients post intakes as fast as the
  server answers, for ``seconds``; durable intakes per second = 201s / elapsed.
* **Latency**: agents hold their ``WS /v1/agents/{id}/stream`` open while intakes arrive at a fixed
  ``rate`` (open loop); latency = the moment the agent's socket delivers the ``offer_made`` minus
  the moment the intake was sent, p50 and p99.

The client runs in this process (one asyncio loop, httpx and websockets), so on a small machine it
shares the cores with the server: the bare endpoint's figure shows that ceiling. Figures only, never
a pass or fail (STYLE: benchmarks are not tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from websockets.asyncio.client import connect as ws_connect

__all__ = ["Figures", "as_json", "report", "run", "serve_bare"]

AGENTS = 8
_CLI = [sys.executable, "-c", "from unirouter.cli import main; main()"]
_BARE = [sys.executable, "-c", "from unirouter.bench_server import serve_bare; serve_bare()"]
_INTAKE, _AGENT = "bench-intake-token", "bench-agent-token-{}"


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _config() -> str:
    """One push workstream; agents with room for every offer the run makes (no answers needed)."""
    agents = "\n".join(f"  a{n}: {{capacity_units: 10000000}}" for n in range(AGENTS))
    tokens = "\n".join(
        f"    - {{name: a{n}, role: agent, agent: a{n}, sha256: {_sha(_AGENT.format(n))}}}"
        for n in range(AGENTS)
    )
    members = ", ".join(f"a{n}" for n in range(AGENTS))
    return f"""version: 1
workstreams:
  chat: {{kind: messaging, mode: push, capacity: {{units: 1}}, offer: {{timeout_s: 86400}},
          fallback_queue: chat_q}}
queues:
  chat_q: {{kind: messaging, members: [{members}]}}
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


async def _hammer(url: str, path: str, clients: int, seconds: float, tag: str) -> float:
    """Requests answered 201 per second by ``clients`` closed-loop clients."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {_INTAKE}"}
    done = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        end = time.perf_counter() + seconds

        async def one(k: int) -> None:
            nonlocal done
            n = 0
            while time.perf_counter() < end:
                body = {"external_id": f"{tag}-{k}-{n}", "workstream": "chat"}
                n += 1
                if (await client.post(path, json=body)).status_code == 201:
                    done += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(clients)))
        return done / (time.perf_counter() - started)


async def _latency(url: str, rate: float, seconds: float) -> list[float]:
    """Seconds from sending an intake to its offer arriving on the agent's socket."""
    sent: dict[str, float] = {}
    offered: dict[str, float] = {}
    ws_base = "ws" + url.removeprefix("http")

    async def agent(n: int) -> None:
        headers = {"Authorization": f"Bearer {_AGENT.format(n)}"}
        async with ws_connect(f"{ws_base}/v1/agents/a{n}/stream", additional_headers=headers,
                              max_queue=None) as ws:  # fmt: skip
            async for raw in ws:
                event = json.loads(raw).get("event") or {}
                if event.get("type") == "offer_made":
                    offered.setdefault(event["item"], time.perf_counter())

    listeners = [asyncio.create_task(agent(n)) for n in range(AGENTS)]
    await asyncio.sleep(0.5)
    headers = {"Authorization": f"Bearer {_INTAKE}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def intake(n: int) -> None:
            at = time.perf_counter()
            body = {"external_id": f"lat-{n}", "workstream": "chat"}
            response = await client.post("/v1/work-items", json=body)
            if response.status_code == 201:
                sent[response.json()["id"]] = at

        start = time.perf_counter()
        tasks = []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(intake(n)))
        await asyncio.gather(*tasks)
    await asyncio.sleep(0.5)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return [offered[i] - at for i, at in sent.items() if i in offered]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run(*, clients: int = 32, seconds: float = 5.0, rate: float = 200.0) -> Figures:
    """Start the server and the bare endpoint, measure both in one run."""
    with tempfile.TemporaryDirectory(prefix="unirouter-bench-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(_config())
        db = str(Path(folder) / "bench.db")
        server, url = _start([*_CLI, "serve", "--db", db, "--port", "0", "--config", str(config)])
        try:
            durable = asyncio.run(_hammer(url, "/v1/work-items", clients, seconds, "tp"))
            latencies = asyncio.run(_latency(url, rate, seconds))
        finally:
            _stop(server)
    bare_process, bare_url = _start(_BARE)
    try:
        bare = asyncio.run(_hammer(bare_url, "/bare", clients, seconds, "bare"))
    finally:
        _stop(bare_process)
    return Figures(clients=clients, seconds=seconds, durable_intakes_per_s=durable,
                   bare_requests_per_s=bare, rate_per_s=rate, offers_measured=len(latencies),
                   p50_ms=1000 * _quantile(latencies, 0.5),
                   p99_ms=1000 * _quantile(latencies, 0.99))  # fmt: skip


def report(figures: Figures) -> str:
    f = figures
    return "\n".join([
        f"unirouter bench server ({f.clients} clients over loopback, {f.seconds:g} s per phase)",
        f"  durable intakes/s (SQLite WAL, synchronous=FULL)  {f.durable_intakes_per_s:10.0f}",
        f"  bare FastAPI endpoint, same client, requests/s    {f.bare_requests_per_s:10.0f}",
        f"  intake-to-offer on the agent's WebSocket at {f.rate_per_s:g} items/s "
        f"({f.offers_measured} offers): p50 {f.p50_ms:.1f} ms, p99 {f.p99_ms:.1f} ms",
    ])  # fmt: skip


def as_json(figures: Figures) -> dict[str, Any]:
    return asdict(figures)


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
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(f"bare endpoint on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
