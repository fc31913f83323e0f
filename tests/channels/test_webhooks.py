"""Outbound webhooks (issue 9, SPEC §6.3): signed deliveries of subscribed events, at least once
and in log order, retried with backoff, dead-lettered after max_attempts, visible while failing,
and resumed from a durable cursor after a restart; against a local receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from channel_support import channel_server, wait_for
from peers import Receiver, receiver
from server_support import Server, start_server, submit

from unirouter.channels import signing

SECRET = "hook-secret"
CHANNELS = """
webhooks:
  - name: crm
    url: "{url}/hook"
    events: [item_created, item_closed]
    secret: {secret}
    max_attempts: {attempts}
    backoff_s: 0.05
    timeout_s: 0.5
"""


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[Server, Receiver]]:
    with receiver() as peer:
        server = channel_server(tmp_path, CHANNELS.format(url=peer.url, secret=SECRET, attempts=3))
        yield server, peer
        server.stop()


def _events(peer: Receiver, count: int) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.body) for r in peer.wait(count)]


def test_deliveries_are_signed_and_carry_only_subscribed_events(hooked: tuple) -> None:  # type: ignore[type-arg]
    """Each delivery's X-Unirouter-Signature is HMAC-SHA256 of its timestamp and body under the
    subscription's secret; only item_created and item_closed are sent."""
    server, peer = hooked
    item = submit(server.client("intake"), "w-1")
    server.client().post(f"/v1/work-items/{item['id']}/cancel")
    got = peer.wait(2)
    assert [json.loads(r.body)["event"]["type"] for r in got] == ["item_created", "item_closed"]
    for request in got:
        stamp = request.headers[signing.TIMESTAMP_HEADER.lower()]
        given = request.headers[signing.SIGNATURE_HEADER.lower()]
        assert signing.verify(SECRET, stamp, request.body, given)
        assert not signing.verify("other", stamp, request.body, given)


def test_deliveries_follow_log_order_through_failures(tmp_path: Path) -> None:
    """While the endpoint fails, GET /v1/webhooks says so; once it recovers every event arrives,
    in log order, none skipped."""
    with receiver() as peer:
        server = channel_server(
            tmp_path, CHANNELS.format(url=peer.url, secret=SECRET, attempts=100)
        )
        try:
            _fail_then_recover(server, peer)
        finally:
            server.stop()


def _fail_then_recover(server: Server, peer: Receiver) -> None:
    peer.mode = "fail"
    for n in range(5):
        submit(server.client("intake"), f"o-{n}")
    status = wait_for(lambda: _status(server)["state"] == "failing" and _status(server))
    assert status and status["last_error"].startswith("HTTP 500")
    assert "unirouter_channel_failing" in server.client().get("/metrics").text
    peer.mode = "ok"
    cursors = [e["cursor"] for e in _events(peer, 5)]
    assert len(cursors) >= 5 and cursors == sorted(cursors)
    external = [e["event"]["external_id"] for e in _events(peer, 5)]
    assert [x for i, x in enumerate(external) if x not in external[:i]] == [
        f"o-{n}" for n in range(5)
    ]


def _status(server: Server) -> dict:  # type: ignore[type-arg]
    [hook] = server.client().get("/v1/webhooks").json()["webhooks"]
    return dict(hook)


def test_a_delivery_that_keeps_hanging_goes_to_the_dead_letter_list(hooked: tuple) -> None:  # type: ignore[type-arg]
    """A receiver slower than timeout_s fails every attempt: after max_attempts the event is a
    dead letter and the next events are still delivered."""
    server, peer = hooked
    peer.mode, peer.hang_s = "hang", 1.0
    submit(server.client("intake"), "slow-1")
    dead = wait_for(
        lambda: server.client().get("/v1/webhooks/crm/dead-letters").json()["dead_letters"]
    )
    assert dead and dead[0]["record"]["external_id"] == "slow-1" and dead[0]["attempts"] == 3
    peer.mode = "ok"
    submit(server.client("intake"), "after-1")
    assert any(json.loads(r.body)["event"]["external_id"] == "after-1" for r in peer.wait(1))
    assert _status(server)["dead_letters"] == 1


def test_the_cursor_survives_a_restart(tmp_path: Path) -> None:
    """After a restart the subscription resumes where it was: old events are not sent again."""
    with receiver() as peer:
        server = channel_server(tmp_path, CHANNELS.format(url=peer.url, secret=SECRET, attempts=3))
        for n in range(3):
            submit(server.client("intake"), f"r-{n}")
        assert len(peer.wait(3)) == 3
        wait_for(lambda: _status(server)["cursor"] >= json.loads(peer.answered[-1].body)["cursor"])
        server.stop()
        server = start_server(tmp_path / "u.db", None)
        submit(server.client("intake"), "r-after")
        got = [json.loads(r.body)["event"]["external_id"] for r in peer.wait(4)]
        server.stop()
    assert got == ["r-0", "r-1", "r-2", "r-after"]
