"""unirouter: unified routing and work distribution for customer service.

The routing engine is :class:`unirouter.engine.Engine`; configurations are read and validated by
:mod:`unirouter.config`; every error raised on purpose derives from :class:`UnirouterError`.

The names below are imported on first use (PEP 562), so ``import unirouter.cli`` or
``import unirouter.errors`` does not load the engine and pydantic (issue 16 item 7: the command
line starts in well under a second).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives: ``(module, attribute)``, or ``(module, None)`` for a module.
_PUBLIC: dict[str, tuple[str, str | None]] = {
    "Engine": ("unirouter.engine.engine", "Engine"),
    "Event": ("unirouter.engine.events", "Event"),
    "EventType": ("unirouter.engine.events", "EventType"),
    "ManualClock": ("unirouter.engine.clock", "ManualClock"),
    "SystemClock": ("unirouter.engine.clock", "SystemClock"),
    "UnirouterError": ("unirouter.errors", "UnirouterError"),
    "config": ("unirouter.config", None),
    "errors": ("unirouter.errors", None),
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    try:
        module, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'unirouter' has no attribute {name!r}") from None
    found = importlib.import_module(module)
    value = found if attribute is None else getattr(found, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted({*globals(), *__all__})
