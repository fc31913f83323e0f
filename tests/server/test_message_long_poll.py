"""The customer side of a conversation gets the agent's messages live (SPEC §6.3: messages are
"pushed live to the other side"): ``GET …/messages?after=N&wait_s=S`` returns as soon as the next
message is durable, and after ``wait_s`` with nothing when none comes."""

from __future__ import annotations

import threading
import time

from server_support import Server, available, submit


def test_a_waiting_customer_gets_the_agents_reply_as_soon_as_it_is_durable(server: Server) -> None:
    available(server, "alice")
    item = submit(server.client("intake"), "poll-1")
    server.client("alice").post(f"/v1/offers/{item['offer']['id']}/accept")
    customer = server.client(item["customer_token"])
    got: dict[str, object] = {}

    def wait() -> None:
        started = time.monotonic()
        got["answer"] = customer.get(
            f"/v1/work-items/{item['id']}/messages", params={"after": 0, "wait_s": 8}
        ).json()
        got["seconds"] = time.monotonic() - started

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive(), "the long poll returned before any message existed"
    reply = server.client("alice").post(
        f"/v1/work-items/{item['id']}/messages", json={"text": "hello, I am Alice"}
    )
    assert reply.status_code == 201
    waiter.join(timeout=10)
    answer = got["answer"]
    assert isinstance(answer, dict)
    assert [m["text"] for m in answer["messages"]] == ["hello, I am Alice"]
    assert isinstance(got["seconds"], float) and got["seconds"] < 7.5


def test_a_long_poll_with_nothing_new_returns_empty_after_its_wait(server: Server) -> None:
    item = submit(server.client("intake"), "poll-2")
    customer = server.client(item["customer_token"])
    started = time.monotonic()
    answer = customer.get(
        f"/v1/work-items/{item['id']}/messages", params={"after": 0, "wait_s": 0.5}
    )
    assert answer.status_code == 200 and answer.json()["messages"] == []
    assert time.monotonic() - started >= 0.45


def test_messages_already_there_return_at_once_and_wait_s_is_bounded(server: Server) -> None:
    item = submit(server.client("intake"), "poll-3")
    customer = server.client(item["customer_token"])
    customer.post(f"/v1/work-items/{item['id']}/messages", json={"text": "anyone?"})
    started = time.monotonic()
    seen = customer.get(f"/v1/work-items/{item['id']}/messages", params={"wait_s": 30})
    assert [m["text"] for m in seen.json()["messages"]] == ["anyone?"]
    assert time.monotonic() - started < 5
    too_long = customer.get(f"/v1/work-items/{item['id']}/messages", params={"wait_s": 3600})
    assert too_long.status_code == 422 and too_long.json()["field"] == "wait_s"
