"""Staffing (SPEC §1 planner, §6.2 ``unirouter staff``): the smallest headcount per interval that
meets a target, found with queueing theory and confirmed by simulating the real engine.

How a scenario is read (docs/staffing.md; docs/interpretations.md, "Staffing"):

* **Intervals.** The pieces of the scenario's arrival rates cut ``[0, duration)``: every ``from`` and
  ``to`` of every ``arrivals`` entry is a boundary, so a plain rate over the whole run is one interval.
  An interval's KPIs are those of the items that *arrive* in it (after the warm-up), wherever they
  are answered.
* **Headcount.** The configuration's agents are templates. A headcount of N is N clones, taken from
  the templates in turn (``alice#1``, ``bob#1``, ``alice#2``, …), each with its template's skills,
  capacity and queue memberships. Clones work through shifts: in interval i the first N_i clones
  are on shift; the scenario's own ``shifts`` are replaced. As in every run, a clone whose shift
  ends finishes what it holds, and the staff of the last interval stay until the queue is empty.
* **Estimate.** Erlang C for each interval's offered load (Erlang A when arrivals have patience):
  arrival rates times the mean busyness, the mean time an item holds an agent (handle time plus the
  wrap-up that blocks capacity), one item per agent at a time.
* **Confirmation.** Intervals are settled from the first to the last. For interval i the whole
  scenario is run (all its replications, the same seed every time, so that runs differ only by the
  headcount) with the intervals before it at their settled headcount and the ones after it at their
  estimate; from the estimate the headcount moves down (or up) by steps of 1, 2, 4, … until the
  target flips, then bisects to the smallest headcount that meets it. A last run of the whole plan
  gives the KPIs reported; an interval that fails there (the later intervals settled lower than
  their estimate) gains one agent and the plan runs again, a few times at most.
* **No degenerate answers.** A service level or ASA target is only *met* while the abandon rate
  stays at or below ``max_abandon`` (5% unless told): abandoning customers leave the queue and so
  shorten everyone else's wait, and an ASA of 20 s "met" while half the callers hang up is no
  staffing answer. The search therefore looks for the smallest headcount meeting both, and the
  answer says which of the two failed when an interval is not met.
* **Replications.** At least :data:`MIN_REPLICATIONS` unless told (the scenario's own count when it
  asks for more): one replication answers a different headcount for a different seed. Every
  interval's answer carries the 95% confidence half-width of the target's KPI, and a *close call*
  warning when that interval crosses the bound.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

from unirouter.analytics import kpis
from unirouter.config import model
from unirouter.engine import Engine, Event, EventType
from unirouter.errors import ConfigError, ConfigIssue
from unirouter.sim import agenda, queueing, results, runner, traffic
from unirouter.sim.scenario import Scenario

__all__ = [
    "MAX_ABANDON",
    "MAX_AGENTS",
    "MIN_REPLICATIONS",
    "REPAIR_PASSES",
    "REPORTED",
    "Interval",
    "IntervalStaffing",
    "ProgressCallback",
    "StaffingResult",
    "abandon_bound",
    "check_target",
    "clone_ids",
    "close_call",
    "erlang_estimate",
    "failures",
    "interval_kpis",
    "intervals",
    "meets",
    "parse_target",
    "pooled",
    "staff",
    "with_headcount",
]

#: The default ceiling of a headcount search.
MAX_AGENTS = 1000
#: The abandon rate above which a service level or ASA target does not count as met.
MAX_ABANDON = 0.05
#: The fewest replications of a staffing run unless ``replications`` says otherwise.
MIN_REPLICATIONS = 10
#: How many times the final plan may be run again after adding agents to failing intervals.
REPAIR_PASSES = 5
#: KPIs reported per interval (pooled over replications, SPEC §7 and §8).
REPORTED = (
    "arrived", "answered", "abandoned", "service_level", "asa_s", "mean_wait_s", "p_wait",
    "abandon_rate",
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """One staffing interval ``[start_s, end_s)`` and the traffic its estimate sees.

    ``arrival_rate`` is per second at the mean busyness; ``hold_s`` the arrival-weighted mean time
    an item holds an agent (handle time plus capacity-blocking wrap-up); ``patience_rate`` the
    arrival-weighted mean of 1/patience, 0 when nobody abandons. Items arriving from
    ``counted_from_s`` (the later of the start and the warm-up) count in its KPIs.
    """

    index: int
    start_s: float
    end_s: float
    arrival_rate: float
    hold_s: float
    patience_rate: float
    counted_from_s: float

    @property
    def searched(self) -> bool:
        """Whether its headcount is searched by simulation: it has arrivals after the warm-up."""
        return self.arrival_rate > 0 and self.counted_from_s < self.end_s


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IntervalStaffing:
    """The answer for one interval: the estimate, the headcount found and the KPIs it achieves.

    ``kpis`` are pooled over the replications (SPEC §7), from the final run of the whole plan.
    An interval that is not ``searched`` (no arrivals, or inside the warm-up) keeps its estimate.
    """

    interval: Interval
    model: str  # "erlang_c" or "erlang_a"
    estimate: int
    headcount: int
    met: bool
    kpis: dict[str, Any]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {
            "start_s": iv.start_s,
            "end_s": iv.end_s,
            "arrivals_per_h": iv.arrival_rate * 3600.0,
            "hold_s": iv.hold_s,
            "model": self.model,
            "estimate": self.estimate,
            "headcount": self.headcount,
            "simulated": iv.searched,
            "met": self.met,
            "kpis": dict(self.kpis),
            "warnings": list(self.warnings),
        }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StaffingResult:
    """What ``unirouter staff`` prints: the target and one :class:`IntervalStaffing` per interval."""

    target: queueing.Target
    seed: int
    replications: int
    simulations: int
    intervals: tuple[IntervalStaffing, ...]
    max_abandon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "service_level_s": self.target.threshold_s,
            "max_abandon": self.max_abandon,
            "seed": self.seed,
            "replications": self.replications,
            "simulations": self.simulations,
            "intervals": [answer.to_dict() for answer in self.intervals],
        }


# -- reading the scenario ----------------------------------------------------------------------------


def parse_target(text: str, scenario: Scenario, *, field: str = "--target") -> queueing.Target:
    """The target ``text`` for ``scenario``; a bad one is a :class:`ConfigError` naming ``field``.

    The service level threshold of the estimate is the smallest ``service_level_s`` of the
    configuration's queues (the simulated KPI uses each answering queue's own, SPEC §8).
    """
    threshold = min((q.service_level_s for q in scenario.config.queues.values()), default=20.0)
    try:
        target = queueing.parse_target(text, service_level_s=threshold, field=field)
        check_target(scenario, target, field=field)
    except ValueError as error:
        where, _, message = str(error).partition(": ")
        raise ConfigError([ConfigIssue(path=where, message=message.rstrip("."))]) from None
    return target


def check_target(scenario: Scenario, target: queueing.Target, *, field: str = "--target") -> None:
    """An abandon-rate target needs customers who abandon: raise ``ValueError`` otherwise."""
    if target.metric is queueing.Metric.ABANDON_RATE and not any(
        arrival.patience is not None for arrival in scenario.arrivals
    ):
        raise ValueError(
            f"{field}: abandon_rate needs arrivals with a patience; nobody abandons in this "
            "scenario."
        )


def intervals(scenario: Scenario) -> list[Interval]:
    """The staffing intervals of ``scenario``: its arrival rates' pieces cut ``[0, duration)``."""
    if not scenario.arrivals:
        raise ConfigError(
            [ConfigIssue(path="arrivals", message="staffing needs generated arrivals; none given")]
        )
    if not scenario.config.agents:
        raise ConfigError(
            [ConfigIssue(path="config.agents", message="staffing clones agents; none defined")]
        )
    cuts = {0.0, scenario.duration}
    for arrival in scenario.arrivals:
        for piece in arrival.rate.pieces:
            cuts.update(t for t in (piece.start_s, piece.end_s) if 0 < t < scenario.duration)
    bounds = sorted(cuts)
    factor = 1.0 if scenario.busyness is None else scenario.busyness.mean()
    return [
        _interval(scenario, index, start, end, factor)
        for index, (start, end) in enumerate(itertools.pairwise(bounds))
    ]


def _interval(scenario: Scenario, index: int, start: float, end: float, factor: float) -> Interval:
    sources = scenario.arrivals
    rates = [a.rate.expected_count(start, end) / (end - start) * factor for a in sources]
    total = math.fsum(rates)
    hold = patience = 0.0
    if total > 0:
        holds = [_hold_s(scenario.config, a) for a in sources]
        hold = math.fsum(r * h for r, h in zip(rates, holds, strict=True)) / total
        thetas = [_patience_rate(a) for a in sources]
        patience = math.fsum(r * p for r, p in zip(rates, thetas, strict=True)) / total
    return Interval(
        index=index,
        start_s=start,
        end_s=end,
        arrival_rate=total,
        hold_s=hold,
        patience_rate=patience,
        counted_from_s=max(start, scenario.warmup),
    )


def _hold_s(config: model.Config, arrival: traffic.Arrival) -> float:
    """Mean handle time plus the part of wrap-up that keeps the agent's capacity (R33)."""
    block = config.workstreams[arrival.workstream].wrap_up.block
    wrap = 0.0 if arrival.wrap_up is None else arrival.wrap_up.mean()
    if block == "none":
        wrap = 0.0
    elif block != "always":
        wrap = min(wrap, float(block))
    return arrival.handle_time.mean() + wrap


def _patience_rate(arrival: traffic.Arrival) -> float:
    if arrival.patience is None:
        return 0.0
    return 1.0 / max(arrival.patience.mean(), 1e-9)


def erlang_estimate(
    interval: Interval, target: queueing.Target, *, max_agents: int = MAX_AGENTS
) -> tuple[str, int]:
    """(model, headcount): Erlang A when customers abandon, else Erlang C; 0 without arrivals.

    A target no headcount up to ``max_agents`` meets estimates ``max_agents``. With nobody
    abandoning, an abandon-rate target asks only for a stable queue (more agents than Erlangs).
    """
    lam, theta = interval.arrival_rate, interval.patience_rate
    name = "erlang_a" if theta > 0 else "erlang_c"
    if lam == 0:
        return name, 0
    if interval.hold_s <= 0:
        return name, 1
    mu = 1.0 / interval.hold_s
    try:
        if theta > 0:
            return name, queueing.min_agents_erlang_a(lam, mu, theta, target, max_agents=max_agents)
        if target.metric is queueing.Metric.ABANDON_RATE:
            return name, min(math.floor(lam / mu) + 1, max_agents)
        return name, queueing.min_agents_erlang_c(lam, mu, target, max_agents=max_agents)
    except ValueError:
        return name, max_agents


# -- headcount as template clones ----------------------------------------------------------------------


def clone_ids(config: model.Config, headcount: int) -> list[tuple[str, str]]:
    """``(clone, template)`` pairs of the first ``headcount`` clones: templates taken in turn."""
    templates = list(config.agents)
    return [
        (
            f"{templates[j % len(templates)]}#{j // len(templates) + 1}",
            templates[j % len(templates)],
        )
        for j in range(headcount)
    ]


def with_headcount(
    scenario: Scenario, spans: Sequence[Interval], headcounts: Sequence[int]
) -> Scenario:
    """``scenario`` staffed by clones: the first ``headcounts[i]`` clones work interval i.

    Each clone has its template's definition and queue memberships; the template agents and the
    scenario's own shifts are gone. The last staffed interval's shift has no end, so its staff
    finish the queue after the arrivals stop.
    """
    config = scenario.config
    pairs = clone_ids(config, max(headcounts, default=0))
    agents = {clone: config.agents[template] for clone, template in pairs}
    queues = {
        name: queue.model_copy(
            update={"members": [c for c, t in pairs if t in frozenset(queue.members)]}
        )
        for name, queue in config.queues.items()
    }
    staffed = [i for i, n in enumerate(headcounts) if n > 0]
    shifts = tuple(
        traffic.Shift(
            agents=tuple(clone for clone, _ in pairs[: headcounts[i]]),
            start_s=spans[i].start_s,
            end_s=math.inf if i == staffed[-1] else spans[i].end_s,
        )
        for i in staffed
    )
    return dataclasses.replace(
        scenario,
        config=config.model_copy(update={"agents": agents, "queues": queues}),
        shifts=shifts,
    )


# -- KPIs per interval ---------------------------------------------------------------------------------


class _ByInterval:
    """A runner observer: one :class:`~unirouter.analytics.kpis.KpiAccumulator` per interval and
    replication, each fed the events of the items that arrived in its interval after the warm-up."""

    def __init__(self, config: model.Config, spans: Sequence[Interval]) -> None:
        self._config = config
        self._spans = list(spans)
        self._starts = [span.start_s for span in spans]
        self._engine: Engine | None = None
        self._open: dict[str, kpis.KpiAccumulator] = {}
        self.replications: list[list[kpis.KpiAccumulator]] = []
        self.ends: list[float] = []

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        if engine is not self._engine:  # a new replication: a fresh engine
            self._engine, self._open = engine, {}
            self.replications.append(
                [kpis.KpiAccumulator(self._config, warmup_s=s.counted_from_s) for s in self._spans]
            )
            self.ends.append(0.0)
        for event in events:
            if event.item is not None:
                self._feed(event, event.item)
        self.ends[-1] = events[-1].t

    def _feed(self, event: Event, item: str) -> None:
        if event.type is EventType.ITEM_CREATED:
            index = bisect.bisect_right(self._starts, event.t) - 1
            span = self._spans[index] if index >= 0 else None
            if span is not None and span.counted_from_s <= event.t < span.end_s:
                self._open[item] = self.replications[-1][index]
        accumulator = self._open.get(item)
        if accumulator is not None:
            accumulator.feed(event)
            if event.type is EventType.ITEM_CLOSED:
                del self._open[item]

    def on_refusal(self, refusal: results.Refusal) -> None:
        """Refused scripted actions do not change any KPI."""

    def results(self) -> list[list[kpis.KpiResult]]:
        """``[interval][replication]``."""
        per_run = [
            [accumulator.finish(end) for accumulator in run]
            for run, end in zip(self.replications, self.ends, strict=True)
        ]
        return [list(column) for column in zip(*per_run, strict=True)] if per_run else []


def interval_kpis(
    scenario: Scenario, spans: Sequence[Interval], *, seed: int | None = None
) -> list[list[kpis.KpiResult]]:
    """Run ``scenario`` (every replication) and return the KPIs ``[interval][replication]`` of
    the items arriving in each interval after the warm-up. The real engine does all routing."""
    observer = _ByInterval(scenario.config, spans)
    runner.run(scenario, seed=seed, observers=[observer])
    return observer.results()


def pooled(per_replication: Sequence[kpis.KpiResult]) -> dict[str, Any]:
    """The totals of one interval pooled over replications (SPEC §7), ``x_ci95`` when R > 1."""
    if len(per_replication) == 1:  # counts stay whole numbers
        single = per_replication[0].totals.kpis()
        return {key: single[key] for key in REPORTED}
    combined = kpis.combine(per_replication)["totals"]
    return {key: combined[key] for key in (*REPORTED, *(f"{k}_ci95" for k in REPORTED))}


def meets(
    target: queueing.Target, measured: dict[str, Any], *, max_abandon: float | None = None
) -> bool:
    """Whether an interval's KPIs meet ``target`` and keep the abandon rate at or below
    ``max_abandon`` (``None``: no such bound); an interval where nothing arrived does."""
    return not failures(target, measured, max_abandon=max_abandon)


def failures(
    target: queueing.Target, measured: dict[str, Any], *, max_abandon: float | None = None
) -> list[str]:
    """Why an interval's KPIs do not meet ``target``: one phrase per failed bound, none if met."""
    if not measured["arrived"]:
        return []
    missed = []
    value = measured[target.metric.value]
    if value is None or not target.met(float(value)):
        shown = "none answered" if value is None else f"{value:.3g}"
        missed.append(f"{target} is not met ({target.metric.value} {shown})")
    abandon = measured.get("abandon_rate")
    if max_abandon is not None and abandon is not None and abandon > max_abandon:
        missed.append(
            f"{abandon:.1%} of customers abandon, above the {max_abandon:.1%} allowed "
            "(--max-abandon)"
        )
    return missed


def abandon_bound(target: queueing.Target, max_abandon: float | None) -> float | None:
    """The abandon bound that goes with ``target``: none for an abandon-rate target (it is one)."""
    return None if target.metric is queueing.Metric.ABANDON_RATE else max_abandon


def close_call(target: queueing.Target, measured: dict[str, Any]) -> str | None:
    """A warning when the 95% interval of the target's KPI crosses its bound, else ``None``."""
    key = target.metric.value
    value, half = measured.get(key), measured.get(f"{key}_ci95")
    if not measured.get("arrived") or value is None or not half:
        return None
    low, high = float(value) - float(half), float(value) + float(half)
    if low <= target.bound <= high:
        return (
            f"close call: the 95% interval of {key} ({low:.3g} to {high:.3g}) crosses the "
            f"target's {target.bound:g}; more replications would settle it (--replications)"
        )
    return None


# -- the search ----------------------------------------------------------------------------------------


#: ``progress(done, total)``: how many of a staffing run's steps (one per searched interval, and
#: the final run of the whole plan) are done.
ProgressCallback = Callable[[int, int], None]


def staff(
    scenario: Scenario,
    target: queueing.Target,
    *,
    seed: int | None = None,
    max_agents: int = MAX_AGENTS,
    max_abandon: float | None = MAX_ABANDON,
    replications: int | None = None,
    progress: ProgressCallback | None = None,
) -> StaffingResult:
    """The smallest headcount per interval meeting ``target`` (see the module docstring).

    ``replications`` defaults to the scenario's, raised to :data:`MIN_REPLICATIONS`;
    ``max_abandon`` bounds the abandon rate of a service level or ASA target (``None``: no bound).
    """
    check_target(scenario, target)
    runs = max(scenario.replications, MIN_REPLICATIONS) if replications is None else replications
    if runs < 1:
        raise ConfigError([ConfigIssue(path="--replications", message="must be at least 1")])
    scenario = dataclasses.replace(scenario, replications=runs)
    patient = all(arrival.patience is None for arrival in scenario.arrivals)
    bound = None if patient else abandon_bound(target, max_abandon)
    spans = intervals(scenario)
    estimates = [_estimate(span, target, bound, max_agents=max_agents) for span in spans]
    search = _Search(scenario, spans, target, seed=seed, max_agents=max_agents, max_abandon=bound)
    plan = [estimate for _, estimate in estimates]
    searched = [span for span in spans if span.searched]
    steps = len(searched) + 1
    for done, span in enumerate(searched):
        if progress is not None:
            progress(done, steps)
        plan[span.index] = search.smallest(plan, span.index)
    if progress is not None:
        progress(len(searched), steps)
    plan, measured = search.repair(plan)
    if progress is not None:
        progress(steps, steps)
    answers = tuple(
        IntervalStaffing(
            interval=span,
            model=estimates[span.index][0],
            estimate=estimates[span.index][1],
            headcount=plan[span.index],
            met=meets(target, measured[span.index], max_abandon=bound),
            kpis=measured[span.index],
            warnings=_warnings(target, measured[span.index], bound),
        )
        for span in spans
    )
    return StaffingResult(
        target=target,
        seed=scenario.seed if seed is None else seed,
        replications=runs,
        simulations=search.runs,
        intervals=answers,
        max_abandon=bound,
    )


def _estimate(
    span: Interval, target: queueing.Target, max_abandon: float | None, *, max_agents: int
) -> tuple[str, int]:
    """The Erlang estimate of ``target``, raised to the one keeping abandonment within
    ``max_abandon`` when customers abandon (Erlang A knows both)."""
    name, estimate = erlang_estimate(span, target, max_agents=max_agents)
    if max_abandon is not None and span.patience_rate > 0:
        bound = queueing.Target(metric=queueing.Metric.ABANDON_RATE, bound=max_abandon)
        estimate = max(estimate, erlang_estimate(span, bound, max_agents=max_agents)[1])
    return name, estimate


def _warnings(
    target: queueing.Target, measured: dict[str, Any], max_abandon: float | None
) -> tuple[str, ...]:
    found = failures(target, measured, max_abandon=max_abandon)
    close = close_call(target, measured)
    return (*found, *([close] if close else []))


class _Search:
    """Runs of whole plans, remembered by plan (the same seed every time: common random numbers)."""

    def __init__(
        self,
        scenario: Scenario,
        spans: list[Interval],
        target: queueing.Target,
        *,
        seed: int | None,
        max_agents: int,
        max_abandon: float | None,
    ) -> None:
        self.scenario, self.spans, self.target = scenario, spans, target
        self.seed, self.max_agents, self.max_abandon = seed, max_agents, max_abandon
        self.runs = 0
        self._memo: dict[tuple[int, ...], list[dict[str, Any]]] = {}

    def measure(self, plan: Sequence[int]) -> list[dict[str, Any]]:
        """Pooled KPIs per interval of the scenario staffed by ``plan``."""
        key = tuple(plan)
        if key not in self._memo:
            staffed = with_headcount(self.scenario, self.spans, plan)
            per_interval = interval_kpis(staffed, self.spans, seed=self.seed)
            self._memo[key] = [pooled(column) for column in per_interval]
            self.runs += 1
        return self._memo[key]

    def smallest(self, plan: Sequence[int], index: int) -> int:
        """The smallest headcount of interval ``index`` that meets the target, the others fixed.

        Steps of 1, 2, 4, … from the current value until the answer flips, then bisection; 0
        agents never meet it. Returns ``max_agents`` when even that many do not.
        """

        def ok(n: int) -> bool:
            trial = list(plan)
            trial[index] = n
            return meets(self.target, self.measure(trial)[index], max_abandon=self.max_abandon)

        return _outward(ok, min(max(plan[index], 1), self.max_agents), self.max_agents)

    def repair(self, plan: list[int]) -> tuple[list[int], list[dict[str, Any]]]:
        """Run the whole plan; add one agent to each searched interval that fails, and again."""
        for _ in range(REPAIR_PASSES):
            measured = self.measure(plan)
            failing = [
                s.index
                for s in self.spans
                if s.searched
                and plan[s.index] < self.max_agents
                and not meets(self.target, measured[s.index], max_abandon=self.max_abandon)
            ]
            if not failing:
                return plan, measured
            plan = [n + 1 if i in failing else n for i, n in enumerate(plan)]
        return plan, self.measure(plan)


def _outward(ok: Callable[[int], bool], start: int, highest: int) -> int:
    """The smallest n in [1, highest] with ``ok(n)``, searched outward from ``start``."""
    failing, meeting, step = 0, highest, 1
    if ok(start):
        meeting = start
        while meeting > 1:
            probe = max(meeting - step, 1)
            if not ok(probe):
                failing = probe
                break
            meeting, step = probe, step * 2
    else:
        failing = start
        while failing < highest:
            probe = min(failing + step, highest)
            if ok(probe):
                meeting = probe
                break
            failing, step = probe, step * 2
        else:
            return highest
    while meeting - failing > 1:
        middle = (failing + meeting) // 2
        failing, meeting = (failing, middle) if ok(middle) else (middle, meeting)
    return meeting
