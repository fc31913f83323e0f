"""``make demo`` takes mail (issue 9): the demo prints its SMTP address, and a mail sent there is
an email item of the demo's email workstream."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from channel_support import mail, send, wait_for
from test_demo import _tokens, start_demo


def test_the_demo_prints_its_smtp_port_and_takes_mail(tmp_path: Path) -> None:
    """The mail sent to the printed port becomes an email item, readable with the admin token."""
    process, lines, _ = start_demo(tmp_path)
    try:
        url, tokens = _tokens(lines)
        [smtp] = [line.split()[2] for line in lines if line.strip().startswith("mail (SMTP)")]
        _, port = smtp.rsplit(":", 1)
        code, answer = send(int(port), mail("Demo mail", message_id="<demo@example.org>"))
        assert code == 250, answer
        item = answer.decode().split(" item ")[1].split()[0]
        found = wait_for(lambda: httpx.get(f"{url}/v1/work-items/{item}", headers={
            "Authorization": f"Bearer {tokens['admin']}"}).json())  # fmt: skip
        assert found["channel"] == "email" and found["attributes"]["subject"] == "Demo mail"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
