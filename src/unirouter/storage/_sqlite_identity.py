"""Is the SQLite store still the one we opened? (issue 17 item 6)

An open SQLite connection keeps writing to its file descriptors when the files are deleted,
replaced or truncated under it: commits keep succeeding into an unlinked inode or a WAL without its
header, and everything acknowledged since is gone at the next start. So the store checks, after
every group commit (before any caller is woken) and whenever the server asks (``/readyz``), that
its three files are still the ones it opened:

- the database file and its ``-wal`` and ``-shm`` files exist with the same device and inode;
- none of them shrank: SQLite never shrinks them while connections are open (the WAL restarts
  from its start but keeps its size; only our own ``checkpoint()`` truncates it, and says so);
- a non-empty WAL starts with SQLite's WAL magic number (a WAL truncated under a writer gets its
  next frames written after a hole of zeros);
- the identity row (a random id written at the first open, scope ``server``, key ``store-id``) reads
  back the same inside every write transaction, so a file copied over in place is noticed too.

Once lost, the store stays lost: every later write fails with :class:`port.StoreLost`. What this does
not catch: a change between the last check and a crash, and a process killed by SIGBUS when the
``-shm`` file it maps is truncated under it (the server enables :mod:`faulthandler`, so that death
is reported on stderr with its traceback instead of silently).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from unirouter.storage import port

__all__ = ["IDENTITY_KEY", "Identity", "identity_row"]

IDENTITY_KEY = ("server", "store-id")
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_SUFFIXES = ("", "-wal", "-shm")


def identity_row(connection: sqlite3.Connection) -> str:
    """The store's identity row, written once (in its own transaction) at the first open."""
    connection.execute(
        "INSERT INTO idempotency_keys (scope, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (scope, key) DO NOTHING",
        (*IDENTITY_KEY, secrets.token_hex(16)),
    )
    return read_identity(connection) or ""


def read_identity(connection: sqlite3.Connection) -> str | None:
    row = connection.execute(
        "SELECT value FROM idempotency_keys WHERE scope = ? AND key = ?", IDENTITY_KEY
    ).fetchone()
    return None if row is None else str(row[0])


@dataclass(slots=True)
class _Seen:
    device: int
    inode: int
    size: int


class Identity:
    """The files and identity row of one open store, and whether they are still there."""

    def __init__(self, path: str, row: str) -> None:
        self._path = path
        self._row = row
        self._seen: dict[str, _Seen] = {}
        self._lost: port.StoreLost | None = None
        self._lock = threading.Lock()
        self.verify()

    def verify(self) -> None:
        """Raise :class:`port.StoreLost` if a file is gone, replaced, shrunk or its WAL headless."""
        with self._lock:
            if self._lost is None:
                reason = self._changed()
                if reason is not None:
                    self._lost = port.StoreLost(self._path, reason)
            if self._lost is not None:
                raise self._lost

    def verify_row(self, connection: sqlite3.Connection) -> None:
        """Inside a write transaction: the identity row still reads what it read at open.

        (It takes no lock of ours: a checkpoint holding ours may be waiting for SQLite's.)"""
        lost = self._lost
        if lost is None and read_identity(connection) != self._row:
            lost = self._lost = port.StoreLost(self._path, "its identity row changed")
        if lost is not None:
            raise lost

    @contextlib.contextmanager
    def truncating_wal(self) -> Iterator[None]:
        """Around our own ``wal_checkpoint(TRUNCATE)``: the WAL shrinking then is expected."""
        with self._lock:
            yield
            seen = self._seen.get("-wal")
            if seen is not None:
                seen.size = 0

    def _changed(self) -> str | None:
        for suffix in _SUFFIXES:
            name = self._path + suffix
            try:
                stat = os.stat(name)
            except FileNotFoundError:
                if suffix and suffix not in self._seen:
                    continue  # not made yet (no write since the open)
                return f"{name} was deleted"
            seen = self._seen.get(suffix)
            if seen is None:
                self._seen[suffix] = _Seen(stat.st_dev, stat.st_ino, stat.st_size)
            elif (seen.device, seen.inode) != (stat.st_dev, stat.st_ino):
                return f"{name} was replaced by another file"
            elif stat.st_size < seen.size:
                return f"{name} was truncated from {seen.size} to {stat.st_size} bytes"
            else:
                seen.size = stat.st_size
            if suffix == "-wal" and stat.st_size and not _wal_header_valid(name):
                return f"{name} lost its header (truncated under the writer)"
        return None


def _wal_header_valid(name: str) -> bool:
    try:
        with open(name, "rb") as wal:
            head = wal.read(4)
    except FileNotFoundError:
        return False
    return len(head) < 4 or int.from_bytes(head, "big") in _WAL_MAGIC
