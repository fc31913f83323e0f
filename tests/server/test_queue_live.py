"""Live queue numbers and force-assign warnings over the API (issue 16 item 2) against a real
``unirouter serve``: the longest wait counts to the read over queued and offered items, queues say
whether their operating hours hold and their service level today."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import CONFIG, Server, available, start_server, submit

#: CONFIG with a calendar that is never open, for the queue ``other_chat``.
HOURS = CONFIG.replace(
    "queues:\n",
    'calendars: {never: {tz: Europe/Paris, weekly: {mon-sun: "closed"}}}\nqueues:\n',
).replace(
    "other_chat: {kind: messaging, members: [bob]}",
    "other_chat: {kind: messaging, members: [bob], operating_hours: never}",
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    assert HOURS != CONFIG and "operating_hours: never" in HOURS
    (tmp_path / "config.yaml").write_text(HOURS)
    server = start_server(tmp_path / "u.db", tmp_path / "config.yaml")
    yield server
    server.stop()


def _queue(server: Server, name: str) -> dict:  # type: ignore[type-arg]
    response = server.client("supervisor").get(f"/v1/queues/{name}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_longest_wait_counts_to_the_read_between_commands(served: Server) -> None:
    """Issue 16 item 2: with no command in between, a later read shows a longer wait."""
    submit(served.client("intake"), "w-1")
    first = _queue(served, "chat_q")["longest_wait_s"]
    time.sleep(0.3)
    second = _queue(served, "chat_q")["longest_wait_s"]
    assert second >= first + 0.25


def test_longest_wait_counts_an_offered_item(served: Server) -> None:
    """Issue 16 item 2, SPEC §8: an item on offer is still waiting; its wait shows and grows."""
    available(served, "alice")
    item = submit(served.client("intake"), "w-2")
    assert item["state"] == "offered"
    first = _queue(served, "chat_q")
    time.sleep(0.3)
    second = _queue(served, "chat_q")
    assert first["waiting"] == first["offered"] == 1
    assert first["longest_wait_s"] > 0
    assert second["longest_wait_s"] >= first["longest_wait_s"] + 0.25
    listed = served.client("supervisor").get("/v1/queues").json()
    assert next(q for q in listed if q["name"] == "chat_q")["longest_wait_s"] > 0


def test_queues_say_whether_their_operating_hours_hold(served: Server) -> None:
    """R14: a queue without operating hours is open; one whose calendar is closed says so."""
    assert _queue(served, "chat_q")["open"] is True
    closed = _queue(served, "other_chat")
    assert closed["open"] is False and closed["operating_hours"] == "never"


def test_queues_give_their_service_level_today(served: Server) -> None:
    """Issue 16 item 2: answered within service_level_s today, beside the queue's live state."""
    alice = served.client("alice")
    available(served, "alice")
    item = submit(served.client("intake"), "w-3")
    assert alice.post(f"/v1/offers/{item['offer']['id']}/accept").status_code == 200
    body = _queue(served, "chat_q")
    today = body["today"]
    assert body["service_level_s"] == 20
    assert today["arrived"] == 1 and today["answered"] == 1 and today["service_level"] == 1.0
    assert today["from"] <= time.time() < today["from"] + 86400 + 3600
    assert _queue(served, "email_q")["today"]["service_level"] is None


def test_force_assign_to_an_offline_agent_warns_in_the_response_and_the_trace(
    served: Server,
) -> None:
    """Issue 16 item 2, R31: the force-assign goes through, and says the agent is offline."""
    item = submit(served.client("intake"), "w-4")
    supervisor = served.client("supervisor")
    response = supervisor.post(f"/v1/work-items/{item['id']}/assign", json={"agent": "bob"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "assigned" and body["agent"] == "bob"
    assert len(body["warnings"]) == 1 and "bob is offline" in body["warnings"][0]
    warned = [e for e in body["trace"] if e["stage"] == "warning"]
    assert warned and "bob, who is offline" in warned[0]["warning"]


def test_force_assign_to_a_present_agent_has_no_warning(served: Server) -> None:
    """R31: a force-assign to an agent who is present warns of nothing."""
    available(served, "bob")
    item = submit(served.client("intake"), "w-5")
    supervisor = served.client("supervisor")
    body = supervisor.post(f"/v1/work-items/{item['id']}/assign", json={"agent": "bob"}).json()
    assert body["warnings"] == []
    assert not [e for e in body["trace"] if e["stage"] == "warning"]
