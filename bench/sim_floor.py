"""Where the simulator's time per item goes: the engine alone, the runner, the KPIs (figures only).

Runs the M/M/c model of ``unirouter bench sim`` three ways, each in a Python process started for
it, and prints the processor time per item of each:

* ``engine``: the engine's commands only (submit, accept, complete; traces off, as in a run),
  driven by a minimal loop of this file's own: every offer accepted at once, each item completed
  an exponential handle time after its assignment. No books, no KPIs: what the engine costs, the
  floor of any runner.
* ``runner``: the scenario runner as ``unirouter bench sim`` runs it, with the KPI accumulator's
  handlers switched off (its events are dispatched to nobody).
* ``full``: the scenario runner with its KPIs, as ``unirouter bench sim`` runs it.

So ``runner - engine`` is the runner's own work per item and ``full - runner`` the KPI
accumulator's (docs/performance.md, the simulator's third round). The engine loop draws its own
random numbers, so its items and waits differ a little from the runner's; the costs per item are
comparable, the KPIs are not.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import random
import subprocess
import sys
import time
from unittest import mock

from unirouter.analytics import kpis
from unirouter.bench import sim as bench_sim
from unirouter.engine import Engine, EventType, ManualClock
from unirouter.sim import runner, scenario

PARTS = ("engine", "runner", "full")


def _engine_only(model: bench_sim.Model) -> int:
    plan = scenario.parse(bench_sim.scenario_data(model))
    clock = ManualClock(0.0)
    engine = Engine(
        plan.config, clock=clock, epoch=plan.start, trace=False, retain_closed=runner.RETAIN_CLOSED
    )
    gaps, handles = random.Random(model.seed), random.Random(model.seed + 1)
    rate, mean_s, horizon = model.arrival_rate, bench_sim.MEAN_SERVICE_S, model.horizon_s
    agenda: list[tuple[float, int, int, tuple[str, str]]] = [
        (gaps.expovariate(rate), 0, 0, ("", ""))
    ]
    count = order = 0
    while agenda:
        t, _, kind, (first, second) = heapq.heappop(agenda)
        clock.set(t)
        if kind == 0:  # an arrival, and the next one
            count += 1
            engine.submit(external_id=f"gen-{count}", workstream="calls")
            if (t_next := t + gaps.expovariate(rate)) < horizon:
                order += 1
                heapq.heappush(agenda, (t_next, order, 0, ("", "")))
        elif kind == 1:
            engine.accept(first, agent=second)
        else:
            engine.complete(first, wrap_up=False)
        for event in engine.drain_events():
            if event.type is EventType.OFFER_MADE:
                order += 1
                heapq.heappush(agenda, (event.t, order, 1, (event.offer or "", event.agent or "")))
            elif event.type is EventType.ITEM_ASSIGNED:
                order += 1
                done = event.t + handles.expovariate(1.0 / mean_s)
                heapq.heappush(agenda, (done, order, 2, (event.item or "", "")))
    return count


def _runner(model: bench_sim.Model, *, with_kpis: bool) -> int:
    plan = scenario.parse(bench_sim.scenario_data(model))
    if with_kpis:
        return runner.run(plan).arrivals_generated
    with mock.patch.object(kpis.KpiAccumulator, "handlers", lambda self: {}):
        return runner.run(plan).arrivals_generated


def child(part: str, model: bench_sim.Model) -> dict[str, float]:
    """Time one part in this process: items and processor seconds."""
    old = gc.get_threshold()
    gc.set_threshold(runner.GC_THRESHOLD, *old[1:])  # as a run does (runner.GC_THRESHOLD)
    started = time.process_time()
    items = _engine_only(model) if part == "engine" else _runner(model, with_kpis=part == "full")
    return {"items": items, "cpu_s": time.process_time() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arrivals", type=int, default=50_000)
    parser.add_argument("--servers", type=int, default=bench_sim.DEFAULT_SERVERS)
    parser.add_argument("--load", type=float, default=bench_sim.DEFAULT_LOAD)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = bench_sim.Model(arrivals=args.arrivals, servers=args.servers, load=args.load)
    if args.part is not None:
        print(json.dumps(child(args.part, model)))
        return
    print(f"M/M/c: c = {model.servers}, load {model.load}, {model.arrivals} arrivals expected")
    print(f"{'part':<8} {'items':>8} {'cpu s':>7} {'µs cpu per item':>16}")
    for part in PARTS:
        command = [sys.executable, __file__, "--part", part, "--arrivals", str(args.arrivals),
                   "--servers", str(args.servers), "--load", repr(args.load)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        per_item = 1e6 * figures["cpu_s"] / figures["items"]
        print(f"{part:<8} {figures['items']:>8} {figures['cpu_s']:>7.2f} {per_item:>16.1f}")


if __name__ == "__main__":
    main()
