"""Helpers of the channel tests: a server whose configuration adds ``channels:`` sections."""

from __future__ import annotations

import email.policy
import smtplib
import sqlite3
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from server_support import CONFIG, Server, available, start_server

__all__ = ["channel_server", "log_bodies", "mail", "messages", "send", "smtp_port", "wait_for"]


def channel_server(folder: Path, channels: str, *extra: str) -> Server:
    """``unirouter serve`` on the server tests' configuration plus ``channels`` (YAML text), with
    alice available (a server's agents start offline until they connect or set a presence)."""
    config = folder / "config.yaml"
    config.write_text(CONFIG + channels)
    server = start_server(folder / "u.db", config, *extra)
    available(server, "alice")
    return server


def smtp_port(server: Server) -> int:
    body = server.client().get("/v1/channels").json()
    return int(body["email"]["smtp"]["port"])


def mail(
    subject: str = "Printer on fire",
    body: str = "It is on fire.",
    sender: str = "Carla <carla@example.org>",
    message_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@example.test"
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def send(port: int, message: EmailMessage | bytes) -> tuple[int, bytes]:
    """Send one mail; the server's answer to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo()
        raw = message if isinstance(message, bytes) else message.as_bytes(policy=email.policy.SMTP)
        client.mail("carla@example.org")
        client.rcpt("support@example.test")
        return client.data(raw)


def log_bodies(db: Path) -> list[bytes]:
    """Every record body of the log, read straight from the SQLite file."""
    with sqlite3.connect(db) as connection:
        return [bytes(row[0]) for row in connection.execute("select body from records")]


def wait_for(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """The first truthy value of ``probe()`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def messages(client: httpx.Client, item: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/work-items/{item}/messages")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])
