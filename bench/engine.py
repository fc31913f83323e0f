"""`make bench`: the engine benchmark of the engine issue (figures only, never a pass/fail).

Two parts: the built-in methods at 1k, 10k and 100k agents (:mod:`unirouter.bench.engine`), and
custom assignment (R19, issue 15 B4), measured before and after its fix in the same run: "before"
runs the engine with the agent-side check of a custom queue doing the full decision for every
waiting item, as it did, "after" with the fix (the free agent alone is tried first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

from unirouter.bench import engine as benchmarks
from unirouter.config import model
from unirouter.engine import dispatch
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine

#: (agents, waiting items, re-apply measured before the fix) of the audit's two custom cases. The
#: re-apply of the larger one is not run "before": it took 23 minutes on a loaded 2-core machine.
CUSTOM_CASES = ((200, 2_000, False), (50, 500, True))


def custom_config(agents: int) -> model.Config:
    """One custom queue: a team rule, then anyone by free units; no agent is in the items' team."""
    rules = [
        {"when": "agent.team == item.team", "order_by": "agent.experience", "desc": True},
        {"when": "item.team == null", "order_by": "agent.free_units", "desc": True},
    ]
    return model.Config.model_validate(
        {
            "workstreams": {"chat": {"kind": "messaging", "fallback_queue": "q"}},
            "queues": {
                "q": {
                    "kind": "messaging",
                    "members": [f"a{n:04d}" for n in range(agents)],
                    "assignment": {"method": "custom", "rules": rules},
                }
            },
            "agents": {
                f"a{n:04d}": {"attributes": {"team": f"t{n % 5}", "experience": n % 7}}
                for n in range(agents)
            },
        }
    )


@contextlib.contextmanager
def before_fix() -> Iterator[None]:
    """The engine as it was: every waiting item's full custom decision on an agent's side."""
    fixed = dispatch.Dispatcher._custom_allows
    dispatch.Dispatcher._custom_allows = dispatch.Dispatcher._custom_decides  # type: ignore[method-assign]
    try:
        yield
    finally:
        dispatch.Dispatcher._custom_allows = fixed  # type: ignore[method-assign]


def custom_case(agents: int, items: int, *, reapply: bool = True) -> dict[str, float | None]:
    """Seconds for one presence change and one configuration re-apply with ``items`` waiting."""
    config = custom_config(agents)
    engine = Engine(config, clock=ManualClock(0.0), trace=False)
    for n in range(items):
        engine.submit(external_id=f"c{n}", workstream="chat", attributes={"team": "nobody"})
    engine.set_presence("a0000", model.BasePresence.AWAY)
    began = time.perf_counter()
    engine.set_presence("a0000", model.BasePresence.AVAILABLE)
    presence_s = time.perf_counter() - began
    if not reapply:
        return {"presence_s": presence_s, "apply_s": None}
    began = time.perf_counter()
    engine.apply_config(config)
    apply_s = time.perf_counter() - began
    assert sum(1 for _ in engine.items()) == items
    return {"presence_s": presence_s, "apply_s": apply_s}


def custom_rows() -> list[dict[str, Any]]:
    rows = []
    for agents, items, reapply_before in CUSTOM_CASES:
        with before_fix():
            before = custom_case(agents, items, reapply=reapply_before)
        after = custom_case(agents, items)
        rows.append({"agents": agents, "waiting": items, "before": before, "after": after})
    return rows


def custom_report(rows: list[dict[str, Any]]) -> str:
    """Before and after side by side, in milliseconds."""
    head = (
        f"{'custom (R19)':>12} {'waiting':>8} {'presence before':>16} {'after':>9}"
        f" {'re-apply before':>16} {'after':>9}"
    )
    lines = [head]
    for row in rows:
        b, a = row["before"], row["after"]
        lines.append(
            f"{row['agents']:>6} agents {row['waiting']:>8} {_ms(b['presence_s']):>16}"
            f" {_ms(a['presence_s']):>9} {_ms(b['apply_s']):>16} {_ms(a['apply_s']):>9}"
        )
    return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "not run" if seconds is None else f"{1e3 * seconds:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, benchmarks.DEFAULT_SIZES)))
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--custom-only", action="store_true", help="only the custom-assignment part"
    )
    args = parser.parse_args()
    results = []
    if not args.custom_only:
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(benchmarks.run_engine_bench(size, args.items))
    custom = custom_rows()
    if args.json:
        print(
            json.dumps(
                {"methods": benchmarks.as_json(results) if results else [], "custom": custom}
            )
        )
        return
    if results:
        print(benchmarks.report(results))
        print()
    print(custom_report(custom))


if __name__ == "__main__":
    main()
