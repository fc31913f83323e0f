"""In-process engine benchmark (issue: "speed by design").

Drives the real engine through submit → assign → complete with 1k, 10k and 100k agents: 20 queues,
every agent a member of 3, 10 skills with exact matching, and load 0.9 (nine in ten agents busy when
the measurement starts). Agents come from 30 skill profiles, as trained teams do, so pools per skill
signature stay few. Prints items per second and the per-item cost relative to the smallest size.

Issue 10 item 4 adds three cases (``bench/engine.py --pools``), which import only the engine's public
entry points so that one run can time two source trees side by side:

* **varied levels** (``varied=True``): each agent holds 3 of the 10 skills at levels drawn from 3–10,
  so nearly every agent has a skill signature of its own;
* **deep backlog** (:func:`run_backlog_bench`): every agent busy and 50,000 items waiting across the
  20 queues, then agents free up one at a time, each taking a waiting item, with an arrival after
  each to keep the backlog; its per-assignment cost is compared with the shallow case's;
* **set-up** (:func:`setup_times`): validating the configuration and building the engine.
"""

from __future__ import annotations

import gc
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from unirouter.config import model
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.state import ItemState

__all__ = [
    "EngineResult",
    "bench_config",
    "centre",
    "report",
    "run_backlog_bench",
    "run_engine_bench",
    "setup_times",
]

#: Agents per run of ``unirouter bench engine`` and ``make bench``.
DEFAULT_SIZES = (1_000, 10_000, 100_000)

QUEUES = 20
SKILLS = 10
PROFILES = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineResult:
    agents: int
    items: int
    seconds: float
    setup_s: float

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds

    @property
    def us_per_item(self) -> float:
        return 1e6 * self.seconds / self.items


def bench_config(agents: int, seed: int = 1, *, varied: bool = False) -> model.Config:
    """20 workstreams each feeding one queue; agents in 3 queues with one of 30 skill profiles
    (``varied``: 3 of the 10 skills each, at levels drawn from 3–10)."""
    return model.Config.model_validate(centre(agents, seed, varied=varied))


def centre(agents: int, seed: int = 1, *, varied: bool = False) -> dict[str, Any]:
    """The configuration of :func:`bench_config` as plain data, before validation."""
    rng = random.Random(seed)
    profiles = [
        {f"s{k}": rng.randint(3, 9) for k in range(SKILLS) if rng.random() < 0.7}
        for _ in range(PROFILES)
    ]
    members: dict[str, list[str]] = {f"q{q}": [] for q in range(QUEUES)}
    agent_defs: dict[str, Any] = {}
    for n in range(agents):
        agent_id = f"a{n:06d}"
        if varied:
            held = rng.sample(range(SKILLS), 3)
            agent_defs[agent_id] = {"skills": {f"s{k}": rng.randint(3, 10) for k in held}}
        else:
            agent_defs[agent_id] = {"skills": profiles[rng.randrange(PROFILES)]}
        for q in rng.sample(range(QUEUES), 3):
            members[f"q{q}"].append(agent_id)
    workstreams = {
        f"w{q}": {
            "kind": "messaging",
            "offer": {"auto_accept": True},
            "wrap_up": {"block": "none"},
            "fallback_queue": f"q{q}",
            "route_to_queue": [{"when": "true", "queue": f"q{q}"}],
        }
        for q in range(QUEUES)
    }
    queues = {
        f"q{q}": {"kind": "messaging", "priority": q % 3, "members": members[f"q{q}"]}
        for q in range(QUEUES)
    }
    return {
        "skills": {f"s{k}": {"levels": 10} for k in range(SKILLS)},
        "workstreams": workstreams,
        "queues": queues,
        "agents": agent_defs,
    }


def run_engine_bench(
    agents: int, items: int, *, seed: int = 1, varied: bool = False, waiting: int = 0
) -> EngineResult:
    """Fill the floor to load 0.9, then measure ``items`` completions each followed by an arrival.

    With ``waiting``, the floor is filled to every agent's capacity and ``waiting`` more items
    queue behind (see :func:`run_backlog_bench`).
    """
    started = time.perf_counter()
    config = bench_config(agents, seed, varied=varied)
    clock = ManualClock(0.0)
    # As a long-running shell would: bound the closed items kept readable, and after the set-up
    # move its objects out of the cyclic collector's view (gc.freeze), so collections do not
    # rescan ten thousand agents on every pass.
    engine = Engine(config, clock=clock, retain_closed=10_000)
    rng = random.Random(seed)
    skills = [model.SkillReq(name=f"s{k}", level=rng.randint(1, 3)) for k in range(SKILLS)]
    active: deque[str] = deque()
    counter = 0

    def submit() -> None:
        nonlocal counter
        counter += 1
        q = rng.randrange(QUEUES)
        item = engine.submit(
            external_id=f"x{counter}", workstream=f"w{q}", skills=[skills[(q + counter) % SKILLS]]
        )
        active.append(item.id)

    for _ in range(int(agents * 0.9) if not waiting else agents + waiting):
        submit()
    engine.drain_events()
    setup_s = time.perf_counter() - started
    gc.collect()
    gc.freeze()
    begin = time.perf_counter()
    for step in range(items):
        clock.set(1.0 + step * 0.001)
        engine.complete(_next_assigned(engine, active), wrap_up=False)
        submit()
        if step % 1000 == 0:
            engine.drain_events()
    seconds = time.perf_counter() - begin
    gc.unfreeze()
    return EngineResult(agents=agents, items=items, seconds=seconds, setup_s=setup_s)


def run_backlog_bench(
    agents: int, items: int, *, waiting: int = 50_000, seed: int = 1, varied: bool = True
) -> EngineResult:
    """Deep backlog: ``agents + waiting`` items submitted (every agent that qualifies for some of
    them busy, about ``waiting`` items queued across the 20 queues), then ``items`` completions,
    each freeing an agent that takes a waiting item, each followed by an arrival."""
    return run_engine_bench(agents, items, seed=seed, varied=varied, waiting=waiting)


def setup_times(agents: int, *, seed: int = 1, varied: bool = True) -> dict[str, float]:
    """Seconds to validate the configuration (as ``unirouter config check`` does) and to build
    the engine from it, for ``agents`` agents."""
    from unirouter import config as configuration

    data = centre(agents, seed, varied=varied)
    began = time.perf_counter()
    config = configuration.validate(data)
    validated = time.perf_counter()
    Engine(config, clock=ManualClock(0.0), retain_closed=10_000)
    built = time.perf_counter()
    return {"agents": agents, "validate_s": validated - began, "build_s": built - validated}


def _next_assigned(engine: Engine, active: deque[str]) -> str:
    """The oldest assigned item; items still waiting go to the back of the line."""
    for _ in range(len(active)):
        item_id = active.popleft()
        if engine.item(item_id).state is ItemState.ASSIGNED:
            return item_id
        active.append(item_id)
    raise RuntimeError("no assigned item to complete: the floor is empty")


def as_json(results: list[EngineResult]) -> list[dict[str, float]]:
    """The figures as JSON-ready rows (``--json``)."""
    base = results[0].us_per_item
    return [
        {
            "agents": r.agents,
            "items": r.items,
            "items_per_s": round(r.items_per_s, 1),
            "us_per_item": round(r.us_per_item, 2),
            "cost_ratio": round(r.us_per_item / base, 3),
            "setup_s": round(r.setup_s, 2),
        }
        for r in results
    ]


def report(results: list[EngineResult]) -> str:
    """A side-by-side table; the ratio is each size's per-item cost over the smallest size's."""
    base = results[0].us_per_item
    lines = [
        f"{'agents':>8} {'items':>8} {'items/s':>10} {'us/item':>9} {'cost ratio':>10} {'setup s':>8}"
    ]
    for r in results:
        lines.append(
            f"{r.agents:>8} {r.items:>8} {r.items_per_s:>10.0f} {r.us_per_item:>9.1f}"
            f" {r.us_per_item / base:>10.2f} {r.setup_s:>8.1f}"
        )
    return "\n".join(lines)
