"""Issue 17 item 8: duplicate intakes stay duplicates after their item left memory, scalars are
strictly typed, ``units`` is bounded, every 400 names its field, and the event stream sends each
event as the log holds it (formatted once, however many readers)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
import yaml
from server_support import CONFIG, TOKENS, Server, available, log_cursor, start_server

from unirouter import config as configuration
from unirouter.server import commands, replay
from unirouter.storage import Record, RecordKind, SqliteStore


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("strict")
    (folder / "config.yaml").write_text(CONFIG)
    started = start_server(folder / "u.db", folder / "config.yaml")
    yield started
    started.stop()


def _intake(client: httpx.Client, external_id: str, **fields: Any) -> httpx.Response:
    return client.post("/v1/work-items",
                       json={"external_id": external_id, "workstream": "email", **fields})  # fmt: skip


def _close(client: httpx.Client, external_id: str) -> str:
    created = _intake(client, external_id)
    assert created.status_code == 201, created.text
    item: str = created.json()["id"]
    assert client.post(f"/v1/work-items/{item}/cancel").status_code == 200
    return item


def test_a_repeat_intake_stays_a_repeat_after_its_item_left_memory(tmp_path: Path) -> None:
    """Issue 17 item 8, SPEC §6.3: with two closed items kept in memory, the first of three
    closed items is gone from memory, yet a repeat of its external_id creates nothing (409
    naming external_id and the item), also after a restart: the intake keys are durable and
    indexed in the store, written in the same append as the item."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    server = start_server(tmp_path / "u.db", config, "--retain-closed", "2")
    try:
        client = server.client("intake")
        first = _close(client, "dup-1")
        _close(client, "dup-2")
        _close(client, "dup-3")
        assert server.client("admin").get(f"/v1/work-items/{first}").status_code == 404
        before = log_cursor(server)
        again = _intake(client, "dup-1")
        assert again.status_code == 409, again.text
        assert again.json()["field"] == "external_id" and again.json()["item"] == first
        assert log_cursor(server) == before
        assert _intake(client, "dup-3").status_code == 200  # still in memory: the same item
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "u.db") as connection:
        keys = dict(connection.execute(
            "SELECT key, value FROM idempotency_keys WHERE scope = 'intake:email'").fetchall())  # fmt: skip
    assert keys["dup-1"] == first and set(keys) >= {"dup-1", "dup-2", "dup-3"}
    restarted = start_server(tmp_path / "u.db", None, "--retain-closed", "2")
    try:
        again = _intake(restarted.client("intake"), "dup-1")
        assert again.status_code == 409 and again.json()["item"] == first
    finally:
        restarted.stop()


def test_a_log_from_before_intake_keys_gets_them_at_its_first_start(tmp_path: Path) -> None:
    """Issue 17 item 8: a log whose items were written without intake keys (as before) gets the
    key of each of its items while the first restart replays it, so a repeat of an item the
    engine no longer holds is still refused."""
    t = time.time()
    config = commands.config_json(configuration.validate(yaml.safe_load(CONFIG)))
    engine, clock = replay.new_engine(config, t, None, await_connections=True)
    records = [Record(kind=RecordKind.COMMAND, body=json.dumps({"op": "init", "t": t, "args": {
        "config": config, "await_connections": True}}))]  # fmt: skip
    records += [_event(e) for e in engine.drain_events()]
    steps: list[tuple[str, dict[str, Any]]] = []
    for n in range(3):
        steps += [("submit", {"item_id": f"01OLD{n}", "external_id": f"old-{n}", "workstream": "email"}),
                  ("cancel", {"item": f"01OLD{n}", "reason": "cancelled"})]  # fmt: skip
    for op, args in steps:
        t += 1
        clock.set(t)
        commands.run(engine, op, args)
        records += [
            Record(kind=RecordKind.COMMAND, body=json.dumps({"op": op, "t": t, "args": args}))
        ]
        records += [_event(e) for e in engine.drain_events()]
    store = SqliteStore(tmp_path / "u.db")
    store.append(records)
    store.close()
    server = start_server(tmp_path / "u.db", None, "--retain-closed", "2")
    try:
        assert server.client("admin").get("/v1/work-items/01OLD0").status_code == 404
        again = _intake(server.client("intake"), "old-0")
        assert again.status_code == 409 and again.json()["item"] == "01OLD0", again.text
    finally:
        server.stop()


def _event(event: Any) -> Record:
    return Record(kind=RecordKind.EVENT, body=replay.encode_event(event))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"priority": True}, "priority"),
        ({"priority": "5"}, "priority"),
        ({"priority": 5.0}, "priority"),
        ({"units": True}, "units"),
        ({"units": 1_000_001}, "units"),
        ({"skills": [{"name": "french", "level": True}]}, "skills[0].level"),
        ({"skills": [{"name": "french", "optional": 1}]}, "skills[0].optional"),
        ({"ttl_s": True}, "ttl_s"),
        ({"due_at": False}, "due_at"),
    ],
)
def test_intake_scalars_are_strictly_typed_and_units_bounded(
    shared: Server, fields: dict[str, Any], field: str
) -> None:
    """Issue 17 item 8, SPEC §10: ``true`` is not the priority 1, ``"5"`` not the number 5, and
    ``units`` is at most 1,000,000; each is a 422 naming the field and changes nothing."""
    before = log_cursor(shared)
    refused = _intake(shared.client("intake"), "strict-1", **fields)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"].startswith(field), refused.json()
    assert log_cursor(shared) == before


def test_a_boolean_field_is_not_given_as_a_number(shared: Server) -> None:
    """Issue 17 item 8: ``{"wrap_up": 0}`` is a 422 naming ``wrap_up``, not ``false``."""
    item = _intake(shared.client("intake"), "strict-bool").json()["id"]
    refused = shared.client("admin").post(f"/v1/work-items/{item}/complete", json={"wrap_up": 0})
    assert refused.status_code == 422 and refused.json()["field"] == "wrap_up"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"external_id": "d", "workstream": "chat", "priority": ' + b"9" * 5000 + b"}",
        b'{"external_id": "d", "workstream": "chat", "attributes": '
        + b'{"a": ' * 70
        + b"1"
        + b"}" * 70
        + b"}",
    ],
    ids=["malformed", "nested-100000", "digits-5000", "nested-70"],
)
def test_every_400_names_its_field(shared: Server, body: bytes) -> None:
    """Issue 17 item 8, SPEC §10: a body the server cannot read is a 4xx naming ``body`` (or the
    field nested too deep), never a 500, and changes nothing."""
    before = log_cursor(shared)
    response = shared.client("intake").post(
        "/v1/work-items", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["field"].split(".")[0] in ("body", "attributes"), response.json()
    assert log_cursor(shared) == before


def test_the_event_stream_sends_each_event_as_the_log_holds_it(server: Server) -> None:
    """Issue 17 item 8: SSE data and WebSocket event frames are the log's own bytes (encoded once
    when the event was written, not again for each of the readers)."""
    available(server, "alice")
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    with ws_client.connect(f"{server.ws_url}/v1/agents/alice/stream",
                           additional_headers=headers, open_timeout=10) as conn:  # fmt: skip
        json.loads(conn.recv(timeout=10))
        server.client("intake").post("/v1/work-items",
                                     json={"external_id": "fmt-1", "workstream": "chat"})  # fmt: skip
        while True:
            raw = conn.recv(timeout=10)
            frame = json.loads(raw)
            if frame["type"] == "event" and frame["event"]["type"] == "offer_made":
                break
    with server.client("supervisor").stream("GET", "/v1/events?follow=false") as stream:
        lines = list(stream.iter_lines())
    with sqlite3.connect(server.db) as connection:
        logged = dict(connection.execute("SELECT cursor, body FROM records WHERE kind = 'event'"))
    assert json.dumps(frame["event"], separators=(",", ":")).encode() == logged[frame["cursor"]]
    assert f'"event":{logged[frame["cursor"]].decode()}' in str(raw)
    cursors = [int(line[4:]) for line in lines if line.startswith("id: ")]
    data = [line[6:].encode() for line in lines if line.startswith("data: ")]
    assert cursors and all(logged[c] == d for c, d in zip(cursors, data, strict=True))
