"""Request and response bodies of the HTTP API (SPEC §6.3), as pydantic models.

Requests reject unknown fields (``extra="forbid"``, SPEC §10). Times are Unix seconds or ISO 8601
date-times with a zone. Responses document the shape in ``/openapi.json``; they allow extra fields so
that adding one is never a breaking change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, Strict

from unirouter.config import model

__all__ = [
    "AgentOut",
    "AssignIn",
    "ConfigOut",
    "ConfigResult",
    "DeclineIn",
    "ItemIn",
    "ItemList",
    "ItemOut",
    "ItemPatch",
    "MessageIn",
    "MessageList",
    "MessageOut",
    "PickIn",
    "PresenceIn",
    "Problem",
    "QueueOut",
    "QueueToday",
    "TransferIn",
]

#: SPEC §2: a work item's attributes are a JSON object of at most 64 KiB.
ATTRIBUTES_LIMIT = 64 * 1024


def _seconds(value: float | datetime | None) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return value


#: Strict scalars (issue 17 item 8): ``true`` is not the number 1 nor ``"5"`` the number 5, and
#: ``0`` is not ``false``; a float field takes an integer (JSON has one number type).
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Seconds = Annotated[float, Strict()]
Time = Annotated[Seconds | AwareDatetime, AfterValidator(_seconds)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
#: The most capacity units one item may consume (issue 17 item 8); an agent has 100 by default.
MAX_UNITS = 1_000_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class SkillIn(_In):
    name: Name
    level: Int = Field(default=1, ge=1)
    optional: Bool = False


class ItemIn(_In):
    """Intake of a work item (SPEC §2). ``external_id`` makes it idempotent per workstream."""

    external_id: Name
    workstream: Name
    channel: Name | None = None
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    customer: dict[str, JsonValue] = Field(default_factory=dict)
    priority: Int | None = Field(default=None, ge=0, le=100_000)
    skills: list[SkillIn] | None = None
    units: Int | None = Field(default=None, ge=0, le=MAX_UNITS)
    profiles: list[Name] | None = None
    available_at: Time | None = None
    callback_at: Time | None = None
    phone: Annotated[str, Field(max_length=64)] | None = None
    due_at: Time | None = None
    ttl_s: Seconds | None = Field(default=None, gt=0)
    preferred_agents: list[Name] | None = None


class ItemPatch(_In):
    """Change a waiting item (R7): attributes are merged, priority replaced."""

    attributes: dict[str, JsonValue] | None = None
    priority: Int | None = Field(default=None, ge=0, le=100_000)


class CancelIn(_In):
    reason: Annotated[str, Field(pattern="^(abandoned|cancelled)$")] = "abandoned"


WrapUpCode = Annotated[str, Field(min_length=1, max_length=100)]


class CompleteIn(_In):
    """``wrap_up: false`` closes at once; ``code`` is the wrap-up code."""

    wrap_up: Bool = True
    code: WrapUpCode | None = None


class CodeIn(_In):
    """An optional wrap-up code."""

    code: WrapUpCode | None = None


class TransferIn(_In):
    """Exactly one of ``queue`` or ``agent`` (R31)."""

    queue: Name | None = None
    agent: Name | None = None


class AssignIn(_In):
    agent: Name


class PickIn(_In):
    """``agent`` defaults to the caller's agent (agent tokens)."""

    agent: Name | None = None


class PresenceIn(_In):
    """A base presence, or a custom presence by its ``label`` (its base from the catalogue)."""

    presence: model.BasePresence | None = None
    label: Annotated[str, Field(max_length=100)] | None = None


class DeclineIn(_In):
    reason: Annotated[str, Field(max_length=200)] | None = None


class MessageIn(_In):
    text: Annotated[str, Field(min_length=1, max_length=16_000)]
    attributes: dict[str, JsonValue] = Field(default_factory=dict)


class ItemOut(_Out):
    """A work item: state, queue, agent, timestamps and trace (R43)."""

    id: str
    external_id: str
    workstream: str
    channel: str | None
    kind: str
    state: str
    close_reason: str | None
    queue: str | None
    agent: str | None
    offer: dict[str, Any] | None
    priority: int
    attributes: dict[str, Any]
    customer: dict[str, Any]
    skills: list[dict[str, Any]]
    units: int
    profiles: list[str]
    config_version: int
    times: dict[str, float]
    wrap_up_ends_at: float | None = Field(
        None, description="In a wrap-up that blocks N seconds (R33): when the capacity comes back"
    )
    trace: list[dict[str, Any]] | None = None
    customer_token: str | None = None
    warnings: list[str] | None = Field(
        None, description="What went through but needs a look (a force-assign to an offline agent)"
    )


class ItemList(_Out):
    items: list[ItemOut]
    next_cursor: str | None


class AgentOut(_Out):
    """An agent: presence, capacity used and free per units and profile, items and offers."""

    id: str
    name: str | None
    presence: str
    label: str | None
    manual: bool
    presence_since: float | None = Field(
        None, description="When the agent entered its current presence and label (Unix seconds)"
    )
    connected: bool
    capacity_units: int
    used_units: int
    free_units: int
    profiles: dict[str, dict[str, Any]] = Field(
        description="Per capacity profile: limit, blocking (reaching the limit stops automatic "
        "assignment) and used"
    )
    queues: list[str]
    skills: dict[str, int]
    attributes: dict[str, Any]
    active: list[str]
    offers: list[dict[str, Any]]


class QueueToday(_Out):
    """A queue's figures since midnight in its operating hours' time zone (UTC without hours)."""

    from_: float = Field(alias="from")
    arrived: int
    answered: int
    abandoned: int
    service_level: float | None


class QueueOut(_Out):
    """A queue's live state: waiting, offered, longest wait, EWT, members, staffed and ready."""

    name: str
    kind: str
    priority: int
    waiting: int
    offered: int
    longest_wait_s: float = Field(
        description="The longest current wait (queued or offered items), counted to the read"
    )
    ewt_s: float | None
    members: int
    staffed: int
    ready: int
    open: bool = Field(description="Whether the queue's operating hours hold now (R14)")
    operating_hours: str | None
    service_level_s: float
    today: QueueToday | None = None


class MessageOut(_Out):
    number: int
    item: str
    sender: str
    agent: str | None
    text: str
    attributes: dict[str, Any]
    at: float


class MessageList(_Out):
    messages: list[MessageOut]
    #: More messages follow: read them with ``after=next_after``.
    next_after: int | None = None


class ConfigOut(_Out):
    version: int
    config: dict[str, Any]


class ConfigResult(_Out):
    """A dry run (``applied: false``) or an apply: the diff against the running configuration."""

    applied: bool
    version: int
    diff: dict[str, dict[str, list[str]]]


class ProblemIssue(_Out):
    """One invalid field: its path, a sentence and, in a YAML body, the line it is on."""

    field: str
    message: str
    line: int | None = None


class Problem(_Out):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[ProblemIssue] | None = None
    line: int | None = Field(None, description="Where a YAML body stopped parsing (1-based)")
