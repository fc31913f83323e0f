"""Issue 17 items 1 and 3: text that is not valid Unicode (a lone surrogate such as ``\\ud800``) and
non-finite numbers (``NaN``, ``Infinity``) are refused at every edge with a field-named 422 and
change nothing (SPEC §10); what an older build stored anyway is still answered, as strict JSON."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
import yaml
from server_support import CONFIG, TOKENS, Server, available, log_cursor, run_cli, start_server

from unirouter.channels import signing
from unirouter.server import commands, replay
from unirouter.storage import Record, RecordKind, SqliteStore

SURROGATE = "\\ud800"  # as JSON text: the escape json.loads turns into a lone surrogate


def strict(text: str | bytes) -> Any:
    """Parse ``text`` as strict JSON: no NaN or Infinity, and text that UTF-8 can hold."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    value = json.loads(text, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate
    return value


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("wellformed")
    (folder / "config.yaml").write_text(CONFIG)
    started = start_server(folder / "u.db", folder / "config.yaml")
    yield started
    started.stop()


def _raw(client: httpx.Client, method: str, path: str, text: str) -> httpx.Response:
    return client.request(method, path, content=text.encode(),
                          headers={"content-type": "application/json"})  # fmt: skip


def _intake(fields: str, external_id: str = '"bad-1"') -> str:
    return f'{{"external_id": {external_id}, "workstream": "chat"{fields}}}'


def _assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    problem = strict(response.content)
    assert problem["field"] == field, problem
    assert problem["errors"][0]["field"] == field


INTAKE_SURROGATES = [
    (_intake("", f'"x{SURROGATE}"'), "external_id"),
    (_intake(f', "attributes": {{"note": "a{SURROGATE}b"}}'), "attributes.note"),
    (_intake(f', "attributes": {{"k{SURROGATE}": 1}}'), "attributes.k\ufffd"),
    (_intake(f', "attributes": {{"list": ["ok", "{SURROGATE}"]}}'), "attributes.list[1]"),
    (_intake(f', "customer": {{"name": "{SURROGATE}"}}'), "customer.name"),
    (_intake(f', "channel": "{SURROGATE}"'), "channel"),
    (_intake(f', "skills": [{{"name": "{SURROGATE}"}}]'), "skills[0].name"),
]


@pytest.mark.parametrize(("body", "field"), INTAKE_SURROGATES)
def test_a_lone_surrogate_in_an_intake_is_refused_naming_the_field_and_changes_nothing(
    shared: Server, body: str, field: str
) -> None:
    """Issue 17 item 1, SPEC §10: refused with 422 naming the field; no item, no log record."""
    before = log_cursor(shared)
    _assert_refused(_raw(shared.client("intake"), "POST", "/v1/work-items", body), field)
    assert log_cursor(shared) == before
    listed = shared.client("admin").get("/v1/work-items")
    assert listed.status_code == 200 and "bad-1" not in listed.text
    strict(listed.content)


INTAKE_NUMBERS = [
    (_intake(', "available_at": NaN'), "available_at"),
    (_intake(', "due_at": Infinity'), "due_at"),
    (_intake(', "callback_at": -Infinity'), "callback_at"),
    (_intake(', "ttl_s": Infinity'), "ttl_s"),
    (_intake(', "attributes": {"score": NaN}'), "attributes.score"),
    (_intake(', "attributes": {"nested": {"deep": [1, Infinity]}}'), "attributes.nested.deep[1]"),
    (_intake(', "customer": {"value": -Infinity}'), "customer.value"),
]


@pytest.mark.parametrize(("body", "field"), INTAKE_NUMBERS)
def test_a_non_finite_number_in_an_intake_is_refused_naming_the_field_and_changes_nothing(
    shared: Server, body: str, field: str
) -> None:
    """Issue 17 item 3, SPEC §10: NaN and ±Infinity are refused with 422 naming the field."""
    before = log_cursor(shared)
    _assert_refused(_raw(shared.client("intake"), "POST", "/v1/work-items", body), field)
    assert log_cursor(shared) == before


def test_changes_messages_and_decline_reasons_refuse_bad_text_and_numbers(shared: Server) -> None:
    """Issue 17 items 1 and 3: every JSON body is checked, not only the intake."""
    intake = shared.client("intake")
    item = intake.post("/v1/work-items", json={"external_id": "wf-ok", "workstream": "chat"})
    assert item.status_code == 201
    item_id = item.json()["id"]
    before = log_cursor(shared)
    patch = _raw(intake, "PATCH", f"/v1/work-items/{item_id}", '{"attributes": {"x": NaN}}')
    _assert_refused(patch, "attributes.x")
    patch = _raw(intake, "PATCH", f"/v1/work-items/{item_id}", f'{{"attributes": {{"x": "{SURROGATE}"}}}}')  # fmt: skip
    _assert_refused(patch, "attributes.x")
    admin = shared.client("admin")
    message = _raw(admin, "POST", f"/v1/work-items/{item_id}/messages", f'{{"text": "hi {SURROGATE}"}}')  # fmt: skip
    _assert_refused(message, "text")
    presence = _raw(admin, "PUT", "/v1/agents/alice/presence", f'{{"presence": "away", "label": "{SURROGATE}"}}')  # fmt: skip
    _assert_refused(presence, "label")
    assert log_cursor(shared) == before
    assert admin.get(f"/v1/work-items/{item_id}/messages").status_code == 200
    assert admin.get("/v1/agents/alice").status_code == 200


def test_query_and_path_parameters_cannot_carry_a_lone_surrogate(shared: Server) -> None:
    """Issue 17 item 1: undecodable bytes in the URL (the UTF-8 form of a surrogate) are read as
    U+FFFD, so a query or path parameter never reaches the engine as a lone surrogate."""
    admin = shared.client("admin")
    listed = admin.get("/v1/work-items?queue=%ED%A0%80&agent=%ED%B0%80")
    assert listed.status_code == 200 and strict(listed.content)["items"] == []
    missing = admin.get("/v1/work-items/%ED%A0%80")
    assert missing.status_code == 404
    strict(missing.content)


def _config_with(fragment: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load(CONFIG)
    data["agents"]["alice"]["attributes"] = fragment
    return data


def test_a_configuration_with_bad_text_or_numbers_is_refused_naming_the_field(
    shared: Server,
) -> None:
    """Issue 17 items 1 and 3, R41: in a JSON or a YAML body; nothing is applied."""
    admin = shared.client("admin")
    version = admin.get("/v1/config").json()["version"]
    text = json.dumps(_config_with({"group": "placeholder"})).replace("placeholder", SURROGATE)
    _assert_refused(_raw(admin, "PUT", "/v1/config", text), "agents.alice.attributes.group")
    number = json.dumps(_config_with({"weight": math.inf}))
    _assert_refused(_raw(admin, "PUT", "/v1/config", number), "agents.alice.attributes.weight")
    as_yaml = CONFIG.replace("alice: {skills: {french: 5}", 'alice: {attributes: {n: "\\ud800"}, skills: {french: 5}')  # fmt: skip
    refused = admin.put("/v1/config", content=as_yaml.encode(),
                        headers={"content-type": "application/yaml"})  # fmt: skip
    _assert_refused(refused, "agents.alice.attributes.n")
    nan_yaml = CONFIG.replace("alice: {skills: {french: 5}", "alice: {attributes: {n: .nan}, skills: {french: 5}")  # fmt: skip
    refused = admin.put("/v1/config", content=nan_yaml.encode(),
                        headers={"content-type": "application/yaml"})  # fmt: skip
    _assert_refused(refused, "agents.alice.attributes.n")
    assert admin.get("/v1/config").json()["version"] == version


def test_a_configuration_file_with_a_lone_surrogate_is_an_error_naming_the_field(
    tmp_path: Path,
) -> None:
    """Issue 17 item 1: ``unirouter config validate`` names the field; no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("alice: {skills: {french: 5}", 'alice: {name: "\\ud800", skills: {french: 5}'))  # fmt: skip
    done = run_cli("config", "validate", str(path))
    assert done.returncode != 0
    assert "agents.alice.name" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_webhook_message_with_a_lone_surrogate_is_refused(tmp_path: Path) -> None:
    """Issue 17 item 1: channel traffic is checked at the edge like any JSON body."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG + MESSAGING)
    server = start_server(tmp_path / "u.db", config)
    try:
        before = log_cursor(server)
        body = f'{{"id": "p-1", "from": "+15550001", "text": "hi {SURROGATE}"}}'.encode()
        stamp = int(time.time())
        headers = {"content-type": "application/json", signing.TIMESTAMP_HEADER: str(stamp),
                   signing.SIGNATURE_HEADER: signing.sign(SMS_SECRET, stamp, body)}  # fmt: skip
        response = httpx.post(server.url + "/v1/channels/messaging/sms", content=body,
                              headers=headers, timeout=10)  # fmt: skip
        _assert_refused(response, "text")
        assert log_cursor(server) == before
    finally:
        server.stop()


SMS_SECRET = "sms-secret-0123456789abcdef"
MESSAGING = f"""
channels:
  messaging:
    sms: {{format: json, workstream: chat, secret: {SMS_SECRET}}}
"""


# -- what an older build stored ------------------------------------------------------------------


def _older_log(
    db: Path, steps: list[tuple[str, dict[str, Any]]], config: dict[str, Any] | None = None
) -> None:
    """A log as a build before issue 17 wrote it, bypassing every edge: the commands run on an
    engine and are appended with their events as the host appended them then."""
    t = time.time()
    config = config or commands.config_json(_loaded_config())
    engine, clock = replay.new_engine(config, t, None, await_connections=True)
    records = [_command({"op": "init", "t": t, "args": {"config": config,
                                                        "await_connections": True}})]  # fmt: skip
    records += [_event(e) for e in engine.drain_events()]
    for op, args in steps:
        t += 1
        clock.set(t)
        commands.run(engine, op, args)
        records += [_command({"op": op, "t": t, "args": args})]
        records += [_event(e) for e in engine.drain_events()]
    store = SqliteStore(db)
    try:
        store.append(records)
    finally:
        store.close()


def _loaded_config() -> Any:
    from unirouter import config as configuration

    return configuration.validate(yaml.safe_load(CONFIG))


def _command(body: dict[str, Any]) -> Record:
    return Record(kind=RecordKind.COMMAND, body=json.dumps(body))  # NaN written as NaN, as then


def _event(event: Any) -> Record:
    return Record(kind=RecordKind.EVENT, body=json.dumps(event.to_dict(), separators=(",", ":"),
                                                         default=str))  # fmt: skip


def test_stored_lone_surrogates_and_non_finite_numbers_are_answered_as_strict_json(
    tmp_path: Path,
) -> None:
    """Issue 17 items 1 and 3: a log an older build wrote with such values still restarts, and
    every reader (item, listing, queue, messages, event stream) answers 200 with strict JSON."""
    db = tmp_path / "u.db"
    _older_log(db, [
        ("submit", {"item_id": "01BAD", "external_id": "old\ud800", "workstream": "chat",
                    "attributes": {"note": "x\udfff", "score": math.nan, "big": math.inf},
                    "customer": {"name": "\ud800"}}),
        ("message", {"item": "01BAD", "number": 1, "sender": "customer", "text": "hi \ud800",
                     "attributes": {"w": -math.inf}, "at": time.time(), "agent": None,
                     "resume": False}),
    ])  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    server = start_server(db, config)
    try:
        admin = server.client("admin")
        for path in (
            "/v1/work-items/01BAD",
            "/v1/work-items",
            "/v1/work-items?queue=chat_q",
            "/v1/queues",
            "/v1/queues/chat_q",
            "/v1/work-items/01BAD/messages",
        ):
            response = admin.get(path)
            assert response.status_code == 200, (path, response.text)
            strict(response.content)
        item = strict(admin.get("/v1/work-items/01BAD").content)
        assert item["attributes"]["note"] == "x\ufffd" and item["attributes"]["score"] is None
        with admin.stream("GET", "/v1/events?follow=false") as stream:
            frames = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
        assert len(frames) > 3
        for frame in frames:
            strict(frame)
    finally:
        server.stop()


def test_a_refused_message_leaves_the_agents_stream_open(server: Server) -> None:
    """Issue 17 item 1: a message with a lone surrogate no longer reaches (and kills) the
    agent's WebSocket; the stream goes on and carries the next message."""
    available(server, "alice")
    admin = server.client("admin")
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    with ws_client.connect(f"{server.ws_url}/v1/agents/alice/stream",
                           additional_headers=headers, open_timeout=10) as conn:  # fmt: skip
        strict(conn.recv(timeout=10))
        item = server.client("intake").post(
            "/v1/work-items", json={"external_id": "ws-wf", "workstream": "chat"}).json()  # fmt: skip
        offer = _next_event(conn, "offer_made")
        assert server.client("alice").post(f"/v1/offers/{offer['offer']}/accept").status_code == 200
        bad = _raw(admin, "POST", f"/v1/work-items/{item['id']}/messages",
                   f'{{"text": "{SURROGATE}"}}')  # fmt: skip
        _assert_refused(bad, "text")
        good = admin.post(f"/v1/work-items/{item['id']}/messages", json={"text": "hello"})
        assert good.status_code == 201
        while True:
            frame = strict(conn.recv(timeout=10))
            if frame["type"] == "message":
                assert frame["message"]["text"] == "hello"
                break
    assert admin.get("/v1/agents/alice").status_code == 200


def _next_event(conn: ws_client.ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = strict(conn.recv(timeout=10))
        if frame["type"] == "event" and frame["event"]["type"] == kind:
            event: dict[str, Any] = frame["event"]
            return event


def test_the_log_holds_strict_json_only(shared: Server) -> None:
    """Issue 17 item 3: every record the server wrote parses as strict JSON."""
    shared.client("intake").post("/v1/work-items", json={
        "external_id": "strict-1", "workstream": "chat", "attributes": {"x": 1.5}})  # fmt: skip
    with sqlite3.connect(shared.db) as connection:
        bodies = [row[0] for row in connection.execute("SELECT body FROM records")]
    assert bodies
    for body in bodies:
        strict(body)


def test_strict_encoding_is_used_by_the_host(tmp_path: Path) -> None:
    """Issue 17 item 3: a command whose arguments carry a non-finite number is refused by the
    host itself (channels and embedded shells included), naming the field; nothing is logged."""
    from unirouter import errors
    from unirouter.server import EngineHost

    store = SqliteStore(tmp_path / "u.db")
    host = EngineHost(store)
    host.restore(_loaded_config())

    async def run() -> None:
        await host.start()
        before = store.last_cursor()
        _, error = host.execute("submit", {"item_id": "01X", "external_id": "h",
                                                "workstream": "chat", "attributes": {"v": math.nan}})  # fmt: skip
        assert isinstance(error, errors.InvalidCommand) and error.fields["field"] == "attributes.v"
        await host.barrier()
        assert store.last_cursor() == before
        await host.stop()

    asyncio.run(run())


def test_a_configuration_an_older_build_stored_with_bad_text_is_still_snapshotted(
    tmp_path: Path,
) -> None:
    """Issue 17 items 1 and 3: a log whose configurations (its first and one applied later) hold
    a lone surrogate and NaN still restarts (the replay, the reports' fold), and the engine
    snapshot's configuration hash cannot fail on them, so snapshots go on being taken and used."""
    config = commands.config_json(_loaded_config())
    config["agents"]["alice"]["attributes"] = {"note": "\ud800"}
    applied = json.loads(json.dumps(config))
    applied["agents"]["alice"]["attributes"] = {"note": "\ud800", "w": math.nan}
    db = tmp_path / "u.db"
    _older_log(db, [("apply_config", {"config": applied})], config)
    server = start_server(db, None, "--snapshot-every", "1")
    try:
        admin = server.client("admin")
        assert admin.put("/v1/agents/bob/presence", json={"presence": "away"}).status_code == 200
        assert strict(admin.get("/v1/agents/alice").content)["attributes"]["note"] == "\ufffd"
        for _ in range(200):
            with sqlite3.connect(db) as connection:
                if connection.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("no snapshot was stored")
    finally:
        server.stop()
    again = start_server(db, None)
    try:
        assert any("restored the snapshot" in line for line in again.stderr), again.stderr
    finally:
        again.stop()
