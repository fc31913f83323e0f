"""The rules an API user sees, probed over HTTP against a real server on loopback (issue 11).

Offers and their answers (R23–R25), decline limits (R25), pick conflicts (R28), transfers and
force-assign (R31) and presence automation (R32), each judged by what the API answers, next to the
engine-level rule tests and the command-line probe in ``tests/spec/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_support import TOKENS, Server, _sha, start_server, submit

CONFIG = f"""
workstreams:
  chat:
    kind: messaging
    capacity: {{units: 60}}
    offer: {{timeout_s: 600, max_declines_per_agent: 2}}
    wrap_up: {{block: none}}
    fallback_queue: chat_q
    route_to_queue: [{{when: "true", queue: chat_q}}]
  social: {{kind: messaging, mode: pick, capacity: {{units: 10}}, fallback_queue: social_q}}
queues:
  chat_q: {{kind: messaging, members: [alice, bob]}}
  other_chat: {{kind: messaging, members: [bob]}}
  social_q: {{kind: messaging, members: [alice, bob]}}
agents: {{alice: {{}}, bob: {{}}}}
auth:
  tokens:
    - {{name: supervisor, role: supervisor, sha256: {_sha(TOKENS["supervisor"])}}}
    - {{name: intake, role: intake, sha256: {_sha(TOKENS["intake"])}}}
    - {{name: alice, role: agent, agent: alice, sha256: {_sha(TOKENS["alice"])}}}
    - {{name: bob, role: agent, agent: bob, sha256: {_sha(TOKENS["bob"])}}}
"""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Server]:
    """A real server on this configuration, alice available and bob away (their own calls)."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    started = start_server(tmp_path / "u.db", config)
    try:
        presence(started, "alice", "available")
        presence(started, "bob", "away")
        yield started
    finally:
        started.stop()


def presence(server: Server, agent: str, value: str) -> dict[str, Any]:
    response = server.client(agent).put(f"/v1/agents/{agent}/presence", json={"presence": value})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def item(server: Server, ident: str) -> dict[str, Any]:
    body: dict[str, Any] = server.client("supervisor").get(f"/v1/work-items/{ident}").json()
    return body


def agent(server: Server, name: str) -> dict[str, Any]:
    body: dict[str, Any] = server.client("supervisor").get(f"/v1/agents/{name}").json()
    return body


def test_r23_r24_an_offer_is_accepted_once_by_its_own_agent(api: Server) -> None:
    """R23: the offer expires timeout_s after it is made; R24: only alice may accept it, once."""
    made = submit(api.client("intake"), "c1")
    offer = item(api, made["id"])["offer"]
    assert offer["agent"] == "alice"
    assert offer["expires_at"] - offer["made_at"] == pytest.approx(600)
    assert api.client("bob").post(f"/v1/offers/{offer['id']}/accept").status_code == 403
    assert api.client("alice").post(f"/v1/offers/{offer['id']}/accept").status_code == 200
    again = api.client("alice").post(f"/v1/offers/{offer['id']}/accept")
    assert again.status_code == 409 and again.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert item(api, made["id"])["state"] == "assigned"


def test_r25_the_sole_agent_is_not_offered_the_item_after_max_declines(api: Server) -> None:
    """R25: alice declines twice (max_declines_per_agent: 2) and is not offered it a third time;
    the item waits until bob comes, and goes to him."""
    made = submit(api.client("intake"), "c1")
    for _ in range(2):
        offer = item(api, made["id"])["offer"]
        assert offer is not None and offer["agent"] == "alice"
        declined = api.client("alice").post(
            f"/v1/offers/{offer['id']}/decline", json={"reason": "busy"}
        )
        assert declined.status_code == 200, declined.text
    assert item(api, made["id"])["offer"] is None and item(api, made["id"])["state"] == "queued"
    presence(api, "bob", "available")
    assert item(api, made["id"])["offer"]["agent"] == "bob"


def test_r28_two_agents_picking_one_item_at_once_exactly_one_wins(api: Server) -> None:
    """R28: alice and bob pick the same item concurrently: one 200, one 409 conflict."""
    presence(api, "bob", "available")
    made = submit(api.client("intake"), "s1", "social")
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def pick(who: str) -> None:
        with api.client(who) as client:
            barrier.wait()
            answers.append(client.post(f"/v1/work-items/{made['id']}/pick", json={}).status_code)

    threads = [threading.Thread(target=pick, args=(who,)) for who in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(answers) == [200, 409]
    assert item(api, made["id"])["state"] == "assigned"


def test_r31_a_supervisor_transfer_to_a_queue_frees_the_agent_at_once(api: Server) -> None:
    """R31: transferred to other_chat, alice's units are free at once and the item waits there."""
    made = submit(api.client("intake"), "c1")
    offer = item(api, made["id"])["offer"]
    assert api.client("alice").post(f"/v1/offers/{offer['id']}/accept").status_code == 200
    assert agent(api, "alice")["used_units"] == 60
    moved = api.client("supervisor").post(
        f"/v1/work-items/{made['id']}/transfer", json={"queue": "other_chat"}
    )
    assert moved.status_code == 200, moved.text
    assert agent(api, "alice")["used_units"] == 0
    assert (item(api, made["id"])["queue"], item(api, made["id"])["agent"]) == ("other_chat", None)


def test_r31_force_assign_exceeds_capacity_and_sets_busy_dnd(api: Server) -> None:
    """R31: a second 60-unit chat forced on alice (100 units): 120 used, free units negative,
    presence busy_dnd; an agent token may not force-assign (403)."""
    first = submit(api.client("intake"), "c1")
    offer = item(api, first["id"])["offer"]
    api.client("alice").post(f"/v1/offers/{offer['id']}/accept")
    second = submit(api.client("intake"), "c2")
    path = f"/v1/work-items/{second['id']}/assign"
    assert api.client("alice").post(path, json={"agent": "alice"}).status_code == 403
    assert api.client("supervisor").post(path, json={"agent": "alice"}).status_code == 200
    alice = agent(api, "alice")
    assert (alice["used_units"], alice["free_units"], alice["presence"]) == (120, -20, "busy_dnd")
    assert item(api, second["id"])["state"] == "assigned"


def test_r32_presence_follows_capacity_and_a_manual_away_sticks(api: Server) -> None:
    """R32: a manual available lasts until the accept, then busy (60 of 100 used); close →
    available; a manual away survives a close."""
    made = submit(api.client("intake"), "c1")
    offer = item(api, made["id"])["offer"]
    assert (
        agent(api, "alice")["presence"] == "available"
    )  # her manual available lasts until an accept
    api.client("alice").post(f"/v1/offers/{offer['id']}/accept")
    assert agent(api, "alice")["presence"] == "busy"  # 60 of 100 units used
    api.client("alice").post(f"/v1/work-items/{made['id']}/close")
    assert agent(api, "alice")["presence"] == "available"
    second = submit(api.client("intake"), "c2")
    offer = item(api, second["id"])["offer"]
    api.client("alice").post(f"/v1/offers/{offer['id']}/accept")
    presence(api, "alice", "away")
    closed = api.client("alice").post(f"/v1/work-items/{second['id']}/close")
    assert closed.status_code == 200, closed.text
    assert agent(api, "alice")["presence"] == "away"


def test_an_agent_cannot_act_for_another_agent(api: Server) -> None:
    """SPEC §6.3: an agent token setting another agent's presence gets 403 and changes nothing."""
    response = api.client("alice").put("/v1/agents/bob/presence", json={"presence": "available"})
    assert response.status_code == 403
    assert agent(api, "bob")["presence"] == "away"
