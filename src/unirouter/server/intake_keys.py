"""The store's intake keys: (workstream, external id) → item id, durable and indexed (issue 17).

The engine forgets closed items beyond ``retain_closed``, and with them its index of external ids;
a repeated intake of such an item must still be known. So each ``item_created`` event's key is
written to the store's ``idempotency_keys`` table in the same append as the event (the host does
it), and a log written before that gets the keys of all its items at its first start here, while
the replay reads it; the mark then says the log needs no more.
"""

from __future__ import annotations

from typing import Any

from unirouter import wellformed
from unirouter.storage import Key, Store

__all__ = ["SCOPE", "Backfill", "key_of", "marked"]

#: The scope of intake keys: ``intake:WORKSTREAM``.
SCOPE = "intake:"
_MARK = ("server", "intake_keys")
#: Keys written per append while back-filling a long log.
CHUNK = 10_000


def key_of(created: dict[str, Any]) -> Key:
    """An ``item_created`` event's intake key."""
    return Key(scope=SCOPE + str(created["workstream"]), key=str(created["external_id"]),
               value=str(created["item"]))  # fmt: skip


def marked(store: Store) -> bool:
    """Whether every item of the store's log has its intake key."""
    return store.recall_key(*_MARK) is not None


class Backfill:
    """A fold (fed like the host's other folds) writing the intake key of every item it sees."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.written = 0
        self._keys: list[Key] = []

    def feed(self, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        created = [key_of(e) for e in events if e.get("type") == "item_created"]
        # An older build may have taken an external id that is not valid text: no store can keep
        # it as a key, and the edges refuse it now, so it can never be repeated.
        self._keys += [k for k in created if wellformed.is_text(k.scope + k.key)]
        if len(self._keys) >= CHUNK:
            self._flush()

    def finish(self) -> None:
        """Write what is left, then mark the log: from now on the host writes each key itself."""
        self._flush()
        self.store.remember_key(*_MARK, "1")

    def _flush(self) -> None:
        if self._keys:
            self.store.append([], self._keys)
            self.written += len(self._keys)
            self._keys = []
