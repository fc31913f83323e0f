"""Readable traces and the audit trail over the API (issue 16 item 3, R43) against a real
``unirouter serve``: transfer and force-assign entries name who did them, every logged command
carries its actor (the token name), and ``GET /v1/audit`` reads them back."""

from __future__ import annotations

from server_support import Server, available, submit


def test_transfer_and_force_assign_entries_name_who_did_them(server: Server) -> None:
    """R43, R31: the trace's transfer and force_assign entries carry the token name of who asked."""
    item = submit(server.client("intake"), "a-1")
    supervisor = server.client("supervisor")
    moved = supervisor.post(f"/v1/work-items/{item['id']}/transfer", json={"queue": "other_chat"})
    assert moved.status_code == 200, moved.text
    forced = server.client("admin").post(f"/v1/work-items/{item['id']}/assign",
                                          json={"agent": "alice"})  # fmt: skip
    trace = forced.json()["trace"]
    [transfer] = [e for e in trace if e["stage"] == "transfer"]
    assert (transfer["to_queue"], transfer["by"]) == ("other_chat", "supervisor")
    [assign] = [e for e in trace if e["stage"] == "force_assign"]
    assert (assign["agent"], assign["by"]) == ("alice", "admin")


def test_logged_commands_carry_their_actor_and_the_audit_lists_them(server: Server) -> None:
    """R43: GET /v1/audit lists who ran each command; filters by actor, item and command."""
    item = submit(server.client("intake"), "a-2")
    available(server, "alice")
    alice = server.client("alice")
    offer = alice.get("/v1/agents/alice").json()["offers"][0]
    assert alice.post(f"/v1/offers/{offer['id']}/accept").status_code == 200
    entries = server.client("supervisor").get("/v1/audit").json()["entries"]
    by_op = {(e["op"], e["actor"]) for e in entries}
    assert {("submit", "intake"), ("presence", "admin"), ("accept", "alice")} <= by_op
    init = next(e for e in entries if e["op"] == "init")
    assert init["actor"] is None and init["args"]["config"] == "(the whole configuration)"
    mine = server.client("admin").get("/v1/audit", params={"item": item["id"]}).json()
    assert [e["op"] for e in mine["entries"]] == ["submit"]
    assert mine["entries"][0]["args"]["external_id"] == "a-2"
    accepted = server.client("admin").get("/v1/audit", params={"actor": "alice"}).json()
    assert [e["op"] for e in accepted["entries"]] == ["accept"]
    page = server.client("admin").get("/v1/audit", params={"limit": 1}).json()
    after = server.client("admin").get("/v1/audit", params={"after": page["next_after"]}).json()
    assert after["entries"][0]["cursor"] > page["entries"][0]["cursor"]


def test_the_audit_is_for_admins_and_supervisors(server: Server) -> None:
    """SPEC §6.3: agents and intake tokens may not read the audit trail."""
    assert server.client("alice").get("/v1/audit").status_code == 403
    assert server.client("intake").get("/v1/audit").status_code == 403
    assert server.client(None).get("/v1/audit").status_code == 401
