"""The storage port: the one small interface every storage adapter implements (SPEC §9).

The engine's state changes only through events, and a 2xx happens only after the events behind it are
durable. So the server needs exactly this from storage: append records to a log durably and get a
cursor for each, read the log back from a cursor (replay, the resumable event stream), keep the latest
snapshot so a restart does not replay from the beginning, and remember idempotency keys so a retried
request gets the first answer (the same table keeps API token hashes, listed and forgotten). Everything else (encoding events, deciding when to snapshot) belongs
to the shells, so every adapter stays small and runs the same contract tests.

The errors of this port are drawn here rather than in :mod:`unirouter.errors` because only the
storage adapters raise them; they still descend from the package root::

    UnirouterError
    └── StorageError                the store could not do what was asked; nothing was written
        ├── StoreUnavailable        the URL names no store this build can open (``url``, ``reason``)
        │   └── AdapterNotAvailable a known adapter that is not built yet (``scheme``): postgresql
        ├── IncompatibleSchema      the file was written by a newer unirouter (``found``, ``supported``)
        ├── InvalidArgument         a value of the wrong shape (``field``, ``index``, ``expected``)
        ├── StoreClosed             the store was closed
        ├── StoreLost               its files were deleted, replaced or truncated under the
        │                           server (``path``, ``reason``); nothing more is acknowledged
        ├── Fenced                  a newer leader holds the log: this writer's term is over
        │                           (``term``, ``current``; PostgreSQL, several servers)
        └── CommitFailed            the batch this write rode in could not be made durable (``writes``)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from unirouter.errors import UnirouterError

__all__ = [
    "AdapterNotAvailable",
    "CommitFailed",
    "Fenced",
    "IncompatibleSchema",
    "InvalidArgument",
    "Key",
    "Record",
    "RecordKind",
    "Snapshot",
    "StorageError",
    "Store",
    "StoreClosed",
    "StoreLost",
    "StoreUnavailable",
    "StoredRecord",
    "check_cursor",
    "check_limit",
    "check_snapshot",
    "check_text",
    "encode_keys",
    "encode_records",
    "redacted",
]


class RecordKind(StrEnum):
    """What a log record holds: a command as received, or an event the engine emitted."""

    COMMAND = "command"
    EVENT = "event"


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """A record to append. ``body`` is JSON, as bytes or as text (stored as UTF-8 bytes).

    The record is not validated when built but when appended, so that a bad record in a batch makes
    the whole append fail and leaves nothing behind.
    """

    kind: RecordKind
    body: bytes | str


@dataclass(frozen=True, slots=True, kw_only=True)
class Key:
    """An idempotency key written by an append, in the same atomic write as its records: under
    (``scope``, ``key``) the first ``value`` stored wins, as with :meth:`Store.remember_key`.

    The server keeps each intake's (workstream, external_id) → item id so, durable with the item
    and indexed by the table's key, so a repeat is known after the item left memory (issue 17).
    """

    scope: str
    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRecord:
    """A record as the log holds it: its cursor is its place in the log, strictly increasing."""

    cursor: int
    kind: RecordKind
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """A state snapshot taken after every record up to and including ``cursor`` was applied."""

    cursor: int
    body: bytes


class Store(Protocol):
    """A durable, append-only log of records plus a snapshot and idempotency keys.

    Every write is durable when it returns (for the memory adapter: as durable as the process), and
    a reader never sees a write that is not yet durable, so what the event stream shows will survive
    a crash. Implementations are thread-safe.
    """

    def append(self, records: Sequence[Record], keys: Sequence[Key] = ()) -> int:
        """Append ``records`` atomically (all or none) and durably; return the cursor of the last one.

        The records get consecutive cursors, higher than every cursor before. An empty batch writes
        nothing and returns :meth:`last_cursor`. ``keys`` are remembered (first writer wins) in the
        same atomic write: none of them is stored unless the records are.
        """
        ...

    def read(self, after: int = 0, limit: int | None = None) -> list[StoredRecord]:
        """The records with a cursor above ``after``, oldest first, at most ``limit`` of them."""
        ...

    def last_cursor(self) -> int:
        """The cursor of the newest record, 0 for an empty log."""
        ...

    def put_snapshot(self, cursor: int, body: bytes) -> None:
        """Keep ``body`` as the snapshot at ``cursor`` (0 ≤ cursor ≤ :meth:`last_cursor`).

        The snapshot of the highest cursor wins; an equal cursor replaces it, a lower one is dropped,
        so a late writer (a deposed leader) can never roll the snapshot back.
        """
        ...

    def latest_snapshot(self) -> Snapshot | None:
        """The snapshot of the highest cursor, or ``None`` before the first one."""
        ...

    def remember_key(self, scope: str, key: str, value: str) -> str:
        """Store ``value`` under (scope, key) unless one is there; return the stored value.

        The first writer wins atomically, so two concurrent retries of one request agree on a single
        answer. Durable on return, like an append.
        """
        ...

    def recall_key(self, scope: str, key: str) -> str | None:
        """The value stored under (scope, key), or ``None``."""
        ...

    def keys(self, scope: str) -> list[tuple[str, str]]:
        """Every (key, value) stored under ``scope``, by key (a short list: API tokens)."""
        ...

    def forget_key(self, scope: str, key: str) -> bool:
        """Delete (scope, key) durably; whether it was there. A revoked token is forgotten."""
        ...

    def verify(self) -> None:
        """Raise :class:`StoreLost` if the store is no longer the one opened (the server's
        readiness probe asks; writes check it themselves before they are acknowledged)."""
        ...

    def close(self) -> None:
        """Finish the writes in flight, then release the store; later calls raise StoreClosed."""
        ...


class StorageError(UnirouterError):
    """The store could not do what was asked. Nothing was written."""


class StoreUnavailable(StorageError):
    """The URL names no store this build can open: an unknown scheme, or a file that cannot open."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot open the store {url!r}: {reason}")


class AdapterNotAvailable(StoreUnavailable):
    """An adapter the SPEC plans (PostgreSQL, §9) but this build does not have yet."""

    def __init__(self, url: str, scheme: str) -> None:
        self.scheme = scheme
        super().__init__(url, f"the {scheme} adapter is not available yet; use sqlite or memory")


class IncompatibleSchema(StorageError):
    """The store was written by a newer unirouter; opening it could corrupt it."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"the store has schema version {found}, this unirouter knows up to {supported}"
        )


class InvalidArgument(StorageError):
    """A value of the wrong shape; ``index`` is the record's place in the batch, if any."""

    def __init__(self, field: str, expected: str, index: int | None = None) -> None:
        self.field = field
        self.expected = expected
        self.index = index
        where = field if index is None else f"records[{index}].{field}"
        super().__init__(f"{where} must be {expected}")


class StoreClosed(StorageError):
    """The store was closed; open it again to use it."""

    def __init__(self) -> None:
        super().__init__("the store is closed")


class StoreLost(StorageError):
    """The store is no longer the one opened: a file was deleted, replaced or truncated under the
    server (issue 17 item 6). Whatever was written since is not durable; nothing more is."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"the store {path} is gone: {reason}")


class Fenced(StorageError):
    """An append carried the fencing token ``term`` but the log's term is already ``current``:
    another server was elected leader since, so this one may never append again (SPEC §9)."""

    def __init__(self, term: int, current: int) -> None:
        self.term = term
        self.current = current
        super().__init__(f"the log belongs to leader term {current}; term {term} is fenced off")


class CommitFailed(StorageError):
    """The transaction this write rode in failed; none of its ``writes`` writes is visible."""

    def __init__(self, writes: int) -> None:
        self.writes = writes
        super().__init__(f"a commit of {writes} grouped writes failed; none of them was stored")


def encode_records(records: Sequence[Record]) -> list[tuple[RecordKind, bytes]]:
    """Check a whole batch before any of it is written and return its (kind, body bytes) rows.

    Every adapter calls this first, so a bad record fails the same way everywhere and fails only
    its own caller, never the other writes a group commit would have batched with it.
    """
    rows: list[tuple[RecordKind, bytes]] = []
    for index, record in enumerate(records):
        if not isinstance(record, Record):
            raise InvalidArgument("record", "a Record", index)
        rows.append((_kind(record.kind, index), _body(record.body, index)))
    return rows


def encode_keys(keys: Sequence[Key]) -> list[tuple[str, str, str]]:
    """Check the keys of an append before any of it is written: (scope, key, value) rows."""
    rows: list[tuple[str, str, str]] = []
    for key in keys:
        if not isinstance(key, Key):
            raise InvalidArgument("keys", "a sequence of Key")
        rows.append((check_text(key.scope, "scope"), check_text(key.key, "key"),
                     check_text(key.value, "value")))  # fmt: skip
    return rows


def _kind(kind: object, index: int) -> RecordKind:
    if isinstance(kind, str) and kind in _KINDS:
        return RecordKind(kind)
    raise InvalidArgument("kind", "'command' or 'event'", index)


def _body(body: object, index: int) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    raise InvalidArgument("body", "bytes or str", index)


_KINDS = frozenset(kind.value for kind in RecordKind)


def check_cursor(cursor: object, field: str) -> int:
    """A cursor argument: an int from 0 to 2**63 - 1, what every database stores (bool is no int)."""
    if isinstance(cursor, int) and not isinstance(cursor, bool) and 0 <= cursor < 2**63:
        return cursor
    raise InvalidArgument(field, "an int from 0 to 2**63 - 1")


def check_limit(limit: object) -> int | None:
    """A read limit: ``None`` (no limit) or a non-negative int."""
    return None if limit is None else check_cursor(limit, "limit")


def check_text(value: object, field: str) -> str:
    """A scope, key or value of the idempotency table: text."""
    if isinstance(value, str):
        return value
    raise InvalidArgument(field, "a str")


def check_snapshot(cursor: object, body: object, last: int) -> tuple[int, bytes]:
    """A snapshot may not claim records the log does not hold (cursor ≤ last cursor)."""
    checked = check_cursor(cursor, "cursor")
    if checked > last:
        raise InvalidArgument("cursor", f"at most the last cursor ({last})")
    if not isinstance(body, bytes):
        raise InvalidArgument("body", "bytes")
    return checked, body


def redacted(url: str) -> str:
    """A store URL without its password, fit for an error message or a log line."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)
