"""`make bench`: unirouter, Ciw and SimPy on one M/M/c model, side by side (figures only)."""

from __future__ import annotations

import argparse
import json

from unirouter.bench import sim as bench_sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arrivals", type=int, default=bench_sim.DEFAULT_ARRIVALS)
    parser.add_argument("--servers", type=int, default=bench_sim.DEFAULT_SERVERS)
    parser.add_argument("--load", type=float, default=bench_sim.DEFAULT_LOAD)
    parser.add_argument("--only", help="Comma-separated simulators (default: all three).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = bench_sim.Model(arrivals=args.arrivals, servers=args.servers, load=args.load)
    names = args.only.split(",") if args.only else bench_sim.SIMULATORS
    outcomes = bench_sim.run_all(model, names)
    if args.json:
        print(json.dumps(bench_sim.as_json(model, outcomes)))
    else:
        print(bench_sim.report(model, outcomes))


if __name__ == "__main__":
    main()
