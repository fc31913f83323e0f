"""The end of the work: close, wrap-up, park (R32–R34, R40)."""

from __future__ import annotations

from unirouter.config import model
from unirouter.engine import assignment, capacity, core, presence
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.state import CloseReason, ItemState, WorkItem, move

__all__ = [
    "close",
    "enter_wrap_up",
    "park",
    "record_handle_time",
]

P = model.BasePresence


#: R43 trace records' field names (core.trace_at).
_CLOSED_KEY = ("reason",)


def close(s: Core, item: WorkItem, reason: CloseReason) -> None:
    """Any open state → closed; whatever the item holds is released. A manual available/busy
    ends with a close (R32)."""
    agent_id = item.agent
    assignment.detach(s, item)
    if item.state is ItemState.WRAP_UP or item.state is ItemState.PARKED:
        holder = s.agents.get(item.holder or "")
        if holder is not None:
            capacity.release(s, item, holder, record=True)
            presence.changed(s, holder)
    agent = s.agents.get(agent_id or "")
    if agent is not None:
        agent.active.discard(item.id)
        if agent.manual and agent.presence in (P.AVAILABLE, P.BUSY):
            agent.manual = False
            presence.changed(s, agent)
    record_handle_time(s, item)
    if item.timers:
        core.cancel_item_timers(s, item, item.timers)
    move(item, ItemState.CLOSED)
    item.close_reason = reason
    item.agent = agent_id
    core.emit(s, ET.ITEM_CLOSED, item=item.id, agent=agent_id, queue=item.queue, reason=reason)
    if s.tracing:
        core.trace_at(s, item, "closed", _CLOSED_KEY, (reason,))
    core.forget_closed(s, item)


def record_handle_time(s: Core, item: WorkItem) -> None:
    queue = s.queues.get(item.queue or "")
    if queue is not None and item.answered_at is not None:
        queue.record_handle_time(s.now - item.answered_at)


def enter_wrap_up(s: Core, item: WorkItem) -> None:
    """R33: ``always`` keeps capacity until close, ``none`` releases now, N releases after N s."""
    agent = s.agents.get(item.agent or "") or s.retired[item.agent or ""]
    agent.active.discard(item.id)
    move(item, ItemState.WRAP_UP)
    core.emit(s, ET.ITEM_WRAP_UP, item=item.id, agent=agent.id, queue=item.queue)
    block = s.workstreams[item.workstream].cfg.wrap_up.block
    if block == "none" or block == 0:
        capacity.release(s, item, agent, record=True)
        presence.changed(s, agent)
    elif block != "always":
        core.set_item_timer(s, item, "wrap_up", s.now + float(block))


def park(s: Core, item: WorkItem) -> None:
    """R34: capacity released and recorded; the agent is kept for affinity (R29)."""
    agent = s.agents.get(item.agent or "") or s.retired[item.agent or ""]
    agent.active.discard(item.id)
    capacity.release(s, item, agent, record=True)
    move(item, ItemState.PARKED)
    item.affinity_agent = agent.id
    core.trace(s, item, "parked", agent=agent.id)
    core.emit(s, ET.ITEM_PARKED, item=item.id, agent=agent.id, queue=item.queue)
    idle = s.workstreams[item.workstream].cfg.auto_close_idle_s
    if idle is not None:
        core.set_item_timer(s, item, "auto_close", s.now + idle)
    presence.changed(s, agent)
