"""The engine's state and the intake pipeline: classify, route, overflow, queue (R1–R15, R37–R39).

:class:`Intake` owns the records and indexes and the moves every command shares. The commands users call
live in :class:`unirouter.engine.engine.Engine`, which subclasses it; the item life after queueing
(offers, assignment, capacity and presence) lives in :mod:`unirouter.engine.work`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from unirouter import errors
from unirouter.config import model
from unirouter.engine import matching, plans, work
from unirouter.engine.clock import Clock
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, CloseReason, ItemState, WorkItem, move

__all__ = ["Intake"]

P = model.BasePresence
#: A default presence an agent would have chosen by hand, kept until it changes it (R32).
MANUAL_DEFAULTS = frozenset({P.AWAY, P.OFFLINE, P.BUSY_DND})


class Intake(work.Work):
    """State, configuration install, and the path of an item from intake into a queue."""

    def __init__(
        self, *, clock: Clock, epoch: datetime, trace: bool, retain_closed: int | None
    ) -> None:
        super().__init__(clock=clock, epoch=epoch, trace=trace, retain_closed=retain_closed)

    # -- configuration (R41, R42) -------------------------------------------------------------------

    def _install(self, config: model.Config) -> None:
        """Swap in a validated configuration: items keep their state, indexes are rebuilt (R42).

        Refused as a whole (``ConfigError``, nothing changed) when it drops a workstream that still
        has open items, since nothing could route them.
        """
        self._check_live_workstreams(config)
        for agent_id in [a for a in self._agents if a not in config.agents]:
            self._retire_agent(self._agents[agent_id])
        self._config = config
        self._version += 1
        compiled = plans.compile_config(config)
        plans.carry_splits(self._workstreams, compiled.workstreams)
        self._calendars, self._workstreams = compiled.calendars, compiled.workstreams
        self._queues = {n: self._build_queue(n, q) for n, q in config.queues.items()}
        self._priority_plans = compiled.priority
        self._derive_queue_needs()
        d = self._dispatch
        d.queues, d.workstreams = self._queues, self._workstreams
        d.custom = compiled.custom
        self._emit(ET.CONFIG_APPLIED, version=self._version)
        d.tracing = self._tracing
        self._install_agents(config)
        self._reindex_items()
        for agent in self._agents.values():
            self._wake(agent)

    def _build_queue(self, name: str, cfg: model.Queue) -> QueueRuntime:
        calendar = self._calendars.get(cfg.operating_hours) if cfg.operating_hours else None
        queue = QueueRuntime(name, cfg, calendar)
        old = getattr(self, "_queues", {}).get(name)
        if old is not None:
            queue.aht_ema = old.aht_ema
        return queue

    def _derive_queue_needs(self) -> None:
        """Per queue: which presences and how many units the workstreams feeding it need (R16)."""
        feeds: dict[str, list[plans.WorkstreamPlan]] = {name: [] for name in self._queues}
        for ws in self._workstreams.values():
            for name in _queues_named(ws.cfg):
                if name in feeds:
                    feeds[name].append(ws)
        for name, queue in self._queues.items():
            sources = feeds[name] or list(self._workstreams.values())
            kinds = [w for w in sources if w.cfg.kind is queue.cfg.kind] or sources
            if not kinds:
                continue
            queue.allowed = frozenset().union(*(w.allowed for w in kinds))
            queue.min_units = min(_smallest_units(w.cfg) for w in kinds)
            common = set.intersection(*(set(w.cfg.capacity.profiles) for w in kinds))
            queue.profiles = tuple(sorted(common))

    def _check_live_workstreams(self, config: model.Config) -> None:
        open_by_ws: dict[str, int] = {}
        for item in self._items.values():
            if item.state is not ItemState.CLOSED and item.workstream not in config.workstreams:
                open_by_ws[item.workstream] = open_by_ws.get(item.workstream, 0) + 1
        if open_by_ws:
            raise errors.ConfigError(
                [
                    errors.ConfigIssue(
                        path=f"workstreams.{name}",
                        message=f"{count} open item(s) still belong to this workstream; "
                        "keep it until they close",
                    )
                    for name, count in sorted(open_by_ws.items())
                ]
            )

    def _install_agents(self, config: model.Config) -> None:
        for agent_id, cfg in config.agents.items():
            self._configure_agent(agent_id, cfg)
        for name, queue in self._queues.items():
            for agent_id in queue.cfg.members:
                agent = self._agents[agent_id]
                joined = self._joined.setdefault((agent_id, name), self._now)
                agent.queues[name] = joined
                queue.members[agent_id] = joined
                queue.present += agent.presence in queue.allowed
        for agent in self._agents.values():
            agent.levels = _levels(agent, self._queues)
            self._refresh(agent)

    def _configure_agent(self, agent_id: str, cfg: model.AgentDef) -> None:
        agent = self._agents.get(agent_id) or self._retired.pop(agent_id, None)
        fresh = agent is None
        if agent is not None:
            self._agents[agent_id] = agent
        else:
            start = P.OFFLINE if self._await_connections else cfg.default_presence
            agent = self._agents[agent_id] = AgentState(id=agent_id, presence=start)
        agent.name, agent.attributes = cfg.name, dict(cfg.attributes)
        agent.skills = dict(cfg.skills)
        agent.capacity_units = cfg.capacity_units
        agent.default_presence = cfg.default_presence
        agent.profile_limits = self._profile_limits(cfg)
        agent.signature = self._sigs.intern(agent.skills, agent.profile_limits)
        agent.calendar = cfg.calendar
        agent.queues, agent.ready, agent.unready, agent.staffed = {}, set(), {}, {}
        self._update_in_hours(agent)
        self._schedule_profile_reset(agent)
        if fresh:
            agent.connected = not self._await_connections
            agent.manual = agent.connected and agent.presence in MANUAL_DEFAULTS
            agent.offline_since = self._now if agent.presence is P.OFFLINE else None
            self._emit(ET.PRESENCE_CHANGED, agent=agent_id, presence=agent.presence, label=None,
                manual=False,
            )  # fmt: skip

    def _profile_limits(self, cfg: model.AgentDef) -> dict[str, int]:
        """Limit per profile the agent holds; -1 marks a non-blocking profile (never refuses)."""
        wanted = cfg.profiles if isinstance(cfg.profiles, dict) else dict.fromkeys(cfg.profiles)
        limits: dict[str, int] = {}
        for name, override in wanted.items():
            profile = self._config.capacity_profiles[name]
            limits[name] = (
                (override if override is not None else profile.limit) if profile.blocking else -1
            )
        return limits

    def _retire_agent(self, agent: AgentState) -> None:
        """An agent removed from the configuration keeps its assigned work but joins no queue; its
        open offers are withdrawn and their items wait for the new indexes (R42)."""
        agent.queues, agent.ready, agent.unready, agent.levels = {}, set(), {}, []
        agent.staffed = {}
        agent.version += 1
        for offer_id in sorted(agent.offers):
            self._withdraw(self._offers[offer_id], requeue=False)
        del self._agents[agent.id]
        self._retired[agent.id] = agent

    def _reindex_items(self) -> None:
        """Put every waiting item into the new indexes; items of removed queues go to the fallback."""
        for item in self._items.values():
            if item.state not in (ItemState.QUEUED, ItemState.OFFERED):
                continue
            if item.queue not in self._queues:
                fallback = self._workstreams[item.workstream].cfg.fallback_queue
                self._trace(item, "config", moved_to=fallback, reason="queue removed")
                item.queue = fallback
            queue = self._queues[item.queue]
            if item.affinity_agent is not None and not self._affinity_holds(item, queue):
                self._cancel_item_timers(item, ["affinity"])
                item.affinity_agent = None
                self._trace(
                    item, "affinity", note="last agent cannot take it here; routed normally"
                )
            queue.waiting += 1
            self._admit(queue, item)
            if item.state is ItemState.OFFERED:
                queue.offered += 1
            else:
                item.slot = None
                self._index(item, queue)
            self._rearm_post_queue(item, queue)

    def _affinity_holds(self, item: WorkItem, queue: QueueRuntime) -> bool:
        """R29, R42: affinity holds to a configured member of the item's queue whose skills and
        profiles still qualify; otherwise the returning conversation would wait forever."""
        agent = self._agents.get(item.affinity_agent or "")
        if agent is None or queue.name not in agent.queues:
            return False
        req = matching.Requirement.of(item.skills, item.units, item.profiles)
        match = self._workstreams[item.workstream].cfg.skill_match
        return self._sigs.rank(req, agent.signature, match, queue.method) is not None

    def _rearm_post_queue(self, item: WorkItem, queue: QueueRuntime) -> None:
        """R13 under a new configuration: the queue's current ``waited_s`` rules, timed from entry."""
        self._cancel_item_timers(item, [n for n in item.timers if n.startswith("overflow:")])
        entered = self._now if item.queued_at is None else item.queued_at
        for index, seconds in queue.post_rules:
            due = max(entered + seconds, self._now)
            self._set_item_timer(item, f"overflow:{index}", due, index)

    # -- intake pipeline (R1–R5, R12, R37) -------------------------------------------------------------

    def _new_item(
        self, external_id: str, workstream: str, kind: model.Kind, item_id: str | None
    ) -> WorkItem:
        self._item_counter += 1
        ident = item_id or f"w{self._item_counter:09d}"
        item = WorkItem(id=ident, external_id=external_id, workstream=workstream, kind=kind)
        item.num = self._item_counter
        item.created_at = self._now
        item.config_version = self._version
        self._items[ident] = item
        self._by_external[(workstream, external_id)] = ident
        return item

    def _emit_created(self, item: WorkItem) -> None:
        self._emit(ET.ITEM_CREATED, item=item.id, external_id=item.external_id, workstream=item.workstream,
            channel=item.channel, kind=item.kind, priority=item.priority, units=item.units,
        )  # fmt: skip
        self._trace(item, "intake", workstream=item.workstream, external_id=item.external_id)

    def _schedule(self, item: WorkItem) -> None:
        """R37: a future ``available_at`` waits as scheduled and starts by the timer exactly."""
        move(item, ItemState.SCHEDULED)
        assert item.available_at is not None
        self._emit(ET.ITEM_SCHEDULED, item=item.id, available_at=item.available_at)
        self._set_item_timer(item, "scheduled", item.available_at)

    def _start_routing(self, item: WorkItem) -> None:
        """R1: classification → route-to-queue → pre-queue overflow → queued."""
        move(item, ItemState.ROUTING)
        item.entered_routing_at = item.waiting_since = self._now
        item.config_version = self._version
        ws = self._workstreams[item.workstream]
        try:
            self._classify(item, ws)
            queue, rule, why = self._route(item, ws)
        except Exception as exc:  # R5: any failure of a rule sends the item to the fallback queue
            queue, rule, why = ws.cfg.fallback_queue, None, f"rule error: {exc}"
        if rule is None:
            self._route_to(item, queue, rule=None, reason=why)
            self._trace(item, "overflow", queue=queue, checked=[], skipped="fallback queue (R5)")
            self._warn_if_memberless(item, self._queues[queue])
            self._enqueue(item, self._queues[queue])
            return
        self._route_to(item, queue, rule=rule, reason=why)
        self._pre_queue(item, self._queues[queue])

    def _classify(self, item: WorkItem, ws: plans.WorkstreamPlan) -> None:
        """R2: rulesets in order; in each, the first rule that holds applies its outputs."""
        scope = self._scope
        scope.item, scope.agent, scope.queue, scope.now = item, None, None, self._now
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
        self._emit(ET.ITEM_CLASSIFIED, item=item.id, applied=applied)
        if self._tracing:  # R43: rules by name (or place), with their condition
            self._trace(item, "classification", applied=named)

    def _route(self, item: WorkItem, ws: plans.WorkstreamPlan) -> tuple[str, int | None, str]:
        """R3–R5: the first matching rule whose queue is not overflowing, else the first match."""
        scope = self._scope
        scope.item, scope.agent, scope.queue, scope.now = item, None, None, self._now
        first: tuple[int, plans.RoutePlan] | None = None
        for index, route in enumerate(ws.routes):
            if not route.when(scope):
                continue
            first = first or (index, route)
            target = route.target()
            if target not in self._queues:
                raise KeyError(f"unknown queue {target}")
            if self._overflow_condition(self._queues[target], item) is None:
                return self._take_route(item, index, route), index, "matched"
        if first is None:
            return ws.cfg.fallback_queue, None, "no route rule matched"
        index, route = first
        return (
            self._take_route(item, index, route),
            index,
            "matched; every matching queue overflows",
        )

    def _take_route(self, item: WorkItem, index: int, route: plans.RoutePlan) -> str:
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

    def _route_to(self, item: WorkItem, queue: str, *, rule: int | None, reason: str) -> None:
        item.queue = queue
        self._emit(ET.ITEM_ROUTED, item=item.id, queue=queue, rule=rule, reason=reason)
        if self._tracing:  # R43: the rule by name (or place), with its condition
            cfg = self._workstreams[item.workstream].cfg.route_to_queue
            named = None if rule is None else (cfg[rule].name or f"route_to_queue[{rule}]")
            when = None if rule is None else cfg[rule].when
            self._trace(item, "route", queue=queue, rule=named, when=when, reason=reason)

    # -- overflow (R12, R13, R15) -----------------------------------------------------------------------

    def _overflow_condition(
        self, queue: QueueRuntime, item: WorkItem
    ) -> tuple[str, model.OverflowRule] | None:
        """R12: the first pre-queue condition that holds; out-of-hours first, then listed order."""
        rules = queue.cfg.overflow
        if not rules:
            return None
        for rule in rules:
            kind, _ = rule.condition
            if kind == "out_of_hours" and self._closed(queue):
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

    def _closed(self, queue: QueueRuntime) -> bool:
        """R14: a queue without operating hours is always open."""
        return not self._open_at(queue, self._now)

    def _pre_queue(self, item: WorkItem, queue: QueueRuntime) -> None:
        """R12, R15: checked once per item, after route-to-queue."""
        hit = self._overflow_condition(queue, item)
        checked = [r.condition[0] for r in queue.cfg.overflow if not r.post_queue]
        if hit is None:
            if self._tracing:
                self._trace(item, "overflow", queue=queue.name, checked=checked, condition=None)
            self._warn_if_memberless(item, queue)
            self._enqueue(item, queue)
            return
        condition, rule = hit
        self._overflow(item, queue, condition, rule, checked=checked)

    def _warn_if_memberless(self, item: WorkItem, queue: QueueRuntime) -> None:
        """R15: a conversation in a queue without members waits, and the trace warns."""
        if not queue.members and item.kind is not model.Kind.RECORD:
            self._trace(item, "warning", warning=f"queue {queue.name} has no members (R15)")

    def _overflow(
        self,
        item: WorkItem,
        queue: QueueRuntime,
        condition: str,
        rule: model.OverflowRule,
        *,
        checked: list[model.ConditionKind] | None = None,
    ) -> None:
        action, target = rule.action_kind
        self._emit(ET.ITEM_OVERFLOWED, item=item.id, queue=queue.name, condition=condition, action=action,
            target=target,
        )  # fmt: skip
        if self._tracing:
            self._trace(
                item, "overflow", queue=queue.name, checked=checked, condition=condition,
                action=action, target=target, reason=_overflow_reason(queue, condition, rule),
            )  # fmt: skip
        if action == "transfer":
            assert target is not None
            self._move_to_queue(item, queue.name, self._queues[target])
        elif action == "end":
            self._close(item, CloseReason.OVERFLOW_ENDED)
        elif action == "callback":
            assert target is not None
            self._create_callback(item, self._queues[target])
            self._close(item, CloseReason.OVERFLOW_ENDED)
        elif item.state is ItemState.ROUTING:
            self._enqueue(item, queue)

    def _move_to_queue(self, item: WorkItem, source: str | None, queue: QueueRuntime) -> None:
        """Leave the current queue (if any) and enter ``queue``, keeping the routing time (R6).

        R29: affinity holds only to a member of the item's queue; moved where its last agent is
        not a member, the item routes normally there rather than waiting for someone who cannot
        take it."""
        self._detach(item)
        if item.affinity_agent is not None and item.affinity_agent not in queue.members:
            self._cancel_item_timers(item, ["affinity"])
            item.affinity_agent = None
            self._trace(item, "affinity", note=f"last agent not a member of {queue.name}")
        self._emit(
            ET.ITEM_TRANSFERRED,
            item=item.id,
            queue=queue.name,
            **{"from": source, "to": queue.name},
        )
        move(item, ItemState.ROUTING)
        self._enqueue(item, queue)

    def _create_callback(self, item: WorkItem, queue: QueueRuntime) -> None:
        """R12 callback action: a record item in the named queue, carrying the customer."""
        ws_name = self._record_workstream_for(queue.name, item.workstream)
        callback = self._new_item(f"{item.external_id}:callback", ws_name, model.Kind.RECORD, None)
        callback.customer, callback.attributes = dict(item.customer), dict(item.attributes)
        callback.priority = item.priority
        callback.units = self._workstreams[ws_name].cfg.capacity.units
        callback.profiles = tuple(self._workstreams[ws_name].cfg.capacity.profiles)
        callback.phone = item.phone or item.customer.get("phone")
        self._emit_created(callback)
        self._trace(callback, "callback", origin=item.id)
        move(callback, ItemState.ROUTING)
        callback.entered_routing_at = self._now
        callback.waiting_since = item.waiting_since  # the caller keeps their place (R6, R12)
        self._route_to(callback, queue.name, rule=None, reason=f"callback for {item.id}")
        self._enqueue(callback, queue)

    def _record_workstream_for(self, queue: str, default: str) -> str:
        for name, ws in self._workstreams.items():
            if ws.cfg.kind is model.Kind.RECORD and queue in _queues_named(ws.cfg):
                return name
        for name, ws in self._workstreams.items():
            if ws.cfg.kind is model.Kind.RECORD:
                return name
        return default

    def _post_queue(self, item: WorkItem, index: int) -> None:
        """R13: the ``waited_s`` rule ``index`` of the item's queue fired while it still waits."""
        queue = self._queues[item.queue or ""]
        if index >= len(queue.cfg.overflow) or not queue.cfg.overflow[index].post_queue:
            return  # the rule went away with a configuration change (R42)
        rule = queue.cfg.overflow[index]
        action, _target = rule.action_kind
        if action == "assign_anyway":
            return
        if item.state is ItemState.OFFERED:
            self._withdraw(self._offers[item.offer or ""], requeue=False)
        self._overflow(item, queue, "waited_s", rule)


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


def _smallest_units(ws: model.Workstream) -> int:
    """The fewest units an item of the workstream can carry, classification included (R16)."""
    units = [r.units for rs in ws.classification for r in rs.rules if r.units is not None]
    return min([ws.capacity.units, *units])


def _queues_named(ws: model.Workstream) -> set[str]:
    names = {ws.fallback_queue}
    for route in ws.route_to_queue:
        if route.queue:
            names.add(route.queue)
        names.update(route.split or {})
    return names


def _levels(agent: AgentState, queues: dict[str, QueueRuntime]) -> list[list[str]]:
    """The agent's queues grouped by queue priority, smallest number first (R10)."""
    by_priority: dict[int, list[str]] = {}
    for name in sorted(agent.queues):
        by_priority.setdefault(queues[name].priority, []).append(name)
    return [by_priority[p] for p in sorted(by_priority)]
