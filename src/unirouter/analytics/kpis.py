"""Streaming KPIs of a simulation run (SPEC §7 ``--json``, definitions of §8), fed one engine event
at a time.

Memory is bounded: an item's state lives only while it is open (from ``item_created`` to
``item_closed``), per-agent state is bounded by the agents, and the report series by the run length.

Business rules, as read here:

* **Which items count.** Items created at or after ``warmup_s``. Agent integrals and agent counts
  (offers, declines, …) start at ``warmup_s`` whatever the item, and stop at ``end_s`` when one is
  given (with generated traffic the runner gives the scenario's ``duration``: an agent's figures
  describe the measured day, not the drain after it, when agents finish the last items and then
  sit idle).
* **Attribution.** An answered item belongs to the queue where it was first assigned; an unanswered
  one to the queue it was in when it closed (an item still open at ``finish`` to its current queue,
  as ``arrived`` and ``left_open``). ``overflowed`` is counted in the queue the item overflowed *from*, once per
  overflow that moved or ended it (``assign_anyway`` is not counted). Per workstream: by the item's
  workstream. ``totals`` is the sum over items, so ``arrived`` adds up across queues.
* **Wait.** From entering the first queue (``item_queued``) to the first ``item_assigned``; offers
  in between count as waiting. Answered within the service level means ``wait <= service_level_s``
  of the answering queue; an abandon with ``wait < short_abandon_s`` of its queue is short. An item
  that never entered a queue has no wait: it is left out of ``mean_wait_s`` and an abandon of it is
  short. Cancelled items (reason ``cancelled``) are arrived but not in any wait KPI.
* **Handle time.** The time an item spent assigned or in wrap-up (parked time and re-queued time
  excluded), counted in ``aht_s`` when an answered item closes.
* **Capacity** follows the engine (R22): units (from the item's ``item_created``) are reserved at
  ``offer_made``, released at ``offer_declined`` / ``offer_expired`` / ``offer_withdrawn`` and at
  ``capacity_released``; an ``item_assigned`` without a reservation (auto-accept, pick, force)
  takes them then. So a ``wrap_up.block: none`` item is busy (occupancy) but uses no units.
* **Agent time.** Logged in = a presence other than ``offline``; busy time and unit integrals are
  taken only while logged in, so occupancy and utilisation share a denominator period.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unirouter.analytics import _kpi_buckets, _kpi_combine, _kpi_series, _kpi_state, _kpi_tally
from unirouter.config import model
from unirouter.engine import Event, EventType

__all__ = ["KpiAccumulator", "KpiResult", "combine", "empty_histogram"]

ET = EventType
_MOVING_OVERFLOWS = frozenset({"transfer", "callback", "end"})
_DEFAULT_QUEUE = model.Queue(kind=model.Kind.MESSAGING)


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiResult:
    """The KPIs of one run (one replication); :meth:`to_dict` is the ``--json`` part of SPEC §7."""

    end_s: float
    warmup_s: float
    totals: _kpi_tally.Tally
    queues: Mapping[str, _kpi_tally.Tally]
    workstreams: Mapping[str, _kpi_tally.Tally]
    agents: Mapping[str, _kpi_tally.AgentTotals]
    groups: Mapping[str, _kpi_tally.AgentTotals]
    series: Mapping[str, Mapping[str, Any]]
    wait_histogram: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals.kpis(),
            "queues": {name: t.kpis() for name, t in sorted(self.queues.items())},
            "workstreams": {name: t.kpis() for name, t in sorted(self.workstreams.items())},
            "agents": {name: a.kpis() for name, a in sorted(self.agents.items())},
            "groups": {name: g.kpis() for name, g in sorted(self.groups.items())},
            "series": {name: dict(s) for name, s in sorted(self.series.items())},
            "wait_histogram": dict(self.wait_histogram),
        }


class KpiAccumulator:
    """Feed every engine event in order with :meth:`feed`; read the KPIs with :meth:`finish`."""

    def __init__(
        self,
        config: model.Config,
        *,
        warmup_s: float = 0.0,
        end_s: float | None = None,
        interval_s: float | None = None,
        rollups: Sequence[float] = (),
    ) -> None:
        """``interval_s`` also keeps the KPIs per interval of that length (:meth:`intervals`;
        the rules are in :mod:`unirouter.analytics._kpi_buckets`), and per interval of each of
        ``rollups`` (coarser grids that long reports read); events must then come through
        :meth:`feed`, which takes the interval boundaries as time passes them."""
        self._config = config
        self._buckets = None if interval_s is None else _kpi_buckets.Buckets(interval_s, rollups)
        self._warmup_s = warmup_s
        self._end_s = math.inf if end_s is None else end_s
        self._items: dict[str, _kpi_state.Item] = {}
        self._agents: dict[str, _kpi_state.Agent] = {}
        for agent_id in config.agents:
            self._agent(agent_id)
        self._totals = _kpi_tally.Tally()
        self._queues: dict[str, _kpi_tally.Tally] = {}
        self._workstreams: dict[str, _kpi_tally.Tally] = {}
        self._series: dict[str, _kpi_series.QueueSeries] = {}
        #: The run's tallies an item's outcome adds to, per (workstream, queue): built once each,
        #: not per outcome (the interval buckets, when kept, are added per item).
        self._scope_sets: dict[tuple[str, str | None], tuple[_kpi_tally.Tally, ...]] = {}
        self._total_histogram = _kpi_series.QueueSeries(start_s=warmup_s)
        self._handlers: dict[EventType, Callable[[Event], None]] = {
            ET.ITEM_CREATED: self._on_created,
            ET.ITEM_ROUTED: self._on_routed,
            ET.ITEM_QUEUED: self._on_queued,
            ET.ITEM_OVERFLOWED: self._on_overflowed,
            ET.OFFER_MADE: self._on_offer_made,
            ET.OFFER_DECLINED: self._on_offer_ended,
            ET.OFFER_EXPIRED: self._on_offer_ended,
            ET.OFFER_WITHDRAWN: self._on_offer_ended,
            ET.ITEM_ASSIGNED: self._on_assigned,
            ET.ITEM_PARKED: self._on_parked,
            ET.ITEM_TRANSFERRED: self._on_transferred,
            ET.CAPACITY_RELEASED: self._on_capacity_released,
            ET.ITEM_CLOSED: self._on_closed,
            ET.PRESENCE_CHANGED: self._on_presence,
        }

    @property
    def open_items(self) -> int:
        """How many items are open now: the only per-item memory held."""
        return len(self._items)

    def feed(self, event: Event) -> None:
        """Take one engine event (events must come in ``seq`` order)."""
        if self._buckets is not None and self._buckets.due(event.t):
            self._buckets.close_until(event.t, self._cumulative)
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(event)

    def handlers(self) -> Mapping[EventType, Callable[[Event], None]]:
        """What :meth:`feed` calls per event type (types not listed are ignored): a caller that
        dispatches on the type itself (the scenario runner) calls these directly, once per event."""
        return dict(self._handlers)

    def feed_all(self, events: Sequence[Event]) -> None:
        for event in events:
            self.feed(event)

    def apply_config(self, config: model.Config, t: float) -> None:
        """A new configuration (R42) at ``t``: queues' thresholds and agents' capacity and group
        follow it from then on (an agent's time so far is integrated under the old capacity)."""
        self._config = config
        for agent_id, agent in self._agents.items():
            cfg = config.agents.get(agent_id)
            if cfg is None:
                continue
            agent.advance(t)
            agent.capacity_units = cfg.capacity_units
            group = cfg.attributes.get("group")
            agent.group = None if group is None else str(group)

    # -- reading ----------------------------------------------------------------------------------

    def finish(self, end_t: float) -> KpiResult:
        """The KPIs with agent time integrated up to ``end_t``; changes nothing, so it may be read
        mid-run too. Items still open and unanswered count as ``arrived`` and ``left_open`` in
        their current queue."""
        totals, queues, workstreams = (
            _copy(self._totals),
            _copies(self._queues),
            _copies(self._workstreams),
        )
        for item in self._items.values():
            if item.counted and item.answered_in is None:
                scopes = [totals, workstreams.setdefault(item.workstream, _kpi_tally.Tally())]
                if item.queue is not None:
                    scopes.append(queues.setdefault(item.queue, _kpi_tally.Tally()))
                for scope in scopes:
                    scope.arrived += 1
                    scope.left_open += 1
        agents = {name: self._agent_totals(agent, end_t) for name, agent in self._agents.items()}
        series = {name: s.snapshot(end_t) for name, s in self._series.items()}
        histogram = self._total_histogram.snapshot(end_t)["wait_histogram"]
        return KpiResult(
            end_s=end_t, warmup_s=self._warmup_s, totals=totals, queues=queues,
            workstreams=workstreams, agents=agents, groups=self._groups(agents), series=series,
            wait_histogram=histogram,
        )  # fmt: skip

    def intervals(
        self,
        start: float,
        end: float,
        step: float,
        now: float,
        parts: _kpi_buckets.Parts = "all",
    ) -> list[_kpi_buckets.Window]:
        """The KPIs per report interval ``[start + k * step, …)`` up to ``end`` (both on the grid
        of ``interval_s``), with agent time integrated up to ``now``; changes nothing. ``parts``
        says which figures are wanted (item outcomes, agent figures or both)."""
        if self._buckets is None:
            raise ValueError("this accumulator keeps no intervals (interval_s)")
        pending = (
            []
            if parts == "agents"
            else [(i.created_t, i.workstream, i.queue)
                  for i in self._items.values() if i.counted and i.answered_in is None]
        )  # fmt: skip
        reading = _kpi_buckets.Reading(
            cumulative=self._cumulative,
            now=min(now, end),
            pending=pending,
            groups={name: agent.group for name, agent in self._agents.items()},
        )
        return self._buckets.windows(start, end, step, reading, parts)

    def _cumulative(self, t: float) -> dict[str, _kpi_tally.AgentTotals]:
        """Every agent's totals from the start up to ``t``."""
        return {name: self._agent_totals(agent, t) for name, agent in self._agents.items()}

    def _agent_totals(self, agent: _kpi_state.Agent, end_t: float) -> _kpi_tally.AgentTotals:
        out = agent.totals.copy()
        agent.integrate(end_t, out)
        return out

    def _groups(
        self, agents: Mapping[str, _kpi_tally.AgentTotals]
    ) -> dict[str, _kpi_tally.AgentTotals]:
        groups: dict[str, _kpi_tally.AgentTotals] = {}
        for name, totals in agents.items():
            group = self._agents[name].group
            if group is not None:
                groups.setdefault(group, _kpi_tally.AgentTotals()).add(totals)
        return groups

    # -- scopes -----------------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> _kpi_state.Agent:
        found = self._agents.get(agent_id)
        if found is None:
            cfg = self._config.agents.get(agent_id) or model.AgentDef()
            group = cfg.attributes.get("group")
            found = self._agents[agent_id] = _kpi_state.Agent(
                capacity_units=cfg.capacity_units,
                group=None if group is None else str(group),
                start_s=self._warmup_s,
                end_s=self._end_s,
            )
        return found

    def _agent_window(self, t: float) -> bool:
        """Whether an agent's count at ``t`` falls in the measured period."""
        return self._warmup_s <= t <= self._end_s

    def _queue_cfg(self, name: str | None) -> model.Queue:
        """The queue's settings; a queue unknown to the configuration has the defaults."""
        return self._config.queues.get(name or "") or _DEFAULT_QUEUE

    def _queue_series(self, name: str) -> _kpi_series.QueueSeries:
        found = self._series.get(name)
        if found is None:
            found = self._series[name] = _kpi_series.QueueSeries(start_s=self._warmup_s)
        return found

    def _scopes(self, item: _kpi_state.Item, queue: str | None) -> Sequence[_kpi_tally.Tally]:
        """The tallies an outcome of ``item`` in ``queue`` adds to: the totals, its workstream's,
        the queue's (none for None) and, when intervals are kept, its arrival interval's."""
        key = (item.workstream, queue)
        scopes = self._scope_sets.get(key)
        if scopes is None:
            found = [self._totals, self._scope(self._workstreams, item.workstream)]
            if queue is not None:
                found.append(self._scope(self._queues, queue))
            scopes = self._scope_sets[key] = tuple(found)
        if self._buckets is not None:
            return [*scopes, *self._buckets.scopes(item.created_t, item.workstream, queue)]
        return scopes

    @staticmethod
    def _scope(tallies: dict[str, _kpi_tally.Tally], name: str) -> _kpi_tally.Tally:
        found = tallies.get(name)
        if found is None:
            found = tallies[name] = _kpi_tally.Tally()
        return found

    # -- items ------------------------------------------------------------------------------------

    def _on_created(self, event: Event) -> None:
        data, t = event.data, event.t
        self._items[event.item or ""] = _kpi_state.Item(
            str(data.get("workstream")), t, int(data.get("units") or 0), t >= self._warmup_s
        )

    def _on_routed(self, event: Event) -> None:
        self._items[event.item or ""].queue = event.queue

    def _on_queued(self, event: Event) -> None:
        item = self._items[event.item or ""]
        queue = item.queue = event.queue
        if item.first_queued_t is None:
            item.first_queued_t = event.t
        if item.waiting_in != queue:
            self._set_waiting(item, queue, event.t)

    def _on_overflowed(self, event: Event) -> None:
        item = self._items[event.item or ""]
        if item.counted and event.data.get("action") in _MOVING_OVERFLOWS:
            for scope in self._scopes(item, event.queue):
                scope.overflowed += 1

    def _on_assigned(self, event: Event) -> None:
        item = self._items[event.item or ""]
        agent_id, t = event.agent or "", event.t
        if item.waiting_in is not None:
            self._set_waiting(item, None, t)
        if item.busy_agent is not None:
            self._end_busy(item, t)
        if item.holder != agent_id:
            self._release(item, t)
            self._hold(item, agent_id, int(event.data.get("units", item.units)), t)
        agent = self._agents.get(agent_id) or self._agent(agent_id)
        if t > agent.since:
            agent.advance(t)
        agent.busy += 1
        item.busy_agent, item.busy_since = agent_id, t
        if self._warmup_s <= t <= self._end_s:
            agent.totals.handled += 1
        if item.answered_in is None:
            self._answered(item, event.queue, t)

    def _answered(self, item: _kpi_state.Item, queue: str | None, t: float) -> None:
        """First assignment: the item is answered in ``queue`` (SPEC §8 wait, asa, p_wait, SL)."""
        item.answered_in = queue or item.queue or ""
        if not item.counted:
            return
        wait = 0.0 if item.first_queued_t is None else t - item.first_queued_t
        cfg = self._queue_cfg(item.answered_in)
        in_sl = wait <= cfg.service_level_s
        waited = wait > 0
        for scope in self._scopes(item, item.answered_in):
            scope.arrived += 1
            scope.answered += 1
            scope.answer_wait_s += wait
            scope.answered_waited += waited
            scope.answered_in_sl += in_sl
            scope.left += 1  # Tally.add_wait, spelled out: three scopes per answered item
            scope.wait_s += wait
            if scope.max_wait_s is None or wait > scope.max_wait_s:
                scope.max_wait_s = wait
        series = self._series.get(item.answered_in) or self._queue_series(item.answered_in)
        self._record_wait(series, wait)
        series.at(item.created_t).arrived += 1
        slot = series.at(t)
        slot.answered += 1
        slot.answered_in_sl += in_sl

    def _on_parked(self, event: Event) -> None:
        self._end_busy(self._items[event.item or ""], event.t)

    def _on_transferred(self, event: Event) -> None:
        """R31: the item leaves its queue place or its agent; to an agent it waits again for them."""
        item = self._items[event.item or ""]
        self._end_busy(item, event.t)
        self._set_waiting(item, event.queue if event.agent is not None else None, event.t)

    def _on_closed(self, event: Event) -> None:
        item = self._items.pop(event.item or "")
        if item.waiting_in is not None:
            self._set_waiting(item, None, event.t)
        if item.busy_agent is not None:
            self._end_busy(item, event.t)
        if item.holder is not None:
            self._release(item, event.t)
        if not item.counted:
            return
        if item.answered_in is not None:
            for scope in self._scopes(item, item.answered_in):
                scope.handled += 1
                scope.handle_s += item.handle_s
            return
        self._ended_unanswered(
            item, event.queue or item.queue, str(event.data.get("reason")), event.t
        )

    def _ended_unanswered(
        self, item: _kpi_state.Item, queue: str | None, reason: str, t: float
    ) -> None:
        wait = None if item.first_queued_t is None else t - item.first_queued_t
        cfg = self._queue_cfg(queue)
        short_s = cfg.short_abandon_s
        outcome = {
            "expired": "expired",
            "overflow_ended": "overflow_ended",
            "cancelled": "cancelled",
        }.get(reason)
        if reason == "abandoned":
            outcome = "abandoned" if wait is not None and wait >= short_s else "short_abandoned"
        for scope in self._scopes(item, queue):
            scope.arrived += 1
            if outcome is not None:
                setattr(scope, outcome, getattr(scope, outcome) + 1)
            if wait is not None and outcome not in (None, "cancelled"):
                scope.add_wait(wait)
        if queue is None:
            return
        series = self._queue_series(queue)
        series.at(item.created_t).arrived += 1
        if outcome == "abandoned":
            series.at(t).abandoned += 1
        if wait is not None and outcome not in (None, "cancelled"):
            self._record_wait(series, wait)

    def _record_wait(self, series: _kpi_series.QueueSeries, wait: float) -> None:
        series.add_wait(wait)
        self._total_histogram.add_wait(wait)

    def _set_waiting(self, item: _kpi_state.Item, queue: str | None, t: float) -> None:
        """Move the item's contribution to a queue's waiting count (queued or offered)."""
        if item.waiting_in == queue:
            return
        series = self._series
        if item.waiting_in is not None:
            (series.get(item.waiting_in) or self._queue_series(item.waiting_in)).change_waiting(
                t, -1
            )
        if queue is not None:
            (series.get(queue) or self._queue_series(queue)).change_waiting(t, +1)
        item.waiting_in = queue

    def _end_busy(self, item: _kpi_state.Item, t: float) -> None:
        if item.busy_agent is None:
            return
        agent = self._agents.get(item.busy_agent) or self._agent(item.busy_agent)
        if t > agent.since:
            agent.advance(t)
        agent.busy -= 1
        item.handle_s += t - item.busy_since
        item.busy_agent = None

    # -- capacity and presence --------------------------------------------------------------------

    def _hold(self, item: _kpi_state.Item, agent_id: str, units: int, t: float) -> None:
        agent = self._agents.get(agent_id) or self._agent(agent_id)
        if t > agent.since:
            agent.advance(t)
        agent.used_units += units
        item.holder, item.held_units = agent_id, units

    def _release(self, item: _kpi_state.Item, t: float) -> None:
        if item.holder is None:
            return
        agent = self._agents.get(item.holder) or self._agent(item.holder)
        if t > agent.since:
            agent.advance(t)
        agent.used_units -= item.held_units
        item.holder, item.held_units = None, 0

    def _on_offer_made(self, event: Event) -> None:
        item, t = self._items[event.item or ""], event.t
        if item.holder is not None:
            self._release(item, t)
        agent_id = event.agent or ""
        self._hold(item, agent_id, item.units, t)
        if self._warmup_s <= t <= self._end_s:
            self._agents[agent_id].totals.offers += 1

    def _on_offer_ended(self, event: Event) -> None:
        item = self._items[event.item or ""]
        if item.holder == event.agent:
            self._release(item, event.t)
        if not self._agent_window(event.t):
            return
        totals = self._agent(event.agent or "").totals
        if event.type is ET.OFFER_DECLINED:
            totals.declines += 1
        elif event.type is ET.OFFER_EXPIRED:
            totals.expiries += 1

    def _on_capacity_released(self, event: Event) -> None:
        item = self._items.get(event.item or "")
        if item is not None and item.holder is not None and item.holder == event.agent:
            self._release(item, event.t)

    def _on_presence(self, event: Event) -> None:
        agent_id, t = event.agent or "", event.t
        agent = self._agents.get(agent_id) or self._agent(agent_id)
        if t > agent.since:
            agent.advance(t)
        agent.presence = str(event.data.get("presence"))


def combine(results: Sequence[KpiResult]) -> dict[str, Any]:
    """Replications (SPEC §7): counts are means per replication, ratios and means pooled over all
    replications (ratio of sums; ``max_wait_s`` the largest), every KPI ``x`` with ``x_ci95``
    (Student t half-width across replications, null with fewer than two).

    The report's ``series`` and ``wait_histogram`` are pooled too, in the shapes of
    :meth:`KpiResult.to_dict` (see :func:`unirouter.analytics._kpi_series.pool`)."""
    tally, agent = _kpi_tally.Tally, _kpi_tally.AgentTotals
    names = sorted({name for r in results for name in r.series})
    return {
        "replications": len(results),
        "totals": _kpi_combine.combined([r.totals for r in results], tally),
        "queues": _kpi_combine.pool([r.queues for r in results], tally),
        "workstreams": _kpi_combine.pool([r.workstreams for r in results], tally),
        "agents": _kpi_combine.pool([r.agents for r in results], agent),
        "groups": _kpi_combine.pool([r.groups for r in results], agent),
        "series": {name: _kpi_series.pool([r.series.get(name) for r in results]) for name in names},
        "wait_histogram": _kpi_series.pool_histograms([r.wait_histogram for r in results]),
    }


def empty_histogram() -> dict[str, Any]:
    """A wait histogram with no waits, in the shape of :attr:`KpiResult.wait_histogram`."""
    return _kpi_series.pool_histograms([])


def _copy(tally: _kpi_tally.Tally) -> _kpi_tally.Tally:
    out = _kpi_tally.Tally()
    out.add(tally)
    return out


def _copies(tallies: Mapping[str, _kpi_tally.Tally]) -> dict[str, _kpi_tally.Tally]:
    return {name: _copy(tally) for name, tally in tallies.items()}
