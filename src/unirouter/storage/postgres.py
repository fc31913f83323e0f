"""The PostgreSQL store: one database shared by several server processes (SPEC §9).

Writes go through the shared group committer (:mod:`unirouter.storage._group_commit`) on one writer
connection: every write waiting rides in one transaction, and PostgreSQL makes a transaction durable
(``synchronous_commit``) before ``COMMIT`` returns, so a 2xx still follows durability. Reads use a
pool of autocommit connections (psycopg_pool) and see only committed, hence durable, records.

Cursors. The row ``log_head`` holds the last cursor given and the leader's **term** (the fencing
token). An append moves ``last_cursor`` forward with one ``UPDATE … WHERE term = %s`` and inserts
its records under the cursors it took. The row lock orders every append of every process and an
election (which bumps ``term`` on the same row) against them: an append either commits before the
new term (and the new leader, who reads the log after its election, sees it) or finds the term moved
and fails with :class:`~unirouter.storage.port.Fenced`. Cursors stay gap-free because a rolled-back
append rolls back its ``last_cursor`` too. Each record keeps the term that wrote it, so the log
itself proves no fenced leader ever appended. A store with no term (tests, tools) appends
unfenced; a server that leads always sets one (:meth:`PostgresStore.fence`).

Each commit that appended sends ``NOTIFY unirouter_log`` (delivered at commit, so only for durable
records): followers wake at once instead of polling. The election on the same row is in
:mod:`unirouter.storage.postgres_ha`.

Identity (issue 17 item 6). At the first open a random id is written as the key ``store-id`` of scope
``server`` (as the SQLite store does). Every group commit reads it back inside its transaction before
any write runs, and :meth:`PostgresStore.verify` (``/readyz``) reads it through a reader: a database
dropped and recreated, a schema dropped or replaced, or a connection that now reaches another
database (its id differs, or it has none) makes the store lost for good
(:class:`~unirouter.storage.port.StoreLost`), so the server answers 503 and never acknowledges into
a store that is not the one it opened.

Schema. Versioned migrations run on open, in one transaction under an advisory lock so servers
starting together migrate once; a database written by a newer unirouter is refused.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool

from unirouter.storage import port
from unirouter.storage._group_commit import GroupCommitter

__all__ = ["CHANNEL", "MIGRATIONS", "PostgresStore", "conninfo", "migrate"]

#: The LISTEN/NOTIFY channel of new durable records; the payload is the last cursor committed.
CHANNEL = "unirouter_log"
#: The advisory lock key that serialises migrations (any fixed 64-bit number of ours).
_MIGRATION_LOCK = 0x756E69726F757465

# Each migration runs in the same transaction as its schema_version row, so a crash in the middle
# leaves the previous version. Append to the list; never edit a released entry.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: the log and its head (last cursor, leader term and lease), snapshots, keys, terms
        """CREATE TABLE records (
            cursor BIGINT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('command', 'event')),
            body BYTEA NOT NULL,
            term BIGINT NOT NULL
        )""",
        """CREATE TABLE log_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_cursor BIGINT NOT NULL,
            term BIGINT NOT NULL,
            leader TEXT,
            leader_url TEXT,
            leader_pid INTEGER,
            lease_until TIMESTAMPTZ
        )""",
        "INSERT INTO log_head (id, last_cursor, term) VALUES (1, 0, 0)",
        """CREATE TABLE leader_terms (
            term BIGINT PRIMARY KEY,
            leader TEXT NOT NULL,
            leader_url TEXT,
            elected_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            after_cursor BIGINT NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE TABLE snapshots (cursor BIGINT PRIMARY KEY, body BYTEA NOT NULL)",
        """CREATE TABLE idempotency_keys (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (scope, key)
        )""",
    ),
]

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""
_KINDS = {kind.value: kind for kind in port.RecordKind}
_ADVANCE = (
    "UPDATE log_head SET last_cursor = last_cursor + %s "
    "WHERE id = 1 AND (%s::bigint IS NULL OR term = %s) RETURNING last_cursor"
)
_INSERT = (
    "INSERT INTO records (cursor, kind, body, term) "
    "SELECT %s + r.ord, r.kind, r.body, %s FROM unnest(%s::text[], %s::bytea[]) "
    "WITH ORDINALITY AS r(kind, body, ord)"
)


_INSERT_KEYS = (
    "INSERT INTO idempotency_keys (scope, key, value) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT (scope, key) DO NOTHING"
)


def conninfo(url: str) -> str:
    """The libpq URL of a ``--db`` URL: ``postgresql+psycopg://`` and ``postgres://`` accepted."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.lower().startswith("postgres") else url


def migrate(connection: psycopg.Connection[Any]) -> int:
    """Bring the schema to the newest version in one transaction; return that version."""
    supported = len(MIGRATIONS)
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        connection.execute(_VERSION_TABLE)
        row = connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        found = int(row[0]) if row else 0
        if found > supported:
            raise port.IncompatibleSchema(found, supported)
        for version in range(found + 1, supported + 1):
            for statement in MIGRATIONS[version - 1]:
                connection.execute(statement)
            connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return supported


IDENTITY_KEY = ("server", "store-id")


def _write_identity(connection: psycopg.Connection[Any]) -> str:
    """The store's identity row, written once (its own transaction) at the first open."""
    with connection.transaction():
        connection.execute(
            "INSERT INTO idempotency_keys (scope, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, key) DO NOTHING",
            (*IDENTITY_KEY, secrets.token_hex(16)),
        )
    return _read_identity(connection) or ""


def _read_identity(connection: psycopg.Connection[Any]) -> str | None:
    """The identity row's value; None if it or its table is missing (another database)."""
    try:
        row = connection.execute(
            "SELECT value FROM idempotency_keys WHERE scope = %s AND key = %s", IDENTITY_KEY
        ).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return None
    return None if row is None else str(row[0])


class _Identity:
    """The identity row read at open, and whether the store is lost (once lost, for good)."""

    def __init__(self, url: str, row: str) -> None:
        self._url = url
        self._row = row
        self.lost: port.StoreLost | None = None

    def check(self, connection: psycopg.Connection[Any]) -> None:
        lost = self.lost
        if lost is None:
            found = _read_identity(connection)
            if found != self._row:
                why = "its identity row is missing" if found is None else "its identity row changed"
                lost = self.lost = port.StoreLost(self._url, f"{why} (another database or schema)")
        if lost is not None:
            raise lost


class _Transactions:
    """The writer connection, reopened when it was lost (a database restart, a network cut): the
    batch that met the loss fails whole, the next one runs on a new connection. Each transaction
    first checks the store's identity row (issue 17 item 6)."""

    def __init__(self, info: str, connection: psycopg.Connection[Any], identity: _Identity) -> None:
        self._info = info
        self.connection = connection
        self.identity = identity
        #: The last cursor this transaction appended, announced by NOTIFY at commit.
        self.appended: int | None = None

    def begin(self) -> _Transactions:
        if self.identity.lost is not None:
            raise self.identity.lost
        if self.connection.closed or self.connection.broken:
            self.connection = _connect(self._info, autocommit=False)
        self.appended = None
        self.identity.check(self.connection)
        return self

    def commit(self) -> None:
        if self.appended is not None:
            self.connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(self.appended)))
        self.connection.commit()

    def rollback(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.connection.rollback()

    def close(self) -> None:
        self.connection.close()


#: A writer paused inside a transaction (SIGSTOP, a frozen VM) holds the log head's row lock, which
#: every append and every election needs: the database ends such a session after this long, so
#: the others go on (the paused writer's transaction is rolled back and its commit fails).
IDLE_IN_TRANSACTION_MS = 5000


def _connect(info: str, *, autocommit: bool) -> psycopg.Connection[Any]:
    connection = psycopg.connect(info, autocommit=autocommit, connect_timeout=5)
    connection.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")
    if not autocommit:
        connection.commit()
    return connection


class PostgresStore:
    """A :class:`~unirouter.storage.port.Store` in a PostgreSQL database, durable on return.

    Several processes may open the same database; the fencing token set by :meth:`fence` decides
    which of them may append. ``url`` is a libpq URL (``postgresql://user@host:port/db``).
    """

    def __init__(self, url: str, *, max_batch: int = 1024, readers: int = 8) -> None:
        self.url = port.redacted(url)
        self._info = conninfo(url)
        try:
            writer = _connect(self._info, autocommit=False)
        except psycopg.Error as exc:
            raise port.StoreUnavailable(self.url, _reason(exc)) from None
        try:
            migrate(writer)
            self._identity = _Identity(self.url, _write_identity(writer))
            writer.commit()
        except BaseException:
            writer.close()
            raise
        self._term: int | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._pool = ConnectionPool(self._info, min_size=1, max_size=readers, open=True,
                                    kwargs={"autocommit": True}, name="unirouter-readers")  # fmt: skip
        self._transactions = _Transactions(self._info, writer, self._identity)
        self.committer = GroupCommitter(self._transactions, max_batch=max_batch)

    @property
    def info(self) -> str:
        """The libpq connection string (with its password: never log it, use :attr:`url`)."""
        return self._info

    @property
    def term(self) -> int | None:
        """The fencing token every append carries, or None (unfenced)."""
        return self._term

    def committer_pid(self) -> int:
        """The database backend process of the writer connection (tests, diagnostics)."""
        return int(self._transactions.connection.info.backend_pid)

    def fence(self, term: int | None) -> None:
        """From now on, every append must carry ``term``: it fails with Fenced once the log
        moved to a newer term (another server was elected)."""
        self._term = term

    def append(self, records: Sequence[port.Record], keys: Sequence[port.Key] = ()) -> int:
        rows = port.encode_records(records)
        key_rows = port.encode_keys(keys)
        if not rows and not key_rows:
            return self.last_cursor()
        kinds = [kind.value for kind, _ in rows]
        bodies = [body for _, body in rows]
        append = functools.partial(_append, kinds, bodies, self._term, key_rows)
        return self.committer.submit(append)

    def read(self, after: int = 0, limit: int | None = None) -> list[port.StoredRecord]:
        after = port.check_cursor(after, "after")
        limit = port.check_limit(limit)
        with self._reader() as connection:
            rows = connection.execute(
                "SELECT cursor, kind, body FROM records WHERE cursor > %s ORDER BY cursor LIMIT %s",
                (after, limit),
            ).fetchall()
        return [port.StoredRecord(cursor=c, kind=_KINDS[k], body=bytes(b)) for c, k, b in rows]

    def last_cursor(self) -> int:
        with self._reader() as connection:
            row = connection.execute("SELECT last_cursor FROM log_head WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def put_snapshot(self, cursor: int, body: bytes) -> None:
        # Checking against last_cursor outside the transaction is sound: cursors only grow.
        cursor, body = port.check_snapshot(cursor, body, self.last_cursor())
        self.committer.submit(functools.partial(_put_snapshot, cursor, body))

    def latest_snapshot(self) -> port.Snapshot | None:
        with self._reader() as connection:
            row = connection.execute(
                "SELECT cursor, body FROM snapshots ORDER BY cursor DESC LIMIT 1"
            ).fetchone()
        return None if row is None else port.Snapshot(cursor=row[0], body=bytes(row[1]))

    def remember_key(self, scope: str, key: str, value: str) -> str:
        value = port.check_text(value, "value")
        known = self.recall_key(scope, key)  # a visible key is committed: no write, no commit
        if known is not None:
            return known
        return self.committer.submit(functools.partial(_remember, scope, key, value))

    def recall_key(self, scope: str, key: str) -> str | None:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        with self._reader() as connection:
            row = connection.execute(
                "SELECT value FROM idempotency_keys WHERE scope = %s AND key = %s", slot
            ).fetchone()
        return None if row is None else str(row[0])

    def keys(self, scope: str) -> list[tuple[str, str]]:
        scope = port.check_text(scope, "scope")
        with self._reader() as connection:
            rows = connection.execute(
                "SELECT key, value FROM idempotency_keys WHERE scope = %s ORDER BY key", (scope,)
            ).fetchall()
        return [(str(k), str(v)) for k, v in rows]

    def forget_key(self, scope: str, key: str) -> bool:
        slot = (port.check_text(scope, "scope"), port.check_text(key, "key"))
        return self.committer.submit(functools.partial(_forget, slot))

    def verify(self) -> None:
        """Raise :class:`~unirouter.storage.port.StoreLost` if the database reached is no longer
        the one opened (its identity row is missing or changed). A database that does not answer
        is not a lost store: the next write fails by itself, and a later check tells."""
        if self._closed:
            raise port.StoreClosed()
        if self._identity.lost is not None:
            raise self._identity.lost
        for _ in range(2):  # a pooled connection the database ended is dropped; try a fresh one
            try:
                with self._pool.connection() as connection:
                    self._identity.check(connection)
                return
            except psycopg.OperationalError:
                continue

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.committer.close()
        self._pool.close()
        self._transactions.close()

    @contextlib.contextmanager
    def _reader(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise port.StoreClosed()
        with self._pool.connection() as connection:
            yield connection


def _append(
    kinds: list[str],
    bodies: list[bytes],
    term: int | None,
    keys: list[tuple[str, str, str]],
    tx: _Transactions,
) -> int:
    connection = tx.connection
    row = connection.execute(_ADVANCE, (len(kinds), term, term)).fetchone()
    if row is None:
        current = connection.execute("SELECT term FROM log_head WHERE id = 1").fetchone()
        raise port.Fenced(term or 0, int(current[0]) if current else 0)
    last = int(row[0])
    if kinds:
        connection.execute(_INSERT, (last - len(kinds), term or 0, kinds, bodies))
    if keys:  # in the records' transaction (and behind their fence): stored with them or not
        scopes, names, values = (list(column) for column in zip(*keys, strict=True))
        connection.execute(_INSERT_KEYS, (scopes, names, values))
    tx.appended = last
    return last


def _put_snapshot(cursor: int, body: bytes, tx: _Transactions) -> None:
    # Keep only the snapshot of the highest cursor: a lower one deletes itself right away.
    connection = tx.connection
    connection.execute(
        "INSERT INTO snapshots (cursor, body) VALUES (%s, %s) "
        "ON CONFLICT (cursor) DO UPDATE SET body = excluded.body",
        (cursor, body),
    )
    connection.execute("DELETE FROM snapshots WHERE cursor < (SELECT MAX(cursor) FROM snapshots)")


def _remember(scope: str, key: str, value: str, tx: _Transactions) -> str:
    # ON CONFLICT waits for a concurrent writer of the key (any process) and keeps its value.
    connection = tx.connection
    connection.execute(
        "INSERT INTO idempotency_keys (scope, key, value) VALUES (%s, %s, %s) "
        "ON CONFLICT (scope, key) DO NOTHING",
        (scope, key, value),
    )
    row = connection.execute(
        "SELECT value FROM idempotency_keys WHERE scope = %s AND key = %s", (scope, key)
    ).fetchone()
    return str(row[0]) if row else value


def _forget(slot: tuple[str, str], tx: _Transactions) -> bool:
    cursor = tx.connection.execute(
        "DELETE FROM idempotency_keys WHERE scope = %s AND key = %s", slot
    )
    return bool(cursor.rowcount)


def _reason(exc: psycopg.Error) -> str:
    """libpq's first line, which names the host and the failure but never the password."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
