"""The HTTP API of SPEC §6.3 against a real ``unirouter serve`` process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as ws_client
from server_support import (
    CONFIG,
    TOKENS,
    Server,
    available,
    log_cursor,
    start_server,
    submit,
)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for tests that only add their own items."""
    folder = tmp_path_factory.mktemp("shared")
    (folder / "config.yaml").write_text(CONFIG)
    started = start_server(folder / "u.db", folder / "config.yaml")
    yield started
    started.stop()


def _ws(server: Server, agent: str, who: str) -> ws_client.ClientConnection:
    return ws_client.connect(
        f"{server.ws_url}/v1/agents/{agent}/stream",
        additional_headers={"Authorization": f"Bearer {TOKENS[who]}"},
        open_timeout=10,
    )


def _next(conn: ws_client.ClientConnection, kind: str, type_: str | None = None) -> dict:  # type: ignore[type-arg]
    """The next frame of ``kind`` (and event ``type_``), skipping others."""
    while True:
        frame = json.loads(conn.recv(timeout=10))
        if frame["type"] == kind and (type_ is None or frame["event"]["type"] == type_):
            return frame


def test_intake_answers_201_with_a_durable_item_and_a_repeat_answers_200_with_the_same(
    shared: Server,
) -> None:
    """SPEC §6.3: external_id makes intake idempotent per workstream."""
    client = shared.client("intake")
    body = {"external_id": "idem-1", "workstream": "chat", "attributes": {"topic": "x"}}
    first = client.post("/v1/work-items", json=body)
    again = client.post("/v1/work-items", json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    for answer in (first, again):  # each answer carries its own token; both reach the conversation
        customer = shared.client(answer.json()["customer_token"])
        assert customer.get(f"/v1/work-items/{first.json()['id']}/messages").status_code == 200
    listed = shared.client("admin").get("/v1/work-items", params={"queue": "chat_q"}).json()
    assert [i["external_id"] for i in listed["items"]].count("idem-1") == 1


def test_get_item_shows_state_queue_agent_times_and_trace(shared: Server) -> None:
    """SPEC §6.3 GET /v1/work-items/{id}: state, queue, agent, timestamps, trace (R43)."""
    item = submit(shared.client("intake"), "trace-1")
    got = shared.client("supervisor").get(f"/v1/work-items/{item['id']}").json()
    assert got["queue"] == "chat_q" and got["state"] in ("queued", "offered")
    assert "created_at" in got["times"] and "queued_at" in got["times"]
    assert [entry["stage"] for entry in got["trace"]][:2] == ["intake", "classification"] or got[
        "trace"
    ][0]["stage"] == "intake"


def test_unknown_ids_get_404_problems(shared: Server) -> None:
    """SPEC §10: unknown ids get a 404 RFC 9457 problem."""
    client = shared.client("admin")
    for path in ("/v1/work-items/nope", "/v1/agents/nope", "/v1/queues/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert {"type", "title", "status", "detail"} <= set(response.json())
    assert client.post("/v1/offers/nope/accept").status_code == 404


ROLE_MATRIX = [
    # (method, path, body, role, expected status)
    ("POST", "/v1/work-items", {"external_id": "m-1", "workstream": "chat"}, "supervisor", 403),
    ("POST", "/v1/work-items", {"external_id": "m-2", "workstream": "chat"}, "alice", 403),
    ("POST", "/v1/work-items", {"external_id": "m-3", "workstream": "chat"}, "intake", 201),
    ("GET", "/v1/agents", None, "intake", 403),
    ("GET", "/v1/agents", None, "alice", 403),
    ("GET", "/v1/agents", None, "supervisor", 200),
    ("GET", "/v1/agents/bob", None, "alice", 403),
    ("GET", "/v1/agents/alice", None, "alice", 200),
    ("PUT", "/v1/agents/bob/presence", {"presence": "away"}, "alice", 403),
    ("PUT", "/v1/agents/alice/presence", {"presence": "available"}, "intake", 403),
    ("GET", "/v1/config", None, "alice", 403),
    ("GET", "/v1/config", None, "supervisor", 200),
    ("PUT", "/v1/config?dry_run=true", {}, "supervisor", 403),
    ("GET", "/v1/reports/queues", None, "intake", 403),
    ("GET", "/v1/reports/agents", None, "supervisor", 200),
    ("GET", "/v1/events?follow=false", None, "alice", 403),
    ("GET", "/v1/queues", None, "intake", 403),
    ("GET", "/v1/queues", None, "alice", 200),
    ("GET", "/v1/queues/social_q/items?for_agent=bob", None, "alice", 403),
]


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), ROLE_MATRIX)
def test_roles_allow_and_forbid_as_spec_6_3_says(
    shared: Server, method: str, path: str, body: object, role: str, status: int
) -> None:
    """SPEC §6.3: a token beyond its role or acting for another agent gets 403."""
    response = shared.client(role).request(method, path, json=body)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["status"] == 403


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic abc", "Bearer"])
def test_requests_without_a_valid_token_get_401(shared: Server, header: str | None) -> None:
    """SPEC §6.3: a request without a valid token gets 401."""
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(shared.url + "/v1/queues", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_bad_input_gets_field_named_4xx_and_changes_nothing(shared: Server) -> None:
    """SPEC §10: malformed JSON, wrong types, unknown fields, oversize bodies and attributes."""
    client = shared.client("intake")
    before = log_cursor(shared)
    malformed = client.post("/v1/work-items", content=b"{not json",
                            headers={"content-type": "application/json"})  # fmt: skip
    assert malformed.status_code == 400 and malformed.json()["field"] == "body"
    wrong = client.post("/v1/work-items", json={"external_id": "b", "workstream": "chat",
                                                "priority": "high"})  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["field"] == "priority"
    assert wrong.json()["errors"][0]["field"] == "priority"
    unknown = client.post("/v1/work-items", json={"external_id": "b", "workstream": "chat",
                                                  "colour": "red"})  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
    big = client.post("/v1/work-items", json={"external_id": "b", "workstream": "chat",
                                              "attributes": {"x": "y" * 70_000}})  # fmt: skip
    assert big.status_code == 422 and big.json()["field"] == "attributes"
    huge = client.post("/v1/work-items", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                       headers={"content-type": "application/json"})  # fmt: skip
    assert huge.status_code == 413 and huge.json()["field"] == "body"
    ws = client.post("/v1/work-items", json={"external_id": "b", "workstream": "nope"})
    assert ws.status_code == 404 and ws.json()["workstream"] == "nope"
    assert log_cursor(shared) == before


def test_openapi_health_and_metrics(shared: Server) -> None:
    """SPEC §6.3: /openapi.json, /healthz, /readyz and Prometheus /metrics."""
    spec = httpx.get(shared.url + "/openapi.json", timeout=10).json()
    assert "/v1/work-items/{item_id}/messages" in spec["paths"]
    assert "ItemIn" in spec["components"]["schemas"]
    assert httpx.get(shared.url + "/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(shared.url + "/readyz", timeout=10).status_code == 200
    submit(shared.client("intake"), "metrics-1")
    text = httpx.get(shared.url + "/metrics", timeout=10).text
    assert 'unirouter_queue_waiting{queue="chat_q"}' in text
    assert "unirouter_append_seconds_bucket" in text
    assert 'unirouter_commands_total{op="submit",outcome="ok"}' in text


def test_offer_arrives_on_the_agents_websocket_and_accept_assigns(server: Server) -> None:
    """R23, R24 over the API: the offer is pushed to the agent's stream; accept → assigned."""
    with _ws(server, "alice", "alice") as conn:
        hello = json.loads(conn.recv(timeout=10))
        assert hello["type"] == "hello" and hello["agent"]["id"] == "alice"
        item = submit(server.client("intake"), "ws-1")
        offer = _next(conn, "event", "offer_made")["event"]
        assert offer["item"] == item["id"] and offer["agent"] == "alice"
        stolen = server.client("bob").post(f"/v1/offers/{offer['offer']}/accept")
        assert stolen.status_code == 403
        accepted = server.client("alice").post(f"/v1/offers/{offer['offer']}/accept")
        assert accepted.status_code == 200 and accepted.json()["state"] == "assigned"
        assert _next(conn, "event", "item_assigned")["event"]["item"] == item["id"]
        again = server.client("alice").post(f"/v1/offers/{offer['offer']}/accept")
        assert again.status_code == 409 and again.json()["type"].endswith("offer_not_open")
        done = server.client("alice").post(f"/v1/work-items/{item['id']}/complete")
        assert done.json()["state"] == "wrap_up"


def test_closing_the_stream_disconnects_the_agent_and_reconnecting_restores_presence(
    server: Server,
) -> None:
    """R35: the connection is the agent's liveness: drop → offline, back → previous presence."""
    admin = server.client("admin")
    with _ws(server, "alice", "alice") as conn:
        conn.recv(timeout=10)
    for _ in range(100):
        agent = admin.get("/v1/agents/alice").json()
        if not agent["connected"]:
            break
    assert agent["presence"] == "offline" and agent["connected"] is False
    with _ws(server, "alice", "alice") as conn:
        hello = json.loads(conn.recv(timeout=10))
        assert hello["agent"]["presence"] == "available" and hello["agent"]["connected"]


def test_a_supervisor_watching_a_stream_does_not_count_as_liveness(server: Server) -> None:
    """R35: only the agent's own connection is its liveness."""
    with _ws(server, "alice", "supervisor") as conn:
        conn.recv(timeout=10)
    alice = server.client("admin").get("/v1/agents/alice").json()
    assert alice["connected"] is False and alice["presence"] == "offline"


def test_a_stream_for_another_agent_is_refused(server: Server) -> None:
    """SPEC §6.3: an agent token acting for another agent gets 403 (also on the stream)."""
    with pytest.raises(Exception, match="403"):
        _ws(server, "bob", "alice")


def test_sse_stream_resumes_by_cursor(server: Server) -> None:
    """SPEC §6.3 GET /v1/events: server-sent events resumable by cursor."""
    client = server.client("supervisor")
    submit(server.client("intake"), "sse-1")
    first = _sse(client, "/v1/events?follow=false")
    cursors = [c for c, _ in first]
    assert cursors == sorted(cursors) and len(cursors) > 3
    middle = cursors[len(cursors) // 2]
    resumed = _sse(client, f"/v1/events?follow=false&after={middle}")
    assert resumed == [(c, e) for c, e in first if c > middle]
    by_header = _sse(client, "/v1/events?follow=false", {"Last-Event-ID": str(middle)})
    assert by_header == resumed


def test_sse_follow_delivers_new_events_live(server: Server) -> None:
    """SPEC §6.3: the event stream goes on live after the backlog."""
    client = server.client("supervisor")
    last = _sse(client, "/v1/events?follow=false")[-1][0]
    with client.stream("GET", f"/v1/events?after={last}") as response:
        submit(server.client("intake"), "sse-live")
        for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                assert event["type"] == "item_created" and event["external_id"] == "sse-live"
                break


def _sse(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> list:  # type: ignore[type-arg]
    frames, cursor = [], None
    with client.stream("GET", path, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("id: "):
                cursor = int(line[4:])
            elif line.startswith("data: "):
                frames.append((cursor, json.loads(line[6:])))
    return frames


def test_config_dry_run_diffs_without_change_and_apply_switches_atomically(
    server: Server, config_file: Path
) -> None:
    """R42: PUT /v1/config?dry_run=true validates and diffs, changing nothing; PUT applies."""
    import yaml

    admin = server.client("admin")
    data = yaml.safe_load(config_file.read_text())
    data["queues"]["new_q"] = {"kind": "messaging", "members": ["alice"]}
    data["agents"]["alice"]["skills"] = {"french": 9}
    before = admin.get("/v1/config").json()
    dry = admin.put("/v1/config?dry_run=true", json=data).json()
    assert dry["applied"] is False
    assert dry["diff"]["queues"]["added"] == ["new_q"]
    assert dry["diff"]["agents"]["changed"] == ["alice"]
    assert admin.get("/v1/config").json() == before
    applied = admin.put("/v1/config", json=data).json()
    assert applied["applied"] is True and applied["version"] == before["version"] + 1
    assert admin.get("/v1/queues/new_q").status_code == 200
    bad = dict(data, queues={**data["queues"], "bad": {"kind": "voice", "members": ["zed"]}})
    refused = admin.put("/v1/config", json=bad)
    assert refused.status_code == 422 and refused.json()["field"] == "queues.bad.members[0]"
    assert admin.get("/v1/config").json()["version"] == applied["version"]


def test_yaml_configuration_bodies_are_accepted(server: Server, config_file: Path) -> None:
    """R42: PUT /v1/config also takes the YAML file as written."""
    response = server.client("admin").put(
        "/v1/config?dry_run=true", content=config_file.read_bytes(),
        headers={"content-type": "application/yaml"},
    )  # fmt: skip
    assert response.status_code == 200
    assert all(not any(change.values()) for change in response.json()["diff"].values())


def test_two_agents_picking_one_item_exactly_one_wins(server: Server) -> None:
    """R28 over the API: one pick succeeds, the other gets 409."""
    server.client("bob").put("/v1/agents/bob/presence", json={"presence": "available"})
    item = submit(server.client("intake"), "pick-1", "social")
    listed = server.client("alice").get("/v1/queues/social_q/items").json()["items"]
    assert [i["id"] for i in listed] == [item["id"]]
    first = server.client("alice").post(f"/v1/work-items/{item['id']}/pick")
    second = server.client("bob").post(f"/v1/work-items/{item['id']}/pick")
    assert first.status_code == 200 and first.json()["agent"] == "alice"
    assert second.status_code == 409
    for_bob = server.client("supervisor").get("/v1/queues/social_q/items?for_agent=bob")
    assert for_bob.json()["items"] == []


def test_illegal_transitions_get_409_and_change_nothing(server: Server) -> None:
    """SPEC §2: an illegal transition is refused with a clear error, never half-applied."""
    item = submit(server.client("intake"), "illegal-1", "email")
    before = log_cursor(server)
    response = server.client("admin").post(f"/v1/work-items/{item['id']}/park")
    assert response.status_code == 409 and response.json()["item"] == item["id"]
    assert log_cursor(server) == before


def test_agents_cannot_act_on_items_they_do_not_hold(server: Server) -> None:
    """SPEC §10: an agent acting for another agent gets 403 and nothing changes."""
    available(server, "alice")
    item = submit(server.client("intake"), "other-1")
    offer = item["offer"]
    assert offer["agent"] == "alice"
    server.client("alice").post(f"/v1/offers/{offer['id']}/accept")
    before = log_cursor(server)
    assert server.client("bob").post(f"/v1/work-items/{item['id']}/complete").status_code == 403
    assert (
        server.client("bob")
        .post(f"/v1/work-items/{item['id']}/transfer", json={"queue": "other_chat"})
        .status_code
        == 403
    )
    assert log_cursor(server) == before


def test_conversation_messages_reach_the_agent_and_the_customer_token_reaches_only_its_item(
    server: Server,
) -> None:
    """SPEC §6.3: the customer token posts and reads its conversation and nothing else."""
    available(server, "alice")
    intake = server.client("intake")
    item = submit(intake, "conv-1")
    other = submit(intake, "conv-2")
    server.client("alice").post(f"/v1/offers/{item['offer']['id']}/accept")
    customer = server.client(item["customer_token"])
    with _ws(server, "alice", "alice") as conn:
        conn.recv(timeout=10)
        sent = customer.post(f"/v1/work-items/{item['id']}/messages", json={"text": "hello"})
        assert sent.status_code == 201 and sent.json()["sender"] == "customer"
        pushed = _next(conn, "message")["message"]
        assert pushed["text"] == "hello" and pushed["item"] == item["id"]
    reply = server.client("alice").post(f"/v1/work-items/{item['id']}/messages",
                                        json={"text": "hi, how can I help?"})  # fmt: skip
    assert reply.json()["number"] == 2
    seen = customer.get(f"/v1/work-items/{item['id']}/messages").json()["messages"]
    assert [m["sender"] for m in seen] == ["customer", "agent"]
    assert customer.get(f"/v1/work-items/{other['id']}/messages").status_code == 401
    assert customer.get(f"/v1/work-items/{item['id']}").status_code == 403


def test_reports_compute_section_8_kpis_from_the_log(server: Server) -> None:
    """SPEC §8 over the API: answered items, occupancy of the agent who took them."""
    available(server, "alice")
    item = submit(server.client("intake"), "report-1")
    server.client("alice").post(f"/v1/offers/{item['offer']['id']}/accept")
    queues = server.client("supervisor").get("/v1/reports/queues").json()
    assert queues["queues"]["chat_q"]["answered"] == 1
    agents = server.client("supervisor").get("/v1/reports/agents").json()
    assert agents["agents"]["alice"]["handled"] == 1
    bad = server.client("supervisor").get("/v1/reports/agents?from=10&to=5")
    assert bad.status_code == 422 and bad.json()["field"] == "from"
