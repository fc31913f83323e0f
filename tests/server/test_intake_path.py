"""The per-intake path (issue 10 item 3) against a real ``unirouter serve``: one group commit per
intake with its customer token in it, commits shared by concurrent intakes, and nothing weakened
(a repeat, a bad body, the token's reach)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from server_support import Server, submit


def _commits(server: Server) -> int:
    """The store's group commits so far (``unirouter_store_commits_total`` on ``/metrics``)."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    found = re.search(r"^unirouter_store_commits_total (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return int(float(found.group(1)))


def test_r1_a_new_conversation_and_its_customer_token_take_one_commit(server: Server) -> None:
    """R1: a new conversation's intake writes the item and its customer token in one group
    commit (the token's hash rides the item's append), and the token reaches the item as soon
    as the 201 is answered."""
    submit(server.client("intake"), "warm-1")
    before = _commits(server)
    item = submit(server.client("intake"), "one-commit-1", customer={"id": "c-1"})
    assert _commits(server) - before == 1
    customer = server.client(item["customer_token"])
    assert customer.get(f"/v1/work-items/{item['id']}/messages").status_code == 200


def test_r1_a_repeated_conversation_intake_still_gets_a_working_token(server: Server) -> None:
    """R1: a repeat answers 200 with the same item and a fresh token, which works too (it is
    stored on its own: a repeat appends nothing)."""
    intake = server.client("intake")
    first = submit(intake, "repeat-1")
    again = intake.post("/v1/work-items", json={"external_id": "repeat-1", "workstream": "chat"})
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    token = again.json()["customer_token"]
    assert token != first["customer_token"]
    for each in (first["customer_token"], token):
        reached = server.client(each).get(f"/v1/work-items/{first['id']}/messages")
        assert reached.status_code == 200


def test_r1_concurrent_intakes_share_group_commits(server: Server) -> None:
    """R1 under load: 32 intakes in flight at once need fewer commits than intakes (each one's
    records and token in one write, and writes that wait for a commit share the next one)."""
    submit(server.client("intake"), "warm-2")
    before = _commits(server)
    clients = [server.client("intake") for _ in range(32)]

    def post(n: int) -> int:
        body = {"external_id": f"burst-{n}", "workstream": "chat"}
        return clients[n % 32].post("/v1/work-items", json=body).status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(post, range(128)))
    assert statuses == [201] * 128
    assert _commits(server) - before < 128


def test_an_intake_with_a_flawed_body_is_refused_naming_the_field(server: Server) -> None:
    """Issue 17 checks stay at the edge: a lone surrogate in an attribute is a 422 naming the
    field, and nothing is created (the host no longer walks the intake's args a second time)."""
    intake = server.client("intake")
    raw = '{"external_id": "flawed-1", "workstream": "chat", "attributes": {"note": "\\ud800"}}'
    refused = intake.post("/v1/work-items", content=raw,
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "attributes.note"
    listed = server.client("admin").get("/v1/work-items").json()["items"]
    assert all(i["external_id"] != "flawed-1" for i in listed)


def test_pooled_random_bytes_are_never_handed_out_twice_nor_to_a_forked_child() -> None:
    """Item ids and tokens take their random bytes from a pool read from the OS a block at a
    time: every draw is fresh, and a child forked with bytes left in the pool reads its own
    (it never hands out bytes its parent will)."""
    import os

    from unirouter.server import _entropy

    draws = [_entropy.token_bytes(32) for _ in range(3 * _entropy.BLOCK // 32)]
    assert len(set(draws)) == len(draws) and all(len(d) == 32 for d in draws)
    assert len(_entropy.token_urlsafe(32)) == 43
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first draw, then out without running anything else
        os.write(write, _entropy.token_bytes(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != _entropy.token_bytes(32)
