"""Queueing, offers, assignment, capacity and presence (R6–R9, R16–R40).

Every move here keeps two promises: indexes are updated as the change happens (never rebuilt by a scan),
and at the end of a command no waiting item has an eligible agent with room (see :mod:`dispatch`).
This module is over 400 lines because its moves call each other in both directions (an offer's
expiry frees capacity which wakes the agent which makes an offer); splitting it would only hide that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from unirouter import expressions
from unirouter.config import model
from unirouter.engine import base, matching, plans
from unirouter.engine.clock import Clock
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import (
    AgentState,
    CloseReason,
    ItemState,
    Offer,
    OfferStatus,
    WorkItem,
    move,
)
from unirouter.engine.timers import TimerKind

__all__ = ["Work"]

P = model.BasePresence
OFFLINE = P.OFFLINE
QUEUED = ItemState.QUEUED


class Work(base.Base):
    """What happens to an item once it has a queue, and to the agents who take it."""

    def __init__(
        self, *, clock: Clock, epoch: datetime, trace: bool, retain_closed: int | None
    ) -> None:
        super().__init__(clock=clock, epoch=epoch, trace=trace, retain_closed=retain_closed)

    def _start_routing(self, item: WorkItem) -> None:
        raise NotImplementedError

    def _post_queue(self, item: WorkItem, index: int) -> None:
        raise NotImplementedError

    def _move_to_queue(self, item: WorkItem, source: str | None, queue: QueueRuntime) -> None:
        raise NotImplementedError

    # -- queueing (R6–R9, R13, R20, R39) -----------------------------------------------------------

    def _enqueue(self, item: WorkItem, queue: QueueRuntime, *, announce: bool = True) -> None:
        """Enter ``queue`` as waiting; set its deadlines; try to assign it (R21)."""
        ttl_at = self._ttl_at(item)
        if ttl_at is not None and ttl_at <= self._now:
            self._close(item, CloseReason.EXPIRED)
            return
        move(item, ItemState.QUEUED)
        item.queue = queue.name
        item.queued_at = self._now
        item.queue_epoch += 1
        if item.first_queued_at is None:
            item.first_queued_at = self._now
        queue.waiting += 1
        self._admit(queue, item)
        self._index(item, queue)
        if announce:
            self._emit(ET.ITEM_QUEUED, item=item.id, queue=queue.name)
        if self._tracing:
            self._trace(item, "queued", queue=queue.name)
            if self._priority_plans.get(queue.name):
                self._trace(item, "prioritisation", queue=queue.name, bucket=item.order_key[0])
        self._arm_waiting_timers(item, queue, ttl_at)
        self._try_assign(item)

    def _ttl_at(self, item: WorkItem) -> float | None:
        """R39: time to live counts from entering routing (or returning from parked) until the
        item is first answered; answered work never expires."""
        if item.ttl_s is None or item.answered_at is not None or item.entered_routing_at is None:
            return None
        return item.entered_routing_at + item.ttl_s

    def _admit(self, queue: QueueRuntime, item: WorkItem) -> None:
        """Widen the queue's pool admission so it covers what this item accepts (R16, R31).

        Pools hold only members that the items usually seen in the queue could take: an allowed
        presence, room for the smallest such item, room in the profiles they all carry (so a decision
        never skips over agents that fit nothing). An item that accepts more (fewer units, another
        workstream's presences, fewer profiles: a transfer from elsewhere) widens that once and the
        members are re-indexed.
        """
        allowed = self._workstreams[item.workstream].allowed
        profiles = tuple(p for p in queue.profiles if p in item.profiles) if queue.profiles else ()
        if (
            item.units >= queue.min_units
            and allowed <= queue.allowed
            and profiles == queue.profiles
        ):
            return
        queue.min_units = min(queue.min_units, item.units)
        queue.profiles = profiles
        if not allowed <= queue.allowed:
            queue.allowed = queue.allowed | allowed
            queue.present = sum(
                self._agents[a].presence in queue.allowed
                for a in queue.members
                if a in self._agents
            )
        for agent_id in queue.members:
            agent = self._agents.get(agent_id)
            if agent is not None:
                self._refresh(agent)

    def _arm_waiting_timers(
        self, item: WorkItem, queue: QueueRuntime, ttl_at: float | None
    ) -> None:
        if ttl_at is not None:
            self._set_item_timer(item, "ttl", ttl_at)
        for index, seconds in queue.post_rules:
            self._set_item_timer(item, f"overflow:{index}", self._now + seconds, index)
        aging = queue.cfg.aging
        if aging is not None:
            self._set_item_timer(item, "aging", self._now + aging.every_s)
        self._arm_relax(item)

    def _arm_relax(self, item: WorkItem) -> None:
        """R20: the next relaxation step of the item's route rule, timed from its first queueing."""
        steps = self._route_steps(item)
        nxt = item.relax_step + 1
        if nxt < len(steps):
            start = self._now if item.first_queued_at is None else item.first_queued_at
            due = start + steps[nxt].after_s
            self._set_item_timer(item, "relax", max(due, self._now), nxt)

    def _route_steps(self, item: WorkItem) -> tuple[model.RelaxStep, ...]:
        """The relaxation steps of the rule that routed the item, kept on the item (R20, R42)."""
        return item.steps

    def _index(self, item: WorkItem, queue: QueueRuntime, *, keep_key: bool = False) -> None:
        """Put the item in its requirement group, ordered by the queue order (R6–R9); ``keep_key``
        returns it to its old place (R25)."""
        req = item.group
        if not isinstance(req, matching.Requirement):
            req = item.group = matching.Requirement.of(item.skills, item.units, item.profiles)
        if not keep_key or not item.order_key:
            item.order_key = self._order_key(item, queue)
            self._arm_retime(item, queue)
        item.version += 1
        group = queue.group((item.workstream, req))
        group.live += 1
        item.slot = group
        group.push(item.order_key, item.version, item.id)
        group.compact(self._dispatch.item_entry_valid)

    def _unindex(self, item: WorkItem) -> None:
        """Leave the requirement group (lazily: the entry goes stale)."""
        if item.slot is not None:
            item.slot.live -= 1
            item.slot = None
        item.version += 1

    def _rekey(self, item: WorkItem) -> None:
        """Recompute the queue place after a change (R7 immediacy, R8 aging, R20 relaxation)."""
        queue = self._queues[item.queue or ""]
        self._unindex(item)
        self._index(item, queue)

    def _order_key(self, item: WorkItem, queue: QueueRuntime) -> tuple[Any, ...]:
        """R6 priority, routing time, id; R7 buckets before that; R9 affinity returns first."""
        tail = (-item.effective_priority, item.waiting_since, item.id)
        if item.affinity_agent is not None:
            return (-1, *tail)
        rules = self._priority_plans.get(queue.name)
        if not rules:
            return (0, *tail)
        scope = self._scope
        scope.item, scope.agent, scope.queue, scope.now = item, None, queue.name, self._now
        for bucket, rule in enumerate(rules):
            if rule.when(scope):
                keys = tuple(plans.order_value(expr(scope), desc) for expr, desc in rule.keys)
                return (bucket, *keys, *tail)
        return (len(rules), *tail)

    def _arm_retime(self, item: WorkItem, queue: QueueRuntime) -> None:
        """R7, R8: prioritisation conditions (and comparisons in the keys of the bucket the item is
        in) that read the time are evaluated again at the next moment one of them could flip, on
        the item's own timer, so a bucket of ``minutes_waited(item) > 5`` fills on time."""
        rules = self._priority_plans.get(queue.name)
        if not rules or not any(r.timed for r in rules):
            return
        bucket = item.order_key[0] if item.order_key else len(rules)
        scope = self._scope
        scope.item, scope.agent, scope.queue, scope.now = item, None, queue.name, self._now
        due: float | None = None
        for index, rule in enumerate(rules[: max(bucket + 1, 0)]):
            keys = [expr for expr, _ in rule.keys] if index == bucket else []
            for expr in (rule.when, *keys):
                at = expressions.next_change(expr, scope)
                due = at if due is None or (at is not None and at < due) else due
        if due is None:
            self._cancel_item_timers(item, ["retime"])
        else:
            self._set_item_timer(item, "retime", due)

    def _retime(self, item: WorkItem) -> None:
        """The retime timer fired (R7): the item's place is computed again."""
        queue = self._queues[item.queue or ""]
        if item.state is ItemState.QUEUED:
            self._rekey(item)
            self._try_assign(item)
        else:  # offered: the place it returns to (R25)
            item.order_key = self._order_key(item, queue)
            self._arm_retime(item, queue)

    def _try_assign(self, item: WorkItem) -> None:
        """R21: an item became assignable; push mode offers it to the best eligible agent now."""
        if item.state is not ItemState.QUEUED or item.auto_blocked:
            return
        ws = self._workstreams[item.workstream]
        if ws.cfg.mode is model.Mode.PICK:
            return
        queue = self._queues[item.queue or ""]
        decision = self._dispatch.find_agent(item, queue)
        if self._tracing and (decision.winner is not None or decision.excluded):
            self._trace(item, "assign", trigger="item", queue=queue.name, **decision.as_trace())
        if decision.winner is not None:
            self._offer_or_assign(item, self._agents[decision.winner])
        elif decision.recheck_at is not None:  # R19, R21: a time condition's own moment
            self._set_item_timer(item, "recheck", decision.recheck_at)

    # -- offers (R22–R27) ------------------------------------------------------------------------------

    def _offer_or_assign(self, item: WorkItem, agent: AgentState) -> None:
        ws = self._workstreams[item.workstream].cfg
        if ws.offer.auto_accept:
            self._assign(item, agent, reserved=False, forced=False)
        else:
            self._make_offer(item, agent, ws.offer.timeout_s)

    def _make_offer(self, item: WorkItem, agent: AgentState, timeout_s: float) -> None:
        """R22, R23: capacity is reserved when the offer is made."""
        queue = self._queues[item.queue or ""]
        self._offer_counter += 1
        offer = Offer(
            id=f"o{self._offer_counter:09d}", item=item.id, agent=agent.id, made_at=self._now,
            expires_at=self._now + timeout_s,
        )  # fmt: skip
        self._offers[offer.id] = offer
        if item.state is ItemState.QUEUED:
            self._unindex(item)
            queue.offered += 1
        move(item, ItemState.OFFERED)
        item.offer = offer.id
        agent.offers.add(offer.id)
        agent.passed = None
        agent.last_assigned[queue.name] = self._now  # a push assignment is its offer (R17, R23)
        self._hold(item, agent)
        offer.timer = self._timers.set(offer.expires_at, TimerKind.OFFER_EXPIRY, offer.id)
        self._emit(ET.OFFER_MADE, item=item.id, agent=agent.id, queue=queue.name, offer=offer.id,
            expires_at=offer.expires_at,
        )  # fmt: skip
        self._changed(agent)

    def _end_offer(self, offer: Offer, status: OfferStatus) -> None:
        """Every offer ends exactly once."""
        offer.status = status
        if self._retain_closed is not None:
            self._ended_offers.append(offer.id)
        self._timers.cancel(offer.timer)
        item = self._items[offer.item]
        item.offer = None
        agent = self._agents.get(offer.agent) or self._retired[offer.agent]
        agent.offers.discard(offer.id)
        queue = self._queues.get(item.queue or "")
        if queue is not None:
            queue.offered -= 1

    def _offer_refused(
        self, item: WorkItem, agent: AgentState, penalty: model.BasePresence | None
    ) -> None:
        """R25, R26: back to the old place; the agent is passed over; an optional presence penalty."""
        self._release(item, agent, record=False)
        item.declines[agent.id] = item.declines.get(agent.id, 0) + 1
        item.declines_total += 1
        item.last_decliner = agent.id
        agent.passed = item.id
        if item.affinity_agent == agent.id:  # R29: the last agent turned it down; route normally
            item.affinity_agent = None
            item.order_key = ()
            self._trace(item, "affinity", note="last agent declined; routed normally")
        ws = self._workstreams[item.workstream].cfg
        if item.declines_total >= ws.offer.max_declines_total and not item.auto_blocked:
            item.auto_blocked = True
            self._trace(
                item, "offer", note="max_declines_total reached: no more automatic offers (R25)"
            )
        self._requeue(item)
        if penalty is not None and agent.connected:
            self._apply_presence(agent, penalty, label=None, manual=False, force=True)
            agent.held = True
        self._changed(agent)
        self._try_assign(item)

    def _requeue(self, item: WorkItem) -> None:
        """Back into the queue at the old position (same order key, R25)."""
        queue = self._queues[item.queue or ""]
        move(item, ItemState.QUEUED)
        self._index(item, queue, keep_key=True)

    def _expire(self, offer: Offer) -> None:
        """R25, R26: an offer not answered by ``expires_at`` ends; the item returns to its place."""
        if offer.status is not OfferStatus.OPEN:
            return
        item = self._items[offer.item]
        self._end_offer(offer, OfferStatus.EXPIRED)
        self._emit(
            ET.OFFER_EXPIRED, item=item.id, agent=offer.agent, queue=item.queue, offer=offer.id
        )
        agent = self._agents.get(offer.agent) or self._retired[offer.agent]
        ws = self._workstreams[item.workstream].cfg
        if not ws.offer.rejectable:
            self._assign(item, agent, reserved=True, forced=False)  # R27: expires into assignment
            return
        self._offer_refused(item, agent, ws.offer.on_expiry_presence)

    def _withdraw(self, offer: Offer, *, requeue: bool) -> None:
        """R40: an offer in flight is withdrawn and its capacity released."""
        item = self._items[offer.item]
        self._end_offer(offer, OfferStatus.WITHDRAWN)
        self._emit(
            ET.OFFER_WITHDRAWN, item=item.id, agent=offer.agent, queue=item.queue, offer=offer.id
        )
        agent = self._agents.get(offer.agent) or self._retired[offer.agent]
        self._release(item, agent, record=False)
        self._changed(agent)
        if requeue:
            self._requeue(item)
            self._try_assign(item)
        else:
            move(item, ItemState.QUEUED)
            item.version += 1

    # -- assignment ---------------------------------------------------------------------------------------

    def _assign(self, item: WorkItem, agent: AgentState, *, reserved: bool, forced: bool) -> None:
        """Item → assigned. A manual available/busy ends with the accept (R32)."""
        queue = self._queues.get(item.queue or "")
        if item.state is ItemState.QUEUED:
            self._unindex(item)
        if item.state in (ItemState.QUEUED, ItemState.OFFERED) and queue is not None:
            queue.waiting -= 1
        if item.timers:
            self._cancel_item_timers(item, _waiting_timers(item))
        if not reserved:
            self._hold(item, agent)
        move(item, ItemState.ASSIGNED)
        item.agent, item.forced = agent.id, forced
        item.affinity_agent = None
        agent.passed = None
        if item.answered_at is None:
            item.answered_at = self._now
        agent.active.add(item.id)
        if queue is not None:
            agent.last_assigned[queue.name] = self._now
        if agent.manual and agent.presence in (P.AVAILABLE, P.BUSY):
            agent.manual = False
        self._emit(ET.ITEM_ASSIGNED, item=item.id, agent=agent.id, queue=item.queue, forced=forced,
            units=item.units,
        )  # fmt: skip
        if self._tracing:
            self._trace(item, "assigned", agent=agent.id, forced=forced)
        self._changed(agent)

    def _detach(self, item: WorkItem, *, keep_timers: bool = False) -> None:
        """Take the item off whatever holds it now (its queue place, its offer, or its agent) and
        leave it in ``routing``, held by nothing and counted nowhere; the caller decides what next.
        ``keep_timers`` keeps a waiting item's deadlines (it is still waiting, for one agent)."""
        if item.state is ItemState.OFFERED:
            self._withdraw(self._offers[item.offer or ""], requeue=False)
        if item.state is ItemState.QUEUED:
            self._unindex(item)
            queue = self._queues.get(item.queue or "")
            if queue is not None:
                queue.waiting -= 1
            if not keep_timers and item.timers:
                self._cancel_item_timers(item, _waiting_timers(item))
        elif item.state is ItemState.ASSIGNED:
            agent = self._agents.get(item.agent or "") or self._retired[item.agent or ""]
            agent.active.discard(item.id)
            self._release(item, agent, record=True)
            item.agent = None
            self._changed(agent)
        if item.state in (ItemState.QUEUED, ItemState.ASSIGNED):
            move(item, ItemState.ROUTING)

    def _transfer_to_queue(self, item: WorkItem, queue: QueueRuntime) -> None:
        """R31: re-queue in a queue of the same kind; the first agent's capacity is released at once."""
        self._move_to_queue(item, item.queue, queue)

    def _transfer_to_agent(self, item: WorkItem, agent: AgentState) -> None:
        """R31: a direct offer (or assignment with auto-accept) to one agent."""
        from unirouter import errors

        reason = self._dispatch.room_for(agent, item.units, item.profiles)
        if agent.presence is P.OFFLINE or reason is not None:
            raise errors.NotEligible(
                f"agent {agent.id} cannot take item {item.id} now ({reason or 'offline'})",
                agent=agent.id,
                item=item.id,
            )
        source = item.agent
        waiting = item.state in (ItemState.QUEUED, ItemState.OFFERED)
        self._detach(item, keep_timers=True)
        self._emit(
            ET.ITEM_TRANSFERRED,
            item=item.id,
            agent=agent.id,
            queue=item.queue,
            **{"from": source, "to": agent.id},
        )
        # Waiting again (counted in its queue) but not indexed: only this agent is offered it.
        move(item, ItemState.QUEUED)
        queue = self._queues[item.queue or ""]
        queue.waiting += 1
        if not waiting:  # an answered item has no waiting deadlines left to keep
            ttl_at = self._ttl_at(item)
            if ttl_at is not None:
                self._set_item_timer(item, "ttl", max(ttl_at, self._now))
        self._offer_or_assign(item, agent)

    # -- ending ----------------------------------------------------------------------------------------------

    def _close(self, item: WorkItem, reason: CloseReason) -> None:
        """Any open state → closed; whatever the item holds is released. A manual available/busy
        ends with a close (R32)."""
        agent_id = item.agent
        self._detach(item)
        if item.state is ItemState.WRAP_UP or item.state is ItemState.PARKED:
            holder = self._agents.get(item.holder or "")
            if holder is not None:
                self._release(item, holder, record=True)
                self._changed(holder)
        agent = self._agents.get(agent_id or "")
        if agent is not None:
            agent.active.discard(item.id)
            if agent.manual and agent.presence in (P.AVAILABLE, P.BUSY):
                agent.manual = False
                self._changed(agent)
        self._record_handle_time(item)
        if item.timers:
            self._cancel_item_timers(item, item.timers)
        move(item, ItemState.CLOSED)
        item.close_reason = reason
        item.agent = agent_id
        self._emit(ET.ITEM_CLOSED, item=item.id, agent=agent_id, queue=item.queue, reason=reason)
        if self._tracing:
            self._trace(item, "closed", reason=reason)
        self._forget_closed(item)

    def _record_handle_time(self, item: WorkItem) -> None:
        queue = self._queues.get(item.queue or "")
        if queue is not None and item.answered_at is not None:
            queue.record_handle_time(self._now - item.answered_at)

    def _enter_wrap_up(self, item: WorkItem) -> None:
        """R33: ``always`` keeps capacity until close, ``none`` releases now, N releases after N s."""
        agent = self._agents.get(item.agent or "") or self._retired[item.agent or ""]
        agent.active.discard(item.id)
        move(item, ItemState.WRAP_UP)
        self._emit(ET.ITEM_WRAP_UP, item=item.id, agent=agent.id, queue=item.queue)
        block = self._workstreams[item.workstream].cfg.wrap_up.block
        if block == "none" or block == 0:
            self._release(item, agent, record=True)
            self._changed(agent)
        elif block != "always":
            self._set_item_timer(item, "wrap_up", self._now + float(block))

    def _park(self, item: WorkItem) -> None:
        """R34: capacity released and recorded; the agent is kept for affinity (R29)."""
        agent = self._agents.get(item.agent or "") or self._retired[item.agent or ""]
        agent.active.discard(item.id)
        self._release(item, agent, record=True)
        move(item, ItemState.PARKED)
        item.affinity_agent = agent.id
        self._trace(item, "parked", agent=agent.id)
        self._emit(ET.ITEM_PARKED, item=item.id, agent=agent.id, queue=item.queue)
        idle = self._workstreams[item.workstream].cfg.auto_close_idle_s
        if idle is not None:
            self._set_item_timer(item, "auto_close", self._now + idle)
        self._changed(agent)

    def _resume(self, item: WorkItem) -> None:
        """R29: back to the last agent ahead of others, unless offline past the grace period.
        R6: a returning conversation counts from this last customer message."""
        self._cancel_item_timers(item, ["auto_close"])
        last = item.affinity_agent
        item.agent = None
        item.waiting_since = item.entered_routing_at = self._now
        affinity = self._workstreams[item.workstream].cfg.affinity
        member = last is not None and last in self._queues[item.queue or ""].members
        keep = affinity.enabled and member and self._within_grace(last, affinity.grace_s)
        item.affinity_agent = last if keep else None
        if self._tracing:  # R43: whether it goes back to its last agent, and if not, why
            why = (
                {} if keep or last is None
                else {"reason": "affinity off"} if not affinity.enabled
                else {"reason": f"not a member of {item.queue}"} if not member
                else {"reason": "offline past grace"}
            )  # fmt: skip
            self._trace(item, "resumed", last_agent=last, affinity=item.affinity_agent, **why)
        self._emit(ET.ITEM_RESUMED, item=item.id, queue=item.queue, affinity=item.affinity_agent)
        move(item, ItemState.ROUTING)
        self._enqueue(item, self._queues[item.queue or ""])
        if item.affinity_agent is not None and item.state is ItemState.QUEUED:
            self._arm_affinity(item)

    def _within_grace(self, agent_id: str | None, grace_s: float) -> bool:
        agent = self._agents.get(agent_id or "")
        if agent is None:
            return False
        if agent.presence is not P.OFFLINE or agent.offline_since is None:
            return True
        return self._now - agent.offline_since < grace_s

    def _arm_affinity(self, item: WorkItem) -> None:
        agent = self._agents[item.affinity_agent or ""]
        if agent.presence is P.OFFLINE and agent.offline_since is not None:
            grace = self._workstreams[item.workstream].cfg.affinity.grace_s
            self._set_item_timer(item, "affinity", agent.offline_since + grace)

    def _drop_affinity(self, item: WorkItem) -> None:
        """R29: the last agent stayed offline past the grace period: route normally."""
        if item.state is not ItemState.QUEUED or item.affinity_agent is None:
            return
        agent = self._agents.get(item.affinity_agent)
        grace = self._workstreams[item.workstream].cfg.affinity.grace_s
        if agent is not None and self._within_grace(agent.id, grace):
            self._arm_affinity(item)
            return
        item.affinity_agent = None
        self._trace(item, "affinity", note="last agent offline past grace; routed normally")
        self._rekey(item)
        self._try_assign(item)

    # -- capacity (R22, R31, R33, R34, R36) -----------------------------------------------------------------

    def _hold(self, item: WorkItem, agent: AgentState) -> None:
        agent.used_units += item.units
        used = agent.profile_used
        for name in item.profiles:
            used[name] = used.get(name, 0) + 1
        item.holder = agent.id

    def _release(self, item: WorkItem, agent: AgentState, *, record: bool) -> None:
        """Give back what the item holds; ``record`` marks a capacity release (R17 least_active, R34)."""
        if item.holder != agent.id:
            return
        item.holder = None
        agent.used_units -= item.units
        resets = self._config.capacity_profiles
        for name in item.profiles:
            profile = resets.get(name)
            if profile is None or profile.reset is model.Reset.IMMEDIATE or not record:
                agent.profile_used[name] = agent.profile_used.get(name, 0) - 1
        if record:
            agent.last_release = self._now
            self._emit(ET.CAPACITY_RELEASED, item=item.id, agent=agent.id, units=item.units)

    # -- presence (R32, R35) ---------------------------------------------------------------------------------

    def _set_presence(
        self,
        agent: AgentState,
        presence: model.BasePresence,
        *,
        label: str | None,
        manual: bool,
        force: bool = False,
    ) -> None:
        """A presence set by hand or by a system rule (R26, R32, R35); then reindex the agent."""
        self._apply_presence(agent, presence, label=label, manual=manual, force=force)
        self._changed(agent)

    def _apply_presence(
        self,
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
                queue = self._queues[name]
                queue.present += (presence in queue.allowed) - (old in queue.allowed)
        agent.presence, agent.label = presence, label
        if presence is OFFLINE and old is not OFFLINE:
            agent.offline_since = self._now
        elif presence is not OFFLINE:
            agent.offline_since = None
        self._emit(
            ET.PRESENCE_CHANGED, agent=agent.id, presence=presence, label=label, manual=manual
        )
        if presence is OFFLINE and old is not OFFLINE:
            self._arm_affinity_for(agent)

    def _arm_affinity_for(self, agent: AgentState) -> None:
        for item_id in list(self._affinity_waiting(agent)):
            self._arm_affinity(self._items[item_id])

    def _affinity_waiting(self, agent: AgentState) -> list[str]:
        """Items waiting for ``agent`` by affinity: found through the agent's queues' heads."""
        out = []
        for name in agent.queues:
            for item in self._waiting_in(self._queues[name]):
                if item.affinity_agent == agent.id:
                    out.append(item.id)
        return out

    def _auto_presence(self, agent: AgentState) -> None:
        """R32: nothing used → available; part → busy; all or more than all → busy_dnd. An agent
        offline for want of a connection (R35) stays offline; one present without a connection
        (it set a presence by API alone) follows its work like any other."""
        if agent.manual or agent.held or (not agent.connected and agent.presence is P.OFFLINE):
            return
        if agent.used_units == 0 and not agent.active and not agent.offers:
            new = P.AVAILABLE
        elif (
            agent.free_units <= 0 and (agent.capacity_units > 0 or agent.used_units > 0)
        ) or self._profiles_full(agent):
            new = P.BUSY_DND
        else:
            new = P.BUSY
        if new is not agent.presence:
            self._apply_presence(agent, new, label=None, manual=False)

    def _profiles_full(self, agent: AgentState) -> bool:
        if not agent.profile_limits:
            return False
        limits = [(n, lim) for n, lim in agent.profile_limits.items() if lim >= 0]
        return bool(limits) and all(agent.profile_used.get(n, 0) >= lim for n, lim in limits)

    def _changed(self, agent: AgentState) -> None:
        """The agent's room, presence or standing changed: reindex now, fill it when the command settles."""
        self._auto_presence(agent)
        self._refresh(agent)
        self._woken[agent.id] = None

    def _wake(self, agent: AgentState) -> None:
        self._woken[agent.id] = None

    def _refresh(self, agent: AgentState) -> None:
        """Re-push the agent into the pools of the queues where it is ready (lazy deletion)."""
        agent.version += 1
        dispatch = self._dispatch
        for name in agent.queues:
            queue = self._queues[name]
            reason = self._unready_reason(agent, queue)
            if agent.unready.get(name) != (None if reason == "presence" else reason):
                self._note_unready(agent, queue, reason)  # its no-change case, checked inline
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
            self._restaff(agent, queue)

    def _restaff(self, agent: AgentState, queue: QueueRuntime) -> None:
        """Keep the queue's staffing (R12 ``no_agents``, EWT) in step with the agent.

        A member staffs a queue while logged in with an allowed presence or with a presence the
        system set from its load (R32: busy, busy_dnd when full): full agents are staffing, not
        absent. Only a presence set by hand outside the allowed ones, offline, or a penalty
        (R26) takes a member out.
        """
        old = agent.staffed.get(queue.name)
        new = self._slots(agent, queue) if self._staffs(agent, queue) else None
        if old == new:
            return
        queue.staffed += (new is not None) - (old is not None)
        queue.slots += (new or 0) - (old or 0)
        if new is None:
            del agent.staffed[queue.name]
        else:
            agent.staffed[queue.name] = new

    def _staffs(self, agent: AgentState, queue: QueueRuntime) -> bool:
        if agent.presence in queue.allowed:
            return True
        automatic = agent.connected and not agent.manual and not agent.held
        return automatic and agent.presence in (P.BUSY, P.BUSY_DND)

    def _slots(self, agent: AgentState, queue: QueueRuntime) -> int:
        """How many of the queue's smallest items the agent can hold at once (EWT, SPEC §8)."""
        bounds = [] if queue.min_units <= 0 else [agent.capacity_units // queue.min_units]
        for name in queue.profiles:
            limit = agent.profile_limits.get(name)
            if limit is None:
                return 0
            if limit >= 0:
                bounds.append(limit)
        return max(0, min(bounds)) if bounds else 1

    def _unready_reason(self, agent: AgentState, queue: QueueRuntime) -> str | None:
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
        return self._dispatch.room_for(agent, 0, queue.profiles)

    def _note_unready(self, agent: AgentState, queue: QueueRuntime, reason: str | None) -> None:
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

    def _settle(self) -> None:
        """R21: agents that gained room take the best waiting items.

        One agent alone takes its best item directly. Several agents freed together (a timer instant,
        a configuration) let each waiting item they could take choose among all of them by its
        queue's method, in queue order, so none wins merely by being first in line (R17).
        """
        while self._woken:
            if len(self._woken) == 1:
                agent_id = next(iter(self._woken))
                del self._woken[agent_id]
                agent = self._agents.get(agent_id)
                if agent is not None:
                    self._fill(agent)
            elif not self._settle_together():
                return

    def _settle_together(self) -> bool:
        """Item-side decisions for the items the woken agents could take; False when none could."""
        agents = [a for a in map(self._agents.get, self._woken) if a is not None]
        self._woken.clear()
        wanted: dict[str, WorkItem] = {}
        for agent in agents:
            found = self._dispatch.find_item(agent, agent.levels) if agent.ready else None
            if found is not None:
                wanted[found[0].id] = found[0]
        if not wanted:
            return False
        for item in sorted(wanted.values(), key=lambda i: (i.order_key, i.id)):
            self._try_assign(item)
        if all(item.state is ItemState.QUEUED for item in wanted.values()):
            for agent in agents:  # the item side saw no taker: let each agent decide alone
                self._fill(agent)
            return False
        for agent in agents:
            if agent.ready:
                self._woken[agent.id] = None
        return True

    def _fill(self, agent: AgentState) -> None:
        while agent.ready:
            found = self._dispatch.find_item(agent, agent.levels)
            if found is None:
                return
            item, queue = found
            if self._tracing:
                self._trace_taken(item, agent, self._queues[queue])
            self._offer_or_assign(item, agent)
            self._woken.pop(agent.id, None)

    def _trace_taken(self, item: WorkItem, agent: AgentState, queue: QueueRuntime) -> None:
        """R43: an agent that gained room took this item (the agent side of a decision)."""
        key = self._dispatch.method_key(agent, queue)
        named = queue.method is not model.Method.CUSTOM
        score = matching.score_parts(key, queue.method, model.SkillMatch.NONE) if named else key
        self._trace(
            item, "assign", trigger="agent", queue=queue.name, winner=agent.id,
            method=queue.method.value, candidates=[{"agent": agent.id, "score": score}],
            excluded={},
        )  # fmt: skip

    # -- calendars and profile resets (R36) ------------------------------------------------------------------

    def _update_in_hours(self, agent: AgentState) -> None:
        calendar = self._calendars.get(agent.calendar or "")
        self._cancel_agent_timer(agent, "calendar")
        if calendar is None:
            agent.in_hours = True
            return
        wall = self._epoch + timedelta(seconds=self._now)
        agent.in_hours = calendar.is_open(wall)
        change = calendar.next_change(wall)
        if change is not None:
            self._set_agent_timer(agent, "calendar", self._now + (change - wall).total_seconds())

    def _schedule_profile_reset(self, agent: AgentState) -> None:
        """R36: end_of_day profiles reset at the end of the agent's day (UTC midnight without calendar)."""
        if not any(
            p.reset is model.Reset.END_OF_DAY for p in self._config.capacity_profiles.values()
        ):
            return
        wall = self._epoch + timedelta(seconds=self._now)
        calendar = self._calendars.get(agent.calendar or "")
        if calendar is not None:
            end = calendar.end_of_day(wall)
        else:
            end = (wall + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        self._set_agent_timer(
            agent, "profile_reset", self._now + max((end - wall).total_seconds(), 1.0)
        )

    def _reset_profiles(self, agent: AgentState) -> None:
        held: dict[str, int] = {}
        holding = [*agent.active, *(self._offers[o].item for o in agent.offers)]
        for item_id in holding:
            for name in self._items[item_id].profiles:
                held[name] = held.get(name, 0) + 1
        for name, profile in self._config.capacity_profiles.items():
            if profile.reset is model.Reset.END_OF_DAY:
                agent.profile_used[name] = held.get(name, 0)
        self._schedule_profile_reset(agent)
        self._changed(agent)

    # -- timers -------------------------------------------------------------------------------------------------

    def _fire(self, kind: TimerKind, key: str, arg: int) -> None:
        if kind is TimerKind.OFFER_EXPIRY:
            self._expire(self._offers[key])
            return
        if kind in _AGENT_TIMERS:
            agent = self._agents.get(key)
            if agent is not None:
                agent.timers.pop(_AGENT_TIMERS[kind], None)
                self._fire_agent(kind, agent)
            return
        item = self._items[key]
        self._fire_item(kind, item, arg)

    def _fire_agent(self, kind: TimerKind, agent: AgentState) -> None:
        if kind is TimerKind.RECONNECT_GRACE:
            agent.presence_before_disconnect = None
        elif kind is TimerKind.CALENDAR:
            self._update_in_hours(agent)
            self._changed(agent)
        elif kind is TimerKind.PROFILE_RESET:
            self._reset_profiles(agent)

    def _fire_item(self, kind: TimerKind, item: WorkItem, arg: int) -> None:
        name = _ITEM_TIMER_NAMES[kind]
        item.timers.pop(f"overflow:{arg}" if kind is TimerKind.OVERFLOW_WAIT else name, None)
        if kind is TimerKind.SCHEDULED_START and item.state is ItemState.SCHEDULED:
            self._start_routing(item)
        elif kind is TimerKind.TTL and self._is_waiting(item):
            self._close(item, CloseReason.EXPIRED)
        elif kind is TimerKind.OVERFLOW_WAIT and self._is_waiting(item):
            self._post_queue(item, arg)
        elif kind is TimerKind.AGING_STEP and self._is_waiting(item):
            self._age(item)
        elif kind is TimerKind.RELAX_STEP and self._is_waiting(item):
            self._relax(item, arg)
        elif kind is TimerKind.WRAP_UP_RELEASE and item.state is ItemState.WRAP_UP:
            holder = self._agents.get(item.holder or "")
            if holder is not None:
                self._release(item, holder, record=True)
                self._changed(holder)
        elif kind is TimerKind.AFFINITY_GRACE:
            self._drop_affinity(item)
        elif kind is TimerKind.RETIME and self._is_waiting(item):
            self._retime(item)
        elif kind is TimerKind.RECHECK and item.state is ItemState.QUEUED:
            self._try_assign(item)
        elif kind is TimerKind.AUTO_CLOSE and item.state is ItemState.PARKED:
            self._close(item, CloseReason.COMPLETED)

    def _age(self, item: WorkItem) -> None:
        """R8: every ``every_s`` waited adds ``add`` to the effective priority."""
        aging = self._queues[item.queue or ""].cfg.aging
        if aging is None:
            return
        item.aging_bonus += aging.add
        if item.state is ItemState.QUEUED:
            self._rekey(item)
        else:
            item.order_key = self._order_key(item, self._queues[item.queue or ""])
        self._set_item_timer(item, "aging", self._now + aging.every_s)

    def _relax(self, item: WorkItem, step: int) -> None:
        """R20: the item's skill requirements relax to the next step."""
        steps = self._route_steps(item)
        if step >= len(steps):
            return
        item.relax_step = step
        item.skills = plans.relaxed(item.base_skills, steps[step].skills)
        item.group = None
        self._trace(item, "relax", step=step, skills=[s.name for s in item.skills])
        if item.state is ItemState.QUEUED:
            self._rekey(item)
            self._try_assign(item)
        self._arm_relax(item)


def _waiting_timers(item: WorkItem) -> list[str]:
    """The timers that only matter while an item waits (R8, R13, R20, R29, R39)."""
    return [n for n in item.timers if n in _WAITING or n.startswith("overflow:")]


_WAITING = frozenset({"ttl", "aging", "relax", "affinity", "retime", "recheck"})


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
