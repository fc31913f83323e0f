"""Events: every change of engine state is one event (SPEC §6.1.1).

An event is a flat JSON object with ``seq``, ``t``, ``type`` and the ids it concerns; extra fields live in
``data`` and are flattened by :meth:`Event.to_dict`. This is the one wire format: :meth:`Event.to_dict`
and :meth:`Event.from_dict` convert an event to and from that object, and :func:`encode` writes it as
the bytes the server's log, its event stream and the simulator's ``--events`` file hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = ["Event", "EventType", "encode", "from_dict"]


class EventType(StrEnum):
    """The event names of SPEC §6.1.1; these names and meanings are the contract."""

    ITEM_CREATED = "item_created"
    ITEM_SCHEDULED = "item_scheduled"
    ITEM_CLASSIFIED = "item_classified"
    ITEM_ROUTED = "item_routed"
    ITEM_OVERFLOWED = "item_overflowed"
    ITEM_QUEUED = "item_queued"
    ITEM_UPDATED = "item_updated"
    OFFER_MADE = "offer_made"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_DECLINED = "offer_declined"
    OFFER_EXPIRED = "offer_expired"
    OFFER_WITHDRAWN = "offer_withdrawn"
    ITEM_ASSIGNED = "item_assigned"
    ITEM_WRAP_UP = "item_wrap_up"
    ITEM_PARKED = "item_parked"
    ITEM_RESUMED = "item_resumed"
    ITEM_TRANSFERRED = "item_transferred"
    ITEM_CLOSED = "item_closed"
    CAPACITY_RELEASED = "capacity_released"
    PRESENCE_CHANGED = "presence_changed"
    AGENT_CONNECTED = "agent_connected"
    AGENT_DISCONNECTED = "agent_disconnected"
    CONFIG_APPLIED = "config_applied"


class Event(NamedTuple):
    """One state change. ``data`` holds the type-specific fields (e.g. ``reason``, ``expires_at``).

    An immutable named tuple rather than a frozen dataclass: the engine makes several per item, and a
    frozen dataclass costs six times as much to build.
    """

    seq: int
    t: float
    type: EventType
    item: str | None = None
    agent: str | None = None
    queue: str | None = None
    offer: str | None = None
    data: dict[str, Any] = {}  # noqa: RUF012 - never mutated; every event passes its own dict

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object of SPEC §6.1.1 (absent ids are left out)."""
        out: dict[str, Any] = {"seq": self.seq, "t": self.t, "type": self.type.value}
        if self.item is not None:
            out["item"] = self.item
        if self.agent is not None:
            out["agent"] = self.agent
        if self.queue is not None:
            out["queue"] = self.queue
        if self.offer is not None:
            out["offer"] = self.offer
        out.update(self.data)
        return out

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Event:
        """The event a flat SPEC §6.1.1 object describes (the inverse of :meth:`to_dict`); leaves
        ``body`` untouched. Raises ``KeyError`` or ``ValueError`` for an object that is no event."""
        data = {key: value for key, value in body.items() if key not in _HEAD}
        return cls(
            int(body["seq"]),
            float(body["t"]),
            EventType(body["type"]),
            body.get("item"),
            body.get("agent"),
            body.get("queue"),
            body.get("offer"),
            data,
        )


_IDS = ("item", "agent", "queue", "offer")
_HEAD = frozenset(("seq", "t", "type", *_IDS))


def from_dict(body: Mapping[str, Any]) -> Event:
    """:meth:`Event.from_dict`."""
    return Event.from_dict(body)


def encode(event: Event, *, strict: bool = True, extra: Mapping[str, Any] | None = None) -> bytes:
    """The event's object (:meth:`Event.to_dict`, plus ``extra`` fields) as compact ASCII JSON:
    how the log holds it. ``strict`` refuses a non-finite number (ValueError, issue 17); a replay
    compares with ``strict=False``, so a log written before that, with ``NaN`` in it, still
    restarts."""
    body = event.to_dict()
    if extra:
        body.update(extra)
    return json.dumps(body, separators=(",", ":"), default=str, allow_nan=not strict).encode()
