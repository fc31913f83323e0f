"""What a command checks before it changes anything: a refused command raises a
:class:`~unirouter.errors.CommandError` and leaves the engine as it was (SPEC §6.1)."""

from __future__ import annotations

from typing import Any

from unirouter import errors
from unirouter.config import model
from unirouter.engine import core, matching
from unirouter.engine.core import Core
from unirouter.engine.state import AgentState, ItemState, OfferStatus, WorkItem

__all__ = [
    "check_pick",
    "check_submit",
    "open_offer",
    "queue_for",
    "require",
    "require_open",
]


def check_submit(
    s: Core,
    ws: Any,
    priority: int | None,
    skills: list[model.SkillReq] | None,
    profiles: list[str] | None,
    preferred: list[str] | None,
    item_id: str | None,
) -> None:
    if priority is not None and not 0 <= priority <= 100_000:
        raise errors.InvalidCommand("priority must be between 0 and 100000", field="priority")
    for req in skills or ():
        if req.name not in s.config.skills:
            raise errors.InvalidCommand(f"unknown skill {req.name!r}", field="skills")
    for name in profiles or ():
        if name not in s.config.capacity_profiles:
            raise errors.InvalidCommand(f"unknown capacity profile {name!r}", field="profiles")
    for agent_id in preferred or ():
        if agent_id not in s.agents:
            raise errors.InvalidCommand(f"unknown agent {agent_id!r}", field="preferred_agents")
    if item_id is not None and item_id in s.items:
        raise errors.Conflict(f"item {item_id!r} exists already", item=item_id)


def check_pick(s: Core, item: WorkItem, agent: AgentState) -> None:
    queue = s.queues[item.queue or ""]
    ws = s.workstreams[item.workstream]
    sig = agent.signature
    req = item.group
    assert isinstance(req, matching.Requirement)
    reason: str | None
    if s.sigs.rank(req, sig, ws.cfg.skill_match, queue.method) is None:
        reason = matching.exclusion(req, sig, ws.cfg.skill_match) or "skill"
    else:
        reason = s.dispatch.room_for(agent, item.units, item.profiles)
    if reason is not None:
        raise errors.NotEligible(
            f"agent {agent.id} may not pick item {item.id} ({reason})",
            agent=agent.id,
            item=item.id,
            reason=reason,
        )


def require(s: Core, item: WorkItem, *states: ItemState) -> None:
    if item.state not in states:
        raise errors.Conflict(
            f"item {item.id} is {item.state}; expected {' or '.join(states)}",
            item=item.id,
            state=item.state,
            expected=list(states),
        )


def require_open(s: Core, item: WorkItem) -> None:
    if item.state is ItemState.CLOSED:
        raise errors.Conflict(f"item {item.id} is closed", item=item.id, state=item.state)


def open_offer(s: Core, offer_id: str, agent: str) -> Any:
    offer = s.offers.get(offer_id)
    if offer is None:
        raise errors.NotFound(f"no offer {offer_id}", offer=offer_id)
    core.get_agent(s, agent)
    if offer.agent != agent:
        raise errors.OfferNotOpen(
            f"offer {offer_id} was made to another agent", offer=offer_id, agent=agent
        )
    if offer.status is not OfferStatus.OPEN:
        raise errors.OfferNotOpen(
            f"offer {offer_id} is {offer.status}", offer=offer_id, status=offer.status
        )
    return offer


def queue_for(s: Core, item: WorkItem, name: str) -> Any:
    queue = s.queues.get(name)
    if queue is None:
        raise errors.NotFound(f"no queue {name}", queue=name)
    if queue.cfg.kind is not item.kind:
        raise errors.InvalidCommand(
            f"queue {name} is {queue.cfg.kind}, item {item.id} is {item.kind} (R31)",
            queue=name,
            item=item.id,
        )
    return queue
