"""The IMAP intake: a mailbox polled for unseen mail, with IDLE when the server offers it (issue 9).

Blocking :mod:`imaplib` runs in a worker thread; each new mail is handed to
:func:`unirouter.channels.intake.receive_mail` on the host's loop, and only once that is durable is
the mail flagged ``\\Seen`` on the server. A crash in between leaves it unseen, so it is fetched
again at the next start and recognised by its Message-ID: no mail is lost and none is doubled.

Without IDLE (or with ``idle: false``) the mailbox is searched every ``poll_s`` seconds; with IDLE
the server's ``EXISTS`` push wakes the poller at once (and ``poll_s`` bounds the wait anyway).
A connection that fails is retried with a growing pause, up to a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import io
import logging
import select
import ssl
import threading
import time
from pathlib import Path

from unirouter import errors
from unirouter.channels import intake
from unirouter.channels import mail as mails
from unirouter.config import channels as settings
from unirouter.server.host import EngineHost, HostStopped

__all__ = ["Poller"]

log = logging.getLogger("unirouter.channels")

_IDLE_TAG = b"URIDLE"
MAX_PAUSE_S = 60.0


class Poller:
    """Fetches unseen mail of one mailbox into items until :meth:`stop`."""

    def __init__(self, host: EngineHost, email: settings.EmailChannel, password: str, folder: Path):
        assert email.imap is not None
        self.host, self.email, self.config = host, email, email.imap
        self.password, self.folder = password, folder
        self.fetched = 0
        self.idle_supported = False
        self.last_error: str | None = None
        self._stopping = threading.Event()
        self._client: imaplib.IMAP4 | None = None

    async def run(self) -> None:
        pause = 1.0
        while not self._stopping.is_set():
            try:
                await self._session()
                pause = 1.0
            except (OSError, imaplib.IMAP4.error) as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("IMAP %s: %s; retrying in %.0f s", self.config.host, error, pause)
                await asyncio.sleep(pause)
                pause = min(MAX_PAUSE_S, pause * 2)

    async def _session(self) -> None:
        await asyncio.to_thread(self._connect)
        try:
            while not self._stopping.is_set():
                for uid in await asyncio.to_thread(self._unseen):
                    await self._take(uid)
                await asyncio.to_thread(self._wait)
        finally:
            await asyncio.to_thread(self._close)

    def _connect(self) -> None:
        config = self.config
        context = ssl.create_default_context()
        if config.security == "tls":
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(config.host, config.port, ssl_context=context,
                                                      timeout=30)  # fmt: skip
        else:
            client = imaplib.IMAP4(config.host, config.port, timeout=30)
            if config.security == "starttls":
                client.starttls(context)
        client.login(config.user, self.password)
        client.select(config.folder)
        self.idle_supported = config.idle and "IDLE" in client.capabilities
        self._client = client

    def _unseen(self) -> list[bytes]:
        assert self._client is not None
        _, data = self._client.uid("SEARCH", "UNSEEN")
        return [uid for uid in (data[0] or b"").split() if uid]

    async def _take(self, uid: bytes) -> None:
        """One mail: fetched, made durable as an item or message, then flagged seen."""
        raw = await asyncio.to_thread(self._fetch, uid)
        if raw is not None:
            try:
                mail = mails.parse(raw)
            except mails.MailRejected as rejected:
                log.warning("IMAP mail %s not taken: %s", uid.decode(), rejected.reason)
            else:
                if not await self._receive(mail):
                    return  # left unseen: fetched again at the next round or start
        await asyncio.to_thread(self._seen, uid)
        self.fetched += 1

    async def _receive(self, mail: mails.InboundMail) -> bool:
        try:
            metas = await asyncio.to_thread(intake.store_attachments, self.folder, mail.attachments)
            await intake.receive_mail(self.host, self.email, mail, metas)
        except (HostStopped, OSError) as error:
            self.last_error = str(error)
            self._stopping.wait(1.0)
            return False
        except errors.CommandError as refused:
            log.warning("IMAP mail refused by the engine: %s", refused)
        return True

    def _fetch(self, uid: bytes) -> bytes | None:
        assert self._client is not None
        _, data = self._client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
        for part in data:
            if isinstance(part, tuple):
                return bytes(part[1])
        return None

    def _seen(self, uid: bytes) -> None:
        assert self._client is not None
        self._client.uid("STORE", uid.decode(), "+FLAGS", "(\\Seen)")

    def _wait(self) -> None:
        """Until new mail may be there: an IDLE push, ``poll_s``, or :meth:`stop`."""
        if not self.idle_supported:
            self._stopping.wait(self.config.poll_s)
            return
        client = self._client
        assert client is not None
        client.send(_IDLE_TAG + b" IDLE\r\n")
        if not client.readline().startswith(b"+"):
            self.idle_supported = False
            return
        deadline = time.monotonic() + self.config.poll_s
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if not _buffered(client):  # an EXISTS read with the "+" line sits in imaplib's buffer
                readable, _, _ = select.select([client.socket()], [], [], 0.5)
                if not readable:
                    continue
            if b"EXISTS" in client.readline():
                break
        client.send(b"DONE\r\n")
        while not client.readline().startswith(_IDLE_TAG):
            pass

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self._client.logout()
            self._client = None

    def stop(self) -> None:
        self._stopping.set()


def _buffered(client: imaplib.IMAP4) -> bool:
    """Whether a server line already waits in the client's read buffer (select cannot see it).

    The socket is made non-blocking for one peek, so an empty buffer is not filled by waiting."""
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        reader = client.file
        return isinstance(reader, io.BufferedReader) and bool(reader.peek(1))
    except (BlockingIOError, OSError):
        return False
    finally:
        sock.settimeout(timeout)
