"""Runtime records of the engine: items, agents, offers, and their states.

These are mutable slots classes owned by the engine; callers read them through the engine's views and
never mutate them. Every mutation happens inside one engine command and is announced by an event.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from unirouter.config import model
from unirouter.errors import IllegalTransition

if TYPE_CHECKING:
    from unirouter.engine.queues import QueueRuntime

__all__ = [
    "ITEM_TRANSITIONS",
    "WAITING_STATES",
    "AgentState",
    "CloseReason",
    "IllegalTransition",
    "ItemState",
    "Offer",
    "OfferStatus",
    "WorkItem",
    "move",
    "render_trace",
]


class ItemState(StrEnum):
    """The life of a work item (SPEC §2)."""

    SCHEDULED = "scheduled"
    ROUTING = "routing"
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    WRAP_UP = "wrap_up"
    PARKED = "parked"
    CLOSED = "closed"


class CloseReason(StrEnum):
    """Why a closed item closed."""

    COMPLETED = "completed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"
    OVERFLOW_ENDED = "overflow_ended"
    EXPIRED = "expired"


S = ItemState
#: Which state may follow which; :func:`move`, the only writer of ``WorkItem.state``, enforces it.
#: A command that would need any other change is refused with ``Conflict`` before anything changes;
#: reaching :func:`move` with one anyway is an engine bug (:class:`IllegalTransition`).
#:
#: ``routing`` is also the state of an item held by nothing between two places, so it has more
#: followers than the SPEC §2 diagram shows: a new item is created ``routing`` and then starts routing
#: (``routing → routing``) or waits as ``scheduled``; an item taken off its queue place or its agent
#: (transfer, force-assign, resume of a parked item) passes through ``routing`` on its way to the new
#: queue (``→ queued``) or straight to the forced agent (``routing → assigned``).
ITEM_TRANSITIONS: dict[ItemState, frozenset[ItemState]] = {
    S.SCHEDULED: frozenset({S.ROUTING, S.CLOSED}),
    S.ROUTING: frozenset({S.ROUTING, S.SCHEDULED, S.QUEUED, S.ASSIGNED, S.CLOSED}),
    S.QUEUED: frozenset({S.ROUTING, S.QUEUED, S.OFFERED, S.ASSIGNED, S.CLOSED}),
    S.OFFERED: frozenset({S.QUEUED, S.ASSIGNED, S.OFFERED, S.CLOSED}),
    S.ASSIGNED: frozenset(
        {S.ROUTING, S.QUEUED, S.OFFERED, S.ASSIGNED, S.WRAP_UP, S.PARKED, S.CLOSED}
    ),
    S.WRAP_UP: frozenset({S.CLOSED}),
    S.PARKED: frozenset({S.ROUTING, S.QUEUED, S.CLOSED}),
    S.CLOSED: frozenset(),
}

#: States in which an item is waiting for an agent (R39, R40).
WAITING_STATES = frozenset({S.QUEUED, S.OFFERED})


class OfferStatus(StrEnum):
    """An offer ends exactly once: accepted, declined, expired or withdrawn."""

    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Offer:
    """A proposal of one item to one agent (R23)."""

    __slots__ = ("agent", "expires_at", "id", "item", "made_at", "status", "timer")

    def __init__(
        self, *, id: str, item: str, agent: str, made_at: float, expires_at: float
    ) -> None:
        self.id = id
        self.item = item
        self.agent = agent
        self.made_at = made_at
        self.expires_at = expires_at
        self.status = OfferStatus.OPEN
        self.timer: int | None = None


class WorkItem:
    """A unit of work and its routing state (SPEC §2)."""

    __slots__ = (
        "affinity_agent",
        "agent",
        "aging_bonus",
        "answered_at",
        "attributes",
        "auto_blocked",
        "available_at",
        "base_skills",
        "callback_at",
        "channel",
        "close_reason",
        "config_version",
        "counted_in",
        "created_at",
        "customer",
        "declines",
        "declines_total",
        "due_at",
        "entered_routing_at",
        "external_id",
        "first_queued_at",
        "forced",
        "group",
        "holder",
        "id",
        "kind",
        "last_decliner",
        "num",
        "offer",
        "order_key",
        "phone",
        "preferred_agents",
        "priority",
        "profiles",
        "queue",
        "queue_epoch",
        "queued_at",
        "relax_step",
        "route_rule",
        "skills",
        "slot",
        "state",
        "steps",
        "timers",
        "times",
        "trace_log",
        "ttl_s",
        "units",
        "version",
        "waiting_since",
        "workstream",
    )

    def __init__(self, *, id: str, external_id: str, workstream: str, kind: model.Kind) -> None:
        self.id = id
        self.external_id = external_id
        self.workstream = workstream
        self.kind = kind
        self.channel: str | None = None
        self.attributes: dict[str, Any] = {}
        self.customer: dict[str, Any] = {}
        self.priority = 0
        self.aging_bonus = 0
        self.skills: tuple[model.SkillReq, ...] = ()
        #: The skills required before relaxation steps (R20): the item's own and classification's.
        self.base_skills: tuple[model.SkillReq, ...] = ()
        self.units = 0
        self.profiles: tuple[str, ...] = ()
        self.available_at: float | None = None
        self.due_at: float | None = None
        self.callback_at: float | None = None
        self.phone: str | None = None
        self.ttl_s: float | None = None
        self.preferred_agents: tuple[str, ...] = ()
        self.state = ItemState.ROUTING
        self.close_reason: CloseReason | None = None
        self.queue: str | None = None
        #: The queue whose ``waiting`` (and, offered, ``offered``) counts the item: set by
        #: :func:`move` alone, None unless the item is queued or offered.
        self.counted_in: QueueRuntime | None = None
        self.agent: str | None = None
        self.offer: str | None = None
        self.affinity_agent: str | None = None
        self.forced = False
        self.created_at = 0.0
        self.entered_routing_at: float | None = None
        self.waiting_since = 0.0
        self.queued_at: float | None = None
        self.first_queued_at: float | None = None
        self.answered_at: float | None = None
        self.declines: dict[str, int] = {}
        self.declines_total = 0
        self.last_decliner: str | None = None
        self.steps: tuple[model.RelaxStep, ...] = ()
        self.auto_blocked = False
        self.route_rule: int | None = None
        self.relax_step = 0
        self.group: object = None
        self.slot: Any = None
        self.order_key: tuple[Any, ...] = ()
        self.version = 0
        self.config_version = 0
        self.timers: dict[str, int] = {}
        self.times: dict[str, float] = {}
        #: R43: the trace as compact records (:func:`core.trace_at`), rendered by :attr:`trace`.
        self.trace_log: list[tuple[Any, ...]] = []
        self.num = 0
        self.holder: str | None = None
        self.queue_epoch = 0

    @property
    def trace(self) -> list[dict[str, Any]]:
        """R43: the trace entries, each rendered from its record when read (issue 10)."""
        return [render_trace(record) for record in self.trace_log]

    @property
    def effective_priority(self) -> int:
        """Priority plus what aging added (R8)."""
        return self.priority + self.aging_bonus

    def expr_get(self, name: str) -> object:
        """Expression view (SPEC §4): own fields first, then the shorthand into ``attributes``."""
        getter = _ITEM_FIELDS.get(name)
        if getter is not None:
            return getter(self)
        return self.attributes.get(name)


def render_trace(record: tuple[Any, ...]) -> dict[str, Any]:
    """One R43 trace entry from its record ``(t, stage, keys, values, more)`` (see
    :func:`unirouter.engine.core.trace_at`)."""
    t, stage, keys, values, more = record
    entry: dict[str, Any] = {"t": t, "stage": stage}
    if keys is None:
        entry.update(values)
    else:
        entry.update(zip(keys, values, strict=True))
    if more is not None:
        entry.update(more.as_trace())
    return entry


_ITEM_FIELDS: dict[str, Any] = {
    "id": lambda i: i.id,
    "external_id": lambda i: i.external_id,
    "workstream": lambda i: i.workstream,
    "channel": lambda i: i.channel,
    "kind": lambda i: i.kind.value,
    "priority": lambda i: i.effective_priority,
    "queue": lambda i: i.queue,
    "state": lambda i: i.state.value,
    "customer": lambda i: i.customer,
    "attributes": lambda i: i.attributes,
    "skills": lambda i: {s.name: s.level for s in i.skills},
    "agent": lambda i: i.agent,
    "waiting_since": lambda i: i.waiting_since,
    "due_at": lambda i: i.due_at,
    "created_at": lambda i: i.created_at,
}


class AgentState:
    """An agent's live state: presence, capacity in use, queues, offers and items (SPEC §2)."""

    __slots__ = (
        "active",
        "attributes",
        "calendar",
        "capacity_units",
        "connected",
        "default_presence",
        "disconnected_at",
        "held",
        "id",
        "in_hours",
        "label",
        "last_assigned",
        "last_release",
        "levels",
        "manual",
        "name",
        "offers",
        "offline_since",
        "passed",
        "presence",
        "presence_before_disconnect",
        "profile_limits",
        "profile_used",
        "queues",
        "ready",
        "signature",
        "skills",
        "staffed",
        "timers",
        "unready",
        "used_units",
        "version",
    )

    def __init__(self, *, id: str, presence: model.BasePresence) -> None:
        self.id = id
        self.name: str | None = None
        self.attributes: dict[str, Any] = {}
        self.skills: dict[str, int] = {}
        self.capacity_units = 100
        self.used_units = 0
        self.profile_limits: dict[str, int] = {}
        self.profile_used: dict[str, int] = {}
        self.presence = presence
        self.default_presence = presence
        self.label: str | None = None
        self.manual = False
        #: A system-set presence (R26 penalty) that stays until the agent sets one.
        self.held = False
        self.calendar: str | None = None
        self.in_hours = True
        self.connected = True
        self.disconnected_at: float | None = None
        self.offline_since: float | None = None
        self.presence_before_disconnect: (
            tuple[model.BasePresence, str | None, bool, bool] | None
        ) = None
        self.queues: dict[str, float] = {}
        self.last_assigned: dict[str, float] = {}
        self.last_release: float | None = None
        self.active: set[str] = set()
        self.offers: set[str] = set()
        #: The item this agent just declined or let expire (R25): the items behind it come first.
        self.passed: str | None = None
        self.signature: Any = None  # a matching.Signature once configured
        self.ready: set[str] = set()
        #: Why the agent is out of each queue's pools while present (R43 counts).
        self.unready: dict[str, str] = {}
        #: The queues the agent staffs (R12 no_agents, EWT), each with the items it can hold there.
        self.staffed: dict[str, int] = {}
        self.levels: list[list[str]] = []
        self.version = 0
        self.timers: dict[str, int] = {}

    @property
    def free_units(self) -> int:
        """Units not in use; negative after a force-assign beyond capacity (R31)."""
        return self.capacity_units - self.used_units

    def expr_get(self, name: str) -> object:
        """Expression view (SPEC §4): own fields first, then the shorthand into ``attributes``."""
        if name == "id":
            return self.id
        if name == "name":
            return self.name
        if name == "presence":
            return self.presence.value
        if name == "skills":
            return self.skills
        if name == "attributes":
            return self.attributes
        if name == "free_units":
            return self.free_units
        if name == "active":
            return len(self.active)
        return self.attributes.get(name)


#: Module constants: an enum member read through its class is a type lookup each time (3.11).
_QUEUED, _OFFERED = ItemState.QUEUED, ItemState.OFFERED


def move(item: WorkItem, to: ItemState, queue: QueueRuntime | None = None) -> None:
    """The one writer of ``item.state`` and of the queue counters derived from it.

    Checks ``ITEM_TRANSITIONS``, then moves the item's place in the counts: it leaves those of the
    queue it was counted in (``waiting`` while queued or offered, ``offered`` while offered) and,
    queued or offered again, enters those of ``queue`` when given (which becomes its queue) or of
    the queue it was counted in. So a waiting item is counted in exactly one queue
    (``item.counted_in``), and a configuration install counts it into the new queue objects by
    moving it to the state it is in (``queued → queued``, ``offered → offered``).
    """
    before = item.state
    if to not in ITEM_TRANSITIONS[before]:
        raise IllegalTransition(f"item {item.id}: {before} -> {to} is not in ITEM_TRANSITIONS")
    counted = item.counted_in
    target = counted if queue is None else queue
    waits = to is _QUEUED or to is _OFFERED
    if waits and target is None:
        raise IllegalTransition(f"item {item.id}: {before} -> {to} names no queue to wait in")
    if counted is not None:
        counted.waiting -= 1
        if before is _OFFERED:
            counted.offered -= 1
    item.state = to
    if target is not None and waits:
        if queue is not None:
            item.queue = queue.name
        target.waiting += 1
        if to is _OFFERED:
            target.offered += 1
        item.counted_in = target
    else:
        item.counted_in = None
