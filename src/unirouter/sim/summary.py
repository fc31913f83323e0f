"""The summary at the end of a readable account: the queues' KPIs, items by final state, what each
agent did.

:class:`AgentTallies` counts from the event stream as it passes (nothing is kept but the counts);
:func:`tables` lays the result out as aligned columns, numbers right-aligned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from unirouter.engine import AgentState, Event, EventType
from unirouter.sim import results

__all__ = ["AgentTallies", "Tally", "agent_rows", "queue_rows", "state_rows", "table"]

_STATE_ORDER = ("scheduled", "routing", "queued", "offered", "assigned", "wrap_up", "parked")
_SHOWN_NAMES = 6


@dataclass(slots=True)
class Tally:
    """What one agent did during the run."""

    handled: int = 0
    offers: int = 0
    accepted: int = 0
    declined: int = 0
    expired: int = 0


class AgentTallies:
    """Per-agent counts of assignments and offer outcomes, fed event by event."""

    _FIELDS: ClassVar[dict[EventType, str]] = {
        EventType.ITEM_ASSIGNED: "handled",
        EventType.OFFER_MADE: "offers",
        EventType.OFFER_ACCEPTED: "accepted",
        EventType.OFFER_DECLINED: "declined",
        EventType.OFFER_EXPIRED: "expired",
    }

    def __init__(self) -> None:
        self.by_agent: dict[str, Tally] = {}

    def observe(self, event: Event) -> None:
        name = self._FIELDS.get(event.type)
        if name is None or event.agent is None:
            return
        tally = self.by_agent.setdefault(event.agent, Tally())
        setattr(tally, name, getattr(tally, name) + 1)


def queue_rows(kpis: Mapping[str, Any]) -> list[list[str]]:
    """One row per queue and one for all items (SPEC §8; means per replication when several)."""
    rows = [["queue", "arrived", "answered", "abandoned", "service level", "asa", "aht"]]
    scopes = [*sorted(kpis.get("queues", {}).items()), ("all", kpis.get("totals", {}))]
    for name, k in scopes:
        counts = [_number(k.get(key)) for key in ("arrived", "answered", "abandoned")]
        level = k.get("service_level")
        shown = "-" if level is None else f"{level:.0%}"
        rows.append([name, *counts, shown, _seconds(k.get("asa_s")), _seconds(k.get("aht_s"))])
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def state_rows(items: Mapping[str, results.ItemOutcome]) -> list[list[str]]:
    """One row per final state (closed ones by reason): how many items, and which."""
    groups: dict[str, list[str]] = {}
    for name, outcome in items.items():
        label = outcome.state
        if outcome.close_reason is not None:
            label = f"{outcome.state} ({outcome.close_reason})"
        groups.setdefault(label, []).append(name)
    order = {state: index for index, state in enumerate(_STATE_ORDER)}
    rows = [["state", "count", "items"]]
    for label in sorted(groups, key=lambda text: (order.get(text, len(order)), text)):
        names = groups[label]
        shown = ", ".join(names[:_SHOWN_NAMES])
        if len(names) > _SHOWN_NAMES:
            shown += f", +{len(names) - _SHOWN_NAMES} more"
        rows.append([label, str(len(names)), shown])
    return rows


def agent_rows(agents: Iterable[AgentState], tallies: AgentTallies) -> list[list[str]]:
    """One row per agent: assignments, offers and their outcomes, final presence."""
    rows = [["agent", "handled", "offers", "accepted", "declined", "expired", "presence"]]
    for agent in agents:
        t = tallies.by_agent.get(agent.id, Tally())
        counts = (t.handled, t.offers, t.accepted, t.declined, t.expired)
        rows.append([agent.id, *map(str, counts), agent.presence.value])
    return rows


def table(rows: list[list[str]], *, right: set[int]) -> list[str]:
    """Rows as aligned columns (columns in ``right`` right-aligned), indented by two spaces."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines
