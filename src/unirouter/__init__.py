"""unirouter: unified routing and work distribution for customer service.

The routing engine is :class:`unirouter.engine.Engine`; configurations are read and validated by
:mod:`unirouter.config`; every error raised on purpose derives from :class:`UnirouterError`.
"""

from __future__ import annotations

from unirouter import config, errors
from unirouter.engine.clock import ManualClock, SystemClock
from unirouter.engine.engine import Engine
from unirouter.engine.events import Event, EventType
from unirouter.errors import UnirouterError

__all__ = [
    "Engine",
    "Event",
    "EventType",
    "ManualClock",
    "SystemClock",
    "UnirouterError",
    "config",
    "errors",
]

__version__ = "0.1.0"
