"""`make bench`: channel throughput of a real `unirouter serve` over loopback (figures only).

* mails/s: mails sent over SMTP (several client connections, each reused) answered 250, i.e.
  durable as record items (target 200/s);
* webhook messages/s: signed JSON webhook messages answered 200, i.e. durable conversation messages
  (target 1,000/s);
* outbound deliveries/s: signed webhook deliveries of the resulting events reaching a local
  receiver, measured while a backlog exists.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import smtplib
import tempfile
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx

from unirouter.bench import server as bench_server
from unirouter.channels import signing
from unirouter.server import spawn

SECRET = "bench-secret"
ADMIN = "bench-admin"
CONFIG = """
version: 1
workstreams:
  email: {{kind: record, fallback_queue: email_q}}
  chat: {{kind: messaging, fallback_queue: chat_q}}
queues:
  email_q: {{kind: record}}
  chat_q: {{kind: messaging}}
auth:
  tokens: [{{name: admin, role: admin, sha256: {sha}}}]
channels:
  attachments_dir: {folder}
  email: {{workstream: email, address: help@example.test, smtp: {{port: 0}}}}
  messaging:
    app: {{workstream: chat, format: json, secret: {secret}}}
webhooks:
  - {{name: bench, url: "{url}", events: ["*"], secret: {secret}}}
"""


class _Counter(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as an integrator's endpoint would
    times: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        _Counter.times.append(time.perf_counter())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(folder: Path, hook_url: str) -> tuple[spawn.Served, int]:
    sha = hashlib.sha256(ADMIN.encode()).hexdigest()
    config = folder / "config.yaml"
    config.write_text(CONFIG.format(sha=sha, folder=folder / "a", secret=SECRET, url=hook_url))
    served = spawn.serve("--db", str(folder / "u.db"), "--config", str(config), keep_stderr=False)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    channels = httpx.get(served.url + "/v1/channels", headers=headers).json()
    return served, int(channels["email"]["smtp"]["port"])


def _mails(port: int, count: int, offset: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for n in range(offset, offset + count):
            message = EmailMessage()
            message["From"], message["To"] = "bench@example.org", "help@example.test"
            message["Subject"] = f"bench {n}"
            message["Message-ID"] = f"<bench-{n}@example.org>"
            message.set_content("A benchmark mail.")
            client.send_message(message)


def mails_per_second(port: int, total: int, clients: int) -> float:
    per = total // clients
    threads = [threading.Thread(target=_mails, args=(port, per, i * per)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per * clients / (time.perf_counter() - started)


async def _closed_loop(
    url: str, headers: dict[str, str], total: int, concurrency: int,
    request: Callable[[int], tuple[str, dict[str, Any] | bytes, dict[str, str], int]],
) -> float:  # fmt: skip
    """``total`` requests answered as expected, per second, over ``concurrency`` keep-alive
    connections (the server benchmark's lean client, so the figure is the server's)."""
    connections = [await bench_server._Connection.open(url, headers) for _ in range(concurrency)]
    queue = list(range(total))

    async def one(connection: Any) -> None:
        while queue:
            path, body, extra, expected = request(queue.pop())
            status, answer = await connection.post(path, body, extra)
            assert status == expected, answer

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(c) for c in connections))
        return total / (time.perf_counter() - started)
    finally:
        for connection in connections:
            await connection.close()


def _text(n: int) -> tuple[str, dict[str, Any] | bytes, dict[str, str], int]:
    """A signed JSON webhook message (500 customers, so most join their conversation)."""
    raw = json.dumps({"id": f"b-{n}", "from": f"+1555{n % 500:07d}", "text": "hi"}).encode()
    stamp = int(time.time())
    headers = {signing.TIMESTAMP_HEADER: str(stamp),
               signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, raw)}  # fmt: skip
    return "/v1/channels/messaging/app", raw, headers, 200


def _intake(n: int) -> tuple[str, dict[str, Any] | bytes, dict[str, str], int]:
    """A plain ``POST /v1/work-items``: the yardstick of this run."""
    return "/v1/work-items", {"external_id": f"p-{n}", "workstream": "chat"}, {}, 201


def deliveries_per_second(settle_s: float = 3.0) -> tuple[float, int]:
    """Deliveries/s from the first to the last reception while the backlog drains."""
    count = -1
    while count != len(_Counter.times):  # until the receiver is quiet
        count = len(_Counter.times)
        time.sleep(settle_s)
    times = _Counter.times
    if len(times) < 2:
        return 0.0, len(times)
    return (len(times) - 1) / (times[-1] - times[0]), len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    with tempfile.TemporaryDirectory(prefix="unirouter-bench-channels-") as folder:
        served, port = _serve(Path(folder), hook)
        url = served.url
        try:
            mails = mails_per_second(port, args.mails, args.clients)
            texts = asyncio.run(_closed_loop(url, {}, args.texts, 4 * args.clients, _text))
            auth = {"Authorization": f"Bearer {ADMIN}"}
            plain = asyncio.run(_closed_loop(url, auth, args.texts, 4 * args.clients, _intake))
            deliveries, delivered = deliveries_per_second()
        finally:
            served.stop(timeout=30)
            receiver.shutdown()
    figures = {"mails_per_s": round(mails, 1), "webhook_messages_per_s": round(texts, 1),
               "deliveries_per_s": round(deliveries, 1), "plain_intakes_per_s": round(plain, 1), "deliveries": delivered,
               "cpus": os.cpu_count()}  # fmt: skip
    if args.json:
        print(json.dumps(figures))
        return
    print("channels (unirouter serve, SQLite, loopback):")
    print(f"  mails through SMTP to durable items   {mails:8.1f} /s   (target >= 200)")
    print(f"  webhook messages to durable messages  {texts:8.1f} /s   (target >= 1000)")
    print(f"  plain POST /v1/work-items, same run   {plain:8.1f} /s   (the yardstick)")
    print(f"  outbound webhook deliveries           {deliveries:8.1f} /s   ({delivered} delivered)")


if __name__ == "__main__":
    main()
