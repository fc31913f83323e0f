"""The agent's workflow over the API (issue 16 item 5) against a real ``unirouter serve``: offers
carry the item's summary, a lone decliner gets the item behind first (R25), wrap-up codes and custom
presences come from a catalogue in the configuration, and no internal value shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets.sync.client as ws_client
from server_support import CONFIG, TOKENS, Server, available, log_cursor, start_server, submit

#: CONFIG with a catalogue of custom presences, wrap-up codes for chat and a non-blocking profile.
CATALOGUE = (
    CONFIG.replace(
        "capacity_profiles: {chat: {limit: 2}}",
        "capacity_profiles: {chat: {limit: 2}, notes: {limit: 4, blocking: false}}",
    )
    .replace(
        "    wrap_up: {block: always}\n",
        "    wrap_up: {block: always, codes: [resolved, escalated]}\n",
    )
    .replace(
        "alice: {skills: {french: 5}, profiles: [chat]}",
        "alice: {skills: {french: 5}, profiles: [chat, notes]}",
    )
    .replace(
        "auth:\n",
        "presences:\n  lunch: {base: away, title: Lunch break}\n  coaching: {base: busy_dnd}\n"
        "auth:\n",
    )
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    assert "codes: [resolved" in CATALOGUE and "lunch:" in CATALOGUE and "notes:" in CATALOGUE
    (tmp_path / "config.yaml").write_text(CATALOGUE)
    server = start_server(tmp_path / "u.db", tmp_path / "config.yaml")
    yield server
    server.stop()


def _next_offer(conn: ws_client.ClientConnection) -> dict[str, Any]:
    while True:
        frame = json.loads(conn.recv(timeout=10))
        if frame["type"] == "event" and frame["event"]["type"] == "offer_made":
            return frame  # type: ignore[no-any-return]


def test_an_offer_carries_the_items_summary(served: Server) -> None:
    """Issue 16 item 5: the offer frame and the agent's open offers say what the item is."""
    with ws_client.connect(
        f"{served.ws_url}/v1/agents/alice/stream",
        additional_headers={"Authorization": f"Bearer {TOKENS['alice']}"},
        open_timeout=10,
    ) as conn:
        json.loads(conn.recv(timeout=10))  # hello
        item = submit(served.client("intake"), "s-1", channel="chat", priority=7,
                      attributes={"topic": "billing", "order": {"id": 3}},
                      customer={"id": "c-9", "name": "Ada", "attributes": {"tier": "gold"}})  # fmt: skip
        frame = _next_offer(conn)
    summary = frame["summary"]
    assert summary["item"] == item["id"] and summary["external_id"] == "s-1"
    where = (summary["workstream"], summary["channel"], summary["queue"])
    assert where == ("chat", "chat", "chat_q")
    assert summary["priority"] == 7
    assert summary["attributes"] == {"topic": "billing"}  # scalar attributes only
    assert summary["customer"] == {"id": "c-9", "name": "Ada", "attributes": {"tier": "gold"}}
    offers = served.client("alice").get("/v1/agents/alice").json()["offers"]
    assert offers[0]["summary"] == summary


def test_r25_a_lone_decliner_is_offered_the_item_behind_before_the_declined_one(
    served: Server,
) -> None:
    """R25 over the API: alone in the queue, alice declines c-2 and is offered c-3, the item behind
    it, not c-2 again."""
    alice, intake = served.client("alice"), served.client("intake")
    items = [submit(intake, name)["id"] for name in ("c-1", "c-2", "c-3")]
    available(served, "alice")
    offered = alice.get("/v1/agents/alice").json()["offers"]
    assert [o["item"] for o in offered] == items[:2]  # room for two chats
    assert alice.post(f"/v1/offers/{offered[0]['id']}/accept").status_code == 200
    assert alice.post(f"/v1/offers/{offered[1]['id']}/decline").status_code == 200
    offers = alice.get("/v1/agents/alice").json()["offers"]
    assert [o["item"] for o in offers] == [items[2]]


def test_wrap_up_codes_come_from_the_workstream_and_show_on_the_item(
    served: Server, tmp_path: Path
) -> None:
    """Issue 16 item 5: complete takes a code of wrap_up.codes; close may replace it; it stays
    after a restart; an unknown code is a 422 naming ``code`` and changes nothing."""
    alice = served.client("alice")
    available(served, "alice")
    item = submit(served.client("intake"), "w-1")
    assert alice.post(f"/v1/offers/{item['offer']['id']}/accept").status_code == 200
    before = log_cursor(served)
    bad = alice.post(f"/v1/work-items/{item['id']}/complete", json={"code": "sold"})
    assert bad.status_code == 422 and bad.json()["field"] == "code"
    assert "resolved, escalated" in bad.json()["detail"]
    assert log_cursor(served) == before
    done = alice.post(f"/v1/work-items/{item['id']}/complete", json={"code": "escalated"})
    assert done.status_code == 200 and done.json()["state"] == "wrap_up"
    assert done.json()["wrap_up_code"] == "escalated"
    closed = alice.post(f"/v1/work-items/{item['id']}/close", json={"code": "resolved"})
    assert closed.json()["state"] == "closed" and closed.json()["wrap_up_code"] == "resolved"
    served.stop()
    again = start_server(served.db, None)
    try:
        shown = again.client("supervisor").get(f"/v1/work-items/{item['id']}").json()
        assert shown["wrap_up_code"] == "resolved"
    finally:
        again.stop()


def test_custom_presences_come_from_the_catalogue(served: Server) -> None:
    """R32, issue 16 item 5: a label of the catalogue sets its base presence; another label, or a
    base that is not the label's, is a 422 naming the field, and nothing changes."""
    alice = served.client("alice")
    catalogue = alice.get("/v1/catalogue").json()
    assert catalogue["presences"] == [
        {"label": "lunch", "base": "away", "title": "Lunch break"},
        {"label": "coaching", "base": "busy_dnd", "title": "coaching"},
    ]
    assert catalogue["wrap_up_codes"]["chat"] == ["resolved", "escalated"]
    assert catalogue["wrap_up_codes"]["email"] == []
    lunch = alice.put("/v1/agents/alice/presence", json={"label": "lunch"})
    assert lunch.status_code == 200, lunch.text
    assert (lunch.json()["presence"], lunch.json()["label"]) == ("away", "lunch")
    before = log_cursor(served)
    unknown = alice.put("/v1/agents/alice/presence", json={"presence": "away", "label": "nap"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "label"
    wrong = alice.put("/v1/agents/alice/presence", json={"presence": "available", "label": "lunch"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "presence"
    bare = alice.put("/v1/agents/alice/presence", json={})
    assert bare.status_code == 422 and bare.json()["field"] == "presence"
    assert log_cursor(served) == before
    assert alice.get("/v1/agents/alice").json()["label"] == "lunch"


def test_no_internal_value_shows_in_an_agents_profiles(served: Server) -> None:
    """Issue 16 item 5: a non-blocking profile shows its configured limit and blocking: false,
    never the engine's internal -1."""
    profiles = served.client("supervisor").get("/v1/agents/alice").json()["profiles"]
    assert profiles["notes"] == {"limit": 4, "blocking": False, "used": 0}
    assert profiles["chat"] == {"limit": 2, "blocking": True, "used": 0}
