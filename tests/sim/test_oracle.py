"""An exact oracle for the simulator: first-come-first-served c-server queueing, item by item.

For a FIFO M/M/c scenario (one queue, one workstream, c identical agents, no abandonment, no
wrap-up, offers answered at once), the wait of every item is fixed by the arrival times and the
handle times alone: the k-th arrival starts at max(its arrival, the earliest time an agent is
free) and keeps that agent for its handle time. So instead of comparing the simulator's KPIs with
Erlang C statistically, these tests

* draw the inputs again, independently of the runner, from the scenario's own random streams
  (:class:`unirouter.sim.traffic.Generator` with the replication's seed): arrival times and the
  handle time drawn for each item;
* check that the engine's event log has exactly those arrivals, and that each item was held for
  exactly its drawn handle time (``item_closed`` − ``item_assigned``);
* compute the FIFO recursion for those inputs and compare it with every item's wait in the event
  log (``item_queued`` to ``item_assigned``) and with the SPEC §8 KPIs the accumulator reports (the
  run's own and the per-interval ones the Erlang tests read), to rounding.

Any difference would be a defect in the runner, the engine or the KPI code. Ties (arrivals and
completions at the same instant, several agents freeing at once) are covered by scripted scenarios
on whole seconds, where they happen all the time. The module also checks the closed forms of
:mod:`unirouter.sim.queueing` against the stationary distribution of the M/M/c chain solved
numerically (numpy), a computation that shares nothing with them.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter.analytics import _kpi_tally, kpis
from unirouter.engine import Event, EventType
from unirouter.sim import queueing, runner, scenario, staffing, traffic

HANDLE_S = 100.0
SERVICE_LEVEL_S = 50.0
#: Relative slack for sums of thousands of waits added in a different order.
ROUNDING = 1e-9


# -- the oracle ----------------------------------------------------------------------------------------


def fifo_waits(arrivals: Sequence[float], handles: Sequence[float], agents: int) -> list[float]:
    """Each arrival's wait in a FIFO queue served by ``agents`` identical servers."""
    free = [0.0] * agents  # when each server is next free (a heap)
    waits = []
    for arrival, handle in zip(arrivals, handles, strict=True):
        start = max(arrival, heapq.heappop(free))
        waits.append(start - arrival)
        heapq.heappush(free, start + handle)
    return waits


def mmc(
    agents: int,
    load: float,
    *,
    seed: int,
    items: int,
    warmup_items: int = 0,
    auto_accept: bool = True,
    handle: dict[str, Any] | None = None,
) -> scenario.Scenario:
    """One queue of ``agents`` agents, Poisson arrivals at ``load`` (lam/(c·mu)), about ``items``
    arrivals; offers auto-accepted, or accepted at once by every agent (accept 1, response 0)."""
    lam = load * agents / HANDLE_S
    names = [f"agent{i}" for i in range(agents)]
    workstream: dict[str, Any] = {"kind": "voice", "fallback_queue": "q"}
    if auto_accept:
        workstream["offer"] = {"auto_accept": True}
    return scenario.parse(
        {
            "config": {
                "workstreams": {"calls": workstream},
                "queues": {
                    "q": {
                        "kind": "voice",
                        "members": names,
                        "service_level_s": SERVICE_LEVEL_S,
                        "short_abandon_s": 0,
                    }
                },
                "agents": {name: {} for name in names},
            },
            "duration": items / lam,
            "warmup": warmup_items / lam,
            "seed": seed,
            "agent_behaviour": {"accept": 1.0, "response_s": 0},
            "arrivals": [
                {
                    "workstream": "calls",
                    "rate": lam,
                    "handle_time": handle or {"dist": "exponential", "mean_s": HANDLE_S},
                }
            ],
        }
    )


@dataclass(frozen=True, slots=True)
class Drawn:
    """The inputs of one generated run, drawn again from the scenario's random streams."""

    arrivals: list[float]
    handles: list[float]


def drawn(loaded: scenario.Scenario) -> Drawn:
    """What the runner's generator draws for one source, reproduced without the runner."""
    seed = loaded.seed
    generator = traffic.Generator(
        loaded.arrivals, seed=seed, factor=runner.busyness(loaded, seed), until=loaded.duration
    )
    arrivals, handles = [], []
    t = 0.0
    while (next_t := generator.next_time(0, t)) is not None:
        t = next_t
        arrivals.append(t)
        handles.append(generator.item(0).handle_s)
    return Drawn(arrivals, handles)


@dataclass(frozen=True, slots=True)
class Logged:
    """Per item, in creation order, what the engine's event log says."""

    created: list[float]
    waits: list[float]
    held: list[float]  # closed − assigned: the handle time the runner actually used


def logged(events: Sequence[Event]) -> Logged:
    order: list[str] = []
    created: dict[str, float] = {}
    queued: dict[str, float] = {}
    assigned: dict[str, float] = {}
    closed: dict[str, float] = {}
    for event in events:
        ident = event.item or ""
        if event.type is EventType.ITEM_CREATED:
            order.append(ident)
            created[ident] = event.t
        elif event.type is EventType.ITEM_QUEUED:
            queued.setdefault(ident, event.t)
        elif event.type is EventType.ITEM_ASSIGNED:
            assert ident not in assigned, f"{ident} assigned twice"
            assigned[ident] = event.t
        elif event.type is EventType.ITEM_CLOSED:
            closed[ident] = event.t
    return Logged(
        created=[created[i] for i in order],
        waits=[assigned[i] - queued[i] for i in order],
        held=[closed[i] - assigned[i] for i in order],
    )


def run(loaded: scenario.Scenario) -> tuple[Logged, kpis.KpiResult]:
    events: list[Event] = []
    result = runner.run(loaded, listeners=[events.append])
    assert not result.errors
    return logged(events), result.kpis[0]


def expected_kpis(waits: Sequence[float], handles: Sequence[float]) -> dict[str, float]:
    """The SPEC §8 KPIs of answered items with these waits and handle times."""
    n = len(waits)
    return {
        "arrived": n,
        "answered": n,
        "left_open": 0,
        "asa_s": math.fsum(waits) / n,
        "mean_wait_s": math.fsum(waits) / n,
        "p_wait": sum(w > 0 for w in waits) / n,
        "service_level": sum(w <= SERVICE_LEVEL_S for w in waits) / n,
        "max_wait_s": max(waits),
        "aht_s": math.fsum(handles) / n,
    }


def assert_kpis(tally: _kpi_tally.Tally, expected: dict[str, float], label: str) -> None:
    assert tally.handled == expected["answered"], f"{label}: handled {tally.handled}"
    reported = tally.kpis()
    for name, value in expected.items():
        assert reported[name] == pytest.approx(value, rel=ROUNDING, abs=ROUNDING), (
            f"{label} {name}: reported {reported[name]}, FIFO oracle {value}"
        )


# -- generated M/M/c runs, item by item ------------------------------------------------------------


@functools.cache
def recorded(
    agents: int, load: float, seed: int, auto_accept: bool
) -> tuple[scenario.Scenario, Drawn, Logged, kpis.KpiResult]:
    """One run of 2,500 arrivals (the first 500 in the warm-up), shared by the tests below."""
    loaded = mmc(agents, load, seed=seed, items=2500, warmup_items=500, auto_accept=auto_accept)
    log, measured = run(loaded)
    return loaded, drawn(loaded), log, measured


CASES = [
    pytest.param(1, 0.85, 41, True, id="M/M/1 at 0.85"),
    pytest.param(5, 0.85, 42, False, id="M/M/5 at 0.85, offers accepted"),
    pytest.param(20, 0.7, 43, True, id="M/M/20 at 0.7"),
    pytest.param(20, 0.85, 44, False, id="M/M/20 at 0.85, offers accepted"),
    pytest.param(50, 0.9, 45, True, id="M/M/50 at 0.9"),
]


@pytest.mark.parametrize(("agents", "load", "seed", "auto_accept"), CASES)
def test_every_wait_is_the_fifo_wait_of_the_drawn_arrivals_and_handle_times(
    agents: int, load: float, seed: int, auto_accept: bool
) -> None:
    """SPEC §8 wait (first queued to first assigned) of every item equals the FIFO recursion over
    the arrival times and handle times drawn from the scenario's streams; the engine created
    exactly the drawn arrivals and held each item exactly its drawn handle time."""
    _, inputs, log, _ = recorded(agents, load, seed, auto_accept)
    assert log.created == inputs.arrivals  # no arrival lost, added, moved or reordered
    assert log.held == pytest.approx(inputs.handles, rel=ROUNDING, abs=ROUNDING)
    oracle = fifo_waits(inputs.arrivals, inputs.handles, agents)
    mismatched = [
        (k, oracle[k], log.waits[k])
        for k in range(len(oracle))
        if not math.isclose(oracle[k], log.waits[k], rel_tol=ROUNDING, abs_tol=ROUNDING)
    ]
    assert not mismatched, f"{len(mismatched)} waits differ (index, FIFO, engine): {mismatched[:5]}"
    assert any(w > 0 for w in oracle) and any(w == 0 for w in oracle)  # both kinds occur


@pytest.mark.parametrize(("agents", "load", "seed", "auto_accept"), CASES)
def test_reported_kpis_are_the_fifo_oracle_over_the_items_arriving_after_the_warmup(
    agents: int, load: float, seed: int, auto_accept: bool
) -> None:
    """SPEC §8 asa_s, mean_wait_s, p_wait, service_level, max_wait_s, aht_s and the counts, both
    of the run (``--json``) and per staffing interval (what tests/sim/test_theory.py reads),
    are those of the FIFO oracle over exactly the items created at or after ``warmup``."""
    loaded, inputs, _, measured = recorded(agents, load, seed, auto_accept)
    waits = fifo_waits(inputs.arrivals, inputs.handles, agents)
    counted = [k for k, t in enumerate(inputs.arrivals) if t >= loaded.warmup]
    expected = expected_kpis([waits[k] for k in counted], [inputs.handles[k] for k in counted])
    assert_kpis(measured.totals, expected, "run")
    ((interval,),) = staffing.interval_kpis(loaded, staffing.intervals(loaded))
    assert_kpis(interval.totals, expected, "interval")


HANDLES = st.sampled_from(
    [
        {"dist": "exponential", "mean_s": HANDLE_S},
        {"dist": "lognormal", "mean_s": HANDLE_S, "sd_s": 2 * HANDLE_S},
        {"dist": "constant", "value_s": HANDLE_S},
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    agents=st.integers(1, 6),
    load=st.floats(0.3, 1.4),
    seed=st.integers(0, 2**32),
    auto_accept=st.booleans(),
    handle=HANDLES,
)
def test_fifo_oracle_holds_for_any_load_size_and_handle_time_distribution(
    agents: int, load: float, seed: int, auto_accept: bool, handle: dict[str, Any]
) -> None:
    """Invariant: whatever c, load (overload included), seed and handle distribution, every wait
    of a one-queue FIFO run is the FIFO recursion's, and the KPIs are the oracle's."""
    loaded = mmc(
        agents, load, seed=seed, items=150, warmup_items=30, auto_accept=auto_accept, handle=handle
    )
    inputs = drawn(loaded)
    if not inputs.arrivals:
        return
    log, measured = run(loaded)
    assert log.created == inputs.arrivals
    assert log.held == pytest.approx(inputs.handles, rel=ROUNDING, abs=ROUNDING)
    waits = fifo_waits(inputs.arrivals, inputs.handles, agents)
    assert log.waits == pytest.approx(waits, rel=ROUNDING, abs=ROUNDING)
    counted = [k for k, t in enumerate(inputs.arrivals) if t >= loaded.warmup]
    if counted:
        expected = expected_kpis([waits[k] for k in counted], [inputs.handles[k] for k in counted])
        assert_kpis(measured.totals, expected, "run")


# -- ties: scripted items on whole seconds -------------------------------------------------------------


def scripted(agents: int, items: Sequence[tuple[int, int]], auto_accept: bool) -> scenario.Scenario:
    """Items ``(arrival second, handle seconds)`` submitted in this order, one queue."""
    names = [f"agent{i}" for i in range(agents)]
    workstream: dict[str, Any] = {"kind": "voice", "fallback_queue": "q"}
    if auto_accept:
        workstream["offer"] = {"auto_accept": True}
    return scenario.parse(
        {
            "config": {
                "workstreams": {"calls": workstream},
                "queues": {"q": {"kind": "voice", "members": names}},
                "agents": {name: {} for name in names},
            },
            "duration": max(at for at, _ in items) + 1,
            "events": [
                {"at": at, "item": {"id": f"i{k}", "workstream": "calls", "handle_s": handle}}
                for k, (at, handle) in enumerate(items)
            ],
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    agents=st.integers(1, 3),
    gaps=st.lists(st.integers(0, 3), min_size=1, max_size=25),
    handles=st.data(),
    auto_accept=st.booleans(),
)
def test_ties_of_arrivals_and_completions_keep_first_come_first_served(
    agents: int, gaps: list[int], handles: st.DataObject, auto_accept: bool
) -> None:
    """Arrivals on the same second (served in submission order), arrivals at the instant an agent
    finishes and several agents finishing at once: every wait is still the FIFO recursion's."""
    arrivals = list(np.cumsum(gaps).tolist())
    held = handles.draw(st.lists(st.integers(1, 6), min_size=len(gaps), max_size=len(gaps)))
    loaded = scripted(agents, list(zip(arrivals, held, strict=True)), auto_accept)
    log, _ = run(loaded)
    assert log.created == [float(t) for t in arrivals]
    assert log.held == [float(h) for h in held]
    assert log.waits == fifo_waits([float(t) for t in arrivals], [float(h) for h in held], agents)


def test_an_arrival_at_the_instant_agents_free_up_waits_behind_the_queue() -> None:
    """A worked tie: two agents busy until 10 s, one item waiting since 5 s, one arriving at
    10 s: the waiting one goes first (wait 5), the new one takes the second agent (wait 0)."""
    items = [(0, 10), (0, 10), (5, 4), (10, 4), (10, 1)]
    log, _ = run(scripted(2, items, auto_accept=True))
    assert log.waits == [0.0, 0.0, 5.0, 0.0, 4.0]
    assert log.waits == fifo_waits([float(a) for a, _ in items], [float(h) for _, h in items], 2)


# -- the closed forms against the M/M/c chain solved numerically ---------------------------------------


def chain_figures(agents: int, lam: float, mu: float, t: float) -> dict[str, float]:
    """P(wait), mean wait and P(wait ≤ t) of M/M/c from the stationary distribution of its
    generator matrix (cut at a queue long enough to hold all but 1e-13 of the mass), solved as a
    linear system: no product form, no Erlang formula. An arrival (PASTA) finding n ≥ c customers
    waits for n − c + 1 departures at rate c·mu: an Erlang(n − c + 1, c·mu) time."""
    rho = lam / (agents * mu)
    states = agents + math.ceil(math.log(1e-13) / math.log(rho)) + 1
    q = np.zeros((states, states))
    for n in range(states):
        if n + 1 < states:
            q[n, n + 1] = lam
        if n > 0:
            q[n, n - 1] = min(n, agents) * mu
        q[n, n] = -q[n].sum()
    system = np.vstack([q.T, np.ones(states)])
    rhs = np.zeros(states + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    rate = agents * mu
    ahead = np.arange(states) - agents + 1  # departures to wait for, when positive
    waiting = ahead > 0
    # P(Erlang(k, rate) > t) = Σ_{j<k} e^(−rate·t)(rate·t)^j / j!, summed by a running term.
    x = rate * t
    term, beyond = math.exp(-x), np.zeros(states)
    partial = 0.0
    for k in range(1, states - agents + 1):
        partial += term
        term *= x / k
        beyond[agents + k - 1] = partial
    return {
        "p_wait": float(pi[waiting].sum()),
        "asa_s": float((pi[waiting] * ahead[waiting] / rate).sum()),
        "service_level": float(1 - (pi[waiting] * beyond[waiting]).sum()),
    }


@pytest.mark.parametrize(
    ("agents", "load"),
    [(1, 0.7), (1, 0.85), (2, 0.5), (5, 0.85), (8, 0.95), (20, 0.7), (20, 0.85), (50, 0.9)],
)
def test_erlang_c_closed_forms_match_the_numerically_solved_chain(agents: int, load: float) -> None:
    """queueing.erlang_c, mmc_asa and mmc_service_level (what the theory tests compare with) agree
    with the M/M/c chain's stationary distribution to 1e-7 (the solver's rounding)."""
    mu = 1 / HANDLE_S
    lam = load * agents * mu
    chain = chain_figures(agents, lam, mu, SERVICE_LEVEL_S)
    assert queueing.erlang_c(agents, lam / mu) == pytest.approx(chain["p_wait"], rel=1e-7)
    assert queueing.mmc_asa(agents, lam, mu) == pytest.approx(chain["asa_s"], rel=1e-7)
    theory_sl = queueing.mmc_service_level(agents, lam, mu, SERVICE_LEVEL_S)
    assert theory_sl == pytest.approx(chain["service_level"], rel=1e-7)
