"""KPIs per fixed interval of time, kept beside the run's totals (historical reports, SPEC §8).

Two rules decide where a figure lands:

* **Items by arrival.** An item's outcome (answered, abandoned, its wait and handle time, …) is
  added to the bucket of the interval the item was *created* in, when the outcome happens. So an
  interval's ``arrived`` is the items that arrived in it, and ``arrived = answered + abandoned + …
  + left_open`` holds per interval as it does for a whole run; an interval's figures still change
  while its items are open.
* **Agents by time.** Agent integrals and counts (logged-in and busy time, offers, declines, …)
  land in the interval they happen in. The accumulator's per-agent totals are cumulative, so each
  interval holds the difference of the totals at its two ends: :meth:`Buckets.close_until` takes
  the totals at every interval boundary that passes.

Buckets are sparse (an interval with nothing in it holds nothing) and their size grows with the
number of intervals, queues and agents, never with the number of items.

**Roll-ups.** Beside the finest grid the buckets may keep coarser ones (the server's fold keeps
hours and days): every figure added to a 15-minute bucket is added to its hour's and its day's
bucket at the same moment. A report interval is then summed from the fewest buckets that tile it
(:meth:`Buckets.cover`): a 30-day window reads about 30 day buckets and a few hours and quarters at
its edges instead of 2,880 quarters, so its cost follows the number of report intervals, not the
length of the window.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal, TypeVar

from unirouter.analytics import _kpi_tally

__all__ = ["Bucket", "Buckets", "Parts", "Reading", "Window", "difference"]

Tally = _kpi_tally.Tally
AgentTotals = _kpi_tally.AgentTotals


@dataclass(slots=True)
class Bucket:
    """What one interval holds: item outcomes by scope, agent figures by agent."""

    totals: Tally = field(default_factory=Tally)
    queues: dict[str, Tally] = field(default_factory=dict)
    workstreams: dict[str, Tally] = field(default_factory=dict)
    agents: dict[str, AgentTotals] = field(default_factory=dict)


#: Which figures a report reads: item outcomes, agent figures, or both.
Parts = Literal["items", "agents", "all"]


class Buckets:
    """Buckets on the grid ``[k * interval_s, (k + 1) * interval_s)`` of engine time, and on the
    coarser grids of ``rollups`` (each a whole multiple of the one before)."""

    def __init__(self, interval_s: float, rollups: Sequence[float] = ()) -> None:
        if not interval_s > 0:
            raise ValueError("interval_s must be positive")
        sizes = [float(interval_s), *(float(r) for r in rollups)]
        for finer, coarser in itertools.pairwise(sizes):
            ratio = coarser / finer
            if ratio < 2 or abs(ratio - round(ratio)) > 1e-9:
                raise ValueError(
                    "each roll-up must be a whole multiple (2 or more) of the one before"
                )
        self.interval_s = interval_s
        #: ``(size, buckets by index)`` from the finest grid to the coarsest.
        self.levels: list[tuple[float, dict[int, Bucket]]] = [(size, {}) for size in sizes]
        self.buckets: dict[int, Bucket] = self.levels[0][1]
        #: The cumulative agent totals at :attr:`boundary`, the last boundary taken.
        self.marks: dict[str, AgentTotals] = {}
        self.boundary: float | None = None

    def index(self, t: float) -> int:
        return math.floor(t / self.interval_s)

    def at(self, index: int) -> Bucket:
        found = self.buckets.get(index)
        if found is None:
            found = self.buckets[index] = Bucket()
        return found

    def scopes(self, created_t: float, workstream: str, queue: str | None) -> list[Tally]:
        """The tallies of the item's arrival interval an outcome of it adds to, on every grid."""
        scopes: list[Tally] = []
        for size, buckets in self.levels:
            index = math.floor(created_t / size)
            bucket = buckets.get(index)
            if bucket is None:
                bucket = buckets[index] = Bucket()
            scopes.append(bucket.totals)
            scopes.append(_tally(bucket.workstreams, workstream))
            if queue is not None:
                scopes.append(_tally(bucket.queues, queue))
        return scopes

    def due(self, t: float) -> bool:
        """Whether an event at ``t`` passes a boundary not taken yet."""
        return self.boundary is None or t >= self.boundary + self.interval_s

    def close_until(
        self, t: float, cumulative: Callable[[float], Mapping[str, AgentTotals]]
    ) -> None:
        """Take every boundary up to ``t``: the agent figures of each interval that ended there
        are the difference of ``cumulative(boundary)`` and the previous boundary's totals."""
        last = self.index(t) * self.interval_s
        if self.boundary is None:  # the first event: nothing happened before its interval
            self.boundary = last
            self.marks = {name: totals.copy() for name, totals in cumulative(last).items()}
            return
        while self.boundary < last:
            end = self.boundary + self.interval_s
            self._take(self.boundary, cumulative(end))
            self.boundary = end

    def _take(self, start: float, now: Mapping[str, AgentTotals]) -> None:
        rolled = [(buckets, math.floor(start / size)) for size, buckets in self.levels[1:]]
        for name, totals in now.items():
            delta = difference(totals, self.marks.get(name))
            if not _empty(delta):
                self.at(self.index(start)).agents[name] = delta
                for buckets, index in rolled:
                    bucket = buckets.get(index)
                    if bucket is None:
                        bucket = buckets[index] = Bucket()
                    found = bucket.agents.get(name)
                    if found is None:
                        bucket.agents[name] = delta.copy()
                    else:
                        found.add(delta)
            self.marks[name] = totals.copy()

    def cover(self, start: float, end: float) -> Iterator[tuple[int, int]]:
        """``(level, index)`` of the buckets that tile ``[start, end)``: the coarsest grid's
        whole buckets inside it, then finer ones at its edges (buckets that hold nothing are
        not looked up one by one when there are fewer stored than the range spans)."""
        yield from self._cover(len(self.levels) - 1, start, end)

    def _cover(self, level: int, start: float, end: float) -> Iterator[tuple[int, int]]:
        if end <= start:
            return
        size, buckets = self.levels[level]
        if level == 0:  # every bucket starting inside [start, end)
            first, last = math.ceil(start / size - 1e-9), math.ceil(end / size - 1e-9)
        else:
            first, last = math.ceil(start / size - 1e-9), math.floor(end / size + 1e-9)
            if first >= last:
                yield from self._cover(level - 1, start, end)
                return
            yield from self._cover(level - 1, start, first * size)
        if last - first <= len(buckets):
            yield from ((level, k) for k in range(first, last) if k in buckets)
        else:
            yield from ((level, k) for k in sorted(buckets) if first <= k < last)
        if level > 0:
            yield from self._cover(level - 1, last * size, end)

    def windows(
        self, start: float, end: float, step: float, reading: Reading, parts: Parts = "all"
    ) -> list[Window]:
        """The report intervals ``[start + k * step, …)`` up to ``end``; ``start`` and ``step``
        lie on the finest grid (multiples of :attr:`interval_s`). ``parts`` leaves out the
        figures a report does not show."""
        count = max(1, math.ceil((end - start) / step - 1e-9))
        out = [Window(start=start + k * step, end=min(start + (k + 1) * step, end))
               for k in range(count)]  # fmt: skip
        items, agents = parts != "agents", parts != "items"
        sources: list[list[Mapping[str, AgentTotals]]] = [[] for _ in out]
        for window, found in zip(out, sources, strict=True):
            for level, index in self.cover(window.start, window.end):
                bucket = self.levels[level][1][index]
                if items:
                    window.add_items(bucket)
                if agents and bucket.agents:
                    found.append(bucket.agents)
        if agents:
            for k, figures in self._running(out, reading):
                sources[k].append(figures)
            for window, found in zip(out, sources, strict=True):
                window.set_agents(found, reading.groups)
        if items:

            def slot(t: float) -> Window | None:
                k = math.floor((t - start) / step)
                return out[k] if 0 <= k < count and start <= t < end else None

            for created_t, workstream, queue in reading.pending:
                found_window = slot(created_t)
                if found_window is not None:
                    found_window.add_open(workstream, queue)
        return out

    def _running(
        self, out: Sequence[Window], reading: Reading
    ) -> Iterator[tuple[int, dict[str, AgentTotals]]]:
        """The agent figures since :attr:`boundary` (the intervals no event closed yet) up to
        ``reading.now``, per report window: the difference of the cumulative totals at the two
        ends of the window's part after the boundary. Integrals add up, so a window spanning a
        quiet night costs one difference, not one per quarter."""
        if self.boundary is None:
            return
        known: dict[float, Mapping[str, AgentTotals]] = {self.boundary: self.marks}

        def at(t: float) -> Mapping[str, AgentTotals]:
            found = known.get(t)
            if found is None:
                found = known[t] = reading.cumulative(t)
            return found

        for k, window in enumerate(out):
            low, high = max(window.start, self.boundary), min(window.end, reading.now)
            if high <= low:
                continue
            earlier = at(low)
            deltas = {name: difference(t, earlier.get(name)) for name, t in at(high).items()}
            figures = {name: d for name, d in deltas.items() if not _empty(d)}
            if figures:
                yield k, figures


def _tally(scopes: dict[str, Tally], name: str) -> Tally:
    found = scopes.get(name)
    if found is None:
        found = scopes[name] = Tally()
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What :meth:`Buckets.windows` needs from the accumulator at the time of reading."""

    #: Every agent's totals from the start up to a time (agent figures no event closed yet).
    cumulative: Callable[[float], Mapping[str, AgentTotals]]
    #: The time of reading (agent time is integrated up to it).
    now: float
    #: Open, unanswered items: (created_t, workstream, current queue).
    pending: Iterable[tuple[float, str, str | None]]
    #: Each agent's group (None: none).
    groups: Mapping[str, str | None]


_TIME_FIELDS = tuple(f.name for f in fields(AgentTotals) if f.name != "presence_s")


def difference(later: AgentTotals, earlier: AgentTotals | None) -> AgentTotals:
    """``later - earlier`` field by field (presence time per presence too)."""
    out = later.copy()
    if earlier is None:
        return out
    for name in _TIME_FIELDS:
        setattr(out, name, getattr(later, name) - getattr(earlier, name))
    for presence, seconds in earlier.presence_s.items():
        left = out.presence_s.get(presence, 0.0) - seconds
        if abs(left) > 1e-9:
            out.presence_s[presence] = left
        else:
            out.presence_s.pop(presence, None)
    return out


def _empty(totals: AgentTotals) -> bool:
    return not totals.presence_s and not any(getattr(totals, name) for name in _TIME_FIELDS)


@dataclass(slots=True)
class Window:
    """The KPIs of one report interval ``[start, end)``, summed from its buckets."""

    start: float
    end: float
    totals: Tally = field(default_factory=Tally)
    queues: dict[str, Tally] = field(default_factory=dict)
    workstreams: dict[str, Tally] = field(default_factory=dict)
    agents: dict[str, AgentTotals] = field(default_factory=dict)
    groups: dict[str, AgentTotals] = field(default_factory=dict)

    def add_items(self, bucket: Bucket) -> None:
        self.totals.add(bucket.totals)
        _add_all(self.queues, bucket.queues, Tally)
        _add_all(self.workstreams, bucket.workstreams, Tally)

    def set_agents(
        self, sources: Sequence[Mapping[str, AgentTotals]], groups: Mapping[str, str | None]
    ) -> None:
        """The agent figures of the window, summed from ``sources``; one source is taken as it
        is, without copying (a window is read, never added to, once made)."""
        if len(sources) == 1:
            self.agents = dict(sources[0])
        else:
            for source in sources:
                _add_all(self.agents, source, AgentTotals)
        for name, totals in self.agents.items():
            group = groups.get(name)
            if group is not None:
                found = self.groups.get(group)
                if found is None:
                    self.groups[group] = totals.copy()
                else:
                    found.add(totals)

    def add_open(self, workstream: str, queue: str | None) -> None:
        """An item of this interval still open and unanswered: arrived, and left open."""
        scopes = [self.totals, self.workstreams.setdefault(workstream, Tally())]
        if queue is not None:
            scopes.append(self.queues.setdefault(queue, Tally()))
        for scope in scopes:
            scope.arrived += 1
            scope.left_open += 1


S = TypeVar("S", Tally, AgentTotals)


def _add_all(into: dict[str, S], parts: Mapping[str, S], make: Callable[[], S]) -> None:
    for name, part in parts.items():
        found = into.get(name)
        if found is None:
            found = into[name] = make()
        found.add(part)
