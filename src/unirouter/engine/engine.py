"""The routing engine: commands in, events out (SPEC §3, §6.1).

Synchronous and pure: time comes from the injected clock, every deadline lives in one timer heap, and
every state change appends one :class:`~unirouter.engine.events.Event`. A command that breaks a rule
raises a :class:`~unirouter.errors.CommandError` before it changes anything.

This module holds the public commands; intake (classification, routing, overflow) lives in
:mod:`unirouter.engine.intake` and assignment decisions in :mod:`unirouter.engine.dispatch`. It is
longer than 400 lines because the commands share one state machine and splitting them further would
spread each transition over several files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from unirouter import errors
from unirouter.config import model
from unirouter.engine import intake, matching
from unirouter.engine import snapshot as snapshots
from unirouter.engine.clock import UNIX_EPOCH, Clock
from unirouter.engine.events import EventType as ET
from unirouter.engine.state import (
    WAITING_STATES,
    AgentState,
    CloseReason,
    ItemState,
    OfferStatus,
    WorkItem,
)

__all__ = ["Engine"]

P = model.BasePresence
MANUAL_STICKY = frozenset({P.AWAY, P.OFFLINE, P.BUSY_DND})
RECONNECT_GRACE_S = 150.0
#: States an item can be abandoned from: not yet answered (R40). A constant rather than a starred
#: tuple at the call site, which mypyc (``make fast``) cannot compile.
ABANDONABLE_STATES = frozenset({*WAITING_STATES, ItemState.SCHEDULED, ItemState.ROUTING})


class Engine(intake.Intake):
    """The unirouter routing engine, in-process (SPEC §6.1).

    >>> engine = Engine(config, clock=ManualClock(0.0))      # doctest: +SKIP
    >>> item = engine.submit(external_id="c-1", workstream="web_chat")  # doctest: +SKIP
    """

    def __init__(
        self,
        config: model.Config,
        *,
        clock: Clock,
        epoch: datetime = UNIX_EPOCH,
        trace: bool = True,
        retain_closed: int | None = None,
        await_connections: bool = False,
    ) -> None:
        """``trace`` keeps per-item traces (R43); ``retain_closed`` bounds how many closed items stay
        readable in memory (None keeps all; a server or a long simulation sets a bound).
        ``await_connections``: every agent starts ``offline`` and disconnected until its own
        connection (:meth:`reconnect`) or presence call (:meth:`set_presence`, which sets the
        presence without connecting), as a server's agents do; without it agents start connected
        in their ``default_presence``."""
        super().__init__(clock=clock, epoch=epoch, trace=trace, retain_closed=retain_closed)
        self._await_connections = await_connections
        self._install(config)

    # -- intake commands -----------------------------------------------------------------------------

    def submit(
        self,
        *,
        external_id: str,
        workstream: str,
        channel: str | None = None,
        attributes: dict[str, Any] | None = None,
        customer: dict[str, Any] | None = None,
        priority: int | None = None,
        skills: list[model.SkillReq] | None = None,
        units: int | None = None,
        profiles: list[str] | None = None,
        available_at: float | None = None,
        callback_at: float | None = None,
        phone: str | None = None,
        due_at: float | None = None,
        ttl_s: float | None = None,
        preferred_agents: list[str] | None = None,
        item_id: str | None = None,
    ) -> WorkItem:
        """Intake (R1). Idempotent by ``(workstream, external_id)``: a repeat returns the same item."""
        self._begin()
        existing = self._by_external.get((workstream, external_id))
        if existing is not None:
            return self._items[existing]
        ws = self._ws(workstream)
        self._check_submit(ws, priority, skills, profiles, preferred_agents, item_id)
        item = self._new_item(external_id, workstream, ws.cfg.kind, item_id)
        item.channel = channel
        item.attributes = dict(attributes or {})
        item.customer = dict(customer or {})
        item.priority = priority or 0
        item.skills = tuple(skills or ())
        item.units = ws.cfg.capacity.units if units is None else units
        item.profiles = tuple(dict.fromkeys([*ws.cfg.capacity.profiles, *(profiles or [])]))
        item.callback_at, item.phone, item.due_at = _seconds(callback_at), phone, _seconds(due_at)
        item.available_at = item.callback_at if available_at is None else float(available_at)
        item.ttl_s = _seconds(ws.cfg.ttl_s if ttl_s is None else ttl_s)
        item.preferred_agents = tuple(preferred_agents or ())
        self._emit_created(item)
        if item.available_at is not None and item.available_at > self._now:
            self._schedule(item)
        else:
            self._start_routing(item)
        self._settle()
        return item

    def _check_submit(
        self,
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
            if req.name not in self._config.skills:
                raise errors.InvalidCommand(f"unknown skill {req.name!r}", field="skills")
        for name in profiles or ():
            if name not in self._config.capacity_profiles:
                raise errors.InvalidCommand(f"unknown capacity profile {name!r}", field="profiles")
        for agent_id in preferred or ():
            if agent_id not in self._agents:
                raise errors.InvalidCommand(f"unknown agent {agent_id!r}", field="preferred_agents")
        if item_id is not None and item_id in self._items:
            raise errors.Conflict(f"item {item_id!r} exists already", item=item_id)

    def update_item(
        self, item_id: str, *, attributes: dict[str, Any] | None = None, priority: int | None = None
    ) -> WorkItem:
        """Change a waiting item's attributes or priority; its queue place follows at once (R7)."""
        self._begin()
        item = self._item(item_id)
        if item.state not in (ItemState.QUEUED, ItemState.OFFERED, ItemState.SCHEDULED):
            raise errors.Conflict(
                f"item {item_id} is {item.state}, not waiting", item=item_id, state=item.state
            )
        if priority is not None and not 0 <= priority <= 100_000:
            raise errors.InvalidCommand("priority must be between 0 and 100000", field="priority")
        if attributes is not None:
            item.attributes.update(attributes)
        if priority is not None:
            item.priority = priority
        self._emit(
            ET.ITEM_UPDATED,
            item=item.id,
            queue=item.queue,
            attributes=attributes,
            priority=priority,
        )
        if item.state is ItemState.QUEUED:
            self._rekey(item)
            self._try_assign(item)
        elif item.state is ItemState.OFFERED:
            # The place it returns to if the offer is declined, expires or is withdrawn (R25).
            item.order_key = self._order_key(item, self._queues[item.queue or ""])
        self._settle()
        return item

    def cancel(self, item_id: str, *, reason: CloseReason = CloseReason.ABANDONED) -> WorkItem:
        """The customer left (``abandoned``, R40) or the item is called off (``cancelled``).

        An abandon is only for an item not yet answered; an offer in flight is withdrawn and its
        capacity released. A cancel ends the item in any open state and releases what it holds.
        """
        self._begin()
        item = self._item(item_id)
        self._require_open(item)
        if reason is CloseReason.ABANDONED and item.state not in ABANDONABLE_STATES:
            raise errors.Conflict(
                f"item {item_id} is {item.state}: only waiting items can be abandoned",
                item=item_id,
                state=item.state,
            )
        if reason not in (CloseReason.ABANDONED, CloseReason.CANCELLED):
            raise errors.InvalidCommand("reason must be abandoned or cancelled", field="reason")
        self._close(item, reason)
        self._settle()
        return item

    # -- offers ------------------------------------------------------------------------------------------

    def accept(self, offer_id: str, *, agent: str) -> WorkItem:
        """Accept an open offer before it expires (R24)."""
        self._begin()
        offer = self._open_offer(offer_id, agent)
        item = self._items[offer.item]
        self._end_offer(offer, OfferStatus.ACCEPTED)
        self._emit(ET.OFFER_ACCEPTED, item=item.id, agent=agent, queue=item.queue, offer=offer.id)
        self._assign(item, self._agents[agent], reserved=True, forced=False)
        self._settle()
        return item

    def decline(self, offer_id: str, *, agent: str, reason: str | None = None) -> WorkItem:
        """Decline an open offer: the item goes back to its place and the agent is passed over (R25)."""
        self._begin()
        offer = self._open_offer(offer_id, agent)
        item = self._items[offer.item]
        ws = self._workstreams[item.workstream].cfg
        if not ws.offer.rejectable:
            raise errors.Conflict(
                f"offers of workstream {item.workstream} cannot be declined (R27)", offer=offer_id
            )
        self._end_offer(offer, OfferStatus.DECLINED)
        self._emit(ET.OFFER_DECLINED, item=item.id, agent=agent, queue=item.queue, offer=offer.id,
            reason=reason,
        )  # fmt: skip
        self._offer_refused(item, self._agents[agent], ws.offer.on_decline_presence)
        self._settle()
        return item

    # -- work ------------------------------------------------------------------------------------------

    def pick(self, item_id: str, *, agent: str) -> WorkItem:
        """Claim a waiting item (R28): exactly one of two agents picking the same item succeeds."""
        self._begin()
        item = self._item(item_id)
        who = self._agent(agent)
        if item.state is not ItemState.QUEUED:
            raise errors.AlreadyClaimed(
                f"item {item_id} is {item.state}, not waiting to be picked",
                item=item_id,
                state=item.state,
            )
        assert item.queue is not None
        if item.queue not in who.queues:
            raise errors.NotEligible(
                f"agent {agent} is not a member of queue {item.queue}", agent=agent, item=item_id
            )
        ws = self._workstreams[item.workstream].cfg
        if ws.pick_checks is model.PickChecks.ENFORCE:
            self._check_pick(item, who)
        self._assign(item, who, reserved=False, forced=False)
        self._settle()
        return item

    def may_pick(self, item_id: str, *, agent: str) -> bool:
        """Whether ``agent`` could pick the item now (R28); reads only, for pick lists."""
        item = self._item(item_id)
        who = self._agent(agent)
        if item.state is not ItemState.QUEUED or item.queue not in who.queues:
            return False
        if self._workstreams[item.workstream].cfg.pick_checks is model.PickChecks.ENFORCE:
            try:
                self._check_pick(item, who)
            except errors.NotEligible:
                return False
        return True

    def _check_pick(self, item: WorkItem, agent: AgentState) -> None:
        queue = self._queues[item.queue or ""]
        ws = self._workstreams[item.workstream]
        sig = agent.signature
        req = item.group
        assert isinstance(req, matching.Requirement)
        reason: str | None
        if self._sigs.rank(req, sig, ws.cfg.skill_match, queue.method) is None:
            reason = matching.exclusion(req, sig, ws.cfg.skill_match) or "skill"
        else:
            reason = self._dispatch.room_for(agent, item.units, item.profiles)
        if reason is not None:
            raise errors.NotEligible(
                f"agent {agent.id} may not pick item {item.id} ({reason})",
                agent=agent.id,
                item=item.id,
                reason=reason,
            )

    def complete(self, item_id: str, *, wrap_up: bool = True) -> WorkItem:
        """Finish the conversation: into wrap-up (R33), or closed when ``wrap_up`` is false."""
        self._begin()
        item = self._item(item_id)
        self._require(item, ItemState.ASSIGNED)
        if wrap_up:
            self._enter_wrap_up(item)
        else:
            self._close(item, CloseReason.COMPLETED)
        self._settle()
        return item

    def wrap_up(self, item_id: str) -> WorkItem:
        """Enter wrap-up (R33): the same as :meth:`complete` with wrap-up."""
        return self.complete(item_id, wrap_up=True)

    def close(self, item_id: str) -> WorkItem:
        """Close worked item as ``completed`` (from assigned, wrap-up or parked)."""
        self._begin()
        item = self._item(item_id)
        self._require(item, ItemState.ASSIGNED, ItemState.WRAP_UP, ItemState.PARKED)
        self._close(item, CloseReason.COMPLETED)
        self._settle()
        return item

    def park(self, item_id: str) -> WorkItem:
        """Park an async conversation waiting for the customer: capacity released (R34)."""
        self._begin()
        item = self._item(item_id)
        self._require(item, ItemState.ASSIGNED)
        if item.kind is model.Kind.RECORD:
            raise errors.InvalidCommand("only conversations can be parked", item=item_id)
        self._park(item)
        self._settle()
        return item

    def resume(self, item_id: str) -> WorkItem:
        """The customer wrote again: the parked conversation routes back, by affinity if set (R29)."""
        self._begin()
        item = self._item(item_id)
        self._require(item, ItemState.PARKED)
        self._resume(item)
        self._settle()
        return item

    def transfer(
        self,
        item_id: str,
        *,
        queue: str | None = None,
        agent: str | None = None,
        by: str | None = None,
    ) -> WorkItem:
        """Move an item to another queue of its kind, or offer it to one agent (R31); ``by`` names
        who asked, for the trace (R43)."""
        self._begin()
        if (queue is None) == (agent is None):
            raise errors.InvalidCommand("transfer needs exactly one of queue or agent")
        item = self._item(item_id)
        self._require(item, ItemState.QUEUED, ItemState.OFFERED, ItemState.ASSIGNED)
        before = {"from_queue": item.queue, "from_agent": item.agent}
        if queue is not None:
            target = self._queue_for(item, queue)
            self._trace(item, "transfer", **before, to_queue=queue, by=by)
            self._transfer_to_queue(item, target)
        else:
            who = self._agent(agent or "")
            self._transfer_to_agent(item, who)
            self._trace(item, "transfer", **before, to_agent=agent, by=by)
        self._settle()
        return item

    def force_assign(self, item_id: str, *, agent: str, by: str | None = None) -> WorkItem:
        """Supervisor force-assign: may exceed capacity; presence then becomes busy_dnd (R31).
        ``by`` names who asked, for the trace (R43)."""
        self._begin()
        item = self._item(item_id)
        who = self._agent(agent)
        self._require(item, ItemState.QUEUED, ItemState.OFFERED, ItemState.ASSIGNED)
        if item.agent == agent and item.state is ItemState.ASSIGNED:
            raise errors.Conflict(f"item {item_id} is already assigned to {agent}", item=item_id)
        self._trace(item, "force_assign", agent=agent, from_agent=item.agent, by=by)
        if who.presence is model.BasePresence.OFFLINE:
            self._trace(item, "warning", warning=f"force-assigned to agent {agent}, who is offline")
        self._detach(item)
        self._assign(item, who, reserved=False, forced=True)
        self._settle()
        return item

    # -- agents ----------------------------------------------------------------------------------------

    def set_presence(
        self, agent: str, presence: model.BasePresence, *, label: str | None = None
    ) -> None:
        """A manual presence (R32): away, offline and busy_dnd stick; available and busy last until
        the next accept or close. ``inactive`` is system-set only."""
        self._begin()
        who = self._agent(agent)
        if presence is P.INACTIVE:
            raise errors.InvalidCommand("inactive is set by the system only", field="presence")
        who.held = False
        self._set_presence(who, presence, label=label, manual=True)
        self._settle()

    def disconnect(self, agent: str) -> None:
        """The agent's connection dropped: offline at once, previous presence kept 150 s (R35)."""
        self._begin()
        who = self._agent(agent)
        if not who.connected:
            raise errors.Conflict(f"agent {agent} is not connected", agent=agent)
        who.connected = False
        who.disconnected_at = self._now
        who.presence_before_disconnect = (who.presence, who.label, who.manual, who.held)
        self._emit(ET.AGENT_DISCONNECTED, agent=agent)
        self._set_presence(who, P.OFFLINE, label=None, manual=False, force=True)
        self._set_agent_timer(who, "reconnect", self._now + RECONNECT_GRACE_S)
        self._settle()

    def reconnect(self, agent: str) -> None:
        """The agent is back: within 150 s its previous presence returns (R35)."""
        self._begin()
        who = self._agent(agent)
        if who.connected:
            raise errors.Conflict(f"agent {agent} is connected already", agent=agent)
        previous = self._connect(who)
        if previous is not None:
            presence, label, manual, held = previous
            who.held = held
            self._set_presence(who, presence, label=label, manual=manual, force=True)
        else:
            manual = who.default_presence in intake.MANUAL_DEFAULTS
            self._set_presence(who, who.default_presence, label=None, manual=manual, force=True)
        self._settle()

    def _connect(self, who: AgentState) -> Any:
        """Mark ``who`` connected; returns the presence kept since its disconnection (R35), if any."""
        who.connected = True
        self._emit(ET.AGENT_CONNECTED, agent=who.id)
        self._cancel_agent_timer(who, "reconnect")
        previous = who.presence_before_disconnect
        who.presence_before_disconnect = None
        return previous

    # -- configuration and time ---------------------------------------------------------------------------

    def check_config(self, config: model.Config) -> None:
        """What :meth:`apply_config` would refuse about ``config`` now, without applying it (a dry
        run refuses exactly what an apply refuses, R42): ``ConfigError`` with every issue."""
        self._check_live_workstreams(config)

    def apply_config(self, config: model.Config) -> int:
        """Atomically switch to a validated configuration for the next decision (R42)."""
        self._begin()
        self._install(config)
        self._settle()
        return self._version

    def advance(self) -> None:
        """Fire every timer due by the clock's current time (R21, R37)."""
        self._begin()
        self._settle()

    # -- snapshots (SPEC §9) ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The engine's state as bytes, taken between commands (:mod:`unirouter.engine.snapshot`)."""
        return snapshots.snapshot(self)

    @classmethod
    def restore(cls, data: bytes, *, config: model.Config, clock: Clock) -> Engine:
        """The engine ``data`` holds, under ``config`` (the configuration it was taken under; any
        other is refused) and ``clock``: the same commands then give the same events (SPEC §9)."""
        return snapshots.restore(cls, data, config=config, clock=clock)

    # -- helpers ------------------------------------------------------------------------------------------

    def _require(self, item: WorkItem, *states: ItemState) -> None:
        if item.state not in states:
            raise errors.Conflict(
                f"item {item.id} is {item.state}; expected {' or '.join(states)}",
                item=item.id,
                state=item.state,
                expected=list(states),
            )

    def _require_open(self, item: WorkItem) -> None:
        if item.state is ItemState.CLOSED:
            raise errors.Conflict(f"item {item.id} is closed", item=item.id, state=item.state)

    def _open_offer(self, offer_id: str, agent: str) -> Any:
        offer = self._offers.get(offer_id)
        if offer is None:
            raise errors.NotFound(f"no offer {offer_id}", offer=offer_id)
        self._agent(agent)
        if offer.agent != agent:
            raise errors.OfferNotOpen(
                f"offer {offer_id} was made to another agent", offer=offer_id, agent=agent
            )
        if offer.status is not OfferStatus.OPEN:
            raise errors.OfferNotOpen(
                f"offer {offer_id} is {offer.status}", offer=offer_id, status=offer.status
            )
        return offer

    def _queue_for(self, item: WorkItem, name: str) -> Any:
        queue = self._queues.get(name)
        if queue is None:
            raise errors.NotFound(f"no queue {name}", queue=name)
        if queue.cfg.kind is not item.kind:
            raise errors.InvalidCommand(
                f"queue {name} is {queue.cfg.kind}, item {item.id} is {item.kind} (R31)",
                queue=name,
                item=item.id,
            )
        return queue


def _seconds(value: float | None) -> float | None:
    """Times and durations are floats in events and timers (SPEC §6.1.1)."""
    return None if value is None else float(value)
