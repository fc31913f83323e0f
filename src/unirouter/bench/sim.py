"""Side-by-side simulator benchmark (issue 3): unirouter, Ciw and SimPy on one M/M/c model.

``unirouter bench sim`` runs the same system through each simulator, one after the other, each in
its own Python process started for it, so no simulator inherits another's imports, caches or
garbage: Poisson arrivals at rate ``load · servers / mean service``, exponential handle times,
``servers`` agents taking one item at a time, first come first served, nobody abandons.

unirouter runs it the way a user does: a scenario (an inline configuration with one voice
workstream routing to one queue of ``servers`` members, default offer settings, generated
arrivals) through the scenario runner, which drives the real engine (offers made and answered,
every event emitted) and feeds every event to its KPI accumulator, whose totals give the sanity
KPIs. Ciw is given its M/M/c network; SimPy a ``Resource`` with ``servers`` slots and one process
per customer.

Each child times its own model build and its run, and reports two sanity KPIs over the items that
arrived after the warm-up (the first tenth of the arrival period): the mean wait and the share that
waited, which the report prints beside Erlang C so that a reader sees all three simulate the same
system. ``items/s`` is items simulated (arrived and left) per second of run time (wall clock);
``cpu s`` is the child's processor time for build and run, which other load on the machine
disturbs less than the wall clock.

Ciw and SimPy are the ``bench`` extras: they are imported only inside their child functions, and a
missing one is reported as a sentence in its row.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

from unirouter.sim import queueing

__all__ = [
    "SIMULATORS",
    "Model",
    "Outcome",
    "as_json",
    "main",
    "measure",
    "report",
    "run_all",
    "run_child",
    "scenario_data",
]

#: The model of the issue: c = 500 agents at load 0.95, 100,000 arrivals.
DEFAULT_ARRIVALS, DEFAULT_SERVERS, DEFAULT_LOAD = 100_000, 500, 0.95
#: The simulators of one run, in the order they run and are printed.
SIMULATORS = ("unirouter", "ciw", "simpy")
#: Items arriving in this share of the arrival period are left out of the sanity KPIs.
WARMUP_SHARE = 0.1
#: Mean handle time of the model, in seconds (the rates follow from it and the load).
MEAN_SERVICE_S = 300.0
_EXTRAS_HINT = "install the benchmark extras: pip install 'unirouter[bench]'"
_DISTRIBUTIONS = {"ciw": "Ciw", "simpy": "simpy", "unirouter": "unirouter"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Model:
    """The M/M/c system every simulator runs: ``arrivals`` expected, ``servers`` agents."""

    arrivals: int = DEFAULT_ARRIVALS
    servers: int = DEFAULT_SERVERS
    load: float = DEFAULT_LOAD
    seed: int = 1

    def __post_init__(self) -> None:
        if self.arrivals < 1:
            raise ValueError(f"arrivals: must be at least 1, not {self.arrivals}")
        if self.servers < 1:
            raise ValueError(f"servers: must be at least 1, not {self.servers}")
        if not 0.0 < self.load < 1.0:
            raise ValueError(f"load: must be above 0 and below 1, not {self.load}")

    @property
    def arrival_rate(self) -> float:
        """Arrivals per second, λ = load · c · μ."""
        return self.load * self.servers / MEAN_SERVICE_S

    @property
    def service_rate(self) -> float:
        """Completions per second of one busy agent, μ."""
        return 1.0 / MEAN_SERVICE_S

    @property
    def horizon_s(self) -> float:
        """How long arrivals last: ``arrivals`` expected at rate λ."""
        return self.arrivals / self.arrival_rate

    @property
    def warmup_s(self) -> float:
        return WARMUP_SHARE * self.horizon_s

    def erlang_c(self) -> dict[str, float]:
        """The steady-state values of the sanity KPIs (Erlang C)."""
        lam, mu = self.arrival_rate, self.service_rate
        return {
            "mean_wait_s": queueing.mmc_asa(self.servers, lam, mu),
            "p_wait": queueing.erlang_c(self.servers, lam / mu),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one child reported. ``missing`` (a sentence) when its simulator is not installed."""

    simulator: str
    version: str | None = None
    items: int = 0
    counted: int = 0
    build_s: float = 0.0
    run_s: float = 0.0
    cpu_s: float = 0.0
    process_s: float = 0.0
    mean_wait_s: float | None = None
    p_wait: float | None = None
    missing: str | None = None

    @property
    def items_per_s(self) -> float | None:
        return self.items / self.run_s if self.run_s > 0 and self.missing is None else None


class ChildFailed(RuntimeError):
    """A child process ended without reporting (a bug, not a missing simulator)."""


# -- the parent -------------------------------------------------------------------------------------


def run_all(model: Model, simulators: Sequence[str] = SIMULATORS) -> list[Outcome]:
    """Each simulator in its own process, one after the other."""
    return [run_child(name, model) for name in simulators]


def run_child(simulator: str, model: Model) -> Outcome:
    """Start ``python -m unirouter.bench.sim SIMULATOR ...`` and read the JSON line it prints."""
    command = [
        sys.executable, "-m", "unirouter.bench.sim", simulator,
        "--arrivals", str(model.arrivals), "--servers", str(model.servers),
        "--load", repr(model.load), "--seed", str(model.seed),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    process_s = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.strip():
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ChildFailed(f"the {simulator} child failed (exit {done.returncode}): {tail[0]}")
    fields = json.loads(done.stdout.strip().splitlines()[-1])
    return Outcome(**fields, process_s=process_s)


def as_json(model: Model, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The run as one JSON object (``--json``): the model, Erlang C, each simulator, the ratios."""
    rows = {}
    for outcome in outcomes:
        row = asdict(outcome)
        rate = outcome.items_per_s
        row["items_per_s"] = None if rate is None else round(rate, 1)
        rows[outcome.simulator] = row
    return {
        "model": {
            "arrivals": model.arrivals,
            "servers": model.servers,
            "load": model.load,
            "seed": model.seed,
            "mean_service_s": MEAN_SERVICE_S,
            "warmup_s": model.warmup_s,
        },
        "erlang_c": model.erlang_c(),
        "simulators": rows,
        "ratios": ratios(outcomes),
    }


def ratios(outcomes: Sequence[Outcome]) -> dict[str, float | None]:
    """unirouter's items/s over each other simulator's (None when either did not run)."""
    rates = {o.simulator: o.items_per_s for o in outcomes}
    ours = rates.get("unirouter")
    out: dict[str, float | None] = {}
    for name, rate in rates.items():
        if name != "unirouter":
            out[f"unirouter/{name}"] = round(ours / rate, 2) if ours and rate else None
    return out


def report(model: Model, outcomes: Sequence[Outcome]) -> str:
    """A side-by-side table, Erlang C as the last row, then the ratios and any missing simulator."""
    theory = model.erlang_c()
    lines = [
        f"M/M/c: c = {model.servers}, load {model.load}, {model.arrivals} arrivals expected, "
        f"mean handle {MEAN_SERVICE_S:g} s, seed {model.seed}; KPIs after a "
        f"{model.warmup_s:,.0f} s warm-up",
        f"{'simulator':<10} {'items':>8} {'build s':>8} {'run s':>8} {'cpu s':>7} {'process s':>9} "
        f"{'items/s':>9} {'mean wait s':>11} {'P(wait>0)':>9}",
    ]
    for o in outcomes:
        if o.missing is not None:
            lines.append(f"{o.simulator:<10} {o.missing}")
            continue
        lines.append(
            f"{o.simulator:<10} {o.items:>8} {o.build_s:>8.2f} {o.run_s:>8.2f} {o.cpu_s:>7.2f} "
            f"{o.process_s:>9.2f} "
            f"{o.items_per_s or 0:>9,.0f} {_figure(o.mean_wait_s):>11} {_figure(o.p_wait):>9}"
        )
    lines.append(
        f"{'Erlang C':<10} {'':>8} {'':>8} {'':>8} {'':>7} {'':>9} {'':>9} "
        f"{_figure(theory['mean_wait_s']):>11} {_figure(theory['p_wait']):>9}"
    )
    for name, value in ratios(outcomes).items():
        lines.append(f"{name}: {'n/a' if value is None else f'{value:.2f}x'}")
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# -- the children -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Measured:
    """A child's figures: ``counted`` items arrived after the warm-up and entered the KPIs."""

    items: int
    build_s: float
    run_s: float
    counted: int
    mean_wait_s: float | None
    p_wait: float | None

    @classmethod
    def of_waits(
        cls, waits: Sequence[float], *, items: int, build_s: float, run_s: float
    ) -> _Measured:
        """Figures from every counted item's wait."""
        count = len(waits)
        return cls(
            items=items,
            build_s=build_s,
            run_s=run_s,
            counted=count,
            mean_wait_s=math.fsum(waits) / count if count else None,
            p_wait=sum(1 for w in waits if w > 0) / count if count else None,
        )


def measure(simulator: str, model: Model) -> Outcome:
    """Run ``model`` through ``simulator`` in this process (what each child does)."""
    try:
        run = _CHILDREN[simulator]
    except KeyError:
        raise ValueError(
            f"simulator: must be one of {', '.join(SIMULATORS)}, not {simulator!r}"
        ) from None
    cpu_started = time.process_time()
    try:
        measured = run(model)
    except ImportError as error:
        if error.name not in ("ciw", "simpy"):
            raise
        name = _DISTRIBUTIONS[simulator]
        return Outcome(simulator=simulator, missing=f"{name} is not installed; {_EXTRAS_HINT}.")
    return Outcome(
        simulator=simulator,
        version=metadata.version(_DISTRIBUTIONS[simulator]),
        items=measured.items,
        counted=measured.counted,
        build_s=measured.build_s,
        run_s=measured.run_s,
        cpu_s=time.process_time() - cpu_started,
        mean_wait_s=measured.mean_wait_s,
        p_wait=measured.p_wait,
    )


def scenario_data(model: Model) -> dict[str, Any]:
    """The model as a unirouter scenario: one voice queue of ``servers`` members."""
    agents: dict[str, dict[str, Any]] = {f"a{n:05d}": {} for n in range(model.servers)}
    return {
        "config": {
            "workstreams": {
                "calls": {
                    "kind": "voice",
                    "fallback_queue": "line",
                    "route_to_queue": [{"when": "true", "queue": "line"}],
                }
            },
            "queues": {"line": {"kind": "voice", "members": list(agents)}},
            "agents": agents,
        },
        "duration": model.horizon_s,
        "warmup": model.warmup_s,
        "seed": model.seed,
        "arrivals": [
            {
                "workstream": "calls",
                "rate": model.arrival_rate,
                "handle_time": {"dist": "exponential", "mean_s": MEAN_SERVICE_S},
            }
        ],
    }


def _run_unirouter(model: Model) -> _Measured:
    from unirouter.sim import runner, scenario

    started = time.perf_counter()
    loaded = scenario.parse(scenario_data(model))
    built = time.perf_counter()
    result = runner.run(loaded)  # the runner feeds every event to its KPI accumulator
    finished = time.perf_counter()
    if result.errors:
        raise RuntimeError(f"the engine refused a generated arrival: {result.errors[0]}")
    totals = result.kpis[0].totals.kpis()
    return _Measured(
        items=result.arrivals_generated,
        build_s=built - started,
        run_s=finished - built,
        counted=totals["answered"],
        mean_wait_s=totals["mean_wait_s"],
        p_wait=totals["p_wait"],
    )


def _run_ciw(model: Model) -> _Measured:
    import ciw  # type: ignore[import-untyped]

    started = time.perf_counter()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=model.arrival_rate)],
        service_distributions=[ciw.dists.Exponential(rate=model.service_rate)],
        number_of_servers=[model.servers],
    )
    ciw.seed(model.seed)
    simulation = ciw.Simulation(network)
    built = time.perf_counter()
    simulation.simulate_until_max_customers(model.arrivals, method="Complete")
    finished = time.perf_counter()
    records = simulation.get_all_records()
    waits = [r.waiting_time for r in records if r.arrival_date >= model.warmup_s]
    return _Measured.of_waits(
        waits, items=len(records), build_s=built - started, run_s=finished - built
    )


def _run_simpy(model: Model) -> _Measured:
    import simpy

    started = time.perf_counter()
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=model.servers)
    gaps, handles = random.Random(model.seed), random.Random(model.seed + 1)
    waits: list[float] = []
    warmup_s = model.warmup_s

    def customer(handle_s: float) -> Any:
        arrived = env.now
        with agents.request() as request:
            yield request
            if arrived >= warmup_s:
                waits.append(env.now - arrived)
            yield env.timeout(handle_s)

    def source() -> Any:
        for _ in range(model.arrivals):
            yield env.timeout(gaps.expovariate(model.arrival_rate))
            env.process(customer(handles.expovariate(model.service_rate)))

    env.process(source())
    built = time.perf_counter()
    env.run()
    finished = time.perf_counter()
    return _Measured.of_waits(
        waits, items=model.arrivals, build_s=built - started, run_s=finished - built
    )


_CHILDREN: dict[str, Callable[[Model], _Measured]] = {
    "unirouter": _run_unirouter,
    "ciw": _run_ciw,
    "simpy": _run_simpy,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Child entry point: run one simulator and print its :class:`Outcome` as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m unirouter.bench.sim", description=__doc__)
    parser.add_argument("simulator", choices=SIMULATORS)
    parser.add_argument("--arrivals", type=int, default=DEFAULT_ARRIVALS)
    parser.add_argument("--servers", type=int, default=DEFAULT_SERVERS)
    parser.add_argument("--load", type=float, default=DEFAULT_LOAD)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    model = Model(arrivals=args.arrivals, servers=args.servers, load=args.load, seed=args.seed)
    outcome = measure(args.simulator, model)
    fields = asdict(outcome)
    del fields["process_s"]  # the parent times the whole process
    print(json.dumps(fields))


if __name__ == "__main__":
    main()
