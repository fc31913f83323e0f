"""Durability under SIGKILL (SPEC §9): a real ``unirouter serve`` process, driven by concurrent
intake clients and by agents answering offers over their WebSocket, is killed with SIGKILL at
random (seeded) moments and restarted on the same SQLite file, several times.

After each restart the test reads the log straight from the SQLite file and folds its events
itself (never trusting the server's own replay), then proves:

* no acknowledged item is lost: every 2xx intake is in the log and served with the same id,
  and every acknowledged accept and close is in the log;
* no item is assigned twice, and no offer expired before its deadline;
* every agent's used capacity equals the fold of the log's holds and releases;
* every offer still open keeps the ``expires_at`` it was made with;
* every event pushed to an agent's WebSocket before the kill is in the log after the restart, at the
  cursor it was pushed with and equal to it (a push before the event is durable would fail this),
  and every offer a ``hello`` listed was made in the log.

Every other server runs with a small snapshot interval, so restarts restore snapshots (the test
asserts that some did, and that none was ignored) as well as replaying the whole log.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client as ws_client
from server_support import Server, _sha, start_server

SEED = 20240611
ROUNDS = 8
#: Log records between snapshots on every other server: a round writes a few hundred.
SMALL_SNAPSHOT_EVERY = 40
AGENTS = ("ana", "ben", "cy", "dee")
INTAKE_CLIENTS = 4
UNITS = 25  # four chats fill an agent's 100 units
TOKENS = {"admin": "crash-admin", "intake": "crash-intake"} | {a: f"crash-{a}" for a in AGENTS}

_TOKEN_LINES = "\n".join(
    f"    - {{name: {who}, role: {'agent' if who in AGENTS else who}, "
    f"{f'agent: {who}, ' if who in AGENTS else ''}sha256: {_sha(token)}}}"
    for who, token in TOKENS.items()
)
# Short offer timeouts so that offers expire while the server is down, and wrap-up releasing
# capacity on a timer, so restarts exercise both deadlines.
CONFIG = f"""
version: 1
workstreams:
  chat:
    kind: messaging
    mode: push
    capacity: {{units: {UNITS}}}
    offer: {{timeout_s: 4}}
    wrap_up: {{block: 0.5}}
    fallback_queue: chat_q
queues:
  chat_q: {{kind: messaging, members: [{", ".join(AGENTS)}]}}
agents:
{chr(10).join(f"  {a}: {{}}" for a in AGENTS)}
auth:
  tokens:
{_TOKEN_LINES}
"""


@dataclass
class Cluster:
    """The server of the moment; clients park at :meth:`gate` while it is down."""

    server: Server
    workers: int
    up: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    parked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_items: dict[str, str] = field(default_factory=dict)  # external_id -> item id
    acked_accepts: dict[str, str] = field(default_factory=dict)  # offer -> agent
    acked_closes: set[str] = field(default_factory=set)
    seen_offers: dict[str, float] = field(default_factory=dict)  # offer -> expires_at
    pushed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (cursor, event)
    hello_offers: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def gate(self) -> str | None:
        """The URL to use now, after waiting out a restart; None once the test is over."""
        if not self.up.is_set():
            with self.lock:
                self.parked += 1
            while not self.up.wait(0.05):
                if self.done.is_set():
                    break
            with self.lock:
                self.parked -= 1
        return None if self.done.is_set() else self.server.url

    def wait_parked(self) -> None:
        deadline = time.monotonic() + 20
        while self.parked < self.workers:
            assert time.monotonic() < deadline, f"only {self.parked} clients stopped"
            time.sleep(0.02)


def _client(token: str) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _intake_worker(cluster: Cluster, k: int, rng: random.Random) -> None:
    """Submit items with unique external ids; after a failure, retry the same id (idempotent)."""
    with _client(TOKENS["intake"]) as client:
        n = 0
        while (url := cluster.gate()) is not None:
            external_id = f"c{k}-{n}"
            with contextlib.suppress(httpx.TransportError):
                body = {"external_id": external_id, "workstream": "chat"}
                response = client.post(url + "/v1/work-items", json=body)
                if response.status_code not in (200, 201):
                    cluster.errors.append(f"intake {response.status_code} {response.text}")
                    return
                cluster.acked_items[external_id] = response.json()["id"]
                n += 1
            time.sleep(rng.uniform(0, 0.04))


def _agent_worker(cluster: Cluster, agent: str, rng: random.Random) -> None:
    """Answer offers pushed on the agent's own stream: accept most (then complete and close),
    decline some, leave some to expire."""
    token = TOKENS[agent]
    with _client(token) as client:
        while (url := cluster.gate()) is not None:
            with contextlib.suppress(OSError, websockets.exceptions.WebSocketException,
                                     httpx.TransportError, TimeoutError):  # fmt: skip
                ws_url = "ws" + url.removeprefix("http") + f"/v1/agents/{agent}/stream"
                headers = {"Authorization": f"Bearer {token}"}
                with ws_client.connect(
                    ws_url, additional_headers=headers, open_timeout=5, close_timeout=0.2
                ) as ws:
                    _serve_offers(cluster, agent, rng, ws, lambda path, **kw: client.post(
                        url + path, **kw))  # fmt: skip


def _serve_offers(
    cluster: Cluster,
    agent: str,
    rng: random.Random,
    ws: ws_client.ClientConnection,
    post: Callable[..., httpx.Response],
) -> None:
    hello = json.loads(ws.recv(timeout=5))
    pending = [(o["id"], o["item"], o["expires_at"]) for o in hello["agent"]["offers"]]
    cluster.hello_offers.update(offer for offer, _item, _expires in pending)
    closing: list[str] = list(hello["agent"]["active"])
    try:
        _answer_offers(cluster, agent, rng, ws, post, pending, closing)
        _record_until_closed(cluster, ws)
    finally:  # the kill failed a request or dropped the stream: keep what was pushed before it
        with contextlib.suppress(TimeoutError, websockets.exceptions.WebSocketException):
            while True:  # until the dropped connection's last buffered frame
                _receive(cluster, ws, 0.5)


def _receive(cluster: Cluster, ws: ws_client.ClientConnection, timeout: float) -> dict[str, Any]:
    """The next frame; an event frame is kept: after the restart it must be in the log."""
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    if frame.get("type") == "event":
        cluster.pushed.append((frame["cursor"], frame["event"]))
    return frame


def _answer_offers(
    cluster: Cluster,
    agent: str,
    rng: random.Random,
    ws: ws_client.ClientConnection,
    post: Callable[..., httpx.Response],
    pending: list[tuple[str, str, float]],
    closing: list[str],
) -> None:
    while cluster.up.is_set() and not cluster.done.is_set():
        for offer, item, expires_at in pending:
            cluster.seen_offers[offer] = expires_at
            _answer(cluster, agent, rng, post, offer, item, closing)
        pending = []
        if closing and rng.random() < 0.5:
            item = closing.pop(0)
            if post(f"/v1/work-items/{item}/complete").status_code == 200:
                closed = post(f"/v1/work-items/{item}/close")
                if closed.status_code == 200:
                    cluster.acked_closes.add(item)
        with contextlib.suppress(TimeoutError):
            event = _receive(cluster, ws, 0.1).get("event", {})
            if event.get("type") == "offer_made":
                pending.append((event["offer"], event["item"], event["expires_at"]))


def _record_until_closed(cluster: Cluster, ws: ws_client.ClientConnection) -> None:
    """Once the kill is coming, answer nothing more but keep every event pushed until the kill
    drops the connection: the last pushes before a crash are the ones a push made before its event
    was durable would lose."""
    while not cluster.done.is_set():
        with contextlib.suppress(TimeoutError):
            _receive(cluster, ws, 0.1)


def _answer(
    cluster: Cluster,
    agent: str,
    rng: random.Random,
    post: Callable[..., httpx.Response],
    offer: str,
    item: str,
    closing: list[str],
) -> None:
    draw = rng.random()
    if draw < 0.7:
        if post(f"/v1/offers/{offer}/accept").status_code == 200:
            cluster.acked_accepts[offer] = agent
            closing.append(item)
    elif draw < 0.85:
        post(f"/v1/offers/{offer}/decline", json={"reason": "busy"})
    # else: left to expire


# -- the log, folded independently ----------------------------------------------------------------


@dataclass
class Fold:
    """What the log's events say, computed here from the raw records."""

    created: dict[str, str] = field(default_factory=dict)  # external_id -> item id
    assigned: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, str] = field(default_factory=dict)  # offer -> agent
    closed: set[str] = field(default_factory=set)
    holds: dict[str, str] = field(default_factory=dict)  # item -> agent holding its capacity
    open_offers: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    early_expiries: list[str] = field(default_factory=list)
    made: set[str] = field(default_factory=set)
    by_cursor: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: int = 0

    def used(self) -> dict[str, int]:
        used = dict.fromkeys(AGENTS, 0)
        for agent in self.holds.values():
            used[agent] += UNITS
        return used


def fold_log(db: Path, upto: int) -> Fold:
    """The log's events up to cursor ``upto``. Capacity is held from the offer (R22) or the
    assignment until an offer ends unanswered, a release is recorded, or the item closes."""
    fold = Fold()
    query = "SELECT cursor, body FROM records WHERE kind = 'event' AND cursor <= ? ORDER BY cursor"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        rows = connection.execute(query, (upto,))
        for cursor, body in rows:
            event = fold.by_cursor[cursor] = json.loads(body)
            _fold_event(fold, event)
    return fold


def _fold_event(fold: Fold, e: dict[str, Any]) -> None:
    fold.events += 1
    kind, item = e["type"], e.get("item")
    if kind == "item_created":
        fold.created[e["external_id"]] = item
    elif kind == "offer_made":
        fold.made.add(e["offer"])
        fold.holds[item] = e["agent"]
        fold.open_offers[e["offer"]] = (item, e["agent"], e["expires_at"])
    elif kind in ("offer_accepted", "offer_declined", "offer_expired", "offer_withdrawn"):
        _item, _agent, expires_at = fold.open_offers.pop(e["offer"])
        if kind == "offer_accepted":
            fold.accepted[e["offer"]] = e["agent"]
        else:
            fold.holds.pop(item, None)
        if kind == "offer_expired" and e["t"] < expires_at:
            fold.early_expiries.append(e["offer"])
    elif kind == "item_assigned":
        fold.assigned[item] += 1
        fold.holds[item] = e["agent"]
    elif kind == "capacity_released":
        fold.holds.pop(item, None)
    elif kind == "item_closed":
        fold.holds.pop(item, None)
        fold.closed.add(item)


def _served_items(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({} if cursor is None else {"cursor": cursor})
        page = admin.get("/v1/work-items", params=params).json()
        items.update((i["id"], i) for i in page["items"])
        if (cursor := page["next_cursor"]) is None:
            return items


def _served_state(server: Server) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Agents and items as served, with the log cursor they show: timers keep firing after a
    restart, so read until the durable cursor is the same before and after the reads (every
    read waits for every command before it to be durable)."""
    with server.client(TOKENS["admin"]) as admin:
        for _ in range(50):
            before = admin.get("/readyz").json()["cursor"]
            agents = admin.get("/v1/agents").json()
            items = _served_items(admin)
            if admin.get("/readyz").json()["cursor"] == before:
                return agents, items, before
    raise AssertionError("the log kept moving while the state was read")


def check_restart(cluster: Cluster, tally: Counter[str]) -> None:
    """Everything acknowledged before the kill is in the log and in the restarted server."""
    server = cluster.server
    agents, served, cursor = _served_state(server)
    fold = fold_log(server.db, cursor)
    for external_id, item_id in cluster.acked_items.items():
        found = fold.created.get(external_id)
        assert found == item_id, f"acknowledged item {external_id} ({item_id}) not in the log"
        assert served[item_id]["external_id"] == external_id
    assert not [i for i, n in fold.assigned.items() if n > 1], "an item was assigned twice"
    for offer, agent in cluster.acked_accepts.items():
        assert fold.accepted.get(offer) == agent, f"acknowledged accept of {offer} lost"
    assert cluster.acked_closes <= fold.closed, "an acknowledged close was lost"
    assert not fold.early_expiries, f"offers expired before their deadline: {fold.early_expiries}"
    assert {a["id"]: a["used_units"] for a in agents} == fold.used()
    served_offers = {o["id"]: (o["item"], a["id"], o["expires_at"]) for a in agents
                     for o in a["offers"]}  # fmt: skip
    assert served_offers == fold.open_offers
    for offer, (_item, _agent, expires_at) in served_offers.items():
        if offer in cluster.seen_offers:
            assert cluster.seen_offers[offer] == expires_at
            tally["open offers kept"] += 1
    not_logged = [(c, e) for c, e in cluster.pushed if fold.by_cursor.get(c) != e]
    assert not not_logged, f"pushed on a WebSocket, not in the log after restart: {not_logged[:3]}"
    assert cluster.hello_offers <= fold.made, "a hello listed an offer the log never made"
    tally["pushed events checked"] = len(cluster.pushed)
    tally["acked intakes"] = len(cluster.acked_items)
    tally["items checked"] += len(cluster.acked_items)
    tally["acked accepts"] = len(cluster.acked_accepts)
    tally["acked closes"] = len(cluster.acked_closes)
    tally["log events"] = fold.events


@contextlib.contextmanager
def _workers(cluster: Cluster, rng: random.Random) -> Iterator[None]:
    threads = [threading.Thread(target=_intake_worker, args=(cluster, k, random.Random(rng.random())))
               for k in range(INTAKE_CLIENTS)]  # fmt: skip
    threads += [threading.Thread(target=_agent_worker, args=(cluster, a, random.Random(rng.random())))
                for a in AGENTS]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        cluster.done.set()
        for thread in threads:
            thread.join(timeout=20)


def test_sigkill_at_random_moments_loses_nothing_acknowledged(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """SPEC §9: after SIGKILL and restart, no acknowledged item lost, no item assigned twice,
    capacity equal to a replay of the log, open offers keep their deadlines."""
    rng = random.Random(SEED)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    db = tmp_path / "crash.db"
    cluster = Cluster(server=start_server(db, config), workers=INTAKE_CLIENTS + len(AGENTS))
    servers = [cluster.server]
    tally: Counter[str] = Counter()
    cluster.up.set()
    try:
        with _workers(cluster, rng):
            for round_ in range(ROUNDS):
                time.sleep(rng.uniform(0.8, 2.5))
                cluster.up.clear()
                cluster.server.stop(signal.SIGKILL)
                tally["kills"] += 1
                cluster.wait_parked()
                small = ("--snapshot-every", str(SMALL_SNAPSHOT_EVERY)) if round_ % 2 == 0 else ()
                cluster.server = start_server(db, None, *small)
                servers.append(cluster.server)
                check_restart(cluster, tally)
                assert not cluster.errors, cluster.errors
                cluster.up.set()
    finally:
        cluster.server.stop()
    assert tally["acked accepts"] > 0 and tally["acked closes"] > 0
    assert tally["pushed events checked"] > 0
    said = "".join(line for server in servers for line in server.stderr)
    tally["snapshot restores"] = said.count("restored the snapshot")
    assert tally["snapshot restores"] > 0, said
    assert "ignored the snapshot" not in said, said
    summary = ", ".join(f"{key}: {value}" for key, value in tally.items())
    record_property("crash_tally", summary)
    print(f"\ncrash tally: {summary}")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and not t.daemon]  # fmt: skip
    assert not leftover, leftover
