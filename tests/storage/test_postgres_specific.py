"""What the PostgreSQL store does beyond the shared contract: migrations, group commit, fencing
tokens, NOTIFY on commit, a lost writer connection, durability under SIGKILL (SPEC §9)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from test_sqlite_specific import run_until_killed

from pg_support import admin_url
from unirouter import storage
from unirouter.storage import Record, RecordKind, postgres
from unirouter.storage.postgres import PostgresStore


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url)
    yield opened
    opened.close()


def event(body: object) -> Record:
    return Record(kind=RecordKind.EVENT, body=json.dumps(body))


def raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def test_the_schema_version_is_recorded_once_per_migration(postgres_url: str) -> None:
    """``schema_version`` lists each applied migration once, also after reopening."""
    PostgresStore(postgres_url).close()
    PostgresStore(postgres_url).close()
    with raw(postgres_url) as connection:
        rows = connection.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v for (v,) in rows] == list(range(1, len(postgres.MIGRATIONS) + 1))


def test_servers_starting_together_migrate_once(postgres_url: str) -> None:
    """Eight stores opened at once on an empty database: one migrates, all open the same schema."""
    opened: list[PostgresStore] = []
    threads = [threading.Thread(target=lambda: opened.append(PostgresStore(postgres_url)))
               for _ in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(opened) == 8
    opened[0].append([event(1)])
    assert [s.last_cursor() for s in opened] == [1] * 8
    for each in opened:
        each.close()


def test_a_database_written_by_a_newer_unirouter_is_refused(postgres_url: str) -> None:
    """A schema version above the newest known migration raises IncompatibleSchema."""
    PostgresStore(postgres_url).close()
    newer = len(postgres.MIGRATIONS) + 1
    with raw(postgres_url) as connection:
        connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (newer,))
    with pytest.raises(storage.IncompatibleSchema) as refused:
        PostgresStore(postgres_url)
    assert (refused.value.found, refused.value.supported) == (newer, len(postgres.MIGRATIONS))


def test_concurrent_appends_share_transactions(store: PostgresStore) -> None:
    """Group commit: 16 threads appending 20 times each need fewer transactions than appends."""
    threads = [
        threading.Thread(target=lambda: [store.append([event(n)]) for n in range(20)])
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert store.last_cursor() == 320
    assert store.committer.writes == 320
    assert store.committer.transactions < 320


def test_an_append_with_a_stale_fencing_token_is_refused_and_writes_nothing(
    store: PostgresStore, postgres_url: str
) -> None:
    """Once the log's term moved past a writer's token, its appends fail Fenced, no cursor used."""
    store.fence(0)
    assert store.append([event("term 0")]) == 1
    with raw(postgres_url) as connection:
        connection.execute("UPDATE log_head SET term = term + 1")
    with pytest.raises(storage.CommitFailed) as refused:
        store.append([event("late")])
    assert isinstance(refused.value.__cause__, storage.Fenced)
    assert (refused.value.__cause__.term, refused.value.__cause__.current) == (0, 1)
    assert store.last_cursor() == 1
    store.fence(1)
    assert store.append([event("term 1")]) == 2


def test_every_record_keeps_the_term_that_wrote_it(store: PostgresStore, postgres_url: str) -> None:
    """The log itself says which leader term appended each record."""
    store.fence(0)
    store.append([event(1), event(2)])
    with raw(postgres_url) as connection:
        connection.execute("UPDATE log_head SET term = 7")
        store.fence(7)
        store.append([event(3)])
        rows = connection.execute("SELECT cursor, term FROM records ORDER BY cursor").fetchall()
    assert rows == [(1, 0), (2, 0), (3, 7)]


def test_a_commit_that_appended_notifies_its_last_cursor(
    store: PostgresStore, postgres_url: str
) -> None:
    """Followers wake on NOTIFY unirouter_log, whose payload is the last durable cursor."""
    with raw(postgres_url) as listener:
        listener.execute(f"LISTEN {postgres.CHANNEL}")
        store.append([event(1), event(2)])
        store.remember_key("s", "k", "v")  # no append: no notification
        store.append([event(3)])
        got = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]
    assert got == ["2", "3"]


def test_a_lost_writer_connection_fails_one_batch_and_the_next_reconnects(
    store: PostgresStore, postgres_url: str
) -> None:
    """The database drops the writer's session: that append fails whole, the next one works."""
    store.append([event(1)])
    writer_pid = store.committer_pid()
    with raw(postgres_url) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (writer_pid,))
    with pytest.raises(storage.CommitFailed):
        store.append([event("lost")])
    assert store.append([event(2)]) == 2
    assert [r.body for r in store.read()] == [b"1", b"2"]


def test_an_acknowledged_append_survives_sigkill(postgres_url: str) -> None:
    """Kill -9 a process appending from 8 threads, twice: every acknowledged append is kept."""
    acknowledged: dict[int, str] = {}
    for count in (150, 300):
        acknowledged |= run_until_killed(postgres_url, count)  # type: ignore[arg-type]
    reopened = PostgresStore(postgres_url)
    try:
        records = {r.cursor: r.body.decode() for r in reopened.read()}
        assert list(records) == list(range(1, len(records) + 1))
        lost = {c: b for c, b in acknowledged.items() if records.get(c) != b}
        assert not lost, f"{len(lost)} acknowledged appends lost"
    finally:
        reopened.close()


def _recreate_schema(url: str) -> None:
    with raw(url) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def test_a_dropped_and_recreated_schema_makes_the_store_lost(
    store: PostgresStore, postgres_url: str
) -> None:
    """Issue 17 item 6: the schema dropped and migrated afresh under an open store (another
    store id): verify and every later write raise StoreLost; nothing reaches the new schema."""
    store.append([event("before")])
    _recreate_schema(postgres_url)
    PostgresStore(postgres_url).close()  # a fresh schema, with its own identity row
    with pytest.raises(storage.StoreLost, match="identity row changed"):
        store.verify()
    with pytest.raises(storage.CommitFailed) as failed:
        store.append([event("after")])
    assert isinstance(failed.value.__cause__, storage.StoreLost)
    with raw(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM records").fetchone() == (0,)


def test_a_write_into_a_schema_that_is_gone_is_refused_before_verify(
    store: PostgresStore, postgres_url: str
) -> None:
    """Issue 17 item 6: the group commit itself checks the identity row: with the tables dropped
    the append fails with StoreLost, and the store stays lost after the schema comes back."""
    store.append([event("before")])
    _recreate_schema(postgres_url)
    with pytest.raises(storage.CommitFailed) as failed:
        store.append([event("after")])
    assert isinstance(failed.value.__cause__, storage.StoreLost)
    PostgresStore(postgres_url).close()
    with pytest.raises(storage.StoreLost, match="missing"):
        store.verify()


def test_a_dropped_and_recreated_database_makes_the_store_lost(postgres_url: str) -> None:
    """Issue 17 item 6: the database dropped (its sessions ended) and created again under the
    same name: after the reconnect the store finds no identity row and never acknowledges."""
    store = PostgresStore(postgres_url)
    try:
        store.append([event("before")])
        name = sql.Identifier(postgres_url.rsplit("/", 1)[1])
        with psycopg.connect(admin_url() or "", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        PostgresStore(postgres_url).close()
        for _ in range(2):  # the first write may meet the ended session; the next reconnects
            with pytest.raises(storage.CommitFailed):
                store.append([event("after")])
        with pytest.raises(storage.StoreLost):
            store.verify()
        with raw(postgres_url) as connection:
            assert connection.execute("SELECT count(*) FROM records").fetchone() == (0,)
    finally:
        store.close()


def test_an_unchanged_store_verifies_and_keeps_its_identity_across_opens(postgres_url: str) -> None:
    """The identity row is written once: a reopened store verifies and appends as before."""
    first = PostgresStore(postgres_url)
    first.append([event(1)])
    first.verify()
    second = PostgresStore(postgres_url)
    second.verify()
    first.append([event(2)])
    assert second.last_cursor() == 2
    first.close()
    second.close()
