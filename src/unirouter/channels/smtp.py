"""The SMTP intake (aiosmtpd) and the SMTP sender of agents' replies (issue 9).

The listener runs aiosmtpd's protocol on its own event loop in its own thread, so reading,
parsing and storing attachments of large mails never holds up routing; each mail is handed to the
host's loop (:func:`unirouter.channels.intake.receive_mail`) and the SMTP answer waits for it:
``250`` only once the item or message is durable, ``451`` (try again) when the log cannot take it,
``550`` for a mail that cannot become an item, ``552`` (aiosmtpd) for one over ``max_bytes``.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
import threading
from concurrent.futures import Future
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from unirouter import errors
from unirouter.channels import intake
from unirouter.channels import mail as mails
from unirouter.config import channels as settings
from unirouter.server.host import EngineHost, HostStopped

__all__ = ["Listener", "send"]

log = logging.getLogger("unirouter.channels")


class _Handler:
    """aiosmtpd's handler: every accepted DATA becomes an intake on the host's loop."""

    def __init__(
        self, host: EngineHost, email: settings.EmailChannel, folder: Path,
        host_loop: asyncio.AbstractEventLoop,
    ) -> None:  # fmt: skip
        self.host, self.email, self.folder, self.host_loop = host, email, folder, host_loop
        self.accepted = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            mail = mails.parse(raw)
        except mails.MailRejected as rejected:
            return f"550 5.6.0 {rejected.reason}"
        try:
            metas = (await asyncio.to_thread(intake.store_attachments, self.folder, mail.attachments)
                     if mail.attachments else [])  # fmt: skip
        except OSError as error:
            log.error("storing attachments failed: %s", error)
            return "451 4.3.0 attachments cannot be stored now; try again later"
        return await self._receive(mail, metas)

    async def _receive(self, mail: mails.InboundMail, metas: list[dict[str, Any]]) -> str:
        coroutine = intake.receive_mail(self.host, self.email, mail, metas)
        future: Future[intake.Receipt] = asyncio.run_coroutine_threadsafe(coroutine, self.host_loop)
        try:
            receipt = await asyncio.wrap_future(future)
        except HostStopped:
            return "451 4.3.0 the server cannot store mail now; try again later"
        except errors.CommandError as refused:
            return f"550 5.7.0 refused: {refused}"
        except Exception:
            log.exception("mail intake failed")
            return "451 4.3.0 temporary failure; try again later"
        self.accepted += 1
        done = "duplicate of" if receipt.duplicate else "stored as"
        return f"250 2.0.0 OK {done} item {receipt.item} message {receipt.number}"


class Listener:
    """An SMTP server on ``smtp.host``:``smtp.port`` (0: a free port) in a thread of its own."""

    def __init__(self, host: EngineHost, email: settings.EmailChannel, folder: Path) -> None:
        assert email.smtp is not None
        self.config = email.smtp
        self.handler = _Handler(host, email, folder, asyncio.get_running_loop())
        self.address: tuple[str, int] = (self.config.host, self.config.port)
        #: The name the server greets with: the reply domain (looked up once, not per session).
        self.hostname = email.domain or email.address.partition("@")[2] or "unirouter"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def _tls(self) -> ssl.SSLContext | None:
        if self.config.starttls is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.starttls.cert, self.config.starttls.key)
        return context

    def start(self) -> tuple[str, int]:
        """Bind (errors raise here, in the caller), then serve in the thread; returns the address."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        sock.listen(128)
        self.address = sock.getsockname()[:2]
        tls = self._tls()
        loop = self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(loop, sock, tls, ready),
                                        name="unirouter-smtp", daemon=True)  # fmt: skip
        self._thread.start()
        ready.wait(10)
        return self.address

    def _protocol(self, loop: asyncio.AbstractEventLoop, tls: ssl.SSLContext | None) -> SMTP:
        return SMTP(self.handler, data_size_limit=self.config.max_bytes, tls_context=tls,
                    require_starttls=self.config.require_starttls, loop=loop,
                    hostname=self.hostname, ident="unirouter")  # fmt: skip

    def _run(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, tls: ssl.SSLContext | None,
        ready: threading.Event,
    ) -> None:  # fmt: skip
        asyncio.set_event_loop(loop)
        made = loop.create_server(lambda: self._protocol(loop, tls), sock=sock)
        self._server = loop.run_until_complete(made)
        ready.set()
        loop.run_forever()
        self._server.close()
        loop.run_until_complete(self._server.wait_closed())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def send(outbound: settings.SmtpOutbound, password: str | None, message: EmailMessage) -> None:
    """Send one reply through the submission server (blocking; run it in a thread)."""
    if outbound.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(outbound.host, outbound.port, timeout=30)
    else:
        client = smtplib.SMTP(outbound.host, outbound.port, timeout=30)
    with client:
        if outbound.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if outbound.user is not None and password is not None:
            client.login(outbound.user, password)
        client.send_message(message)
