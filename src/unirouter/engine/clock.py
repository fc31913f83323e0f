"""Time for the engine: a clock object injected at construction (STYLE: the core reads no clock itself).

Engine time is seconds as a float. ``epoch`` maps engine time to wall-clock time, which calendars need
(R14, R36): wall time = epoch + t seconds. The server uses Unix time with the Unix epoch; the simulator
starts at 0 with the scenario's start date as epoch.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["UNIX_EPOCH", "Clock", "ManualClock", "SystemClock"]

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    """Where the engine reads the current time from."""

    def now(self) -> float:
        """The current engine time in seconds."""
        ...


class ManualClock:
    """A clock that moves only when told: for tests, scripted scenarios and the simulator."""

    __slots__ = ("_t",)

    def __init__(self, t: float = 0.0) -> None:
        self._t = float(t)

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        """Move to ``t``; time never goes backwards."""
        if t < self._t:
            raise ValueError(f"time cannot go backwards ({t} < {self._t})")
        self._t = float(t)

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        self.set(self._t + seconds)
        return self._t


class SystemClock:
    """Wall-clock Unix time, for the server."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()
