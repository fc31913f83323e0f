"""Storage: the durable event log behind the server (SPEC §9).

One port, :class:`Store` (:mod:`unirouter.storage.port`), and one adapter per technology:
:mod:`~unirouter.storage.memory`, :mod:`~unirouter.storage.sqlite` (the embedded default) and
:mod:`~unirouter.storage.postgres` (several servers on one database). Every adapter runs the same
contract tests. Shells pick one with :func:`open_store` from the ``--db`` URL.
"""

from __future__ import annotations

from collections.abc import Callable

from unirouter.storage import memory, port, postgres, sqlite
from unirouter.storage.memory import MemoryStore
from unirouter.storage.port import (
    AdapterNotAvailable,
    CommitFailed,
    Fenced,
    IncompatibleSchema,
    InvalidArgument,
    Key,
    Record,
    RecordKind,
    Snapshot,
    StorageError,
    Store,
    StoreClosed,
    StoredRecord,
    StoreLost,
    StoreUnavailable,
)
from unirouter.storage.postgres import PostgresStore
from unirouter.storage.sqlite import SqliteStore

__all__ = [
    "AdapterNotAvailable",
    "CommitFailed",
    "Fenced",
    "IncompatibleSchema",
    "InvalidArgument",
    "Key",
    "MemoryStore",
    "PostgresStore",
    "Record",
    "RecordKind",
    "Snapshot",
    "SqliteStore",
    "StorageError",
    "Store",
    "StoreClosed",
    "StoreLost",
    "StoreUnavailable",
    "StoredRecord",
    "memory",
    "open_store",
    "port",
    "postgres",
    "sqlite",
]

_EXPECTED = "expected memory:, sqlite:///FILE.db, a path ending in .db or postgresql://…"


def open_store(url: str) -> Store:
    """Open the store a ``--db`` URL names (SPEC §6.2; the default is the file ./unirouter.db).

    ``memory:`` is a fresh in-memory store. ``sqlite:///FILE.db`` follows the SQLAlchemy rule: what
    follows the third slash is the path, so ``sqlite:///data/u.db`` is relative and
    ``sqlite:////var/lib/u.db`` absolute. A bare path ending in ``.db`` is a SQLite file too.
    ``postgresql://user@host:port/db`` (also ``postgres://`` and ``postgresql+psycopg://``) is a
    PostgreSQL database, migrated on open.
    """
    if url in ("memory:", "memory://"):
        return memory.MemoryStore()
    scheme, separator, rest = url.partition("://")
    if separator:
        opener = _OPENERS.get(scheme.lower().partition("+")[0])
        if opener is None:
            raise StoreUnavailable(port.redacted(url), f"unknown scheme {scheme!r}; {_EXPECTED}")
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


def _open_postgres(url: str, rest: str) -> Store:
    return postgres.PostgresStore(url)


# The adapters by URL scheme (the part before any "+driver").
_OPENERS: dict[str, Callable[[str, str], Store]] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}
