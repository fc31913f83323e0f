"""Report windows: when a report starts and ends, and the intervals it is cut into.

Times are Unix seconds (``1733220000``, ``1733220000.5``) or ISO 8601 date-times
(``2026-12-03T09:00:00Z``, ``2026-12-03T10:00+01:00``, ``2026-12-03``); one without a zone is UTC.
Intervals (``by``) are ``15m``, ``1h`` or ``1d`` (any whole number of 15 minutes is taken). Reports
are kept on a 15-minute grid of Unix time (:data:`GRID_S`), so a window's start is rounded down to
the grid and its end up; intervals run from the window's start, so ``from=…T00:00+01:00&by=1d``
gives days of that zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from unirouter import durations, errors

__all__ = ["GRID_S", "MAX_INTERVALS", "InvalidWindow", "Window", "parse_by", "parse_time", "window"]

#: The finest interval reports keep (seconds).
GRID_S = 900.0
#: The most intervals one report may have (a larger ``by`` or a shorter window beyond that).
MAX_INTERVALS = 50_000


class InvalidWindow(errors.UnirouterError):
    """A report parameter that cannot be read; ``field`` names it (``from``, ``to``, ``by``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A report's span ``[start, end)`` on the grid, cut into intervals of ``step`` seconds
    (``step`` is the whole span when no ``by`` was asked)."""

    start: float
    end: float
    step: float
    by: str | None


def parse_time(value: str | float | None, field: str) -> float | None:
    """Unix seconds from a number or an ISO 8601 date or date-time (UTC unless it has a zone)."""
    if value is None or isinstance(value, int | float):
        return _finite(value, field)
    text = value.strip()
    try:
        return _finite(float(text), field)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidWindow(
            field, f"{value!r} is neither Unix seconds nor an ISO 8601 date-time"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _finite(value: float | None, field: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidWindow(field, "must be a finite time")
    return value


def parse_by(value: str | None) -> float | None:
    """The interval length of ``by`` in seconds: a whole number of 15 minutes (None: no intervals)."""
    if value is None or value == "":
        return None
    try:
        seconds = durations.parse_duration(value, field="by")
    except ValueError:
        seconds = -1.0
    steps = seconds / GRID_S
    if seconds <= 0 or abs(steps - round(steps)) > 1e-9:
        raise InvalidWindow("by", f"{value!r} is not 15m, 1h, 1d or another multiple of 15m")
    return round(steps) * GRID_S


def window(
    start: float | None, end: float | None, by: str | None, *, first: float, now: float
) -> Window:
    """The window of a report: from ``start`` (default ``first``, the log's start) to ``end``
    (default, and at most, ``now``: nothing happened after it), on the grid, cut by ``by``.

    Whole intervals before ``first`` are skipped (nothing happened there, and a window from 1970
    would cost decades of empty intervals); those left keep the phase ``start`` gave them."""
    if start is not None and end is not None and start > end:
        raise InvalidWindow("from", "must not be after to")
    step = parse_by(by)
    end = now if end is None else min(end, now)
    low = _floor(min(first if start is None else start, end))
    skip_to = min(_floor(first), _floor(end))
    if low < skip_to:  # nothing before the log: skip whole intervals (keeping their phase)
        low += math.floor((skip_to - low) / (step or GRID_S)) * (step or GRID_S)
    high = max(_ceil(end), low + GRID_S)
    if step is None:
        return Window(start=low, end=high, step=high - low, by=None)
    if (high - low) / step > MAX_INTERVALS:
        raise InvalidWindow("by", f"the window has more than {MAX_INTERVALS} intervals of {by}")
    return Window(start=low, end=high, step=step, by=by)


def _floor(t: float) -> float:
    return math.floor(t / GRID_S) * GRID_S


def _ceil(t: float) -> float:
    return math.ceil(t / GRID_S) * GRID_S
