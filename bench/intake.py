"""`make bench`: the server's command path in-process, by CPU time (figures only).

An :class:`EngineHost` on a memory store runs ``--items`` intakes the way the routes do (each
``submit``, its offer's ``accept``, and a ``close`` once 120 are held), through
``host.execute(op, args)``: the JSON arguments decoded into the engine's command records, run, the
events encoded and the records queued for the appender. The log is then replayed on a fresh engine
(every command decoded and run again, every event encoded and compared). Both are timed by the
process's CPU time.

``--against PATH`` measures another source tree (say a worktree of an older commit) the same way in
the same run: each round runs one child per tree, alternating, and the medians are printed side by
side, so a change to the command path is judged against the tree before it on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

AGENTS = [f"a{n}" for n in range(50)]
CONFIG: dict[str, Any] = {
    "workstreams": {"chat": {"kind": "messaging", "capacity": {"units": 25},
                             "fallback_queue": "chat_q"}},
    "queues": {"chat_q": {"kind": "messaging", "members": AGENTS}},
    "agents": {a: {} for a in AGENTS},
}  # fmt: skip


def measure(items: int) -> dict[str, float]:
    """CPU seconds of ``items`` intakes through the host, and of the replay of their log."""
    from unirouter import config as configuration
    from unirouter.server import EngineHost, replay
    from unirouter.storage import MemoryStore

    async def build() -> tuple[EngineHost, float]:
        host = EngineHost(MemoryStore(), snapshot_every=None)
        host.restore(configuration.validate(CONFIG))
        await host.start()
        for agent in AGENTS:
            host.execute("presence", {"agent": agent, "presence": "available"})
        await host.barrier()
        t, held = host.now(), []
        started = time.process_time()
        for n in range(items):
            t += 0.5
            item, _ = host.execute("submit", {"item_id": f"01I{n:08d}", "external_id": f"x{n}",
                                              "workstream": "chat", "attributes": {"n": n}}, at=t)  # fmt: skip
            if item.offer is not None:
                agent = host.engine.offer(item.offer).agent
                host.execute("accept", {"offer": item.offer, "agent": agent}, at=t)
                held.append(item.id)
            if len(held) > 120:
                host.execute("close", {"item": held.pop(0)}, at=t)
            if n % 200 == 0:
                await host.barrier()
        await host.barrier()
        return host, time.process_time() - started

    host, intake_s = asyncio.run(build())
    started = time.process_time()
    restored = replay.replay(host.store, retain_closed=None)
    replay_s = time.process_time() - started
    assert restored is not None
    return {"intake_cpu_s": round(intake_s, 3), "replay_cpu_s": round(replay_s, 3)}


def _child(tree: Path, items: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--items", str(items)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--against", type=Path, help="another source tree to measure beside this one"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.items)))
        return
    here = Path(__file__).resolve().parent.parent
    trees = {"this tree": here}
    if args.against is not None:
        trees[str(args.against)] = args.against.resolve()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(_child(tree, args.items))
    print(f"{args.items} intakes (submit, accept, close) through EngineHost.execute, then their "
          f"replay; CPU s, median of {args.rounds} alternating rounds")  # fmt: skip
    print(f"{'tree':<40} {'intake cpu s':>12} {'replay cpu s':>12}")
    for name, figures in runs.items():
        intake = statistics.median(f["intake_cpu_s"] for f in figures)
        again = statistics.median(f["replay_cpu_s"] for f in figures)
        print(f"{name:<40} {intake:>12.3f} {again:>12.3f}")


if __name__ == "__main__":
    main()
