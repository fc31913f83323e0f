"""The channels inside ``unirouter serve``: started after the host, stopped before it (issue 9).

What runs is read from the configuration the engine holds when the server starts (``channels:``
and ``webhooks:``); a configuration applied later takes effect for the channels at the next start.
Listeners bind and secrets are read when the server starts, so a port in use or a missing
``env:`` variable stops the start with one sentence naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from unirouter import errors
from unirouter.channels import followers, imap, outbound, smtp
from unirouter.channels.followers import Follower
from unirouter.config import channels as settings
from unirouter.config import model
from unirouter.engine import ItemState
from unirouter.server.host import EngineHost, HostStopped, Subscription

__all__ = ["ChannelError", "Runtime", "secret"]

log = logging.getLogger("unirouter.channels")


class ChannelError(errors.UnirouterError):
    """A channel that cannot start (a port in use, a missing secret): one sentence naming it."""


def secret(value: str | None, field: str) -> str | None:
    """A secret as written, or read from the environment for ``env:NAME``."""
    if value is None or not value.startswith("env:"):
        return value
    name = value.removeprefix("env:")
    found = os.environ.get(name)
    if found is None:
        raise ChannelError(f"{field}: the environment variable {name} is not set")
    return found


class Runtime:
    """The running channel adapters of one server."""

    def __init__(self, host: EngineHost, *, backoff_s: float | None = None) -> None:
        self.host = host
        self.listener: smtp.Listener | None = None
        self.poller: imap.Poller | None = None
        self.followers: dict[str, Follower] = {}
        self.webhooks: dict[str, settings.Webhook] = {}
        self._secrets: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._wake: Subscription | None = None
        self._collecting = False
        self._imap_task: asyncio.Task[None] | None = None
        env = os.environ.get("UNIROUTER_CHANNEL_BACKOFF_S")
        self.backoff_s = backoff_s if backoff_s is not None else float(env or 1.0)

    @property
    def config(self) -> model.Config:
        return self.host.engine.config

    @property
    def folder(self) -> Path:
        """Where attachment bodies are stored (relative paths: to the working directory)."""
        return Path(self.config.channels.attachments_dir)

    def secret_of(self, key: str) -> str:
        return self._secrets[key]

    async def start(self) -> None:
        self._read_secrets()
        self._client = httpx.AsyncClient(timeout=10.0)
        self._start_followers()
        if not self._collecting:
            self._collecting = True
            collector = followers.StatusCollector(lambda: list(self.followers.values()))
            self.host.metrics.registry.register(collector)
        self._start_listener()
        email = self.config.channels.email
        if email is not None and email.imap is not None:
            self.poller = imap.Poller(self.host, email, self._secrets["imap"], self.folder)
            self._imap_task = asyncio.get_running_loop().create_task(self.poller.run())
        for name, endpoint in self.config.channels.messaging.items():
            if endpoint.idle_park_s is not None:
                self._spawn(self._park_idle(name, endpoint.idle_park_s), f"park-idle:{name}")

    def _read_secrets(self) -> None:
        channels = self.config.channels
        for name, endpoint in channels.messaging.items():
            path = f"channels.messaging.{name}"
            self._secrets[f"messaging:{name}"] = secret(endpoint.secret, f"{path}.secret") or ""
            if endpoint.provider is not None and endpoint.provider.token is not None:
                token = secret(endpoint.provider.token, f"{path}.provider.token")
                self._secrets[f"provider:{name}"] = token or ""
        outbound_mail = channels.email.outbound if channels.email else None
        if outbound_mail is not None and outbound_mail.password is not None:
            field = "channels.email.outbound.password"
            self._secrets["smtp"] = secret(outbound_mail.password, field) or ""
        imap = channels.email.imap if channels.email else None
        if imap is not None:
            self._secrets["imap"] = secret(imap.password, "channels.email.imap.password") or ""
        for i, hook in enumerate(self.config.webhooks):
            self._secrets[f"webhook:{hook.name}"] = (
                secret(hook.secret, f"webhooks[{i}].secret") or ""
            )

    def _start_followers(self) -> None:
        assert self._client is not None
        client, backoff = self._client, self.backoff_s
        for hook in self.config.webhooks:
            key = self._secrets[f"webhook:{hook.name}"]
            self._follow(outbound.webhook_follower(self.host, hook, key, client))
            self.webhooks[hook.name] = hook
        email = self.config.channels.email
        if email is not None and email.outbound is not None:
            password = self._secrets.get("smtp")
            self._follow(outbound.email_follower(self.host, email, password, backoff_s=backoff))
        for name, endpoint in self.config.channels.messaging.items():
            if endpoint.provider is not None:
                token = self._secrets.get(f"provider:{name}")
                self._follow(outbound.messaging_follower(self.host, name, endpoint, token, client,
                                                         backoff_s=backoff))  # fmt: skip
        running = list(self.followers.values())
        if running:
            self._wake = self.host.subscribe(lambda record: _wake_all(running))

    def _follow(self, follower: Follower) -> None:
        self.followers[follower.name] = follower
        self._spawn(follower.run(), follower.name)

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=f"unirouter-{name}")
        task.add_done_callback(_report_crash)
        self._tasks.append(task)

    def _start_listener(self) -> None:
        email = self.config.channels.email
        if email is None or email.smtp is None:
            return
        self.listener = smtp.Listener(self.host, email, self.folder)
        try:
            address = self.listener.start()
        except OSError as error:
            self.listener = None
            raise ChannelError(f"channels.email.smtp: cannot listen: {error}") from None
        _say(f"email SMTP listening on {address[0]}:{address[1]}")

    async def _park_idle(self, name: str, idle_s: float) -> None:
        """R34: park assigned conversations of endpoint ``name`` idle for ``idle_s`` seconds."""
        via = f"messaging:{name}"
        index = self.host.channel_index
        while True:
            await asyncio.sleep(min(idle_s / 4, 5.0))
            now = self.host.now()
            for (where, _), item_id in list(index.open.items()):
                since = index.last_message_at.get(item_id)
                if where == via and since is not None and now - since >= idle_s:
                    await self._park(item_id)

    async def _park(self, item_id: str) -> None:
        try:
            if self.host.engine.item(item_id).state is ItemState.ASSIGNED:
                await self.host.command("park", {"item": item_id})
        except (errors.CommandError, HostStopped) as refused:
            log.info("parking idle conversation %s: %s", item_id, refused)

    async def stop(self) -> None:
        if self.poller is not None and self._imap_task is not None:
            # Left to finish its round (its blocking calls run in a thread, which a cancel
            # would leave talking to the socket while the logout uses it too).
            self.poller.stop()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._imap_task, 10)
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self._wake is not None:
            self.host.unsubscribe(self._wake)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    def describe(self) -> dict[str, Any]:
        """What is running, for ``GET /v1/channels``."""
        channels = self.config.channels
        body: dict[str, Any] = {"email": None, "messaging": sorted(channels.messaging),
                                "portal": channels.portal is not None,
                                "followers": sorted(self.followers)}  # fmt: skip
        if self.listener is not None:
            host, port = self.listener.address
            body["email"] = {"smtp": {"host": host, "port": port,
                                      "accepted": self.listener.handler.accepted}}  # fmt: skip
        if self.poller is not None:
            body["email"] = {**(body["email"] or {}), "imap": {
                "host": self.poller.config.host, "fetched": self.poller.fetched,
                "idle": self.poller.idle_supported, "last_error": self.poller.last_error}}  # fmt: skip
        return body


def _wake_all(followers: list[Follower]) -> bool:
    """Every durable record may be one a follower wants: wake them (and queue nothing)."""
    for follower in followers:
        follower.wake()
    return False


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("channel task %s stopped", task.get_name(), exc_info=task.exception())


def _say(line: str) -> None:
    """One line on stderr (stdout's first line is the server's URL, which tools read)."""
    print(f"unirouter: {line}", file=sys.stderr, flush=True)
