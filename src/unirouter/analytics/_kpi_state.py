"""Per-item and per-agent state of the KPI accumulator (:mod:`unirouter.analytics.kpis`).

An :class:`Item` lives only while its item is open; an :class:`Agent` holds its piecewise-constant
state (presence, busy items, used units) and the integrals of that state so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from unirouter.analytics import _kpi_tally
from unirouter.config import model

__all__ = ["Agent", "Item"]

_OFFLINE = model.BasePresence.OFFLINE.value


@dataclass(slots=True)
class Item:
    """What is known of an open item."""

    workstream: str
    created_t: float
    units: int
    counted: bool
    queue: str | None = None
    first_queued_t: float | None = None
    waiting_in: str | None = None
    answered_in: str | None = None
    busy_agent: str | None = None
    busy_since: float = 0.0
    handle_s: float = 0.0
    holder: str | None = None
    held_units: int = 0


@dataclass(slots=True)
class Agent:
    """Piecewise-constant state of an agent since ``since``, and its integrals so far, taken over
    ``[start_s, end_s]`` only (the warm-up's end to the end of the measured day)."""

    capacity_units: int
    group: str | None
    start_s: float
    end_s: float = math.inf
    presence: str | None = None
    busy: int = 0
    used_units: int = 0
    since: float = 0.0
    totals: _kpi_tally.AgentTotals = field(default_factory=_kpi_tally.AgentTotals)

    def advance(self, t: float) -> None:
        """Integrate the current state up to ``t`` and move ``since`` there."""
        self.integrate(t, self.totals)
        self.since = max(self.since, t)

    def integrate(self, t: float, into: _kpi_tally.AgentTotals) -> None:
        """Add the current state over ``[since, t]`` (within ``[start_s, end_s]``) to ``into``."""
        span = min(t, self.end_s) - max(self.since, self.start_s)
        if span <= 0 or self.presence is None:
            return
        into.presence_s[self.presence] = into.presence_s.get(self.presence, 0.0) + span
        if self.presence == _OFFLINE:
            return
        into.logged_in_s += span
        into.busy_s += span if self.busy else 0.0
        into.used_unit_s += self.used_units * span
        into.capacity_unit_s += self.capacity_units * span
