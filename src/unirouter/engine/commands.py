"""The command vocabulary: one frozen record per thing that can be asked of an engine (SPEC §6.1).

The simulator, the server's log and the replay all speak it. A record runs on an engine with
:func:`execute` (each record's ``run`` calls the one :class:`~unirouter.engine.Engine` method it
names), and it is logged as JSON with :meth:`Record.to_dict`, ``{"op": NAME, "args": {...}}``: the
``op`` names and the ``args`` keys are those the server's log has always held, so every log ever
written decodes with :meth:`Record.from_dict` (or :func:`decode`) into the same records. The server
adds ``t`` (the engine time it ran at), ``actor`` and ``refused`` beside them; a decoder reads
``op`` and ``args`` only.

Besides the engine's commands the log holds three records of its own: :class:`Init` (the
configuration a log starts with; it builds an engine rather than running on one), :class:`Message`
(a conversation message, which resumes a parked conversation when the customer writes) and
:class:`Channel` (the channels' bookkeeping, which the engine never reads).

In ``args`` an absent optional field and ``null`` mean the same (its default); :meth:`to_dict`
leaves out the fields that are None. A record that does not decode raises
:class:`~unirouter.errors.InvalidCommand` with ``field`` naming the argument (``args.priority``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from unirouter import errors
from unirouter.config import model
from unirouter.engine.state import CloseReason

if TYPE_CHECKING:
    from unirouter.engine.engine import Engine

__all__ = [
    "OPS",
    "Accept",
    "Advance",
    "ApplyConfig",
    "Cancel",
    "Channel",
    "Close",
    "Command",
    "Complete",
    "Decline",
    "Disconnect",
    "ForceAssign",
    "Init",
    "Message",
    "Park",
    "Pick",
    "Reconnect",
    "Record",
    "Resume",
    "SetPresence",
    "Submit",
    "Transfer",
    "UpdateItem",
    "WrapUp",
    "decode",
    "execute",
]

R = TypeVar("R", bound="Record")

# -- argument codecs ---------------------------------------------------------------------------------
# A codec turns one JSON argument into the record's value (``decode(value, name)``, raising
# InvalidCommand naming ``args.NAME``) and back (``encode``). None is handled before either is
# called. They sit on every command the server runs and replays: type checks, no copies.


def _bad(where: str, wanted: str, value: object) -> errors.InvalidCommand:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return errors.InvalidCommand(f"{where} must be {wanted}, not {shown}", field=where)


def _text(value: object, name: str) -> str:
    if type(value) is not str and not isinstance(value, str):
        raise _bad(f"args.{name}", "a string", value)
    return value


def _integer(value: object, name: str) -> int:
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(f"args.{name}", "an integer", value)
    return value


def _number(value: object, name: str) -> float:
    kind = type(value)
    if (
        kind is not float
        and kind is not int
        and (isinstance(value, bool) or not isinstance(value, (int, float)))
    ):
        raise _bad(f"args.{name}", "a number", value)
    return value  # type: ignore[return-value]  # an int or a float, as JSON has it


def _flag(value: object, name: str) -> bool:
    if value is not True and value is not False:
        raise _bad(f"args.{name}", "true or false", value)
    return value


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"args.{name}", "an object", value)
    return value


def _names(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise _bad(f"args.{name}", "a list of strings", value)
    for index, each in enumerate(value):
        if not isinstance(each, str):
            raise _bad(f"args.{name}[{index}]", "a string", each)
    return tuple(value)


def _skills(value: object, name: str) -> tuple[model.SkillReq, ...]:
    if not isinstance(value, (list, tuple)):
        raise _bad(f"args.{name}", "a list of skills", value)
    out = []
    for index, skill in enumerate(value):
        if isinstance(skill, model.SkillReq):
            out.append(skill)
            continue
        try:
            out.append(model.SkillReq.model_validate(skill))
        except ValueError as exc:
            where = f"args.{name}[{index}]"
            raise errors.InvalidCommand(f"{where} is not a skill: {exc}", field=where) from None
    return tuple(out)


def _presence(value: object, name: str) -> model.BasePresence:
    try:
        return model.BasePresence(cast(str, value))
    except ValueError:
        names = ", ".join(p.value for p in model.BasePresence)
        raise _bad(f"args.{name}", f"one of {names}", value) from None


def _reason(value: object, name: str) -> CloseReason:
    try:
        return CloseReason(cast(str, value))
    except ValueError:
        names = ", ".join(r.value for r in CloseReason)
        raise _bad(f"args.{name}", f"one of {names}", value) from None


def _config(value: object, name: str) -> model.Config:
    from unirouter import config as configuration

    if isinstance(value, model.Config):
        return value
    # The edges check a new configuration's text and numbers (issue 17); a replay re-runs what
    # an older build logged, which must still decode. A bad one raises ConfigError (every issue).
    return configuration.validate(value, check_values=False)


def _same(value: Any) -> Any:
    return value


def _listed(value: tuple[Any, ...]) -> list[Any]:
    return list(value)


def _enum(value: Any) -> Any:
    return value.value


def _skill_dicts(value: tuple[model.SkillReq, ...]) -> list[dict[str, Any]]:
    return [skill.model_dump(mode="json") for skill in value]


def _config_dict(value: model.Config) -> dict[str, Any]:
    return value.model_dump(mode="json", warnings=False)


class _Codec:
    __slots__ = ("decode", "encode", "required")

    def __init__(
        self,
        decode: Callable[[object, str], Any],
        encode: Callable[[Any], Any] = _same,
        *,
        required: bool = False,
    ) -> None:
        self.decode, self.encode, self.required = decode, encode, required


TEXT = _Codec(_text)
NAME = _Codec(_text, required=True)
INT = _Codec(_integer)
NUMBER = _Codec(_number)
FLAG = _Codec(_flag)
OBJECT = _Codec(_object)
NAMES = _Codec(_names, _listed)
SKILLS = _Codec(_skills, _skill_dicts)
PRESENCE = _Codec(_presence, _enum, required=True)
REASON = _Codec(_reason, _enum)
CONFIG = _Codec(_config, _config_dict, required=True)


# -- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One record of the vocabulary: its ``op`` and its arguments, as the log holds them."""

    #: The record's name in the log (``"submit"``, ``"assign"``, …).
    op: ClassVar[str] = ""
    #: The codec of each argument, in the order :meth:`args` writes them.
    codecs: ClassVar[dict[str, _Codec]] = {}
    #: The arguments a record of this kind cannot do without.
    required: ClassVar[tuple[str, ...]] = ()
    #: Each argument's decoder (the codecs', looked up once per argument).
    decoders: ClassVar[dict[str, Callable[[object, str], Any]]] = {}

    def args(self) -> dict[str, Any]:
        """The JSON arguments: every field that is not None, as the log holds it."""
        out: dict[str, Any] = {}
        for name, codec in self.codecs.items():
            value = getattr(self, name)
            if value is not None:
                out[name] = codec.encode(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``{"op": ..., "args": {...}}`` (the log adds ``t`` and the rest)."""
        return {"op": self.op, "args": self.args()}

    @classmethod
    def from_args(cls: type[R], args: Mapping[str, Any]) -> R:
        """The record of this kind ``args`` describe; :class:`~unirouter.errors.InvalidCommand`
        naming the argument when one is missing, unknown or of the wrong type."""
        if type(args) is not dict and not isinstance(args, Mapping):
            raise _bad("args", "an object", args)
        decoders = cls.decoders
        values: dict[str, Any] = {}
        try:
            for name, value in args.items():
                decode = decoders[name]
                if value is not None:
                    values[name] = decode(value, name)
            return cls(**values)
        except (KeyError, TypeError):  # an unknown argument, a required one missing
            raise cls._flaw(args, values) from None
        except errors.InvalidCommand as exc:
            raise errors.InvalidCommand(f"{cls.op}: {exc.message}", **exc.fields) from None

    @classmethod
    def _flaw(cls, args: Mapping[str, Any], values: dict[str, Any]) -> errors.InvalidCommand:
        """What :meth:`from_args` found missing or unknown (worked out only once it failed)."""
        for name in args:
            if name not in cls.codecs:
                known = ", ".join(cls.codecs) or "none"
                return errors.InvalidCommand(f"{cls.op} takes no argument {name!r} (it takes: "
                                             f"{known})", field=f"args.{name}")  # fmt: skip
        missing = next((name for name in cls.required if name not in values), "args")
        return errors.InvalidCommand(f"{cls.op} needs args.{missing}", field=f"args.{missing}")

    @classmethod
    def from_dict(cls: type[R], body: Mapping[str, Any]) -> R:
        """The record a JSON object ``{"op", "args", ...}`` describes (the inverse of
        :meth:`to_dict`; other keys such as ``t`` are ignored). On a subclass, the record must be
        of that kind."""
        if not isinstance(body, Mapping):
            raise _bad("record", "an object", body)
        op = body.get("op")
        if not isinstance(op, str) or op not in _KINDS:
            raise _bad("op", f"one of {', '.join(sorted(_KINDS))}", op)
        kind = _KINDS[op]
        if not issubclass(kind, cls):
            raise errors.InvalidCommand(f"{op} is not a {cls.__name__}", field="op")
        record = kind.from_args(body.get("args") or {})
        assert isinstance(record, cls)
        return record


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Record, abc.ABC):
    """A record that runs on an engine: :func:`execute`."""

    @abc.abstractmethod
    def run(self, engine: Engine) -> object:
        """Ask ``engine`` for this (its result, e.g. the item; refusals raise ``CommandError``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit(Command):
    """Intake of a work item (R1): :meth:`Engine.submit`."""

    op: ClassVar[str] = "submit"
    codecs: ClassVar[dict[str, _Codec]] = {
        "item_id": TEXT, "external_id": NAME, "workstream": NAME, "channel": TEXT,
        "attributes": OBJECT, "customer": OBJECT, "priority": INT, "skills": SKILLS,
        "units": INT, "profiles": NAMES, "available_at": NUMBER, "callback_at": NUMBER,
        "phone": TEXT, "due_at": NUMBER, "ttl_s": NUMBER, "preferred_agents": NAMES,
    }  # fmt: skip

    external_id: str
    workstream: str
    item_id: str | None = None
    channel: str | None = None
    attributes: dict[str, Any] | None = None
    customer: dict[str, Any] | None = None
    priority: int | None = None
    skills: tuple[model.SkillReq, ...] | None = None
    units: int | None = None
    profiles: tuple[str, ...] | None = None
    available_at: float | None = None
    callback_at: float | None = None
    phone: str | None = None
    due_at: float | None = None
    ttl_s: float | None = None
    preferred_agents: tuple[str, ...] | None = None

    def run(self, engine: Engine) -> object:
        return engine.submit(
            external_id=self.external_id,
            workstream=self.workstream,
            channel=self.channel,
            attributes=self.attributes,
            customer=self.customer,
            priority=self.priority,
            skills=None if self.skills is None else list(self.skills),
            units=self.units,
            profiles=None if self.profiles is None else list(self.profiles),
            available_at=self.available_at,
            callback_at=self.callback_at,
            phone=self.phone,
            due_at=self.due_at,
            ttl_s=self.ttl_s,
            preferred_agents=None if self.preferred_agents is None else list(self.preferred_agents),
            item_id=self.item_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateItem(Command):
    """Change a waiting item's attributes or priority (R7): :meth:`Engine.update_item`."""

    op: ClassVar[str] = "update"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "attributes": OBJECT, "priority": INT}

    item: str
    attributes: dict[str, Any] | None = None
    priority: int | None = None

    def run(self, engine: Engine) -> object:
        return engine.update_item(self.item, attributes=self.attributes, priority=self.priority)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel(Command):
    """The customer left (``abandoned``, R40) or the item is called off: :meth:`Engine.cancel`."""

    op: ClassVar[str] = "cancel"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "reason": REASON}

    item: str
    reason: CloseReason = CloseReason.ABANDONED

    def run(self, engine: Engine) -> object:
        return engine.cancel(self.item, reason=self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept(Command):
    """Accept an open offer (R24): :meth:`Engine.accept`."""

    op: ClassVar[str] = "accept"
    codecs: ClassVar[dict[str, _Codec]] = {"offer": NAME, "agent": NAME}

    offer: str
    agent: str

    def run(self, engine: Engine) -> object:
        return engine.accept(self.offer, agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decline(Command):
    """Decline an open offer (R25): :meth:`Engine.decline`."""

    op: ClassVar[str] = "decline"
    codecs: ClassVar[dict[str, _Codec]] = {"offer": NAME, "agent": NAME, "reason": TEXT}

    offer: str
    agent: str
    reason: str | None = None

    def run(self, engine: Engine) -> object:
        return engine.decline(self.offer, agent=self.agent, reason=self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pick(Command):
    """Claim a waiting item (R28): :meth:`Engine.pick`."""

    op: ClassVar[str] = "pick"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "agent": NAME}

    item: str
    agent: str

    def run(self, engine: Engine) -> object:
        return engine.pick(self.item, agent=self.agent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Complete(Command):
    """Finish the conversation, into wrap-up or closed (R33): :meth:`Engine.complete`. ``code``
    is the wrap-up code, for the reports (the engine does not read it)."""

    op: ClassVar[str] = "complete"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "wrap_up": FLAG, "code": TEXT}

    item: str
    wrap_up: bool = True
    code: str | None = None

    def run(self, engine: Engine) -> object:
        return engine.complete(self.item, wrap_up=self.wrap_up)


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUp(Command):
    """Enter wrap-up (R33): :meth:`Engine.wrap_up`; ``code`` as for :class:`Complete`."""

    op: ClassVar[str] = "wrap_up"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "code": TEXT}

    item: str
    code: str | None = None

    def run(self, engine: Engine) -> object:
        return engine.wrap_up(self.item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Close(Command):
    """Close a worked item as completed: :meth:`Engine.close`; ``code`` as for :class:`Complete`."""

    op: ClassVar[str] = "close"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "code": TEXT}

    item: str
    code: str | None = None

    def run(self, engine: Engine) -> object:
        return engine.close(self.item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Park(Command):
    """Park an async conversation (R34): :meth:`Engine.park`."""

    op: ClassVar[str] = "park"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME}

    item: str

    def run(self, engine: Engine) -> object:
        return engine.park(self.item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume(Command):
    """The customer wrote again (R29): :meth:`Engine.resume`."""

    op: ClassVar[str] = "resume"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME}

    item: str

    def run(self, engine: Engine) -> object:
        return engine.resume(self.item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Command):
    """To another queue or to one agent (R31): :meth:`Engine.transfer`; ``by`` names who asked."""

    op: ClassVar[str] = "transfer"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "queue": TEXT, "agent": TEXT, "by": TEXT}

    item: str
    queue: str | None = None
    agent: str | None = None
    by: str | None = None

    def run(self, engine: Engine) -> object:
        return engine.transfer(self.item, queue=self.queue, agent=self.agent, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForceAssign(Command):
    """Supervisor force-assign (R31): :meth:`Engine.force_assign`; ``by`` names who asked."""

    op: ClassVar[str] = "assign"
    codecs: ClassVar[dict[str, _Codec]] = {"item": NAME, "agent": NAME, "by": TEXT}

    item: str
    agent: str
    by: str | None = None

    def run(self, engine: Engine) -> object:
        return engine.force_assign(self.item, agent=self.agent, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPresence(Command):
    """A manual presence (R32): :meth:`Engine.set_presence`."""

    op: ClassVar[str] = "presence"
    codecs: ClassVar[dict[str, _Codec]] = {"agent": NAME, "presence": PRESENCE, "label": TEXT}

    agent: str
    presence: model.BasePresence
    label: str | None = None

    def run(self, engine: Engine) -> object:
        engine.set_presence(self.agent, self.presence, label=self.label)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect(Command):
    """The agent's connection dropped (R35): :meth:`Engine.disconnect`."""

    op: ClassVar[str] = "disconnect"
    codecs: ClassVar[dict[str, _Codec]] = {"agent": NAME}

    agent: str

    def run(self, engine: Engine) -> object:
        engine.disconnect(self.agent)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnect(Command):
    """The agent is back (R35): :meth:`Engine.reconnect`."""

    op: ClassVar[str] = "reconnect"
    codecs: ClassVar[dict[str, _Codec]] = {"agent": NAME}

    agent: str

    def run(self, engine: Engine) -> object:
        engine.reconnect(self.agent)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyConfig(Command):
    """Switch to a validated configuration (R42): :meth:`Engine.apply_config` (the new version).
    ``rollback_of``: the version it rolls back to, for the configuration history."""

    op: ClassVar[str] = "apply_config"
    codecs: ClassVar[dict[str, _Codec]] = {"config": CONFIG, "rollback_of": INT}

    config: model.Config
    rollback_of: int | None = None

    def run(self, engine: Engine) -> object:
        return engine.apply_config(self.config)


@dataclass(frozen=True, slots=True, kw_only=True)
class Advance(Command):
    """Fire every timer due by the clock (R21, R37): :meth:`Engine.advance`."""

    op: ClassVar[str] = "advance"
    codecs: ClassVar[dict[str, _Codec]] = {}

    def run(self, engine: Engine) -> object:
        engine.advance()
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Message(Command):
    """A conversation message (the server's projection keeps it); when ``resume``, the customer
    wrote to a parked conversation and it routes back (R29)."""

    op: ClassVar[str] = "message"
    codecs: ClassVar[dict[str, _Codec]] = {
        "item": NAME, "number": INT, "sender": TEXT, "text": TEXT, "attributes": OBJECT,
        "at": NUMBER, "agent": TEXT, "resume": FLAG,
    }  # fmt: skip

    item: str
    number: int | None = None
    sender: str | None = None
    text: str | None = None
    attributes: dict[str, Any] | None = None
    at: float | None = None
    agent: str | None = None
    resume: bool = False

    def run(self, engine: Engine) -> object:
        if self.resume:
            engine.resume(self.item)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel(Command):
    """The channels' bookkeeping (a follower's cursor, a dead letter): ``data`` is the log's
    ``args`` as they are; the engine reads none of it."""

    op: ClassVar[str] = "channel"

    data: dict[str, Any] = field(default_factory=dict)

    def args(self) -> dict[str, Any]:
        return dict(self.data)

    @classmethod
    def from_args(cls: type[R], args: Mapping[str, Any]) -> R:
        if not isinstance(args, Mapping):
            raise _bad("args", "an object", args)
        return cast(R, Channel(data=dict(args)))

    def run(self, engine: Engine) -> object:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Init(Record):
    """The first record of a log: the configuration (as JSON) an engine starts with, and whether
    its agents start offline until they connect. It builds an engine; it does not run on one."""

    op: ClassVar[str] = "init"
    codecs: ClassVar[dict[str, _Codec]] = {"config": _Codec(_object, required=True),
                                           "await_connections": FLAG}  # fmt: skip

    config: dict[str, Any]
    await_connections: bool = False


_KINDS: dict[str, type[Record]] = {
    kind.op: kind
    for kind in (
        Submit, UpdateItem, Cancel, Accept, Decline, Pick, Complete, WrapUp, Close, Park, Resume,
        Transfer, ForceAssign, SetPresence, Disconnect, Reconnect, ApplyConfig, Advance, Message,
        Channel, Init,
    )
}  # fmt: skip

for _kind in _KINDS.values():
    _kind.required = tuple(name for name, codec in _kind.codecs.items() if codec.required)
    _kind.decoders = {name: codec.decode for name, codec in _kind.codecs.items()}

#: The ``op`` of every record a log may hold.
OPS: frozenset[str] = frozenset(_KINDS)


def decode(op: str, args: Mapping[str, Any]) -> Record:
    """The record of ``op`` with ``args`` (the log's two fields):
    :class:`~unirouter.errors.InvalidCommand` naming the field when they describe none."""
    kind = _KINDS.get(op)
    if kind is None:
        raise _bad("op", f"one of {', '.join(sorted(_KINDS))}", op)
    return kind.from_args(args)


def execute(engine: Engine, command: Command) -> object:
    """Run ``command`` on ``engine``: the one way the simulator, the server and the replay do."""
    return command.run(engine)
