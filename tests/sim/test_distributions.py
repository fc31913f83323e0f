"""Handle-time, patience and busyness distributions, and piecewise arrival rates (SPEC §7).

Statistical checks use a fixed seed, so they are deterministic; their tolerances are still sized as
if they were not: four standard errors of the statistic (a two-sided 4-sigma band, which a correct
sampler leaves about once in 16,000 seeds), never a hand-tuned margin.
"""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirouter.sim import distributions as dists

FIELD = "arrivals[0].handle_time"
DRAWS = 40_000


def draws(spec: dict[str, object], n: int = DRAWS, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    dist = dists.parse_distribution(spec, field=FIELD)
    return [dist.sample(rng) for _ in range(n)]


def within_4_se(values: list[float], mean: float, sd: float) -> bool:
    """The sample mean lies within four standard errors (sd/sqrt(n)) of ``mean``."""
    return abs(statistics.fmean(values) - mean) <= 4 * sd / math.sqrt(len(values))


# --- Parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "mean"),
    [
        ({"dist": "exponential", "mean_s": 180}, dists.Exponential, 180.0),
        ({"dist": "exponential", "mean_s": "3m"}, dists.Exponential, 180.0),
        ({"dist": "lognormal", "mean_s": 180, "sd_s": 120}, dists.Lognormal, 180.0),
        ({"dist": "gamma", "shape": 2, "scale": 90}, dists.Gamma, 180.0),
        ({"dist": "gamma", "mean_s": 180, "cv": 0.5}, dists.Gamma, 180.0),
        ({"dist": "constant", "value_s": 45}, dists.Constant, 45.0),
        ({"dist": "empirical", "values": [60, 120, "3m"]}, dists.Empirical, 120.0),
    ],
)
def test_each_form_parses_to_its_distribution_and_mean(
    spec: dict[str, object], kind: type, mean: float
) -> None:
    """Every documented form parses, and mean() is the mean of the distribution it describes."""
    dist = dists.parse_distribution(spec, field=FIELD)
    assert isinstance(dist, kind)
    assert dist.mean() == pytest.approx(mean)


def test_gamma_from_mean_and_cv_sets_shape_and_scale() -> None:
    """mean_s and cv give shape 1/cv² and scale mean·cv²."""
    dist = dists.parse_distribution({"dist": "gamma", "mean_s": 200, "cv": 0.5}, field=FIELD)
    assert isinstance(dist, dists.Gamma)
    assert (dist.shape, dist.scale) == pytest.approx((4.0, 50.0))


def test_lognormal_parameters_come_from_mean_and_sd_of_the_duration() -> None:
    """sigma² = ln(1 + sd²/mean²) and mu = ln(mean) − sigma²/2 give back the requested moments."""
    dist = dists.Lognormal(mean_s=180.0, sd_s=120.0)
    assert math.exp(dist.mu + dist.sigma**2 / 2) == pytest.approx(180.0)
    variance = (math.exp(dist.sigma**2) - 1) * math.exp(2 * dist.mu + dist.sigma**2)
    assert math.sqrt(variance) == pytest.approx(120.0)


# --- Sampling ------------------------------------------------------------------------------------


def test_exponential_sample_mean_and_sd() -> None:
    """Exponential draws have the requested mean, and an sd equal to it."""
    values = draws({"dist": "exponential", "mean_s": 180})
    assert within_4_se(values, 180.0, 180.0)
    # The sd of a sample sd is about sd·sqrt((kurtosis − 1)/4n); the exponential's kurtosis is 9.
    assert abs(statistics.stdev(values) - 180.0) <= 4 * 180.0 * math.sqrt(8 / 4 / DRAWS)


def test_lognormal_sample_mean_and_median() -> None:
    """Lognormal draws have the requested mean, and half of them lie below exp(mu)."""
    dist = dists.Lognormal(mean_s=180.0, sd_s=120.0)
    values = draws({"dist": "lognormal", "mean_s": 180, "sd_s": 120})
    assert within_4_se(values, 180.0, 120.0)
    below = sum(v < math.exp(dist.mu) for v in values) / DRAWS
    assert abs(below - 0.5) <= 4 * 0.5 / math.sqrt(DRAWS)


def test_gamma_sample_mean_and_variance() -> None:
    """Gamma draws have mean shape·scale and variance shape·scale²."""
    shape, scale = 2.0, 90.0
    values = draws({"dist": "gamma", "shape": shape, "scale": scale})
    variance = shape * scale**2
    assert within_4_se(values, shape * scale, math.sqrt(variance))
    # The sd of a sample variance is variance·sqrt((2 + 6/shape)/n) for a gamma distribution.
    spread = variance * math.sqrt((2 + 6 / shape) / DRAWS)
    assert abs(statistics.variance(values) - variance) <= 4 * spread


def test_constant_always_returns_its_value_and_draws_nothing() -> None:
    """A constant is its value every time and leaves the generator untouched."""
    rng = random.Random(3)
    before = rng.getstate()
    dist = dists.parse_distribution({"dist": "constant", "value_s": 45}, field=FIELD)
    assert {dist.sample(rng) for _ in range(100)} == {45.0}
    assert rng.getstate() == before


def test_empirical_draws_each_observed_value_equally_often() -> None:
    """Empirical draws come only from the observed values, each with probability 1/m."""
    observed = [30, 60, 90, 600]
    values = draws({"dist": "empirical", "values": observed})
    assert set(values) == {30.0, 60.0, 90.0, 600.0}
    p = 1 / len(observed)
    for value in observed:
        count = values.count(float(value))
        assert abs(count - DRAWS * p) <= 4 * math.sqrt(DRAWS * p * (1 - p))


def test_empirical_repeats_count_as_weights() -> None:
    """A value observed twice is drawn twice as often: sampling is over observations."""
    dist = dists.parse_distribution({"dist": "empirical", "values": [10, 10, 40]}, field=FIELD)
    assert dist.mean() == pytest.approx(20.0)


def test_empirical_reads_a_csv_column_relative_to_base_dir(tmp_path: Path) -> None:
    """csv is read from base_dir; the named column is used and blank cells are skipped."""
    (tmp_path / "aht.csv").write_text("queue,aht\nsales,120\nsales,\nsupport,3m\n")
    spec = {"dist": "empirical", "csv": "aht.csv", "column": "aht"}
    dist = dists.parse_distribution(spec, field=FIELD, base_dir=tmp_path)
    assert dist == dists.Empirical(values=(120.0, 180.0))


def test_empirical_csv_with_one_column_needs_no_column_name(tmp_path: Path) -> None:
    """With a single column, column may be left out."""
    (tmp_path / "t.csv").write_text("seconds\n5\n7\n")
    spec = {"dist": "empirical", "csv": str(tmp_path / "t.csv")}
    assert dists.parse_distribution(spec, field=FIELD).mean() == pytest.approx(6.0)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "exponential", "mean_s": 180},
        {"dist": "lognormal", "mean_s": 180, "sd_s": 300},
        {"dist": "gamma", "shape": 0.7, "scale": 200},
        {"dist": "empirical", "values": [1, 2, 3, 5, 8]},
    ],
)
def test_same_seed_gives_the_same_draws_bit_for_bit(spec: dict[str, object]) -> None:
    """Two generators with one seed give identical draws; the global generator plays no part."""
    random.seed(1)
    first = [x.hex() for x in draws(spec, n=500, seed=11)]
    random.seed(2)
    global_state = random.getstate()
    second = [x.hex() for x in draws(spec, n=500, seed=11)]
    assert first == second
    assert random.getstate() == global_state
    assert [x.hex() for x in draws(spec, n=500, seed=12)] != first


@given(mean=st.floats(1, 10_000), cv=st.floats(0.05, 5), seed=st.integers(0, 2**32))
@settings(max_examples=50, deadline=None)
def test_draws_are_never_negative(mean: float, cv: float, seed: int) -> None:
    """Every family, with any valid parameters, draws durations of at least 0."""
    rng = random.Random(seed)
    specs: list[dict[str, object]] = [
        {"dist": "exponential", "mean_s": mean},
        {"dist": "lognormal", "mean_s": mean, "sd_s": mean * cv},
        {"dist": "gamma", "mean_s": mean, "cv": cv},
    ]
    for spec in specs:
        dist = dists.parse_distribution(spec, field=FIELD)
        assert all(dist.sample(rng) >= 0 for _ in range(50))


# --- Errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (180, "expected a mapping"),
        ({"mean_s": 180}, "not a distribution"),
        ({"dist": "weibull", "mean_s": 180}, "not a distribution"),
        ({"dist": "exponential"}, "mean_s is required"),
        ({"dist": "exponential", "mean": 180}, "unknown key mean"),
        ({"dist": "exponential", "mean_s": -5}, "not negative"),
        ({"dist": "exponential", "mean_s": 0}, "greater than 0"),
        ({"dist": "exponential", "mean_s": True}, "not a duration"),
        ({"dist": "exponential", "mean_s": "soon"}, "not a valid duration"),
        ({"dist": "lognormal", "mean_s": 180}, "sd_s is required"),
        ({"dist": "lognormal", "mean_s": 180, "sd_s": -1}, "not negative"),
        ({"dist": "gamma", "shape": 2}, "either shape and scale"),
        ({"dist": "gamma", "shape": 2, "scale": 3, "cv": 1}, "either shape and scale"),
        ({"dist": "gamma", "shape": 0, "scale": 3}, "greater than 0"),
        ({"dist": "gamma", "mean_s": 10, "cv": math.inf}, "greater than 0"),
        ({"dist": "constant", "value_s": [1]}, "not a duration"),
        ({"dist": "empirical", "values": []}, "at least one value"),
        ({"dist": "empirical", "values": "1,2"}, "expected a list"),
        ({"dist": "empirical", "values": [1, "x"]}, "values[1]"),
        ({"dist": "empirical", "values": [1], "csv": "a.csv"}, "either values"),
        ({"dist": "empirical", "column": "aht"}, "either values"),
        ({"dist": "empirical", "csv": "no/such/file.csv"}, "cannot read"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_field(spec: object, words: str) -> None:
    """Every refusal is one ValueError sentence that names the scenario field and the problem."""
    with pytest.raises(ValueError, match=r"^arrivals\[0\]\.handle_time") as raised:
        dists.parse_distribution(spec, field=FIELD)
    assert words in str(raised.value)


def test_csv_errors_name_the_column_and_the_line(tmp_path: Path) -> None:
    """A missing column lists the columns; a bad cell names its file line."""
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"handle_time\.column: 'c' .* 'a', 'b'"):
        dists.parse_distribution(
            {"dist": "empirical", "csv": "t.csv", "column": "c"}, field=FIELD, base_dir=tmp_path
        )
    with pytest.raises(ValueError, match=r"handle_time: t\.csv line 3, column 'b'"):
        dists.parse_distribution(
            {"dist": "empirical", "csv": "t.csv", "column": "b"}, field=FIELD, base_dir=tmp_path
        )


# --- Piecewise arrival rates ---------------------------------------------------------------------

SCHEDULE = [
    {"from": "0h", "to": "1h", "rate": "120/h"},
    {"from": "2h", "to": "3h", "rate": "30/h"},  # nothing arrives between 1h and 2h
    {"to": "3h30m", "rate": "600/h"},  # from defaults to the previous piece's to
]


def test_plain_rate_applies_from_start_to_forever() -> None:
    """A plain rate with no from/to is that rate at every time from 0."""
    rate = dists.parse_arrival_rate("120/h", field="arrivals[0].rate")
    assert rate.rate_at(0) == rate.rate_at(1e9) == pytest.approx(120 / 3600)


def test_from_and_to_bound_a_plain_rate() -> None:
    """from/to of an arrival bound its plain rate; outside them the rate is 0."""
    rate = dists.parse_arrival_rate(2, field="rate", start="1h", end="2h")
    assert [rate.rate_at(t) for t in (3599, 3600, 7199, 7200)] == [0.0, 2.0, 2.0, 0.0]


def test_pieces_give_their_rate_and_zero_in_gaps() -> None:
    """Each piece holds over [from, to); gaps and the time after the last piece have rate 0."""
    rate = dists.parse_arrival_rate(SCHEDULE, field="rate")
    per_hour = [rate.rate_at(h * 3600) * 3600 for h in (0, 0.99, 1, 1.5, 2, 3, 3.49, 3.5)]
    assert per_hour == pytest.approx([120, 120, 0, 0, 30, 600, 600, 0])
    assert rate.expected_count(0, math.inf) == pytest.approx(120 + 30 + 300)
    assert rate.expected_count(1800, 2.5 * 3600) == pytest.approx(60 + 15)


def test_pieces_may_be_written_in_any_order() -> None:
    """Pieces are sorted by their from."""
    pieces = [{"from": "2h", "to": "3h", "rate": 1}, {"from": 0, "to": "1h", "rate": 2}]
    rate = dists.parse_arrival_rate(pieces, field="rate")
    assert [p.start_s for p in rate.pieces] == [0.0, 7200.0]


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        ([{"from": 0, "to": "2h", "rate": 1}, {"from": "1h", "rate": 1}], "overlap at 3600s"),
        ([{"from": "2h", "to": "1h", "rate": 1}], "must come before its to"),
        ([], "at least one"),
        ([{"from": 0, "to": "1h"}], r"rate\[0\]: expected a mapping"),
        ([{"to": "1h", "rate": 1, "every": 3}], r"rate\[0\]: every is not a key"),
        ([{"to": "1h", "rate": "lots"}], r"rate\[0\]\.rate: 'lots' is not a valid rate"),
        ([{"from": "-1h", "rate": 1}], r"rate\[0\]\.from: .* not negative"),
        ({"rate": 1}, "is not a rate"),
    ],
)
def test_bad_rates_are_value_errors_naming_the_field(rate: object, words: str) -> None:
    """Overlaps, empty or reversed pieces and malformed rates are refused with the field's name."""
    with pytest.raises(ValueError, match=words) as raised:
        dists.parse_arrival_rate(rate, field="arrivals[2].rate")
    assert str(raised.value).startswith("arrivals[2].rate")


def test_from_and_to_beside_a_list_of_pieces_are_refused() -> None:
    """from/to bound a plain rate only; with pieces each piece carries its own."""
    with pytest.raises(ValueError, match="each piece its own"):
        dists.parse_arrival_rate(SCHEDULE, field="arrivals[0].rate", start="1h")


def arrivals_until(rate: dists.PiecewiseRate, end: float, rng: random.Random) -> list[float]:
    times: list[float] = []
    t = 0.0
    while (t := rate.next_arrival(t, rng)) < end:
        times.append(t)
    return times


def test_arrival_counts_match_each_piece() -> None:
    """Over 300 days, arrivals per piece match rate × length within 4 Poisson standard deviations.

    The count of a Poisson process over an interval is Poisson with variance equal to its mean m,
    and independent days add, so the total over R days has mean R·m and sd sqrt(R·m).
    """
    rate = dists.parse_arrival_rate(SCHEDULE, field="rate")
    rng = random.Random(2024)
    days = 300
    times = [t for _ in range(days) for t in arrivals_until(rate, 5 * 3600, rng)]
    for start, end in [(0, 3600), (3600, 7200), (7200, 10800), (10800, 12600), (12600, 18000)]:
        count = sum(start <= t < end for t in times)
        expected = days * rate.expected_count(start, end)
        assert abs(count - expected) <= 4 * math.sqrt(expected)
        if expected == 0:
            assert count == 0


def test_next_arrival_crosses_a_boundary_with_the_new_rate() -> None:
    """From just before a drop in rate, the next arrival follows both rates exactly.

    From t = 1h − 60s with 120/h then 30/h, P(next arrival > 1h + s) = exp(−60/30 − s/120);
    the empirical share of N draws is within 4 binomial standard deviations of it.
    """
    rate = dists.parse_arrival_rate(
        [{"to": "1h", "rate": "120/h"}, {"to": "2h", "rate": "30/h"}], field="rate"
    )
    rng = random.Random(99)
    n = 20_000
    nexts = [rate.next_arrival(3540, rng) for _ in range(n)]
    for s in (0, 60, 240):
        p = math.exp(-60 / 30 - s / 120)
        share = sum(t > 3600 + s for t in nexts) / n
        assert abs(share - p) <= 4 * math.sqrt(p * (1 - p) / n)


def test_no_more_arrivals_is_infinity_after_one_draw() -> None:
    """After the last piece the next arrival is math.inf, and the call still uses one draw."""
    rate = dists.parse_arrival_rate("10/s", field="rate", end=60)
    rng, twin = random.Random(5), random.Random(5)
    assert rate.next_arrival(60, rng) == math.inf
    twin.expovariate(1.0)
    assert rng.getstate() == twin.getstate()


def test_arrivals_repeat_with_the_same_seed() -> None:
    """The arrival times of one seed are identical bit for bit."""
    rate = dists.parse_arrival_rate(SCHEDULE, field="rate")
    first = arrivals_until(rate, 4 * 3600, random.Random(8))
    second = arrivals_until(rate, 4 * 3600, random.Random(8))
    assert [t.hex() for t in first] == [t.hex() for t in second]


def test_busyness_scales_every_piece() -> None:
    """scaled(f) multiplies every rate, and so the expected count, by the busyness factor f."""
    rate = dists.parse_arrival_rate(SCHEDULE, field="rate")
    busy = rate.scaled(1.25)
    assert busy.rate_at(0) == pytest.approx(1.25 * rate.rate_at(0))
    assert busy.expected_count(0, math.inf) == pytest.approx(1.25 * 450)
    assert rate.scaled(0).next_arrival(0, random.Random(1)) == math.inf
    with pytest.raises(ValueError, match="busyness"):
        rate.scaled(-1)


def test_busyness_drawn_from_its_distribution_scales_arrivals() -> None:
    """A busyness factor drawn per replication multiplies the arrival count on average.

    The SPEC's example gamma (shape 28.7, scale 0.0348) has mean 0.99876; over 400 days at 100
    expected arrivals each, the mean count is within 4 standard errors of 100 × that mean, where a
    day's count has variance m·E[f] + m²·Var[f] (a mixed Poisson).
    """
    busyness = dists.parse_distribution(
        {"dist": "gamma", "shape": 28.7, "scale": 0.0348}, field="busyness"
    )
    base = dists.parse_arrival_rate("100/h", field="rate")
    rng = random.Random(17)
    days = 400
    counts = [
        len(arrivals_until(base.scaled(busyness.sample(rng)), 3600, rng)) for _ in range(days)
    ]
    m, f_mean, f_var = 100.0, 28.7 * 0.0348, 28.7 * 0.0348**2
    sd = math.sqrt(m * f_mean + m**2 * f_var)
    assert abs(statistics.fmean(counts) - m * f_mean) <= 4 * sd / math.sqrt(days)
