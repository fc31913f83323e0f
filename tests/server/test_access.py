"""Who reads what (issue 17 item 7): an agent token reads only its own work, and tokens made by
``unirouter token create`` can be listed and revoked, against a real ``unirouter serve``."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import httpx
import websockets.sync.client as ws_client
from server_support import CONFIG, TOKENS, Server, available, run_cli, start_server, submit


def _reads(server: Server, who: str, item_id: str) -> list[int]:
    """The status of every item read route for ``who`` on item ``item_id``."""
    client = server.client(who)
    return [
        client.get(f"/v1/work-items/{item_id}").status_code,
        client.get(f"/v1/work-items/{item_id}/messages").status_code,
        client.get(f"/v1/work-items/{item_id}/messages", params={"wait_s": 0.01}).status_code,
        client.get("/v1/work-items", params={"agent": "bob"}).status_code,
    ]


def _listed(server: Server, who: str, item_id: str) -> bool:
    """Whether any listing an agent token may call shows ``item_id``."""
    client = server.client(who)
    bodies = [client.get("/v1/work-items", params={"state": s}).json() for s in
              ("offered", "assigned", "wrap_up", "closed", "queued")]  # fmt: skip
    bodies += [client.get(f"/v1/queues/{q}/items").json() for q in ("chat_q", "social_q")]
    return any(i["id"] == item_id for body in bodies for i in body["items"])


def test_an_agent_token_reads_no_item_of_another_agent_offered_held_or_closed(
    server: Server,
) -> None:
    """Issue 17 item 7, SPEC §6.3: alice's token gets 403 on bob's item in every state, on every
    item read route, and no listing shows it; her stream carries none of its events."""
    available(server, "bob")
    with ws_client.connect(
        f"{server.ws_url}/v1/agents/alice/stream",
        additional_headers={"Authorization": f"Bearer {TOKENS['alice']}"},
        open_timeout=10,
    ) as stream:
        assert json.loads(stream.recv(timeout=10))["type"] == "hello"
        server.client("admin").put("/v1/agents/alice/presence", json={"presence": "away"})
        item = submit(server.client("intake"), "bobs-1", customer={"id": "c-1", "name": "Zoë"})
        assert item["offer"]["agent"] == "bob"
        assert _reads(server, "alice", item["id"]) == [403] * 4
        assert not _listed(server, "alice", item["id"])
        bob = server.client("bob")
        assert bob.post(f"/v1/offers/{item['offer']['id']}/accept").status_code == 200
        customer = server.client(item["customer_token"])
        customer.post(f"/v1/work-items/{item['id']}/messages", json={"text": "my card number"})
        assert _reads(server, "alice", item["id"]) == [403] * 4
        assert not _listed(server, "alice", item["id"])
        assert bob.post(f"/v1/work-items/{item['id']}/complete").json()["state"] == "wrap_up"
        assert bob.post(f"/v1/work-items/{item['id']}/close").json()["state"] == "closed"
        assert _reads(server, "alice", item["id"]) == [403] * 4
        assert not _listed(server, "alice", item["id"])
        assert bob.get(f"/v1/work-items/{item['id']}").status_code == 200
        marker = server.client("alice").put("/v1/agents/alice/presence",
                                            json={"presence": "available"})  # fmt: skip
        assert marker.status_code == 200
        frames = []
        while not frames or frames[-1].get("event", {}).get("presence") != "available":
            frames.append(json.loads(stream.recv(timeout=10)))
    assert all(item["id"] not in json.dumps(frame) for frame in frames), frames


def test_an_agent_reads_what_its_pick_list_shows_and_nothing_once_another_picks_it(
    server: Server,
) -> None:
    """Issue 17 item 7, R28: a waiting pick-mode item alice may pick is hers to read; once bob
    picks it, it is bob's, and alice gets 403."""
    available(server, "alice", "bob")
    item = submit(server.client("intake"), "pick-1", workstream="social")
    alice = server.client("alice")
    listed = alice.get("/v1/queues/social_q/items").json()["items"]
    assert [i["id"] for i in listed] == [item["id"]]
    assert alice.get(f"/v1/work-items/{item['id']}").status_code == 200
    picked = server.client("bob").post(f"/v1/work-items/{item['id']}/pick")
    assert picked.status_code == 200
    assert alice.get(f"/v1/work-items/{item['id']}").status_code == 403


def test_an_agent_reads_its_own_item_offered_held_and_closed(server: Server) -> None:
    """Issue 17 item 7: the agent's own work stays readable to its token in every state."""
    available(server, "alice")
    item = submit(server.client("intake"), "mine-1")
    alice = server.client("alice")
    assert alice.get(f"/v1/work-items/{item['id']}").status_code == 200
    alice.post(f"/v1/offers/{item['offer']['id']}/accept").raise_for_status()
    alice.post(f"/v1/work-items/{item['id']}/complete", json={"wrap_up": False}).raise_for_status()
    closed = alice.get(f"/v1/work-items/{item['id']}")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"


def _token_ids(db: Path) -> dict[str, str]:
    listed = run_cli("token", "list", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    return {line.split()[-1]: line.split()[0] for line in listed.stdout.splitlines()}


def test_created_tokens_are_listed_and_a_revoked_one_answers_401_at_once_and_after_restart(
    server: Server, config_file: Path
) -> None:
    """Issue 17 item 7, issue 16 item 4: `token list` shows what `token create` made (never the
    token); `token revoke` (CLI, against the running server's store) and `DELETE /v1/tokens/{id}`
    make the token answer 401 on the next request, durably."""
    made = {}
    for name in ("ops", "desk"):
        created = run_cli("token", "create", "--role", "supervisor", "--name", name,
                          "--db", str(server.db))  # fmt: skip
        assert created.returncode == 0, created.stderr
        made[name] = created.stdout.strip()
        assert server.client(made[name]).get("/v1/queues").status_code == 200
    ids = _token_ids(server.db)
    assert set(ids) == {"ops", "desk"}
    assert all(token not in run_cli("token", "list", "--db", str(server.db)).stdout
               for token in made.values())  # fmt: skip
    listed = server.client("admin").get("/v1/tokens").json()
    assert {t["name"]: t["id"] for t in listed} == ids
    assert server.client("supervisor").get("/v1/tokens").status_code == 403

    revoked = run_cli("token", "revoke", ids["ops"], "--db", str(server.db))
    assert revoked.returncode == 0, revoked.stderr
    assert server.client(made["ops"]).get("/v1/queues").status_code == 401
    deleted = server.client("admin").delete(f"/v1/tokens/{ids['desk']}")
    assert deleted.status_code == 200 and deleted.json()["name"] == "desk"
    assert server.client(made["desk"]).get("/v1/queues").status_code == 401
    assert server.client("admin").delete(f"/v1/tokens/{ids['desk']}").status_code == 404
    unknown = run_cli("token", "revoke", ids["desk"], "--db", str(server.db))
    assert unknown.returncode != 0 and "no token" in unknown.stderr
    assert server.client("admin").get("/v1/tokens").json() == []

    server.stop()
    again = start_server(server.db, config_file)
    try:
        for token in made.values():
            assert httpx.get(again.url + "/v1/queues", timeout=10,
                             headers={"Authorization": f"Bearer {token}"}).status_code == 401  # fmt: skip
    finally:
        again.stop()


def test_customer_tokens_are_stored_only_as_hashes(server: Server) -> None:
    """Issue 17 item 7: the store holds the SHA-256 of each customer token, never the token nor a
    key that would make one (older versions kept an HMAC key; it is deleted at start)."""
    item = submit(server.client("intake"), "hashed-1")
    token = item["customer_token"]
    with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT scope, key, value FROM idempotency_keys").fetchall()
    assert ("customer", hashlib.sha256(token.encode()).hexdigest(), item["id"]) in rows
    assert not any(token in f"{s} {k} {v}" for s, k, v in rows)
    assert not any(k == "customer-token-secret" for _, k, _ in rows)
    for path in server.db.parent.glob(server.db.name + "*"):
        assert token.encode() not in path.read_bytes(), path


def test_a_customer_token_stops_working_the_configured_time_after_its_conversation_closed(
    tmp_path: Path,
) -> None:
    """Issue 17 item 7: with ``auth.customer_token_ttl_s: 0`` the customer token answers 401 as
    soon as its conversation is closed; an open conversation's token keeps working."""
    config = tmp_path / "ttl.yaml"
    config.write_text(
        CONFIG.replace("auth:\n  tokens:", "auth:\n  customer_token_ttl_s: 0\n  tokens:")
    )
    server = start_server(tmp_path / "ttl.db", config)
    try:
        intake = server.client("intake")
        closing, staying = submit(intake, "ttl-1"), submit(intake, "ttl-2")
        for item in (closing, staying):
            customer = server.client(item["customer_token"])
            assert customer.get(f"/v1/work-items/{item['id']}/messages").status_code == 200
        cancelled = intake.post(f"/v1/work-items/{closing['id']}/cancel")
        assert cancelled.json()["state"] == "closed"
        gone = server.client(closing["customer_token"])
        assert gone.get(f"/v1/work-items/{closing['id']}/messages").status_code == 401
        assert gone.post(f"/v1/work-items/{closing['id']}/messages",
                         json={"text": "hello?"}).status_code == 401  # fmt: skip
        still = server.client(staying["customer_token"])
        assert still.get(f"/v1/work-items/{staying['id']}/messages").status_code == 200
    finally:
        server.stop()


def test_a_customer_token_keeps_working_within_the_default_time_after_close(
    server: Server,
) -> None:
    """Issue 17 item 7: by default a customer reads its closed conversation for a day."""
    intake = server.client("intake")
    item = submit(intake, "ttl-default")
    intake.post(f"/v1/work-items/{item['id']}/cancel").raise_for_status()
    customer = server.client(item["customer_token"])
    assert customer.get(f"/v1/work-items/{item['id']}/messages").status_code == 200
