"""Assignment and the moves that take an item off whatever holds it: detach, transfer to a queue
or to one agent (R28, R31, R32)."""

from __future__ import annotations

from unirouter import errors
from unirouter.config import model
from unirouter.engine import capacity, core, intake, offers, presence, queueing
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, ItemState, WorkItem, move

__all__ = [
    "assign",
    "detach",
    "transfer_to_agent",
    "transfer_to_queue",
]

P = model.BasePresence


#: R43 trace records' field names (core.trace_at).
_ASSIGNED_KEYS = ("agent", "forced")


def assign(s: Core, item: WorkItem, agent: AgentState, *, reserved: bool, forced: bool) -> None:
    """Item → assigned. A manual available/busy ends with the accept (R32)."""
    queue = s.queues.get(item.queue or "")
    if item.state is ItemState.QUEUED:
        queueing.unindex_item(s, item)
    if item.timers:
        core.cancel_item_timers(s, item, core.waiting_timers(item))
    if not reserved:
        capacity.hold(s, item, agent)
    move(item, ItemState.ASSIGNED)
    item.agent, item.forced = agent.id, forced
    item.affinity_agent = None
    agent.passed = None
    if item.answered_at is None:
        item.answered_at = s.now
    agent.active.add(item.id)
    if queue is not None:
        agent.last_assigned[queue.name] = s.now
    if agent.manual and agent.presence in (P.AVAILABLE, P.BUSY):
        agent.manual = False
    core.emit(s, ET.ITEM_ASSIGNED, item=item.id, agent=agent.id, queue=item.queue, forced=forced,
        units=item.units,
    )  # fmt: skip
    if s.tracing:
        core.trace_at(s, item, "assigned", _ASSIGNED_KEYS, (agent.id, forced))
    presence.changed(s, agent)


def detach(s: Core, item: WorkItem, *, keep_timers: bool = False) -> None:
    """Take the item off whatever holds it now (its queue place, its offer, or its agent) and
    leave it in ``routing``, held by nothing and counted nowhere; the caller decides what next.
    ``keep_timers`` keeps a waiting item's deadlines (it is still waiting, for one agent)."""
    if item.state is ItemState.OFFERED:
        offers.withdraw(s, s.offers[item.offer or ""], requeue=False)
    if item.state is ItemState.QUEUED:
        queueing.unindex_item(s, item)
        if not keep_timers and item.timers:
            core.cancel_item_timers(s, item, core.waiting_timers(item))
    elif item.state is ItemState.ASSIGNED:
        agent = s.agents.get(item.agent or "") or s.retired[item.agent or ""]
        agent.active.discard(item.id)
        capacity.release(s, item, agent, record=True)
        item.agent = None
        presence.changed(s, agent)
    if item.state in (ItemState.QUEUED, ItemState.ASSIGNED):
        move(item, ItemState.ROUTING)


def transfer_to_queue(s: Core, item: WorkItem, queue: QueueRuntime) -> None:
    """R31: re-queue in a queue of the same kind; the first agent's capacity is released at once."""
    intake.move_to_queue(s, item, item.queue, queue)


def transfer_to_agent(s: Core, item: WorkItem, agent: AgentState) -> None:
    """R31: a direct offer (or assignment with auto-accept) to one agent."""

    reason = s.dispatch.room_for(agent, item.units, item.profiles)
    if agent.presence is P.OFFLINE or reason is not None:
        raise errors.NotEligible(
            f"agent {agent.id} cannot take item {item.id} now ({reason or 'offline'})",
            agent=agent.id,
            item=item.id,
        )
    source = item.agent
    waiting = item.state in (ItemState.QUEUED, ItemState.OFFERED)
    detach(s, item, keep_timers=True)
    core.emit(
        s,
        ET.ITEM_TRANSFERRED,
        item=item.id,
        agent=agent.id,
        queue=item.queue,
        **{"from": source, "to": agent.id},
    )
    # Waiting again (counted in its queue) but not indexed: only this agent is offered it.
    move(item, ItemState.QUEUED, s.queues[item.queue or ""])
    if not waiting:  # an answered item has no waiting deadlines left to keep
        ttl_at = queueing.ttl_due(s, item)
        if ttl_at is not None:
            core.set_item_timer(s, item, "ttl", max(ttl_at, s.now))
    offers.offer_or_assign(s, item, agent)
