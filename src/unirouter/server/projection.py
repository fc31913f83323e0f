"""What the server keeps beside the engine, rebuilt from the same log: conversation messages, the
time of every item transition (SPEC §2 "timestamps of every transition") and the time each agent
entered its current presence (the supervisor console's "time in state") and the wrap-up code of
each item.

Both are folds over logged commands and events, fed live after each command and again, in the same
order, by the replay; so they say after a restart what they said before.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from typing import Any

__all__ = ["Projection"]

#: Which event stamps which transition time of an item.
_STAMPS = {
    "item_created": "created_at",
    "item_scheduled": "scheduled_at",
    "item_queued": "queued_at",
    "offer_made": "offered_at",
    "item_assigned": "assigned_at",
    "item_wrap_up": "wrap_up_at",
    "item_parked": "parked_at",
    "item_resumed": "resumed_at",
    "item_transferred": "transferred_at",
    "item_closed": "closed_at",
}

#: The commands that may carry a wrap-up code.
_CODED = frozenset({"complete", "wrap_up", "close"})


class Projection:
    """Messages per conversation and transition times per item, bounded to ``retain`` items, and
    when each agent's presence last changed."""

    def __init__(self, retain: int | None) -> None:
        self._retain = retain
        self._times: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._presence: dict[str, tuple[str, str | None, float]] = {}
        self._codes: dict[str, str] = {}

    def feed(self, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Take one logged command and its events."""
        if command.get("op") == "message" and not command.get("refused"):
            args = command["args"]
            self._messages.setdefault(args["item"], []).append(message_view(args))
        if command.get("op") in _CODED and not command.get("refused"):
            code = command["args"].get("code")
            if code is not None:
                self._codes[command["args"]["item"]] = code
        for event in events:
            if event.get("type") == "presence_changed":
                self._presence_changed(event)
                continue
            stamp = _STAMPS.get(event.get("type", ""))
            item = event.get("item")
            if stamp is not None and item is not None:
                self._stamp(item, stamp, float(event["t"]))

    def times(self, item: str) -> dict[str, float]:
        """When the item entered each state, newest entry of each kind."""
        return dict(self._times.get(item, {}))

    def messages(self, item: str, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The conversation's messages numbered above ``after``, oldest first, at most ``limit``
        (found by bisection: numbers grow along the list)."""
        held = self._messages.get(item, [])
        start = bisect.bisect_right(held, after, key=lambda m: int(m["number"]))
        return held[start:] if limit is None else held[start : start + limit]

    def presence_since(self, agent: str) -> float | None:
        """When the agent entered its current presence and label (None: not seen yet)."""
        seen = self._presence.get(agent)
        return None if seen is None else seen[2]

    def _presence_changed(self, event: dict[str, Any]) -> None:
        """A change of base presence or label restarts the clock; a change of ``manual`` alone
        (the same presence, now set by hand) does not."""
        agent, label = event.get("agent"), event.get("label")
        presence = str(getattr(event.get("presence"), "value", event.get("presence")))
        if agent is None:
            return
        seen = self._presence.get(agent)
        if seen is None or seen[:2] != (presence, label):
            self._presence[agent] = (presence, label, float(event["t"]))

    def wrap_up_code(self, item: str) -> str | None:
        """The wrap-up code the agent gave at ``complete`` or ``close`` (the latest one)."""
        return self._codes.get(item)

    def message_count(self, item: str) -> int:
        return len(self._messages.get(item, []))

    def _stamp(self, item: str, stamp: str, t: float) -> None:
        times = self._times.get(item)
        if times is None:
            times = self._times[item] = {}
            if self._retain is not None and len(self._times) > self._retain:
                old, _ = self._times.popitem(last=False)
                self._messages.pop(old, None)
                self._codes.pop(old, None)
        times[stamp] = t


def message_view(args: dict[str, Any]) -> dict[str, Any]:
    """A message as the API shows it, from its logged ``message`` command arguments."""
    return {
        "number": args["number"],
        "item": args["item"],
        "sender": args["sender"],
        "agent": args.get("agent"),
        "text": args["text"],
        "attributes": args.get("attributes", {}),
        "at": args["at"],
    }
