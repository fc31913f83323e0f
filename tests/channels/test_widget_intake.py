"""The chat widget's door (issue 8 item 5): ``/v1/widget/conversations`` opens a chat with the
deployment's widget key under rate limits, and everything after that uses the conversation's
customer token alone (SPEC §6.3), against a real ``unirouter serve``."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from channel_support import channel_server, messages
from server_support import Server

from unirouter import config
from unirouter.errors import ConfigError

KEY = "wk_test_key_0123456789"
WIDGET = """
channels:
  widget: {{workstream: chat, key: {key}, per_minute: {per_minute}}}
"""


def _server(folder: Path, per_minute: int = 100) -> Server:
    return channel_server(folder, WIDGET.format(key=KEY, per_minute=per_minute))


@pytest.fixture(scope="module")
def widget(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _server(tmp_path_factory.mktemp("widget"))
    yield server
    server.stop()


def _open(server: Server, key: str | None = KEY, **body: Any) -> httpx.Response:
    headers = {} if key is None else {"X-Widget-Key": key}
    chat = {"conversation": uuid.uuid4().hex, "name": "Chloé Durand", "text": "Hello?", **body}
    return httpx.post(f"{server.url}/v1/widget/conversations", json=chat, headers=headers)


def _count(server: Server) -> int:
    return len(server.client().get("/v1/work-items", params={"limit": 1000}).json()["items"])


def test_a_chat_needs_the_widget_key_and_a_refused_one_changes_nothing(widget: Server) -> None:
    """No key or a wrong key: 401 naming X-Widget-Key, and no item is made."""
    before = _count(widget)
    for key in (None, "wk_wrong"):
        refused = _open(widget, key=key)
        assert refused.status_code == 401, refused.text
        assert refused.json()["field"] == "X-Widget-Key"
    bad = _open(widget, conversation="short")
    assert bad.status_code == 422 and "conversation" in bad.text
    assert _count(widget) == before


def test_a_chat_opens_with_its_first_message_and_a_retry_returns_it(widget: Server) -> None:
    """201 with the customer token once durable; the same ``conversation`` again answers 200 with
    the same chat and no second item; the first message is the customer's."""
    conversation = uuid.uuid4().hex
    opened = _open(widget, conversation=conversation)
    assert opened.status_code == 201, opened.text
    chat = opened.json()
    again = _open(widget, conversation=conversation)
    assert again.status_code == 200 and again.json()["id"] == chat["id"]
    repeated = widget.client(again.json()["customer_token"])  # a fresh token, as every intake's
    assert repeated.get(f"/v1/widget/conversations/{chat['id']}").status_code == 200
    customer = widget.client(chat["customer_token"])
    [first] = customer.get(f"/v1/work-items/{chat['id']}/messages").json()["messages"]
    assert (first["sender"], first["text"]) == ("customer", "Hello?")
    item = widget.client().get(f"/v1/work-items/{chat['id']}").json()
    assert (item["channel"], item["customer"]["name"]) == ("web", "Chloé Durand")


def test_the_customer_token_reaches_its_chat_and_nothing_else(widget: Server) -> None:
    """SPEC §6.3: the token reads its chat's status and messages, not the item itself, not
    another chat, not the API at large."""
    mine, other = _open(widget).json(), _open(widget).json()
    customer = widget.client(mine["customer_token"])
    assert customer.get(f"/v1/widget/conversations/{mine['id']}").status_code == 200
    assert customer.get(f"/v1/widget/conversations/{other['id']}").status_code == 401
    assert customer.get(f"/v1/work-items/{other['id']}/messages").status_code == 401
    assert customer.get(f"/v1/work-items/{mine['id']}").status_code == 403
    assert customer.get("/v1/queues").status_code == 401
    assert customer.post(f"/v1/widget/conversations/{other['id']}/end").status_code == 401


def test_a_waiting_customer_sees_the_place_in_the_queue_and_the_wait(widget: Server) -> None:
    """With nobody available the chats queue: the later one is one place behind, with an
    estimated wait, and moves up when the earlier customer leaves."""
    admin = widget.client()
    admin.put("/v1/agents/alice/presence", json={"presence": "away"}).raise_for_status()
    try:
        first, second = _open(widget).json(), _open(widget).json()
        place = first["position"]
        status = widget.client(second["customer_token"]).get(
            f"/v1/widget/conversations/{second['id']}"
        )
        body = status.json()
        assert (body["state"], body["position"]) == ("queued", place + 1), body
        assert "ewt_s" in body and body["agent_name"] is None
        ended = widget.client(first["customer_token"]).post(
            f"/v1/widget/conversations/{first['id']}/end"
        )
        assert ended.json()["state"] == "closed" and ended.json()["close_reason"] == "abandoned"
        after = widget.client(second["customer_token"]).get(
            f"/v1/widget/conversations/{second['id']}"
        )
        assert after.json()["position"] == place
        widget.client(second["customer_token"]).post(f"/v1/widget/conversations/{second['id']}/end")
    finally:
        admin.put("/v1/agents/alice/presence", json={"presence": "available"}).raise_for_status()


def test_ending_a_chat_with_an_agent_tells_the_agent_once(widget: Server) -> None:
    """Assigned: the end leaves one last message marked ended for the agent, who closes the chat;
    ending again changes nothing."""
    chat = _open(widget).json()
    admin = widget.client()
    admin.post(f"/v1/work-items/{chat['id']}/assign", json={"agent": "alice"}).raise_for_status()
    customer = widget.client(chat["customer_token"])
    status = customer.get(f"/v1/widget/conversations/{chat['id']}").json()
    assert (status["state"], status["agent_name"]) == ("assigned", "alice")
    for _ in range(2):
        ended = customer.post(f"/v1/widget/conversations/{chat['id']}/end").json()
        assert ended["ended"] and ended["state"] == "assigned"
    said = messages(admin, chat["id"])
    assert [m["attributes"].get("widget") for m in said] == [None, "ended"]
    admin.post(f"/v1/work-items/{chat['id']}/close").raise_for_status()


def test_new_chats_are_rate_limited_per_address(tmp_path: Path) -> None:
    """``per_minute: 2``: the third new chat from one address is 429 with Retry-After and makes
    nothing; a retry of an admitted chat still answers it."""
    server = _server(tmp_path, per_minute=2)
    try:
        conversation = uuid.uuid4().hex
        assert _open(server, conversation=conversation).status_code == 201
        assert _open(server).status_code == 201
        refused = _open(server)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert _open(server, conversation=conversation).status_code == 200
        assert _count(server) == 2
    finally:
        server.stop()


def test_r41_the_widget_opens_conversations_only() -> None:
    """A widget on a record workstream is an issue at its path; a bad origin at its index."""
    base: dict[str, Any] = {
        "workstreams": {"mail": {"kind": "record", "fallback_queue": "mail_q"}},
        "queues": {"mail_q": {"kind": "record"}},
        "channels": {"widget": {"workstream": "mail", "key": "k", "origins": ["example.org"]}},
    }
    with pytest.raises(ConfigError) as raised:
        config.validate(base)
    paths = {issue.path for issue in raised.value.issues}
    assert {"channels.widget.workstream", "channels.widget.origins[0]"} <= paths


def test_a_long_poll_whose_customer_left_does_not_hold_up_a_stop(tmp_path: Path) -> None:
    """A widget's long poll (``wait_s``) ends when its client goes away, so a server with a
    customer who closed the page still stops at once on SIGTERM instead of waiting out the poll
    (``stop`` allows 20 s; the poll asks for 60)."""
    server = _server(tmp_path)
    try:
        chat = _open(server).json()
        host, port = server.url.removeprefix("http://").split(":")
        path = f"/v1/work-items/{chat['id']}/messages?after=1&wait_s=60"
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                   f"Authorization: Bearer {chat['customer_token']}\r\n\r\n")  # fmt: skip
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(request.encode())
            assert server.client().get("/healthz").status_code == 200  # the poll is in
    finally:
        assert server.stop() == 0


def test_a_repeated_chat_stays_a_repeat_after_its_item_left_memory(tmp_path: Path) -> None:
    """Issue 17 item 8: with two closed items kept in memory, re-opening the first of three ended
    chats creates nothing (409 naming the conversation and its item): the intake key is durable."""
    server = channel_server(tmp_path, WIDGET.format(key=KEY, per_minute=100),
                            "--retain-closed", "2")  # fmt: skip
    try:
        ids = [uuid.uuid4().hex for _ in range(3)]
        items = []
        for conversation in ids:
            chat = _open(server, conversation=conversation).json()
            items.append(chat["id"])
            ended = server.client(chat["customer_token"]).post(
                f"/v1/widget/conversations/{chat['id']}/end")  # fmt: skip
            assert ended.status_code == 200, ended.text
        count = _count(server)
        again = _open(server, conversation=ids[0])
        assert again.status_code == 409, again.text
        assert again.json()["field"] == "conversation" and again.json()["item"] == items[0]
        assert _count(server) == count
    finally:
        server.stop()
