"""`make bench`: the engine benchmark of the engine issue (figures only, never a pass/fail)."""

from __future__ import annotations

import argparse
import json

from unirouter import benchmarks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, benchmarks.DEFAULT_SIZES)))
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        results.append(benchmarks.run_engine_bench(size, args.items))
    if args.json:
        print(json.dumps(benchmarks.as_json(results)))
    else:
        print(benchmarks.report(results))


if __name__ == "__main__":
    main()
