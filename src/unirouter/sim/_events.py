"""The grammar of a scenario's ``events:`` list (SPEC §7), one builder per kind of action.

An event is a mapping with ``at`` (a duration from the start) and exactly one action key
(``accept``, ``transfer``, …) plus that action's own fields. Names are checked against every
configuration the scenario uses (the first and any ``{config: ...}`` event), so a misspelt agent,
queue or item is reported with its path before anything runs; whether the engine accepts the
action at its moment is only known while running (and reported in the run's ``errors``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from unirouter.config import model
from unirouter.engine.state import CloseReason
from unirouter.sim import _checks, actions

__all__ = ["ACTION_KEYS", "EventParser"]

Loc = _checks.Loc
ConfigReader = Callable[[object, Loc], tuple[model.Config | None, str]]

#: Each action key, with the fields it needs and the fields it may have.
_SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "presence": (("agent",), ("label",)),
    "item": ((), ()),
    "accept": (("agent",), ()),
    "decline": (("agent",), ("reason",)),
    "pick": (("agent",), ()),
    "complete": ((), ()),
    "close": ((), ()),
    "park": ((), ()),
    "resume": ((), ()),
    "cancel": ((), ("reason",)),
    "transfer": ((), ("queue", "agent")),
    "assign": (("agent",), ()),
    "disconnect": (("agent",), ()),
    "reconnect": (("agent",), ()),
    "config": ((), ()),
}
ACTION_KEYS = tuple(_SHAPES)
_ITEM_KEYS = (
    "id", "workstream", "channel", "attributes", "customer", "priority", "skills", "units",
    "profiles", "available_at", "callback_at", "due_at", "ttl_s", "preferred_agents", "phone",
    "handle_s", "wrap_up_s",
)  # fmt: skip
_SETTABLE = tuple(p.value for p in model.BasePresence if p is not model.BasePresence.INACTIVE)
_SIMPLE: dict[str, type[actions.Complete | actions.Close | actions.Park | actions.Resume]] = {
    "complete": actions.Complete,
    "close": actions.Close,
    "park": actions.Park,
    "resume": actions.Resume,
}


class _Names:
    """Every agent, queue, workstream, skill and profile name the scenario's configurations know."""

    def __init__(self, configs: Sequence[model.Config]) -> None:
        self.known = bool(configs)
        self.agents = sorted({a for c in configs for a in c.agents})
        self.queues = sorted({q for c in configs for q in c.queues})
        self.workstreams = sorted({w for c in configs for w in c.workstreams})
        self.skills = sorted({s for c in configs for s in c.skills})
        self.profiles = sorted({p for c in configs for p in c.capacity_profiles})


class EventParser:
    """Builds the actions of ``events:``; problems go to the shared checker's issues."""

    def __init__(
        self,
        check: _checks.Checker,
        config: model.Config | None,
        start: datetime,
        read: ConfigReader,
    ) -> None:
        self.check = check
        self.config = config
        self.start = start
        self.read_config = read
        self.configs: dict[int, tuple[model.Config | None, str]] = {}
        self.defined: dict[str, str] = {}
        self.names = _Names([])

    def parse_all(self, entries: list[Any]) -> list[actions.Action]:
        """Every event's action, in the order written (``at`` orders them later)."""
        self._read_configs(entries)
        self._define_items(entries)
        built = (self._event(index, entry) for index, entry in enumerate(entries))
        return [action for action in built if action is not None]

    # -- first passes: configurations and item names --------------------------------------------

    def _read_configs(self, entries: list[Any]) -> None:
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and "config" in entry:
                self.configs[index] = self.read_config(entry["config"], ("events", index, "config"))
        everything = [self.config, *(config for config, _ in self.configs.values())]
        if all(config is not None for config in everything):
            self.names = _Names([c for c in everything if c is not None])

    def _define_items(self, entries: list[Any]) -> None:
        """Item ids are scenario-wide names; a repeat must name the same workstream (idempotent)."""
        for index, entry in enumerate(entries):
            item = entry.get("item") if isinstance(entry, dict) else None
            if not isinstance(item, dict) or "id" not in item:
                continue
            ident, workstream = str(item["id"]), str(item.get("workstream"))
            first = self.defined.setdefault(ident, workstream)
            if first != workstream:
                loc = ("events", index, "item", "id")
                self.check.issue(loc, f"item {ident!r} is already defined on workstream {first!r}")

    # -- one event --------------------------------------------------------------------------------------

    def _event(self, index: int, entry: object) -> actions.Action | None:
        loc: Loc = ("events", index)
        if not isinstance(entry, dict):
            self.check.issue(loc, "must be a mapping such as {at: 30s, complete: chat-1}")
            return None
        kind = self._kind(entry, loc)
        if kind is None:
            return None
        needed, optional = _SHAPES[kind]
        for key in entry:
            if key not in ("at", kind, *needed, *optional):
                allowed = ["at", kind, *needed, *optional]
                self.check.issue(
                    (*loc, key), f"{_checks.unknown(key, allowed)} (in a {kind} event)"
                )
        for key in ("at", *needed):
            if key not in entry:
                self.check.issue((*loc, key), f"this required field of a {kind} event is missing")
        at = (self.check.seconds(entry["at"], (*loc, "at")) if "at" in entry else None) or 0.0
        if kind in _SIMPLE:  # an action that names only an item
            return _SIMPLE[kind](at=at, index=index, item=self._ref(entry, loc, kind))
        build: Callable[[dict[str, Any], Loc, float, int], actions.Action | None]
        build = getattr(self, f"_{kind}")
        return build(entry, loc, at, index)

    def _kind(self, entry: dict[str, Any], loc: Loc) -> str | None:
        kinds = [key for key in entry if key in _SHAPES]
        if len(kinds) == 1:
            return kinds[0]
        if kinds:
            listed = ", ".join(kinds)
            self.check.issue(
                loc, f"holds {len(kinds)} actions ({listed}); write one action per event"
            )
            return None
        strays = [key for key in entry if key not in ("at", "agent", "reason", "queue", "label")]
        close = [(k, difflib.get_close_matches(k, ACTION_KEYS, n=1)) for k in strays]
        for key, match in close:
            if match:
                self.check.issue((*loc, key), f"unknown action {key!r}; did you mean {match[0]!r}?")
                return None
        self.check.issue(loc, f"names no action; expected one of {', '.join(ACTION_KEYS)}")
        return None

    # -- builders, one per action key -------------------------------------------------------------------

    def _presence(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        value = e["presence"]
        presence = model.BasePresence.AVAILABLE
        if value == model.BasePresence.INACTIVE.value:
            self.check.issue((*loc, "presence"), "inactive is set by the system only (R32)")
        elif value not in _SETTABLE:
            self.check.issue(
                (*loc, "presence"), f"must be one of {', '.join(_SETTABLE)}, not {value!r}"
            )
        else:
            presence = model.BasePresence(value)
        label = self.check.text(e["label"], (*loc, "label")) if "label" in e else None
        agent = self._agent(e.get("agent"), (*loc, "agent"))
        return actions.SetPresence(at=at, index=index, agent=agent, presence=presence, label=label)

    def _item(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        spec = _ItemReader(self, (*loc, "item")).spec(e["item"])
        return actions.Submit(at=at, index=index, item=spec)

    def _accept(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        agent, item = self._agent(e.get("agent"), (*loc, "agent")), self._ref(e, loc, "accept")
        return actions.Accept(at=at, index=index, agent=agent, item=item)

    def _decline(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        agent, item = self._agent(e.get("agent"), (*loc, "agent")), self._ref(e, loc, "decline")
        reason = self.check.text(e["reason"], (*loc, "reason")) if "reason" in e else None
        return actions.Decline(at=at, index=index, agent=agent, item=item, reason=reason)

    def _pick(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        agent, item = self._agent(e.get("agent"), (*loc, "agent")), self._ref(e, loc, "pick")
        return actions.Pick(at=at, index=index, agent=agent, item=item)

    def _cancel(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        reason = CloseReason.ABANDONED
        if "reason" in e:
            allowed = (CloseReason.ABANDONED.value, CloseReason.CANCELLED.value)
            if e["reason"] in allowed:
                reason = CloseReason(e["reason"])
            else:
                self.check.issue(
                    (*loc, "reason"), f"must be abandoned or cancelled, not {e['reason']!r}"
                )
        return actions.Cancel(at=at, index=index, item=self._ref(e, loc, "cancel"), reason=reason)

    def _transfer(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        item = self._ref(e, loc, "transfer")
        if ("queue" in e) == ("agent" in e):
            self.check.issue(loc, "a transfer names exactly one target: queue or agent")
        queue = self._queue(e["queue"], (*loc, "queue")) if "queue" in e else None
        agent = self._agent(e["agent"], (*loc, "agent")) if "agent" in e else None
        return actions.Transfer(at=at, index=index, item=item, queue=queue, agent=agent)

    def _assign(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        agent, item = self._agent(e.get("agent"), (*loc, "agent")), self._ref(e, loc, "assign")
        return actions.Assign(at=at, index=index, item=item, agent=agent)

    def _disconnect(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        self._true(e, loc, "disconnect")
        return actions.Disconnect(
            at=at, index=index, agent=self._agent(e.get("agent"), (*loc, "agent"))
        )

    def _reconnect(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action:
        self._true(e, loc, "reconnect")
        return actions.Reconnect(
            at=at, index=index, agent=self._agent(e.get("agent"), (*loc, "agent"))
        )

    def _config(self, e: dict[str, Any], loc: Loc, at: float, index: int) -> actions.Action | None:
        config, source = self.configs.get(index, (None, ""))
        if config is None:
            return None
        return actions.ApplyConfig(at=at, index=index, config=config, source=source)

    # -- names ------------------------------------------------------------------------------------------

    def _true(self, e: dict[str, Any], loc: Loc, key: str) -> None:
        if e[key] is not True:
            self.check.issue((*loc, key), f"must be true, not {_checks.describe(e[key])}")

    def _ref(self, e: dict[str, Any], loc: Loc, key: str) -> str:
        """An item named by the id of an ``{item: ...}`` event (or ``ID:callback``, R12)."""
        ref = self.check.text(e[key], (*loc, key))
        base = ref.removesuffix(":callback")
        if ref and ref not in self.defined and base not in self.defined:
            self.unknown_name(
                (*loc, key),
                "item",
                ref,
                list(self.defined),
                "; items are named by an {item: {id: ...}} event",
            )
        return ref

    def _agent(self, value: object, loc: Loc) -> str:
        if value is None:
            return ""
        name = self.check.text(value, loc)
        if name and self.names.known and name not in self.names.agents:
            self.unknown_name(loc, "agent", name, self.names.agents)
        return name

    def _queue(self, value: object, loc: Loc) -> str:
        name = self.check.text(value, loc)
        if name and self.names.known and name not in self.names.queues:
            self.unknown_name(loc, "queue", name, self.names.queues)
        return name

    def skills(self, value: object, loc: Loc) -> tuple[model.SkillReq, ...]:
        """Skill requirements written as an item's ``skills`` (for generated arrivals too)."""
        return _ItemReader(self, loc).skills(value, loc)

    def priority(self, value: object, loc: Loc) -> int:
        """An item priority, as an item's ``priority``."""
        return _ItemReader(self, loc).priority(value, loc)

    def unknown_name(
        self, loc: Loc, what: str, name: str, known: Sequence[str], tail: str = ""
    ) -> None:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else tail
        self.check.issue(loc, f"unknown {what} {name!r}{hint}")


class _ItemReader:
    """The ``{item: {...}}`` mapping of one event as an :class:`~unirouter.sim.actions.ItemSpec`."""

    def __init__(self, events: EventParser, loc: Loc) -> None:
        self.events = events
        self.check = events.check
        self.names = events.names
        self.loc = loc

    def spec(self, value: object) -> actions.ItemSpec:
        data = self.check.mapping(value, self.loc)
        for key in data:
            if key not in _ITEM_KEYS:
                self.check.issue((*self.loc, key), _checks.unknown(key, _ITEM_KEYS))
        for key in ("id", "workstream"):
            if key not in data and isinstance(value, dict):
                self.check.issue((*self.loc, key), "this required field of an item is missing")
        get = self._reader(data)
        return actions.ItemSpec(
            id=get("id", self._text) or "",
            workstream=get("workstream", self._workstream) or "",
            channel=get("channel", self._text),
            attributes=get("attributes", self.check.mapping) or {},
            customer=get("customer", self.check.mapping) or {},
            priority=get("priority", self.priority),
            skills=get("skills", self.skills) or (),
            units=get("units", self._units),
            profiles=get("profiles", self._profiles) or (),
            available_at=get("available_at", self._time),
            callback_at=get("callback_at", self._time),
            due_at=get("due_at", self._time),
            ttl_s=get("ttl_s", self.check.seconds),
            preferred_agents=get("preferred_agents", self._agents) or (),
            phone=get("phone", self._text),
            handle_s=get("handle_s", self.check.seconds),
            wrap_up_s=get("wrap_up_s", self.check.seconds),
        )

    def _reader(self, data: dict[str, Any]) -> Callable[[str, Callable[[Any, Loc], Any]], Any]:
        def get(key: str, read: Callable[[Any, Loc], Any]) -> Any:
            return read(data[key], (*self.loc, key)) if key in data else None

        return get

    def _text(self, value: object, loc: Loc) -> str:
        return self.check.text(value, loc)

    def _workstream(self, value: object, loc: Loc) -> str:
        name = self.check.text(value, loc)
        if name and self.names.known and name not in self.names.workstreams:
            self.events.unknown_name(loc, "workstream", name, self.names.workstreams)
        return name

    def priority(self, value: object, loc: Loc) -> int:
        return self.check.integer(value, loc, low=0, high=model.MAX_PRIORITY)

    def _units(self, value: object, loc: Loc) -> int:
        return self.check.integer(value, loc, low=0, high=1_000_000)

    def _time(self, value: object, loc: Loc) -> float | None:
        """A time field: a duration from the start (``5m``), or an ISO datetime."""
        if isinstance(value, str) and not _checks.is_duration(value):
            value = _checks.as_iso(value) or value
        if isinstance(value, date):
            moment = self.check.moment(value, loc)
            if moment is None:
                return None
            seconds = (moment - self.events.start).total_seconds()
            if seconds < 0:
                self.check.issue(loc, "is before the scenario's start")
            return max(seconds, 0.0)
        return self.check.seconds(value, loc)

    def skills(self, value: object, loc: Loc) -> tuple[model.SkillReq, ...]:
        """``[{name, level?, optional?}, ...]`` or the short form ``{name: level}``."""
        if isinstance(value, dict):
            value = [{"name": name, "level": level} for name, level in value.items()]
        if not isinstance(value, list):
            self.check.issue(loc, "must be a list of {name, level} or a mapping of name to level")
            return ()
        return tuple(self._skill(entry, (*loc, i)) for i, entry in enumerate(value))

    def _skill(self, value: object, loc: Loc) -> model.SkillReq:
        data = self.check.mapping(value, loc)
        self.check.only_keys(data, ("name", "level", "optional"), loc)
        name = self.check.text(data.get("name"), (*loc, "name"))
        if name and self.names.known and name not in self.names.skills:
            self.events.unknown_name((*loc, "name"), "skill", name, self.names.skills)
        level = self.check.integer(data.get("level", 1), (*loc, "level"), low=1, high=1000)
        optional = self.check.flag(data.get("optional", False), (*loc, "optional"))
        return model.SkillReq(name=name, level=max(level, 1), optional=optional)

    def _profiles(self, value: object, loc: Loc) -> tuple[str, ...]:
        names = self.check.texts(value, loc)
        for index, name in enumerate(names):
            if name and self.names.known and name not in self.names.profiles:
                self.events.unknown_name(
                    (*loc, index), "capacity profile", name, self.names.profiles
                )
        return names

    def _agents(self, value: object, loc: Loc) -> tuple[str, ...]:
        names = self.check.texts(value, loc)
        for index, name in enumerate(names):
            if name and self.names.known and name not in self.names.agents:
                self.events.unknown_name((*loc, index), "agent", name, self.names.agents)
        return names
