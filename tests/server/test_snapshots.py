"""Server snapshots (SPEC §9: restart = latest snapshot + replay of the tail).

A real ``unirouter serve`` takes an engine snapshot every N log records; a restart loads the
latest, re-runs only the records after it, and must serve exactly the state a full replay of the
log gives: engine, conversation messages and transition times alike. A damaged snapshot, or one
of another format, is ignored (logged) and the whole log is replayed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from server_support import CONFIG, Server, available, start_server, submit, without_liveness

from test_engine_snapshot import canonical
from unirouter import config as configuration
from unirouter.engine import Engine
from unirouter.engine import snapshot as snapshots
from unirouter.server import EngineHost, replay
from unirouter.server.host import RETAIN_CLOSED
from unirouter.server.projection import Projection
from unirouter.storage import SqliteStore

EVERY = 20


def _traffic(server: Server, chats: int = 8) -> None:
    """Enough work for several snapshots: chats offered, accepted, messaged, parked, resumed and
    closed; emails waiting; a configuration change in the middle."""
    intake, alice, admin = server.client("intake"), server.client("alice"), server.client("admin")
    available(server, "alice")
    for n in range(3):
        submit(intake, f"e-{n}", "email")
    for n in range(chats):
        item = submit(intake, f"c-{n}")
        if item["offer"] is not None:
            alice.post(f"/v1/offers/{item['offer']['id']}/accept").raise_for_status()
            alice.post(f"/v1/work-items/{item['id']}/messages", json={"text": f"hi {n}"})
            if n % 3 == 0:
                alice.post(f"/v1/work-items/{item['id']}/park").raise_for_status()
                intake.post(f"/v1/work-items/{item['id']}/resume").raise_for_status()
            else:
                alice.post(f"/v1/work-items/{item['id']}/complete").raise_for_status()
                alice.post(f"/v1/work-items/{item['id']}/close").raise_for_status()
        if n == 4:
            data = yaml.safe_load(CONFIG)
            data["queues"]["other_chat"]["members"] = ["alice", "bob"]
            admin.put("/v1/config", json=data).raise_for_status()
    admin.put("/v1/agents/bob/presence", json={"presence": "available"}).raise_for_status()


def _api_state(server: Server) -> dict[str, Any]:
    admin = server.client("admin")
    listed = admin.get("/v1/work-items", params={"limit": 1000}).json()["items"]
    items = {i["id"]: admin.get(f"/v1/work-items/{i['id']}").json() for i in listed}
    messages = {
        i: admin.get(f"/v1/work-items/{i}/messages").json()
        for i, item in items.items()
        if item["external_id"].startswith("c-")
    }
    queues = admin.get("/v1/queues").json()
    for queue in queues:
        queue.pop("longest_wait_s")  # grows with the wall clock
    return {"items": items, "messages": messages, "agents": admin.get("/v1/agents").json(),
            "queues": queues}  # fmt: skip


def _rebuilt(db: Path, *, use_snapshot: bool) -> tuple[replay.Restored, Projection]:
    """The engine and projection a restart of ``db`` builds, with or without its snapshot."""
    store = SqliteStore(db)
    try:
        projection = Projection(RETAIN_CLOSED)
        restored = replay.replay(store, retain_closed=RETAIN_CLOSED, use_snapshot=use_snapshot,
                                 observe=lambda c, cmd, ev: projection.feed(cmd, ev))  # fmt: skip
    finally:
        store.close()
    assert restored is not None
    return restored, projection


def _served_run(tmp_path: Path, config_file: Path, chats: int = 8) -> tuple[Path, dict[str, Any]]:
    db = tmp_path / "u.db"
    server = start_server(db, config_file, "--snapshot-every", str(EVERY))
    try:
        _traffic(server, chats)
        state = _api_state(server)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    return db, state


def test_a_restart_from_a_snapshot_serves_what_a_full_replay_gives(
    tmp_path: Path, config_file: Path
) -> None:
    """SPEC §9: the server snapshots every N records; a restart restores the latest snapshot,
    re-runs only the records after it, and ends in the state of a full replay: engine,
    messages, transition times; then serves the same API state as before the restart."""
    db, before = _served_run(tmp_path, config_file)
    from_snapshot, projection = _rebuilt(db, use_snapshot=True)
    full, full_projection = _rebuilt(db, use_snapshot=False)
    assert from_snapshot.snapshot is not None and from_snapshot.snapshot >= EVERY
    assert full.snapshot is None
    assert from_snapshot.cursor == full.cursor
    assert (from_snapshot.commands, from_snapshot.events) == (full.commands, full.events)
    assert from_snapshot.started == full.started
    assert canonical(from_snapshot.engine) == canonical(full.engine)
    assert (projection._times, projection._messages) == (
        full_projection._times,
        full_projection._messages,
    )
    again = start_server(db, None)
    try:
        assert any("restored the snapshot at cursor" in line for line in again.stderr)
        assert without_liveness(_api_state(again)) == without_liveness(before)
    finally:
        again.stop()


def _replace_snapshot(db: Path, body: bytes) -> int:
    store = SqliteStore(db)
    try:
        snap = store.latest_snapshot()
        assert snap is not None
        store.put_snapshot(snap.cursor, body)  # an equal cursor replaces it
        return snap.cursor
    finally:
        store.close()


def _foreign(body: bytes) -> bytes:
    header, rest = snapshots._split(body)
    raw = {f: getattr(header, f) for f in header.__dataclass_fields__} | {"format": 99}
    return snapshots.MAGIC + json.dumps(raw).encode() + b"\n" + rest


def test_a_damaged_snapshot_is_ignored_and_the_whole_log_replayed(
    tmp_path: Path, config_file: Path
) -> None:
    """A snapshot whose bytes are damaged is logged and ignored, not fatal: the server replays
    the whole log and serves the same state."""
    db, before = _served_run(tmp_path, config_file, chats=3)
    store = SqliteStore(db)
    snap = store.latest_snapshot()
    store.close()
    assert snap is not None
    _replace_snapshot(db, snap.body[:-7] + b"garbage")
    again = start_server(db, None)
    try:
        assert without_liveness(_api_state(again)) == without_liveness(before)
        said = "".join(again.stderr)
        assert "ignored the snapshot" in said and "checksum" in said
    finally:
        again.stop()


def _hosted_log(db: Path, every: int | None) -> EngineHost:
    """A host on a SQLite file, run in-process through a few commands, then stopped."""
    config = configuration.validate(yaml.safe_load(CONFIG))

    async def run() -> EngineHost:
        host = EngineHost(SqliteStore(db), snapshot_every=every)
        host.restore(config)
        await host.start()
        t = host.now()
        host.execute("presence", {"agent": "alice", "presence": "available"}, at=t)
        for n in range(8):
            item, _ = host.execute("submit", {"external_id": f"x{n}", "workstream": "chat"},
                                   at=t + n)  # fmt: skip
            if item.offer is not None and n % 2:
                host.execute("accept", {"offer": item.offer, "agent": "alice"}, at=t + n)
        await host.barrier()
        await host.stop()
        return host

    return asyncio.run(run())


def test_a_snapshot_of_another_format_is_ignored_and_the_whole_log_replayed(
    tmp_path: Path,
) -> None:
    """A snapshot of another format version falls back to a full replay, with the reason."""
    db = tmp_path / "u.db"
    _hosted_log(db, every=10)
    store = SqliteStore(db)
    snap = store.latest_snapshot()
    store.close()
    assert snap is not None
    _replace_snapshot(db, _foreign(snap.body))
    restored, projection = _rebuilt(db, use_snapshot=True)
    full, full_projection = _rebuilt(db, use_snapshot=False)
    assert restored.snapshot is None and "format is 99" in (restored.ignored or "")
    assert canonical(restored.engine) == canonical(full.engine)
    assert projection._times == full_projection._times


def test_a_snapshot_that_does_not_end_at_a_command_of_the_log_is_ignored(
    tmp_path: Path,
) -> None:
    """A snapshot must sit at the end of a command of this very log (its cursor and event seq);
    one moved to another cursor is ignored and the log replayed from the start."""
    db = tmp_path / "u.db"
    host = _hosted_log(db, every=None)
    store = SqliteStore(db)
    try:
        store.put_snapshot(store.last_cursor() - 1, host.engine.snapshot())  # one record short
        restored = replay.replay(store, retain_closed=RETAIN_CLOSED)
    finally:
        store.close()
    assert restored is not None and restored.snapshot is None
    assert "not the end of a command" in (restored.ignored or "")
    assert canonical(restored.engine) == canonical(host.engine)


def test_snapshot_every_zero_takes_no_snapshot(tmp_path: Path, config_file: Path) -> None:
    """``--snapshot-every 0`` (or UNIROUTER_SNAPSHOT_EVERY=0) turns snapshots off."""
    server = start_server(tmp_path / "u.db", config_file, "--snapshot-every", "0")
    try:
        for n in range(12):
            submit(server.client("intake"), f"z-{n}", "email")
    finally:
        server.stop()
    store = SqliteStore(tmp_path / "u.db")
    try:
        assert store.last_cursor() > 40
        assert store.latest_snapshot() is None
    finally:
        store.close()


def test_the_snapshot_interval_comes_from_the_environment(
    tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §6.2: every option also comes from UNIROUTER_<OPTION>."""
    monkeypatch.setenv("UNIROUTER_SNAPSHOT_EVERY", "10")
    server = start_server(tmp_path / "u.db", config_file)
    try:
        for n in range(6):
            submit(server.client("intake"), f"v-{n}", "email")
        httpx.get(server.url + "/readyz", timeout=10).raise_for_status()
    finally:
        server.stop()
    store = SqliteStore(tmp_path / "u.db")
    try:
        snap = store.latest_snapshot()
        assert snap is not None and snap.cursor >= 10
    finally:
        store.close()


def test_the_snapshot_is_pickled_in_a_child_process_not_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 3: no request waits on a snapshot. The engine is pickled in a forked
    copy-on-write child (its state at the command boundary), never in the serving process, and
    what the child wrote is stored and restores the same engine a full replay gives."""
    takers = tmp_path / "takers"
    original = Engine.snapshot

    def recording(engine: Engine) -> bytes:
        with takers.open("a") as file:
            file.write(f"{os.getpid()}\n")
        return original(engine)

    monkeypatch.setattr(Engine, "snapshot", recording)
    db = tmp_path / "u.db"
    _hosted_log(db, every=10)
    pids = takers.read_text().split()
    assert pids and str(os.getpid()) not in pids
    restored, _ = _rebuilt(db, use_snapshot=True)
    full, _ = _rebuilt(db, use_snapshot=False)
    assert restored.snapshot is not None
    assert canonical(restored.engine) == canonical(full.engine)


def test_the_snapshot_child_runs_below_the_server_and_holds_off_the_full_heap_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 3 (p99): the copy-on-write child pickles at a lower scheduling priority
    than the server, and while it is alive the collector's thaw (a walk of every object, which
    would make the kernel copy the whole shared heap) waits."""
    from unirouter.server import _gc_pauses, snapshot_child

    niceness = tmp_path / "niceness"
    alive_while_taking: list[int] = []
    original = Engine.snapshot

    def recording(engine: Engine) -> bytes:
        niceness.write_text(str(os.nice(0)))
        return original(engine)

    real_begin = snapshot_child.begin

    def begin(take: Any) -> Any:
        collect = real_begin(take)
        alive_while_taking.append(_gc_pauses._children.alive)
        return collect

    monkeypatch.setattr(Engine, "snapshot", recording)
    monkeypatch.setattr(snapshot_child, "begin", begin)
    _hosted_log(tmp_path / "u.db", every=10)
    assert int(niceness.read_text()) == min(19, os.nice(0) + snapshot_child.CHILD_NICENESS)
    assert alive_while_taking and all(alive >= 1 for alive in alive_while_taking)
    assert _gc_pauses._children.alive == 0  # every child collected


def test_a_snapshot_written_in_parts_restores_what_a_full_replay_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 3: a snapshot the SQLite store wrote in many parts (one group commit each,
    between the host's appends) is read back whole: the restart restores it and rebuilds the
    engine a full replay gives."""
    from unirouter.storage import sqlite

    monkeypatch.setattr(sqlite, "SNAPSHOT_PART", 512)
    db = tmp_path / "u.db"
    _hosted_log(db, every=10)
    store = SqliteStore(db)
    try:
        snap = store.latest_snapshot()
    finally:
        store.close()
    assert snap is not None and len(snap.body) > 4 * 512
    restored, _ = _rebuilt(db, use_snapshot=True)
    full, _ = _rebuilt(db, use_snapshot=False)
    assert restored.snapshot == snap.cursor
    assert canonical(restored.engine) == canonical(full.engine)
