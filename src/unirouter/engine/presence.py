"""Presence and readiness (R12, R16, R26, R32, R35, R36, R43).

An agent's presence, room and working hours decide in which queue pools it stands (``ready``), which
queues it staffs (R12 ``no_agents``, EWT) and why it is out of the others (R43); :func:`changed` keeps
all of that in step after any change and wakes the agent for the settle (R21).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from unirouter.config import model
from unirouter.engine import affinity, capacity, core
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState

__all__ = [
    "MANUAL_DEFAULTS",
    "apply_presence",
    "auto_presence",
    "changed",
    "connect",
    "note_unready",
    "refresh",
    "restaff",
    "set_presence",
    "slots",
    "staffs",
    "unready_reason",
    "update_in_hours",
    "wake",
]

P = model.BasePresence
#: A module constant: an enum member read through its class is a type lookup each time (3.11).
OFFLINE = P.OFFLINE


def set_presence(
    s: Core,
    agent: AgentState,
    presence: model.BasePresence,
    *,
    label: str | None,
    manual: bool,
    force: bool = False,
) -> None:
    """A presence set by hand or by a system rule (R26, R32, R35); then reindex the agent."""
    apply_presence(s, agent, presence, label=label, manual=manual, force=force)
    changed(s, agent)


def apply_presence(
    s: Core,
    agent: AgentState,
    presence: model.BasePresence,
    *,
    label: str | None,
    manual: bool,
    force: bool = False,
) -> None:
    """Record a presence and keep the per-queue staffed counts (R12 no_agents, EWT) in step."""
    old = agent.presence
    agent.manual = manual
    if presence is old and label == agent.label and not force:
        return
    if presence is not old:
        for name in agent.queues:
            queue = s.queues[name]
            queue.present += (presence in queue.allowed) - (old in queue.allowed)
    agent.presence, agent.label = presence, label
    if presence is OFFLINE and old is not OFFLINE:
        agent.offline_since = s.now
    elif presence is not OFFLINE:
        agent.offline_since = None
    core.emit(s, ET.PRESENCE_CHANGED, agent=agent.id, presence=presence, label=label, manual=manual)
    if presence is OFFLINE and old is not OFFLINE:
        affinity.arm_affinity_for(s, agent)


def auto_presence(s: Core, agent: AgentState) -> None:
    """R32: nothing used → available; part → busy; all or more than all → busy_dnd. An agent
    offline for want of a connection (R35) stays offline; one present without a connection
    (it set a presence by API alone) follows its work like any other."""
    if agent.manual or agent.held or (not agent.connected and agent.presence is P.OFFLINE):
        return
    if agent.used_units == 0 and not agent.active and not agent.offers:
        new = P.AVAILABLE
    elif (
        agent.free_units <= 0 and (agent.capacity_units > 0 or agent.used_units > 0)
    ) or capacity.profiles_full(s, agent):
        new = P.BUSY_DND
    else:
        new = P.BUSY
    if new is not agent.presence:
        apply_presence(s, agent, new, label=None, manual=False)


def changed(s: Core, agent: AgentState) -> None:
    """The agent's room, presence or standing changed: reindex now, fill it when the command settles."""
    auto_presence(s, agent)
    refresh(s, agent)
    s.woken[agent.id] = None


def wake(s: Core, agent: AgentState) -> None:
    s.woken[agent.id] = None


def refresh(s: Core, agent: AgentState) -> None:
    """Re-push the agent into the pools of the queues where it is ready (lazy deletion)."""
    agent.version += 1
    dispatch = s.dispatch
    for name in agent.queues:
        queue = s.queues[name]
        reason = unready_reason(s, agent, queue)
        if agent.unready.get(name) != (None if reason == "presence" else reason):
            note_unready(s, agent, queue, reason)  # its no-change case, checked inline
        pool = queue.pool(agent.signature)
        if reason is None:
            if name not in agent.ready:
                agent.ready.add(name)
                pool.live += 1
                queue.ready += 1
            pool.push(dispatch.method_key(agent, queue), agent.version, agent.id)
            pool.compact(dispatch.agent_entry_valid)
        elif name in agent.ready:
            agent.ready.discard(name)
            pool.live -= 1
            queue.ready -= 1
        restaff(s, agent, queue)


def restaff(s: Core, agent: AgentState, queue: QueueRuntime) -> None:
    """Keep the queue's staffing (R12 ``no_agents``, EWT) in step with the agent.

    A member staffs a queue while logged in with an allowed presence or with a presence the
    system set from its load (R32: busy, busy_dnd when full): full agents are staffing, not
    absent. Only a presence set by hand outside the allowed ones, offline, or a penalty
    (R26) takes a member out.
    """
    old = agent.staffed.get(queue.name)
    new = slots(s, agent, queue) if staffs(s, agent, queue) else None
    if old == new:
        return
    queue.staffed += (new is not None) - (old is not None)
    queue.slots += (new or 0) - (old or 0)
    if new is None:
        del agent.staffed[queue.name]
    else:
        agent.staffed[queue.name] = new


def staffs(s: Core, agent: AgentState, queue: QueueRuntime) -> bool:
    if agent.presence in queue.allowed:
        return True
    automatic = agent.connected and not agent.manual and not agent.held
    return automatic and agent.presence in (P.BUSY, P.BUSY_DND)


def slots(s: Core, agent: AgentState, queue: QueueRuntime) -> int:
    """How many of the queue's smallest items the agent can hold at once (EWT, SPEC §8)."""
    bounds = [] if queue.min_units <= 0 else [agent.capacity_units // queue.min_units]
    for name in queue.profiles:
        limit = agent.profile_limits.get(name)
        if limit is None:
            return 0
        if limit >= 0:
            bounds.append(limit)
    return max(0, min(bounds)) if bounds else 1


def unready_reason(s: Core, agent: AgentState, queue: QueueRuntime) -> str | None:
    """Why the agent is out of the queue's pool, or None: allowed presence, room for the
    queue's smallest item, working hours, profile room (R16, R36)."""
    if agent.presence not in queue.allowed:
        return "presence"
    if agent.free_units < queue.min_units:
        return "capacity"
    if queue.cfg.respect_calendars and not agent.in_hours:
        return "calendar"
    if not queue.profiles:  # no profile to lack room in; free units were checked above
        return None
    return s.dispatch.room_for(agent, 0, queue.profiles)


def note_unready(s: Core, agent: AgentState, queue: QueueRuntime, reason: str | None) -> None:
    """Keep the queue's per-reason counts of present members outside the pools (R43)."""
    old = agent.unready.get(queue.name)
    if reason == "presence":
        reason = None  # counted apart, from the staffed count
    if old == reason:
        return
    by_reason = queue.unready
    if old is not None:
        by_reason[old].pop(agent.id, None)
    if reason is None:
        agent.unready.pop(queue.name, None)
    else:
        agent.unready[queue.name] = reason
        by_reason.setdefault(reason, {})[agent.id] = None


def update_in_hours(s: Core, agent: AgentState) -> None:
    calendar = s.calendars.get(agent.calendar or "")
    core.cancel_agent_timer(s, agent, "calendar")
    if calendar is None:
        agent.in_hours = True
        return
    wall = s.epoch + timedelta(seconds=s.now)
    agent.in_hours = calendar.is_open(wall)
    change = calendar.next_change(wall)
    if change is not None:
        core.set_agent_timer(s, agent, "calendar", s.now + (change - wall).total_seconds())


MANUAL_DEFAULTS = frozenset({P.AWAY, P.OFFLINE, P.BUSY_DND})


def connect(s: Core, who: AgentState) -> Any:
    """Mark ``who`` connected; returns the presence kept since its disconnection (R35), if any."""
    who.connected = True
    core.emit(s, ET.AGENT_CONNECTED, agent=who.id)
    core.cancel_agent_timer(s, who, "reconnect")
    previous = who.presence_before_disconnect
    who.presence_before_disconnect = None
    return previous
