"""The routing engine: commands in, events out (SPEC §3, §6.1).

Synchronous and pure: time comes from the injected clock, every deadline lives in one timer heap, and
every state change appends one :class:`~unirouter.engine.events.Event`. A command that breaks a rule
raises a :class:`~unirouter.errors.CommandError` before it changes anything.

:class:`Engine` is a façade: it holds one :class:`~unirouter.engine.core.Core` (every record, index,
timer and the event log) and each command calls the function modules over it, bracketed by
:func:`settle.begin <unirouter.engine.settle.begin>` (due timers fire) and
:func:`settle.settle <unirouter.engine.settle.settle>` (agents that gained room take work, R21).
docs/architecture.md draws the modules and who calls whom. This module is over 400 lines because it
is the whole public API, one short method per command.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from unirouter import errors
from unirouter.config import model
from unirouter.engine import (
    affinity,
    assignment,
    checks,
    core,
    ending,
    install,
    intake,
    offers,
    queueing,
    settle,
    views,
)
from unirouter.engine import presence as presences
from unirouter.engine import snapshot as snapshots
from unirouter.engine.clock import UNIX_EPOCH, Clock
from unirouter.engine.core import Core
from unirouter.engine.events import Event
from unirouter.engine.events import EventType as ET
from unirouter.engine.state import (
    WAITING_STATES,
    AgentState,
    CloseReason,
    ItemState,
    Offer,
    OfferStatus,
    WorkItem,
)

__all__ = ["ABANDONABLE_STATES", "RECONNECT_GRACE_S", "Engine"]

P = model.BasePresence
RECONNECT_GRACE_S = 150.0
#: States an item can be abandoned from: not yet answered (R40). A constant rather than a starred
#: tuple at the call site, which mypyc (``make fast``) cannot compile.
ABANDONABLE_STATES = frozenset({*WAITING_STATES, ItemState.SCHEDULED, ItemState.ROUTING})


class Engine:
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
        self._core = Core(
            clock=clock,
            epoch=epoch,
            trace=trace,
            retain_closed=retain_closed,
            await_connections=await_connections,
        )
        install.install(self._core, config)

    # -- public read side ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The engine time of the last command or timer."""
        s = self._core
        return s.now

    @property
    def config(self) -> model.Config:
        s = self._core
        return s.config

    @property
    def config_version(self) -> int:
        s = self._core
        return s.version

    def drain_events(self) -> list[Event]:
        """The events emitted since the last drain, oldest first."""
        s = self._core
        events, s.events = s.events, []
        return events

    def next_deadline(self) -> float | None:
        """When the earliest timer is due: the shell wakes the engine then (R21: nothing polls)."""
        s = self._core
        return s.timers.next_due()

    def item(self, item_id: str) -> WorkItem:
        """A work item by id (read only)."""
        s = self._core
        return core.get_item(s, item_id)

    @property
    def forgets_closed(self) -> bool:
        """Whether closed items may have left memory (``retain_closed`` of them are held): an
        external id the engine does not know may then still have been taken (the server keeps
        every intake's key in its store, issue 17 item 8)."""
        s = self._core
        limit = s.retain_closed
        return limit is not None and len(s.closed_ids) >= limit

    def item_by_external_id(self, workstream: str, external_id: str) -> WorkItem | None:
        s = self._core
        ident = s.by_external.get((workstream, external_id))
        return None if ident is None else s.items[ident]

    def items(self) -> Iterator[WorkItem]:
        s = self._core
        return iter(s.items.values())

    def agent(self, agent_id: str) -> AgentState:
        """An agent's live state (read only)."""
        s = self._core
        return core.get_agent(s, agent_id)

    def agents(self) -> Iterator[AgentState]:
        s = self._core
        return iter(s.agents.values())

    def offer(self, offer_id: str) -> Offer:
        s = self._core
        offer = s.offers.get(offer_id)
        if offer is None:
            raise errors.NotFound(f"no offer {offer_id}", offer=offer_id)
        return offer

    def queue_names(self) -> list[str]:
        s = self._core
        return list(s.queues)

    def queue_status(self, name: str, *, at: float | None = None) -> dict[str, Any]:
        """Live queue state: waiting, offered, longest wait, EWT, staffed and ready members, open.

        ``at`` is the time of the read (never before the last command): the longest wait counts up
        to it, over queued and offered items alike (an offer in flight is still a wait, SPEC §8),
        and ``open`` says whether the queue's operating hours hold then (R14)."""
        s = self._core
        queue = s.queues.get(name)
        if queue is None:
            raise errors.NotFound(f"no queue {name}", queue=name)
        now = s.now if at is None else max(s.now, at)
        oldest = min(
            (now if i.queued_at is None else i.queued_at for i in views.unanswered_in(s, queue)),
            default=None,
        )
        return {
            "name": name,
            "waiting": queue.waiting,
            "offered": queue.offered,
            "longest_wait_s": 0.0 if oldest is None else now - oldest,
            "ewt_s": queue.ewt(),
            "members": len(queue.members),
            "staffed": queue.staffed,
            "ready": queue.ready,
            "open": views.open_at(s, queue, now),
        }

    def waiting_items(self, queue: str) -> list[WorkItem]:
        """The queued items of ``queue`` in queue order (R6–R9)."""
        s = self._core
        runtime = s.queues.get(queue)
        if runtime is None:
            raise errors.NotFound(f"no queue {queue}", queue=queue)
        return sorted(views.waiting_in(s, runtime), key=lambda i: i.order_key)

    # -- commands -----------------------------------------------------------------------------------------

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
        s = self._core
        settle.begin(s)
        existing = s.by_external.get((workstream, external_id))
        if existing is not None:
            return s.items[existing]
        ws = core.get_ws(s, workstream)
        checks.check_submit(s, ws, priority, skills, profiles, preferred_agents, item_id)
        item = intake.new_item(s, external_id, workstream, ws.cfg.kind, item_id)
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
        intake.emit_created(s, item)
        if item.available_at is not None and item.available_at > s.now:
            intake.schedule(s, item)
        else:
            intake.start_routing(s, item)
        settle.settle(s)
        return item

    def update_item(
        self, item_id: str, *, attributes: dict[str, Any] | None = None, priority: int | None = None
    ) -> WorkItem:
        """Change a waiting item's attributes or priority; its queue place follows at once (R7)."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
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
        core.emit(
            s,
            ET.ITEM_UPDATED,
            item=item.id,
            queue=item.queue,
            attributes=attributes,
            priority=priority,
        )
        if item.state is ItemState.QUEUED:
            queueing.rekey(s, item)
            queueing.try_assign(s, item)
        elif item.state is ItemState.OFFERED:
            # The place it returns to if the offer is declined, expires or is withdrawn (R25).
            item.order_key = queueing.order_key(s, item, s.queues[item.queue or ""])
        settle.settle(s)
        return item

    def cancel(self, item_id: str, *, reason: CloseReason = CloseReason.ABANDONED) -> WorkItem:
        """The customer left (``abandoned``, R40) or the item is called off (``cancelled``).

        An abandon is only for an item not yet answered; an offer in flight is withdrawn and its
        capacity released. A cancel ends the item in any open state and releases what it holds.
        """
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        checks.require_open(s, item)
        if reason is CloseReason.ABANDONED and item.state not in ABANDONABLE_STATES:
            raise errors.Conflict(
                f"item {item_id} is {item.state}: only waiting items can be abandoned",
                item=item_id,
                state=item.state,
            )
        if reason not in (CloseReason.ABANDONED, CloseReason.CANCELLED):
            raise errors.InvalidCommand("reason must be abandoned or cancelled", field="reason")
        ending.close(s, item, reason)
        settle.settle(s)
        return item

    def accept(self, offer_id: str, *, agent: str) -> WorkItem:
        """Accept an open offer before it expires (R24)."""
        s = self._core
        settle.begin(s)
        offer = checks.open_offer(s, offer_id, agent)
        item = s.items[offer.item]
        offers.end_offer(s, offer, OfferStatus.ACCEPTED)
        core.emit(s, ET.OFFER_ACCEPTED, item=item.id, agent=agent, queue=item.queue, offer=offer.id)
        assignment.assign(s, item, s.agents[agent], reserved=True, forced=False)
        settle.settle(s)
        return item

    def decline(self, offer_id: str, *, agent: str, reason: str | None = None) -> WorkItem:
        """Decline an open offer: the item goes back to its place and the agent is passed over (R25)."""
        s = self._core
        settle.begin(s)
        offer = checks.open_offer(s, offer_id, agent)
        item = s.items[offer.item]
        ws = s.workstreams[item.workstream].cfg
        if not ws.offer.rejectable:
            raise errors.Conflict(
                f"offers of workstream {item.workstream} cannot be declined (R27)", offer=offer_id
            )
        offers.end_offer(s, offer, OfferStatus.DECLINED)
        core.emit(s, ET.OFFER_DECLINED, item=item.id, agent=agent, queue=item.queue, offer=offer.id,
            reason=reason,
        )  # fmt: skip
        offers.offer_refused(s, item, s.agents[agent], ws.offer.on_decline_presence)
        settle.settle(s)
        return item

    def pick(self, item_id: str, *, agent: str) -> WorkItem:
        """Claim a waiting item (R28): exactly one of two agents picking the same item succeeds."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        who = core.get_agent(s, agent)
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
        ws = s.workstreams[item.workstream].cfg
        if ws.pick_checks is model.PickChecks.ENFORCE:
            checks.check_pick(s, item, who)
        assignment.assign(s, item, who, reserved=False, forced=False)
        settle.settle(s)
        return item

    def may_pick(self, item_id: str, *, agent: str) -> bool:
        """Whether ``agent`` could pick the item now (R28); reads only, for pick lists."""
        s = self._core
        item = core.get_item(s, item_id)
        who = core.get_agent(s, agent)
        if item.state is not ItemState.QUEUED or item.queue not in who.queues:
            return False
        if s.workstreams[item.workstream].cfg.pick_checks is model.PickChecks.ENFORCE:
            try:
                checks.check_pick(s, item, who)
            except errors.NotEligible:
                return False
        return True

    def complete(self, item_id: str, *, wrap_up: bool = True) -> WorkItem:
        """Finish the conversation: into wrap-up (R33), or closed when ``wrap_up`` is false."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        checks.require(s, item, ItemState.ASSIGNED)
        if wrap_up:
            ending.enter_wrap_up(s, item)
        else:
            ending.close(s, item, CloseReason.COMPLETED)
        settle.settle(s)
        return item

    def wrap_up(self, item_id: str) -> WorkItem:
        """Enter wrap-up (R33): the same as :meth:`complete` with wrap-up."""
        return self.complete(item_id, wrap_up=True)

    def close(self, item_id: str) -> WorkItem:
        """Close worked item as ``completed`` (from assigned, wrap-up or parked)."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        checks.require(s, item, ItemState.ASSIGNED, ItemState.WRAP_UP, ItemState.PARKED)
        ending.close(s, item, CloseReason.COMPLETED)
        settle.settle(s)
        return item

    def park(self, item_id: str) -> WorkItem:
        """Park an async conversation waiting for the customer: capacity released (R34)."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        checks.require(s, item, ItemState.ASSIGNED)
        if item.kind is model.Kind.RECORD:
            raise errors.InvalidCommand("only conversations can be parked", item=item_id)
        ending.park(s, item)
        settle.settle(s)
        return item

    def resume(self, item_id: str) -> WorkItem:
        """The customer wrote again: the parked conversation routes back, by affinity if set (R29)."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        checks.require(s, item, ItemState.PARKED)
        affinity.resume(s, item)
        settle.settle(s)
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
        s = self._core
        settle.begin(s)
        if (queue is None) == (agent is None):
            raise errors.InvalidCommand("transfer needs exactly one of queue or agent")
        item = core.get_item(s, item_id)
        checks.require(s, item, ItemState.QUEUED, ItemState.OFFERED, ItemState.ASSIGNED)
        before = {"from_queue": item.queue, "from_agent": item.agent}
        if queue is not None:
            target = checks.queue_for(s, item, queue)
            core.trace(s, item, "transfer", **before, to_queue=queue, by=by)
            assignment.transfer_to_queue(s, item, target)
        else:
            who = core.get_agent(s, agent or "")
            assignment.transfer_to_agent(s, item, who)
            core.trace(s, item, "transfer", **before, to_agent=agent, by=by)
        settle.settle(s)
        return item

    def force_assign(self, item_id: str, *, agent: str, by: str | None = None) -> WorkItem:
        """Supervisor force-assign: may exceed capacity; presence then becomes busy_dnd (R31).
        ``by`` names who asked, for the trace (R43)."""
        s = self._core
        settle.begin(s)
        item = core.get_item(s, item_id)
        who = core.get_agent(s, agent)
        checks.require(s, item, ItemState.QUEUED, ItemState.OFFERED, ItemState.ASSIGNED)
        if item.agent == agent and item.state is ItemState.ASSIGNED:
            raise errors.Conflict(f"item {item_id} is already assigned to {agent}", item=item_id)
        core.trace(s, item, "force_assign", agent=agent, from_agent=item.agent, by=by)
        if who.presence is model.BasePresence.OFFLINE:
            core.trace(
                s, item, "warning", warning=f"force-assigned to agent {agent}, who is offline"
            )
        assignment.detach(s, item)
        assignment.assign(s, item, who, reserved=False, forced=True)
        settle.settle(s)
        return item

    def set_presence(
        self, agent: str, presence: model.BasePresence, *, label: str | None = None
    ) -> None:
        """A manual presence (R32): away, offline and busy_dnd stick; available and busy last until
        the next accept or close. ``inactive`` is system-set only."""
        s = self._core
        settle.begin(s)
        who = core.get_agent(s, agent)
        if presence is P.INACTIVE:
            raise errors.InvalidCommand("inactive is set by the system only", field="presence")
        who.held = False
        presences.set_presence(s, who, presence, label=label, manual=True)
        settle.settle(s)

    def disconnect(self, agent: str) -> None:
        """The agent's connection dropped: offline at once, previous presence kept 150 s (R35)."""
        s = self._core
        settle.begin(s)
        who = core.get_agent(s, agent)
        if not who.connected:
            raise errors.Conflict(f"agent {agent} is not connected", agent=agent)
        who.connected = False
        who.disconnected_at = s.now
        who.presence_before_disconnect = (who.presence, who.label, who.manual, who.held)
        core.emit(s, ET.AGENT_DISCONNECTED, agent=agent)
        presences.set_presence(s, who, P.OFFLINE, label=None, manual=False, force=True)
        core.set_agent_timer(s, who, "reconnect", s.now + RECONNECT_GRACE_S)
        settle.settle(s)

    def reconnect(self, agent: str) -> None:
        """The agent is back: within 150 s its previous presence returns (R35)."""
        s = self._core
        settle.begin(s)
        who = core.get_agent(s, agent)
        if who.connected:
            raise errors.Conflict(f"agent {agent} is connected already", agent=agent)
        previous = presences.connect(s, who)
        if previous is not None:
            kept, label, manual, held = previous
            who.held = held
            presences.set_presence(s, who, kept, label=label, manual=manual, force=True)
        else:
            manual = who.default_presence in presences.MANUAL_DEFAULTS
            presences.set_presence(
                s, who, who.default_presence, label=None, manual=manual, force=True
            )
        settle.settle(s)

    def check_config(self, config: model.Config) -> None:
        """What :meth:`apply_config` would refuse about ``config`` now, without applying it (a dry
        run refuses exactly what an apply refuses, R42): ``ConfigError`` with every issue."""
        s = self._core
        install.check_live_workstreams(s, config)

    def apply_config(self, config: model.Config) -> int:
        """Atomically switch to a validated configuration for the next decision (R42)."""
        s = self._core
        settle.begin(s)
        install.install(s, config)
        settle.settle(s)
        return s.version

    def advance(self) -> None:
        """Fire every timer due by the clock's current time (R21, R37)."""
        s = self._core
        settle.begin(s)
        settle.settle(s)

    def snapshot(self) -> bytes:
        """The engine's state as bytes, taken between commands (:mod:`unirouter.engine.snapshot`)."""
        return snapshots.snapshot(self)

    @classmethod
    def restore(cls, data: bytes, *, config: model.Config, clock: Clock) -> Engine:
        """The engine ``data`` holds, under ``config`` (the configuration it was taken under; any
        other is refused) and ``clock``: the same commands then give the same events (SPEC §9)."""
        return snapshots.restore(cls, data, config=config, clock=clock)


def _seconds(value: float | None) -> float | None:
    """Times and durations are floats in events and timers (SPEC §6.1.1)."""
    return None if value is None else float(value)
