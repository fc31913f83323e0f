"""What each engine event says in a readable account (used by :mod:`unirouter.sim.narrate`).

One method per event type turns an event into ``(subject, text)``, or None for events an account
leaves out (bookkeeping, automatic presence moves). A method may look at the other events of the
same engine step (:class:`Batch`): a decline says who is offered the item next, an accept
swallows the assignment it causes. The "why" of an assignment comes from the item's trace (R43).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from unirouter import durations
from unirouter.config import model
from unirouter.engine import Engine, Event, EventType
from unirouter.sim import actions, agenda
from unirouter.sim.scenario import Scenario

__all__ = ["Batch", "Line", "Phrases", "clock"]

ET = EventType
Line = tuple[str, str]  # (subject, text)
Style = Callable[..., str]

_CONDITIONS = {
    "out_of_hours": "out of hours",
    "no_agents": "no agent present",
    "max_waiting": "too many waiting",
    "ewt_s": "estimated wait too long",
    "waited_s": "waited too long",
}
_CLOSED = {
    "completed": "closed: completed",
    "expired": "closed: expired (time to live passed, R39)",
    "abandoned": "closed: the customer left",
    "cancelled": "closed: cancelled",
    "overflow_ended": "closed by overflow",
}


def clock(t: float) -> str:
    """Virtual time as ``HH:MM:SS`` from the start of the run."""
    hours, rest = divmod(int(t), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass(slots=True)
class Batch:
    """The events of one engine step, and what caused them."""

    events: Sequence[Event]
    engine: Engine
    cause: agenda.Task | None
    skip: set[int] = field(default_factory=set)
    position: int = 0

    def after(self, item: str | None) -> Iterator[Event]:
        """Later events of this batch about ``item``."""
        return (e for e in self.events[self.position + 1 :] if e.item == item)

    def previous(self) -> Event | None:
        return self.events[self.position - 1] if self.position > 0 else None


class Phrases:
    """Event → line, remembering the names and affinities the account needs along the way."""

    def __init__(self, scenario: Scenario, style: Style) -> None:
        self.scenario = scenario
        self.style = style
        self.names: dict[str, str] = {}  # engine id -> scenario name
        self.affinity: dict[str, str] = {}  # engine id -> agent it returns to (R29)

    def line(self, event: Event, batch: Batch) -> Line | None:
        """What ``event`` says, or None when the account leaves it out."""
        handler = _HANDLERS.get(event.type)
        return handler(self, event, batch) if handler is not None else None

    def name(self, ident: str | None) -> str:
        return self.names.get(ident or "", ident or "?")

    def rename(self, text: str) -> str:
        """Engine ids in a message replaced by the scenario's names."""
        for ident, name in self.names.items():
            text = text.replace(ident, name)
        return text

    # -- one method per event type -----------------------------------------------------------------

    def _created(self, e: Event, b: Batch) -> Line:
        name = str(e.data["external_id"])
        self.names[e.item or ""] = name
        spec = self.scenario.items.get(name)
        where = str(e.data["workstream"]) + (
            f"/{e.data['channel']}" if e.data.get("channel") else ""
        )
        if spec is None and isinstance(b.cause, agenda.Arrive):
            return name, f"arrives on {where} (generated)"
        if spec is None:
            previous = b.previous()
            origin = self.name(previous.item) if previous is not None else "?"
            return name, f"callback created on {where} for {origin}"
        shown = {**spec.attributes, **{f"customer.{k}": v for k, v in spec.customer.items()}}
        detail = ", ".join(f"{key}={_value(value)}" for key, value in list(shown.items())[:4])
        return name, f"arrives on {where}" + (f" ({detail})" if detail else "")

    def _scheduled(self, e: Event, b: Batch) -> Line:
        item = b.engine.item(e.item or "")
        phone = f", callback to {item.phone}" if item.phone else ""
        return self.name(e.item), f"scheduled for {clock(float(e.data['available_at']))}{phone}"

    def _classified(self, e: Event, b: Batch) -> Line | None:
        parts = []
        for applied in e.data.get("applied") or ():
            outputs = [f"{k}={_value(v)}" for k, v in (applied.get("set") or {}).items()]
            outputs += [f"needs {skill}" for skill in applied.get("skills") or ()]
            outputs += [f"profile {name}" for name in applied.get("profiles") or ()]
            if applied.get("units") is not None:
                outputs.append(f"units={applied['units']}")
            parts.append(f"{applied['ruleset']} → {', '.join(outputs) or 'matched'}")
        return (self.name(e.item), f"classified: {'; '.join(parts)}") if parts else None

    def _routed(self, e: Event, b: Batch) -> Line:
        rule, reason = e.data.get("rule"), str(e.data.get("reason") or "")
        if rule is None:
            fallback = "" if reason.startswith("callback for") else "fallback "
            return self.name(e.item), f"routed to {fallback}{e.queue} ({self.rename(reason)})"
        ws = b.engine.config.workstreams.get(b.engine.item(e.item or "").workstream)
        rules = ws.route_to_queue if ws is not None else []
        why = f"rule {rule}"
        if isinstance(rule, int) and rule < len(rules):
            why += f": {_rule_text(rules[rule])}"
        if reason != "matched":
            why += f"; {reason.removeprefix('matched; ')}"
        return self.name(e.item), f"routed to {e.queue} ({why})"

    def _overflowed(self, e: Event, b: Batch) -> Line:
        condition = _CONDITIONS.get(str(e.data.get("condition")), str(e.data.get("condition")))
        action, target = str(e.data.get("action")), e.data.get("target")
        outcome = {
            "transfer": f"moved to {target}",
            "callback": f"callback in {target}",
            "end": "ended",
            "assign_anyway": "queued anyway",
        }.get(action, action)
        text = f"overflow in {e.queue} ({condition}) → {outcome}"
        return self.name(e.item), self.style(text, fg="yellow")

    def _queued(self, e: Event, b: Batch) -> Line | None:
        moves = (ET.OFFER_MADE, ET.ITEM_ASSIGNED, ET.ITEM_CLOSED, ET.ITEM_OVERFLOWED)
        if any(later.type in moves for later in b.after(e.item)):
            return None
        item = b.engine.item(e.item or "")
        ws = b.engine.config.workstreams.get(item.workstream)
        if ws is not None and ws.mode is model.Mode.PICK:
            return self.name(e.item), f"waits in {e.queue} to be picked"
        decision = _decision(b.engine, e, winner=None)
        excluded = _excluded(decision) if decision is not None else ""
        why = f" (nobody can take it: {excluded})" if excluded else ""
        return self.name(e.item), f"waits in {e.queue}{why}"

    def _offer_made(self, e: Event, b: Batch) -> Line:
        return self.name(e.item), f"offered to {e.agent} ({self._why(e, b)})"

    def _why(self, e: Event, b: Batch) -> str:
        """Why the engine chose this agent, from the item's trace (R43)."""
        ident, agent = e.item or "", e.agent or ""
        if self.affinity.get(ident) == agent:
            return "affinity: back to its last agent, R29"
        cause = b.cause
        if isinstance(cause, actions.Transfer) and cause.agent == agent:
            return "transfer to this agent"
        decision = _decision(b.engine, e, winner=agent)
        if decision is None:
            return "direct"
        if decision.get("trigger") == "agent":
            return f"{agent} can take work again: next in line for {agent}"
        queue = b.engine.config.queues.get(e.queue or "")
        parts = [queue.assignment.method.value if queue is not None else "?"]
        spec = self.scenario.items.get(self.name(ident))
        if spec is not None and agent in spec.preferred_agents:
            parts[0] = "preferred agent, R30"
        candidates = len(decision.get("candidates") or ())
        parts.append(f"{candidates} candidate{'s' if candidates != 1 else ''}")
        excluded = _excluded(decision)
        if excluded:
            parts.append(f"excluded: {excluded}")
        return "; ".join(parts)

    def _accepted(self, e: Event, b: Batch) -> Line:
        for later in b.after(e.item):
            if later.type is ET.ITEM_ASSIGNED:
                b.skip.add(later.seq)
                break
        waited = e.t - b.engine.offer(e.offer or "").made_at
        return (
            e.agent or "?",
            f"accepted {self.name(e.item)} after {durations.format_duration(waited)}",
        )

    def _assigned(self, e: Event, b: Batch) -> Line:
        name, agent = self.name(e.item), e.agent or "?"
        self.affinity.pop(e.item or "", None)
        if isinstance(b.cause, actions.Pick):
            return agent, f"picked {name} from {e.queue}"
        if e.data.get("forced"):
            return name, f"force-assigned to {agent} (supervisor, R31)"
        previous = b.previous()
        if previous is not None and previous.type is ET.OFFER_EXPIRED and previous.item == e.item:
            return name, f"assigned to {agent} (the offer expired and cannot be declined, R27)"
        return name, f"assigned to {agent} (auto-accept; {self._why(e, b)})"

    def _declined(self, e: Event, b: Batch) -> Line:
        reason = f" ({e.data['reason']})" if e.data.get("reason") else ""
        return e.agent or "?", f"declined {self.name(e.item)}{reason} → {self._next(e, b)}"

    def _expired(self, e: Event, b: Batch) -> Line:
        return e.agent or "?", f"let the offer of {self.name(e.item)} expire → {self._next(e, b)}"

    def _next(self, e: Event, b: Batch) -> str:
        """Where the item goes after a decline or an expiry (R25)."""
        for later in b.after(e.item):
            if later.type is ET.OFFER_MADE:
                return f"back in {e.queue}, {later.agent} next"
            if later.type is ET.ITEM_ASSIGNED:
                return f"{later.agent} takes it"
            if later.type is ET.ITEM_CLOSED:
                return "closed"
        return f"back in {e.queue}, waiting"

    def _withdrawn(self, e: Event, b: Batch) -> Line:
        return self.name(e.item), f"offer to {e.agent} withdrawn"

    def _wrap_up(self, e: Event, b: Batch) -> Line:
        return e.agent or "?", f"wraps up {self.name(e.item)}"

    def _parked(self, e: Event, b: Batch) -> Line:
        return self.name(
            e.item
        ), f"parked by {e.agent}: waiting for the customer, capacity released"

    def _resumed(self, e: Event, b: Batch) -> Line:
        affinity = e.data.get("affinity")
        if affinity:
            self.affinity[e.item or ""] = str(affinity)
            return self.name(
                e.item
            ), f"the customer wrote again → back to {affinity} first (affinity)"
        return self.name(e.item), "the customer wrote again → routed normally"

    def _transferred(self, e: Event, b: Batch) -> Line | None:
        previous = b.previous()
        if previous is not None and previous.type is ET.ITEM_OVERFLOWED and previous.item == e.item:
            return None
        source, target = e.data.get("from"), e.data.get("to")
        text = f"transferred to {target}" + (f" (from {source})" if source else "")
        return self.name(e.item), text

    def _closed(self, e: Event, b: Batch) -> Line:
        reason = str(e.data.get("reason"))
        text = _CLOSED.get(reason, f"closed: {reason}")
        if reason == "completed" and e.agent:
            text += f" by {e.agent}"
        return self.name(e.item), text

    def _presence(self, e: Event, b: Batch) -> Line | None:
        agent, presence = e.agent or "?", str(e.data.get("presence"))
        label = f" ({e.data['label']})" if e.data.get("label") else ""
        cause = b.cause
        if isinstance(cause, actions.SetPresence) and cause.agent == agent:
            return agent, f"sets presence {presence}{label}"
        if _penalty(b, agent) == presence:
            return agent, self.style(f"is now {presence} (penalty, R26)", fg="yellow")
        if presence in ("inactive", "offline") and b.cause is not None:
            return agent, f"is now {presence}"
        return None

    def _connection(self, e: Event, b: Batch) -> Line:
        agent = e.agent or "?"
        later = b.events[b.position + 1 :]
        changes = (x for x in later if x.type is ET.PRESENCE_CHANGED and x.agent == agent)
        presence = next(changes, None)
        if presence is not None:
            b.skip.add(presence.seq)
        if e.type is ET.AGENT_DISCONNECTED:
            return agent, "connection dropped → offline (presence kept for 150 s, R35)"
        now = f" → {presence.data.get('presence')}" if presence is not None else ""
        return agent, f"reconnected{now}"

    def _config(self, e: Event, b: Batch) -> Line | None:
        version = e.data.get("version")
        return None if version == 1 else ("config", f"configuration version {version} applied")


_HANDLERS: dict[EventType, Callable[[Phrases, Event, Batch], Line | None]] = {
    ET.ITEM_CREATED: Phrases._created,
    ET.ITEM_SCHEDULED: Phrases._scheduled,
    ET.ITEM_CLASSIFIED: Phrases._classified,
    ET.ITEM_ROUTED: Phrases._routed,
    ET.ITEM_OVERFLOWED: Phrases._overflowed,
    ET.ITEM_QUEUED: Phrases._queued,
    ET.OFFER_MADE: Phrases._offer_made,
    ET.OFFER_ACCEPTED: Phrases._accepted,
    ET.OFFER_DECLINED: Phrases._declined,
    ET.OFFER_EXPIRED: Phrases._expired,
    ET.OFFER_WITHDRAWN: Phrases._withdrawn,
    ET.ITEM_ASSIGNED: Phrases._assigned,
    ET.ITEM_WRAP_UP: Phrases._wrap_up,
    ET.ITEM_PARKED: Phrases._parked,
    ET.ITEM_RESUMED: Phrases._resumed,
    ET.ITEM_TRANSFERRED: Phrases._transferred,
    ET.ITEM_CLOSED: Phrases._closed,
    ET.PRESENCE_CHANGED: Phrases._presence,
    ET.AGENT_CONNECTED: Phrases._connection,
    ET.AGENT_DISCONNECTED: Phrases._connection,
    ET.CONFIG_APPLIED: Phrases._config,
}


def _decision(engine: Engine, e: Event, *, winner: str | None) -> Mapping[str, Any] | None:
    """The item's assignment decision at this event's time with this winner, from its trace."""
    for entry in reversed(engine.item(e.item or "").trace):
        if entry.get("t") != e.t:
            return None
        if entry.get("stage") == "assign" and entry.get("winner") == winner:
            found: Mapping[str, Any] = entry
            return found
    return None


def _excluded(decision: Mapping[str, Any]) -> str:
    """``1 presence, 2 skill`` from a decision's exclusion counts."""
    excluded = decision.get("excluded") or {}
    return ", ".join(f"{info['count']} {reason}" for reason, info in excluded.items())


def _rule_text(rule: model.RouteRule) -> str:
    if rule.split:
        condition = "" if rule.when.strip() == "true" else f"{rule.when} → "
        shares = " / ".join(f"{queue} {share}%" for queue, share in rule.split.items())
        return f"{condition}split {shares}"
    return "always" if rule.when.strip() == "true" else str(rule.when)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _penalty(b: Batch, agent: str) -> str | None:
    """The presence penalty (R26) the agent's offer refusal just before this event carries."""
    previous = b.previous()
    if previous is None or previous.agent != agent or previous.item is None:
        return None
    ws = b.engine.config.workstreams.get(b.engine.item(previous.item).workstream)
    if ws is None:
        return None
    if previous.type is ET.OFFER_EXPIRED:
        return ws.offer.on_expiry_presence
    if previous.type is ET.OFFER_DECLINED:
        return ws.offer.on_decline_presence
    return None
