"""The routing engine: synchronous, pure, clock injected (SPEC §3, §6.1)."""

from __future__ import annotations

from unirouter.engine.clock import UNIX_EPOCH, Clock, ManualClock, SystemClock
from unirouter.engine.engine import Engine
from unirouter.engine.events import Event, EventType
from unirouter.engine.state import AgentState, CloseReason, ItemState, Offer, OfferStatus, WorkItem

__all__ = [
    "UNIX_EPOCH",
    "AgentState",
    "Clock",
    "CloseReason",
    "Engine",
    "Event",
    "EventType",
    "ItemState",
    "ManualClock",
    "Offer",
    "OfferStatus",
    "SystemClock",
    "WorkItem",
]
