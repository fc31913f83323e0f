"""STARTTLS on the SMTP listener (issue 9): a real ``unirouter serve`` with a certificate from a
test certificate authority (trustme), mail sent by :mod:`smtplib` over the upgraded connection,
and a listener that requires TLS refusing mail sent in clear."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator

import pytest
import trustme
from channel_support import channel_server, mail, messages, smtp_port
from server_support import Server

CHANNELS = """
channels:
  email:
    workstream: email
    address: support@example.test
    domain: example.test
    smtp:
      port: 0
      starttls: {{cert: {cert}, key: {key}}}
      require_starttls: true
"""


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, int, ssl.SSLContext]]:
    folder = tmp_path_factory.mktemp("starttls")
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    server = channel_server(folder, CHANNELS.format(cert=cert, key=key))
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    yield server, smtp_port(server), client_context
    server.stop()


def test_a_mail_sent_after_starttls_becomes_an_item(tls_server: tuple) -> None:  # type: ignore[type-arg]
    """EHLO offers STARTTLS; after the upgrade (the certificate checked against the test CA) the
    mail is accepted with 250 once durable, as in clear."""
    server, port, context = tls_server
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=context)
        assert code == 220
        client.ehlo()
        client.mail("carla@example.org")
        client.rcpt("support@example.test")
        code, text = client.data(mail(message_id="<tls@example.org>").as_bytes())
        assert code == 250, text
    item = text.decode().split(" item ")[1].split()[0]
    [first] = messages(server.client(), item)
    assert first["attributes"]["message_id"] == "tls@example.org"
    assert _email_items(server) == [item]


def test_a_listener_requiring_tls_refuses_mail_in_clear(tls_server: tuple) -> None:  # type: ignore[type-arg]
    """require_starttls: MAIL before STARTTLS is refused (530) and nothing is stored."""
    server, port, _ = tls_server
    before = _email_items(server)
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo()
        code, text = client.mail("carla@example.org")
        assert code == 530, text
        assert b"STARTTLS" in text.upper()
    assert _email_items(server) == before


def _email_items(server: Server) -> list[str]:
    items = server.client().get("/v1/work-items", params={"limit": 1000}).json()["items"]
    return [i["id"] for i in items if i["channel"] == "email"]
