"""Several servers on one PostgreSQL database (SPEC §9): one leader, followers that serve reads and
forward writes, agents streaming on any server, and a paused leader that can never append again."""

from __future__ import annotations

import contextlib
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
from server_support import TOKENS, Server, available, submit


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


def test_a_follower_serves_the_reports_the_leader_serves(members: list[Server]) -> None:
    """SPEC §8 reports on any server: a follower folds the log it applies into its reports too
    (before, only its read model: its reports stayed empty)."""
    available(members[0], "alice")
    with members[0].client("intake") as intake:
        for n in range(3):
            submit(intake, f"rep-{n}")
    arrived: list[int] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        arrived = []
        for server in members:
            with server.client("supervisor") as supervisor:
                report = supervisor.get("/v1/reports/queues")
                assert report.status_code == 200, report.text
                arrived.append(report.json()["totals"]["arrived"])
        if arrived == [3, 3, 3]:
            return
        time.sleep(0.1)
    raise AssertionError(f"arrived per server (leader first): {arrived}")


def test_agents_streaming_on_followers_stay_connected_through_a_failover(
    members: list[Server], postgres_url: str
) -> None:
    """R35 and issue 12 item 4: alice streams on one follower, bob on the other; the leader is
    SIGKILLed; whichever follower takes over, the agent streaming on the other one is never
    disconnected by the failover (before, the new leader dropped every agent not streaming on
    itself, as after a restart)."""
    headers = {agent: {"Authorization": f"Bearer {TOKENS[agent]}"} for agent in ("alice", "bob")}
    with contextlib.ExitStack() as streams:
        for server, agent in ((members[1], "alice"), (members[2], "bob")):
            url = server.ws_url + f"/v1/agents/{agent}/stream"
            ws = streams.enter_context(
                ws_client.connect(url, additional_headers=headers[agent], open_timeout=10)
            )
            json.loads(ws.recv(timeout=10))  # hello
        with members[0].client("admin") as admin:
            deadline = time.monotonic() + 10
            while not all(admin.get(f"/v1/agents/{a}").json()["connected"] for a in headers):
                assert time.monotonic() < deadline, "the agents never connected on the leader"
                time.sleep(0.05)
        before = log_rows(postgres_url)[-1][0]
        members[0].stop(signal.SIGKILL)
        new = wait_for_leader(members[1:], after_term=1)
        time.sleep(5)  # past the election's grace (2 s) and a report's freshness
        with new.client("admin") as admin:
            assert all(admin.get(f"/v1/agents/{a}").json()["connected"] for a in headers)
        dropped = [body for cursor, _, body, _ in log_rows(postgres_url)
                   if cursor > before and body.get("type") == "agent_disconnected"]  # fmt: skip
        assert dropped == []


def test_an_open_offer_keeps_its_deadline_through_a_failover(members: list[Server]) -> None:
    """Issue 12 item 4: an offer open when the leader is SIGKILLed is still open on the new leader,
    made to the same agent with the same ``expires_at`` (R24's timeout is not restarted)."""
    available(members[0], "alice")
    with members[0].client("intake") as intake:
        submit(intake, "offered-at-kill")
    with members[0].client("admin") as admin:
        deadline = time.monotonic() + 10
        while not (offers := admin.get("/v1/agents/alice").json()["offers"]):
            assert time.monotonic() < deadline, "alice was never offered the item"
            time.sleep(0.05)
    members[0].stop(signal.SIGKILL)
    new = wait_for_leader(members[1:], after_term=1)
    with new.client("admin") as admin:
        assert admin.get("/v1/agents/alice").json()["offers"] == offers
        accepted = admin.post(f"/v1/offers/{offers[0]['id']}/accept")
        assert accepted.status_code == 200, accepted.text
