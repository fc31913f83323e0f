"""The channels inside ``unirouter serve``: started after the host, stopped before it (issue 9).

What runs is read from the configuration the engine holds when the server starts (``channels:``
and ``webhooks:``); a configuration applied later takes effect for the channels at the next start.
Listeners bind when the server starts, so a port in use stops the start with a clear sentence.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from unirouter.channels import smtp
from unirouter.server.host import EngineHost

__all__ = ["ChannelError", "Runtime", "secret"]

log = logging.getLogger("unirouter.channels")


class ChannelError(Exception):
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

    def __init__(self, host: EngineHost) -> None:
        self.host = host
        self.listener: smtp.Listener | None = None

    @property
    def folder(self) -> Path:
        """Where attachment bodies are stored (relative paths: to the working directory)."""
        return Path(self.host.engine.config.channels.attachments_dir)

    async def start(self) -> None:
        channels = self.host.engine.config.channels
        if channels.email is not None and channels.email.smtp is not None:
            self.listener = smtp.Listener(self.host, channels.email, self.folder)
            try:
                address = self.listener.start()
            except OSError as error:
                self.listener = None
                raise ChannelError(f"channels.email.smtp: cannot listen: {error}") from None
            _say(f"email SMTP listening on {address[0]}:{address[1]}")

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    def describe(self) -> dict[str, Any]:
        """What is running, for ``GET /v1/channels``."""
        body: dict[str, Any] = {"email": None}
        if self.listener is not None:
            host, port = self.listener.address
            body["email"] = {"smtp": {"host": host, "port": port,
                                      "accepted": self.listener.handler.accepted}}  # fmt: skip
        return body


def _say(line: str) -> None:
    """One line on stderr (stdout's first line is the server's URL, which tools read)."""
    print(f"unirouter: {line}", file=sys.stderr, flush=True)
