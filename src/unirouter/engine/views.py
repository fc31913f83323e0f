"""Reads over the engine's state that several commands and the public views share: a queue's
waiting items, its unanswered ones, whether it is open (R6–R9, R14, SPEC §8). Nothing here changes
anything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from unirouter.engine.core import Core
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import ItemState, WorkItem

__all__ = [
    "open_at",
    "unanswered_in",
    "waiting_in",
]


def open_at(s: Core, queue: QueueRuntime, t: float) -> bool:
    """R14: a queue without operating hours is always open."""
    return queue.calendar is None or queue.calendar.is_open(s.epoch + timedelta(seconds=t))


def unanswered_in(s: Core, queue: QueueRuntime) -> Iterator[WorkItem]:
    """The queue's queued items, then its offered ones (found through the agents' open offers,
    which only a read with offers in flight walks)."""
    yield from waiting_in(s, queue)
    if queue.offered <= 0:
        return
    for agent in (*s.agents.values(), *s.retired.values()):
        for offer_id in agent.offers:
            item = s.items[s.offers[offer_id].item]
            if item.queue == queue.name and item.state is ItemState.OFFERED:
                yield item


def waiting_in(s: Core, queue: QueueRuntime) -> Iterator[WorkItem]:
    valid = s.dispatch.item_entry_valid
    for group in queue.groups.values():
        for entry in group.live_entries(valid):
            yield s.items[entry[2]]
