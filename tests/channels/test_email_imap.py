"""Inbound email by IMAP polling (issue 9) against a real dovecot on loopback: mail put in the
Maildir becomes items, is flagged seen only once durable, and IDLE wakes the poller at once."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from channel_support import channel_server, mail, messages, wait_for
from dovecot import PASSWORD, USER, Dovecot, dovecot
from server_support import Server

CHANNELS = """
channels:
  attachments_dir: {folder}
  email:
    workstream: email
    address: {user}
    imap: {{host: 127.0.0.1, port: {port}, security: none, user: {user},
            password: "env:TEST_IMAP_PASSWORD", poll_s: {poll}}}
"""


@pytest.fixture
def mailbox() -> Iterator[Dovecot]:
    with dovecot() as server:
        yield server


def _serve(tmp_path: Path, box: Dovecot, poll_s: float, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)
    text = CHANNELS.format(folder=tmp_path / "a", user=USER, port=box.port, poll=poll_s)
    return channel_server(tmp_path, text)


def _email_items(server: Server) -> list[dict]:  # type: ignore[type-arg]
    items = server.client().get("/v1/work-items", params={"limit": 1000}).json()["items"]
    return [i for i in items if i["channel"] == "email"]


def _unseen(box: Dovecot) -> int:
    client = imaplib.IMAP4("127.0.0.1", box.port)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    _, data = client.uid("SEARCH", "UNSEEN")
    client.logout()
    return len((data[0] or b"").split())


def test_mail_in_the_mailbox_becomes_items_and_is_flagged_seen(
    tmp_path: Path, mailbox: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mail waiting before the start, and a reply after it, are taken; all end up seen."""
    mailbox.deliver("one", mail(message_id="<imap-1@example.org>").as_bytes())
    server = _serve(tmp_path, mailbox, 60, monkeypatch)
    try:
        [item] = wait_for(lambda: _email_items(server), timeout=20)
        assert item["attributes"]["subject"] == "Printer on fire"
        reply = mail("Re: Printer on fire", "More smoke.", message_id="<imap-2@example.org>",
                     In_Reply_To="<imap-1@example.org>")  # fmt: skip
        mailbox.deliver("two", reply.as_bytes())
        # IDLE: the push wakes the poller before poll_s (60 s) would.
        assert wait_for(lambda: len(messages(server.client(), item["id"])) == 2, timeout=20)
        assert wait_for(lambda: _unseen(mailbox) == 0, timeout=20)
        assert server.client().get("/v1/channels").json()["email"]["imap"]["idle"] is True
    finally:
        server.stop()


def test_a_mail_fetched_again_after_a_restart_is_not_doubled(
    tmp_path: Path, mailbox: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail the server took but did not flag (its flag lost) is fetched again and recognised by
    its Message-ID: still one item."""
    mailbox.deliver("one", mail(message_id="<again@example.org>").as_bytes())
    server = _serve(tmp_path, mailbox, 60, monkeypatch)
    assert wait_for(lambda: _email_items(server)) and wait_for(
        lambda: _unseen(mailbox) == 0, timeout=20
    )
    server.stop()
    client = imaplib.IMAP4("127.0.0.1", mailbox.port)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    client.uid("STORE", "1:*", "-FLAGS", "(\\Seen)")
    client.logout()
    server = _serve(tmp_path, mailbox, 60, monkeypatch)
    try:
        assert wait_for(lambda: _unseen(mailbox) == 0, timeout=20)
        assert len(_email_items(server)) == 1
    finally:
        server.stop()
