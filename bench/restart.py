"""Restart time of the server with and without engine snapshots (figures only, never a pass/fail).

Builds a log of about ``--records`` records in a SQLite file under a temporary folder by running
an :class:`EngineHost` in-process (chats submitted, offered, accepted, closed; emails waiting),
with a snapshot every ``--every`` records, then times what a restart does: the latest snapshot
plus the tail, against a replay of the whole log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from unirouter import config as configuration
from unirouter.server import EngineHost, replay
from unirouter.server.host import RETAIN_CLOSED, SNAPSHOT_EVERY
from unirouter.server.projection import Projection
from unirouter.storage import SqliteStore

AGENTS = [f"a{n}" for n in range(50)]
CONFIG = {
    "workstreams": {
        "chat": {"kind": "messaging", "capacity": {"units": 25}, "fallback_queue": "chat_q"},
        "email": {"kind": "record", "capacity": {"units": 10}, "fallback_queue": "email_q"},
    },
    "queues": {
        "chat_q": {"kind": "messaging", "members": AGENTS},
        "email_q": {"kind": "record", "members": AGENTS[:5]},
    },
    "agents": {a: {} for a in AGENTS},
}


async def _build(db: Path, records: int, every: int) -> tuple[int, int]:
    host = EngineHost(SqliteStore(db), snapshot_every=every)
    host.restore(configuration.validate(CONFIG))
    await host.start()
    t, n, open_items = host.now(), 0, []
    while host.store.last_cursor() < records:
        for _ in range(200):
            n += 1
            t += 1.0
            ws = "email" if n % 7 == 0 else "chat"
            item, _ = host.execute("submit", {"external_id": f"x{n}", "workstream": ws}, at=t)
            if item.offer is not None:
                agent = host.engine.offer(item.offer).agent
                host.execute("accept", {"offer": item.offer, "agent": agent}, at=t)
                open_items.append(item.id)
            if len(open_items) > 120:
                host.execute("close", {"item": open_items.pop(0)}, at=t)
        await host.barrier()
    await host.stop()
    store = SqliteStore(db)
    try:
        snap = store.latest_snapshot()
        return store.last_cursor(), 0 if snap is None else snap.cursor
    finally:
        store.close()


def _restart(db: Path, use_snapshot: bool) -> float:
    store = SqliteStore(db)
    projection = Projection(RETAIN_CLOSED)
    started = time.perf_counter()
    restored = replay.replay(store, retain_closed=RETAIN_CLOSED, use_snapshot=use_snapshot,
                             observe=lambda c, cmd, ev: projection.feed(cmd, ev))  # fmt: skip
    elapsed = time.perf_counter() - started
    store.close()
    assert restored is not None and (restored.snapshot is not None) == use_snapshot
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=SNAPSHOT_EVERY)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "restart.db"
        last, cursor = asyncio.run(_build(db, args.records, args.every))
        store = SqliteStore(db)
        snap = store.latest_snapshot()
        size = 0 if snap is None else len(snap.body)
        store.close()
        full = _restart(db, use_snapshot=False)
        snapped = _restart(db, use_snapshot=True)
    result: dict[str, Any] = {
        "records": last, "snapshot_every": args.every, "snapshot_cursor": cursor,
        "snapshot_bytes": size, "full_replay_s": round(full, 3),
        "snapshot_restart_s": round(snapped, 3),
    }  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        print(yaml.safe_dump(result, sort_keys=False), end="")


if __name__ == "__main__":
    main()
