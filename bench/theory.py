"""`make bench`: the simulator against queueing theory, for more cases than the test suite runs.

Prints one line per (case, KPI): the closed form (:mod:`unirouter.sim.queueing`), the simulated
mean over independent replications with its 99.9% half-width (Student t times the standard
error), the tolerance the tests would use (half-width plus 1% bias allowance), and z, the gap in
standard errors. Figures only: nothing here passes or fails.

The cases, their scenarios and the statistics are those of ``tests/sim/test_theory.py`` (read from
that file, so that the benchmark and the tests cannot drift apart); docs/theory.md explains them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from unirouter.sim import queueing


def _harness() -> ModuleType:
    """``tests/sim/test_theory.py`` as a module: its Case, scenario_of, simulate and tolerance."""
    path = Path(__file__).resolve().parent.parent / "tests" / "sim" / "test_theory.py"
    spec = importlib.util.spec_from_file_location("unirouter_theory_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


T = _harness()
H = T.HANDLE_S


def cases(quick: bool) -> list[Any]:
    """Erlang C over sizes and loads, Erlang A under and over load, and two priority splits."""
    erlang_c = [(1, 0.7), (1, 0.85), (5, 0.7), (5, 0.85), (20, 0.7), (20, 0.85), (20, 0.9)]
    erlang_c += [] if quick else [(50, 0.9), (20, 0.95)]
    out = [
        T.Case(name=f"M/M/{c} at {load}", agents=c, load=load, seed=100 + i,
               measured_relaxations=8 if load >= 0.95 else 15)
        for i, (c, load) in enumerate(erlang_c)
    ]  # fmt: skip
    erlang_a = [(1, 0.9, 1.0), (5, 1.0, 2.0), (20, 1.1, 1.0), (50, 0.95, 3.0)]
    out += [
        T.Case(name=f"M/M/{c}+M at {load}, patience {p:g}×handle", agents=c, load=load,
               patience_s=p * H, measured_relaxations=50, seed=200 + i)
        for i, (c, load, p) in enumerate(erlang_a[:2] if quick else erlang_a)
    ]  # fmt: skip
    priority = [(5, 0.85, 0.4)] + ([] if quick else [(20, 0.9, 0.3)])
    out += [
        T.Case(name=f"M/M/{c} at {load}, {share:.0%} urgent", agents=c, load=load,
               urgent_share=share, seed=300 + i)
        for i, (c, load, share) in enumerate(priority)
    ]  # fmt: skip
    return out


def expectations(case: Any) -> dict[tuple[str, str], float]:
    """The closed forms a case is compared with, by (scope, KPI)."""
    c, lam, mu = case.agents, case.lam, case.mu
    if case.urgent_share is not None:
        lams = [lam * case.urgent_share, lam * (1 - case.urgent_share)]
        urgent, routine = queueing.priority_mmc_waits(c, lams, mu)
        return {
            (T.URGENT, "asa_s"): urgent,
            (T.ROUTINE, "asa_s"): routine,
            ("totals", "asa_s"): queueing.mmc_asa(c, lam, mu),
        }
    if case.patience_s is not None:
        a = T.erlang_a(case)
        return {
            ("totals", "abandon_rate"): a.p_abandon,
            ("totals", "mean_wait_s"): a.mean_wait_s,
            ("totals", "asa_s"): a.asa_s,
            ("totals", "service_level"): a.service_level,
            ("totals", "p_wait"): a.p_wait_answered,
        }
    return {
        ("totals", "p_wait"): queueing.erlang_c(c, lam / mu),
        ("totals", "asa_s"): queueing.mmc_asa(c, lam, mu),
        ("totals", "service_level"): queueing.mmc_service_level(c, lam, mu, T.SERVICE_LEVEL_S),
    }


def measure(case: Any) -> dict[str, Any]:
    started = time.perf_counter()
    simulated = T.simulate(case)
    seconds = time.perf_counter() - started
    rows = []
    for (scope, kpi), theory in expectations(case).items():
        pairs = simulated[scope][kpi]
        mean, se = T.estimate(pairs)
        half = T.t_quantile(1 - (1 - T.CONFIDENCE) / 2, len(pairs) - 1) * se
        tolerance = T.tolerance(pairs, theory)
        rows.append({
            "scope": scope, "kpi": kpi, "theory": theory, "simulated": mean, "half_width": half,
            "tolerance": tolerance, "z": (mean - theory) / se if se else 0.0,
            "within": abs(mean - theory) <= tolerance,
        })  # fmt: skip
    items = sum(count for count, _ in simulated["totals"]["arrived"])
    return {"case": case.name, "replications": case.replications, "items": items,
            "seconds": seconds, "rows": rows}  # fmt: skip


def report(results: list[dict[str, Any]]) -> str:
    head = f"{'case':38} {'KPI':22} {'theory':>10} {'simulated':>10} {'± 99.9%':>9} {'tol':>9} {'z':>6}"
    lines = [head, "-" * len(head)]
    for result in results:
        for i, row in enumerate(result["rows"]):
            name = result["case"] if i == 0 else ""
            kpi = row["kpi"] if row["scope"] == "totals" else f"{row['scope']}.{row['kpi']}"
            mark = "" if row["within"] else "  OUTSIDE"
            lines.append(
                f"{name:38} {kpi:22} {row['theory']:10.4f} {row['simulated']:10.4f} "
                f"{row['half_width']:9.4f} {row['tolerance']:9.4f} {row['z']:+6.2f}{mark}"
            )
        lines.append(
            f"{'':38} {result['replications']} replications, {result['items']:.0f} items "
            f"counted, {result['seconds']:.1f} s"
        )
    outside = sum(not r["within"] for res in results for r in res["rows"])
    total = sum(len(res["rows"]) for res in results)
    lines.append(f"{total - outside} of {total} comparisons within tolerance.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, lighter cases")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [measure(case) for case in cases(args.quick)]
    print(json.dumps(results) if args.json else report(results))


if __name__ == "__main__":
    main()
