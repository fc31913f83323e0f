"""The simulator checked against queueing theory (SPEC §7, §8): Erlang C, Erlang A and priorities.

Every case is a scenario run by the real runner over the real engine (generated Poisson arrivals,
exponential handle times and patience, one voice workstream with ``auto_accept`` so that a free
agent answers at once, ``short_abandon_s: 0`` so that every abandon counts), and its KPIs are the
SPEC §8 ones of :mod:`unirouter.analytics.kpis`, read per replication.

How the tolerances are sized (docs/theory.md says the same at more length):

* **Independent replications.** Each case runs R replications (each a fresh engine with its own
  seed derived from the case's seed, starting empty). The first ``warmup`` of each is not counted:
  5 relaxation times of the queue, taken as 1/(√(c·mu) − √lam)² (the spectral gap of M/M/c) for
  the cases without abandonment and as 10 mean patiences for the ones with.
* **Pooled ratio of sums.** Every KPI compared here is a ratio (ASA = Σ wait ÷ answered, P(wait),
  service level, abandon rate, mean wait), so it is estimated as the product pools replications
  (SPEC §7): Σᵢ yᵢ ÷ Σᵢ xᵢ over the R replications' numerators and denominators, with the
  delta-method standard error SE = √(Σᵢ (yᵢ − r·xᵢ)² / (R(R−1))) ÷ x̄. Averaging the R per-replication
  ratios instead is biased by O(1/n) at n items per replication (measured −2.4% for ASA at n ≈ 400,
  docs/simulator-accuracy.md), which would eat the whole bias allowance below.
* **Tolerance** = t(0.9995, R−1)·SE + 1% of the theoretical value. The first term is a two-sided
  99.9% Student t interval, so a correct simulator misses about one comparison in a thousand; the
  seeds are fixed, so a pass stays a pass. The second term covers the model's discretisation, which
  here is not a time step (the engine's time is continuous) but the bias a finite run keeps: what
  is left of the empty start after 5 relaxation times (under e^−5 ≈ 0.7% of the start-up
  deviation, averaged over a window several times longer) and the O(1/n) bias of a ratio KPI over
  the n ≥ 800 items of one replication.
* **Power.** A tolerance wide open would pass anything: ``test_tolerances_tell_c_agents_from_c_plus_one``
  checks that for every Erlang C case the P(wait) and service level tolerances are under the
  distance to the same system with one more agent, so a simulator that behaved as if it had one
  agent more (or an agent idle) would fail.

The module runs about 170,000 simulated items (about 20 s on one free core).
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

import pytest

from unirouter.sim import queueing, scenario, staffing

#: Mean handle time in seconds (1/mu) of every case; the service level threshold is half of it.
HANDLE_S = 100.0
SERVICE_LEVEL_S = HANDLE_S / 2
#: Two-sided confidence of each comparison, and the bias allowance relative to the theory.
CONFIDENCE = 0.999
BIAS = 0.01
URGENT, ROUTINE = "urgent", "routine"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One model: ``agents`` agents at offered load ``load`` (lam/(c·mu), may exceed 1 with
    patience); ``patience_s`` None never abandons; ``urgent_share`` splits the arrivals into two
    priority classes of one queue (the urgent one with a larger ``priority``, R6)."""

    name: str
    agents: int
    load: float
    patience_s: float | None = None
    urgent_share: float | None = None
    replications: int = 10
    measured_relaxations: float = 15.0
    seed: int = 1

    @property
    def lam(self) -> float:
        return self.load * self.agents / HANDLE_S

    @property
    def mu(self) -> float:
        return 1.0 / HANDLE_S

    @property
    def relaxation_s(self) -> float:
        """How long the queue takes to forget its start (see the module docstring)."""
        if self.patience_s is not None:
            return self.patience_s
        return 1.0 / (math.sqrt(self.agents * self.mu) - math.sqrt(self.lam)) ** 2

    @property
    def warmup_s(self) -> float:
        return (10.0 if self.patience_s is not None else 5.0) * self.relaxation_s

    @property
    def duration_s(self) -> float:
        return self.warmup_s + self.measured_relaxations * self.relaxation_s


def scenario_of(case: Case) -> scenario.Scenario:
    """The case as a scenario: c agents in one FCFS queue (priorities when split), auto-accept."""
    agents = {f"agent{i}": {} for i in range(case.agents)}
    workstream = {"kind": "voice", "offer": {"auto_accept": True}, "fallback_queue": "q"}
    queue = {
        "kind": "voice",
        "members": list(agents),
        "service_level_s": SERVICE_LEVEL_S,
        "short_abandon_s": 0,
    }
    handle = {"dist": "exponential", "mean_s": HANDLE_S}
    shares = (
        {URGENT: case.urgent_share, ROUTINE: 1 - case.urgent_share} if case.urgent_share else {}
    )
    sources = shares or {"calls": 1.0}
    arrivals = []
    for name, share in sources.items():
        arrival: dict[str, object] = {
            "workstream": name,
            "rate": case.lam * share,
            "handle_time": handle,
            "priority": 10 if name == URGENT else 0,
        }
        if case.patience_s is not None:
            arrival["patience"] = {"dist": "exponential", "mean_s": case.patience_s}
        arrivals.append(arrival)
    return scenario.parse(
        {
            "config": {
                "workstreams": dict.fromkeys(sources, workstream),
                "queues": {"q": queue},
                "agents": agents,
            },
            "duration": case.duration_s,
            "warmup": case.warmup_s,
            "seed": case.seed,
            "replications": case.replications,
            "arrivals": arrivals,
        }
    )


#: The SPEC §8 ratio KPIs compared here, as (numerator, denominator fields) of a KPI tally.
RATIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "asa_s": ("answer_wait_s", ("answered",)),
    "p_wait": ("answered_waited", ("answered",)),
    "service_level": ("answered_in_sl", ("answered", "abandoned")),
    "abandon_rate": ("abandoned", ("answered", "abandoned")),
    "mean_wait_s": ("wait_s", ("left",)),
    "aht_s": ("handle_s", ("handled",)),
}

#: One replication's (numerator, denominator) of a KPI; a count is (count, 1).
Pair = tuple[float, float]


@functools.cache
def simulate(case: Case) -> dict[str, dict[str, list[Pair]]]:
    """Per-replication sums of the case: ``{scope: {kpi: [(numerator, denominator) per
    replication]}}`` for the ratio KPIs and ``arrived``; the scopes are ``totals`` and each
    workstream (one per priority class)."""
    loaded = scenario_of(case)
    (per_replication,) = staffing.interval_kpis(loaded, staffing.intervals(loaded))
    out: dict[str, dict[str, list[Pair]]] = {}
    for result in per_replication:
        scopes = {"totals": result.totals, **result.workstreams}
        for scope, tally in scopes.items():
            kpis = out.setdefault(scope, {})
            kpis.setdefault("arrived", []).append((float(tally.arrived), 1.0))
            for kpi, (numerator, denominator) in RATIOS.items():
                pair = (
                    float(getattr(tally, numerator)),
                    float(sum(getattr(tally, name) for name in denominator)),
                )
                kpis.setdefault(kpi, []).append(pair)
    return out


def estimate(pairs: list[Pair]) -> tuple[float, float]:
    """The pooled ratio of sums and its delta-method standard error (module docstring)."""
    n = len(pairs)
    total_x = sum(x for _, x in pairs)
    r = sum(y for y, _ in pairs) / total_x
    residuals = sum((y - r * x) ** 2 for y, x in pairs)
    return r, math.sqrt(residuals / (n * (n - 1))) / (total_x / n)


def t_quantile(p: float, df: int) -> float:
    """Student t quantile by the Cornish–Fisher expansion around the normal one (error < 0.02
    for df ≥ 9 at p = 0.9995), so that no statistics library is needed."""
    z = statistics.NormalDist().inv_cdf(p)
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def tolerance(pairs: list[Pair], theory: float) -> float:
    """t·SE of the pooled estimate plus the bias allowance (module docstring)."""
    _, se = estimate(pairs)
    return t_quantile(1 - (1 - CONFIDENCE) / 2, len(pairs) - 1) * se + BIAS * abs(theory)


def assert_close(case: Case, scope: str, kpi: str, theory: float) -> None:
    pairs = simulate(case)[scope][kpi]
    value, tol = estimate(pairs)[0], tolerance(pairs, theory)
    assert abs(value - theory) <= tol, (
        f"{case.name} {scope}.{kpi}: simulated {value:.4f} ± {tol:.4f} "
        f"({len(pairs)} replications), theory {theory:.4f}"
    )


# -- M/M/c against Erlang C ---------------------------------------------------------------------------

ERLANG_C = [
    Case(name="M/M/1 at 0.7", agents=1, load=0.7, seed=11),
    Case(name="M/M/5 at 0.85", agents=5, load=0.85, seed=12),
    Case(
        name="M/M/20 at 0.9", agents=20, load=0.9, replications=16, measured_relaxations=12, seed=14
    ),
]


@pytest.mark.parametrize("case", ERLANG_C, ids=lambda c: c.name)
def test_share_of_answered_calls_that_waited_matches_erlang_c(case: Case) -> None:
    """SPEC §8 p_wait in M/M/c is the Erlang C probability of waiting."""
    assert_close(case, "totals", "p_wait", queueing.erlang_c(case.agents, case.lam / case.mu))


@pytest.mark.parametrize("case", ERLANG_C, ids=lambda c: c.name)
def test_average_speed_of_answer_matches_erlang_c(case: Case) -> None:
    """SPEC §8 asa_s in M/M/c is C/(c·mu − lam)."""
    assert_close(case, "totals", "asa_s", queueing.mmc_asa(case.agents, case.lam, case.mu))


@pytest.mark.parametrize("case", ERLANG_C, ids=lambda c: c.name)
def test_service_level_matches_erlang_c(case: Case) -> None:
    """SPEC §8 service_level in M/M/c is 1 − C·exp(−(c·mu − lam)·T)."""
    theory = queueing.mmc_service_level(case.agents, case.lam, case.mu, SERVICE_LEVEL_S)
    assert_close(case, "totals", "service_level", theory)


@pytest.mark.parametrize("case", ERLANG_C, ids=lambda c: c.name)
def test_tolerances_tell_c_agents_from_c_plus_one(case: Case) -> None:
    """The comparisons have teeth: each tolerance is under the gap to c + 1 agents."""
    kpis = simulate(case)["totals"]
    a, c = case.lam / case.mu, case.agents
    for kpi, exact, neighbour in [
        ("p_wait", queueing.erlang_c(c, a), queueing.erlang_c(c + 1, a)),
        (
            "service_level",
            queueing.mmc_service_level(c, case.lam, case.mu, SERVICE_LEVEL_S),
            queueing.mmc_service_level(c + 1, case.lam, case.mu, SERVICE_LEVEL_S),
        ),
    ]:
        assert tolerance(kpis[kpi], exact) < abs(neighbour - exact), kpi


# -- M/M/c+M against Erlang A -------------------------------------------------------------------------

ERLANG_A = [
    Case(
        name="M/M/5+M at 1.0",
        agents=5,
        load=1.0,
        patience_s=2 * HANDLE_S,
        measured_relaxations=50,
        seed=21,
    ),
    Case(
        name="M/M/20+M at 1.1",
        agents=20,
        load=1.1,
        patience_s=HANDLE_S,
        measured_relaxations=50,
        seed=22,
    ),
]


def erlang_a(case: Case) -> queueing.ErlangA:
    assert case.patience_s is not None
    return queueing.erlang_a(
        case.agents, case.lam, case.mu, 1 / case.patience_s, service_level_s=SERVICE_LEVEL_S
    )


@pytest.mark.parametrize("case", ERLANG_A, ids=lambda c: c.name)
def test_abandon_rate_matches_erlang_a(case: Case) -> None:
    """SPEC §8 abandon_rate in M/M/c+M is Erlang A's P(abandon)."""
    assert_close(case, "totals", "abandon_rate", erlang_a(case).p_abandon)


@pytest.mark.parametrize("case", ERLANG_A, ids=lambda c: c.name)
def test_mean_wait_matches_erlang_a(case: Case) -> None:
    """SPEC §8 mean_wait_s (answered and abandoned) in M/M/c+M is Erlang A's mean wait."""
    assert_close(case, "totals", "mean_wait_s", erlang_a(case).mean_wait_s)


@pytest.mark.parametrize("case", ERLANG_A, ids=lambda c: c.name)
def test_service_level_and_speed_of_answer_match_erlang_a(case: Case) -> None:
    """SPEC §8 service_level counts abandons in its denominator, as Erlang A's does; asa_s too."""
    assert_close(case, "totals", "service_level", erlang_a(case).service_level)
    assert_close(case, "totals", "asa_s", erlang_a(case).asa_s)


# -- two priority classes against the non-preemptive priority M/M/c formula -------------------------

PRIORITY = Case(name="M/M/5 at 0.85, 40% urgent", agents=5, load=0.85, urgent_share=0.4, seed=31)


def test_each_priority_class_waits_as_the_non_preemptive_priority_formula_says() -> None:
    """R6: larger priority first, no pre-emption; class waits follow Cobham's M/M/c formula."""
    case = PRIORITY
    assert case.urgent_share is not None
    lams = [case.lam * case.urgent_share, case.lam * (1 - case.urgent_share)]
    urgent, routine = queueing.priority_mmc_waits(case.agents, lams, case.mu)
    assert_close(case, URGENT, "asa_s", urgent)
    assert_close(case, ROUTINE, "asa_s", routine)


def test_priorities_leave_the_mean_wait_of_all_calls_as_first_come_first_served() -> None:
    """Work conservation: ordering by priority (R6) moves waits between classes, not their mean."""
    case = PRIORITY
    assert_close(case, "totals", "asa_s", queueing.mmc_asa(case.agents, case.lam, case.mu))
