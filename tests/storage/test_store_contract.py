"""The storage contract: every adapter of the Store port passes this one suite (SPEC §9, STYLE).

Each test runs once per adapter through the ``backend`` fixture: memory, SQLite on a real file, and
PostgreSQL on the real server (a database of its own per test, dropped after it). A new adapter
joins by adding one entry to ``BACKENDS``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import storage
from unirouter.errors import UnirouterError
from unirouter.storage import Record, RecordKind, Store

THREADS = 16


@dataclass(frozen=True)
class Backend:
    """How to open (and reopen) one adapter's store, and what it can do."""

    name: str
    url: str
    persistent: bool  # survives close and reopen

    def open(self) -> Store:
        return storage.open_store(self.url)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    "memory": lambda request, tmp: Backend("memory", "memory:", persistent=False),
    "sqlite": lambda request, tmp: Backend(
        "sqlite", f"sqlite:///{tmp / 'store.db'}", persistent=True
    ),
    "postgresql": lambda request, tmp: Backend(
        "postgresql", request.getfixturevalue("postgres_url"), persistent=True
    ),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    opened = backend.open()
    yield opened
    opened.close()


def event(body: object) -> Record:
    return Record(kind=RecordKind.EVENT, body=json.dumps(body))


def run_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` on ``count`` threads released together; return results, re-raising errors."""
    start = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def main(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=main, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


# The log


def test_an_empty_store_has_no_records_no_snapshot_and_cursor_zero(store: Store) -> None:
    """A new store reads empty, its last cursor is 0 and it holds no snapshot."""
    assert store.read() == []
    assert store.last_cursor() == 0
    assert store.latest_snapshot() is None


def test_append_returns_the_cursor_of_the_last_record(store: Store) -> None:
    """An append returns the last cursor of its batch, and the batch's cursors are consecutive."""
    assert store.append([event(1), event(2), event(3)]) == 3
    assert store.append([event(4)]) == 4
    assert store.last_cursor() == 4


def test_records_read_back_in_append_order_with_strictly_increasing_cursors(store: Store) -> None:
    """Kinds and bodies read back as appended, oldest first; text bodies come back as UTF-8 bytes."""
    store.append([Record(kind=RecordKind.COMMAND, body=b'{"submit": 1}'), event("é")])
    store.append([event(2)])
    records = store.read()
    assert [r.cursor for r in records] == [1, 2, 3]
    assert [r.kind for r in records] == [RecordKind.COMMAND, RecordKind.EVENT, RecordKind.EVENT]
    assert [r.body for r in records] == [b'{"submit": 1}', b'"\\u00e9"', b"2"]


def test_plain_strings_are_accepted_as_kinds(store: Store) -> None:
    """A kind given as the string "command" or "event" is stored as that RecordKind."""
    store.append([Record(kind="command", body="{}")])  # type: ignore[arg-type]
    assert store.read()[0].kind is RecordKind.COMMAND


def test_read_after_a_cursor_with_a_limit(store: Store) -> None:
    """``read(after, limit)`` returns at most ``limit`` records with a cursor above ``after``."""
    store.append([event(n) for n in range(10)])
    assert [r.cursor for r in store.read(after=4, limit=3)] == [5, 6, 7]
    assert [r.cursor for r in store.read(after=8)] == [9, 10]
    assert store.read(after=10) == []
    assert store.read(after=2, limit=0) == []


def test_an_empty_append_writes_nothing_and_returns_the_last_cursor(store: Store) -> None:
    """Appending no records changes nothing and answers the current last cursor."""
    assert store.append([]) == 0
    store.append([event(1)])
    assert store.append([]) == 1
    assert len(store.read()) == 1


@pytest.mark.parametrize(
    "bad",
    [
        Record(kind=RecordKind.EVENT, body=123),  # type: ignore[arg-type]
        Record(kind="note", body="{}"),  # type: ignore[arg-type]
        "not a record",
    ],
    ids=["body-of-wrong-type", "unknown-kind", "not-a-record"],
)
def test_an_append_that_fails_leaves_nothing_behind(store: Store, bad: object) -> None:
    """A batch with one bad record is refused whole: no record stored, no cursor used."""
    store.append([event("before")])
    with pytest.raises(storage.InvalidArgument) as refused:
        store.append([event("good"), bad, event("good too")])  # type: ignore[list-item]
    assert refused.value.index == 1
    assert [r.body for r in store.read()] == [b'"before"']
    assert store.append([event("after")]) == 2


@pytest.mark.parametrize("after, limit", [(-1, None), (0, -1), (True, None), ("3", None)])
def test_a_read_with_a_bad_window_is_refused(store: Store, after: object, limit: object) -> None:
    """Cursors and limits are ints >= 0; anything else is an InvalidArgument naming the field."""
    with pytest.raises(storage.InvalidArgument):
        store.read(after, limit)  # type: ignore[arg-type]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(after=st.integers(0, 25), limit=st.none() | st.integers(0, 25))
def test_any_read_window_is_a_slice_of_the_log(store: Store, after: int, limit: int | None) -> None:
    """Every (after, limit) window equals the same slice of the whole log."""
    if store.last_cursor() == 0:
        for size in (1, 4, 2, 7, 6):  # 20 records in batches of several sizes
            store.append([event(n) for n in range(size)])
    whole = store.read()
    end = None if limit is None else after + limit
    assert store.read(after, limit) == whole[after:end]


# Snapshots


def test_the_snapshot_of_the_highest_cursor_wins(store: Store) -> None:
    """A newer snapshot replaces an older one; the latest is returned with its cursor and body."""
    store.append([event(n) for n in range(5)])
    store.put_snapshot(2, b"state at 2")
    store.put_snapshot(5, b"state at 5")
    assert store.latest_snapshot() == storage.Snapshot(cursor=5, body=b"state at 5")


def test_a_snapshot_at_the_same_cursor_replaces_and_an_older_one_is_dropped(store: Store) -> None:
    """Equal cursor: the later put wins. Lower cursor: dropped, so a late writer cannot roll back."""
    store.append([event(n) for n in range(5)])
    store.put_snapshot(4, b"first")
    store.put_snapshot(4, b"second")
    store.put_snapshot(1, b"stale")
    assert store.latest_snapshot() == storage.Snapshot(cursor=4, body=b"second")


def test_a_snapshot_may_not_claim_records_the_log_does_not_hold(store: Store) -> None:
    """A snapshot beyond the last cursor, or with a body that is not bytes, is refused."""
    store.append([event(1)])
    with pytest.raises(storage.InvalidArgument):
        store.put_snapshot(2, b"from the future")
    with pytest.raises(storage.InvalidArgument):
        store.put_snapshot(1, "text")  # type: ignore[arg-type]
    assert store.latest_snapshot() is None


def test_a_snapshot_at_cursor_zero_is_allowed_on_an_empty_log(store: Store) -> None:
    """The state before any record (e.g. the configuration alone) can be a snapshot."""
    store.put_snapshot(0, b"initial")
    assert store.latest_snapshot() == storage.Snapshot(cursor=0, body=b"initial")


# Idempotency keys


def test_the_first_writer_of_a_key_wins(store: Store) -> None:
    """``remember_key`` keeps the first value and returns it to every later writer."""
    assert store.recall_key("intake", "abc") is None
    assert store.remember_key("intake", "abc", "item-1") == "item-1"
    assert store.remember_key("intake", "abc", "item-2") == "item-1"
    assert store.recall_key("intake", "abc") == "item-1"


def test_keys_given_with_an_append_are_stored_with_its_records(backend: Backend) -> None:
    """Issue 17 item 8: an append's keys are remembered in the same durable write (first writer
    wins, as ``remember_key``), and read back after a reopen when the store persists."""
    store = backend.open()
    try:
        store.remember_key("intake:chat", "taken", "item-0")
        keys = [storage.Key(scope="intake:chat", key="e-1", value="item-1"),
                storage.Key(scope="intake:chat", key="taken", value="item-2")]  # fmt: skip
        last = store.append([Record(kind=RecordKind.COMMAND, body=b"{}")], keys)
        assert last == store.last_cursor() == 1
        assert store.recall_key("intake:chat", "e-1") == "item-1"
        assert store.recall_key("intake:chat", "taken") == "item-0"
    finally:
        store.close()
    if backend.persistent:
        again = backend.open()
        try:
            assert again.recall_key("intake:chat", "e-1") == "item-1"
        finally:
            again.close()


def test_a_refused_append_stores_none_of_its_keys(store: Store) -> None:
    """Issue 17 item 8: a batch refused whole leaves its keys unwritten too."""
    keys = [storage.Key(scope="intake:chat", key="e-1", value="item-1")]
    with pytest.raises(storage.InvalidArgument):
        store.append([Record(kind=RecordKind.EVENT, body=7)], keys)  # type: ignore[arg-type]
    assert store.recall_key("intake:chat", "e-1") is None
    assert store.last_cursor() == 0


def test_keys_are_separate_per_scope(store: Store) -> None:
    """The same key in two scopes holds two values."""
    store.remember_key("intake", "k", "a")
    store.remember_key("token", "k", "b")
    assert (store.recall_key("intake", "k"), store.recall_key("token", "k")) == ("a", "b")


def test_concurrent_writers_of_one_key_agree_on_one_value(store: Store) -> None:
    """Sixteen threads racing on one key all get the same value, which one of them wrote."""
    answers = run_threads(THREADS, lambda i: store.remember_key("intake", "race", f"v{i}"))
    assert len(set(answers)) == 1
    assert answers[0] in {f"v{i}" for i in range(THREADS)}
    assert store.recall_key("intake", "race") == answers[0]


def test_keys_lists_a_scope_by_key_and_forget_key_deletes_one(store: Store) -> None:
    """``keys`` lists one scope's (key, value) pairs by key; ``forget_key`` deletes one key and
    says whether it was there (issue 17 item 7: tokens are listed and revoked)."""
    store.remember_key("token", "b", "2")
    store.remember_key("token", "a", "1")
    store.remember_key("intake", "c", "3")
    assert store.keys("token") == [("a", "1"), ("b", "2")]
    assert store.forget_key("token", "a") is True
    assert store.forget_key("token", "a") is False
    assert store.keys("token") == [("b", "2")]
    assert store.recall_key("token", "a") is None
    assert store.recall_key("intake", "c") == "3"


def test_a_healthy_store_verifies(store: Store) -> None:
    """``verify`` raises nothing while the store is the one opened (issue 17 item 6)."""
    store.append([event(1)])
    store.verify()


def test_a_key_that_is_not_text_is_refused(store: Store) -> None:
    """Scope, key and value are strings."""
    with pytest.raises(storage.InvalidArgument):
        store.remember_key("intake", 7, "v")  # type: ignore[arg-type]


# Concurrency, closing, persistence


def test_sixteen_threads_appending_make_a_gap_free_log_holding_each_record_once(
    store: Store,
) -> None:
    """Concurrent appends: cursors 1..N without gaps, every record once, each thread's in order."""
    rounds = 25

    def work(thread: int) -> list[int]:
        cursors = []
        for n in range(rounds):
            batch = [event({"thread": thread, "n": n, "part": p}) for p in range(1 + n % 3)]
            cursors.append(store.append(batch))
        return cursors

    returned = run_threads(THREADS, work)
    records = store.read()
    assert [r.cursor for r in records] == list(range(1, len(records) + 1))
    bodies = [json.loads(r.body) for r in records]
    expected = {(t, n, p) for t in range(THREADS) for n in range(rounds) for p in range(1 + n % 3)}
    assert sorted((b["thread"], b["n"], b["part"]) for b in bodies) == sorted(expected)
    for thread, cursors in enumerate(returned):
        assert cursors == sorted(cursors), f"thread {thread} lost its order"
        for n, last in enumerate(cursors):  # each batch sits contiguous, ending at its cursor
            batch = bodies[last - 1 - n % 3 : last]
            assert [(b["thread"], b["n"]) for b in batch] == [(thread, n)] * (1 + n % 3)


def test_a_closed_store_refuses_every_call(backend: Backend) -> None:
    """After close, reads and writes raise StoreClosed; closing twice is harmless."""
    store = backend.open()
    store.close()
    store.close()
    for call in (
        lambda: store.append([event(1)]),
        store.read,
        store.last_cursor,
        store.latest_snapshot,
        lambda: store.remember_key("s", "k", "v"),
        lambda: store.recall_key("s", "k"),
        lambda: store.keys("s"),
        lambda: store.forget_key("s", "k"),
        store.verify,
    ):
        with pytest.raises(storage.StoreClosed):
            call()


def test_records_snapshot_and_keys_survive_close_and_reopen(backend: Backend) -> None:
    """What a durable store acknowledged is there after it is closed and opened again."""
    if not backend.persistent:
        pytest.skip(f"the {backend.name} store forgets on close by design")
    store = backend.open()
    store.append([event(1), event(2)])
    store.put_snapshot(2, b"state")
    store.remember_key("intake", "k", "item-1")
    store.close()
    again = backend.open()
    try:
        assert [r.body for r in again.read()] == [b"1", b"2"]
        assert again.latest_snapshot() == storage.Snapshot(cursor=2, body=b"state")
        assert again.remember_key("intake", "k", "item-2") == "item-1"
        assert again.forget_key("intake", "k") is True
        assert again.append([event(3)]) == 3
    finally:
        again.close()


# Choosing an adapter from a URL (open_store)


def test_memory_url_opens_a_fresh_memory_store() -> None:
    """``memory:`` gives a new, empty in-memory store each time."""
    assert isinstance(storage.open_store("memory:"), storage.MemoryStore)


def test_a_sqlite_url_and_a_bare_db_path_open_sqlite(tmp_path: Path) -> None:
    """``sqlite:///PATH`` (SQLAlchemy rule: PATH follows the third slash) and ``PATH.db`` are SQLite."""
    for opened in (
        storage.open_store(f"sqlite:///{tmp_path / 'a.db'}"),
        storage.open_store(str(tmp_path / "b.db")),
    ):
        assert isinstance(opened, storage.SqliteStore)
        opened.close()
    assert (tmp_path / "a.db").exists()
    assert (tmp_path / "b.db").exists()


def test_a_postgresql_url_opens_postgresql(postgres_url: str) -> None:
    """``postgresql://``, ``postgres://`` and ``postgresql+psycopg://`` open the PostgreSQL store."""
    rest = postgres_url.partition("://")[2]
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        opened = storage.open_store(f"{scheme}://{rest}")
        assert isinstance(opened, storage.PostgresStore)
        opened.close()


def test_an_unreachable_postgresql_is_refused_without_the_password() -> None:
    """A PostgreSQL URL nobody answers raises StoreUnavailable, a UnirouterError, password hidden."""
    with pytest.raises(storage.StoreUnavailable) as refused:
        storage.open_store("postgresql+psycopg://router:s3cret@127.0.0.1:1/unirouter")
    assert isinstance(refused.value, UnirouterError)
    assert "s3cret" not in str(refused.value)
    assert "router:***@" in refused.value.url


@pytest.mark.parametrize("url", ["mysql://db/x", "unirouter", "sqlite://", "sqlite:///:memory:"])
def test_a_url_no_adapter_opens_is_refused_clearly(url: str) -> None:
    """Unknown schemes, paths without .db and SQLite without a file raise StoreUnavailable."""
    with pytest.raises(storage.StoreUnavailable, match="expected memory:"):
        storage.open_store(url)
