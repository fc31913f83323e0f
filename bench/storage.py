"""Storage benchmark: durable appends per second from 32 threads (figures only, never a pass/fail).

Every append is durable on return (WAL, synchronous=FULL), as a 2xx needs. Three ways on the same
SQLite file, interleaved over a few rounds (the median round of each is printed):

- group commit: :class:`unirouter.storage.SqliteStore`, the writer thread batches waiting appends
  into one transaction and one fsync;
- writer, max_batch=1: the same store and writer thread, one transaction per append;
- naive: one shared connection behind a lock, BEGIN / INSERT / COMMIT per append.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from unirouter import storage
from unirouter.storage import sqlite as sqlite_store

BODY = json.dumps({"seq": 1, "t": 12.5, "type": "item_queued", "item": "i-1", "queue": "billing"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    mode: str
    appends_per_s: float
    commits: int
    appends_per_commit: float
    p50_ms: float
    p99_ms: float


def hammer(append: Callable[[], object], threads: int, seconds: float) -> list[float]:
    """Call ``append`` from ``threads`` threads for ``seconds``; return every call's latency."""
    start = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    deadline = 0.0

    def work(mine: list[float]) -> None:
        start.wait()
        while (began := time.perf_counter()) < deadline:
            append()
            mine.append(time.perf_counter() - began)

    workers = [threading.Thread(target=work, args=(mine,)) for mine in latencies]
    for worker in workers:
        worker.start()
    deadline = time.perf_counter() + seconds
    start.wait()
    for worker in workers:
        worker.join()
    return [latency for mine in latencies for latency in mine]


def summarise(mode: str, latencies: list[float], seconds: float, commits: int) -> Result:
    cuts = statistics.quantiles(latencies, n=100)
    return Result(
        mode=mode,
        appends_per_s=len(latencies) / seconds,
        commits=commits,
        appends_per_commit=len(latencies) / max(commits, 1),
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
    )


def bench_store(
    path: Path, threads: int, seconds: float, *, max_batch: int
) -> tuple[list[float], int]:
    """Latencies of appends through the store, and how many transactions carried them."""
    store = sqlite_store.SqliteStore(path, max_batch=max_batch)
    batch = [storage.Record(kind=storage.RecordKind.EVENT, body=BODY)]
    try:
        before = store.committer.transactions
        latencies = hammer(lambda: store.append(batch), threads, seconds)
        return latencies, store.committer.transactions - before
    finally:
        store.close()


def bench_naive(path: Path, threads: int, seconds: float) -> list[float]:
    """Latencies of appends each committed on its own through one locked connection."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    lock = threading.Lock()
    row = ("event", BODY.encode())

    def append() -> None:
        with lock:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO records (kind, body) VALUES (?, ?)", row)
            connection.execute("COMMIT")

    try:
        return hammer(append, threads, seconds)
    finally:
        connection.close()


def run_once(path: Path, threads: int, seconds: float) -> list[Result]:
    results = []
    for mode, max_batch in (("group commit", 1024), ("writer, max_batch=1", 1)):
        latencies, commits = bench_store(path, threads, seconds, max_batch=max_batch)
        results.append(summarise(mode, latencies, seconds, commits))
    latencies = bench_naive(path, threads, seconds)
    results.append(summarise("naive commit per append", latencies, seconds, len(latencies)))
    return results


def run(path: Path, threads: int, seconds: float, rounds: int) -> list[Result]:
    """Interleave the modes over ``rounds`` rounds; keep each mode's median round by appends/s.

    Interleaving spreads a noisy neighbour over every mode instead of penalising one.
    """
    per_mode = zip(*(run_once(path, threads, seconds) for _ in range(rounds)), strict=True)
    return [sorted(results, key=lambda r: r.appends_per_s)[rounds // 2] for results in per_mode]


def report(results: list[Result], threads: int, seconds: float, rounds: int) -> str:
    lines = [
        f"durable appends (WAL, synchronous=FULL), {threads} threads, {seconds:g} s per run,"
        f" median of {rounds} interleaved rounds",
        f"{'mode':<26}{'appends/s':>11}{'commits':>10}{'appends/commit':>16}{'p50 ms':>9}"
        f"{'p99 ms':>9}",
    ]
    for r in results:
        lines.append(
            f"{r.mode:<26}{r.appends_per_s:>11,.0f}{r.commits:>10,}{r.appends_per_commit:>16.1f}"
            f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
        )
    base = results[-1].appends_per_s
    lines.append(f"group commit / naive: {results[0].appends_per_s / base:.1f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to put the file (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "bench.db"
        results = run(path, args.threads, args.seconds, args.rounds)
    if args.json:
        print(json.dumps([asdict(r) for r in results]))
    else:
        print(report(results, args.threads, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
