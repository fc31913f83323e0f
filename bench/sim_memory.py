"""`make bench`: peak memory of a long generated simulation (figures only, never a pass/fail).

Runs ``unirouter simulate SCENARIO --json`` over a generated scenario of N arrivals (default one
million) in a child process, once as is and once with ``--events`` streaming every event to the null
device, and prints each child's peak resident set size (``ru_maxrss`` from ``os.wait4``, so each
figure is that child's own) and its items per second of wall time. The simulator keeps per-item
state only while an item is open, so the peak should not depend on N (target: under 1 GiB at one
million arrivals).

The scenario: 100 agents of 100 units in two queues (items take 50 units, so two at a time), two
workstreams at a combined load of about 0.85, exponential handle time and patience, offers that
expire after 30 s and are accepted 95% of the time after 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

AGENTS = 100
HANDLE_S = 300.0
LOAD = 0.85
#: Items of 50 units on agents of 100: each agent works two at a time.
SLOTS_PER_AGENT = 2
#: The modes the benchmark runs: extra ``unirouter simulate`` options of each.
MODES: dict[str, list[str]] = {"json": [], "events": ["--events", os.devnull]}


def scenario(arrivals: int) -> dict[str, Any]:
    """A generated scenario whose arrivals number about ``arrivals`` (Poisson, so not exactly)."""
    rate_per_s = LOAD * AGENTS * SLOTS_PER_AGENT / HANDLE_S
    duration_s = arrivals / rate_per_s
    agents = [f"agent{n:03d}" for n in range(AGENTS)]
    workstream = {
        "kind": "messaging",
        "capacity": {"units": 50},
        "offer": {"timeout_s": 30},
        "ttl_s": 3600,
    }
    return {
        "config": {
            "workstreams": {
                "chat": {**workstream, "fallback_queue": "chat_q"},
                "sms": {**workstream, "fallback_queue": "sms_q"},
            },
            "queues": {
                "chat_q": {"kind": "messaging", "members": agents},
                "sms_q": {"kind": "messaging", "members": agents[: AGENTS // 2], "priority": 1},
            },
            "agents": {
                name: {"attributes": {"group": f"team{n % 4}"}} for n, name in enumerate(agents)
            },
        },
        "duration": f"{duration_s:.0f}s",
        "warmup": "30m",
        "seed": 1,
        "agent_behaviour": {"accept": 0.95, "response_s": 2},
        "arrivals": [
            {
                "workstream": name,
                "rate": f"{rate_per_s * share * 3600:.3f}/h",
                "handle_time": {"dist": "exponential", "mean_s": HANDLE_S},
                "patience": {"dist": "exponential", "mean_s": 600},
            }
            for name, share in (("chat", 0.7), ("sms", 0.3))
        ],
    }


def measure(path: Path, extra: list[str]) -> dict[str, Any]:
    """Run one child; its peak RSS (KiB on Linux), wall time and generated arrivals."""
    command = [sys.executable, "-c", "from unirouter.cli import main; main()"]
    command += ["simulate", str(path), "--json", *extra]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        wall_s = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"the simulation failed with exit code {child.returncode}")
        out.seek(0)
        result = json.load(out)
    arrivals = int(result["arrivals_generated"])
    return {
        "arrivals": arrivals,
        "wall_s": round(wall_s, 1),
        "items_per_s": round(arrivals / wall_s),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "answered": result["totals"]["answered"],
        "service_level": result["totals"]["service_level"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=1_000_000)
    parser.add_argument("--modes", default=",".join(MODES), help="json, events or both")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memory.yaml"
        path.write_text(yaml.safe_dump(scenario(args.arrivals)), encoding="utf-8")
        for mode in args.modes.split(","):
            figures[mode] = measure(path, MODES[mode])
    if args.json:
        print(json.dumps(figures))
        return
    print(f"simulator memory, {args.arrivals:,} arrivals requested (target: peak RSS < 1024 MiB)")
    for mode, row in figures.items():
        print(
            f"  --json{' --events' if mode == 'events' else '':9}  {row['arrivals']:>9,} items"
            f"  {row['wall_s']:>7.1f} s  {row['items_per_s']:>6,} items/s"
            f"  peak RSS {row['peak_rss_mib']:>6.1f} MiB"
        )


if __name__ == "__main__":
    main()
