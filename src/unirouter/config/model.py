"""Pydantic models of the configuration file (SPEC §5; the contract is docs/architecture.md).

Every model forbids unknown fields and is frozen. Names (workstreams, queues, agents, …) are the
keys of dictionaries, so a name cannot be given twice inside one mapping. Shapes that YAML users
write in several ways (a bare ``when: true``, ``order_by: item.priority``, ``profiles: [chat]``,
``action: end``) are normalised here, so the engine reads one form only.

This module checks each value on its own; references between values (unknown names, kinds,
splits, expressions) are checked by :mod:`unirouter.config.validate` (R41).

The module is longer than the 400-line guideline because it is the contract of one file format:
every model, enum and accepted shorthand of the YAML is here, readable top to bottom.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from unirouter.config import channels as channel_models

__all__ = [
    "ActionKind",
    "Affinity",
    "AgentDef",
    "Aging",
    "Assignment",
    "Auth",
    "BasePresence",
    "CalendarDef",
    "CapacityProfile",
    "CapacitySpec",
    "ClassRule",
    "ConditionKind",
    "Config",
    "CustomPresence",
    "CustomRule",
    "Kind",
    "Method",
    "Mode",
    "OfferSettings",
    "OrderKey",
    "OverflowRule",
    "PickChecks",
    "Preferred",
    "PreferredFallback",
    "PriorityRule",
    "Queue",
    "RelaxStep",
    "Reset",
    "Role",
    "RouteRule",
    "Ruleset",
    "SkillDef",
    "SkillMatch",
    "SkillReq",
    "TokenDef",
    "Workstream",
    "WrapUp",
]

#: SPEC §2: a work item's priority is an integer from 0 to this value.
MAX_PRIORITY = 100_000


class Kind(StrEnum):
    """Channel kind of a workstream and of every queue it routes to (SPEC §2, R31)."""

    MESSAGING = "messaging"
    VOICE = "voice"
    RECORD = "record"


class Mode(StrEnum):
    """How a workstream hands work out: offers (push) or agents picking (pick, R28)."""

    PUSH = "push"
    PICK = "pick"


class BasePresence(StrEnum):
    """The presences routing reads (SPEC §2, R32); ``inactive`` is set by the system only."""

    AVAILABLE = "available"
    BUSY = "busy"
    BUSY_DND = "busy_dnd"
    AWAY = "away"
    OFFLINE = "offline"
    INACTIVE = "inactive"


class SkillMatch(StrEnum):
    """How required skills filter agents (R16, R18)."""

    EXACT = "exact"
    CLOSEST = "closest"
    NONE = "none"


class Method(StrEnum):
    """Assignment methods of a queue (R17, R19)."""

    HIGHEST_CAPACITY = "highest_capacity"
    ROUND_ROBIN = "round_robin"
    LEAST_ACTIVE = "least_active"
    MOST_SKILLED = "most_skilled"
    CUSTOM = "custom"


class Reset(StrEnum):
    """When a capacity profile's count goes down: at release, or at the end of the day (R36)."""

    IMMEDIATE = "immediate"
    END_OF_DAY = "end_of_day"


class Role(StrEnum):
    """Roles of API tokens (SPEC §6.3)."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    INTAKE = "intake"


class PickChecks(StrEnum):
    """Whether pick mode enforces skills and capacity (R28)."""

    ENFORCE = "enforce"
    NONE = "none"


class PreferredFallback(StrEnum):
    """What happens when no preferred agent is eligible (R30)."""

    QUEUE = "queue"
    WAIT = "wait"


class ConditionKind(StrEnum):
    """Overflow conditions (R12 pre-queue, R13 post-queue ``waited_s``)."""

    OUT_OF_HOURS = "out_of_hours"
    NO_AGENTS = "no_agents"
    MAX_WAITING = "max_waiting"
    EWT_S = "ewt_s"
    WAITED_S = "waited_s"


class ActionKind(StrEnum):
    """Overflow actions (R12)."""

    TRANSFER = "transfer"
    CALLBACK = "callback"
    END = "end"
    ASSIGN_ANYWAY = "assign_anyway"


class _Model(BaseModel):
    """Base of every configuration model: unknown fields are errors and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- normalisers of the shapes YAML users write in several ways ------------------------------


def _expression_source(value: object) -> object:
    """YAML reads ``when: true`` as a boolean; the expression language reads it as a literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _order_keys(value: object) -> object:
    """``order_by: EXPR`` and list entries written as bare strings are ascending keys (R7)."""
    if isinstance(value, str | bool):
        value = [value]
    if isinstance(value, list):
        return [{"by": key} if isinstance(key, str | bool) else key for key in value]
    return value


def _profile_limits(value: object) -> object:
    """``profiles: [chat]`` means every profile at its own limit (``None``)."""
    if not isinstance(value, list):
        return value
    for name in value:
        if not isinstance(name, str):
            raise ValueError(f"a profile name must be a string, not {name!r}")
    return dict.fromkeys(value)


def _wrap_up_block(value: object) -> str | float:
    """R33: ``always``, ``none`` or a number of seconds."""
    if value in ("always", "none"):
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"must be 'always', 'none' or a number of seconds >= 0, not {value!r}")


_MEASURED_CONDITIONS = (ConditionKind.MAX_WAITING, ConditionKind.EWT_S, ConditionKind.WAITED_S)
_CONDITION_FORMS = (
    "out_of_hours, no_agents, {max_waiting: N}, {ewt_s: SECONDS} or {waited_s: SECONDS}"
)
_ACTION_FORMS = "{transfer: QUEUE}, {callback: QUEUE}, end or assign_anyway"


def _overflow_when(value: object) -> str | dict[str, float]:
    """R12/R13: a bare condition name, or a one-key mapping of a measured condition."""
    if value in (ConditionKind.OUT_OF_HOURS, ConditionKind.NO_AGENTS):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((key, amount),) = value.items()
        if key in _MEASURED_CONDITIONS:
            return {str(key): _condition_amount(str(key), amount)}
    raise ValueError(f"must be {_CONDITION_FORMS}, not {value!r}")


def _condition_amount(key: str, amount: object) -> float:
    """``max_waiting`` counts items (a whole number); the others are seconds."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValueError(f"{key} must be a number, not {amount!r}")
    if key == ConditionKind.MAX_WAITING and not isinstance(amount, int):
        raise ValueError(f"max_waiting must be a whole number of items, not {amount!r}")
    if amount < 0:
        raise ValueError(f"{key} must be >= 0, not {amount!r}")
    return amount


def _overflow_action(value: object) -> str | dict[str, str]:
    """R12: ``{transfer: Q}``, ``{callback: Q}``, ``end`` / ``{end: true}``, ``assign_anyway``."""
    if value in (ActionKind.END, ActionKind.ASSIGN_ANYWAY):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((key, target),) = value.items()
        if key in (ActionKind.TRANSFER, ActionKind.CALLBACK) and isinstance(target, str) and target:
            return {str(key): target}
        if key in (ActionKind.END, ActionKind.ASSIGN_ANYWAY) and target is True:
            return str(key)
    raise ValueError(f"must be {_ACTION_FORMS}, not {value!r}")


def _measured_schema(key: str, kind: str) -> dict[str, Any]:
    """JSON Schema of a one-key mapping such as ``{waited_s: 300}``."""
    value = {"type": kind, "minimum": 0}
    return {
        "type": "object",
        "properties": {key: value},
        "required": [key],
        "additionalProperties": False,
    }


def _target_schema(key: str) -> dict[str, Any]:
    """JSON Schema of ``{transfer: QUEUE}`` or ``{callback: QUEUE}``."""
    target = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "properties": {key: target},
        "required": [key],
        "additionalProperties": False,
    }


def _flag_schema(key: str) -> dict[str, Any]:
    """JSON Schema of ``{end: true}`` or ``{assign_anyway: true}``."""
    return {
        "type": "object",
        "properties": {key: {"const": True}},
        "required": [key],
        "additionalProperties": False,
    }


_WHEN_SCHEMA: dict[str, Any] = {
    "description": f"Overflow condition: {_CONDITION_FORMS} (R12, R13).",
    "anyOf": [
        {"enum": ["out_of_hours", "no_agents"]},
        _measured_schema("max_waiting", "integer"),
        _measured_schema("ewt_s", "number"),
        _measured_schema("waited_s", "number"),
    ],
}
_ACTION_SCHEMA: dict[str, Any] = {
    "description": f"Overflow action: {_ACTION_FORMS} (R12).",
    "anyOf": [
        {"enum": ["end", "assign_anyway"]},
        _target_schema("transfer"),
        _target_schema("callback"),
        _flag_schema("end"),
        _flag_schema("assign_anyway"),
    ],
}
_BLOCK_SCHEMA: dict[str, Any] = {
    "description": "R33: 'always', 'none' or seconds after wrap-up starts.",
    "anyOf": [{"enum": ["always", "none"]}, {"type": "number", "minimum": 0}],
}

#: An expression (SPEC §4), compiled and checked by the validation (R41).
Expr = Annotated[
    str,
    BeforeValidator(_expression_source, json_schema_input_type=str | bool | int | float),
    Field(description="An expression (SPEC §4)."),
]
Seconds = Annotated[float, Field(ge=0)]
Priority = Annotated[int, Field(ge=0, le=MAX_PRIORITY)]


# --- catalogue ---------------------------------------------------------------------------------


class SkillDef(_Model):
    """A skill; agents hold it at a level from 1 to ``levels``."""

    levels: int = Field(default=10, ge=1)


class CapacityProfile(_Model):
    """A capacity profile: at most ``limit`` items per agent (SPEC §2, R16, R36)."""

    limit: int = Field(ge=1)
    reset: Reset = Reset.IMMEDIATE
    blocking: bool = True


class CalendarDef(_Model):
    """A time zone, weekly hours and holidays (R14, R36); see :mod:`unirouter.calendars`."""

    tz: str = Field(description="IANA time zone, e.g. Europe/Paris.")
    weekly: dict[str, str] = Field(
        description='Days ("mon-fri", "sat", "mon,wed") to hours ("08:00-18:00", '
        '"09:00-12:00,14:00-17:00" or "closed").'
    )
    holidays: list[date] = Field(default_factory=list)


# --- workstreams -------------------------------------------------------------------------------


class CapacitySpec(_Model):
    """What an item of the workstream consumes: units and capacity profiles (R16)."""

    units: int = Field(default=100, ge=0)
    profiles: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _profiles_only(cls, data: Any) -> Any:
        """A block that names profiles but no units consumes no units."""
        if isinstance(data, dict) and data.get("profiles") and "units" not in data:
            return {**data, "units": 0}
        return data


class OfferSettings(_Model):
    """Offers of push mode (R23–R27)."""

    timeout_s: float = Field(default=120, gt=0)
    auto_accept: bool = False
    max_declines_per_agent: int = Field(default=3, ge=1)
    max_declines_total: int = Field(default=100, ge=1)
    on_expiry_presence: BasePresence | None = None
    on_decline_presence: BasePresence | None = None
    rejectable: bool = True


class WrapUp(_Model):
    """How long capacity stays taken after wrap-up starts (R33)."""

    block: Annotated[
        Literal["always", "none"] | float,
        PlainValidator(_wrap_up_block),
        WithJsonSchema(_BLOCK_SCHEMA),
    ] = "always"
    codes: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        description="Wrap-up codes an agent picks when completing or closing an item; "
        "when listed, a code outside them is refused.",
    )


class Affinity(_Model):
    """Return a resumed conversation to its last agent (R29)."""

    enabled: bool = False
    grace_s: Seconds = 150


class Preferred(_Model):
    """Preferred agents (R30)."""

    fallback: PreferredFallback = PreferredFallback.QUEUE


class SkillReq(_Model):
    """A required skill of an item (R16)."""

    name: str
    level: int = Field(default=1, ge=1)
    optional: bool = False


class ClassRule(_Model):
    """A classification rule (R2): outputs applied when ``when`` holds."""

    name: str | None = Field(default=None, description="How the trace names the rule (R43).")
    when: Expr
    set: dict[str, JsonValue] = Field(
        default_factory=dict, description="Attributes to set; the key 'priority' sets the priority."
    )
    skills: list[SkillReq] = Field(default_factory=list)
    profiles: list[str] = Field(default_factory=list)
    units: int | None = Field(default=None, ge=0)


class Ruleset(_Model):
    """A named classification ruleset; its first matching rule applies (R2)."""

    name: str
    rules: list[ClassRule]


class RelaxStep(_Model):
    """A skill relaxation step (R20): from ``after_s`` seconds of waiting, require ``skills``."""

    skills: list[SkillReq]
    after_s: Seconds


class RouteRule(_Model):
    """A route-to-queue rule (R3, R4): one queue, or a percentage split over 2–5 queues."""

    name: str | None = Field(default=None, description="How the trace names the rule (R43).")
    when: Expr
    queue: str | None = None
    split: dict[str, Annotated[int, Field(ge=1, le=100)]] | None = None
    steps: list[RelaxStep] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> RouteRule:
        """Exactly one of ``queue`` and ``split``."""
        if (self.queue is None) == (self.split is None):
            raise ValueError("give exactly one of 'queue' or 'split'")
        return self


class Workstream(_Model):
    """Routing settings shared by channels of one kind (SPEC §2)."""

    kind: Kind
    channels: list[str] = Field(default_factory=list)
    mode: Mode = Mode.PUSH
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)
    allowed_presences: list[BasePresence] = Field(
        default_factory=lambda: [BasePresence.AVAILABLE, BasePresence.BUSY]
    )
    skill_match: SkillMatch = SkillMatch.EXACT
    offer: OfferSettings = Field(default_factory=OfferSettings)
    wrap_up: WrapUp = Field(default_factory=WrapUp)
    auto_close_idle_s: Seconds | None = None
    affinity: Affinity = Field(default_factory=Affinity)
    fallback_queue: str
    ttl_s: float | None = Field(default=None, gt=0)
    pick_checks: PickChecks = PickChecks.ENFORCE
    preferred: Preferred = Field(default_factory=Preferred)
    classification: list[Ruleset] = Field(default_factory=list)
    route_to_queue: list[RouteRule] = Field(default_factory=list)


# --- queues ------------------------------------------------------------------------------------


class CustomRule(_Model):
    """A custom assignment rule (R19)."""

    when: Expr
    order_by: Expr = Field(description="An expression over the agent, or a built-in method name.")
    desc: bool = True
    ignore: list[Literal["skills"]] = Field(default_factory=list)

    @property
    def order_method(self) -> Method | None:
        """The built-in method ``order_by`` names, or ``None`` when it is an expression."""
        name = self.order_by.strip()
        return Method(name) if name in set(Method) - {Method.CUSTOM} else None


class Assignment(_Model):
    """How a queue chooses among eligible agents (R17, R19)."""

    method: Method = Method.HIGHEST_CAPACITY
    rules: list[CustomRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_iff_custom(self) -> Assignment:
        """``rules`` is required with ``method: custom`` and meaningless otherwise."""
        if self.method is Method.CUSTOM and not self.rules:
            raise ValueError("method 'custom' needs at least one rule in 'rules'")
        if self.method is not Method.CUSTOM and self.rules:
            raise ValueError(
                f"'rules' are only read with method 'custom', not {self.method.value!r}"
            )
        return self


class OrderKey(_Model):
    """One ordering key of a prioritisation rule (R7)."""

    by: Expr
    desc: bool = False


class PriorityRule(_Model):
    """A prioritisation rule (R7): matching items form a bucket ordered by ``order_by``."""

    name: str | None = None
    when: Expr
    order_by: Annotated[
        list[OrderKey],
        BeforeValidator(_order_keys, json_schema_input_type=str | list[OrderKey | str]),
    ] = Field(default_factory=list)


class Aging(_Model):
    """Priority aging (R8): ``add`` priority for every ``every_s`` seconds waited."""

    every_s: float = Field(gt=0)
    add: int = Field(ge=1)


class OverflowRule(_Model):
    """An overflow condition and its action (R12 pre-queue, R13 post-queue)."""

    when: Annotated[
        str | dict[str, float], PlainValidator(_overflow_when), WithJsonSchema(_WHEN_SCHEMA)
    ]
    action: Annotated[
        str | dict[str, str], PlainValidator(_overflow_action), WithJsonSchema(_ACTION_SCHEMA)
    ]

    @property
    def condition(self) -> tuple[ConditionKind, float | None]:
        """``(kind, value)``: the value is ``None`` for ``out_of_hours`` and ``no_agents``."""
        if isinstance(self.when, str):
            return ConditionKind(self.when), None
        ((key, amount),) = self.when.items()
        return ConditionKind(key), amount

    @property
    def action_kind(self) -> tuple[ActionKind, str | None]:
        """``(kind, target)``: the target queue of ``transfer`` and ``callback``, else ``None``."""
        if isinstance(self.action, str):
            return ActionKind(self.action), None
        ((key, target),) = self.action.items()
        return ActionKind(key), target

    @property
    def post_queue(self) -> bool:
        """True for ``waited_s``, checked while the item waits (R13); others run once (R12)."""
        return isinstance(self.when, dict) and ConditionKind.WAITED_S in self.when


class Queue(_Model):
    """A queue (SPEC §2): members, assignment, order, hours and overflow."""

    kind: Kind
    priority: int = Field(default=0, description="Smaller is served first across queues (R10).")
    members: list[str] = Field(default_factory=list)
    assignment: Assignment = Field(default_factory=Assignment)
    prioritization: list[PriorityRule] = Field(default_factory=list)
    aging: Aging | None = None
    operating_hours: str | None = Field(default=None, description="A calendar name (R14).")
    respect_calendars: bool = False
    overflow: list[OverflowRule] = Field(default_factory=list)
    service_level_s: float = Field(default=20, gt=0)
    short_abandon_s: Seconds = 5


# --- agents and access -------------------------------------------------------------------------


class AgentDef(_Model):
    """An agent (SPEC §2). ``profiles`` maps each profile to a limit override or ``None``."""

    name: str | None = None
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    skills: dict[str, int] = Field(default_factory=dict)
    capacity_units: int = Field(default=100, ge=0)
    profiles: Annotated[
        dict[str, Annotated[int, Field(ge=0)] | None],
        BeforeValidator(_profile_limits, json_schema_input_type=list[str] | dict[str, int | None]),
    ] = Field(default_factory=dict)
    default_presence: BasePresence = BasePresence.AVAILABLE
    calendar: str | None = None


class TokenDef(_Model):
    """An API token given by the SHA-256 of its secret (SPEC §6.3)."""

    name: str
    role: Role
    agent: str | None = None
    sha256: str = Field(description="64 hexadecimal digits: the SHA-256 of the token.")

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        """Only the hash is stored; it is compared in lower case."""
        digest = value.strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("must be 64 hexadecimal digits (the SHA-256 of the token)")
        return digest

    @model_validator(mode="after")
    def _agent_iff_agent_role(self) -> TokenDef:
        """An ``agent`` token is bound to one agent; other roles are not."""
        if self.role is Role.AGENT and self.agent is None:
            raise ValueError("a token of role 'agent' must name its 'agent'")
        if self.role is not Role.AGENT and self.agent is not None:
            raise ValueError(
                f"only a token of role 'agent' names an 'agent', not {self.role.value!r}"
            )
        return self


class CustomPresence(_Model):
    """A custom presence: a label agents choose, mapped to the base presence routing reads (R32)."""

    base: BasePresence
    title: str | None = Field(default=None, description="What people see; the label if omitted.")

    @field_validator("base")
    @classmethod
    def _not_inactive(cls, value: BasePresence) -> BasePresence:
        if value is BasePresence.INACTIVE:
            raise ValueError("inactive is set by the system only")
        return value


#: How long a conversation's customer token keeps working after the conversation closed.
CUSTOMER_TOKEN_TTL_S = 86_400.0


class Auth(_Model):
    """API access (SPEC §6.3)."""

    tokens: list[TokenDef] = Field(default_factory=list)
    customer_token_ttl_s: Seconds = Field(
        default=CUSTOMER_TOKEN_TTL_S,
        description="Seconds a conversation's customer token keeps working after it closed.",
    )


class Config(_Model):
    """A whole unirouter configuration (SPEC §5)."""

    model_config = ConfigDict(title="unirouter configuration")

    version: int = 1
    skills: dict[str, SkillDef] = Field(default_factory=dict)
    capacity_profiles: dict[str, CapacityProfile] = Field(default_factory=dict)
    calendars: dict[str, CalendarDef] = Field(default_factory=dict)
    workstreams: dict[str, Workstream] = Field(default_factory=dict)
    queues: dict[str, Queue] = Field(default_factory=dict)
    agents: dict[str, AgentDef] = Field(default_factory=dict)
    presences: dict[str, CustomPresence] = Field(
        default_factory=dict,
        description="The catalogue of custom presences (label → base presence, R32); when "
        "listed, a presence label outside it is refused.",
    )
    auth: Auth = Field(default_factory=Auth)
    channels: channel_models.Channels = Field(default_factory=channel_models.Channels)
    webhooks: list[channel_models.Webhook] = Field(default_factory=list)
