"""`make bench`: replay speed beside the simulator's, and report time over 30 days (figures only).

1. A generated day of ``--items`` items (one chat workstream at load 0.9) is simulated (the
   simulator's items/s), captured from its events file, and replayed through the same
   configuration (the replay's recorded items/s).
2. The server's report fold (:class:`unirouter.analytics.fold.LogFold`, what ``GET
   /v1/reports/…`` reads) is fed ``--days`` days of that traffic (the day's events again, one day
   later each time) and the reports of the whole window are timed at each interval length, twice
   on the same fold: as the server reads them (hour and day roll-ups beside the 15-minute buckets)
   and from the 15-minute buckets alone (the fold before the roll-ups), side by side. The garbage
   collector is bounded as the server bounds it after its replay (``unirouter serve``).
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from unirouter.analytics import fold, tables
from unirouter.server import _gc_pauses, commands
from unirouter.sim import runner, scenario
from unirouter.whatif import capture, demand, replay

HOURS = 8.0


def day_scenario(items: int, seed: int = 1) -> scenario.Scenario:
    """``items`` arrivals over 8 hours, exponential handle times of 180 s, load 0.9."""
    rate_h = items / HOURS
    agents = max(1, round(rate_h * 180 / 3600 / 0.9))
    names = [f"a{i}" for i in range(agents)]
    data: dict[str, Any] = {
        "config": {
            "workstreams": {"chat": {"kind": "messaging", "fallback_queue": "q",
                                     "capacity": {"units": 100}, "offer": {"auto_accept": True}}},
            "queues": {"q": {"kind": "messaging", "members": names}},
            "agents": {n: {"attributes": {"group": f"g{i % 10}"}} for i, n in enumerate(names)},
        },
        "duration": f"{HOURS}h",
        "seed": seed,
        "arrivals": [{"workstream": "chat", "rate": f"{rate_h}/h",
                      "handle_time": {"dist": "exponential", "mean_s": 180},
                      "patience": {"dist": "exponential", "mean_s": 600}}],
    }  # fmt: skip
    return scenario.parse(data)


def replay_speed(items: int) -> dict[str, float]:
    day = day_scenario(items)
    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "events.jsonl"
        with events.open("w", encoding="utf-8") as stream:
            started = time.perf_counter()
            result = runner.run(day, observers=[runner.EventsFile(stream)])
            simulated_s = time.perf_counter() - started
        started = time.perf_counter()
        with events.open(encoding="utf-8") as stream:
            taken = capture.from_events((json.loads(line) for line in stream), day.config,
                                        None, None, "bench")  # fmt: skip
        path = Path(folder) / "day.jsonl"
        path.write_text("\n".join(capture.lines(taken)) + "\n")
        captured_s = time.perf_counter() - started
        read = demand.read(path)
        started = time.perf_counter()
        replay.replay(read, day.config)
        replayed_s = time.perf_counter() - started
    arrived = float(result.to_dict()["totals"]["arrived"])
    return {"items": arrived, "simulate_items_s": arrived / simulated_s,
            "capture_items_s": arrived / captured_s, "replay_items_s": arrived / replayed_s}  # fmt: skip


def report_time(days: int, items_per_day: int) -> dict[str, float]:
    day = day_scenario(items_per_day, seed=2)
    events: list[dict[str, Any]] = []
    result = runner.run(day, listeners=[lambda e: events.append(e.to_dict())])
    log = fold.LogFold()
    epoch = 1_790_000_000.0 - 1_790_000_000.0 % 86400
    log.command({"op": "init", "t": epoch, "args": {"config": commands.config_json(day.config)}})
    started = time.perf_counter()
    for index in range(days):
        shift = epoch + index * 86400.0
        for body in events:
            log.event({**body, "t": body["t"] + shift, "item": f"{index}-{body.get('item')}"}
                      if "item" in body else {**body, "t": body["t"] + shift})  # fmt: skip
    fed_s = time.perf_counter() - started
    fold_s = {}  # the cost of the roll-ups as the log is appended: one day, both ways in turn
    for rollups in ((), fold.ROLLUPS_S, (), fold.ROLLUPS_S):
        one = fold.LogFold(rollups)
        one.command(
            {"op": "init", "t": epoch, "args": {"config": commands.config_json(day.config)}}
        )
        started = time.perf_counter()
        for body in events:
            one.event({**body, "t": body["t"] + epoch})
        elapsed = time.perf_counter() - started
        fold_s[rollups] = min(fold_s.get(rollups, elapsed), elapsed)
    _gc_pauses.bound_gc_pauses()  # as `unirouter serve` does once its log is replayed
    now = epoch + days * 86400.0
    out = {"items": float(result.to_dict()["totals"]["arrived"] * days),
           "events": float(len(events) * days), "fold_events_s": len(events) * days / fed_s,
           "fold_day_events_s": len(events) / fold_s[fold.ROLLUPS_S],
           "fold_day_quarters_events_s": len(events) / fold_s[()]}  # fmt: skip
    for name, view in (("report", log), ("quarters", _quarters_only(log))):
        for by in (None, "1d", "1h", "15m"):
            span = view.window(epoch, now, by, now)
            started = time.perf_counter()
            body = view.queues(span, now)
            agents = view.agents(span, now)
            out[f"{name}_s_by_{by or 'window'}"] = time.perf_counter() - started
            if name == "report":
                started = time.perf_counter()
                tables.to_csv(tables.rows(body) + tables.rows(agents))
                out[f"csv_s_by_{by or 'window'}"] = time.perf_counter() - started
                out[f"agent_rows_by_{by or 'window'}"] = float(
                    sum(len(part["agents"]) for part in agents.get("intervals", [agents]))
                )
    return out


def _quarters_only(log: fold.LogFold) -> fold.LogFold:
    """A view of ``log`` reading its 15-minute buckets only (the same buckets, no roll-ups)."""
    view = copy.copy(log)
    accumulator = copy.copy(log._kpis)
    buckets = copy.copy(accumulator._buckets)
    assert buckets is not None
    buckets.levels = buckets.levels[:1]
    accumulator._buckets = buckets
    view._kpis = accumulator
    return view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000, help="Items of the replayed day.")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--items-per-day", type=int, default=33_334)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {"replay": replay_speed(args.items),
               "reports": report_time(args.days, args.items_per_day)}  # fmt: skip
    if args.json:
        print(json.dumps(figures))
        return
    speed, reports = figures["replay"], figures["reports"]
    print(f"replay of a {speed['items']:.0f}-item day (one queue, load 0.9):")
    for key in ("simulate_items_s", "capture_items_s", "replay_items_s"):
        print(f"  {key:<18} {speed[key]:>10,.0f} items/s")
    print(f"reports over {args.days} days, {reports['items']:,.0f} items, {reports['events']:,.0f} "
          f"events (fold: {reports['fold_events_s']:,.0f} events/s as appended):")  # fmt: skip
    print(
        f"  fold of one day: {reports['fold_day_events_s']:,.0f} events/s with hour and day "
        f"roll-ups, {reports['fold_day_quarters_events_s']:,.0f} with 15m buckets only"
    )
    print("  (target: <= 2 s for the 30-day window; 15-minute buckets alone beside it)")
    for by in ("window", "1d", "1h", "15m"):
        print(f"  by {by:<7} report {reports[f'report_s_by_{by}']:7.3f} s   "
              f"15m buckets only {reports[f'quarters_s_by_{by}']:7.3f} s   "
              f"csv {reports[f'csv_s_by_{by}']:7.3f} s   "
              f"{reports[f'agent_rows_by_{by}']:>9,.0f} agent rows")  # fmt: skip


if __name__ == "__main__":
    main()
