"""The engine's live queue state (``Engine.queue_status``; issue 16 item 2): the longest wait read at
any time over queued and offered items, and whether the queue's operating hours hold (R14)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from unirouter.config import model

CONFIG = """
workstreams: {chat: {kind: messaging, fallback_queue: q, offer: {timeout_s: 600}}}
calendars: {days: {tz: UTC, weekly: {mon-sun: "08:00-18:00"}}}
queues:
  q: {kind: messaging, members: [alice]}
  hours: {kind: messaging, operating_hours: days}
agents: {alice: {}}
"""
#: Monday 2026-11-30 00:00 UTC: engine time t is that many seconds after it.
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)


def test_longest_wait_counts_to_the_time_of_the_read(rig: Any) -> None:
    """A read at a later time than the last command counts the wait up to then."""
    r = rig(CONFIG, epoch=MONDAY)
    r.engine.set_presence("alice", model.BasePresence.AWAY)
    r.engine.submit(external_id="c1", workstream="chat")
    r.at(10.0)
    assert r.engine.queue_status("q")["longest_wait_s"] == 10.0
    assert r.engine.queue_status("q", at=70.0)["longest_wait_s"] == 70.0
    assert r.engine.queue_status("q", at=5.0)["longest_wait_s"] == 10.0  # never before now


def test_longest_wait_counts_offered_items(rig: Any) -> None:
    """SPEC §8: an item on offer is still waiting, so it counts in the longest wait."""
    r = rig(CONFIG, epoch=MONDAY)
    r.engine.submit(external_id="c1", workstream="chat")
    r.at(3.0)
    r.engine.submit(external_id="c2", workstream="chat")
    status = r.engine.queue_status("q", at=30.0)
    assert status["waiting"] == 2 and status["offered"] == 1
    assert status["longest_wait_s"] == 30.0  # c1, on offer to alice since t=0


def test_r14_queue_status_says_whether_operating_hours_hold(rig: Any) -> None:
    """R14: a queue without hours is always open; one with hours is open only within them."""
    r = rig(CONFIG, epoch=MONDAY)
    assert r.engine.queue_status("q")["open"] is True
    assert r.engine.queue_status("hours", at=7 * 3600.0)["open"] is False
    assert r.engine.queue_status("hours", at=9 * 3600.0)["open"] is True
    assert r.engine.queue_status("hours", at=18 * 3600.0)["open"] is False
