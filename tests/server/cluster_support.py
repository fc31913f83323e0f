"""Several real ``unirouter serve`` processes on one PostgreSQL database, and a client that acts
like a load balancer in front of them: any server, the next one on a refused connection or a 503."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from server_support import Server, start_server

__all__ = [
    "Balancer",
    "leader_of",
    "log_rows",
    "start_member",
    "start_members",
    "terms",
    "wait_for_leader",
]


def start_member(db: str, config: Path | None, *extra: str) -> Server:
    """One server of the deployment: a short lease (a paused leader is replaced soon) and a short
    failover grace (agents that do not come back are offline soon)."""
    return start_server(
        db, config, "--lease-s", "3", "--failover-grace-s", "2", "--snapshot-every", "2000", *extra
    )  # type: ignore[arg-type]


def start_members(db: str, count: int) -> list[Server]:
    """``count`` more servers of a deployment whose log exists, started at the same time."""
    started: list[Server] = []
    threads = [threading.Thread(target=lambda: started.append(start_member(db, None)))
               for _ in range(count)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(started) == count, "a server did not start"
    return started


def readyz(server: Server) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = httpx.get(server.url + "/readyz", timeout=1).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body


def leader_of(servers: list[Server]) -> tuple[Server, int] | None:
    """The server whose /readyz says it leads, with its term."""
    for server in servers:
        body = readyz(server)
        if body is not None and body.get("role") == "leader":
            return server, int(body["term"])
    return None


def wait_for_leader(servers: list[Server], after_term: int = 0, timeout_s: float = 20) -> Server:
    """Poll until one of ``servers`` leads with a term above ``after_term``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = leader_of(servers)
        if found is not None and found[1] > after_term:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no leader above term {after_term} within {timeout_s} s")


@dataclass
class Balancer:
    """Sends each request to a live server, moving to the next one while they refuse or 503."""

    urls: list[str]
    token: str
    patience_s: float = 15.0
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self) -> str:
        with self._lock:
            self._next += 1
            return self.urls[self._next % len(self.urls)]

    def replace(self, old: str, new: str) -> None:
        """A server restarted on another port: send its share of requests to ``new``."""
        with self._lock:
            self.urls[self.urls.index(old)] = new

    def request(self, client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
        deadline = time.monotonic() + self.patience_s
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            try:
                answer = client.request(method, self.pick() + path, headers=headers, **kw)
                if answer.status_code != 503:
                    return answer
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no server answered for {self.patience_s} s")
            time.sleep(0.02)


def log_rows(url: str, upto: int | None = None) -> list[tuple[int, str, dict[str, Any], int]]:
    """(cursor, kind, body, term) of every record, read straight from the database."""
    query = "SELECT cursor, kind, body, term FROM records ORDER BY cursor"
    with psycopg.connect(url) as connection:
        rows = connection.execute(query).fetchall()
    return [(c, k, json.loads(bytes(b)), t) for c, k, b, t in rows if upto is None or c <= upto]


def terms(url: str) -> dict[int, int]:
    """Each elected term and the last cursor the log held when it was won."""
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT term, after_cursor FROM leader_terms").fetchall()
    return {int(t): int(a) for t, a in rows}
