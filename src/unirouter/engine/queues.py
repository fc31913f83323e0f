"""Per-queue runtime indexes: agent pools and waiting-item groups (R6–R11, R16).

A queue keeps

* **agent pools**, one per :class:`~unirouter.engine.matching.Signature`: a lazy-deletion heap of the
  members that are ready to take work here (allowed presence, enough free units), ordered by the queue's
  assignment method (R17);
* **item groups**, one per :class:`~unirouter.engine.matching.Requirement`: a lazy-deletion heap of the
  waiting items with those requirements, ordered by the queue order (R6–R9).

Entries are ``(key, version, id)``; an entry is live while the record's version still equals it. Nothing
is ever removed eagerly: a stale entry is dropped when it reaches the top, and a heap is rebuilt when
stale entries outnumber live ones. So every decision looks at the head of a few heaps, never at every
agent or every item (R11 holds because items that fit nobody live in other groups).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Any

from unirouter import calendars
from unirouter.config import model
from unirouter.engine import matching

__all__ = ["Entry", "LazyHeap", "QueueRuntime"]

Entry = tuple[Any, int, str]


class LazyHeap:
    """A heap of ``(key, version, id)`` entries with lazy deletion; ``live`` counts current entries."""

    __slots__ = ("entries", "live")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.live = 0

    def push(self, key: Any, version: int, ident: str) -> None:
        heapq.heappush(self.entries, (key, version, ident))

    def first(self, valid: Callable[[Entry], bool], fits: Callable[[str], bool]) -> Entry | None:
        """The smallest live entry whose id ``fits``; stale entries met on the way are dropped."""
        entries = self.entries
        while entries and not valid(entries[0]):
            heapq.heappop(entries)
        if not entries:
            return None
        if fits(entries[0][2]):
            return entries[0]
        return self._search(valid, fits)

    def _search(self, valid: Callable[[Entry], bool], fits: Callable[[str], bool]) -> Entry | None:
        """Slow path: pop past live entries that do not fit, then put them back."""
        entries, aside = self.entries, []
        found: Entry | None = None
        while entries:
            entry = heapq.heappop(entries)
            if not valid(entry):
                continue
            aside.append(entry)
            if fits(entry[2]):
                found = entry
                break
        for entry in aside:
            heapq.heappush(entries, entry)
        return found

    def live_entries(self, valid: Callable[[Entry], bool]) -> Iterator[Entry]:
        """Every live entry, in no particular order (for listings and custom rules)."""
        return (entry for entry in self.entries if valid(entry))

    def compact(self, valid: Callable[[Entry], bool]) -> None:
        """Drop stale entries once they outnumber live ones, so memory follows the live count."""
        if len(self.entries) > 4 * self.live + 64:
            self.entries = [entry for entry in self.entries if valid(entry)]
            heapq.heapify(self.entries)


class QueueRuntime:
    """One queue's settings (from the configuration) and live indexes."""

    __slots__ = (
        "aht_ema",
        "allowed",
        "calendar",
        "cfg",
        "groups",
        "matches",
        "members",
        "method",
        "min_units",
        "name",
        "offered",
        "pools",
        "post_rules",
        "present",
        "profiles",
        "ready",
        "slots",
        "staffed",
        "unready",
        "waiting",
    )

    def __init__(self, name: str, cfg: model.Queue, calendar: calendars.Calendar | None) -> None:
        self.name = name
        self.cfg = cfg
        self.method = cfg.assignment.method
        self.calendar = calendar
        self.members: dict[str, float] = {}
        self.pools: dict[matching.Signature, LazyHeap] = {}
        self.groups: dict[tuple[str, matching.Requirement], LazyHeap] = {}
        self.matches: dict[Any, Any] = {}
        self.allowed: frozenset[model.BasePresence] = frozenset(
            {model.BasePresence.AVAILABLE, model.BasePresence.BUSY}
        )
        self.min_units = 0
        self.profiles: tuple[str, ...] = ()
        self.waiting = 0
        self.offered = 0
        self.present = 0
        #: Members logged in to work here, busy ones included (R12), and the items they can hold.
        self.staffed = 0
        self.slots = 0
        self.ready = 0
        #: Members present with an allowed presence but out of the pools, by reason (R43).
        self.unready: dict[str, dict[str, None]] = {}
        self.aht_ema: float | None = None
        #: (rule index, seconds) of the post-queue ``waited_s`` rules (R13).
        self.post_rules = tuple(
            (index, float(rule.condition[1] or 0))
            for index, rule in enumerate(cfg.overflow)
            if rule.condition[0] == "waited_s"
        )

    @property
    def priority(self) -> int:
        return self.cfg.priority

    def pool(self, sig: matching.Signature) -> LazyHeap:
        heap = self.pools.get(sig)
        if heap is None:
            heap = self.pools[sig] = LazyHeap()
            self.matches.clear()
        return heap

    def group(self, req: tuple[str, matching.Requirement]) -> LazyHeap:
        heap = self.groups.get(req)
        if heap is None:
            heap = self.groups[req] = LazyHeap()
        return heap

    def record_handle_time(self, seconds: float) -> None:
        """Feed the moving average of handle times behind EWT (SPEC §8)."""
        self.aht_ema = seconds if self.aht_ema is None else 0.9 * self.aht_ema + 0.1 * seconds

    def ewt(self) -> float:
        """Estimated wait of a new arrival: (waiting + 1) × recent handle time ÷ the items the
        staffed members can hold at once (SPEC §8; busy members staff the queue too, R12).

        With no handle time observed yet the estimate is 0; with nobody staffed it is infinite.
        """
        if self.aht_ema is None:
            return 0.0
        if self.slots <= 0:
            return float("inf")
        return (self.waiting + 1) * self.aht_ema / self.slots
