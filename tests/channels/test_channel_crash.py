"""Channels under SIGKILL (issue 9, SPEC §9): a real ``unirouter serve`` takes mail over SMTP and
messages on its JSON webhook while it delivers an outbound webhook, and is killed with SIGKILL at
seeded moments and restarted, several times. Senders retry what was not acknowledged, as SMTP
clients and providers do. Read straight from the SQLite log afterwards:

* every acknowledged mail (250) and webhook message (2xx) is in the log exactly once;
* every subscribed event in the log reached the receiver at least once, first receptions in log
  order.
"""

from __future__ import annotations

import json
import random
import signal
import smtplib
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from channel_support import channel_server, mail, smtp_port, wait_for
from peers import Receiver, receiver
from server_support import Server, start_server

from unirouter.channels import signing

SEED = 90210
ROUNDS = 3
SECRET = "crash-secret"
CHANNELS = """
channels:
  attachments_dir: {folder}
  email: {{workstream: email, address: help@example.test, smtp: {{port: 0}}}}
  messaging:
    app: {{workstream: social, format: json, secret: {secret}}}
webhooks:
  - {{name: crm, url: "{url}/hook", events: [item_created], secret: {secret}, backoff_s: 0.05}}
"""


@dataclass
class Live:
    """The server of the moment; senders wait on ``up`` while it is down."""

    server: Server
    port: int
    up: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    acked_mails: list[str] = field(default_factory=list)
    acked_texts: list[str] = field(default_factory=list)


def _send_mails(live: Live) -> None:
    n = 0
    while not live.done.is_set():
        message_id = f"crash-{n}@example.org"
        while not live.done.is_set():
            live.up.wait(5)
            try:
                with smtplib.SMTP("127.0.0.1", live.port, timeout=5) as client:
                    client.send_message(mail(message_id=f"<{message_id}>"))
                live.acked_mails.append(message_id)
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # not acknowledged: send the same mail again
        n += 1


def _send_texts(live: Live) -> None:
    n = 0
    while not live.done.is_set():
        body = json.dumps({"id": f"m-{n}", "from": f"+1555{n % 7:07d}", "text": f"t{n}"}).encode()
        while not live.done.is_set():
            live.up.wait(5)
            stamp = int(time.time())
            headers = {signing.TIMESTAMP_HEADER: str(stamp),
                       signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, body)}  # fmt: skip
            try:
                response = httpx.post(live.server.url + "/v1/channels/messaging/app",
                                      content=body, headers=headers, timeout=5)  # fmt: skip
                if response.status_code == 200:
                    live.acked_texts.append(f"m-{n}")
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        n += 1


def _log(db: Path) -> list[tuple[int, str, dict]]:  # type: ignore[type-arg]
    with sqlite3.connect(db) as connection:
        rows = connection.execute("select cursor, kind, body from records order by cursor")
        return [(int(c), str(k), json.loads(b)) for c, k, b in rows]


def test_acknowledged_mail_and_messages_survive_sigkill_exactly_once(tmp_path: Path) -> None:
    """SIGKILL while mail, messages and webhooks flow: nothing acknowledged lost or doubled, every
    subscribed event delivered at least once and in order."""
    rng = random.Random(SEED)
    with receiver() as peer:
        server = channel_server(tmp_path, CHANNELS.format(folder=tmp_path / "a", secret=SECRET,
                                                          url=peer.url))  # fmt: skip
        live = Live(server=server, port=smtp_port(server))
        live.up.set()
        senders = [threading.Thread(target=f, args=(live,)) for f in (_send_mails, _send_texts)]
        for sender in senders:
            sender.start()
        try:
            for _ in range(ROUNDS):
                time.sleep(rng.uniform(0.4, 1.2))
                live.up.clear()
                live.server.stop(signal.SIGKILL)
                live.server = start_server(tmp_path / "u.db", None)
                live.port = smtp_port(live.server)
                live.up.set()
            time.sleep(0.5)
        finally:
            live.done.set()
            for sender in senders:
                sender.join(20)
        _check(live, peer)
        live.server.stop()


def _check(live: Live, peer: Receiver) -> None:
    assert live.acked_mails and live.acked_texts
    log = _log(live.server.db)
    messages = [body["args"] for _, kind, body in log
                if kind == "command" and body.get("op") == "message" and not body.get("refused")]  # fmt: skip
    mails = Counter(m["attributes"].get("message_id") for m in messages)
    texts = Counter(m["attributes"].get("provider_id") for m in messages)
    assert all(mails[m] == 1 for m in live.acked_mails), [
        m for m in live.acked_mails if mails[m] != 1
    ]
    assert all(texts[t] == 1 for t in live.acked_texts)
    created = [cursor for cursor, kind, body in log
               if kind == "event" and body.get("type") == "item_created"]  # fmt: skip

    def first_receptions() -> list[int]:
        seen: list[int] = []
        for request in list(peer.answered):
            cursor = json.loads(request.body)["cursor"]
            if cursor not in seen:
                seen.append(cursor)
        return seen

    wait_for(lambda: set(created) <= set(first_receptions()), timeout=20)
    received = first_receptions()
    assert set(created) <= set(received), sorted(set(created) - set(received))[:5]
    assert received == sorted(received)
