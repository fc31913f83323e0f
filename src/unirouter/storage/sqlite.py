"""The SQLite store: the embedded default, one file in WAL mode (SPEC §9).

A 2xx happens only after the events behind it are durable, so every write waits for a commit with
``synchronous=FULL`` (an fsync of the WAL). One fsync per request would cap the server at the disk's
fsync rate; group commit lifts that cap: one writer thread takes every write waiting in its queue,
runs them in one transaction and pays one fsync for all of them, then wakes each caller. Batches
form by themselves: while one commit is syncing, the next writes queue up, so a lone request pays no
added delay and a busy server gets bigger batches.

Readers use their own connections. In WAL mode they never block the writer nor wait for it, and they
see only committed transactions, and a transaction becomes visible only after its WAL fsync, so a
read never shows a write that a crash could still take back.
"""

# Over 400 lines for a reason: the committer, the reader pool and the store share one set of
# connection rules. GroupCommitter moves to its own module when the PostgreSQL adapter reuses it.
from __future__ import annotations

import contextlib
import functools
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

from unirouter.storage import port

__all__ = ["MIGRATIONS", "GroupCommitter", "SqliteStore", "Synchronous", "WalCheckpoint", "migrate"]

T = TypeVar("T")

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
]

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)"""

_INSERT_RECORD = "INSERT INTO records (kind, body) VALUES (?, ?)"
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


class _Write:
    """One queued write and its caller's wake-up: a bare lock, the cheapest wait CPython has."""

    __slots__ = ("_settled", "error", "result", "run")

    def __init__(self, run: Callable[[sqlite3.Connection], Any]) -> None:
        self.run = run
        self.result: Any = None
        self.error: BaseException | None = None
        self._settled = threading.Lock()
        self._settled.acquire()  # released by the writer thread once the batch is settled

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self._settled.release()

    def wait(self) -> Any:
        self._settled.acquire()
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommitter:
    """One writer thread that commits every queued write in one transaction and one fsync.

    Each caller waits on its own lock until the batch holding its write is committed. A failure
    rolls the whole batch back and fails every caller in it with :class:`port.CommitFailed`, so
    nothing partial is ever visible. The queue is first in, first out, so the writes of one thread
    keep their order. ``max_batch=1`` gives one transaction per write (the benchmark's baseline).
    """

    def __init__(self, connection: sqlite3.Connection, *, max_batch: int = 1024) -> None:
        self._connection = connection
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._transactions = 0
        self._writes = 0
        self._thread = threading.Thread(target=self._run, name="unirouter-writer", daemon=True)
        self._thread.start()

    @property
    def transactions(self) -> int:
        """How many transactions committed so far (instrumentation for tests and benchmarks)."""
        return self._transactions

    @property
    def writes(self) -> int:
        """How many writes those transactions carried."""
        return self._writes

    @property
    def pending(self) -> int:
        """How many writes wait for the writer (approximate, as any queue size)."""
        return self._queue.qsize()

    def submit(self, run: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``run`` inside the next group transaction; return its result once committed."""
        write = _Write(run)
        with self._lock:
            if self._closed:
                raise port.StoreClosed()
            self._queue.put(write)
        return cast(T, write.wait())

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                batch, stop = self._next_batch()
                if batch:
                    self._commit(batch)
        finally:
            self._fail_leftovers()

    def _next_batch(self) -> tuple[list[_Write], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                break
            if write is None:
                return batch, True
            batch.append(write)
        return batch, False

    def _commit(self, batch: list[_Write]) -> None:
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            results = [write.run(connection) for write in batch]
            connection.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            for write in batch:
                failure = port.CommitFailed(len(batch))
                failure.__cause__ = exc
                write.settle(error=failure)
            if not isinstance(exc, Exception):
                raise  # e.g. SystemExit from a write: stop, after waking every caller
            return
        self._transactions += 1
        self._writes += len(batch)
        for write, result in zip(batch, results, strict=True):
            write.settle(result)

    def _rollback(self) -> None:
        # A failed COMMIT may already have rolled back; a failing ROLLBACK (disk gone) leaves the
        # connection to fail the next batch too, which is the truth.
        if self._connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")

    def _fail_leftovers(self) -> None:
        # Only reached with writes queued if the loop died of a bug: never leave a caller waiting.
        with self._lock:
            self._closed = True
        while True:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                return
            if write is not None:
                write.settle(error=port.StoreClosed())


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
        except BaseException:
            writer.close()
            raise
        self.committer = GroupCommitter(writer, max_batch=max_batch)
        self._writer = writer
        self._readers = _Readers(functools.partial(self._connect, read_only=True))

    def append(self, records: Sequence[port.Record]) -> int:
        rows = [(kind.value, body) for kind, body in port.encode_records(records)]
        if not rows:
            return self.last_cursor()
        return self.committer.submit(functools.partial(_insert_records, rows))

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
        # Checking against last_cursor outside the transaction is sound: cursors only grow.
        cursor, body = port.check_snapshot(cursor, body, self.last_cursor())
        self.committer.submit(functools.partial(_put_snapshot, cursor, body))

    def latest_snapshot(self) -> port.Snapshot | None:
        with self._readers.connection() as connection:
            row = connection.execute(
                "SELECT cursor, body FROM snapshots ORDER BY cursor DESC LIMIT 1"
            ).fetchone()
        return None if row is None else port.Snapshot(cursor=row[0], body=row[1])

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

    def checkpoint(self) -> WalCheckpoint:
        """Copy the WAL into the database file and truncate it, so the WAL does not grow unbounded.

        SQLite checkpoints passively as it goes; this waits for readers and the writer (up to the
        busy timeout) to finish the job, e.g. when the server is idle or shutting down.
        """
        with self._readers.connection() as connection:
            busy, frames, done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return WalCheckpoint(busy=bool(busy), wal_frames=frames, checkpointed_frames=done)

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


def _insert_records(rows: list[tuple[str, bytes]], connection: sqlite3.Connection) -> int:
    if len(rows) == 1:  # the common case, one statement instead of two
        return int(connection.execute(_INSERT_RECORD, rows[0]).lastrowid or 0)
    connection.executemany(_INSERT_RECORD, rows)
    return int(connection.execute("SELECT last_insert_rowid()").fetchone()[0])


def _put_snapshot(cursor: int, body: bytes, connection: sqlite3.Connection) -> None:
    # Keep only the snapshot of the highest cursor: a lower one deletes itself right away.
    connection.execute(
        "INSERT INTO snapshots (cursor, body) VALUES (?, ?) "
        "ON CONFLICT (cursor) DO UPDATE SET body = excluded.body",
        (cursor, body),
    )
    connection.execute("DELETE FROM snapshots WHERE cursor < (SELECT MAX(cursor) FROM snapshots)")


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
