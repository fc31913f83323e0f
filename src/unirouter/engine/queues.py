"""Per-queue runtime indexes: agent pools and waiting-item groups (R6–R11, R16).

A queue keeps

* **agent pools**, one per :class:`~unirouter.engine.matching.Signature`: the members that are ready to
  take work here (allowed presence, enough free units), with their key in the queue's assignment method
  (R17) and their count (``live``);
* **requirement indexes**, one per (:class:`~unirouter.engine.matching.Requirement`, skill match) a
  decision has asked about: a lazy-deletion heap of the ready members whose signature qualifies,
  ordered by (rank, method key) (R16–R18), and live counts of the ready members that qualify and that
  lack a capacity profile. A pool fans each push and each change of its count out to the indexes its
  signature qualifies for, so a decision reads one heap head, however varied the agents' levels;
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

__all__ = ["Entry", "LazyHeap", "Pool", "QueueRuntime", "ReqIndex"]

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


class ReqIndex(LazyHeap):
    """The ready members of one queue that qualify for one requirement under one skill match.

    Entries are ``((*rank, *method key), version, agent id)``: the heap head is the best match
    (R16–R18) whatever signature it has. ``live`` counts the ready members that qualify, ``lacking``
    those whose signature lacks a capacity profile the requirement carries; ``short`` lists the pools
    whose skills fall short, in the queue's pool order (R43 names from them). ``idle`` counts the
    pushes since a decision last asked for it; past ``budget`` it is dropped.
    """

    __slots__ = ("budget", "idle", "lacking", "match", "req", "short")

    def __init__(self, req: matching.Requirement, match: model.SkillMatch) -> None:
        super().__init__()
        self.req = req
        self.match = match
        self.lacking = 0
        self.short: list[Pool] = []
        self.idle = 0
        self.budget = 0


class Pool:
    """The ready members of one queue with one signature, and the requirement indexes they feed.

    ``latest`` maps each member pushed here to its latest ``(key, version)``: a member is ready while
    that version is still the agent's. ``live`` counts the ready members; a change of it moves the
    counts of the indexes this signature qualifies for (``feeds``, with its rank there) or lacks a
    profile for (``lacks``). ``owner`` is the queue.
    """

    __slots__ = ("_live", "feeds", "lacks", "latest", "owner", "sig")

    def __init__(self, sig: matching.Signature, owner: QueueRuntime) -> None:
        self.sig = sig
        self.owner = owner
        self._live = 0
        self.latest: dict[str, tuple[Any, int]] = {}
        self.feeds: list[tuple[ReqIndex, tuple[Any, ...]]] = []
        self.lacks: list[ReqIndex] = []

    @property
    def live(self) -> int:
        return self._live

    @live.setter
    def live(self, value: int) -> None:
        delta = value - self._live
        self._live = value
        for index, _ in self.feeds:
            index.live += delta
        for index in self.lacks:
            index.lacking += delta

    def push(self, key: Any, version: int, ident: str) -> None:
        self.latest[ident] = (key, version)
        push = heapq.heappush
        for index, rank in self.feeds:
            push(index.entries, ((*rank, *key) if rank else key, version, ident))

    def compact(self, valid: Callable[[Entry], bool]) -> None:
        """Forget members no longer ready here once they outnumber ready ones; compact the indexes
        and drop those idle past their budget."""
        latest = self.latest
        if len(latest) > 2 * self._live + 8:
            self.latest = {i: kv for i, kv in latest.items() if valid((kv[0], kv[1], i))}
        idle: list[ReqIndex] | None = None
        for index, _ in self.feeds:
            if len(index.entries) > 4 * index.live + 64:  # LazyHeap.compact's test, inlined
                index.compact(valid)
            index.idle += 1
            if index.idle > index.budget:
                idle = [index] if idle is None else [*idle, index]
        if idle is not None:
            for index in idle:
                self.owner.drop(index)

    def ready_ids(self, valid: Callable[[Entry], bool]) -> Iterator[str]:
        """The ready members, in the order they first became ready here."""
        return (i for i, (key, version) in self.latest.items() if valid((key, version, i)))


class QueueRuntime:
    """One queue's settings (from the configuration) and live indexes."""

    __slots__ = (
        "aht_ema",
        "allowed",
        "calendar",
        "cfg",
        "groups",
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
        "reqs",
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
        self.pools: dict[matching.Signature, Pool] = {}
        self.groups: dict[tuple[str, matching.Requirement], LazyHeap] = {}
        self.reqs: dict[tuple[matching.Requirement, model.SkillMatch], ReqIndex] = {}
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

    def pool(self, sig: matching.Signature) -> Pool:
        pool = self.pools.get(sig)
        if pool is None:
            pool = self.pools[sig] = Pool(sig, self)
            for index in self.reqs.values():
                self._attach(pool, index)
        return pool

    def requirement(self, req: matching.Requirement, match: model.SkillMatch) -> ReqIndex:
        """The index of the ready members qualifying for ``req``; built from the pools on first use
        (one pass over them), then kept current by their pushes."""
        index = self.reqs.get((req, match))
        if index is None:
            index = self.reqs[(req, match)] = ReqIndex(req, match)
            for pool in self.pools.values():
                rank = self._attach(pool, index)
                if rank is not None:
                    index.entries.extend(
                        ((*rank, *key) if rank else key, version, ident)
                        for ident, (key, version) in pool.latest.items()
                    )
            heapq.heapify(index.entries)
            # Kept while it is asked for at least once per this many pushes: what building it
            # again would cost, so an unused index costs at most its own rebuild.
            index.budget = 4 * (len(self.pools) + len(index.entries)) + 16
        index.idle = 0
        return index

    def drop(self, index: ReqIndex) -> None:
        """Forget a requirement index: no pool feeds it any more (built again when asked)."""
        if self.reqs.get((index.req, index.match)) is not index:
            return
        del self.reqs[(index.req, index.match)]
        for pool in self.pools.values():
            if any(fed is index for fed, _ in pool.feeds):
                pool.feeds = [(fed, rank) for fed, rank in pool.feeds if fed is not index]
            elif index in pool.lacks:
                pool.lacks.remove(index)

    def _attach(self, pool: Pool, index: ReqIndex) -> tuple[Any, ...] | None:
        """Link ``pool`` to ``index`` by how its signature fits the requirement; its rank, if it
        qualifies."""
        rank = matching.rank(index.req, pool.sig, index.match, self.method)
        if rank is not None:
            pool.feeds.append((index, rank))
            index.live += pool.live
        elif matching.exclusion(index.req, pool.sig, index.match) == "profile":
            pool.lacks.append(index)
            index.lacking += pool.live
        else:
            index.short.append(pool)
        return rank

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
