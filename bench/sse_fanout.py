"""`make bench`: intake latency with many event-stream readers (issue 17 item 8; figures only).

A ``unirouter serve`` subprocess on a fresh SQLite file; ``--readers`` clients follow
``GET /v1/events`` over raw loopback sockets (reading and dropping what arrives), and one client
makes ``--intakes`` durable intakes one after the other. Prints intake p50 and p90 with no reader
and with the readers. Each event is formatted once for all readers (the log's own bytes), so the
readers should cost little beyond the sockets themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from unirouter.server import auth, spawn

SUPERVISOR, INTAKE = "bench-supervisor-token", "bench-intake-token"


CONFIG = f"""version: 1
workstreams:
  chat: {{kind: messaging, mode: push, capacity: {{units: 1}}, fallback_queue: chat_q}}
queues:
  chat_q: {{kind: messaging, members: [a0]}}
agents:
  a0: {{capacity_units: 1000000}}
auth:
  tokens:
    - {{name: supervisor, role: supervisor, sha256: {auth.digest(SUPERVISOR)}}}
    - {{name: intake, role: intake, sha256: {auth.digest(INTAKE)}}}
"""


async def _reader(host: str, port: int, after: int, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /v1/events?after={after} HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: Bearer {SUPERVISOR}\r\n\r\n".encode())  # fmt: skip
    try:
        while not stop.is_set():
            if not await reader.read(65536):
                return
    finally:
        writer.close()


def _readers(url: str, after: int, count: int) -> None:
    """``count`` readers in a process of their own, so their reading is not the measuring client's
    work (the machine's cores are still shared)."""
    host, port = url.removeprefix("http://").split(":")

    async def all_of_them() -> None:
        stop = asyncio.Event()
        await asyncio.gather(*(_reader(host, int(port), after, stop) for _ in range(count)))

    asyncio.run(all_of_them())


async def _intakes(url: str, intakes: int, tag: str) -> list[float]:
    headers = {"Authorization": f"Bearer {INTAKE}"}
    latencies = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        for n in range(intakes):
            started = time.perf_counter()
            response = await client.post("/v1/work-items",
                                         json={"external_id": f"{tag}-{n}", "workstream": "chat"})  # fmt: skip
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _phase(url: str, readers: int, intakes: int, tag: str) -> list[float]:
    after = httpx.get(url + "/readyz").json()["cursor"]  # live readers: no backlog to send
    process = multiprocessing.Process(target=_readers, args=(url, after, readers), daemon=True)
    if readers:
        process.start()
        time.sleep(2.0 + readers / 100)  # every reader connected and subscribed
    try:
        return asyncio.run(_intakes(url, intakes, tag))
    finally:
        if readers:
            process.terminate()
            process.join()


def _figures(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p90_ms": round(ordered[int(len(ordered) * 0.9)], 2)}  # fmt: skip


def run(readers: int, intakes: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(CONFIG)
        served = spawn.serve("--db", str(Path(folder) / "u.db"), "--config", str(config),
                             keep_stderr=False)  # fmt: skip
        url = served.url
        try:
            alone = _phase(url, 0, intakes, "alone")
            crowded = _phase(url, readers, intakes, "crowded")
        finally:
            served.stop()
    return {"no_reader": _figures(alone), f"{readers}_readers": _figures(crowded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--intakes", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    figures = run(options.readers, options.intakes)
    if options.json:
        print(json.dumps(figures))
        return
    for phase, values in figures.items():
        print(f"intake with {phase.replace('_', ' ')}: p50 {values['p50_ms']} ms, "
              f"p90 {values['p90_ms']} ms")  # fmt: skip


if __name__ == "__main__":
    main()
