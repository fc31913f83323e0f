"""Leader election and log notifications through PostgreSQL (SPEC §9: one routing leader).

The lease lives on the log's own head row (:mod:`unirouter.storage.postgres`): ``term`` (the fencing
token), ``leader``, ``leader_url``, ``leader_pid`` and ``lease_until``. The leader renews its lease
every fraction of its length. A server becomes leader with one ``UPDATE`` that bumps the term,
allowed only when the lease ran out (the leader is paused or cut off) or when the leader's
database session is gone (the process died: PostgreSQL ends a session as soon as its socket
closes, so a SIGKILLed leader is replaced at the next campaign, without waiting for the lease).
Every election is kept in ``leader_terms`` with the cursor the log stood at.

Because the term sits on the same row every append moves, an election is ordered against every
append: a deposed leader that wakes up (SIGCONT) and appends finds the term moved and gets
:class:`~unirouter.storage.port.Fenced`; its renewal finds it too. Lease times are the database's
clock (``now()``), so the servers' clocks never have to agree.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from unirouter.storage import postgres

__all__ = ["Elected", "Elector", "Leadership", "Listener"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Leadership:
    """Who leads, as the log's head row says."""

    term: int
    leader: str | None
    url: str | None
    last_cursor: int
    #: Seconds left on the lease (negative: expired; None: nobody ever led).
    lease_left_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Elected:
    """A won election: the new term and the last cursor the log held when it was won."""

    term: int
    after_cursor: int
    reason: str


_CAMPAIGN = """
UPDATE log_head SET term = term + 1, leader = %(holder)s, leader_url = %(url)s,
    leader_pid = pg_backend_pid(), lease_until = now() + make_interval(secs => %(ttl)s)
WHERE id = 1 AND (
    lease_until IS NULL OR lease_until < now()
    OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = log_head.leader_pid))
RETURNING term, last_cursor,
    CASE WHEN term = 1 THEN 'first' ELSE 'vacant' END
"""
_RENEW = """
UPDATE log_head SET lease_until = now() + make_interval(secs => %s)
WHERE id = 1 AND term = %s RETURNING 1
"""
_LEADERSHIP = """
SELECT term, leader, leader_url, last_cursor, EXTRACT(EPOCH FROM lease_until - now())
FROM log_head WHERE id = 1
"""


class Elector:
    """One server's seat in the election, on a connection of its own (its session is the
    leader's liveness). Blocking calls: run them off the event loop."""

    def __init__(self, info: str, holder: str, url: str, *, ttl_s: float = 3.0) -> None:
        self._info = info
        self.holder = holder
        self.url = url
        self.ttl_s = ttl_s
        self._connection: psycopg.Connection[Any] | None = None

    def campaign(self) -> Elected | None:
        """Become leader if the seat is vacant (lease out, or the leader's session gone)."""
        connection = self._connect()
        with connection.transaction():
            row = connection.execute(
                _CAMPAIGN, {"holder": self.holder, "url": self.url, "ttl": self.ttl_s}
            ).fetchone()
            if row is None:
                return None
            term, after, reason = int(row[0]), int(row[1]), str(row[2])
            connection.execute(
                "INSERT INTO leader_terms (term, leader, leader_url, after_cursor, reason) "
                "VALUES (%s, %s, %s, %s, %s)",
                (term, self.holder, self.url, after, reason),
            )
        return Elected(term=term, after_cursor=after, reason=reason)

    def renew(self, term: int) -> bool:
        """Extend the lease of ``term``; False once another server was elected."""
        row = self._connect().execute(_RENEW, (self.ttl_s, term)).fetchone()
        return row is not None

    def resign(self, term: int) -> None:
        """End the lease of ``term`` at once (a graceful stop): a follower takes over now."""
        with contextlib.suppress(psycopg.Error):
            self._connect().execute(
                "UPDATE log_head SET lease_until = now() - interval '1 second' "
                "WHERE id = 1 AND term = %s",
                (term,),
            )

    def leadership(self) -> Leadership:
        row = self._connect().execute(_LEADERSHIP).fetchone()
        assert row is not None, "the log head row is created by the first migration"
        left = None if row[4] is None else float(row[4])
        return Leadership(term=int(row[0]), leader=row[1], url=row[2], last_cursor=int(row[3]),
                          lease_left_s=left)  # fmt: skip

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> psycopg.Connection[Any]:
        """The seat's connection, opened again after a loss (the next call then campaigns anew)."""
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = psycopg.connect(self._info, autocommit=True, connect_timeout=3)
            # Never wait long on the head row (a writer holding it is ended by the server's
            # idle-in-transaction timeout): fail this campaign, try again at the next.
            self._connection.execute("SET lock_timeout = 2000")
        return self._connection


class Listener:
    """A thread that LISTENs for new durable records and calls ``wake(last_cursor)`` for each
    notification, and ``wake(None)`` every ``idle_s`` as a safety net (a lost notification, a
    reconnect), so a follower never waits longer than that to catch up."""

    def __init__(self, info: str, wake: Callable[[int | None], None], *, idle_s: float = 1.0):
        self._info = info
        self._wake = wake
        self._idle_s = idle_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="unirouter-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._info, autocommit=True, connect_timeout=3) as connection:
                    connection.execute(f"LISTEN {postgres.CHANNEL}")
                    self._wake(None)  # whatever was appended while not listening
                    self._listen(connection)
            except psycopg.Error:
                self._stop.wait(self._idle_s)

    def _listen(self, connection: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            woke = False
            for notice in connection.notifies(timeout=self._idle_s):
                woke = True
                self._wake(int(notice.payload) if notice.payload.isdigit() else None)
                break
            if not woke:
                self._wake(None)
