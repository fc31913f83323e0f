"""What only the SQLite store promises: WAL, fsync on commit, group commit, crash safety, schema."""

from __future__ import annotations

import functools
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from unirouter import storage
from unirouter.storage import Record, RecordKind, SqliteStore, sqlite

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and file semantics")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "unirouter.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(path)
    yield opened
    opened.close()


def event(body: object) -> Record:
    return Record(kind=RecordKind.EVENT, body=json.dumps(body))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@contextmanager
def writer_held(store: SqliteStore) -> Iterator[None]:
    """Keep the writer thread busy in a transaction of its own until the block ends.

    Writes submitted meanwhile queue up, so the test knows exactly which batch they form.
    """
    started, release = threading.Event(), threading.Event()

    def hold(connection: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    holder = threading.Thread(target=store.committer.submit, args=(hold,))
    holder.start()
    assert started.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def append_on_threads(store: SqliteStore, batches: list[list[Record]]) -> list[object]:
    """Start one thread per batch while the writer is held; return each cursor or exception."""
    outcomes: list[object] = [None] * len(batches)

    def append(i: int) -> None:
        try:
            outcomes[i] = store.append(batches[i])
        except storage.StorageError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=append, args=(i,)) for i in range(len(batches))]
    with writer_held(store):
        for thread in threads:
            thread.start()
        wait_until(lambda: store.committer.pending == len(batches))
    for thread in threads:
        thread.join(10)
    return outcomes


def test_the_file_is_in_wal_mode(store: SqliteStore, path: Path) -> None:
    """The database uses write-ahead logging, so readers and the writer never block each other."""
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_commits_fsync_by_default(store: SqliteStore) -> None:
    """The writer runs with synchronous=FULL: a commit returns only after the WAL is on disk."""
    level = store.committer.submit(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
    assert level == 2  # FULL


def test_group_commit_batches_queued_appends_into_one_transaction(store: SqliteStore) -> None:
    """Sixteen appends waiting while a commit is under way are committed together, in one fsync."""
    before = store.committer.transactions
    cursors = append_on_threads(store, [[event(i)] for i in range(16)])
    assert store.committer.transactions - before == 2  # the holder's, then one for all sixteen
    assert sorted(cursors) == list(range(1, 17))  # type: ignore[type-var]


def test_max_batch_one_commits_every_append_alone(path: Path) -> None:
    """With ``max_batch=1`` (the benchmark's baseline) each append pays its own transaction."""
    store = SqliteStore(path, max_batch=1)
    try:
        append_on_threads(store, [[event(i)] for i in range(5)])
        assert store.committer.transactions == 6
    finally:
        store.close()


def test_a_failed_commit_fails_every_caller_of_its_batch_and_stores_none_of_it(
    store: SqliteStore, path: Path
) -> None:
    """One write that the database rejects inside the transaction fails its whole batch, atomically."""
    store.append([event("before")])
    with sqlite3.connect(path) as raw:  # a fault the database raises mid-transaction
        raw.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON records WHEN NEW.body = CAST('\"poison\"' AS BLOB)"
            " BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
    batches = [[event(i), event(i)] for i in range(5)] + [[event("poison")]]
    outcomes = append_on_threads(store, batches)
    assert all(isinstance(o, storage.CommitFailed) and o.writes == 6 for o in outcomes), outcomes
    assert [r.body for r in store.read()] == [b'"before"']
    assert store.append([event("after")]) == 2  # no cursor was burnt by the failed batch


def test_a_bad_record_fails_only_its_own_caller_and_never_joins_a_batch(store: SqliteStore) -> None:
    """Records are checked before they queue, so a bad one cannot fail the writes batched with it."""
    good = threading.Thread(target=store.append, args=([event("good")],))
    with writer_held(store):
        good.start()
        wait_until(lambda: store.committer.pending == 1)
        with pytest.raises(storage.InvalidArgument):  # refused at once, the writer still held
            store.append([Record(kind=RecordKind.EVENT, body=None)])  # type: ignore[arg-type]
        assert store.committer.pending == 1
    good.join(10)
    assert [r.body for r in store.read()] == [b'"good"']


def test_a_long_read_does_not_block_appends(store: SqliteStore, path: Path) -> None:
    """An open read transaction neither delays the writer nor sees its later commits (WAL)."""
    store.append([event(1)])
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("BEGIN")
        assert raw.execute("SELECT count(*) FROM records").fetchone()[0] == 1
        appended = threading.Thread(target=store.append, args=([event(2)],))
        appended.start()
        appended.join(5)
        assert not appended.is_alive()
        assert raw.execute("SELECT count(*) FROM records").fetchone()[0] == 1
        raw.execute("COMMIT")
    finally:
        raw.close()
    assert store.last_cursor() == 2


def test_checkpoint_moves_the_wal_into_the_database_and_truncates_it(
    store: SqliteStore, path: Path
) -> None:
    """``checkpoint()`` empties the WAL file; the records stay readable."""
    store.append([event(n) for n in range(100)])
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    result = store.checkpoint()
    assert not result.busy
    assert wal.stat().st_size == 0
    assert store.last_cursor() == 100


def test_the_schema_version_is_recorded_once_per_migration(path: Path) -> None:
    """``schema_version`` lists each applied migration once, also after reopening."""
    SqliteStore(path).close()
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        versions = [
            v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY version")
        ]
    assert versions == list(range(1, len(sqlite.MIGRATIONS) + 1))


def test_a_store_written_by_a_newer_unirouter_is_refused(path: Path) -> None:
    """A schema version above the newest known migration raises IncompatibleSchema."""
    SqliteStore(path).close()
    newer = len(sqlite.MIGRATIONS) + 1
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO schema_version (version) VALUES (?)", (newer,))
    with pytest.raises(storage.IncompatibleSchema) as refused:
        SqliteStore(path)
    assert (refused.value.found, refused.value.supported) == (newer, len(sqlite.MIGRATIONS))


def test_a_file_that_is_not_a_database_is_refused_clearly(path: Path) -> None:
    """Opening a file that is not SQLite raises StoreUnavailable naming the file."""
    path.write_bytes(b"this is not a database, just some text that is long enough" * 20)
    with pytest.raises(storage.StoreUnavailable) as refused:
        SqliteStore(path)
    assert refused.value.url == str(path)


CHILD = r"""
import os, signal, sys, threading
from unirouter import storage

store = storage.open_store(sys.argv[1])
kill_after = int(sys.argv[2])
printing = threading.Lock()
printed = 0

def work(thread):
    global printed
    for n in range(10**9):
        body = '{"thread": %d, "n": %d}' % (thread, n)
        cursor = store.append([storage.Record(kind=storage.RecordKind.EVENT, body=body)])
        with printing:  # printed only once the append returned: an acknowledgement
            print(cursor, body, flush=True)
            printed += 1
            if printed == kill_after:  # die right after an ack, with other batches in flight
                os.kill(os.getpid(), signal.SIGKILL)

for thread in range(8):
    threading.Thread(target=work, args=(thread,), daemon=True).start()
threading.Event().wait()
"""


def run_until_killed(path: Path, acknowledgements: int) -> dict[int, str]:
    """Run CHILD on ``path`` until it SIGKILLs itself after that many acknowledgements."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(acknowledgements)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, child.kill)  # a stalled child must fail the test, not hang it
    watchdog.start()
    try:
        out, err = child.communicate()
    finally:
        watchdog.cancel()
    lines = out.splitlines(keepends=True)
    assert child.returncode == -signal.SIGKILL, err
    assert len(lines) >= acknowledgements, err
    pairs = (line.rstrip("\n").split(" ", 1) for line in lines if line.endswith("\n"))
    return {int(cursor): body for cursor, body in pairs}


def test_an_acknowledged_append_survives_sigkill(path: Path) -> None:
    """Kill -9 a process appending from 8 threads, three times: every acknowledged append is kept.

    Each round reopens the file the previous kill left behind, WAL and all, so recovery is tested too.
    (SIGKILL leaves the OS page cache intact; power loss is what synchronous=FULL is for.)
    """
    acknowledged: dict[int, str] = {}
    for count in (100, 200, 300):
        acknowledged |= run_until_killed(path, count)
    store = SqliteStore(path)
    try:
        records = {r.cursor: r.body.decode() for r in store.read()}
        assert list(records) == list(range(1, len(records) + 1))
        lost = {c: b for c, b in acknowledged.items() if records.get(c) != b}
        assert not lost, f"{len(lost)} acknowledged appends lost"
    finally:
        store.close()


# The store's identity (issue 17 item 6)


def _lost(store: SqliteStore) -> storage.StoreLost:
    """The StoreLost an append now fails with (as the cause of CommitFailed)."""
    with pytest.raises(storage.CommitFailed) as failed:
        store.append([event("after")])
    assert isinstance(failed.value.__cause__, storage.StoreLost)
    return failed.value.__cause__


def test_a_deleted_database_file_fails_the_next_write_and_verify(
    store: SqliteStore, path: Path
) -> None:
    """Issue 17 item 6: with the files deleted, no write is acknowledged into the unlinked inode;
    ``verify`` says so too, and the store stays lost."""
    store.append([event(1)])
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink()
    assert "deleted" in str(_lost(store))
    with pytest.raises(storage.StoreLost):
        store.verify()
    assert "deleted" in str(_lost(store))


def test_a_truncated_wal_fails_the_next_write(store: SqliteStore, path: Path) -> None:
    """Issue 17 item 6: a WAL truncated under the writer (its committed frames lost) fails the
    next write, and ``verify`` notices it even before any write."""
    store.append([event(n) for n in range(50)])
    with open(f"{path}-wal", "r+b") as wal:
        wal.truncate(0)
    with pytest.raises(storage.StoreLost, match="truncated"):
        store.verify()
    _lost(store)


def test_a_wal_truncated_then_written_again_is_caught_by_its_missing_header(
    store: SqliteStore, path: Path
) -> None:
    """Issue 17 item 6: the first commit after the truncation writes after a hole of zeros; that
    commit is not acknowledged."""
    store.append([event(n) for n in range(50)])
    with open(f"{path}-wal", "r+b") as wal:
        wal.truncate(0)
    assert "header" in str(_lost(store)) or "truncated" in str(_lost(store))


def test_a_database_file_replaced_by_another_fails_the_next_write(
    store: SqliteStore, path: Path, tmp_path: Path
) -> None:
    """Issue 17 item 6: a file renamed over the store's path is another inode: lost."""
    store.append([event(1)])
    other = tmp_path / "other.db"
    SqliteStore(other).close()
    other.replace(path)
    assert "replaced" in str(_lost(store))


def test_a_changed_identity_row_fails_the_next_write(store: SqliteStore, path: Path) -> None:
    """Issue 17 item 6: the identity row is read in every write transaction."""
    store.append([event(1)])
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE idempotency_keys SET value = 'x' WHERE key = 'store-id'")
    assert "identity row" in str(_lost(store))


def test_our_own_checkpoint_and_a_reopen_keep_the_store_identity(path: Path) -> None:
    """Issue 17 item 6: what the store does itself (truncating checkpoint, close and reopen,
    another process's writes) is no loss."""
    store = SqliteStore(path)
    store.append([event(n) for n in range(100)])
    store.checkpoint()
    store.append([event("after checkpoint")])
    other = SqliteStore(path)
    other.append([event("other writer")])
    other.close()
    store.append([event("after the other")])
    store.verify()
    store.close()
    again = SqliteStore(path)
    try:
        assert again.append([event("reopened")]) == 104
        again.verify()
    finally:
        again.close()


def test_a_large_snapshot_is_written_in_parts_one_commit_each(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 3: a snapshot over ``SNAPSHOT_PART`` bytes takes one group commit per part
    (appends commit between them instead of waiting for the whole), reads back whole, and
    replacing it leaves no part of the older one behind."""
    monkeypatch.setattr(sqlite, "SNAPSHOT_PART", 1000)
    store.append([event(i) for i in range(3)])
    body = bytes(range(256)) * 14  # 3,584 bytes: three full parts and a last one
    before = store.committer.transactions
    store.put_snapshot(2, body)
    assert store.committer.transactions - before == 4
    assert store.latest_snapshot() == storage.Snapshot(cursor=2, body=body)
    store.put_snapshot(3, b"small")
    store.put_snapshot(1, body[::-1])  # lower: dropped, and its parts with it
    assert store.latest_snapshot() == storage.Snapshot(cursor=3, body=b"small")
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM snapshot_parts").fetchone() == (0,)


def test_parts_of_a_snapshot_cut_short_are_never_read_and_go_with_the_next(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot whose write stopped after some parts (a crash) is not visible: the previous
    one is still the latest, whole; the next snapshot written deletes the orphaned parts."""
    monkeypatch.setattr(sqlite, "SNAPSHOT_PART", 1000)
    store.append([event(i) for i in range(3)])
    store.put_snapshot(1, b"first")
    store.committer.submit(functools.partial(sqlite._put_part, "cut-short", 0, b"x" * 1000))
    assert store.latest_snapshot() == storage.Snapshot(cursor=1, body=b"first")
    store.put_snapshot(2, b"y" * 2500)
    assert store.latest_snapshot() == storage.Snapshot(cursor=2, body=b"y" * 2500)
    with sqlite3.connect(store.path) as raw:
        left = raw.execute("SELECT DISTINCT parts FROM snapshot_parts").fetchall()
    assert len(left) == 1 and left[0][0] != "cut-short"
