"""What each timer does when it fires (R8, R13, R20, R25, R29, R33, R34, R36, R37, R39)."""

from __future__ import annotations

from unirouter.engine import (
    affinity,
    capacity,
    core,
    ending,
    intake,
    offers,
    plans,
    presence,
    queueing,
)
from unirouter.engine.core import Core
from unirouter.engine.state import AgentState, CloseReason, ItemState, WorkItem
from unirouter.engine.timers import TimerKind

__all__ = [
    "age",
    "fire",
    "fire_agent",
    "fire_item",
    "relax",
]


def fire(s: Core, kind: TimerKind, key: str, arg: int) -> None:
    if kind is TimerKind.OFFER_EXPIRY:
        offers.expire(s, s.offers[key])
        return
    if kind in _AGENT_TIMERS:
        agent = s.agents.get(key)
        if agent is not None:
            agent.timers.pop(_AGENT_TIMERS[kind], None)
            fire_agent(s, kind, agent)
        return
    item = s.items[key]
    fire_item(s, kind, item, arg)


def fire_agent(s: Core, kind: TimerKind, agent: AgentState) -> None:
    if kind is TimerKind.RECONNECT_GRACE:
        agent.presence_before_disconnect = None
    elif kind is TimerKind.CALENDAR:
        presence.update_in_hours(s, agent)
        presence.changed(s, agent)
    elif kind is TimerKind.PROFILE_RESET:
        capacity.reset_profiles(s, agent)


def fire_item(s: Core, kind: TimerKind, item: WorkItem, arg: int) -> None:
    name = _ITEM_TIMER_NAMES[kind]
    item.timers.pop(f"overflow:{arg}" if kind is TimerKind.OVERFLOW_WAIT else name, None)
    if kind is TimerKind.SCHEDULED_START and item.state is ItemState.SCHEDULED:
        intake.start_routing(s, item)
    elif kind is TimerKind.TTL and core.is_waiting(item):
        ending.close(s, item, CloseReason.EXPIRED)
    elif kind is TimerKind.OVERFLOW_WAIT and core.is_waiting(item):
        intake.post_queue(s, item, arg)
    elif kind is TimerKind.AGING_STEP and core.is_waiting(item):
        age(s, item)
    elif kind is TimerKind.RELAX_STEP and core.is_waiting(item):
        relax(s, item, arg)
    elif kind is TimerKind.WRAP_UP_RELEASE and item.state is ItemState.WRAP_UP:
        holder = s.agents.get(item.holder or "")
        if holder is not None:
            capacity.release(s, item, holder, record=True)
            presence.changed(s, holder)
    elif kind is TimerKind.AFFINITY_GRACE:
        affinity.drop_affinity(s, item)
    elif kind is TimerKind.RETIME and core.is_waiting(item):
        queueing.retime(s, item)
    elif kind is TimerKind.RECHECK and item.state is ItemState.QUEUED:
        queueing.try_assign(s, item)
    elif kind is TimerKind.AUTO_CLOSE and item.state is ItemState.PARKED:
        ending.close(s, item, CloseReason.COMPLETED)


def age(s: Core, item: WorkItem) -> None:
    """R8: every ``every_s`` waited adds ``add`` to the effective priority."""
    aging = s.queues[item.queue or ""].cfg.aging
    if aging is None:
        return
    item.aging_bonus += aging.add
    if item.state is ItemState.QUEUED:
        queueing.rekey(s, item)
    else:
        item.order_key = queueing.order_key(s, item, s.queues[item.queue or ""])
    core.set_item_timer(s, item, "aging", s.now + aging.every_s)


def relax(s: Core, item: WorkItem, step: int) -> None:
    """R20: the item's skill requirements relax to the next step."""
    steps = queueing.route_steps(s, item)
    if step >= len(steps):
        return
    item.relax_step = step
    item.skills = plans.relaxed(item.base_skills, steps[step].skills)
    item.group = None
    core.trace(s, item, "relax", step=step, skills=[s.name for s in item.skills])
    if item.state is ItemState.QUEUED:
        queueing.rekey(s, item)
        queueing.try_assign(s, item)
    queueing.arm_relax(s, item)


_AGENT_TIMERS = {
    TimerKind.RECONNECT_GRACE: "reconnect",
    TimerKind.CALENDAR: "calendar",
    TimerKind.PROFILE_RESET: "profile_reset",
}


_ITEM_TIMER_NAMES = {
    TimerKind.SCHEDULED_START: "scheduled",
    TimerKind.TTL: "ttl",
    TimerKind.OVERFLOW_WAIT: "overflow",
    TimerKind.AGING_STEP: "aging",
    TimerKind.RELAX_STEP: "relax",
    TimerKind.WRAP_UP_RELEASE: "wrap_up",
    TimerKind.AFFINITY_GRACE: "affinity",
    TimerKind.AUTO_CLOSE: "auto_close",
    TimerKind.RETIME: "retime",
    TimerKind.RECHECK: "recheck",
}
