"""Closed forms of queueing theory that the simulator is checked against and staffing is sized with.

Notation throughout: ``c`` agents, arrival rate ``lam`` and service rate ``mu`` per second (so a mean
handle time of ``1/mu`` seconds), offered load ``a = lam/mu`` in Erlangs, patience rate ``theta`` (a mean
patience of ``1/theta`` seconds). Every model is a steady state with Poisson arrivals, exponential handle
times and first-come-first-served order inside a class.

- **Erlang B** (M/M/c/c, A. K. Erlang 1917): the share of arrivals that find every agent busy when they
  cannot wait. **Erlang C** (M/M/c): the share of arrivals that must wait when they wait forever.
- **Erlang A** (M/M/c+M, after C. Palm): customers abandon after an exponential patience. Solved as a
  birth–death chain; the service level uses the closed form derived in :func:`erlang_a`.
- **Non-preemptive priorities** with a common service rate (A. Cobham 1954).

The names of the results follow the simulator's KPIs of SPEC §8 where the two coincide; where a model
answers a slightly different question than the KPI (``p_wait``), the docstring says which.

This module runs past 400 lines because it also carries the incomplete gamma function that the
Erlang A service level needs: the standard library has none and scipy is not a dependency.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from unirouter import durations

__all__ = [
    "ErlangA",
    "Metric",
    "Target",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "min_agents_erlang_a",
    "min_agents_erlang_c",
    "mmc_asa",
    "mmc_occupancy",
    "mmc_service_level",
    "parse_target",
    "priority_mmc_waits",
]

# The Erlang A chain is cut where the probability of all longer queues is below this share.
TAIL_TOLERANCE = 1e-12
# A chain longer than this means a patience so long against an overload that the model is useless.
MAX_STATES = 5_000_000
# Staffing searches give up above this many agents unless told otherwise.
MAX_AGENTS = 100_000


# --- Erlang B and C (M/M/c) ----------------------------------------------------------------------


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of ``c`` agents offered ``a`` Erlangs with no waiting room.

    Uses the recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)), which only ever divides numbers
    of the same size, so it is exact to rounding for thousands of agents where the textbook ratio
    of a^c/c! to a partial exponential series overflows.
    """
    _check_agents(c, minimum=0)
    _check_non_negative(a, "a (the offered load)")
    blocked = 1.0
    for k in range(1, c + 1):
        blocked = a * blocked / (k + a * blocked)
    return blocked


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival must wait, for ``c`` agents offered ``a`` Erlangs (M/M/c).

    From the blocking probability B of the same system: C = c·B / (c − a·(1 − B)). With a ≥ c the
    queue grows without bound and every arrival waits: the answer is 1.
    """
    _check_agents(c, minimum=0)
    _check_non_negative(a, "a (the offered load)")
    if a >= c:
        return 1.0
    blocked = erlang_b(c, a)
    return c * blocked / (c - a * (1.0 - blocked))


def mmc_asa(c: int, lam: float, mu: float) -> float:
    """Mean wait in seconds of every arrival in M/M/c: C / (c·mu − lam); infinite when overloaded.

    Nobody abandons in this model, so the mean wait of answered items (``asa_s``) and of all items
    (``mean_wait_s``) are the same number.
    """
    _check_rates(c, lam, mu)
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_service_level(c: int, lam: float, mu: float, t: float) -> float:
    """P(wait ≤ t) in M/M/c: 1 − C·exp(−(c·mu − lam)·t); zero when overloaded.

    Given that an arrival waits, its wait is exponential with rate c·mu − lam (agents free up at
    rate c·mu, and the queue in front of it is geometric).
    """
    _check_rates(c, lam, mu)
    _check_non_negative(t, "t (the service level threshold)")
    if lam >= c * mu:
        return 0.0
    return 1.0 - erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def mmc_occupancy(c: int, lam: float, mu: float) -> float:
    """Share of time an agent is busy in M/M/c: lam / (c·mu), at most 1."""
    _check_rates(c, lam, mu)
    return min(1.0, lam / (c * mu))


# --- Erlang A (M/M/c+M) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ErlangA:
    """Steady-state figures of M/M/c+M, named after the simulator's KPIs (SPEC §8).

    ``p_wait`` is the probability that an arrival finds every agent busy (the classic Erlang A
    figure, which tends to Erlang C as patience grows); the KPI ``p_wait`` of SPEC §8, the share of
    *answered* items that waited, is ``p_wait_answered``. ``p_abandon`` is the KPI ``abandon_rate``
    and ``service_level`` counts abandoned customers in its denominator, as SPEC §8 does.
    """

    p_wait: float
    p_wait_answered: float
    p_abandon: float
    mean_wait_s: float  # over every arrival, abandoned ones until they abandoned
    asa_s: float  # over answered arrivals only
    service_level: float  # P(answered within service_level_s)
    service_level_s: float
    occupancy: float  # mean busy agents / c


def erlang_a(
    c: int, lam: float, mu: float, theta: float, *, service_level_s: float = 20.0
) -> ErlangA:
    """Erlang A: ``c`` agents, Poisson arrivals, exponential handle times and patience.

    *The chain.* With n customers present, arrivals come at rate lam and departures at rate
    min(n, c)·mu + max(n − c, 0)·theta. The stationary weights are running products of the ratios
    of those rates, kept as logarithms so that thousands of agents neither overflow nor underflow,
    and the chain is cut once the probability of every longer queue is below ``TAIL_TOLERANCE``.

    *Per position.* An arrival that finds n = c + k − 1 customers stands k-th in line. In line at
    position i it leaves that position at rate c·mu + i·theta (an agent frees up, someone ahead
    gives up, or it gives up itself), moving up with probability (c·mu + (i−1)·theta)/(c·mu + i·theta).
    The product telescopes: it is answered with probability q_k = c·mu/(c·mu + k·theta), waits
    k/(c·mu + k·theta) on average, and if answered it waited the sum of the holding times
    h_k = Σ_{i≤k} 1/(c·mu + i·theta). Abandonment then equals theta times the mean wait (Little's
    law applied to the customers in line), which the tests check.

    *Service level.* Write x = c·mu/theta and y = lam/theta. The holding times at positions k..1 are
    exponential with rates theta·(x+1), …, theta·(x+k): they are the gaps between the first k order
    statistics of x + k independent exponentials, so their sum S_k satisfies
    P(S_k ≤ T) = I_u(k, x+1), the regularised incomplete beta function at u = 1 − exp(−theta·T).
    Weighting by the probability of each position and by q_k, the sum over k collapses to an
    exponential series, and the answered-within-T share of those who waited becomes a ratio of
    regularised lower incomplete gamma functions:
    P(answered, 0 < wait ≤ T) = P(answered, wait > 0) · (1 − P(x+1, y·e^(−theta·T)) / P(x+1, y)).
    (The same functions appear in Mandelbaum and Zeltyn's treatment of the Palm/Erlang-A queue.)

    ``theta = 0`` is plain Erlang C. Raises ``ValueError`` for negative rates, ``mu = 0``, ``c < 1``
    or a chain longer than ``MAX_STATES`` (a near-infinite patience against a heavy overload).
    """
    _check_rates(c, lam, mu)
    _check_non_negative(theta, "theta (the patience rate)")
    _check_non_negative(service_level_s, "service_level_s")
    if lam == 0:
        return _erlang_a_idle(service_level_s)
    if theta == 0:
        return _erlang_a_without_abandonment(c, lam, mu, service_level_s)
    head, tail = _erlang_a_log_weights(c, lam, mu, theta)
    top = max(max(head), max(tail))
    head_p = [math.exp(w - top) for w in head]
    tail_p = [math.exp(w - top) for w in tail]
    total = math.fsum(head_p) + math.fsum(tail_p)
    head_p = [p / total for p in head_p]
    tail_p = [p / total for p in tail_p]
    return _erlang_a_figures(c, lam, mu, theta, head_p, tail_p, service_level_s)


def _erlang_a_log_weights(
    c: int, lam: float, mu: float, theta: float
) -> tuple[list[float], list[float]]:
    """Log stationary weights of n = 0..c−1 customers (head) and of n = c, c+1, … (tail)."""
    a = lam / mu
    head = [0.0]
    for n in range(1, c):
        head.append(head[-1] + math.log(a / n))
    tail = [head[-1] + math.log(a / c)]
    peak = max(max(head), tail[0])
    if (lam - c * mu) / theta > MAX_STATES:  # the weights keep rising for that many states
        raise _too_many_states(c, lam, mu, theta)
    while True:
        k = len(tail)  # the next state is c + k customers, k of them in line
        ratio = lam / (c * mu + k * theta)
        if ratio < 1:
            # Ratios only fall from here, so the rest is below a geometric series; the factor
            # k + 1/(1 − ratio) also covers the sums weighted by the number in line.
            rest = tail[-1] + math.log(ratio / (1 - ratio) * (k + 1 / (1 - ratio)))
            if rest < peak + math.log(TAIL_TOLERANCE):
                return head, tail
        if len(head) + len(tail) >= MAX_STATES:
            raise _too_many_states(c, lam, mu, theta)
        tail.append(tail[-1] + math.log(ratio))
        peak = max(peak, tail[-1])


def _too_many_states(c: int, lam: float, mu: float, theta: float) -> ValueError:
    return ValueError(
        f"Erlang A needs more than {MAX_STATES} states for c={c}, lam={lam}, mu={mu}, "
        f"theta={theta}: the patience is too long for this load."
    )


def _erlang_a_figures(
    c: int,
    lam: float,
    mu: float,
    theta: float,
    head: list[float],
    tail: list[float],
    service_level_s: float,
) -> ErlangA:
    """The KPIs from the normalised state probabilities (see :func:`erlang_a` for the algebra)."""
    served_rate = c * mu
    answered_after_wait = abandoned = wait = answered_wait = holding = 0.0
    for j, p in enumerate(tail):
        k = j + 1
        leave = served_rate + k * theta
        holding += 1.0 / leave
        answered = served_rate / leave
        answered_after_wait += p * answered
        abandoned += p * k * theta / leave  # not 1 − answered: that loses digits for small theta
        wait += p * k / leave
        answered_wait += p * answered * holding
    p_wait = math.fsum(tail)
    p_answered = 1.0 - abandoned
    x, y = served_rate / theta, lam / theta
    in_time = _gamma_p_drop(x + 1, y, theta * service_level_s)
    busy = math.fsum(n * p for n, p in enumerate(head)) + c * p_wait
    return ErlangA(
        p_wait=p_wait,
        p_wait_answered=answered_after_wait / p_answered,
        p_abandon=abandoned,
        mean_wait_s=wait,
        asa_s=answered_wait / p_answered,
        service_level=math.fsum(head) + answered_after_wait * in_time,
        service_level_s=service_level_s,
        occupancy=busy / c,
    )


def _erlang_a_idle(service_level_s: float) -> ErlangA:
    """No arrivals: nobody waits or abandons, and the service level is taken as 1."""
    return ErlangA(
        p_wait=0.0,
        p_wait_answered=0.0,
        p_abandon=0.0,
        mean_wait_s=0.0,
        asa_s=0.0,
        service_level=1.0,
        service_level_s=service_level_s,
        occupancy=0.0,
    )


def _erlang_a_without_abandonment(c: int, lam: float, mu: float, t: float) -> ErlangA:
    """Erlang A with infinite patience: the Erlang C figures (all infinite waits when overloaded)."""
    p_wait = erlang_c(c, lam / mu)
    return ErlangA(
        p_wait=p_wait,
        p_wait_answered=p_wait,
        p_abandon=0.0,
        mean_wait_s=mmc_asa(c, lam, mu),
        asa_s=mmc_asa(c, lam, mu),
        service_level=mmc_service_level(c, lam, mu, t),
        service_level_s=t,
        occupancy=mmc_occupancy(c, lam, mu),
    )


# --- Priorities ----------------------------------------------------------------------------------


def priority_mmc_waits(c: int, lams: list[float], mu: float) -> list[float]:
    """Mean wait of each class in M/M/c with non-preemptive priorities and one service rate.

    Classes are listed from the most urgent. With sigma_k the load of classes 1..k per agent
    (their arrival rates summed, over c·mu) and C the Erlang C probability of the whole load, class k
    waits W_k = C / (c·mu) / ((1 − sigma_{k−1})·(1 − sigma_k)) on average (Cobham's formula, extended
    to c agents by treating them as one server c times as fast while all are busy). The
    arrival-weighted mean of the W_k equals the first-come-first-served wait of the merged stream.
    A class whose cumulative load reaches 1 waits forever; classes above it still have finite waits.
    """
    for lam in lams:
        _check_non_negative(lam, "each of lams (arrival rates)")
    _check_rates(c, sum(lams), mu)
    scale = c * mu
    p_wait = erlang_c(c, sum(lams) / mu)
    waits: list[float] = []
    before = 0.0
    for lam in lams:
        upto = before + lam / scale
        waits.append(math.inf if upto >= 1 else p_wait / scale / ((1 - before) * (1 - upto)))
        before = upto
    return waits


# --- Staffing ------------------------------------------------------------------------------------


class Metric(enum.Enum):
    """A KPI a staffing target bounds, with the direction that is good."""

    SERVICE_LEVEL = "service_level"  # at least the bound
    ASA = "asa_s"  # at most the bound
    ABANDON_RATE = "abandon_rate"  # at most the bound


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """``service_level>=0.8`` (answered within ``threshold_s``), ``asa_s<=30`` or ``abandon_rate<=0.05``."""

    metric: Metric
    bound: float
    threshold_s: float = 20.0  # only for the service level; SPEC's default service_level_s

    def met(self, value: float) -> bool:
        """Whether a value of the metric meets the target."""
        return value >= self.bound if self.metric is Metric.SERVICE_LEVEL else value <= self.bound

    def __str__(self) -> str:
        sign = ">=" if self.metric is Metric.SERVICE_LEVEL else "<="
        return f"{self.metric.value}{sign}{self.bound:g}"


_TARGET = re.compile(r"\s*([a-z_]+)\s*(>=|<=)\s*(\S+)\s*")
_SIGNS = {Metric.SERVICE_LEVEL: ">=", Metric.ASA: "<=", Metric.ABANDON_RATE: "<="}


def parse_target(text: str, *, service_level_s: float = 20.0, field: str = "target") -> Target:
    """A :class:`Target` from ``"service_level>=0.8"``, ``"asa_s<=30"`` or ``"abandon_rate<=0.05"``.

    ``asa_s`` may also be written as a duration (``"asa_s<=1m"``). Service level and abandon rate
    are shares between 0 and 1. Raises ``ValueError`` naming ``field``.
    """
    match = _TARGET.fullmatch(text)
    metric = next((m for m in Metric if match and m.value == match[1]), None)
    if match is None or metric is None:
        raise ValueError(
            f"{field}: {text!r} is not a staffing target; expected e.g. 'service_level>=0.8', "
            "'asa_s<=30' or 'abandon_rate<=0.05'."
        )
    if match[2] != _SIGNS[metric]:
        raise ValueError(f"{field}: {metric.value} takes '{_SIGNS[metric]}', not '{match[2]}'.")
    if metric is Metric.ASA:
        bound = durations.parse_duration(match[3], field=field)
    else:
        try:
            bound = float(match[3])
        except ValueError:
            bound = math.nan
        if not 0 <= bound <= 1:
            raise ValueError(f"{field}: {metric.value} is a share between 0 and 1, not {match[3]}.")
    return Target(metric=metric, bound=bound, threshold_s=service_level_s)


def min_agents_erlang_c(
    lam: float, mu: float, target: Target | str, *, max_agents: int = MAX_AGENTS
) -> int:
    """The smallest number of agents for which M/M/c meets ``target`` (0 when ``lam`` is 0).

    Only stable staffings (c > lam/mu) count. Nobody abandons in this model, so an ``abandon_rate``
    target is refused: use :func:`min_agents_erlang_a`.
    """
    goal = parse_target(target) if isinstance(target, str) else target
    _check_non_negative(lam, "lam (the arrival rate)")
    _check_positive(mu, "mu (the service rate)")
    if goal.metric is Metric.ABANDON_RATE:
        raise ValueError(f"{goal}: Erlang C has no abandonment; use Erlang A for this target.")
    if lam == 0:
        return 0

    def meets(c: int) -> bool:
        if goal.metric is Metric.SERVICE_LEVEL:
            return goal.met(mmc_service_level(c, lam, mu, goal.threshold_s))
        return goal.met(mmc_asa(c, lam, mu))

    return _smallest(meets, math.floor(lam / mu) + 1, max_agents, goal)


def min_agents_erlang_a(
    lam: float, mu: float, theta: float, target: Target | str, *, max_agents: int = MAX_AGENTS
) -> int:
    """The smallest number of agents (at least 1) for which Erlang A meets ``target``.

    0 when ``lam`` is 0. Abandonment keeps the queue finite, so fewer agents than the offered load
    may meet a loose target.
    """
    goal = parse_target(target) if isinstance(target, str) else target
    _check_non_negative(lam, "lam (the arrival rate)")
    _check_positive(mu, "mu (the service rate)")
    if lam == 0:
        return 0
    values: Callable[[ErlangA], float] = {
        Metric.SERVICE_LEVEL: lambda r: r.service_level,
        Metric.ASA: lambda r: r.asa_s,
        Metric.ABANDON_RATE: lambda r: r.p_abandon,
    }[goal.metric]

    def meets(c: int) -> bool:
        return goal.met(values(erlang_a(c, lam, mu, theta, service_level_s=goal.threshold_s)))

    return _smallest(meets, 1, max_agents, goal)


def _smallest(meets: Callable[[int], bool], lowest: int, highest: int, goal: Target) -> int:
    """The smallest c in [lowest, highest] that meets the goal, the metric being monotone in c.

    Steps of 1, 2, 4, … from ``lowest`` find a staffing that meets it; halving the last step finds
    the smallest. About 2·log2(answer − lowest) evaluations.
    """
    failing, step = lowest - 1, 1
    while not meets(probe := min(failing + step, highest)):
        if probe == highest:
            raise ValueError(f"{goal}: not met with up to {highest} agents.")
        failing, step = probe, step * 2
    meeting = probe
    while meeting - failing > 1:
        middle = (failing + meeting) // 2
        failing, meeting = (failing, middle) if meets(middle) else (middle, meeting)
    return meeting


# --- Checks and special functions ----------------------------------------------------------------


def _check_agents(c: int, *, minimum: int) -> None:
    if isinstance(c, bool) or not isinstance(c, int) or c < minimum:
        raise ValueError(f"c (the number of agents) must be a whole number of at least {minimum}.")


def _check_non_negative(value: float, name: str) -> None:
    if not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number that is not negative, not {value!r}.")


def _check_positive(value: float, name: str) -> None:
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number greater than 0, not {value!r}.")


def _check_rates(c: int, lam: float, mu: float) -> None:
    _check_agents(c, minimum=1)
    _check_non_negative(lam, "lam (the arrival rate)")
    _check_positive(mu, "mu (the service rate)")


def _gamma_p_drop(a: float, y: float, s: float) -> float:
    """1 − P(a, y·e^(−s)) / P(a, y), with P the regularised lower incomplete gamma function.

    P(a, z) = γ(a, z)/Γ(a) = z^a·e^(−z)/Γ(a) · Σ_n z^n/(a·(a+1)···(a+n)); the series converges fast
    for z < a + 1, and above it the upper function Q = 1 − P has a fast continued fraction. Each
    case is arranged so that nothing cancels: both points below a + 1 compare the two series with
    the exact difference of their fronts, both above it subtract the two Q, mixed ones divide.
    """
    low = y * math.exp(-s)
    if low <= 0:
        return 1.0
    if y < a + 1:
        log_ratio = -a * s + y * -math.expm1(-s) + math.log(_series(a, low) / _series(a, y))
        return -math.expm1(log_ratio)
    log_q_high = _log_front(a, y) + math.log(_fraction(a, y))
    log_p_high = math.log1p(-math.exp(log_q_high))
    if low >= a + 1:
        log_q_low = _log_front(a, low) + math.log(_fraction(a, low))
        return math.exp(log_q_low - log_p_high) * -math.expm1(log_q_high - log_q_low)
    log_p_low = _log_front(a, low) + math.log(_series(a, low))
    return -math.expm1(log_p_low - log_p_high)


def _log_front(a: float, z: float) -> float:
    """log(z^a·e^(−z)/Γ(a)), the factor both expansions share."""
    return a * math.log(z) - z - math.lgamma(a)


def _series(a: float, z: float) -> float:
    """Σ_n z^n/(a·(a+1)···(a+n)), so that P(a, z) = front · series; for z < a + 1."""
    term = total = 1.0 / a
    n = 0
    while term > total * 1e-17:
        n += 1
        term *= z / (a + n)
        total += term
    return total


def _fraction(a: float, z: float) -> float:
    """The continued fraction F with Q(a, z) = front · F, by the modified Lentz method; z ≥ a + 1."""
    tiny = 1e-300
    b = z + 1.0 - a
    numer_ratio = 1.0 / tiny
    denom_ratio = 1.0 / b
    fraction = denom_ratio
    for i in range(1, 1_000_000):
        coefficient = -i * (i - a)
        b += 2.0
        denom_ratio = coefficient * denom_ratio + b
        denom_ratio = 1.0 / (denom_ratio if abs(denom_ratio) > tiny else tiny)
        numer_ratio = b + coefficient / numer_ratio
        numer_ratio = numer_ratio if abs(numer_ratio) > tiny else tiny
        change = denom_ratio * numer_ratio
        fraction *= change
        if abs(change - 1.0) < 1e-15:
            return fraction
    raise ArithmeticError(f"The incomplete gamma fraction did not converge for a={a}, z={z}.")
