"""The SQLite store: the embedded default, one file in WAL mode (SPEC §9).

A 2xx happens only after the events behind it are durable, so every write waits for a commit with
``synchronous=FULL`` (an fsync of the WAL), batched by the shared group committer
(:mod:`unirouter.storage._group_commit`): one writer thread, one transaction and one fsync for all
the writes waiting.

Readers use their own connections. In WAL mode they never block the writer nor wait for it, and they
see only committed transactions, and a transaction becomes visible only after its WAL fsync, so a
read never shows a write that a crash could still take back.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from unirouter.storage import port
from unirouter.storage._group_commit import GroupCommitter
from unirouter.storage._sqlite_identity import Identity, identity_row

__all__ = ["MIGRATIONS", "SqliteStore", "Synchronous", "WalCheckpoint", "migrate"]

# Each migration is a list of statements run in the same transaction as its schema_version row, so a
# crash in the middle leaves the previous version. Append to the list; never edit a released entry.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: the log, the snapshot, the idempotency keys
        # AUTOINCREMENT: a cursor handed to a client (GET /v1/events?after=) is never given again,
        # even if old records are one day compacted away.
        """CREATE TABLE records (
            cursor INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('command', 'event')),
            body BLOB NOT NULL CHECK (typeof(body) = 'blob')
        )""",
        "CREATE TABLE snapshots (cursor INTEGER PRIMARY KEY, body BLOB NOT NULL)",
        """CREATE TABLE idempotency_keys (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (scope, key)
        ) WITHOUT ROWID""",
    ),
    (  # 2: a large snapshot is written in parts, one group commit each (issue 10 item 3)
        "ALTER TABLE snapshots ADD COLUMN parts TEXT",
        """CREATE TABLE snapshot_parts (
            parts TEXT NOT NULL,
            part INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (parts, part)
        )""",
    ),
]

#: A snapshot over this many bytes is written in parts of this size, each in its own group commit,
#: so appends wait behind at most one part instead of the whole snapshot.
SNAPSHOT_PART = 256 * 1024

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)"""

_INSERT_RECORD = "INSERT INTO records (kind, body) VALUES (?, ?)"
_INSERT_KEY = (
    "INSERT INTO idempotency_keys (scope, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (scope, key) DO NOTHING"
)
_FOUND_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_version"
_KINDS = {kind.value: kind for kind in port.RecordKind}
_IDLE_READERS = 8


class Synchronous(StrEnum):
    """SQLite's ``synchronous`` setting; OFF is not offered since it is never durable.

    FULL (default): durable on return, also against power loss. NORMAL: survives a crash of the
    process but may lose the last commits on power loss. EXTRA: FULL plus a directory sync.
    """

    NORMAL = "NORMAL"
    FULL = "FULL"
    EXTRA = "EXTRA"


@dataclass(frozen=True, slots=True, kw_only=True)
class WalCheckpoint:
    """What a checkpoint did: ``busy`` if it could not finish, frame counts of the WAL."""

    busy: bool
    wal_frames: int
    checkpointed_frames: int


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the schema to the newest version in one transaction; return that version."""
    supported = len(MIGRATIONS)
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_VERSION_TABLE)
        found = int(connection.execute(_FOUND_VERSION).fetchone()[0])
        if found > supported:
            raise port.IncompatibleSchema(found, supported)
        for version in range(found + 1, supported + 1):
            for statement in MIGRATIONS[version - 1]:
                connection.execute(statement)
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return supported


class _SqliteTransactions:
    """How the group committer frames a transaction on the SQLite writer connection: a batch is
    acknowledged only if the store is still the one opened, after its commit (issue 17 item 6)."""

    def __init__(self, connection: sqlite3.Connection, identity: Identity) -> None:
        self.connection = connection
        self.identity = identity

    def begin(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        self.identity.verify_row(self.connection)
        return self.connection

    def commit(self) -> None:
        self.connection.execute("COMMIT")
        self.identity.verify()

    def rollback(self) -> None:
        # A failed COMMIT may already have rolled back; a failing ROLLBACK (disk gone) leaves the
        # connection to fail the next batch too, which is the truth.
        if self.connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("ROLLBACK")


class _Readers:
    """A small pool of read-only connections, so reads neither wait for the writer nor each other."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise port.StoreClosed()
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._connect()
        try:
            yield connection
        finally:
            self._give_back(connection)

    def check_open(self) -> None:
        if self._closed:
            raise port.StoreClosed()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _give_back(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            keep = not self._closed and len(self._idle) < _IDLE_READERS
            if keep:
                self._idle.append(connection)
        if not keep:
            connection.close()


class SqliteStore:
    """A :class:`~unirouter.storage.port.Store` in one SQLite file, durable on return.

    Writes go through :attr:`committer` (one writer connection, group commit); reads use a pool of
    read-only connections. Open one store per file per process: the writer thread is what orders
    the cursors.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = Synchronous.FULL,
        max_batch: int = 1024,
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = os.fspath(path)
        self._timeout = busy_timeout_s
        try:
            writer = self._connect()
        except sqlite3.Error as exc:
            raise port.StoreUnavailable(self.path, str(exc)) from exc
        try:
            self._prepare(writer, synchronous)
            self._identity = Identity(self.path, identity_row(writer))
        except BaseException:
            writer.close()
            raise
        transactions = _SqliteTransactions(writer, self._identity)
        self.committer = GroupCommitter(transactions, max_batch=max_batch)
        self._writer = writer
        self._readers = _Readers(functools.partial(self._connect, read_only=True))

    def append(self, records: Sequence[port.Record], keys: Sequence[port.Key] = ()) -> int:
        rows = [(kind.value, body) for kind, body in port.encode_records(records)]
        key_rows = port.encode_keys(keys)
        if not rows and not key_rows:
            return self.last_cursor()
        return self.committer.submit(functools.partial(_insert_records, rows, key_rows))

    def read(self, after: int = 0, limit: int | None = None) -> list[port.StoredRecord]:
        after = port.check_cursor(after, "after")
        limit = port.check_limit(limit)
        with self._readers.connection() as connection:
            rows = connection.execute(
                "SELECT cursor, kind, body FROM records WHERE cursor > ? ORDER BY cursor LIMIT ?",
                (after, -1 if limit is None else limit),
            ).fetchall()
        return [port.StoredRecord(cursor=c, kind=_KINDS[k], body=b) for c, k, b in rows]

    def last_cursor(self) -> int:
        # sqlite_sequence, not MAX(cursor): the last cursor ever given, even after a compaction.
        with self._readers.connection() as connection:
            row = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
            ).fetchone()
        return 0 if row is None else int(row[0])

    def put_snapshot(self, cursor: int, body: bytes) -> None:
        """Keep ``body`` as the snapshot at ``cursor``. Over :data:`SNAPSHOT_PART` bytes it is
        written in parts, each its own group commit (appends go on between them); its row, which
        makes it the latest, is written last, with its final part, so a reader sees the whole
        snapshot or the one before."""
        # Checking against last_cursor outside the transaction is sound: cursors only grow.
        cursor, body = port.check_snapshot(cursor, body, self.last_cursor())
        view = memoryview(body)
        starts = range(0, max(len(body) - 1, 0) // SNAPSHOT_PART * SNAPSHOT_PART, SNAPSHOT_PART)
        parts = secrets.token_hex(8)
        for number, start in enumerate(starts):
            chunk = bytes(view[start : start + SNAPSHOT_PART])
            self.committer.submit(functools.partial(_put_part, parts, number, chunk))
        last = bytes(view[len(starts) * SNAPSHOT_PART :])
        named = parts if starts else None  # a small snapshot is its row alone, as always
        orphans = self.committer.submit(functools.partial(_put_snapshot, cursor, last, named))
        # The parts no snapshot row names any more (the replaced snapshot's, or those of a write
        # a crash cut short) go one per commit too: freeing a part walks its pages.
        for orphan in orphans:
            self.committer.submit(functools.partial(_delete_part, *orphan))

    def latest_snapshot(self) -> port.Snapshot | None:
        with self._readers.connection() as connection:
            connection.execute("BEGIN")  # one read transaction: the row and its parts agree
            try:
                row = connection.execute(
                    "SELECT cursor, body, parts FROM snapshots ORDER BY cursor DESC LIMIT 1"
                ).fetchone()
                earlier = [] if row is None or row[2] is None else [part for (part,) in
                           connection.execute("SELECT body FROM snapshot_parts WHERE parts = ? "
                                              "ORDER BY part", (row[2],))]  # fmt: skip
            finally:
                connection.execute("COMMIT")
        if row is None:
            return None
        return port.Snapshot(cursor=row[0], body=b"".join([*earlier, row[1]]))

    def remember_key(self, scope: str, key: str, value: str) -> str:
        value = port.check_text(value, "value")
        known = self.recall_key(scope, key)  # a visible key is committed: no write, no fsync
        if known is not None:
            return known
        return self.committer.submit(functools.partial(_remember, scope, key, value))

    def recall_key(self, scope: str, key: str) -> str | None:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        with self._readers.connection() as connection:
            row = connection.execute(
                "SELECT value FROM idempotency_keys WHERE scope = ? AND key = ?", slot
            ).fetchone()
        return None if row is None else str(row[0])

    def keys(self, scope: str) -> list[tuple[str, str]]:
        scope = port.check_text(scope, "scope")
        with self._readers.connection() as connection:
            rows = connection.execute(
                "SELECT key, value FROM idempotency_keys WHERE scope = ? ORDER BY key", (scope,)
            ).fetchall()
        return [(str(k), str(v)) for k, v in rows]

    def forget_key(self, scope: str, key: str) -> bool:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        return self.committer.submit(functools.partial(_forget, slot))

    def checkpoint(self) -> WalCheckpoint:
        """Copy the WAL into the database file and truncate it, so the WAL does not grow unbounded.

        SQLite checkpoints passively as it goes; this waits for readers and the writer (up to the
        busy timeout) to finish the job, e.g. when the server is idle or shutting down.
        """
        with self._readers.connection() as connection, self._identity.truncating_wal():
            busy, frames, done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return WalCheckpoint(busy=bool(busy), wal_frames=frames, checkpointed_frames=done)

    def verify(self) -> None:
        """Raise :class:`~unirouter.storage.port.StoreLost` if the files were deleted, replaced or
        truncated since the open (:mod:`unirouter.storage._sqlite_identity`)."""
        self._readers.check_open()
        self._identity.verify()

    def close(self) -> None:
        self.committer.close()
        self._readers.close()
        self._writer.close()

    def _connect(self, *, read_only: bool = False) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; the committer says BEGIN and COMMIT.
        connection = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        if read_only:
            connection.execute("PRAGMA query_only = ON")
        return connection

    def _prepare(self, writer: sqlite3.Connection, synchronous: Synchronous) -> None:
        try:
            mode = writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            writer.execute(f"PRAGMA synchronous = {Synchronous(synchronous).value}")
            if mode != "wal":
                raise port.StoreUnavailable(self.path, f"WAL mode is not available (got {mode})")
            migrate(writer)
        except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
            raise port.StoreUnavailable(self.path, str(exc)) from exc


def _insert_records(
    rows: list[tuple[str, bytes]], keys: list[tuple[str, str, str]], connection: sqlite3.Connection
) -> int:
    if keys:  # in the records' transaction: stored with them or not at all
        connection.executemany(_INSERT_KEY, keys)
    if not rows:
        return int(connection.execute(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0)"
        ).fetchone()[0])  # fmt: skip
    if len(rows) == 1:  # the common case, one statement instead of two
        return int(connection.execute(_INSERT_RECORD, rows[0]).lastrowid or 0)
    connection.executemany(_INSERT_RECORD, rows)
    return int(connection.execute("SELECT last_insert_rowid()").fetchone()[0])


def _put_part(parts: str, part: int, body: bytes, connection: sqlite3.Connection) -> None:
    connection.execute(
        "INSERT INTO snapshot_parts (parts, part, body) VALUES (?, ?, ?)", (parts, part, body)
    )


def _put_snapshot(
    cursor: int, body: bytes, parts: str | None, connection: sqlite3.Connection
) -> list[tuple[str, int]]:
    """Write the snapshot's row (with its last part); returns the parts no row names now."""
    # Keep only the snapshot of the highest cursor: a lower one deletes itself right away (its
    # parts, and the replaced snapshot's, are deleted after, see put_snapshot).
    connection.execute(
        "INSERT INTO snapshots (cursor, body, parts) VALUES (?, ?, ?) "
        "ON CONFLICT (cursor) DO UPDATE SET body = excluded.body, parts = excluded.parts",
        (cursor, body, parts),
    )
    connection.execute("DELETE FROM snapshots WHERE cursor < (SELECT MAX(cursor) FROM snapshots)")
    return [(str(p), int(n)) for p, n in connection.execute(
        "SELECT parts, part FROM snapshot_parts WHERE parts NOT IN "
        "(SELECT parts FROM snapshots WHERE parts IS NOT NULL)"
    )]  # fmt: skip


def _delete_part(parts: str, part: int, connection: sqlite3.Connection) -> None:
    connection.execute("DELETE FROM snapshot_parts WHERE parts = ? AND part = ?", (parts, part))


def _remember(scope: str, key: str, value: str, connection: sqlite3.Connection) -> str:
    # The single writer makes insert-then-select atomic: the first committed value wins.
    connection.execute(
        "INSERT INTO idempotency_keys (scope, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (scope, key) DO NOTHING",
        (scope, key, value),
    )
    row = connection.execute(
        "SELECT value FROM idempotency_keys WHERE scope = ? AND key = ?", (scope, key)
    ).fetchone()
    return str(row[0])


def _forget(slot: tuple[str, str], connection: sqlite3.Connection) -> bool:
    deleted = connection.execute(
        "DELETE FROM idempotency_keys WHERE scope = ? AND key = ?", slot
    ).rowcount
    return bool(deleted)
