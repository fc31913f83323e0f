"""Redeliveries recognised past the channel index's window (issue 17 item 8): the index keeps a
bounded window of mail and provider ids, the engine a bounded number of closed items; the store
keeps every intake's key, so a provider retrying days later still creates nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from server_support import CONFIG

from unirouter import config as configuration
from unirouter.channels import index
from unirouter.channels import intake as channel_intake
from unirouter.server.host import EngineHost
from unirouter.storage.sqlite import SqliteStore

CHANNELS = """
channels:
  messaging:
    app: {workstream: chat, format: json, secret: shared-secret}
"""


def _text(provider_id: str, sender: str) -> channel_intake.InboundText:
    return channel_intake.InboundText(provider_id=provider_id, sender=sender,
                                      recipient="", text="Hello", media=[])  # fmt: skip


async def _close(host: EngineHost, item: str) -> None:
    await host.command("cancel", {"item": item})


def test_a_message_redelivered_after_the_index_window_and_the_closed_items_moved_on_is_a_repeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider id seen once, whose items were closed and left memory and whose
    index entries fell out of the window, are repeats: nothing is created, the receipt names the
    first item; after a restart from the same SQLite file too."""
    monkeypatch.setattr(index, "RETAIN", 2)
    data = yaml.safe_load(CONFIG + CHANNELS)
    config = configuration.validate(data)
    endpoint = config.channels.messaging["app"]
    db = str(tmp_path / "u.db")

    async def first_run() -> str:
        host = EngineHost(SqliteStore(db), retain_closed=1)
        host.restore(config)
        await host.start()
        first = await channel_intake.receive_text(host, "app", endpoint, _text("SM-1", "+1555000"))
        assert first.created
        await _close(host, first.item)
        for n in range(2, 6):  # move the window and the closed items on
            later = await channel_intake.receive_text(host, "app", endpoint,
                                                      _text(f"SM-{n}", f"+1555{n:03d}"))  # fmt: skip
            await _close(host, later.item)
        assert "messaging:app:SM-1" not in host.channel_index.provider_ids
        assert host.engine.forgets_closed
        again = await channel_intake.receive_text(host, "app", endpoint, _text("SM-1", "+1555000"))
        assert again.duplicate and not again.created and again.item == first.item
        await host.stop()
        return first.item

    first_item = asyncio.run(first_run())

    async def after_restart() -> None:
        host = EngineHost(SqliteStore(db), retain_closed=1)
        host.restore(config)
        await host.start()
        items_before = sum(1 for _ in host.engine.items())
        again = await channel_intake.receive_text(host, "app", endpoint, _text("SM-1", "+1555000"))
        assert again.duplicate and again.item == first_item
        assert sum(1 for _ in host.engine.items()) == items_before
        await host.stop()

    asyncio.run(after_restart())
