"""What the channels remember, folded from the log like the server's projection (issue 9).

The host feeds every logged command and its events here, live (before the append, so a duplicate
arriving while the first copy is being written is recognised) and again by the replay after a
restart. So everything the channels need to stay idempotent and threaded survives a crash with the
log and nothing else:

* the threads: which channel endpoint and customer address an item came from, its subject, and the
  Message-IDs of its mails (threading of replies, headers of answers);
* the Message-IDs and provider message ids already taken (no second item or message for a repeat);
* the open conversation of each customer address per messaging endpoint;
* the last message of each open conversation (parking idle ones, R34);
* each follower's durable cursor and dead letters (outbound webhooks and replies), logged as
  ``channel`` command records, which the engine does not read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChannelIndex", "Thread", "thread_attributes"]

#: Entries kept per table; older ones live on in the log (an id older than this is not deduplicated).
RETAIN = 200_000
DEAD_LETTERS_KEPT = 1000


@dataclass(slots=True, kw_only=True)
class Thread:
    """Where an item came from: the endpoint (``email``, ``messaging:NAME``, ``portal``), the
    customer's address (mail address or number), the subject and the ids of its mails."""

    via: str
    address: str
    subject: str = ""
    mail_ids: list[str] = field(default_factory=list)
    #: The number replies come from (messaging), as the provider named it at intake.
    our_address: str | None = None


def thread_attributes(thread: Thread) -> dict[str, Any]:
    """The ``thread`` attribute an item carries from its intake (what :class:`ChannelIndex` reads)."""
    body: dict[str, Any] = {"via": thread.via, "address": thread.address}
    if thread.subject:
        body["subject"] = thread.subject
    if thread.mail_ids:
        body["message_id"] = thread.mail_ids[0]
    if thread.our_address:
        body["our_address"] = thread.our_address
    return body


class _Bounded(OrderedDict[str, Any]):
    def put(self, key: str, value: Any) -> None:
        self[key] = value
        if len(self) > RETAIN:
            self.popitem(last=False)


class ChannelIndex:
    """The fold; :meth:`feed` takes one logged command and its events."""

    def __init__(self) -> None:
        self.threads: _Bounded = _Bounded()
        self.mail_ids: _Bounded = _Bounded()
        self.provider_ids: _Bounded = _Bounded()
        self.open: dict[tuple[str, str], str] = {}
        self.last_message_at: dict[str, float] = {}
        self.progress: dict[str, int] = {}
        self.dead: dict[str, list[dict[str, Any]]] = {}

    def feed(self, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        if not command.get("refused"):
            fold = _FOLDS.get(command.get("op", ""))
            if fold is not None:
                fold(self, command["args"])
        for event in events:
            if event.get("type") == "item_closed":
                self._closed(str(event.get("item")))

    # -- lookups ----------------------------------------------------------------------------------

    def thread(self, item: str) -> Thread | None:
        found: Thread | None = self.threads.get(item)
        return found

    def open_conversation(self, via: str, address: str) -> str | None:
        return self.open.get((via, address))

    # -- folds ------------------------------------------------------------------------------------

    def _submit(self, args: dict[str, Any]) -> None:
        data = (args.get("attributes") or {}).get("thread")
        if not isinstance(data, dict) or "via" not in data:
            return
        item = args["item_id"]
        thread = Thread(via=str(data["via"]), address=str(data.get("address", "")),
                        subject=str(data.get("subject", "")),
                        our_address=data.get("our_address"))  # fmt: skip
        self.threads.put(item, thread)
        if data.get("message_id"):
            thread.mail_ids.append(str(data["message_id"]))
            self.mail_ids.put(str(data["message_id"]), item)
        if thread.via.startswith("messaging:"):
            self.open[(thread.via, thread.address)] = item

    def _message(self, args: dict[str, Any]) -> None:
        item = args["item"]
        attributes = args.get("attributes") or {}
        mail_id = attributes.get("message_id")
        thread = self.thread(item)
        if mail_id:
            self.mail_ids.put(str(mail_id), item)
            if thread is not None and mail_id not in thread.mail_ids:
                thread.mail_ids.append(str(mail_id))
        provider = attributes.get("provider_id")
        if provider and thread is not None:
            self.provider_ids.put(f"{thread.via}:{provider}", item)
        if thread is not None and thread.via.startswith("messaging:"):
            self.last_message_at[item] = float(args.get("at", 0.0))

    def _channel(self, args: dict[str, Any]) -> None:
        name = str(args.get("follower", ""))
        if "cursor" in args:
            self.progress[name] = max(self.progress.get(name, 0), int(args["cursor"]))
        if "dead" in args:
            letters = self.dead.setdefault(name, [])
            letters.append(dict(args["dead"]))
            del letters[:-DEAD_LETTERS_KEPT]

    def _closed(self, item: str) -> None:
        thread = self.thread(item)
        if thread is not None and self.open.get((thread.via, thread.address)) == item:
            del self.open[(thread.via, thread.address)]
        self.last_message_at.pop(item, None)


_FOLDS = {
    "submit": ChannelIndex._submit,
    "message": ChannelIndex._message,
    "channel": ChannelIndex._channel,
}
