"""Historical KPIs of a server's log, kept up to date as the log grows (SPEC §8).

The server feeds :class:`LogFold` every command and event it appends (and, at a restart, every one
the log holds), so a report is a sum over 15-minute buckets already folded, never a new pass over
the log (hour and day buckets are kept beside the quarters, so that a month reads about thirty
buckets). The fold is the simulator's :class:`~unirouter.analytics.kpis.KpiAccumulator` with per-interval
buckets (:mod:`unirouter.analytics._kpi_buckets`): the same SPEC §8 definitions for a simulated day and
for the live server. The configuration each event ran under comes from the log's ``init`` and
``apply_config`` commands (queues' service-level thresholds, agents' capacity and group).

``unirouter report`` runs the same fold over a store read once through the storage port
(:mod:`unirouter.cli._report`); nothing here reads or writes anything.
"""

from __future__ import annotations

from typing import Any

from unirouter import config as configuration
from unirouter.analytics import kpis, windows
from unirouter.analytics._kpi_buckets import Parts, Window
from unirouter.engine import events as engine_events

__all__ = ["LogFold"]

_CONFIG_OPS = frozenset({"init", "apply_config"})
#: The coarser grids kept beside the 15-minute one: hours and (UTC) days.
ROLLUPS_S = (3600.0, 86400.0)


class LogFold:
    """Per-interval queue and agent KPIs of one log, fed in log order."""

    def __init__(self, rollups: tuple[float, ...] = ROLLUPS_S) -> None:
        """``rollups``: the coarser grids kept beside the 15-minute one (reports read the fewest
        buckets that tile their intervals; ``()`` keeps the quarters alone)."""
        self._rollups = rollups
        self._kpis: kpis.KpiAccumulator | None = None
        #: Engine time of the log's first command (None: nothing fed yet).
        self.first: float | None = None
        #: Engine time of the newest command or event fed.
        self.last = 0.0

    def command(self, command: dict[str, Any]) -> None:
        """A logged command: a configuration it applied is what the next events run under."""
        t = float(command["t"])
        if self.first is None:
            self.first = t
        self.last = max(self.last, t)
        if command.get("op") not in _CONFIG_OPS or command.get("refused"):
            return
        config = configuration.validate(command["args"]["config"], check_values=False)  # as logged
        if self._kpis is None:
            self._kpis = kpis.KpiAccumulator(
                config, warmup_s=t, interval_s=windows.GRID_S, rollups=self._rollups
            )
        else:
            self._kpis.apply_config(config, t)

    def event(self, body: dict[str, Any]) -> None:
        """A logged event (the flat object of SPEC §6.1.1)."""
        if self._kpis is None:
            return  # before the first configuration: no log the server writes has such events
        event = engine_events.Event.from_dict(body)
        self.last = max(self.last, event.t)
        self._kpis.feed(event)

    def feed(self, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """One logged command and the events it produced."""
        self.command(command)
        for body in events:
            self.event(body)

    # -- reading ----------------------------------------------------------------------------------

    def window(
        self, start: float | None, end: float | None, by: str | None, now: float
    ) -> windows.Window:
        """The report window of these parameters over this log (see :func:`windows.window`)."""
        first = self.first if self.first is not None else now
        return windows.window(start, end, by, first=first, now=now)

    def queues(self, span: windows.Window, now: float) -> dict[str, Any]:
        """Arrived, answered, abandoned, service level, ASA, AHT … over ``span``: in total, per
        queue and per workstream, and per interval when ``span`` has a ``by``."""
        out = {**_frame(span), **_queue_part(self._whole(span, now, "items"))}
        if span.by is not None:
            cut = self._cut(span, now, "items")
            out["intervals"] = [{**_bounds(w), **_queue_part(w)} for w in cut]
        return out

    def agents(self, span: windows.Window, now: float) -> dict[str, Any]:
        """Occupancy, utilisation, handled, offers, declines, expiries and presence time over
        ``span`` per agent and per ``attributes.group``, and per interval with a ``by``."""
        out = {**_frame(span), **_agent_part(self._whole(span, now, "agents"))}
        if span.by is not None:
            cut = self._cut(span, now, "agents")
            out["intervals"] = [{**_bounds(w), **_agent_part(w)} for w in cut]
        return out

    def _cut(self, span: windows.Window, now: float, parts: Parts) -> list[Window]:
        if self._kpis is None:
            return [Window(start=span.start, end=span.end)]
        return self._kpis.intervals(span.start, span.end, span.step, now, parts)

    def _whole(self, span: windows.Window, now: float, parts: Parts) -> Window:
        """The whole window at once: the fewest buckets that tile it, not a sum of its parts."""
        if self._kpis is None:
            return Window(start=span.start, end=span.end)
        (whole,) = self._kpis.intervals(span.start, span.end, span.end - span.start, now, parts)
        return whole


def _frame(span: windows.Window) -> dict[str, Any]:
    return {"from": span.start, "to": span.end, "by": span.by}


def _bounds(part: Window) -> dict[str, Any]:
    return {"from": part.start, "to": part.end}


def _queue_part(part: Window) -> dict[str, Any]:
    return {
        "totals": part.totals.kpis(),
        "queues": {name: t.kpis() for name, t in sorted(part.queues.items())},
        "workstreams": {name: t.kpis() for name, t in sorted(part.workstreams.items())},
    }


def _agent_part(part: Window) -> dict[str, Any]:
    return {
        "agents": {name: a.kpis() for name, a in sorted(part.agents.items())},
        "groups": {name: g.kpis() for name, g in sorted(part.groups.items())},
    }
