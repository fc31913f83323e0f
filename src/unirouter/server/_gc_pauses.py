"""Keep the server's garbage-collector pauses short however much state it holds.

CPython's full (generation 2) collection walks every tracked object, and the engine's items, the
projection and the indexes are such objects: in the benchmark a server holding 5,000 items paused
its loop 60–100 ms per full collection, a dozen times in ten seconds. That, not routing nor SQLite,
made the p99 intake-to-offer latency (128 ms; 5 ms without it).

Objects that survived a full collection are long-lived state, so after each one they move to the
permanent generation (:func:`gc.freeze`) and the next full collection walks only what was allocated
since: its pause depends on the allocation rate, not on how many items the server holds. A larger
first threshold (fewer, slightly longer young collections) buys throughput at a pause of 1–2 ms.

Reference counting still frees every frozen object outside a reference cycle (dropped closed items,
answered requests); a cycle among frozen objects, though, would stay. So once the frozen set has
doubled since the last complete collection, it is thawed and the next full collection walks
everything once (a long pause, but only each time the live state doubles) and reclaims such cycles.
Not while an engine snapshot's copy-on-write child runs (:mod:`~unirouter.server.snapshot_child`):
a walk of every object then writes to every page of the heap, so the kernel copies them all while
the loop waits (measured: a 260 ms collection and 200–360 ms appends right after a fork). The thaw
waits for the first full collection after the child is gone.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

__all__ = ["THRESHOLDS", "bound_gc_pauses", "forked"]

#: Allocations before a young collection, young collections per middle one, middle per full one.
THRESHOLDS = (2000, 10, 10)


class _Freezer:
    """The :data:`gc.callbacks` hook: freeze after each full collection, thaw on doubling."""

    def __init__(self) -> None:
        self.walked_all_at = 0  # the frozen count right after the last complete collection
        self.thawed = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        if self.thawed:  # this collection walked everything
            self.thawed = False
            gc.freeze()
            self.walked_all_at = gc.get_freeze_count()
            return
        gc.freeze()
        if _children.alive:
            return  # a copy-on-write child shares the heap: walking it all would copy it all
        if gc.get_freeze_count() > 2 * max(self.walked_all_at, 1):
            gc.unfreeze()  # the next full collection walks it all and reclaims frozen cycles
            self.thawed = True


_freezer = _Freezer()


class _Children:
    """How many copy-on-write children (engine snapshots) share this process's heap now."""

    def __init__(self) -> None:
        self.alive = 0
        self._lock = threading.Lock()  # ended in a worker thread, begun in the loop's

    def change(self, by: int) -> None:
        with self._lock:
            self.alive += by


_children = _Children()


def forked(alive: bool) -> None:
    """A copy-on-write child was forked (``True``) or has ended (``False``): no thaw meanwhile."""
    _children.change(1 if alive else -1)


def bound_gc_pauses() -> None:
    """Collect once and freeze what is alive now (the state a restart replayed), then freeze what
    survives each full collection. Idempotent; for the serving process only, since it changes the
    interpreter's global collector settings."""
    gc.collect()
    gc.freeze()
    _freezer.walked_all_at = gc.get_freeze_count()
    gc.set_threshold(*THRESHOLDS)
    if _freezer not in gc.callbacks:
        gc.callbacks.append(_freezer)
