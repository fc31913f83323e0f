"""Agents' replies to email go out by SMTP with threading headers (issue 9), to a real SMTP
server (aiosmtpd) on loopback; the customer's answer to such a reply threads back to the item."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from channel_support import channel_server, mail, messages, send, smtp_port, wait_for
from peers import SmtpSink, smtp_sink
from server_support import Server

CHANNELS = """
channels:
  attachments_dir: {folder}
  email:
    workstream: email
    address: support@example.test
    domain: example.test
    smtp: {{port: 0}}
    outbound: {{host: 127.0.0.1, port: {sink}, security: none}}
"""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Server, int, SmtpSink]]:
    with smtp_sink() as sink:
        server = channel_server(tmp_path, CHANNELS.format(folder=tmp_path / "a", sink=sink.port))
        yield server, smtp_port(server), sink
        server.stop()


def _bob_takes(server: Server, item: str) -> None:
    """bob (the email queue's member) comes available and accepts the offer."""
    server.client("bob").put("/v1/agents/bob/presence", json={"presence": "available"})
    offer = wait_for(lambda: server.client().get(f"/v1/work-items/{item}").json()["offer"])
    assert server.client("bob").post(f"/v1/offers/{offer['id']}/accept").status_code == 200


def test_a_reply_is_sent_with_threading_headers(rig: tuple) -> None:  # type: ignore[type-arg]
    """bob's message on an email item is a mail to the customer: Re: subject with the item's tag,
    In-Reply-To and References naming the customer's mail, a stable Message-ID."""
    server, port, sink = rig
    _, text = send(port, mail(message_id="<ask@example.org>"))
    item = text.decode().split(" item ")[1].split()[0]
    _bob_takes(server, item)
    posted = server.client("bob").post(
        f"/v1/work-items/{item}/messages", json={"text": "Use water."}
    )
    assert posted.status_code == 201, posted.text
    [reply] = sink.wait(1)
    assert reply["To"] == "carla@example.org" and reply["From"] == "support@example.test"
    assert reply["Subject"] == f"Re: Printer on fire [#{item}]"
    assert reply["In-Reply-To"] == "<ask@example.org>"
    assert "<ask@example.org>" in reply["References"]
    assert reply["Message-ID"] == f"<{item}.2.reply@example.test>"
    assert reply.get_content().strip() == "Use water."


def test_the_customers_answer_to_a_reply_threads_back(rig: tuple) -> None:  # type: ignore[type-arg]
    """A mail answering our reply's Message-ID (no tag in its subject) joins the same item."""
    server, port, sink = rig
    _, text = send(port, mail(message_id="<ask2@example.org>"))
    item = text.decode().split(" item ")[1].split()[0]
    _bob_takes(server, item)
    server.client("bob").post(f"/v1/work-items/{item}/messages", json={"text": "Try again?"})
    [reply] = sink.wait(1)
    answer = mail("Thanks", "It worked.", message_id="<ans@example.org>",
                  In_Reply_To=reply["Message-ID"])  # fmt: skip
    _, again = send(port, answer)
    assert f"item {item} " in again.decode()
    assert [m["sender"] for m in messages(server.client(), item)] == [
        "customer",
        "agent",
        "customer",
    ]


def test_a_mail_to_a_closed_item_opens_a_follow_up_for_the_same_agent(rig: tuple) -> None:  # type: ignore[type-arg]
    """Records are never parked (R34): a reply to a closed item is a new item that follows it and
    prefers the agent who had it (R30)."""
    server, port, _ = rig
    _, text = send(port, mail(message_id="<old@example.org>"))
    item = text.decode().split(" item ")[1].split()[0]
    _bob_takes(server, item)
    assert server.client("bob").post(f"/v1/work-items/{item}/close").status_code == 200
    _, again = send(port, mail("Re: Printer on fire", "Again!", message_id="<new@example.org>",
                               In_Reply_To="<old@example.org>"))  # fmt: skip
    follow = again.decode().split(" item ")[1].split()[0]
    assert follow != item
    body = server.client().get(f"/v1/work-items/{follow}").json()
    assert body["attributes"]["follows"] == item and body["preferred_agents"] == ["bob"]
