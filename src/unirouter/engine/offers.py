"""Offers: made, ended exactly once, refused (declined or expired), withdrawn (R22–R27, R40)."""

from __future__ import annotations

from unirouter.config import model
from unirouter.engine import assignment, capacity, core, presence, queueing
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.state import AgentState, ItemState, Offer, OfferStatus, WorkItem, move
from unirouter.engine.timers import TimerKind

__all__ = [
    "end_offer",
    "expire",
    "make_offer",
    "offer_or_assign",
    "offer_refused",
    "requeue_at_place",
    "withdraw",
]


def offer_or_assign(s: Core, item: WorkItem, agent: AgentState) -> None:
    ws = s.workstreams[item.workstream].cfg
    if ws.offer.auto_accept:
        assignment.assign(s, item, agent, reserved=False, forced=False)
    else:
        make_offer(s, item, agent, ws.offer.timeout_s)


def make_offer(s: Core, item: WorkItem, agent: AgentState, timeout_s: float) -> None:
    """R22, R23: capacity is reserved when the offer is made."""
    queue = s.queues[item.queue or ""]
    s.offer_counter += 1
    offer = Offer(
        id=f"o{s.offer_counter:09d}", item=item.id, agent=agent.id, made_at=s.now,
        expires_at=s.now + timeout_s,
    )  # fmt: skip
    s.offers[offer.id] = offer
    if item.state is ItemState.QUEUED:
        queueing.unindex_item(s, item)
    move(item, ItemState.OFFERED)
    item.offer = offer.id
    agent.offers.add(offer.id)
    agent.passed = None
    agent.last_assigned[queue.name] = s.now  # a push assignment is its offer (R17, R23)
    capacity.hold(s, item, agent)
    offer.timer = s.timers.set(offer.expires_at, TimerKind.OFFER_EXPIRY, offer.id)
    core.emit(s, ET.OFFER_MADE, item=item.id, agent=agent.id, queue=queue.name, offer=offer.id,
        expires_at=offer.expires_at,
    )  # fmt: skip
    presence.changed(s, agent)


def end_offer(s: Core, offer: Offer, status: OfferStatus) -> None:
    """Every offer ends exactly once."""
    offer.status = status
    if s.retain_closed is not None:
        s.ended_offers.append(offer.id)
    s.timers.cancel(offer.timer)
    item = s.items[offer.item]
    item.offer = None
    agent = s.agents.get(offer.agent) or s.retired[offer.agent]
    agent.offers.discard(offer.id)


def offer_refused(
    s: Core, item: WorkItem, agent: AgentState, penalty: model.BasePresence | None
) -> None:
    """R25, R26: back to the old place; the agent is passed over; an optional presence penalty."""
    capacity.release(s, item, agent, record=False)
    item.declines[agent.id] = item.declines.get(agent.id, 0) + 1
    item.declines_total += 1
    item.last_decliner = agent.id
    agent.passed = item.id
    if item.affinity_agent == agent.id:  # R29: the last agent turned it down; route normally
        item.affinity_agent = None
        item.order_key = ()
        core.trace(s, item, "affinity", note="last agent declined; routed normally")
    ws = s.workstreams[item.workstream].cfg
    if item.declines_total >= ws.offer.max_declines_total and not item.auto_blocked:
        item.auto_blocked = True
        core.trace(
            s, item, "offer", note="max_declines_total reached: no more automatic offers (R25)"
        )
    requeue_at_place(s, item)
    if penalty is not None and agent.connected:
        presence.apply_presence(s, agent, penalty, label=None, manual=False, force=True)
        agent.held = True
    presence.changed(s, agent)
    queueing.try_assign(s, item)


def requeue_at_place(s: Core, item: WorkItem) -> None:
    """Back into the queue at the old position (same order key, R25)."""
    queue = s.queues[item.queue or ""]
    move(item, ItemState.QUEUED)
    queueing.index_item(s, item, queue, keep_key=True)


def expire(s: Core, offer: Offer) -> None:
    """R25, R26: an offer not answered by ``expires_at`` ends; the item returns to its place."""
    if offer.status is not OfferStatus.OPEN:
        return
    item = s.items[offer.item]
    end_offer(s, offer, OfferStatus.EXPIRED)
    core.emit(
        s, ET.OFFER_EXPIRED, item=item.id, agent=offer.agent, queue=item.queue, offer=offer.id
    )
    agent = s.agents.get(offer.agent) or s.retired[offer.agent]
    ws = s.workstreams[item.workstream].cfg
    if not ws.offer.rejectable:
        assignment.assign(
            s, item, agent, reserved=True, forced=False
        )  # R27: expires into assignment
        return
    offer_refused(s, item, agent, ws.offer.on_expiry_presence)


def withdraw(s: Core, offer: Offer, *, requeue: bool) -> None:
    """R40: an offer in flight is withdrawn and its capacity released."""
    item = s.items[offer.item]
    end_offer(s, offer, OfferStatus.WITHDRAWN)
    core.emit(
        s, ET.OFFER_WITHDRAWN, item=item.id, agent=offer.agent, queue=item.queue, offer=offer.id
    )
    agent = s.agents.get(offer.agent) or s.retired[offer.agent]
    capacity.release(s, item, agent, record=False)
    presence.changed(s, agent)
    if requeue:
        requeue_at_place(s, item)
        queueing.try_assign(s, item)
    else:
        move(item, ItemState.QUEUED)
        item.version += 1
