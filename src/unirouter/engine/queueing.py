"""An item in its queue: entering it, its place in the queue order, its waiting deadlines, and
the push-mode decision that offers it to the best agent (R6–R9, R13, R16, R20, R21, R39).

Indexes are updated as the change happens, never rebuilt by a scan (see :mod:`unirouter.engine.queues`).
"""

from __future__ import annotations

from typing import Any

from unirouter import expressions
from unirouter.config import model
from unirouter.engine import core, ending, matching, offers, plans, presence
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import CloseReason, ItemState, WorkItem, move

__all__ = [
    "admit",
    "arm_relax",
    "arm_retime",
    "arm_waiting_timers",
    "enqueue",
    "index_item",
    "order_key",
    "rekey",
    "retime",
    "route_steps",
    "try_assign",
    "ttl_due",
    "unindex_item",
]


#: R43 trace records' field names (core.trace_at).
_QUEUE_KEY = ("queue",)
_ASSIGN_KEYS = ("trigger", "queue")


def enqueue(s: Core, item: WorkItem, queue: QueueRuntime, *, announce: bool = True) -> None:
    """Enter ``queue`` as waiting; set its deadlines; try to assign it (R21)."""
    ttl_at = ttl_due(s, item)
    if ttl_at is not None and ttl_at <= s.now:
        ending.close(s, item, CloseReason.EXPIRED)
        return
    move(item, ItemState.QUEUED, queue)
    item.queued_at = s.now
    item.queue_epoch += 1
    if item.first_queued_at is None:
        item.first_queued_at = s.now
    admit(s, queue, item)
    index_item(s, item, queue)
    if announce:
        core.emit(s, ET.ITEM_QUEUED, item=item.id, queue=queue.name)
    if s.tracing:
        core.trace_at(s, item, "queued", _QUEUE_KEY, (queue.name,))
        if s.priority_plans.get(queue.name):
            core.trace(s, item, "prioritisation", queue=queue.name, bucket=item.order_key[0])
    arm_waiting_timers(s, item, queue, ttl_at)
    try_assign(s, item)


def ttl_due(s: Core, item: WorkItem) -> float | None:
    """R39: time to live counts from entering routing (or returning from parked) until the
    item is first answered; answered work never expires."""
    if item.ttl_s is None or item.answered_at is not None or item.entered_routing_at is None:
        return None
    return item.entered_routing_at + item.ttl_s


def admit(s: Core, queue: QueueRuntime, item: WorkItem) -> None:
    """Widen the queue's pool admission so it covers what this item accepts (R16, R31).

    Pools hold only members that the items usually seen in the queue could take: an allowed
    presence, room for the smallest such item, room in the profiles they all carry (so a decision
    never skips over agents that fit nothing). An item that accepts more (fewer units, another
    workstream's presences, fewer profiles: a transfer from elsewhere) widens that once and the
    members are re-indexed.
    """
    allowed = s.workstreams[item.workstream].allowed
    profiles = tuple(p for p in queue.profiles if p in item.profiles) if queue.profiles else ()
    if item.units >= queue.min_units and allowed <= queue.allowed and profiles == queue.profiles:
        return
    queue.min_units = min(queue.min_units, item.units)
    queue.profiles = profiles
    if not allowed <= queue.allowed:
        queue.allowed = queue.allowed | allowed
        queue.present = sum(
            s.agents[a].presence in queue.allowed for a in queue.members if a in s.agents
        )
    for agent_id in queue.members:
        agent = s.agents.get(agent_id)
        if agent is not None:
            presence.refresh(s, agent)


def arm_waiting_timers(s: Core, item: WorkItem, queue: QueueRuntime, ttl_at: float | None) -> None:
    if ttl_at is not None:
        core.set_item_timer(s, item, "ttl", ttl_at)
    for index, seconds in queue.post_rules:
        core.set_item_timer(s, item, f"overflow:{index}", s.now + seconds, index)
    aging = queue.cfg.aging
    if aging is not None:
        core.set_item_timer(s, item, "aging", s.now + aging.every_s)
    arm_relax(s, item)


def arm_relax(s: Core, item: WorkItem) -> None:
    """R20: the next relaxation step of the item's route rule, timed from its first queueing."""
    steps = route_steps(s, item)
    nxt = item.relax_step + 1
    if nxt < len(steps):
        start = s.now if item.first_queued_at is None else item.first_queued_at
        due = start + steps[nxt].after_s
        core.set_item_timer(s, item, "relax", max(due, s.now), nxt)


def route_steps(s: Core, item: WorkItem) -> tuple[model.RelaxStep, ...]:
    """The relaxation steps of the rule that routed the item, kept on the item (R20, R42)."""
    return item.steps


def index_item(s: Core, item: WorkItem, queue: QueueRuntime, *, keep_key: bool = False) -> None:
    """Put the item in its requirement group, ordered by the queue order (R6–R9); ``keep_key``
    returns it to its old place (R25)."""
    req = item.group
    if not isinstance(req, matching.Requirement):
        req = item.group = matching.Requirement.of(item.skills, item.units, item.profiles)
    if not keep_key or not item.order_key:
        item.order_key = order_key(s, item, queue)
        arm_retime(s, item, queue)
    item.version += 1
    group = queue.group((item.workstream, req))
    group.live += 1
    item.slot = group
    group.push(item.order_key, item.version, item.id)
    group.compact(s.dispatch.item_entry_valid)


def unindex_item(s: Core, item: WorkItem) -> None:
    """Leave the requirement group (lazily: the entry goes stale)."""
    if item.slot is not None:
        item.slot.live -= 1
        item.slot = None
    item.version += 1


def rekey(s: Core, item: WorkItem) -> None:
    """Recompute the queue place after a change (R7 immediacy, R8 aging, R20 relaxation)."""
    queue = s.queues[item.queue or ""]
    unindex_item(s, item)
    index_item(s, item, queue)


def order_key(s: Core, item: WorkItem, queue: QueueRuntime) -> tuple[Any, ...]:
    """R6 priority, routing time, id; R7 buckets before that; R9 affinity returns first."""
    tail = (-item.effective_priority, item.waiting_since, item.id)
    if item.affinity_agent is not None:
        return (-1, *tail)
    rules = s.priority_plans.get(queue.name)
    if not rules:
        return (0, *tail)
    scope = s.scope
    scope.item, scope.agent, scope.queue, scope.now = item, None, queue.name, s.now
    for bucket, rule in enumerate(rules):
        if rule.when(scope):
            keys = tuple(plans.order_value(expr(scope), desc) for expr, desc in rule.keys)
            return (bucket, *keys, *tail)
    return (len(rules), *tail)


def arm_retime(s: Core, item: WorkItem, queue: QueueRuntime) -> None:
    """R7, R8: prioritisation conditions (and comparisons in the keys of the bucket the item is
    in) that read the time are evaluated again at the next moment one of them could flip, on
    the item's own timer, so a bucket of ``minutes_waited(item) > 5`` fills on time."""
    rules = s.priority_plans.get(queue.name)
    if not rules or not any(r.timed for r in rules):
        return
    bucket = item.order_key[0] if item.order_key else len(rules)
    scope = s.scope
    scope.item, scope.agent, scope.queue, scope.now = item, None, queue.name, s.now
    due: float | None = None
    for index, rule in enumerate(rules[: max(bucket + 1, 0)]):
        keys = [expr for expr, _ in rule.keys] if index == bucket else []
        for expr in (rule.when, *keys):
            at = expressions.next_change(expr, scope)
            due = at if due is None or (at is not None and at < due) else due
    if due is None:
        core.cancel_item_timers(s, item, ["retime"])
    else:
        core.set_item_timer(s, item, "retime", due)


def retime(s: Core, item: WorkItem) -> None:
    """The retime timer fired (R7): the item's place is computed again."""
    queue = s.queues[item.queue or ""]
    if item.state is ItemState.QUEUED:
        rekey(s, item)
        try_assign(s, item)
    else:  # offered: the place it returns to (R25)
        item.order_key = order_key(s, item, queue)
        arm_retime(s, item, queue)


def try_assign(s: Core, item: WorkItem) -> None:
    """R21: an item became assignable; push mode offers it to the best eligible agent now."""
    if item.state is not ItemState.QUEUED or item.auto_blocked:
        return
    ws = s.workstreams[item.workstream]
    if ws.cfg.mode is model.Mode.PICK:
        return
    queue = s.queues[item.queue or ""]
    decision = s.dispatch.find_agent(item, queue)
    if s.tracing and (decision.winner is not None or decision.excluded):
        core.trace_at(s, item, "assign", _ASSIGN_KEYS, ("item", queue.name), decision)
    if decision.winner is not None:
        offers.offer_or_assign(s, item, s.agents[decision.winner])
    elif decision.recheck_at is not None:  # R19, R21: a time condition's own moment
        core.set_item_timer(s, item, "recheck", decision.recheck_at)
