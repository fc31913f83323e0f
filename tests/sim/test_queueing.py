"""Closed forms of Erlang B, C and A, priorities and staffing, against independent computations.

Each reference is computed here by a different route than the module's: exact rational sums for
Erlang B and C, a plain truncated birth–death chain for Erlang A, exact binomial sums for its
service level when c·mu/theta is whole, and a small event-by-event simulation of M/M/c+M.
"""

from __future__ import annotations

import functools
import heapq
import math
import random
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirouter.sim import queueing as q

# --- Independent references ----------------------------------------------------------------------


def direct_erlang_b(c: int, a: Fraction) -> Fraction:
    """(a^c/c!) / Σ_{k≤c} a^k/k!, exactly."""
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


def direct_erlang_c(c: int, a: Fraction) -> Fraction:
    """(a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a)), exactly."""
    waiting = a**c / math.factorial(c) * c / (c - a)
    return waiting / (sum(a**k / math.factorial(k) for k in range(c)) + waiting)


def log_space_erlang_c(c: int, a: float) -> float:
    """The same direct formula with every term as a logarithm, for thousands of agents."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    log_wait = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    top = max(*logs, log_wait)
    total = math.fsum(math.exp(x - top) for x in logs) + math.exp(log_wait - top)
    return math.exp(log_wait - top) / total


@functools.cache
def chain(c: int, lam: float, mu: float, theta: float, states: int = 3000) -> list[float]:
    """Stationary probabilities of M/M/c+M from plain products of rate ratios (small c only)."""
    weights = [1.0]
    for n in range(1, states):
        weights.append(weights[-1] * lam / (min(n, c) * mu + max(n - c, 0) * theta))
    total = math.fsum(weights)
    return [w / total for w in weights]


def binomial_tail(n: int, u: float, k: int) -> float:
    """P(Binomial(n, u) ≥ k)."""
    return math.fsum(math.comb(n, m) * u**m * (1 - u) ** (n - m) for m in range(k, n + 1))


def exact_erlang_a_service_level(c: int, lam: float, mu: float, x: int, t: float) -> float:
    """P(answered within t) when x = c·mu/theta is whole.

    Standing k-th in line, a customer leaves its place at rates theta·(x+k), …, theta·(x+1): the
    gaps of the k smallest of x + k exponentials of rate theta, whose k-th smallest is at most t
    when at least k of them are; it is answered with probability x/(x+k).
    """
    theta = c * mu / x
    pi = chain(c, lam, mu, theta, states=c + 400)
    u = 1 - math.exp(-theta * t)
    waited = math.fsum(
        pi[c + k - 1] * x / (x + k) * binomial_tail(x + k, u, k)
        for k in range(1, 400)
        if pi[c + k - 1] > 1e-20
    )
    return math.fsum(pi[:c]) + waited


def simulate_mmc_m(
    c: int, lam: float, mu: float, theta: float, customers: int, seed: int, t: float
) -> dict[str, list[float]]:
    """Batch means of M/M/c+M, first come first served, from an empty start.

    Customers are taken in arrival order: one is answered by the earliest agent to be free if that
    happens before its patience runs out, and otherwise leaves without taking an agent. This is
    exact for FCFS with abandonment, because a customer's fate depends only on those before it.
    """
    rng = random.Random(seed)
    free = [0.0] * c
    now = 0.0
    rows: list[tuple[bool, bool, float]] = []  # (waited, answered, wait)
    for _ in range(customers):
        now += rng.expovariate(lam)
        patience, service = rng.expovariate(theta), rng.expovariate(mu)
        start = max(free[0], now)
        if start - now <= patience:
            heapq.heapreplace(free, start + service)
            rows.append((start > now, True, start - now))
        else:
            rows.append((True, False, patience))
    rows = rows[customers // 20 :]  # drop the warm-up from empty
    size = len(rows) // 20
    batches: dict[str, list[float]] = {k: [] for k in ("p_wait", "abandon", "asa", "wait", "sl")}
    for b in range(20):
        chunk = rows[b * size : (b + 1) * size]
        answered = [w for _, ok, w in chunk if ok]
        batches["p_wait"].append(sum(waited for waited, _, _ in chunk) / len(chunk))
        batches["abandon"].append(1 - len(answered) / len(chunk))
        batches["asa"].append(statistics.fmean(answered))
        batches["wait"].append(statistics.fmean(w for _, _, w in chunk))
        batches["sl"].append(sum(w <= t for w in answered) / len(chunk))
    return batches


# --- Erlang B and C ------------------------------------------------------------------------------


def test_erlang_c_known_value_ten_agents_eight_erlangs() -> None:
    """Ten agents offered eight Erlangs: 40.9% of arrivals wait."""
    assert q.erlang_c(10, 8.0) == pytest.approx(0.409180, abs=1e-6)
    assert q.erlang_c(10, 8.0) == pytest.approx(float(direct_erlang_c(10, Fraction(8))), rel=1e-13)


def test_erlang_b_known_value_ten_lines_eight_erlangs() -> None:
    """Ten lines offered eight Erlangs block 12.2% of calls."""
    assert q.erlang_b(10, 8.0) == pytest.approx(0.121661, abs=1e-6)


def test_single_and_two_agent_closed_forms() -> None:
    """M/M/1 waits with probability a; M/M/2 with probability a²/(2 + a)."""
    assert q.erlang_c(1, 0.7) == pytest.approx(0.7)
    assert q.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert q.erlang_c(2, 1.5) == pytest.approx(1.5**2 / 3.5)


@given(c=st.integers(1, 30), a_tenths=st.integers(0, 400))
@settings(max_examples=150, deadline=None)
def test_erlang_b_and_c_match_the_exact_direct_sums(c: int, a_tenths: int) -> None:
    """The recursion agrees with the textbook sums computed in exact rational arithmetic."""
    a = Fraction(a_tenths, 10)
    assert q.erlang_b(c, float(a)) == pytest.approx(float(direct_erlang_b(c, a)), rel=1e-12)
    expected = float(direct_erlang_c(c, a)) if a < c else 1.0
    assert q.erlang_c(c, float(a)) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(("c", "a"), [(500, 480.0), (2000, 1950.0), (2000, 1999.5), (2000, 1500)])
def test_erlang_c_is_stable_for_thousands_of_agents(c: int, a: float) -> None:
    """Up to 2000 agents the recursion matches the log-space direct formula."""
    assert q.erlang_c(c, a) == pytest.approx(log_space_erlang_c(c, a), rel=1e-9)


def test_overload_means_everyone_waits() -> None:
    """With a ≥ c every arrival waits, the mean wait is infinite and the service level is 0."""
    assert q.erlang_c(5, 5.0) == q.erlang_c(5, 7.5) == 1.0
    assert q.mmc_asa(5, 5.0, 1.0) == math.inf
    assert q.mmc_service_level(5, 6.0, 1.0, 20) == 0.0
    assert q.mmc_occupancy(5, 6.0, 1.0) == 1.0


@given(c=st.integers(1, 200), a=st.floats(0.01, 250), more=st.floats(0, 50))
@settings(max_examples=200, deadline=None)
def test_erlang_c_falls_with_agents_and_rises_with_load(c: int, a: float, more: float) -> None:
    """P(wait) never rises when an agent is added, nor falls when load is added."""
    assert q.erlang_c(c + 1, a) <= q.erlang_c(c, a)
    assert q.erlang_c(c, a + more) >= q.erlang_c(c, a)
    assert q.erlang_b(c + 1, a) <= q.erlang_b(c, a) <= q.erlang_c(c, a)


def test_mmc_littles_law_and_mean_wait() -> None:
    """lam·ASA equals the mean queue length Σ (n − c)·pi_n of the M/M/c chain."""
    c, lam, mu = 12, 0.05, 1 / 200
    pi = chain(c, lam, mu, 0.0, states=2000)  # no abandonment: the chain of M/M/c
    queue = math.fsum((n - c) * p for n, p in enumerate(pi) if n > c)
    assert lam * q.mmc_asa(c, lam, mu) == pytest.approx(queue, rel=1e-9)


def test_mmc_service_level_matches_the_queue_in_front() -> None:
    """P(wait > t) is the chance that fewer than n − c + 1 agents free up within t.

    Finding n ≥ c customers, an arrival waits for n − c + 1 departures at rate c·mu: the chance
    that fewer than that many happen within t is a Poisson sum.
    """
    c, lam, mu, t = 6, 1.0, 0.2, 3.0
    pi = chain(c, lam, mu, 0.0, states=600)
    m = c * mu * t
    late = math.fsum(
        p * math.fsum(math.exp(j * math.log(m) - m - math.lgamma(j + 1)) for j in range(n - c + 1))
        for n, p in enumerate(pi)
        if n >= c and p > 1e-20
    )
    assert q.mmc_service_level(c, lam, mu, t) == pytest.approx(1 - late, rel=1e-9)
    assert q.mmc_service_level(c, lam, mu, 0) == pytest.approx(1 - q.erlang_c(c, lam / mu))


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: q.erlang_c(-1, 2.0), "c (the number of agents)"),
        (lambda: q.erlang_b(3, -0.5), "a (the offered load)"),
        (lambda: q.mmc_asa(0, 1.0, 1.0), "at least 1"),
        (lambda: q.mmc_asa(3, 1.0, 0.0), "mu (the service rate)"),
        (lambda: q.mmc_service_level(3, 1.0, 1.0, -1), "t (the service level threshold)"),
        (lambda: q.erlang_a(3, 1.0, 1.0, math.nan), "theta (the patience rate)"),
    ],
)
def test_bad_arguments_are_value_errors_naming_them(call: object, words: str) -> None:
    """Negative, zero or non-finite arguments are refused, naming the argument."""
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()  # type: ignore[operator]


# --- Erlang A ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "lam", "mu", "theta"),
    [(10, 8 / 180, 1 / 180, 1 / 300), (3, 4.0, 1.0, 0.5), (1, 2.0, 1.0, 3.0)],
)
def test_erlang_a_matches_a_plain_birth_death_chain(
    c: int, lam: float, mu: float, theta: float
) -> None:
    """P(wait), abandonment, mean wait and occupancy agree with a plain chain through Little's law.

    From the chain: abandonments happen at rate theta per customer in line, so
    P(abandon) = theta·E[Lq]/lam and the mean wait of all arrivals is E[Lq]/lam; answered
    customers leave agents at rate mu, so occupancy = E[min(N, c)]/c = lam·(1 − P(abandon))/(c·mu).
    """
    result = q.erlang_a(c, lam, mu, theta)
    pi = chain(c, lam, mu, theta)
    in_line = math.fsum((n - c) * p for n, p in enumerate(pi) if n > c)
    assert result.p_wait == pytest.approx(math.fsum(pi[c:]), rel=1e-10)
    assert result.p_abandon == pytest.approx(theta * in_line / lam, rel=1e-10)
    assert result.mean_wait_s == pytest.approx(in_line / lam, rel=1e-10)
    busy = math.fsum(min(n, c) * p for n, p in enumerate(pi))
    assert result.occupancy == pytest.approx(busy / c, rel=1e-10)
    assert result.occupancy == pytest.approx(lam * (1 - result.p_abandon) / (c * mu), rel=1e-10)


def test_erlang_a_with_patience_equal_to_handle_time_is_poisson() -> None:
    """With theta = mu everyone leaves at rate mu, waiting or not: N is Poisson(a) (M/M/∞)."""
    c, mu = 10, 1 / 180
    a = 12.0
    result = q.erlang_a(c, a * mu, mu, mu)
    poisson = [math.exp(n * math.log(a) - a - math.lgamma(n + 1)) for n in range(200)]
    assert result.p_wait == pytest.approx(math.fsum(poisson[c:]), rel=1e-10)
    in_line = math.fsum((n - c) * p for n, p in enumerate(poisson) if n > c)
    assert result.p_abandon == pytest.approx(in_line / a, rel=1e-10)


@pytest.mark.parametrize(
    ("c", "lam", "mu", "x"), [(4, 0.05, 0.01, 4), (3, 0.06, 1 / 60, 9), (10, 0.06, 1 / 180, 2)]
)
@pytest.mark.parametrize("t", [0.0, 5.0, 20.0, 60.0, 600.0])
def test_erlang_a_service_level_matches_exact_binomial_sums(
    c: int, lam: float, mu: float, x: int, t: float
) -> None:
    """With c·mu/theta whole, the incomplete gamma form agrees with exact order-statistic sums."""
    result = q.erlang_a(c, lam, mu, c * mu / x, service_level_s=t)
    assert result.service_level == pytest.approx(
        exact_erlang_a_service_level(c, lam, mu, x, t), rel=1e-9
    )


def test_erlang_a_asa_is_the_area_above_the_service_level_curve() -> None:
    """E[wait; answered] = ∫ (P(answered) − P(answered within t)) dt, integrated numerically."""
    c, lam, mu, x = 4, 0.05, 0.01, 4
    result = q.erlang_a(c, lam, mu, c * mu / x)
    answered = 1 - result.p_abandon
    step, steps = 1.0, 2000  # to 2000 s, beyond which less than 1e-12 is still waiting
    curve = [
        answered - exact_erlang_a_service_level(c, lam, mu, x, i * step) for i in range(steps + 1)
    ]
    area = (
        step
        / 3
        * (curve[0] + curve[-1] + 4 * math.fsum(curve[1:-1:2]) + 2 * math.fsum(curve[2:-1:2]))
    )
    assert result.asa_s * answered == pytest.approx(area, rel=1e-7)


def test_erlang_a_matches_an_event_by_event_simulation() -> None:
    """Against 300,000 simulated customers, every figure is within 4 batch-means standard errors."""
    c, lam, mu, theta, t = 5, 5.0, 1.0, 0.5, 0.5
    result = q.erlang_a(c, lam, mu, theta, service_level_s=t)
    batches = simulate_mmc_m(c, lam, mu, theta, 300_000, seed=12, t=t)
    figures = {
        "p_wait": result.p_wait,
        "abandon": result.p_abandon,
        "asa": result.asa_s,
        "wait": result.mean_wait_s,
        "sl": result.service_level,
    }
    for name, theory in figures.items():
        values = batches[name]
        error = statistics.stdev(values) / math.sqrt(len(values))
        assert abs(statistics.fmean(values) - theory) <= 4 * error, name


def test_erlang_a_service_level_runs_from_no_wait_to_all_answered() -> None:
    """At t = 0 the service level is P(no wait); for a long t it is P(answered)."""
    c, lam, mu, theta = 8, 0.05, 1 / 180, 1 / 120
    assert q.erlang_a(c, lam, mu, theta, service_level_s=0).service_level == pytest.approx(
        1 - q.erlang_a(c, lam, mu, theta).p_wait
    )
    late = q.erlang_a(c, lam, mu, theta, service_level_s=50_000)
    assert late.service_level == pytest.approx(1 - late.p_abandon, rel=1e-12)


@given(
    c=st.integers(1, 60),
    rho=st.floats(0.05, 0.95),
    mu=st.floats(1 / 3600, 1.0),
    t=st.floats(0, 120),
)
@settings(max_examples=80, deadline=None)
def test_erlang_a_tends_to_erlang_c_as_patience_grows(
    c: int, rho: float, mu: float, t: float
) -> None:
    """With a < c and a patience a million handle times long, Erlang A gives the Erlang C figures."""
    lam = rho * c * mu
    result = q.erlang_a(c, lam, mu, mu * 1e-6, service_level_s=t)
    assert result.p_wait == pytest.approx(q.erlang_c(c, lam / mu), rel=1e-4, abs=1e-12)
    assert result.asa_s == pytest.approx(q.mmc_asa(c, lam, mu), rel=1e-3, abs=1e-9)
    assert result.service_level == pytest.approx(q.mmc_service_level(c, lam, mu, t), abs=1e-4)
    assert result.p_abandon < 1e-3


@given(
    c=st.integers(1, 40),
    a=st.floats(0.1, 60),
    mu=st.floats(1 / 600, 1),
    ratio=st.floats(0.05, 20),
    t=st.floats(0, 60),
)
@settings(max_examples=80, deadline=None)
def test_erlang_a_improves_with_every_agent(
    c: int, a: float, mu: float, ratio: float, t: float
) -> None:
    """One more agent never raises P(wait), abandonment or the mean waits, nor lowers the service level."""
    fewer = q.erlang_a(c, a * mu, mu, mu * ratio, service_level_s=t)
    more = q.erlang_a(c + 1, a * mu, mu, mu * ratio, service_level_s=t)
    slack = 1e-12
    assert more.p_wait <= fewer.p_wait + slack
    assert more.p_abandon <= fewer.p_abandon + slack
    assert more.mean_wait_s <= fewer.mean_wait_s * (1 + 1e-9)
    assert more.service_level >= fewer.service_level - slack


def test_erlang_a_is_stable_for_thousands_of_agents() -> None:
    """2000 agents, from light load to heavy overload: finite probabilities, Little's law intact."""
    mu, theta = 1 / 180, 1 / 300
    for lam in (5.0, 11.0, 11.5, 20.0):
        result = q.erlang_a(2000, lam, mu, theta)
        assert 0 <= result.p_abandon <= result.p_wait <= 1
        assert 0 <= result.service_level <= 1
        assert result.p_abandon == pytest.approx(theta * result.mean_wait_s, rel=1e-9)


def test_erlang_a_refuses_a_near_infinite_patience_against_an_overload() -> None:
    """An overload with a patience of 30 years would need billions of states: refused at once."""
    with pytest.raises(ValueError, match="patience is too long"):
        q.erlang_a(10, 1.0, 0.01, 1e-9)


def test_erlang_a_without_patience_limit_is_erlang_c() -> None:
    """theta = 0 gives exactly the Erlang C figures, infinite waits in overload included."""
    result = q.erlang_a(10, 8.0, 1.0, 0.0, service_level_s=0.5)
    assert result.p_wait == q.erlang_c(10, 8.0)
    assert result.service_level == q.mmc_service_level(10, 8.0, 1.0, 0.5)
    assert q.erlang_a(10, 12.0, 1.0, 0.0).asa_s == math.inf


def test_erlang_a_with_no_arrivals_is_idle() -> None:
    """No arrivals: nobody waits or abandons and the service level is 1."""
    result = q.erlang_a(3, 0.0, 1.0, 1.0)
    assert (result.p_wait, result.p_abandon, result.service_level, result.occupancy) == (0, 0, 1, 0)


def poisson_tail(a: int, z: float) -> Fraction:
    """P(Poisson(z) ≥ a) in exact arithmetic from a rounded e^(−z), summing the smaller side.

    Below the mean the tail is summed directly, so that a tiny tail keeps its relative accuracy.
    """
    front = Fraction(math.exp(-z))
    if z > a:
        return 1 - front * sum(Fraction(z) ** k / math.factorial(k) for k in range(a))
    total, term, k = Fraction(0), Fraction(z) ** a / math.factorial(a), a
    while term > total * Fraction(1, 10**30):
        total += term
        k += 1
        term = term * Fraction(z) / k
    return front * total


@pytest.mark.parametrize("a", [1, 2, 5, 30, 400])
@pytest.mark.parametrize(
    ("y", "s"), [(0.5, 1.0), (3.0, 0.2), (40.0, 0.05), (500.0, 0.3), (700.0, 2.0)]
)
def test_incomplete_gamma_drop_matches_poisson_sums(a: int, y: float, s: float) -> None:
    """For whole a, P(a, z) = P(Poisson(z) ≥ a); the private helper agrees in all its branches."""
    expected = float(1 - poisson_tail(a, y * math.exp(-s)) / poisson_tail(a, y))
    assert q._gamma_p_drop(a, y, s) == pytest.approx(expected, rel=1e-9, abs=1e-13)


# --- Priorities ----------------------------------------------------------------------------------


def test_one_priority_class_is_plain_mmc() -> None:
    """A single class waits as in M/M/c."""
    assert q.priority_mmc_waits(7, [0.03], 1 / 200) == [pytest.approx(q.mmc_asa(7, 0.03, 1 / 200))]


@given(
    c=st.integers(1, 50),
    shares=st.lists(st.floats(0.01, 1), min_size=1, max_size=6),
    rho=st.floats(0.05, 0.98),
    mu=st.floats(1 / 600, 1),
)
@settings(max_examples=150, deadline=None)
def test_priority_waits_average_to_the_merged_fcfs_wait(
    c: int, shares: list[float], rho: float, mu: float
) -> None:
    """Weighted by arrivals, the class waits average to the FCFS wait of the merged stream.

    Non-preemptive priority only reorders the queue; with one service rate the work in the system,
    and so the mean wait over all customers, is the same as first come first served.
    """
    lam = rho * c * mu
    lams = [lam * s / sum(shares) for s in shares]
    waits = q.priority_mmc_waits(c, lams, mu)
    merged = math.fsum(w * x for w, x in zip(waits, lams, strict=True)) / lam
    assert merged == pytest.approx(q.mmc_asa(c, lam, mu), rel=1e-9)
    assert waits == sorted(waits)


def test_a_low_class_can_starve_while_higher_ones_are_served() -> None:
    """In overload the class whose cumulative load reaches 1 waits forever; those above do not.

    Two agents at rate 1, classes of 0.5, 1 and 1 per second: cumulative loads 0.25, 0.75, 1.25.
    Every agent is always busy (C = 1), so W_k = 1/2 / ((1 − sigma_{k−1})(1 − sigma_k)).
    """
    waits = q.priority_mmc_waits(2, [0.5, 1.0, 1.0], 1.0)
    assert waits[:2] == [pytest.approx(0.5 / 0.75), pytest.approx(0.5 / (0.75 * 0.25))]
    assert waits[2] == math.inf


# --- Staffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "bound"),
    [
        ("service_level>=0.8", q.Metric.SERVICE_LEVEL, 0.8),
        (" asa_s <= 30 ", q.Metric.ASA, 30.0),
        ("asa_s<=1m", q.Metric.ASA, 60.0),
        ("abandon_rate<=0.05", q.Metric.ABANDON_RATE, 0.05),
    ],
)
def test_targets_parse(text: str, metric: q.Metric, bound: float) -> None:
    """The three targets of `unirouter staff` parse to a metric and a bound."""
    target = q.parse_target(text, service_level_s=15)
    assert (target.metric, target.bound, target.threshold_s) == (metric, bound, 15)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("occupancy<=0.9", "not a staffing target"),
        ("service_level<=0.8", "takes '>='"),
        ("abandon_rate>=0.1", "takes '<='"),
        ("service_level>=80", "between 0 and 1"),
        ("asa_s<=soon", "not a valid duration"),
    ],
)
def test_bad_targets_are_value_errors_naming_the_field(text: str, words: str) -> None:
    """A malformed target is one ValueError sentence starting with the field's name."""
    with pytest.raises(ValueError, match=f"^--target: .*{words}"):
        q.parse_target(text, field="--target")


def brute_force(meets: object, start: int) -> int:
    c = start
    while not meets(c):  # type: ignore[operator]
        c += 1
    return c


def test_textbook_staffing_ten_erlangs_80_in_20() -> None:
    """200 calls an hour of 180 s (10 Erlangs) need 14 agents for 80% answered within 20 s.

    13 agents answer 79.6% within 20 s, 14 answer 88.8% (the worked example many call-centre
    guides use, which finds P(wait) = 68.2% with 11 agents).
    """
    lam, mu = 200 / 3600, 1 / 180
    agents = q.min_agents_erlang_c(lam, mu, "service_level>=0.8")
    assert agents == brute_force(lambda c: q.mmc_service_level(c, lam, mu, 20) >= 0.8, 11)
    assert q.erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)
    assert agents == 14


@given(
    lam=st.floats(0.001, 5), aht=st.floats(5, 900), bound=st.floats(0.05, 0.99), t=st.floats(1, 120)
)
@settings(max_examples=80, deadline=None)
def test_erlang_c_staffing_is_the_smallest_that_meets_the_service_level(
    lam: float, aht: float, bound: float, t: float
) -> None:
    """The answer meets the target and one agent fewer does not (or is not even stable)."""
    mu = 1 / aht
    c = q.min_agents_erlang_c(
        lam, mu, q.Target(metric=q.Metric.SERVICE_LEVEL, bound=bound, threshold_s=t)
    )
    assert q.mmc_service_level(c, lam, mu, t) >= bound
    assert c == 1 or q.mmc_service_level(c - 1, lam, mu, t) < bound


@given(lam=st.floats(0.001, 5), aht=st.floats(5, 900), asa=st.floats(0.5, 600))
@settings(max_examples=80, deadline=None)
def test_erlang_c_staffing_is_the_smallest_that_meets_the_asa(
    lam: float, aht: float, asa: float
) -> None:
    """The answer's ASA is within the bound and one agent fewer's is not."""
    mu = 1 / aht
    c = q.min_agents_erlang_c(lam, mu, q.Target(metric=q.Metric.ASA, bound=asa))
    assert q.mmc_asa(c, lam, mu) <= asa
    assert c == 1 or q.mmc_asa(c - 1, lam, mu) > asa


@given(
    lam=st.floats(0.001, 2),
    aht=st.floats(5, 900),
    patience=st.floats(5, 1200),
    kind=st.sampled_from(list(q.Metric)),
    share=st.floats(0.02, 0.95),
)
@settings(max_examples=80, deadline=None)
def test_erlang_a_staffing_is_the_smallest_that_meets_each_target(
    lam: float, aht: float, patience: float, kind: q.Metric, share: float
) -> None:
    """For each kind of target, the answer meets it and one agent fewer does not."""
    mu, theta = 1 / aht, 1 / patience
    bound = share * aht if kind is q.Metric.ASA else share
    target = q.Target(metric=kind, bound=bound, threshold_s=20)
    c = q.min_agents_erlang_a(lam, mu, theta, target)

    def value(agents: int) -> float:
        r = q.erlang_a(agents, lam, mu, theta, service_level_s=20)
        return {
            q.Metric.SERVICE_LEVEL: r.service_level,
            q.Metric.ASA: r.asa_s,
            q.Metric.ABANDON_RATE: r.p_abandon,
        }[kind]

    assert target.met(value(c))
    assert c == 1 or not target.met(value(c - 1))


def test_erlang_a_can_staff_below_the_offered_load() -> None:
    """With impatient customers a loose abandonment target needs fewer agents than Erlangs offered."""
    lam, mu, theta = 0.1, 1 / 180, 1 / 60  # 18 Erlangs
    assert q.min_agents_erlang_a(lam, mu, theta, "abandon_rate<=0.3") < 18


def test_staffing_edge_cases() -> None:
    """No traffic needs no agents; Erlang C refuses an abandonment target; unreachable targets fail."""
    assert q.min_agents_erlang_c(0.0, 1.0, "asa_s<=10") == 0
    assert q.min_agents_erlang_a(0.0, 1.0, 1.0, "abandon_rate<=0.1") == 0
    with pytest.raises(ValueError, match="Erlang C has no abandonment"):
        q.min_agents_erlang_c(1.0, 1.0, "abandon_rate<=0.1")
    with pytest.raises(ValueError, match="not met with up to 50 agents"):
        q.min_agents_erlang_c(10.0, 1.0, "asa_s<=0", max_agents=50)
