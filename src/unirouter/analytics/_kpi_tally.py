"""Sums behind the KPIs of SPEC §8: one :class:`Tally` per scope (totals, queue, workstream) and one
:class:`AgentTotals` per agent or group.

Only sums and counts are kept, never per-item lists, so that replications pool by adding tallies
(ratio of sums) and a tally's size does not depend on how many items passed through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["COUNT_FIELDS", "AgentTotals", "Tally", "ratio"]

#: KPIs that are counts: a combination of replications reports their mean per replication.
COUNT_FIELDS = frozenset(
    {
        "arrived",
        "answered",
        "abandoned",
        "short_abandoned",
        "expired",
        "overflowed",
        "overflow_ended",
        "cancelled",
        "left_open",
        "handled",
        "offers",
        "declines",
        "expiries",
    }
)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` (JSON null) when the denominator is zero."""
    return numerator / denominator if denominator else None


@dataclass(slots=True)
class Tally:
    """Item outcomes of one scope. ``left``/``wait_s`` cover every item that left the queue
    (answered, abandoned incl. short, expired, ended by overflow); ``answer_wait_s`` only answered.

    Every arrived item has exactly one outcome: ``arrived = answered + abandoned + short_abandoned
    + expired + overflow_ended + cancelled + left_open`` (``left_open``: still unanswered when the
    run stopped; ``overflowed`` counts moves, not outcomes)."""

    arrived: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    expired: int = 0
    overflowed: int = 0
    overflow_ended: int = 0
    cancelled: int = 0
    left_open: int = 0
    answered_in_sl: int = 0
    answered_waited: int = 0
    answer_wait_s: float = 0.0
    left: int = 0
    wait_s: float = 0.0
    max_wait_s: float | None = None
    handled: int = 0
    handle_s: float = 0.0

    def add_wait(self, wait: float) -> None:
        """An item left the queue after ``wait`` seconds (mean_wait_s, max_wait_s)."""
        self.left += 1
        self.wait_s += wait
        self.add_wait_max(wait)

    def add(self, other: Tally) -> None:
        """Pool ``other`` into this tally (sums add, the maximum is the larger one)."""
        # Spelled out rather than a loop over fields(): reports sum thousands of tallies.
        self.arrived += other.arrived
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.short_abandoned += other.short_abandoned
        self.expired += other.expired
        self.overflowed += other.overflowed
        self.overflow_ended += other.overflow_ended
        self.cancelled += other.cancelled
        self.left_open += other.left_open
        self.answered_in_sl += other.answered_in_sl
        self.answered_waited += other.answered_waited
        self.answer_wait_s += other.answer_wait_s
        self.left += other.left
        self.wait_s += other.wait_s
        self.handled += other.handled
        self.handle_s += other.handle_s
        if other.max_wait_s is not None:
            self.add_wait_max(other.max_wait_s)

    def add_wait_max(self, wait: float) -> None:
        """Keep the longest wait seen."""
        self.max_wait_s = wait if self.max_wait_s is None else max(self.max_wait_s, wait)

    def kpis(self) -> dict[str, Any]:
        """The KPIS object of SPEC §7, by the definitions of §8; a zero denominator gives null."""
        offered = self.answered + self.abandoned  # short abandons excluded from both (§8)
        return {
            "arrived": self.arrived,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "expired": self.expired,
            "overflowed": self.overflowed,
            "overflow_ended": self.overflow_ended,
            "cancelled": self.cancelled,
            "left_open": self.left_open,
            "asa_s": ratio(self.answer_wait_s, self.answered),
            "mean_wait_s": ratio(self.wait_s, self.left),
            "p_wait": ratio(self.answered_waited, self.answered),
            "service_level": ratio(self.answered_in_sl, offered),
            "abandon_rate": ratio(self.abandoned, offered),
            "aht_s": ratio(self.handle_s, self.handled),
            "max_wait_s": self.max_wait_s,
        }


@dataclass(slots=True)
class AgentTotals:
    """Time integrals and counts of one agent (or a group of agents) from the warm-up on.

    ``logged_in_s`` is time with a presence other than ``offline``; ``busy_s``, ``used_unit_s`` and
    ``capacity_unit_s`` are integrated over that same logged-in time only.
    """

    logged_in_s: float = 0.0
    busy_s: float = 0.0
    used_unit_s: float = 0.0
    capacity_unit_s: float = 0.0
    handled: int = 0
    offers: int = 0
    declines: int = 0
    expiries: int = 0
    presence_s: dict[str, float] = field(default_factory=dict)

    def add(self, other: AgentTotals) -> None:
        """Sum ``other`` into this one (groups, pooled replications, report intervals)."""
        self.logged_in_s += other.logged_in_s
        self.busy_s += other.busy_s
        self.used_unit_s += other.used_unit_s
        self.capacity_unit_s += other.capacity_unit_s
        self.handled += other.handled
        self.offers += other.offers
        self.declines += other.declines
        self.expiries += other.expiries
        mine = self.presence_s
        for presence, seconds in other.presence_s.items():
            mine[presence] = mine.get(presence, 0.0) + seconds

    def copy(self) -> AgentTotals:
        out = AgentTotals()
        out.add(self)
        return out

    def kpis(self) -> dict[str, Any]:
        """Occupancy and utilisation of SPEC §8 as ratios of integrals, with the offer counts."""
        return {
            "occupancy": ratio(self.busy_s, self.logged_in_s),
            "utilisation": ratio(self.used_unit_s, self.capacity_unit_s),
            "handled": self.handled,
            "offers": self.offers,
            "declines": self.declines,
            "expiries": self.expiries,
            "presence_s": dict(sorted(self.presence_s.items())),
        }
