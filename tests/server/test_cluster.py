"""Several servers on one PostgreSQL database (SPEC §9): one leader, followers that serve reads and
forward writes, agents streaming on any server, and a paused leader that can never append again."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as ws_client
from cluster_support import (
    leader_of,
    log_rows,
    start_member,
    start_members,
    terms,
    wait_for_leader,
)
from server_support import TOKENS, Server, submit


@pytest.fixture
def members(postgres_url: str, config_file: Path) -> Iterator[list[Server]]:
    """Three servers on one new database; the first starts the log and leads."""
    first = start_member(postgres_url, config_file)
    wait_for_leader([first])
    servers = [first, *start_members(postgres_url, 2)]
    yield servers
    for server in servers:
        server.stop(signal.SIGKILL)


def test_exactly_one_server_leads_and_readyz_says_who(members: list[Server]) -> None:
    """/readyz: one leader, two followers, all naming the leader's URL and the same term."""
    bodies = [httpx.get(s.url + "/readyz", timeout=5).json() for s in members]
    assert sorted(b["role"] for b in bodies) == ["follower", "follower", "leader"]
    assert {b["leader"] for b in bodies} == {members[0].url}
    assert {b["term"] for b in bodies} == {1}
    assert all(b["lag"] >= 0 for b in bodies)


def test_a_write_on_a_follower_is_forwarded_and_read_back_there_at_once(
    members: list[Server],
) -> None:
    """Intake on a follower answers 201 from the leader, and the same follower serves it right away."""
    follower = members[1]
    with follower.client("intake") as intake, follower.client("admin") as admin:
        for n in range(5):
            item = submit(intake, f"fw-{n}")
            served = admin.get(f"/v1/work-items/{item['id']}")
            assert served.status_code == 200, served.text
            assert served.json()["external_id"] == f"fw-{n}"
        again = intake.post("/v1/work-items", json={"external_id": "fw-0", "workstream": "chat"})
        assert again.status_code == 200  # idempotent through the forward too


def test_an_agent_streaming_on_a_follower_is_connected_and_gets_its_offers(
    members: list[Server],
) -> None:
    """R35 across servers: alice's stream on a follower connects her on the leader; an item taken
    in on the other follower is offered to her on her stream."""
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    url = members[1].ws_url + "/v1/agents/alice/stream"
    with ws_client.connect(url, additional_headers=headers, open_timeout=10) as ws:
        json.loads(ws.recv(timeout=10))  # hello
        deadline = time.monotonic() + 10
        with members[0].client("admin") as admin:
            while not admin.get("/v1/agents/alice").json()["connected"]:
                assert time.monotonic() < deadline, "alice never connected on the leader"
                time.sleep(0.05)
        with members[2].client("intake") as intake:
            item = submit(intake, "to-alice")
        while True:
            frame = json.loads(ws.recv(timeout=10))
            event = frame.get("event", {})
            if event.get("type") == "offer_made" and event.get("item") == item["id"]:
                break
    with members[0].client("admin") as admin:  # her last stream closed: offline at once
        deadline = time.monotonic() + 10
        while admin.get("/v1/agents/alice").json()["connected"]:
            assert time.monotonic() < deadline, "alice stayed connected after her stream closed"
            time.sleep(0.05)


def test_a_paused_leader_that_wakes_up_never_appends(
    members: list[Server], postgres_url: str
) -> None:
    """SIGSTOP the leader with a write queued on it; a follower takes over; after SIGCONT the old
    leader's write is refused (never acknowledged), it stops, and no record carries its term
    after the new leader's election."""
    old = members[0]
    with old.client("intake") as intake:
        submit(intake, "before-pause")
    old.process.send_signal(signal.SIGSTOP)
    answers: list[object] = []

    def write_to_paused() -> None:
        try:
            answers.append(httpx.post(old.url + "/v1/work-items", timeout=30,
                                      json={"external_id": "while-paused", "workstream": "chat"},
                                      headers={"Authorization": f"Bearer {TOKENS['intake']}"},
                                      ).status_code)  # fmt: skip
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    writer = threading.Thread(target=write_to_paused)
    writer.start()
    new = wait_for_leader(members[1:], after_term=1)
    with new.client("intake") as intake:
        submit(intake, "after-takeover")
    old.process.send_signal(signal.SIGCONT)
    writer.join(30)
    assert old.process.wait(timeout=20) != 0, "the deposed leader kept running"
    assert answers and answers[0] not in (200, 201), answers
    elected = terms(postgres_url)
    rows = log_rows(postgres_url)
    assert all(cursor <= elected[2] for cursor, _, _, term in rows if term == 1)
    created = {b.get("external_id") for _, kind, b, _ in rows if b.get("type") == "item_created"}
    assert {"before-pause", "after-takeover"} <= created
    assert "while-paused" not in created
    assert leader_of(members[1:]) is not None
