"""The in-memory store: the log in a list, for tests, the simulator and ``--db memory:``.

It keeps the whole contract of :class:`unirouter.storage.port.Store` except surviving the process:
"durable on return" here means visible to every thread on return. One lock makes each call atomic,
which is all the contract asks; nothing here is slow enough for the lock to matter.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from unirouter.storage import port

__all__ = ["MemoryStore"]


class MemoryStore:
    """A thread-safe :class:`~unirouter.storage.port.Store` that forgets everything on close."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # records[i] has cursor i + 1: cursors are gap-free, so a read is a slice.
        self._records: list[port.StoredRecord] = []
        self._snapshot: port.Snapshot | None = None
        self._keys: dict[tuple[str, str], str] = {}
        self._closed = False

    def append(self, records: Sequence[port.Record], keys: Sequence[port.Key] = ()) -> int:
        rows = port.encode_records(records)
        key_rows = port.encode_keys(keys)
        with self._lock:
            self._check_open()
            first = len(self._records) + 1
            self._records.extend(
                port.StoredRecord(cursor=first + offset, kind=kind, body=body)
                for offset, (kind, body) in enumerate(rows)
            )
            for scope, key, value in key_rows:
                self._keys.setdefault((scope, key), value)
            return len(self._records)

    def read(self, after: int = 0, limit: int | None = None) -> list[port.StoredRecord]:
        after = port.check_cursor(after, "after")
        limit = port.check_limit(limit)
        with self._lock:
            self._check_open()
            end = None if limit is None else after + limit
            return self._records[after:end]

    def last_cursor(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._records)

    def put_snapshot(self, cursor: int, body: bytes) -> None:
        with self._lock:
            self._check_open()
            cursor, body = port.check_snapshot(cursor, body, len(self._records))
            if self._snapshot is None or cursor >= self._snapshot.cursor:
                self._snapshot = port.Snapshot(cursor=cursor, body=body)

    def latest_snapshot(self) -> port.Snapshot | None:
        with self._lock:
            self._check_open()
            return self._snapshot

    def remember_key(self, scope: str, key: str, value: str) -> str:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        value = port.check_text(value, "value")
        with self._lock:
            self._check_open()
            return self._keys.setdefault(slot, value)

    def recall_key(self, scope: str, key: str) -> str | None:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        with self._lock:
            self._check_open()
            return self._keys.get(slot)

    def keys(self, scope: str) -> list[tuple[str, str]]:
        scope = port.check_text(scope, "scope")
        with self._lock:
            self._check_open()
            return sorted((k, v) for (s, k), v in self._keys.items() if s == scope)

    def forget_key(self, scope: str, key: str) -> bool:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        with self._lock:
            self._check_open()
            return self._keys.pop(slot, None) is not None

    def verify(self) -> None:
        with self._lock:
            self._check_open()

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise port.StoreClosed()
