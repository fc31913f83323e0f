"""Every deadline of the engine in one structure (issue: "nothing polls", R21).

A binary heap of ``(due, seq, kind, key)`` with lazy deletion: cancelling a timer only marks its handle,
and a cancelled entry is dropped when it reaches the top. ``seq`` makes the order total and stable, so
two timers due at the same instant fire in the order they were set.
"""

from __future__ import annotations

import heapq
from enum import StrEnum

__all__ = ["TimerKind", "Timers"]


class TimerKind(StrEnum):
    """What a timer is for; the engine dispatches on it."""

    OFFER_EXPIRY = "offer_expiry"
    SCHEDULED_START = "scheduled_start"
    WRAP_UP_RELEASE = "wrap_up_release"
    OVERFLOW_WAIT = "overflow_wait"
    AGING_STEP = "aging_step"
    RELAX_STEP = "relax_step"
    TTL = "ttl"
    AFFINITY_GRACE = "affinity_grace"
    RECONNECT_GRACE = "reconnect_grace"
    AUTO_CLOSE = "auto_close"
    CALENDAR = "calendar"
    PROFILE_RESET = "profile_reset"
    RETIME = "retime"
    RECHECK = "recheck"


Entry = tuple[float, int, TimerKind, str, int]
#: Marks kept beyond twice the heap's size before stale ones are swept.
_SLACK = 64


class Timers:
    """A lazy-deletion heap of deadlines, each identified by a handle (its sequence number)."""

    __slots__ = ("_cancelled", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._cancelled: set[int] = set()
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap) - len(self._cancelled)

    def set(self, due: float, kind: TimerKind, key: str, arg: int = 0) -> int:
        """Schedule ``(kind, key, arg)`` at ``due``; returns the handle that cancels it."""
        self._seq += 1
        heapq.heappush(self._heap, (float(due), self._seq, kind, key, arg))
        return self._seq

    def cancel(self, handle: int | None) -> None:
        """Cancel a timer; cancelling an unknown, fired or cancelled handle does nothing."""
        if handle is not None and handle <= self._seq:
            self._cancelled.add(handle)
            if len(self._cancelled) > 2 * len(self._heap) + _SLACK:
                self._forget_stale()

    def _forget_stale(self) -> None:
        """Drop the marks of handles no longer in the heap (fired before they were cancelled).

        Such marks would never be removed, so a long run would grow one per fired-then-cancelled
        timer (an offer that expired). After this there are at most as many marks as entries, so
        the next sweep comes only after that many more cancels: amortised constant time.
        """
        live = {entry[1] for entry in self._heap}
        self._cancelled &= live

    def next_due(self) -> float | None:
        """When the earliest live timer is due, or None."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Entry | None:
        """Remove and return the earliest live timer due at or before ``now``."""
        self._drop_cancelled()
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)
        return None

    def _drop_cancelled(self) -> None:
        heap, cancelled = self._heap, self._cancelled
        while heap and heap[0][1] in cancelled:
            cancelled.discard(heapq.heappop(heap)[1])
