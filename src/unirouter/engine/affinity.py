"""Affinity (R29): a parked conversation that resumes goes back to its last agent ahead of others,
unless that agent stays offline past the grace period or can no longer take it."""

from __future__ import annotations

from unirouter.config import model
from unirouter.engine import core, matching, queueing, views
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, ItemState, WorkItem, move

__all__ = [
    "affinity_holds",
    "affinity_waiting",
    "arm_affinity",
    "arm_affinity_for",
    "drop_affinity",
    "resume",
    "within_grace",
]

P = model.BasePresence


def resume(s: Core, item: WorkItem) -> None:
    """R29: back to the last agent ahead of others, unless offline past the grace period.
    R6: a returning conversation counts from this last customer message."""
    core.cancel_item_timers(s, item, ["auto_close"])
    last = item.affinity_agent
    item.agent = None
    item.waiting_since = item.entered_routing_at = s.now
    affinity = s.workstreams[item.workstream].cfg.affinity
    member = last is not None and last in s.queues[item.queue or ""].members
    keep = affinity.enabled and member and within_grace(s, last, affinity.grace_s)
    item.affinity_agent = last if keep else None
    if s.tracing:  # R43: whether it goes back to its last agent, and if not, why
        why = (
            {} if keep or last is None
            else {"reason": "affinity off"} if not affinity.enabled
            else {"reason": f"not a member of {item.queue}"} if not member
            else {"reason": "offline past grace"}
        )  # fmt: skip
        core.trace(s, item, "resumed", last_agent=last, affinity=item.affinity_agent, **why)
    core.emit(s, ET.ITEM_RESUMED, item=item.id, queue=item.queue, affinity=item.affinity_agent)
    move(item, ItemState.ROUTING)
    queueing.enqueue(s, item, s.queues[item.queue or ""])
    if item.affinity_agent is not None and item.state is ItemState.QUEUED:
        arm_affinity(s, item)


def within_grace(s: Core, agent_id: str | None, grace_s: float) -> bool:
    agent = s.agents.get(agent_id or "")
    if agent is None:
        return False
    if agent.presence is not P.OFFLINE or agent.offline_since is None:
        return True
    return s.now - agent.offline_since < grace_s


def arm_affinity(s: Core, item: WorkItem) -> None:
    agent = s.agents[item.affinity_agent or ""]
    if agent.presence is P.OFFLINE and agent.offline_since is not None:
        grace = s.workstreams[item.workstream].cfg.affinity.grace_s
        core.set_item_timer(s, item, "affinity", agent.offline_since + grace)


def drop_affinity(s: Core, item: WorkItem) -> None:
    """R29: the last agent stayed offline past the grace period: route normally."""
    if item.state is not ItemState.QUEUED or item.affinity_agent is None:
        return
    agent = s.agents.get(item.affinity_agent)
    grace = s.workstreams[item.workstream].cfg.affinity.grace_s
    if agent is not None and within_grace(s, agent.id, grace):
        arm_affinity(s, item)
        return
    item.affinity_agent = None
    core.trace(s, item, "affinity", note="last agent offline past grace; routed normally")
    queueing.rekey(s, item)
    queueing.try_assign(s, item)


def arm_affinity_for(s: Core, agent: AgentState) -> None:
    for item_id in list(affinity_waiting(s, agent)):
        arm_affinity(s, s.items[item_id])


def affinity_waiting(s: Core, agent: AgentState) -> list[str]:
    """Items waiting for ``agent`` by affinity: found through the agent's queues' heads."""
    out = []
    for name in agent.queues:
        for item in views.waiting_in(s, s.queues[name]):
            if item.affinity_agent == agent.id:
                out.append(item.id)
    return out


def affinity_holds(s: Core, item: WorkItem, queue: QueueRuntime) -> bool:
    """R29, R42: affinity holds to a configured member of the item's queue whose skills and
    profiles still qualify; otherwise the returning conversation would wait forever."""
    agent = s.agents.get(item.affinity_agent or "")
    if agent is None or queue.name not in agent.queues:
        return False
    req = matching.Requirement.of(item.skills, item.units, item.profiles)
    match = s.workstreams[item.workstream].cfg.skill_match
    return s.sigs.rank(req, agent.signature, match, queue.method) is not None
