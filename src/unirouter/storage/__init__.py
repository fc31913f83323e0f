"""Storage: the durable event log behind the server (SPEC §9).

One port, :class:`Store` (:mod:`unirouter.storage.port`), and one adapter per technology:
:mod:`~unirouter.storage.memory` and :mod:`~unirouter.storage.sqlite` (PostgreSQL comes later). Every
adapter runs the same contract tests. Shells pick one with :func:`open_store` from the ``--db`` URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from unirouter.storage import memory, port, sqlite
from unirouter.storage.memory import MemoryStore
from unirouter.storage.port import (
    AdapterNotAvailable,
    CommitFailed,
    IncompatibleSchema,
    InvalidArgument,
    Record,
    RecordKind,
    Snapshot,
    StorageError,
    Store,
    StoreClosed,
    StoredRecord,
    StoreUnavailable,
)
from unirouter.storage.sqlite import SqliteStore

__all__ = [
    "AdapterNotAvailable",
    "CommitFailed",
    "IncompatibleSchema",
    "InvalidArgument",
    "MemoryStore",
    "Record",
    "RecordKind",
    "Snapshot",
    "SqliteStore",
    "StorageError",
    "Store",
    "StoreClosed",
    "StoreUnavailable",
    "StoredRecord",
    "memory",
    "open_store",
    "port",
    "sqlite",
]

_EXPECTED = "expected memory:, sqlite:///FILE.db or a path ending in .db"


def open_store(url: str) -> Store:
    """Open the store a ``--db`` URL names (SPEC §6.2; the default is the file ./unirouter.db).

    ``memory:`` is a fresh in-memory store. ``sqlite:///FILE.db`` follows the SQLAlchemy rule: what
    follows the third slash is the path, so ``sqlite:///data/u.db`` is relative and
    ``sqlite:////var/lib/u.db`` absolute. A bare path ending in ``.db`` is a SQLite file too.
    ``postgresql://…`` raises :class:`AdapterNotAvailable` until its adapter exists.
    """
    if url in ("memory:", "memory://"):
        return memory.MemoryStore()
    scheme, separator, rest = url.partition("://")
    if separator:
        opener = _OPENERS.get(scheme.lower().partition("+")[0])
        if opener is None:
            raise StoreUnavailable(_redacted(url), f"unknown scheme {scheme!r}; {_EXPECTED}")
        return opener(url, rest)
    if url.endswith(".db"):
        return sqlite.SqliteStore(url)
    raise StoreUnavailable(url, f"not a store URL; {_EXPECTED}")


def _open_sqlite(url: str, rest: str) -> Store:
    path = rest[1:] if rest.startswith("/") else ""
    if path in ("", ":memory:"):
        raise StoreUnavailable(
            url, f"a SQLite store needs a file (use memory: otherwise); {_EXPECTED}"
        )
    return sqlite.SqliteStore(path)


def _not_yet(url: str, rest: str) -> Store:
    raise AdapterNotAvailable(_redacted(url), "postgresql")


# The adapters by URL scheme (the part before any "+driver"). The PostgreSQL issue replaces _not_yet.
_OPENERS: dict[str, Callable[[str, str], Store]] = {
    "sqlite": _open_sqlite,
    "postgresql": _not_yet,
    "postgres": _not_yet,
}


def _redacted(url: str) -> str:
    """The URL without its password, fit for an error message or a log line."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)
