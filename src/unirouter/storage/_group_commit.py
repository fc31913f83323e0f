"""Group commit: one writer thread commits every queued write in one transaction (SPEC §9).

A 2xx happens only after the events behind it are durable, so every write waits for a commit. One
durable commit per request would cap the server at the disk's sync rate; group commit lifts that
cap: the writer takes every write waiting in its queue, runs them in one transaction, pays one sync
for all of them, then wakes each caller. Batches form by themselves: while one commit is syncing the
next writes queue up, so a lone request pays no added delay and a busy server gets bigger batches.

The SQLite and PostgreSQL adapters share this writer; each brings its :class:`Transactions` (how to
begin, commit and roll back on its one writer connection).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast

from unirouter.storage import port

__all__ = ["GroupCommitter", "Transactions"]

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)
T = TypeVar("T")


class Transactions(Protocol[C_co]):
    """The writer connection of one adapter and how to frame a transaction on it."""

    def begin(self) -> C_co:
        """Start a transaction and return the connection the writes run on."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Undo the open transaction, if any; never raises (a dead connection fails the next)."""
        ...


class _Write:
    """One queued write and its caller's wake-up: a bare lock, the cheapest wait CPython has."""

    __slots__ = ("_settled", "error", "result", "run")

    def __init__(self, run: Callable[[Any], Any]) -> None:
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


class GroupCommitter(Generic[C]):
    """One writer thread that commits every queued write in one transaction and one sync.

    Each caller waits on its own lock until the batch holding its write is committed. A failure
    rolls the whole batch back and fails every caller in it with :class:`port.CommitFailed` (its
    cause is the adapter's error), so nothing partial is ever visible. The queue is first in, first
    out, so the writes of one thread keep their order. ``max_batch=1`` gives one transaction per
    write (the benchmark's baseline).
    """

    def __init__(self, transactions: Transactions[C], *, max_batch: int = 1024) -> None:
        self._transactions_of = transactions
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

    def submit(self, run: Callable[[C], T]) -> T:
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
        transactions = self._transactions_of
        try:
            connection = transactions.begin()
            results = [write.run(connection) for write in batch]
            transactions.commit()
        except BaseException as exc:
            transactions.rollback()
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
