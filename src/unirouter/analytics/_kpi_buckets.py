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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TypeVar

from unirouter.analytics import _kpi_tally

__all__ = ["Bucket", "Buckets", "Reading", "Window", "difference"]

Tally = _kpi_tally.Tally
AgentTotals = _kpi_tally.AgentTotals


@dataclass(slots=True)
class Bucket:
    """What one interval holds: item outcomes by scope, agent figures by agent."""

    totals: Tally = field(default_factory=Tally)
    queues: dict[str, Tally] = field(default_factory=dict)
    workstreams: dict[str, Tally] = field(default_factory=dict)
    agents: dict[str, AgentTotals] = field(default_factory=dict)


class Buckets:
    """Buckets on the grid ``[k * interval_s, (k + 1) * interval_s)`` of engine time."""

    def __init__(self, interval_s: float) -> None:
        if not interval_s > 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.buckets: dict[int, Bucket] = {}
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
        """The tallies of the item's arrival interval an outcome of it adds to."""
        bucket = self.at(self.index(created_t))
        scopes = [bucket.totals, bucket.workstreams.setdefault(workstream, Tally())]
        if queue is not None:
            scopes.append(bucket.queues.setdefault(queue, Tally()))
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
            self._take(self.index(self.boundary), cumulative(end))
            self.boundary = end

    def _take(self, index: int, now: Mapping[str, AgentTotals]) -> None:
        for name, totals in now.items():
            delta = difference(totals, self.marks.get(name))
            if not _empty(delta):
                self.at(index).agents[name] = delta
            self.marks[name] = totals.copy()

    def running(
        self, now: float, cumulative: Callable[[float], Mapping[str, AgentTotals]]
    ) -> dict[int, dict[str, AgentTotals]]:
        """The agent figures of the intervals from :attr:`boundary` to ``now`` that no event
        closed yet, per interval, computed without changing anything."""
        out: dict[int, dict[str, AgentTotals]] = {}
        if self.boundary is None:
            return out
        marks, begin = self.marks, self.boundary
        while begin < now:
            totals = cumulative(min(begin + self.interval_s, now))
            deltas = {name: difference(t, marks.get(name)) for name, t in totals.items()}
            out[self.index(begin)] = {n: d for n, d in deltas.items() if not _empty(d)}
            marks, begin = dict(totals), begin + self.interval_s
        return out

    def windows(self, start: float, end: float, step: float, reading: Reading) -> list[Window]:
        """The report intervals ``[start + k * step, …)`` up to ``end``; ``start`` and ``step``
        lie on the grid (multiples of :attr:`interval_s`)."""
        count = max(1, math.ceil((end - start) / step - 1e-9))
        out = [Window(start=start + k * step, end=min(start + (k + 1) * step, end))
               for k in range(count)]  # fmt: skip

        def slot(t: float) -> Window | None:
            k = math.floor((t - start) / step)
            return out[k] if 0 <= k < count and start <= t < end else None

        for index in sorted(self.buckets):
            found = slot(index * self.interval_s)
            if found is not None:
                found.add(self.buckets[index], reading.groups)
        for index, agents in reading.running.items():
            found = slot(index * self.interval_s)
            if found is not None:
                found.add_agents(agents, reading.groups)
        for created_t, workstream, queue in reading.pending:
            found = slot(created_t)
            if found is not None:
                found.add_open(workstream, queue)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What :meth:`Buckets.windows` needs from the accumulator at the time of reading."""

    #: Agent figures of the intervals no event closed yet (:meth:`Buckets.running`).
    running: Mapping[int, Mapping[str, AgentTotals]]
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

    def add(self, bucket: Bucket, groups: Mapping[str, str | None]) -> None:
        self.totals.add(bucket.totals)
        _add_all(self.queues, bucket.queues, Tally)
        _add_all(self.workstreams, bucket.workstreams, Tally)
        self.add_agents(bucket.agents, groups)

    def add_agents(
        self, agents: Mapping[str, AgentTotals], groups: Mapping[str, str | None]
    ) -> None:
        _add_all(self.agents, agents, AgentTotals)
        for name, totals in agents.items():
            group = groups.get(name)
            if group is not None:
                self.groups.setdefault(group, AgentTotals()).add(totals)

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
