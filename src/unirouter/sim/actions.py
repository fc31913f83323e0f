"""The scripted actions of a scenario (SPEC §7): one frozen value per kind of action.

Every action knows when it happens (``at``, seconds from the start of the run) and where it was
written (``index`` in the scenario's ``events:`` list), so a refusal can be reported against the
line that asked for it. Items are named by their scenario ``id`` (the engine's ``external_id``);
the runner maps those names to engine ids as items are created. An action is the scenario's
parsed form: when it runs, :meth:`Action.command` makes it the engine's command record
(:mod:`unirouter.engine.commands`), with the names resolved by the run (:class:`Names`), and the
run executes that record as the server and the replay do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from unirouter.config import model
from unirouter.engine import commands
from unirouter.engine.state import CloseReason

__all__ = [
    "Accept",
    "Action",
    "ApplyConfig",
    "Assign",
    "Cancel",
    "Close",
    "Complete",
    "Decline",
    "Disconnect",
    "ItemSpec",
    "Names",
    "Park",
    "Pick",
    "Reconnect",
    "Resume",
    "SetPresence",
    "Submit",
    "Transfer",
]


class Names(Protocol):
    """What a run knows that turns an action into an engine command: the engine ids of the items
    the scenario names, their offers, and whether completing one goes to wrap-up. Each raises
    the :class:`~unirouter.errors.CommandError` a refusal reports when it knows no answer."""

    def item_id(self, name: str) -> str: ...

    def offer_id(self, name: str, agent: str) -> str: ...

    def wraps_up(self, ident: str) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemSpec:
    """A work item as a scenario submits it. Times are seconds from the start of the run.

    ``handle_s`` and ``wrap_up_s`` are not engine fields: they tell the runner to complete the
    item that long after each assignment, and to close it that long after wrap-up starts.
    """

    id: str
    workstream: str
    channel: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    customer: Mapping[str, Any] = field(default_factory=dict)
    priority: int | None = None
    skills: tuple[model.SkillReq, ...] = ()
    units: int | None = None
    profiles: tuple[str, ...] = ()
    available_at: float | None = None
    callback_at: float | None = None
    due_at: float | None = None
    ttl_s: float | None = None
    preferred_agents: tuple[str, ...] = ()
    phone: str | None = None
    handle_s: float | None = None
    wrap_up_s: float | None = None

    def submit(self) -> commands.Submit:
        """The engine's intake of this item (its ``id`` is the ``external_id``)."""
        return commands.Submit(
            external_id=self.id,
            workstream=self.workstream,
            channel=self.channel,
            attributes=dict(self.attributes),
            customer=dict(self.customer),
            priority=self.priority,
            skills=self.skills or None,
            units=self.units,
            profiles=self.profiles or None,
            available_at=self.available_at,
            callback_at=self.callback_at,
            phone=self.phone,
            due_at=self.due_at,
            ttl_s=self.ttl_s,
            preferred_agents=self.preferred_agents or None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Something the scenario does at ``at`` seconds; ``index`` is its place in ``events:``."""

    #: The key that names the action in the scenario file (``accept``, ``transfer``, …).
    kind: ClassVar[str] = ""

    at: float
    index: int

    def describe(self) -> dict[str, Any]:
        """The action as a scenario would write it, without ``at`` (for reports)."""
        raise NotImplementedError

    def command(self, names: Names) -> commands.Command:
        """The engine command this action is, its names resolved by ``names``."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPresence(Action):
    """``{agent, presence, label?}``: a manual presence (R32)."""

    kind: ClassVar[str] = "presence"
    agent: str
    presence: model.BasePresence
    label: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"agent": self.agent, "presence": self.presence.value}
        return out if self.label is None else {**out, "label": self.label}

    def command(self, names: Names) -> commands.Command:
        return commands.SetPresence(agent=self.agent, presence=self.presence, label=self.label)


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit(Action):
    """``{item: {...}}``: intake of a new item (R1)."""

    kind: ClassVar[str] = "item"
    item: ItemSpec

    def describe(self) -> dict[str, Any]:
        return {"item": {"id": self.item.id, "workstream": self.item.workstream}}

    def command(self, names: Names) -> commands.Command:
        return self.item.submit()


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept(Action):
    """``{agent, accept: ITEM}``: answer the agent's offer of the item (R24)."""

    kind: ClassVar[str] = "accept"
    agent: str
    item: str

    def describe(self) -> dict[str, Any]:
        return {"agent": self.agent, "accept": self.item}

    def command(self, names: Names) -> commands.Command:
        return commands.Accept(offer=names.offer_id(self.item, self.agent), agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decline(Action):
    """``{agent, decline: ITEM, reason?}``: refuse the agent's offer of the item (R25)."""

    kind: ClassVar[str] = "decline"
    agent: str
    item: str
    reason: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"agent": self.agent, "decline": self.item}
        return out if self.reason is None else {**out, "reason": self.reason}

    def command(self, names: Names) -> commands.Command:
        offer = names.offer_id(self.item, self.agent)
        return commands.Decline(offer=offer, agent=self.agent, reason=self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pick(Action):
    """``{agent, pick: ITEM}``: claim a waiting item (R28)."""

    kind: ClassVar[str] = "pick"
    agent: str
    item: str

    def describe(self) -> dict[str, Any]:
        return {"agent": self.agent, "pick": self.item}

    def command(self, names: Names) -> commands.Command:
        return commands.Pick(item=names.item_id(self.item), agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class _ItemAction(Action):
    """An action that names only an item."""

    item: str

    def describe(self) -> dict[str, Any]:
        return {self.kind: self.item}


@dataclass(frozen=True, slots=True, kw_only=True)
class Complete(_ItemAction):
    """``{complete: ITEM}``: closed at once, or into wrap-up when the item has ``wrap_up_s``."""

    kind: ClassVar[str] = "complete"

    def command(self, names: Names) -> commands.Command:
        ident = names.item_id(self.item)
        return commands.Complete(item=ident, wrap_up=names.wraps_up(ident))


@dataclass(frozen=True, slots=True, kw_only=True)
class Close(_ItemAction):
    """``{close: ITEM}``: close a worked item as completed."""

    kind: ClassVar[str] = "close"

    def command(self, names: Names) -> commands.Command:
        return commands.Close(item=names.item_id(self.item))


@dataclass(frozen=True, slots=True, kw_only=True)
class Park(_ItemAction):
    """``{park: ITEM}``: an async conversation waits for the customer (R34)."""

    kind: ClassVar[str] = "park"

    def command(self, names: Names) -> commands.Command:
        return commands.Park(item=names.item_id(self.item))


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume(_ItemAction):
    """``{resume: ITEM}``: the customer wrote again (R29)."""

    kind: ClassVar[str] = "resume"

    def command(self, names: Names) -> commands.Command:
        return commands.Resume(item=names.item_id(self.item))


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel(Action):
    """``{cancel: ITEM, reason?}``: the customer abandons (R40), or ``reason: cancelled``."""

    kind: ClassVar[str] = "cancel"
    item: str
    reason: CloseReason = CloseReason.ABANDONED

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cancel": self.item}
        return out if self.reason is CloseReason.ABANDONED else {**out, "reason": self.reason.value}

    def command(self, names: Names) -> commands.Command:
        return commands.Cancel(item=names.item_id(self.item), reason=self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Action):
    """``{transfer: ITEM, queue: Q}`` or ``{transfer: ITEM, agent: A}`` (R31)."""

    kind: ClassVar[str] = "transfer"
    item: str
    queue: str | None = None
    agent: str | None = None

    def describe(self) -> dict[str, Any]:
        target = {"queue": self.queue} if self.queue is not None else {"agent": self.agent}
        return {"transfer": self.item, **target}

    def command(self, names: Names) -> commands.Command:
        ident = names.item_id(self.item)
        return commands.Transfer(item=ident, queue=self.queue, agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Assign(Action):
    """``{assign: ITEM, agent: A}``: supervisor force-assign (R31)."""

    kind: ClassVar[str] = "assign"
    item: str
    agent: str

    def describe(self) -> dict[str, Any]:
        return {"assign": self.item, "agent": self.agent}

    def command(self, names: Names) -> commands.Command:
        return commands.ForceAssign(item=names.item_id(self.item), agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect(Action):
    """``{agent, disconnect: true}``: the agent's connection drops (R35)."""

    kind: ClassVar[str] = "disconnect"
    agent: str

    def describe(self) -> dict[str, Any]:
        return {"agent": self.agent, "disconnect": True}

    def command(self, names: Names) -> commands.Command:
        return commands.Disconnect(agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnect(Action):
    """``{agent, reconnect: true}``: the agent is back (R35)."""

    kind: ClassVar[str] = "reconnect"
    agent: str

    def describe(self) -> dict[str, Any]:
        return {"agent": self.agent, "reconnect": True}

    def command(self, names: Names) -> commands.Command:
        return commands.Reconnect(agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyConfig(Action):
    """``{config: {...}}`` or ``{config: FILE}``: switch to a new configuration (R42)."""

    kind: ClassVar[str] = "config"
    config: model.Config
    source: str

    def describe(self) -> dict[str, Any]:
        return {"config": self.source}

    def command(self, names: Names) -> commands.Command:
        return commands.ApplyConfig(config=self.config)
