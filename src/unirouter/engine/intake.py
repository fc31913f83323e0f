"""The intake pipeline: classify, route to a queue, pre- and post-queue overflow (R1–R5, R12–R15, R37)."""

from __future__ import annotations

from typing import Any

from unirouter.config import model
from unirouter.engine import assignment, core, ending, offers, plans, queueing, views
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import CloseReason, ItemState, WorkItem, move

__all__ = [
    "classify",
    "create_callback",
    "emit_created",
    "move_to_queue",
    "new_item",
    "out_of_hours",
    "overflow",
    "overflow_condition",
    "post_queue",
    "pre_queue",
    "queues_named",
    "record_workstream_for",
    "route",
    "route_to",
    "schedule",
    "start_routing",
    "take_route",
    "warn_if_memberless",
]


#: R43 trace records' field names (core.trace_at).
_INTAKE_KEYS = ("workstream", "external_id")
_ROUTE_KEYS = ("queue", "rule", "when", "reason")


def new_item(
    s: Core, external_id: str, workstream: str, kind: model.Kind, item_id: str | None
) -> WorkItem:
    s.item_counter += 1
    ident = item_id or f"w{s.item_counter:09d}"
    item = WorkItem(id=ident, external_id=external_id, workstream=workstream, kind=kind)
    item.num = s.item_counter
    item.created_at = s.now
    item.config_version = s.version
    s.items[ident] = item
    s.by_external[(workstream, external_id)] = ident
    return item


def emit_created(s: Core, item: WorkItem) -> None:
    core.emit(s, ET.ITEM_CREATED, item=item.id, external_id=item.external_id, workstream=item.workstream,
        channel=item.channel, kind=item.kind, priority=item.priority, units=item.units,
    )  # fmt: skip
    if s.tracing:
        core.trace_at(s, item, "intake", _INTAKE_KEYS, (item.workstream, item.external_id))


def schedule(s: Core, item: WorkItem) -> None:
    """R37: a future ``available_at`` waits as scheduled and starts by the timer exactly."""
    move(item, ItemState.SCHEDULED)
    assert item.available_at is not None
    core.emit(s, ET.ITEM_SCHEDULED, item=item.id, available_at=item.available_at)
    core.set_item_timer(s, item, "scheduled", item.available_at)


def start_routing(s: Core, item: WorkItem) -> None:
    """R1: classification → route-to-queue → pre-queue overflow → queued."""
    move(item, ItemState.ROUTING)
    item.entered_routing_at = item.waiting_since = s.now
    item.config_version = s.version
    ws = s.workstreams[item.workstream]
    try:
        classify(s, item, ws)
        queue, rule, why = route(s, item, ws)
    except Exception as exc:  # R5: any failure of a rule sends the item to the fallback queue
        queue, rule, why = ws.cfg.fallback_queue, None, f"rule error: {exc}"
    if rule is None:
        route_to(s, item, queue, rule=None, reason=why)
        core.trace(s, item, "overflow", queue=queue, checked=[], skipped="fallback queue (R5)")
        warn_if_memberless(s, item, s.queues[queue])
        queueing.enqueue(s, item, s.queues[queue])
        return
    route_to(s, item, queue, rule=rule, reason=why)
    pre_queue(s, item, s.queues[queue])


def classify(s: Core, item: WorkItem, ws: plans.WorkstreamPlan) -> None:
    """R2: rulesets in order; in each, the first rule that holds applies its outputs."""
    scope = s.scope
    scope.item, scope.agent, scope.queue, scope.now = item, None, None, s.now
    applied: list[dict[str, Any]] = []
    named: list[dict[str, Any]] = []
    for name, rules in ws.rulesets:
        for index, rule in enumerate(rules):
            if rule.when(scope):
                outputs = _apply_rule(item, rule.rule)
                applied.append({"ruleset": name, "rule": index, **outputs})
                named.append({"ruleset": name, "rule": rule.rule.name or f"rules[{index}]",
                              "when": rule.rule.when, **outputs})  # fmt: skip
                break
    core.emit(s, ET.ITEM_CLASSIFIED, item=item.id, applied=applied)
    if s.tracing:  # R43: rules by name (or place), with their condition
        core.trace(s, item, "classification", applied=named)


def route(s: Core, item: WorkItem, ws: plans.WorkstreamPlan) -> tuple[str, int | None, str]:
    """R3–R5: the first matching rule whose queue is not overflowing, else the first match."""
    scope = s.scope
    scope.item, scope.agent, scope.queue, scope.now = item, None, None, s.now
    first: tuple[int, plans.RoutePlan] | None = None
    for index, route in enumerate(ws.routes):
        if not route.when(scope):
            continue
        first = first or (index, route)
        target = route.target()
        if target not in s.queues:
            raise KeyError(f"unknown queue {target}")
        if overflow_condition(s, s.queues[target], item) is None:
            return take_route(s, item, index, route), index, "matched"
    if first is None:
        return ws.cfg.fallback_queue, None, "no route rule matched"
    index, route = first
    return (
        take_route(s, item, index, route),
        index,
        "matched; every matching queue overflows",
    )


def take_route(s: Core, item: WorkItem, index: int, route: plans.RoutePlan) -> str:
    target = route.target()
    if route.split is not None:
        route.split.commit(target)
    item.route_rule = index
    item.steps = route.steps
    if route.steps:
        item.base_skills = item.skills
        item.skills = plans.relaxed(item.base_skills, route.steps[0].skills)
        item.group = None
    return target


def route_to(s: Core, item: WorkItem, queue: str, *, rule: int | None, reason: str) -> None:
    item.queue = queue
    core.emit(s, ET.ITEM_ROUTED, item=item.id, queue=queue, rule=rule, reason=reason)
    if s.tracing:  # R43: the rule by name (or place), with its condition
        cfg = s.workstreams[item.workstream].cfg.route_to_queue
        named = None if rule is None else (cfg[rule].name or f"route_to_queue[{rule}]")
        when = None if rule is None else cfg[rule].when
        core.trace_at(s, item, "route", _ROUTE_KEYS, (queue, named, when, reason))


def overflow_condition(
    s: Core, queue: QueueRuntime, item: WorkItem
) -> tuple[str, model.OverflowRule] | None:
    """R12: the first pre-queue condition that holds; out-of-hours first, then listed order."""
    rules = queue.cfg.overflow
    if not rules:
        return None
    for rule in rules:
        kind, _ = rule.condition
        if kind == "out_of_hours" and out_of_hours(s, queue):
            return kind, rule
    for rule in rules:
        kind, value = rule.condition
        if kind == "max_waiting" and queue.waiting >= int(value or 0):
            return kind, rule
        if kind == "ewt_s" and queue.ewt() > float(value or 0):
            return kind, rule
        if kind == "no_agents" and queue.staffed == 0:
            if item.kind is model.Kind.RECORD and not queue.members:
                continue  # R15: a record routed to a queue without members waits
            return kind, rule
    return None


def out_of_hours(s: Core, queue: QueueRuntime) -> bool:
    """R14: a queue without operating hours is always open."""
    return not views.open_at(s, queue, s.now)


def pre_queue(s: Core, item: WorkItem, queue: QueueRuntime) -> None:
    """R12, R15: checked once per item, after route-to-queue."""
    hit = overflow_condition(s, queue, item)
    checked = [r.condition[0] for r in queue.cfg.overflow if not r.post_queue]
    if hit is None:
        if s.tracing:
            core.trace(s, item, "overflow", queue=queue.name, checked=checked, condition=None)
        warn_if_memberless(s, item, queue)
        queueing.enqueue(s, item, queue)
        return
    condition, rule = hit
    overflow(s, item, queue, condition, rule, checked=checked)


def warn_if_memberless(s: Core, item: WorkItem, queue: QueueRuntime) -> None:
    """R15: a conversation in a queue without members waits, and the trace warns."""
    if not queue.members and item.kind is not model.Kind.RECORD:
        core.trace(s, item, "warning", warning=f"queue {queue.name} has no members (R15)")


def overflow(
    s: Core,
    item: WorkItem,
    queue: QueueRuntime,
    condition: str,
    rule: model.OverflowRule,
    *,
    checked: list[model.ConditionKind] | None = None,
) -> None:
    action, target = rule.action_kind
    core.emit(s, ET.ITEM_OVERFLOWED, item=item.id, queue=queue.name, condition=condition, action=action,
        target=target,
    )  # fmt: skip
    if s.tracing:
        core.trace(s,
            item, "overflow", queue=queue.name, checked=checked, condition=condition,
            action=action, target=target, reason=_overflow_reason(queue, condition, rule),
        )  # fmt: skip
    if action == "transfer":
        assert target is not None
        move_to_queue(s, item, queue.name, s.queues[target])
    elif action == "end":
        ending.close(s, item, CloseReason.OVERFLOW_ENDED)
    elif action == "callback":
        assert target is not None
        create_callback(s, item, s.queues[target])
        ending.close(s, item, CloseReason.OVERFLOW_ENDED)
    elif item.state is ItemState.ROUTING:
        queueing.enqueue(s, item, queue)


def move_to_queue(s: Core, item: WorkItem, source: str | None, queue: QueueRuntime) -> None:
    """Leave the current queue (if any) and enter ``queue``, keeping the routing time (R6).

    R29: affinity holds only to a member of the item's queue; moved where its last agent is
    not a member, the item routes normally there rather than waiting for someone who cannot
    take it."""
    assignment.detach(s, item)
    if item.affinity_agent is not None and item.affinity_agent not in queue.members:
        core.cancel_item_timers(s, item, ["affinity"])
        item.affinity_agent = None
        core.trace(s, item, "affinity", note=f"last agent not a member of {queue.name}")
    core.emit(
        s,
        ET.ITEM_TRANSFERRED,
        item=item.id,
        queue=queue.name,
        **{"from": source, "to": queue.name},
    )
    move(item, ItemState.ROUTING)
    queueing.enqueue(s, item, queue)


def create_callback(s: Core, item: WorkItem, queue: QueueRuntime) -> None:
    """R12 callback action: a record item in the named queue, carrying the customer."""
    ws_name = record_workstream_for(s, queue.name, item.workstream)
    callback = new_item(s, f"{item.external_id}:callback", ws_name, model.Kind.RECORD, None)
    callback.customer, callback.attributes = dict(item.customer), dict(item.attributes)
    callback.priority = item.priority
    callback.units = s.workstreams[ws_name].cfg.capacity.units
    callback.profiles = tuple(s.workstreams[ws_name].cfg.capacity.profiles)
    callback.phone = item.phone or item.customer.get("phone")
    emit_created(s, callback)
    core.trace(s, callback, "callback", origin=item.id)
    move(callback, ItemState.ROUTING)
    callback.entered_routing_at = s.now
    callback.waiting_since = item.waiting_since  # the caller keeps their place (R6, R12)
    route_to(s, callback, queue.name, rule=None, reason=f"callback for {item.id}")
    queueing.enqueue(s, callback, queue)


def record_workstream_for(s: Core, queue: str, default: str) -> str:
    for name, ws in s.workstreams.items():
        if ws.cfg.kind is model.Kind.RECORD and queue in queues_named(ws.cfg):
            return name
    for name, ws in s.workstreams.items():
        if ws.cfg.kind is model.Kind.RECORD:
            return name
    return default


def post_queue(s: Core, item: WorkItem, index: int) -> None:
    """R13: the ``waited_s`` rule ``index`` of the item's queue fired while it still waits."""
    queue = s.queues[item.queue or ""]
    if index >= len(queue.cfg.overflow) or not queue.cfg.overflow[index].post_queue:
        return  # the rule went away with a configuration change (R42)
    rule = queue.cfg.overflow[index]
    action, _target = rule.action_kind
    if action == "assign_anyway":
        return
    if item.state is ItemState.OFFERED:
        offers.withdraw(s, s.offers[item.offer or ""], requeue=False)
    overflow(s, item, queue, "waited_s", rule)


_ACTIONS = {
    "transfer": "transferred to {target}",
    "end": "ended (overflow_ended)",
    "callback": "a callback was created in {target}",
    "assign_anyway": "kept in the queue (assign_anyway)",
}


def _overflow_reason(queue: QueueRuntime, condition: str, rule: model.OverflowRule) -> str:
    """R43: the overflow condition that fired and what it did, as a sentence."""
    action, target = rule.action_kind
    return f"{_condition_text(queue, condition, rule.condition[1] or 0)}: " + _ACTIONS.get(
        action, str(action)
    ).format(target=target)


def _condition_text(queue: QueueRuntime, condition: str, value: float) -> str:
    if condition == "out_of_hours":
        return f"{queue.name} is out of its operating hours"
    if condition == "max_waiting":
        return f"{queue.name} holds {queue.waiting} waiting items (max_waiting {value:g})"
    if condition == "ewt_s":
        return f"the estimated wait in {queue.name} is over {value:g} s"
    if condition == "no_agents":
        return f"no member of {queue.name} is logged in"
    if condition == "waited_s":
        return f"waited over {value:g} s in {queue.name}"
    return f"{condition} in {queue.name}"


def _apply_rule(item: WorkItem, rule: model.ClassRule) -> dict[str, Any]:
    """R2 outputs: set attributes and priority, add skills and profiles, replace units."""
    out: dict[str, Any] = {}
    for key, value in rule.set.items():
        if key == "priority":
            item.priority = int(value)  # type: ignore[arg-type]  # validated 0..100000 (R41)
        else:
            item.attributes[key] = value
    if rule.set:
        out["set"] = dict(rule.set)
    if rule.skills:
        item.skills = (*item.skills, *rule.skills)
        item.group = None
        out["skills"] = [s.name for s in rule.skills]
    if rule.profiles:
        item.profiles = tuple(dict.fromkeys([*item.profiles, *rule.profiles]))
        item.group = None
        out["profiles"] = list(rule.profiles)
    if rule.units is not None:
        item.units = rule.units
        item.group = None
        out["units"] = rule.units
    return out


def queues_named(ws: model.Workstream) -> set[str]:
    names = {ws.fallback_queue}
    for route in ws.route_to_queue:
        if route.queue:
            names.add(route.queue)
        names.update(route.split or {})
    return names
