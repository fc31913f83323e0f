"""`make bench`: durable intakes/s and intake-to-offer latency of `unirouter serve` over loopback,
beside a bare FastAPI endpoint measured in the same run (figures only)."""

from __future__ import annotations

import argparse
import json

from unirouter.bench import server as bench_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--snapshot-every", type=int, default=None,
                        help="the server's --snapshot-every (default: its own; 0: none)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = bench_server.run(
        clients=args.clients,
        seconds=args.seconds,
        rate=args.rate,
        snapshot_every=args.snapshot_every,
    )
    print(json.dumps(bench_server.as_json(figures)) if args.json else bench_server.report(figures))


if __name__ == "__main__":
    main()
