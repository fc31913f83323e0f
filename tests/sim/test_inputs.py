"""The simulator's input processes against their laws, with tolerances sized by their variance.

The simulator met Erlang C within tolerance but with ASA and P(wait) leaning low. A 1% thinner
arrival stream (or 1% shorter handle times) would explain a P(wait) of 0.367 instead of 0.385 in
M/M/20 at 0.85, so these tests are sized to see a bias of that order:

* arrival counts of a Poisson source against lam·T, its gaps' mean, variance and Kolmogorov-Smirnov
  distance against the exponential law, and counts per piece of a piecewise rate (the sampler
  carries the unused part of a draw over each boundary) and under a busyness factor;
* the mean and variance of drawn handle times against each distribution's moments;
* the same figures measured through the real runner: the arrivals it generates, the items it
  counts after the warm-up, and the time each item was actually held.

Every comparison allows Z = 4.5 standard errors of the statistic (a correct generator fails one in
about 150,000), and with 400,000 draws one standard error is 0.16% of a mean, so a 1% bias fails
by about 6 standard errors. Exactness, as opposed to law, is tests/sim/test_oracle.py's part: there
the engine is shown to use exactly the drawn arrival times and handle times.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from unirouter.engine import Event, EventType
from unirouter.sim import distributions, runner, scenario, staffing, traffic

#: Standard errors allowed in every comparison.
Z = 4.5
#: Draws per distribution check, and arrivals per Poisson count check.
DRAWS = 400_000
HANDLE_S = 100.0
#: P(sqrt(n)·D_n > 2.0) ≈ 6e-4 under the Kolmogorov distribution.
KS_LIMIT = 2.0


def assert_near(measured: float, expected: float, se: float, what: str) -> None:
    assert abs(measured - expected) <= Z * se, (
        f"{what}: measured {measured:.6g}, expected {expected:.6g}, "
        f"{(measured - expected) / se:+.2f} standard errors (allowed ±{Z})"
    )


def assert_moments(draws: Sequence[float], mean: float, variance: float, mu4: float) -> None:
    """Sample mean and variance against the law's mean, variance and 4th central moment ``mu4``:
    SE(mean) = sqrt(variance/n), SE(sample variance) ≈ sqrt((mu4 − variance²)/n)."""
    n = len(draws)
    assert_near(statistics.fmean(draws), mean, math.sqrt(variance / n), "mean")
    assert_near(statistics.variance(draws), variance, math.sqrt((mu4 - variance**2) / n), "var")


def ks_exponential(draws: Sequence[float], rate: float) -> float:
    """sqrt(n) times the Kolmogorov-Smirnov distance of ``draws`` from Exponential(rate)."""
    ordered = sorted(draws)
    n = len(ordered)
    worst = 0.0
    for i, x in enumerate(ordered):
        cdf = -math.expm1(-rate * x)
        worst = max(worst, (i + 1) / n - cdf, cdf - i / n)
    return math.sqrt(n) * worst


# -- arrivals -----------------------------------------------------------------------------------------


def arrival_times(rate: distributions.PiecewiseRate, until: float, seed: int) -> list[float]:
    """Every arrival before ``until`` as the runner asks for them: next after the previous one."""
    source = traffic.Arrival(
        workstream="calls", rate=rate, handle_time=distributions.Constant(value_s=1.0)
    )
    generator = traffic.Generator((source,), seed=seed, factor=1.0, until=until)
    times, t = [], 0.0
    while (next_t := generator.next_time(0, t)) is not None:
        times.append(t := next_t)
    return times


def test_a_constant_rate_source_sends_lam_t_arrivals_with_exponential_gaps() -> None:
    """SPEC §7 arrivals are a Poisson process: N(T) has mean and variance lam·T, gaps are
    exponential with mean 1/lam (mean, variance, Kolmogorov-Smirnov)."""
    lam = 0.17  # M/M/20 at 0.85 with 100 s handle times
    horizon = DRAWS / lam
    times = arrival_times(distributions.PiecewiseRate.constant(lam), horizon, seed=7)
    assert_near(len(times), lam * horizon, math.sqrt(lam * horizon), "arrivals")
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert_moments(gaps, 1 / lam, 1 / lam**2, 9 / lam**4)
    assert ks_exponential(gaps, lam) <= KS_LIMIT


def test_counts_in_disjoint_windows_are_independent_poisson_with_the_right_mean() -> None:
    """Counts in 1,000 windows of 1,000 s at 0.17/s: mean and variance both lam·window
    (a thinned, clumped or regular stream would change the variance)."""
    lam, window, windows = 0.17, 1000.0, 1000
    times = arrival_times(distributions.PiecewiseRate.constant(lam), window * windows, seed=8)
    counts = [0] * windows
    for t in times:
        counts[int(t // window)] += 1
    m = lam * window
    # Poisson(m): variance m, 4th central moment m + 3m².
    assert_moments([float(c) for c in counts], m, m, m + 3 * m**2)


def test_piecewise_rates_send_the_expected_count_in_every_piece() -> None:
    """SPEC §7 ``rate: [{from, to, rate}]``: each piece (a gap of zero rate included) gets its own
    integral of the rate; the sampler's carry-over at the boundaries neither thins nor adds."""
    rate = distributions.parse_arrival_rate(
        [
            {"from": 0, "to": 100, "rate": 0.5},
            {"from": 100, "to": 130, "rate": 3.0},
            {"from": 160, "to": 200, "rate": 0.05},
            {"from": 200, "to": 400, "rate": 1.0},
        ],
        field="rate",
    )
    cycles, cycle_s = 1_000, 400.0
    per_piece = {(0.0, 100.0): 0, (100.0, 130.0): 0, (130.0, 160.0): 0, (160.0, 200.0): 0}
    per_piece[(200.0, 400.0)] = 0
    for cycle in range(cycles):  # a fresh stream per cycle: 1,000 independent runs of 400 s
        for t in arrival_times(rate, cycle_s, seed=1_000 + cycle):
            piece = next(p for p in per_piece if p[0] <= t < p[1])
            per_piece[piece] += 1
    for (start, end), count in per_piece.items():
        expected = cycles * rate.expected_count(start, end)
        if expected == 0:
            assert count == 0, f"arrivals in the zero-rate gap {start}-{end}"
        else:
            assert_near(count, expected, math.sqrt(expected), f"arrivals in {start}-{end}")


def test_busyness_multiplies_the_arrival_count() -> None:
    """SPEC §7 ``busyness``: the replication's factor scales every rate."""
    lam, factor, horizon = 0.1, 1.7, 1_000_000.0
    source = traffic.Arrival(
        workstream="calls",
        rate=distributions.PiecewiseRate.constant(lam),
        handle_time=distributions.Constant(value_s=1.0),
    )
    generator = traffic.Generator((source,), seed=3, factor=factor, until=horizon)
    count, t = 0, 0.0
    while (next_t := generator.next_time(0, t)) is not None:
        count, t = count + 1, next_t
    expected = lam * factor * horizon
    assert_near(count, expected, math.sqrt(expected), "arrivals under busyness")


# -- handle times ---------------------------------------------------------------------------------------


def lognormal_moments(mean: float, sd: float) -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of the lognormal with this mean and sd."""
    s2 = math.log1p((sd / mean) ** 2)
    mu = math.log(mean) - s2 / 2
    raw = [math.exp(k * mu + k * k * s2 / 2) for k in range(5)]
    m4 = raw[4] - 4 * raw[3] * raw[1] + 6 * raw[2] * raw[1] ** 2 - 3 * raw[1] ** 4
    return mean, sd**2, m4


@pytest.mark.parametrize(
    ("spec", "moments"),
    [
        pytest.param(
            {"dist": "exponential", "mean_s": HANDLE_S},
            (HANDLE_S, HANDLE_S**2, 9 * HANDLE_S**4),
            id="exponential",
        ),
        pytest.param(
            {"dist": "gamma", "mean_s": HANDLE_S, "cv": 0.5},  # shape 4, scale 25
            (HANDLE_S, (0.5 * HANDLE_S) ** 2, (0.5 * HANDLE_S) ** 4 * (3 + 6 / 4)),
            id="gamma",
        ),
        pytest.param(
            {"dist": "lognormal", "mean_s": HANDLE_S, "sd_s": 40.0},
            lognormal_moments(HANDLE_S, 40.0),
            id="lognormal",
        ),
        pytest.param(
            {"dist": "empirical", "values": [60, 90, 150]},
            (100.0, 1400.0, (40**4 + 10**4 + 50**4) / 3),
            id="empirical",
        ),
    ],
)
def test_drawn_handle_times_have_the_distributions_mean_and_variance(
    spec: dict[str, Any], moments: tuple[float, float, float]
) -> None:
    """SPEC §7 handle_time distributions: what a source draws has the law's mean and variance.
    The source draws from its own stream ``handle_time[i]``; the moments are taken over DRAWS
    draws of the same distribution from that stream."""
    handle = distributions.parse_distribution(spec, field="handle_time")
    arrival = traffic.Arrival(
        workstream="calls", rate=distributions.PiecewiseRate.constant(1.0), handle_time=handle
    )
    generator = traffic.Generator((arrival,), seed=5, factor=1.0, until=math.inf)
    from_source = [generator.item(0).handle_s for _ in range(1000)]
    rng = traffic.stream(5, "handle_time[0]")
    draws = [handle.sample(rng) for _ in range(DRAWS)]
    assert from_source == draws[:1000]  # the source's draws are these
    mean, variance, mu4 = moments
    assert_moments(draws, mean, variance, mu4)


def test_exponential_handle_times_pass_kolmogorov_smirnov() -> None:
    rng = random.Random(11)
    draws = [distributions.Exponential(mean_s=HANDLE_S).sample(rng) for _ in range(DRAWS)]
    assert ks_exponential(draws, 1 / HANDLE_S) <= KS_LIMIT


# -- through the runner --------------------------------------------------------------------------------


def mm20(seed: int, duration: float, warmup: float, replications: int = 1) -> scenario.Scenario:
    names = [f"agent{i}" for i in range(20)]
    return scenario.parse(
        {
            "config": {
                "workstreams": {
                    "calls": {
                        "kind": "voice",
                        "offer": {"auto_accept": True},
                        "fallback_queue": "q",
                    }
                },
                "queues": {"q": {"kind": "voice", "members": names}},
                "agents": {name: {} for name in names},
            },
            "duration": duration,
            "warmup": warmup,
            "seed": seed,
            "replications": replications,
            "arrivals": [
                {
                    "workstream": "calls",
                    "rate": 0.17,
                    "handle_time": {"dist": "exponential", "mean_s": HANDLE_S},
                }
            ],
        }
    )


def test_the_runner_generates_lam_t_arrivals_counts_after_warmup_and_holds_drawn_times() -> None:
    """Through the real runner (M/M/20 at 0.85, 4 replications): arrivals generated vs lam·T, items
    counted vs lam·(T − warmup) and exactly the items created at or after the warm-up, in the run's
    KPIs and in the staffing interval the theory tests read; the time each item was held
    (assigned to closed) has the handle time law's mean and variance."""
    lam, duration, warmup, replications = 0.17, 12_000.0, 2_000.0, 4
    loaded = mm20(seed=21, duration=duration, warmup=warmup, replications=replications)
    events: list[Event] = []
    result = runner.run(loaded, listeners=[events.append])
    total = lam * duration * replications
    assert_near(result.arrivals_generated, total, math.sqrt(total), "arrivals generated")
    counted_expected = lam * (duration - warmup) * replications
    counted = sum(k.totals.arrived for k in result.kpis)
    assert_near(counted, counted_expected, math.sqrt(counted_expected), "items counted")
    # Exactly: each replication counts the items it created at or after the warm-up.
    created_after = [0] * replications
    replication, assigned, held = -1, {}, []
    for event in events:
        if event.seq == 1:  # each replication's engine numbers its events from 1
            replication += 1
        if event.type is EventType.ITEM_CREATED and event.t >= warmup:
            created_after[replication] += 1
        elif event.type is EventType.ITEM_ASSIGNED:
            assigned[(replication, event.item)] = event.t
        elif event.type is EventType.ITEM_CLOSED:
            held.append(event.t - assigned.pop((replication, event.item)))
    assert [k.totals.arrived for k in result.kpis] == created_after
    (per_interval,) = staffing.interval_kpis(loaded, staffing.intervals(loaded))
    assert [k.totals.arrived for k in per_interval] == created_after
    assert len(held) == result.arrivals_generated and not assigned  # every item held and closed
    assert_moments(held, HANDLE_S, HANDLE_S**2, 9 * HANDLE_S**4)
