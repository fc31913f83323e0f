"""Inbound email over SMTP (issue 9): a real ``unirouter serve`` with its SMTP listener on
loopback, mail sent by :mod:`smtplib`."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from channel_support import channel_server, log_bodies, mail, messages, send, smtp_port
from server_support import Server

CHANNELS = """
channels:
  attachments_dir: {folder}
  email:
    workstream: email
    address: support@example.test
    domain: example.test
    smtp: {{port: 0, max_bytes: 200000}}
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int, Path]]:
    folder = tmp_path_factory.mktemp("smtp")
    attachments = folder / "attachments"
    server = channel_server(folder, CHANNELS.format(folder=attachments))
    yield server, smtp_port(server), attachments
    server.stop()


def _item_of(answer: tuple[int, bytes]) -> str:
    code, text = answer
    assert code == 250, text
    return text.decode().split(" item ")[1].split()[0]


def test_a_mail_becomes_a_record_item_with_subject_sender_and_body(shared: tuple) -> None:  # type: ignore[type-arg]
    """A mail is an email item of the record workstream, its body the first message."""
    server, port, _ = shared
    item = _item_of(send(port, mail(message_id="<first@example.org>")))
    client = server.client()
    body = client.get(f"/v1/work-items/{item}").json()
    assert (body["workstream"], body["channel"], body["state"]) == ("email", "email", "queued")
    assert body["attributes"]["subject"] == "Printer on fire"
    assert body["customer"]["email"] == "carla@example.org"
    [first] = messages(client, item)
    assert first["sender"] == "customer" and first["text"].strip() == "It is on fire."
    assert first["attributes"]["message_id"] == "first@example.org"


def test_a_repeated_message_id_makes_no_second_item(shared: tuple) -> None:  # type: ignore[type-arg]
    """The same Message-ID delivered twice is one item with one message."""
    server, port, _ = shared
    first = _item_of(send(port, mail(message_id="<twice@example.org>")))
    again = _item_of(send(port, mail(message_id="<twice@example.org>")))
    assert again == first
    assert len(messages(server.client(), first)) == 1


def test_a_reply_by_in_reply_to_is_a_message_on_the_open_item(shared: tuple) -> None:  # type: ignore[type-arg]
    """In-Reply-To naming an item's mail adds a message to that item, not a new item."""
    server, port, _ = shared
    item = _item_of(send(port, mail(message_id="<q1@example.org>")))
    reply = mail("Re: Printer on fire", "Still burning.", message_id="<q2@example.org>",
                 In_Reply_To="<q1@example.org>", References="<q1@example.org>")  # fmt: skip
    assert _item_of(send(port, reply)) == item
    texts = [m["text"].strip() for m in messages(server.client(), item)]
    assert texts == ["It is on fire.", "Still burning."]


def test_a_subject_tag_threads_a_mail_without_headers(shared: tuple) -> None:  # type: ignore[type-arg]
    """``[#ITEM]`` in the subject threads a mail whose client dropped the reply headers."""
    _, port, _ = shared
    item = _item_of(send(port, mail(message_id="<t1@example.org>")))
    tagged = mail(f"Re: Printer [#{item}]", "Any news?", message_id="<t2@example.org>")
    assert _item_of(send(port, tagged)) == item


def test_html_with_scripts_is_stored_as_text(shared: tuple) -> None:  # type: ignore[type-arg]
    """An HTML-only mail's body is its text; scripts and styles are dropped, never stored raw."""
    server, port, _ = shared
    message = EmailMessage()
    message["From"], message["Subject"] = "eve@example.org", "html"
    html = "<html><head><style>p{}</style></head><body><p>Hello <b>there</b></p>"
    message.set_content(html + "<script>alert('x')</script></body></html>", subtype="html")
    item = _item_of(send(port, message))
    [first] = messages(server.client(), item)
    assert "Hello" in first["text"] and "there" in first["text"]
    assert "alert" not in first["text"] and "<" not in first["text"]


def test_attachments_are_metadata_in_the_log_and_bodies_in_the_folder(shared: tuple) -> None:  # type: ignore[type-arg]
    """An attachment's name, type and size are on the message; its bytes only in the folder."""
    server, port, folder = shared
    message = mail(message_id="<att@example.org>")
    secret = b"%PDF-1.4 attachment bytes that must not reach the log " * 20
    message.add_attachment(secret, maintype="application", subtype="pdf", filename="bill.pdf")
    item = _item_of(send(port, message))
    [first] = messages(server.client(), item)
    [meta] = first["attributes"]["attachments"]
    assert (meta["name"], meta["type"], meta["size"]) == (
        "bill.pdf",
        "application/pdf",
        len(secret),
    )
    assert (folder / meta["stored"]).read_bytes() == secret
    assert not any(b"must not reach the log" in body for body in log_bodies(server.db))


def test_a_mail_over_the_size_limit_is_refused_and_changes_nothing(shared: tuple) -> None:  # type: ignore[type-arg]
    """A mail over ``max_bytes`` gets 552 and no item."""
    server, port, _ = shared
    before = len(log_bodies(server.db))
    code, _ = send(port, mail(body="x" * 300_000, message_id="<huge@example.org>"))
    assert code == 552
    assert len(log_bodies(server.db)) == before


def test_a_mail_without_a_sender_is_refused(shared: tuple) -> None:  # type: ignore[type-arg]
    """No From address: 550, nothing written."""
    server, port, _ = shared
    before = len(log_bodies(server.db))
    code, text = send(port, b"Subject: nobody\r\n\r\nhello\r\n")
    assert code == 550 and b"From" in text
    assert len(log_bodies(server.db)) == before


def test_malformed_mime_still_becomes_a_safe_item(shared: tuple) -> None:
    """A broken multipart (no closing boundary, bad charset, bad base64) is a readable item."""
    server, port, _ = shared
    raw = (b"From: mallory@example.org\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\n'
           b"Content-Type: text/plain; charset=no-such-charset\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\r\n")  # fmt: skip
    item = _item_of(send(port, raw))
    assert server.client().get(f"/v1/work-items/{item}").json()["channel"] == "email"
