"""The routing engine: synchronous, pure, clock injected (SPEC §3, §6.1).

The names below are imported on first use (PEP 562), so importing one module of the engine (the
configuration's checks read :mod:`unirouter.engine.events`) does not load all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unirouter.engine.clock import UNIX_EPOCH, Clock, ManualClock, SystemClock
    from unirouter.engine.engine import Engine
    from unirouter.engine.events import Event, EventType
    from unirouter.engine.state import (
        AgentState,
        CloseReason,
        ItemState,
        Offer,
        OfferStatus,
        WorkItem,
    )

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

#: The module of each public name.
_HOME = {
    "UNIX_EPOCH": "clock",
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "Engine": "engine",
    "Event": "events",
    "EventType": "events",
    "AgentState": "state",
    "CloseReason": "state",
    "ItemState": "state",
    "Offer": "state",
    "OfferStatus": "state",
    "WorkItem": "state",
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    if name not in _HOME:
        raise AttributeError(f"module 'unirouter.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"unirouter.engine.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted({*globals(), *__all__})
