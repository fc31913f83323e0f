"""Traffic capture: a time window's demand, read from a server's log or a simulator's events file,
written as versioned JSON lines (``unirouter capture``; the format is in docs/replay.md).

One pass over the events in log order. An item counts when it was created inside ``[from, to)``;
it is followed to its end even past ``to`` (its handle time and outcome are what the record says).
For a server log, what an item was submitted with (attributes, customer, skills, priority,
channel) comes from the ``submit`` command that created it; a simulator events file carries them
on its ``item_created`` lines. Agents' presence changes made by the agents or their shifts
(``manual`` not false) and their connections inside the window form the presence timeline, and
each agent's presence and connection at ``from`` start it.

Times in the file are seconds from ``from``; the header keeps ``from`` and ``to`` in engine time
(Unix seconds for a server).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from unirouter import config as configuration
from unirouter import storage
from unirouter.analytics import kpis
from unirouter.config import model
from unirouter.engine import events as engine_events
from unirouter.server import commands
from unirouter.sim import scenario

__all__ = ["FORMAT", "VERSION", "Capture", "from_events", "from_store", "lines"]

PAGE = 5000
FORMAT = "unirouter-capture"
VERSION = 1


@dataclass(slots=True)
class _Item:
    """One item of the window as the record shows it."""

    t: float
    line: dict[str, Any]
    queued_t: float | None = None
    busy_since: float | None = None
    wrap_since: float | None = None
    offered_t: float | None = None
    handle_s: float = 0.0
    handled: bool = False


@dataclass(slots=True)
class Capture:
    """What a capture holds: the header, items and presence timeline, and the recorded KPIs."""

    header: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.header["duration_s"])


class _Reader:
    """Folds events (and, from a server log, commands) into a :class:`Capture`."""

    def __init__(self, start: float | None, end: float | None) -> None:
        self.start, self.end = start, end
        self.config: dict[str, Any] | None = None
        self.items: dict[str, _Item] = {}
        self.done: list[_Item] = []
        self.timeline: list[dict[str, Any]] = []
        self.presence: dict[str, dict[str, Any]] = {}
        self.submit: dict[str, Any] | None = None
        self.answers: dict[str, dict[str, int]] = {}  # agent -> offers, accepted, declined
        self.kpis: kpis.KpiAccumulator | None = None
        self.known: set[str] = set()  # items the recorded KPIs follow (created before ``end``)
        self.awaiting = False  # the server starts agents offline until they connect
        self.configured_agents: set[str] = set()
        self.first: float | None = None
        self.last = 0.0

    def command(self, body: dict[str, Any]) -> None:
        if body.get("op") in ("init", "apply_config") and not body.get("refused"):
            data = body["args"]["config"]
            self.configured(body, data)
            if self.config is None or self.start is None or float(body["t"]) <= self.start:
                self.config = data
            if self.kpis is not None:
                logged = configuration.validate(data, check_values=False)
                self.kpis.apply_config(logged, float(body["t"]))
        self.submit = body.get("args") if body.get("op") == "submit" else None

    def configured(self, body: dict[str, Any], data: dict[str, Any]) -> None:
        """A server that awaits connections starts each agent it configures offline and not
        connected, and says so by no event: that start goes into the presence state, so the
        replay's first recorded connection finds its agent disconnected, as the record did."""
        if body["op"] == "init":
            self.awaiting = bool(body["args"].get("await_connections"))
        fresh = [agent for agent in data.get("agents") or {} if agent not in self.configured_agents]
        self.configured_agents.update(fresh)
        if not self.awaiting:
            return
        t = float(body["t"])
        for agent in fresh:
            start = {"connected": False, "presence": model.BasePresence.OFFLINE.value}
            if self.start is None or t < self.start:
                self.presence.setdefault(agent, {}).update(start)
            elif self.inside(t):
                self.timeline.append({"kind": "agent", "t": self.rel(t), "agent": agent, **start})

    def event(self, body: dict[str, Any]) -> None:
        t = float(body["t"])
        self.first = t if self.first is None else self.first
        self.last = max(self.last, t)
        if self.start is None:
            self.start = t
        self.measure(body, t)
        handler = _HANDLERS.get(body["type"])
        if handler is not None:
            handler(self, body, t)

    def measure(self, body: dict[str, Any], t: float) -> None:
        """Feed the recorded KPIs: every event before ``end``, after it only the known items'."""
        if self.kpis is None:
            if self.config is None:
                return
            config = configuration.validate(self.config, check_values=False)  # as logged
            self.kpis = kpis.KpiAccumulator(config, warmup_s=self.start or 0.0, end_s=self.end)
        item = body.get("item")
        if self.end is None or t < self.end:
            if item is not None and body["type"] == "item_created":
                self.known.add(item)
        elif item is not None and item not in self.known:
            return
        self.kpis.feed(engine_events.Event.from_dict(body))
        if body["type"] == "item_closed" and item is not None:
            self.known.discard(item)

    def inside(self, t: float) -> bool:
        assert self.start is not None
        return self.start <= t and (self.end is None or t < self.end)

    def rel(self, t: float) -> float:
        assert self.start is not None
        return round(t - self.start, 6)

    # -- items ------------------------------------------------------------------------------------

    def created(self, body: dict[str, Any], t: float) -> None:
        if not self.inside(t):
            return
        asked = self.submit or body
        self.items[body["item"]] = _Item(t=t, line={
            "kind": "item", "t": self.rel(t), "id": body.get("external_id") or body["item"],
            "workstream": body["workstream"], "channel": asked.get("channel"),
            "priority": asked.get("priority"), "attributes": asked.get("attributes") or {},
            "customer": asked.get("customer") or {}, "skills": asked.get("skills") or [],
            "queue": None, "agent": None, "wait_s": None, "response_s": None, "handle_s": None,
            "wrap_up_s": 0.0, "outcome": "open", "patience_s": None,
        })  # fmt: skip

    def queued(self, body: dict[str, Any], t: float) -> None:
        item = self.items.get(body.get("item", ""))
        if item is not None and item.queued_t is None:
            item.queued_t = t
            item.line["queue"] = body.get("queue")

    def answer(self, body: dict[str, Any], t: float) -> None:
        """Offers made to, accepted and declined by each agent inside the window."""
        if self.inside(t) and body.get("agent") is not None:
            counts = self.answers.setdefault(body["agent"], {"offers": 0, "accepted": 0,
                                                             "declined": 0})  # fmt: skip
            key = {"offer_made": "offers", "offer_accepted": "accepted"}.get(body["type"])
            counts[key or "declined"] += 1

    def offered(self, body: dict[str, Any], t: float) -> None:
        self.answer(body, t)
        item = self.items.get(body.get("item", ""))
        if item is not None:
            item.offered_t = t

    def assigned(self, body: dict[str, Any], t: float) -> None:
        item = self.items.get(body.get("item", ""))
        if item is None:
            return
        self.stop_busy(item, t)
        if item.line["agent"] is None:
            item.line["agent"] = body.get("agent")
            item.line["wait_s"] = round(t - (item.queued_t or item.t), 6)
            if item.offered_t is not None:
                item.line["response_s"] = round(t - item.offered_t, 6)
        item.busy_since, item.handled = t, True

    def stop_busy(self, item: _Item, t: float) -> None:
        if item.busy_since is not None:
            item.handle_s += t - item.busy_since
            item.busy_since = None

    def paused(self, body: dict[str, Any], t: float) -> None:
        item = self.items.get(body.get("item", ""))
        if item is not None:
            self.stop_busy(item, t)

    def wrap_up(self, body: dict[str, Any], t: float) -> None:
        item = self.items.get(body.get("item", ""))
        if item is not None:
            self.stop_busy(item, t)
            item.wrap_since = t

    def closed(self, body: dict[str, Any], t: float) -> None:
        item = self.items.pop(body.get("item", ""), None)
        if item is None:
            return
        self.stop_busy(item, t)
        reason = str(body.get("reason"))
        item.line["outcome"] = reason
        if item.wrap_since is not None:
            item.line["wrap_up_s"] = round(t - item.wrap_since, 6)
        if reason == "abandoned" and not item.handled:
            item.line["patience_s"] = round(t - item.t, 6)
        self.done.append(item)

    # -- agents -----------------------------------------------------------------------------------

    def presence_changed(self, body: dict[str, Any], t: float) -> None:
        if body.get("manual") is False:
            return
        change = {"presence": body.get("presence"), "label": body.get("label")}
        self.agent_change(body["agent"], t, change)

    def connection(self, body: dict[str, Any], t: float) -> None:
        connected = body["type"] == "agent_connected"
        self.agent_change(body["agent"], t, {"connected": connected})

    def agent_change(self, agent: str, t: float, change: dict[str, Any]) -> None:
        assert self.start is not None
        if t < self.start:
            self.presence.setdefault(agent, {}).update(change)
        elif self.inside(t):
            self.timeline.append({"kind": "agent", "t": self.rel(t), "agent": agent, **change})

    # -- the result -------------------------------------------------------------------------------

    def capture(self, source: str, epoch: datetime) -> Capture:
        """``epoch``: the wall-clock time of engine time 0 (the Unix epoch for a server)."""
        start = self.start if self.start is not None else 0.0
        end = self.end if self.end is not None else max(self.last, start)
        for item in self.items.values():  # still open where the record ends
            self.stop_busy(item, self.last)
            self.done.append(item)
        lines = []
        for item in sorted(self.done, key=lambda i: (i.t, i.line["id"])):
            if item.handled:
                item.line["handle_s"] = round(item.handle_s, 6)
            lines.append(item.line)
        wall = (epoch + timedelta(seconds=start)).isoformat()
        header = {"format": FORMAT, "version": VERSION, "source": source, "start": wall, "from": start,
                  "to": end, "duration_s": round(end - start, 6),
                  "horizon_s": round(max(self.last, end) - start, 6), "config": self.config,
                  "agents": self.presence, "answers": self.answers}  # fmt: skip
        return Capture(header=header, items=lines, timeline=self.timeline,
                       recorded=self.recorded(start, end))  # fmt: skip

    def recorded(self, start: float, end: float) -> dict[str, Any]:
        """The recorded KPIs of the window (SPEC §8): items created in it, agents inside it."""
        if self.kpis is None:
            return {}
        result = self.kpis.finish(max(self.last, end)).to_dict()
        return {key: result[key] for key in ("totals", "queues", "workstreams", "agents", "groups")}


_HANDLERS = {
    "item_created": _Reader.created,
    "item_queued": _Reader.queued,
    "offer_made": _Reader.offered,
    "item_assigned": _Reader.assigned,
    "offer_accepted": _Reader.answer,
    "offer_declined": _Reader.answer,
    "item_parked": _Reader.paused,
    "item_transferred": _Reader.paused,
    "item_wrap_up": _Reader.wrap_up,
    "item_closed": _Reader.closed,
    "presence_changed": _Reader.presence_changed,
    "agent_connected": _Reader.connection,
    "agent_disconnected": _Reader.connection,
}


def from_store(
    store: storage.Store, start: float | None, end: float | None, source: str
) -> Capture:
    """The capture of ``[start, end)`` from a server's log, read once through the storage port."""
    reader = _Reader(start, end)
    after = 0
    while page := store.read(after, PAGE):
        for record in page:
            body = json.loads(record.body)
            if record.kind is storage.RecordKind.COMMAND:
                reader.command(body)
            else:
                reader.event(body)
        after = page[-1].cursor
    return reader.capture(source, datetime(1970, 1, 1, tzinfo=UTC))


def from_events(
    events: Iterable[dict[str, Any]],
    config: model.Config,
    start: float | None,
    end: float | None,
    source: str,
    epoch: datetime = scenario.DEFAULT_START,
) -> Capture:
    """The capture of ``[start, end)`` from a simulator's events (``--events``) under ``config``,
    whose time 0 was ``epoch`` (the scenario's ``start``)."""
    reader = _Reader(start, end)
    data = commands.config_json(config)
    first = True
    for body in events:
        if first:
            reader.command({"op": "init", "t": float(body["t"]), "args": {"config": data}})
            first = False
        reader.event(body)
    if first:
        reader.config = data
    return reader.capture(source, epoch)


def lines(capture: Capture) -> Iterator[str]:
    """The capture as JSON lines: the header, items and agent changes in time order, the
    recorded KPIs last."""
    yield json.dumps(capture.header, separators=(",", ":"))
    merged = sorted([*capture.items, *capture.timeline], key=lambda line: line["t"])
    for line in merged:
        yield json.dumps(line, separators=(",", ":"), ensure_ascii=False)
    yield json.dumps({"kind": "recorded", **capture.recorded}, separators=(",", ":"))
