"""The engine's state: one :class:`Core` holding every record, index, timer, the dispatcher and the
event log of one engine, and the primitives every function module shares over it (lookups, events,
traces, timers).

The engine is this state plus modules of functions over it (``intake``, ``queueing``, ``offers``,
``assignment``, ``ending``, ``affinity``, ``capacity``, ``presence``, ``deadlines``, ``settle``,
``install``, ``checks``, ``views``), behind the :class:`~unirouter.engine.engine.Engine` façade;
docs/architecture.md draws who calls whom. This module imports none of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from unirouter import calendars, errors, expressions
from unirouter.config import model
from unirouter.engine import dispatch, matching, plans
from unirouter.engine.clock import Clock
from unirouter.engine.events import Event, EventType
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, ItemState, Offer, WorkItem
from unirouter.engine.timers import TimerKind, Timers

__all__ = [
    "AGENT_TIMER_KINDS",
    "ITEM_TIMER_KINDS",
    "REBUILT",
    "TRACE_LIMIT",
    "Core",
    "cancel_agent_timer",
    "cancel_item_timers",
    "emit",
    "forget_closed",
    "get_agent",
    "get_item",
    "get_ws",
    "is_waiting",
    "set_agent_timer",
    "set_item_timer",
    "trace",
    "trace_at",
    "waiting_timers",
]

TRACE_LIMIT = 200
_new_event = tuple.__new__


class Core:
    """Records, indexes, timers, the dispatcher and the event log of one engine.

    Slots rather than a ``__dict__``: the function modules read these on every move, and a snapshot
    walks :attr:`__slots__` (the attributes in :data:`REBUILT` are made from the configuration and
    never saved).
    """

    __slots__ = (
        "agents",
        "await_connections",
        "by_external",
        "calendars",
        "clock",
        "closed_ids",
        "config",
        "dispatch",
        "ended_offers",
        "epoch",
        "events",
        "item_counter",
        "items",
        "joined",
        "now",
        "offer_counter",
        "offers",
        "priority_plans",
        "queues",
        "retain_closed",
        "retired",
        "scope",
        "seq",
        "sigs",
        "timers",
        "tracing",
        "version",
        "woken",
        "workstreams",
    )

    def __init__(
        self,
        *,
        clock: Clock,
        epoch: datetime,
        trace: bool,
        retain_closed: int | None,
        await_connections: bool = False,
    ) -> None:
        self.clock = clock
        self.retain_closed = retain_closed
        self.closed_ids: deque[str] = deque()
        self.ended_offers: deque[str] = deque()
        self.scope = expressions.Scope()
        self.epoch = epoch
        self.tracing = trace
        #: Agents start offline and disconnected until they connect or set a presence (a server);
        #: otherwise they start connected in their default presence (the simulator's shift model).
        self.await_connections = await_connections
        self.now = clock.now()
        self.seq = 0
        self.events: list[Event] = []
        self.timers = Timers()
        self.items: dict[str, WorkItem] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        self.agents: dict[str, AgentState] = {}
        self.retired: dict[str, AgentState] = {}
        self.offers: dict[str, Offer] = {}
        self.queues: dict[str, QueueRuntime] = {}
        self.workstreams: dict[str, plans.WorkstreamPlan] = {}
        self.priority_plans: dict[str, list[plans.PriorityPlan]] = {}
        self.calendars: dict[str, calendars.Calendar] = {}
        self.joined: dict[tuple[str, str], float] = {}
        self.sigs = matching.SignatureTable()
        self.dispatch = dispatch.Dispatcher(agents=self.agents, items=self.items, sigs=self.sigs)
        self.woken: dict[str, None] = {}
        self.version = 0
        self.item_counter = 0
        self.offer_counter = 0
        self.config: model.Config  # set by install.install before the first command


#: Attributes made from the configuration (or the shell): rebuilt on restore, never saved.
REBUILT = frozenset(
    {"clock", "config", "calendars", "workstreams", "priority_plans", "scope", "dispatch"}
)


# -- lookups ----------------------------------------------------------------------------------------


def get_item(s: Core, item_id: str) -> WorkItem:
    item = s.items.get(item_id)
    if item is None:
        raise errors.NotFound(f"no work item {item_id}", item=item_id)
    return item


def get_agent(s: Core, agent_id: str) -> AgentState:
    agent = s.agents.get(agent_id)
    if agent is None:
        raise errors.NotFound(f"no agent {agent_id}", agent=agent_id)
    return agent


def get_ws(s: Core, name: str) -> plans.WorkstreamPlan:
    ws = s.workstreams.get(name)
    if ws is None:
        raise errors.NotFound(f"no workstream {name}", workstream=name)
    return ws


# -- events and trace ------------------------------------------------------------------------------


def emit(
    s: Core,
    type_: EventType,
    *,
    item: str | None = None,
    agent: str | None = None,
    queue: str | None = None,
    offer: str | None = None,
    **data: Any,
) -> None:
    s.seq += 1
    # tuple.__new__ directly: the named tuple's own __new__ is one more Python call per event.
    fields = (s.seq, s.now, type_, item, agent, queue, offer, data)
    s.events.append(_new_event(Event, fields))


def trace(s: Core, item: WorkItem, stage: str, **info: Any) -> None:
    """R43: one bounded entry per stage; the simulator turns tracing off unless asked."""
    if s.tracing:
        trace_at(s, item, stage, None, info)


def trace_at(
    s: Core,
    item: WorkItem,
    stage: str,
    keys: tuple[str, ...] | None,
    values: Any,
    more: Any = None,
) -> None:
    """R43: one bounded entry per stage, kept as a compact record (issue 10).

    The record is ``(t, stage, keys, values, more)``: ``keys`` names ``values`` (a tuple), or is
    None and ``values`` is a dict of the entry's fields; ``more`` is None or an object whose
    ``as_trace()`` gives the remaining fields (an assignment :class:`~dispatch.Decision`). The
    :attr:`WorkItem.trace` view renders each to its dict (``t``, ``stage``, then the fields) when
    it is read. The caller checks :attr:`Core.tracing`.
    """
    log = item.trace_log
    if len(log) >= TRACE_LIMIT:
        if len(log) == TRACE_LIMIT:
            log.append((s.now, "truncated", (), (), None))
        return
    log.append((s.now, stage, keys, values, more))


# -- timers and memory -----------------------------------------------------------------------------


def set_item_timer(s: Core, item: WorkItem, name: str, due: float, arg: int = 0) -> None:
    s.timers.cancel(item.timers.pop(name, None))
    kind = ITEM_TIMER_KINDS[name.split(":")[0]]
    item.timers[name] = s.timers.set(due, kind, item.id, arg)


def cancel_item_timers(s: Core, item: WorkItem, names: Iterable[str]) -> None:
    for name in list(names):
        s.timers.cancel(item.timers.pop(name, None))


def set_agent_timer(s: Core, agent: AgentState, name: str, due: float) -> None:
    s.timers.cancel(agent.timers.pop(name, None))
    agent.timers[name] = s.timers.set(due, AGENT_TIMER_KINDS[name], agent.id)


def cancel_agent_timer(s: Core, agent: AgentState, name: str) -> None:
    s.timers.cancel(agent.timers.pop(name, None))


def forget_closed(s: Core, item: WorkItem) -> None:
    """Keep at most ``retain_closed`` closed items in memory; the event log keeps the rest."""
    limit = s.retain_closed
    if limit is None:
        return
    s.closed_ids.append(item.id)
    while len(s.closed_ids) > limit:
        old = s.items.pop(s.closed_ids.popleft())
        s.by_external.pop((old.workstream, old.external_id), None)
    while len(s.ended_offers) > limit:
        s.offers.pop(s.ended_offers.popleft(), None)


def is_waiting(item: WorkItem) -> bool:
    return item.state in (ItemState.QUEUED, ItemState.OFFERED)


ITEM_TIMER_KINDS = {
    "scheduled": TimerKind.SCHEDULED_START,
    "ttl": TimerKind.TTL,
    "overflow": TimerKind.OVERFLOW_WAIT,
    "aging": TimerKind.AGING_STEP,
    "relax": TimerKind.RELAX_STEP,
    "wrap_up": TimerKind.WRAP_UP_RELEASE,
    "affinity": TimerKind.AFFINITY_GRACE,
    "auto_close": TimerKind.AUTO_CLOSE,
    "retime": TimerKind.RETIME,
    "recheck": TimerKind.RECHECK,
}


AGENT_TIMER_KINDS = {
    "reconnect": TimerKind.RECONNECT_GRACE,
    "calendar": TimerKind.CALENDAR,
    "profile_reset": TimerKind.PROFILE_RESET,
}


def waiting_timers(item: WorkItem) -> list[str]:
    """The timers that only matter while an item waits (R8, R13, R20, R29, R39)."""
    return [n for n in item.timers if n in _WAITING or n.startswith("overflow:")]


_WAITING = frozenset({"ttl", "aging", "relax", "affinity", "retime", "recheck"})
