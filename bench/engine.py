"""`make bench`: the engine benchmark of the engine issue (figures only, never a pass/fail).

Two parts: the built-in methods at 1k, 10k and 100k agents (:mod:`unirouter.bench.engine`), and
custom assignment (R19, issue 15 B4), measured before and after its fix in the same run: "before"
runs the engine with the agent-side check of a custom queue doing the full decision for every
waiting item, as it did, "after" with the fix (the free agent alone is tried first).

``--pools`` runs issue 10 item 4's cases instead (agents with varied skill levels, a deep backlog,
set-up time). With ``--before SRC`` (the ``src`` folder of another checkout, e.g. a worktree of
the commit before the change) each case runs in a fresh process per tree, the two trees
alternating, with this checkout's benchmark code driving either tree's engine, and the figures are
printed side by side::

    git worktree add --detach ../before <commit>
    python bench/engine.py --pools --before ../before/src
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
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


# -- issue 10 item 4: varied skill levels, deep backlog, set-up ---------------------------------------

HERE = Path(__file__).resolve().parent
#: The benchmark code, loaded from this checkout whichever tree's engine ``PYTHONPATH`` selects.
CASES_FILE = HERE.parent / "src" / "unirouter" / "bench" / "engine.py"


def _cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pool_cases", CASES_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def pool_case(case: str, agents: int, items: int, waiting: int) -> dict[str, Any]:
    """One case in this process: items/s and µs per item (set-up: seconds)."""
    cases = _cases()
    if case == "setup":
        return dict(cases.setup_times(agents))
    if case == "backlog":
        result = cases.run_backlog_bench(agents, items, waiting=waiting)
    else:
        result = cases.run_engine_bench(agents, items, varied=case == "varied")
    return {"agents": agents, "items_per_s": result.items_per_s, "us_per_item": result.us_per_item}


def _child(tree: str | None, case: str, agents: int, items: int, waiting: int) -> dict[str, Any]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    argv = [sys.executable, str(Path(__file__).resolve()), "--pool-case", case]
    argv += ["--sizes", str(agents), "--items", str(items), "--waiting", str(waiting)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def pool_plan(sizes: list[int], setup_sizes: list[int]) -> list[tuple[str, int]]:
    plan = [("varied", n) for n in sizes] + [("profiles", n) for n in sizes]
    plan += [("shallow", sizes[min(1, len(sizes) - 1)]), ("backlog", sizes[min(1, len(sizes) - 1)])]
    return plan + [("setup", n) for n in setup_sizes]


def pool_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every case for each tree, before and after alternating (which goes first swaps per case)."""
    sizes = [int(s) for s in args.sizes.split(",")]
    setup_sizes = [int(s) for s in args.setup_sizes.split(",")]
    trees: list[tuple[str, str | None]] = [("after", str(HERE.parent / "src"))]
    if args.before:
        trees.insert(0, ("before", str(Path(args.before).resolve())))
    rows = []
    for n, (case, agents) in enumerate(pool_plan(sizes, setup_sizes)):
        row: dict[str, Any] = {"case": case, "agents": agents}
        order = trees if n % 2 == 0 else trees[::-1]
        for name, tree in order:
            if name == "before" and case != "setup" and agents > args.before_max:
                row[name] = None  # see --before-max
                continue
            row[name] = _child(
                tree, case.replace("shallow", "varied"), agents, args.items, args.waiting
            )
            print(f"  {case} {agents} {name}: {row[name]}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def pool_report(rows: list[dict[str, Any]]) -> str:
    """Before and after side by side: items/s, µs per item and its ratio to the smallest size of
    the same case (deep backlog: to the shallow case); set-up in seconds."""
    names = [name for name in ("before", "after") if name in rows[0]]
    head = f"{'case':>9} {'agents':>7}" + "".join(
        f" {name + ' items/s':>15} {'us/item':>8} {'ratio':>6}" for name in names
    )
    lines = [head]
    first: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["case"] == "setup":
            continue
        cells = f"{row['case']:>9} {row['agents']:>7}"
        for name in names:
            fig = row[name]
            if fig is None:
                cells += f" {'not run':>15} {'':>8} {'':>6}"
                continue
            # The ratio's base: the smallest size of the same case; the shallow case for the
            # deep backlog (the shallow case is the varied centre at the backlog's size).
            family = "shallow" if row["case"] in ("shallow", "backlog") else row["case"]
            ref = first.setdefault((family, name), fig["us_per_item"])
            cells += (
                f" {fig['items_per_s']:>15.0f} {fig['us_per_item']:>8.1f}"
                f" {fig['us_per_item'] / ref:>6.2f}"
            )
        lines.append(cells)
    setups = [row for row in rows if row["case"] == "setup"]
    if setups:
        lines.append("")
        lines.append(
            f"{'set-up':>9} {'agents':>7}"
            + "".join(f" {name + ' validate s':>18} {'build s':>8}" for name in names)
        )
        for row in setups:
            lines.append(
                f"{'':>9} {row['agents']:>7}"
                + "".join(
                    f" {row[name]['validate_s']:>18.2f} {row[name]['build_s']:>8.2f}"
                    for name in names
                )
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, benchmarks.DEFAULT_SIZES)))
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--custom-only", action="store_true", help="only the custom-assignment part"
    )
    parser.add_argument("--pools", action="store_true", help="issue 10 item 4's cases only")
    parser.add_argument("--before", help="with --pools: the src folder of the tree to compare")
    parser.add_argument("--waiting", type=int, default=50_000, help="deep backlog: items waiting")
    parser.add_argument("--setup-sizes", default="10000,100000", help="with --pools: set-up runs")
    parser.add_argument(
        "--before-max",
        type=int,
        default=10_000,
        help="with --before: the largest floor timed on the before tree (there a decision visits "
        "nearly every member when levels vary, and filling 100,000 agents is 90,000 decisions)",
    )
    parser.add_argument("--pool-case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pool_case:
        print(json.dumps(pool_case(args.pool_case, int(args.sizes), args.items, args.waiting)))
        return
    if args.pools:
        rows = pool_rows(args)
        print(json.dumps(rows) if args.json else pool_report(rows))
        return
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
