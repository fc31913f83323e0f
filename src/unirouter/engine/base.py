"""The engine's records, event log, clock handling, timers and read-only views.

:class:`Base` is the bottom of the engine's class stack (``Base`` → ``Work`` → ``Intake`` → ``Engine``):
each layer adds one part of the state machine over the same records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from unirouter import calendars, errors, expressions
from unirouter.config import model
from unirouter.engine import dispatch, matching, plans
from unirouter.engine.clock import Clock
from unirouter.engine.events import Event, EventType
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, ItemState, Offer, WorkItem
from unirouter.engine.timers import TimerKind, Timers

__all__ = ["Base"]

TRACE_LIMIT = 200
_new_event = tuple.__new__


class Base:
    """Records, indexes, the event log and the timers of one engine."""

    def __init__(
        self, *, clock: Clock, epoch: datetime, trace: bool, retain_closed: int | None
    ) -> None:
        self._clock = clock
        self._retain_closed = retain_closed
        self._closed_ids: deque[str] = deque()
        self._ended_offers: deque[str] = deque()
        self._scope = expressions.Scope()
        self._epoch = epoch
        self._tracing = trace
        #: Agents start offline and disconnected until they connect or set a presence (a server);
        #: otherwise they start connected in their default presence (the simulator's shift model).
        self._await_connections = False
        self._now = clock.now()
        self._seq = 0
        self._events: list[Event] = []
        self._timers = Timers()
        self._items: dict[str, WorkItem] = {}
        self._by_external: dict[tuple[str, str], str] = {}
        self._agents: dict[str, AgentState] = {}
        self._retired: dict[str, AgentState] = {}
        self._offers: dict[str, Offer] = {}
        self._queues: dict[str, QueueRuntime] = {}
        self._workstreams: dict[str, plans.WorkstreamPlan] = {}
        self._priority_plans: dict[str, list[plans.PriorityPlan]] = {}
        self._calendars: dict[str, calendars.Calendar] = {}
        self._joined: dict[tuple[str, str], float] = {}
        self._sigs = matching.SignatureTable()
        self._dispatch = dispatch.Dispatcher(
            agents=self._agents, items=self._items, sigs=self._sigs
        )
        self._woken: dict[str, None] = {}
        self._version = 0
        self._item_counter = 0
        self._offer_counter = 0
        self._config: model.Config

    # -- public read side ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The engine time of the last command or timer."""
        return self._now

    @property
    def config(self) -> model.Config:
        return self._config

    @property
    def config_version(self) -> int:
        return self._version

    def drain_events(self) -> list[Event]:
        """The events emitted since the last drain, oldest first."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When the earliest timer is due: the shell wakes the engine then (R21: nothing polls)."""
        return self._timers.next_due()

    def item(self, item_id: str) -> WorkItem:
        """A work item by id (read only)."""
        return self._item(item_id)

    @property
    def forgets_closed(self) -> bool:
        """Whether closed items may have left memory (``retain_closed`` of them are held): an
        external id the engine does not know may then still have been taken (the server keeps
        every intake's key in its store, issue 17 item 8)."""
        limit = self._retain_closed
        return limit is not None and len(self._closed_ids) >= limit

    def item_by_external_id(self, workstream: str, external_id: str) -> WorkItem | None:
        ident = self._by_external.get((workstream, external_id))
        return None if ident is None else self._items[ident]

    def items(self) -> Iterator[WorkItem]:
        return iter(self._items.values())

    def agent(self, agent_id: str) -> AgentState:
        """An agent's live state (read only)."""
        return self._agent(agent_id)

    def agents(self) -> Iterator[AgentState]:
        return iter(self._agents.values())

    def offer(self, offer_id: str) -> Offer:
        offer = self._offers.get(offer_id)
        if offer is None:
            raise errors.NotFound(f"no offer {offer_id}", offer=offer_id)
        return offer

    def queue_names(self) -> list[str]:
        return list(self._queues)

    def queue_status(self, name: str, *, at: float | None = None) -> dict[str, Any]:
        """Live queue state: waiting, offered, longest wait, EWT, staffed and ready members, open.

        ``at`` is the time of the read (never before the last command): the longest wait counts up
        to it, over queued and offered items alike (an offer in flight is still a wait, SPEC §8),
        and ``open`` says whether the queue's operating hours hold then (R14)."""
        queue = self._queues.get(name)
        if queue is None:
            raise errors.NotFound(f"no queue {name}", queue=name)
        now = self._now if at is None else max(self._now, at)
        oldest = min(
            (now if i.queued_at is None else i.queued_at for i in self._unanswered_in(queue)),
            default=None,
        )
        return {
            "name": name,
            "waiting": queue.waiting,
            "offered": queue.offered,
            "longest_wait_s": 0.0 if oldest is None else now - oldest,
            "ewt_s": queue.ewt(),
            "members": len(queue.members),
            "staffed": queue.staffed,
            "ready": queue.ready,
            "open": self._open_at(queue, now),
        }

    def _open_at(self, queue: QueueRuntime, t: float) -> bool:
        """R14: a queue without operating hours is always open."""
        return queue.calendar is None or queue.calendar.is_open(self._epoch + timedelta(seconds=t))

    def _unanswered_in(self, queue: QueueRuntime) -> Iterator[WorkItem]:
        """The queue's queued items, then its offered ones (found through the agents' open offers,
        which only a read with offers in flight walks)."""
        yield from self._waiting_in(queue)
        if queue.offered <= 0:
            return
        for agent in (*self._agents.values(), *self._retired.values()):
            for offer_id in agent.offers:
                item = self._items[self._offers[offer_id].item]
                if item.queue == queue.name and item.state is ItemState.OFFERED:
                    yield item

    def waiting_items(self, queue: str) -> list[WorkItem]:
        """The queued items of ``queue`` in queue order (R6–R9)."""
        runtime = self._queues.get(queue)
        if runtime is None:
            raise errors.NotFound(f"no queue {queue}", queue=queue)
        return sorted(self._waiting_in(runtime), key=lambda i: i.order_key)

    def _waiting_in(self, queue: QueueRuntime) -> Iterator[WorkItem]:
        valid = self._dispatch.item_entry_valid
        for group in queue.groups.values():
            for entry in group.live_entries(valid):
                yield self._items[entry[2]]

    # -- lookups ----------------------------------------------------------------------------------------

    def _item(self, item_id: str) -> WorkItem:
        item = self._items.get(item_id)
        if item is None:
            raise errors.NotFound(f"no work item {item_id}", item=item_id)
        return item

    def _agent(self, agent_id: str) -> AgentState:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise errors.NotFound(f"no agent {agent_id}", agent=agent_id)
        return agent

    def _ws(self, name: str) -> plans.WorkstreamPlan:
        ws = self._workstreams.get(name)
        if ws is None:
            raise errors.NotFound(f"no workstream {name}", workstream=name)
        return ws

    # -- events and trace ---------------------------------------------------------------------------------

    def _emit(
        self,
        type_: EventType,
        *,
        item: str | None = None,
        agent: str | None = None,
        queue: str | None = None,
        offer: str | None = None,
        **data: Any,
    ) -> None:
        self._seq += 1
        # tuple.__new__ directly: the named tuple's own __new__ is one more Python call per event.
        fields = (self._seq, self._now, type_, item, agent, queue, offer, data)
        self._events.append(_new_event(Event, fields))

    def _trace(self, item: WorkItem, stage: str, **info: Any) -> None:
        """R43: one bounded entry per stage; the simulator turns tracing off unless asked."""
        if not self._tracing:
            return
        if len(item.trace) >= TRACE_LIMIT:
            if len(item.trace) == TRACE_LIMIT:
                item.trace.append({"t": self._now, "stage": "truncated"})
            return
        item.trace.append({"t": self._now, "stage": stage, **info})

    # -- time ------------------------------------------------------------------------------------------------

    def _begin(self) -> None:
        """Start a command: bring the engine to the clock's time, firing due timers in order."""
        now = float(self._clock.now())
        while True:
            due = self._timers.next_due()
            if due is None or due > now:
                break
            # Every timer due at one instant fires before anyone takes work, so agents freed
            # together compete by the queue's method (R17) rather than by timer order.
            self._now = self._dispatch.now = max(self._now, due)
            while (entry := self._timers.pop_due(due)) is not None:
                self._fire(entry[2], entry[3], entry[4])
            self._settle()
        self._now = self._dispatch.now = max(self._now, now)

    def _settle(self) -> None:
        """Give every agent that gained room its best waiting items (R21)."""
        raise NotImplementedError

    def _fire(self, kind: TimerKind, key: str, arg: int) -> None:
        raise NotImplementedError

    def _set_item_timer(self, item: WorkItem, name: str, due: float, arg: int = 0) -> None:
        self._timers.cancel(item.timers.pop(name, None))
        kind = ITEM_TIMER_KINDS[name.split(":")[0]]
        item.timers[name] = self._timers.set(due, kind, item.id, arg)

    def _cancel_item_timers(self, item: WorkItem, names: Iterable[str]) -> None:
        for name in list(names):
            self._timers.cancel(item.timers.pop(name, None))

    def _set_agent_timer(self, agent: AgentState, name: str, due: float) -> None:
        self._timers.cancel(agent.timers.pop(name, None))
        agent.timers[name] = self._timers.set(due, AGENT_TIMER_KINDS[name], agent.id)

    def _cancel_agent_timer(self, agent: AgentState, name: str) -> None:
        self._timers.cancel(agent.timers.pop(name, None))

    def _forget_closed(self, item: WorkItem) -> None:
        """Keep at most ``retain_closed`` closed items in memory; the event log keeps the rest."""
        limit = self._retain_closed
        if limit is None:
            return
        self._closed_ids.append(item.id)
        while len(self._closed_ids) > limit:
            old = self._items.pop(self._closed_ids.popleft())
            self._by_external.pop((old.workstream, old.external_id), None)
        while len(self._ended_offers) > limit:
            self._offers.pop(self._ended_offers.popleft(), None)

    def _is_waiting(self, item: WorkItem) -> bool:
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
