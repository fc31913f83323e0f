"""SPEC §7/§8: the streaming KPI accumulator, fed by the real engine through hand-made scenarios whose
every KPI is computed by hand in the test.

The base configuration: workstream ``chat`` routes every item to queue ``main`` (service level 20 s,
short abandon 5 s); queue ``backup`` takes overflow. Items take 100 units unless a test says otherwise,
so an agent of 100 units holds one at a time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import config as configuration
from unirouter import errors
from unirouter.analytics import _kpi_combine, _kpi_series, kpis
from unirouter.analytics._kpi_tally import AgentTotals, Tally
from unirouter.config.model import BasePresence
from unirouter.engine import CloseReason, Engine, ManualClock
from unirouter.sim import results


def make_config(
    *,
    workstream: str = "{}",
    main: str = "{}",
    agents: str = "{a: {}}",
    members: str = "[a]",
) -> str:
    """YAML text of the base configuration; each argument is a flow mapping merged into its part."""
    chat = {
        "kind": "messaging",
        "fallback_queue": "main",
        "capacity": {"units": 100},
        "offer": {"auto_accept": True},
        "route_to_queue": [{"when": "true", "queue": "main"}],
        **yaml.safe_load(workstream),
    }
    queue = {"kind": "messaging", "members": yaml.safe_load(members)}
    data = {
        "workstreams": {"chat": chat},
        "queues": {
            "main": {**queue, "service_level_s": 20, "short_abandon_s": 5, **yaml.safe_load(main)},
            "backup": queue,
        },
        "agents": yaml.safe_load(agents),
    }
    return yaml.safe_dump(data)


class Run:
    """A real engine on a manual clock whose every event goes into a :class:`KpiAccumulator`."""

    def __init__(self, text: str, *, warmup_s: float = 0.0) -> None:
        cfg = configuration.validate(yaml.safe_load(text))
        self.clock = ManualClock(0.0)
        self.engine = Engine(cfg, clock=self.clock, trace=False)
        self.acc = kpis.KpiAccumulator(cfg, warmup_s=warmup_s)
        self.pump()

    def pump(self) -> None:
        self.acc.feed_all(self.engine.drain_events())

    def at(self, t: float) -> Run:
        self.clock.set(t)
        self.engine.advance()
        self.pump()
        return self

    def submit(self, t: float, name: str, **fields: Any) -> str:
        self.at(t)
        item = self.engine.submit(external_id=name, workstream="chat", **fields)
        self.pump()
        return item.id

    def do(self, t: float, command: str, *args: Any, **kwargs: Any) -> None:
        self.at(t)
        getattr(self.engine, command)(*args, **kwargs)
        self.pump()

    def offer_of(self, item_id: str) -> str:
        offer = self.engine.item(item_id).offer
        assert offer is not None
        return offer

    def result(self, end_t: float) -> dict[str, Any]:
        return self.acc.finish(end_t).to_dict()


def three_answers() -> dict[str, Any]:
    """One agent, three items: waits 0 s, 30 s (beyond the SL) and 10 s; handle 40, 20, 40 s."""
    run = Run(make_config())
    first = run.submit(0, "c1")
    second = run.submit(10, "c2")
    run.do(40, "complete", first, wrap_up=False)
    third = run.submit(50, "c3")
    run.do(60, "complete", second, wrap_up=False)
    run.do(100, "complete", third, wrap_up=False)
    return run.result(100)


def test_waits_give_asa_mean_wait_max_wait_and_p_wait() -> None:
    """§8: wait runs from entering the queue to the assignment; asa is their mean over answered."""
    totals = three_answers()["totals"]
    assert totals["arrived"] == totals["answered"] == 3
    assert totals["asa_s"] == pytest.approx(40 / 3)
    assert totals["mean_wait_s"] == pytest.approx(40 / 3)
    assert totals["max_wait_s"] == 30
    assert totals["p_wait"] == pytest.approx(2 / 3)


def test_service_level_counts_answers_within_the_threshold() -> None:
    """§8: waits 0 and 10 are within 20 s, wait 30 is not: service level 2/3; no abandons."""
    totals = three_answers()["totals"]
    assert totals["service_level"] == pytest.approx(2 / 3)
    assert totals["abandon_rate"] == 0


def test_assigned_time_gives_aht() -> None:
    """§8: aht_s is the mean of assigned (+ wrap-up) time: (40 + 20 + 40) / 3."""
    assert three_answers()["totals"]["aht_s"] == pytest.approx(100 / 3)


def test_queue_and_workstream_scopes_hold_the_same_items() -> None:
    """Every item here is answered in ``main`` and belongs to ``chat``."""
    result = three_answers()
    assert result["queues"]["main"] == result["totals"] == result["workstreams"]["chat"]
    assert "backup" not in result["queues"]


def test_an_abandon_before_short_abandon_s_is_counted_apart() -> None:
    """§8: abandons after 3 s are short, after 5 s (the threshold) and 30 s count; short ones stay
    out of the service level and abandon rate but in the mean wait."""
    run = Run(make_config(agents="{a: {default_presence: offline}}"))
    short, boundary, long_, answered = (run.submit(0, name) for name in "wxyz")
    run.do(3, "cancel", short)
    run.do(5, "cancel", boundary)
    run.do(30, "cancel", long_)
    run.do(40, "set_presence", "a", BasePresence.AVAILABLE)
    run.do(50, "complete", answered, wrap_up=False)
    totals = run.result(50)["totals"]
    assert (totals["short_abandoned"], totals["abandoned"], totals["answered"]) == (1, 2, 1)
    assert totals["abandon_rate"] == pytest.approx(2 / 3)
    assert totals["service_level"] == 0
    assert totals["asa_s"] == 40
    assert totals["mean_wait_s"] == pytest.approx((3 + 5 + 30 + 40) / 4)


def test_an_expired_item_counts_as_expired_with_its_wait() -> None:
    """R39, §8: an item whose TTL passes leaves the queue as expired; no answer, so ratios are null."""
    run = Run(make_config(workstream="{ttl_s: 60}", agents="{a: {default_presence: offline}}"))
    run.submit(0, "c1")
    totals = run.at(60).result(60)["totals"]
    assert (totals["arrived"], totals["expired"]) == (1, 1)
    assert totals["mean_wait_s"] == totals["max_wait_s"] == 60
    assert totals["service_level"] is None
    assert totals["abandon_rate"] is None
    assert totals["asa_s"] is None


def test_an_overflow_counts_in_the_queue_it_left_and_the_answer_where_it_was_answered() -> None:
    """R13: moved from main to backup at 30 s and answered there at 45 s; its wait runs on."""
    overflow = "{overflow: [{when: {waited_s: 30}, action: {transfer: backup}}]}"
    run = Run(make_config(main=overflow, agents="{a: {default_presence: offline}}"))
    item = run.submit(0, "c1")
    run.at(30)
    run.do(45, "set_presence", "a", BasePresence.AVAILABLE)
    run.do(50, "close", item)
    result = run.result(50)
    main, backup = result["queues"]["main"], result["queues"]["backup"]
    assert (main["overflowed"], main["arrived"], main["answered"]) == (1, 0, 0)
    assert (backup["overflowed"], backup["arrived"], backup["answered"]) == (0, 1, 1)
    assert backup["asa_s"] == 45
    assert result["totals"]["overflowed"] == 1


def test_an_item_ended_by_overflow_left_the_queue_with_its_wait() -> None:
    """R13: action ``end`` closes the item as overflow_ended after 30 s of waiting."""
    overflow = "{overflow: [{when: {waited_s: 30}, action: end}]}"
    run = Run(make_config(main=overflow, agents="{a: {default_presence: offline}}"))
    run.submit(0, "c1")
    main = run.at(30).result(30)["queues"]["main"]
    assert (main["overflowed"], main["overflow_ended"], main["arrived"]) == (1, 1, 1)
    assert main["mean_wait_s"] == 30


def two_concurrent_items() -> dict[str, Any]:
    """Agent of 100 units, items of 50: c1 0–60 assigned + 60–80 wrap-up (capacity kept), c2 20–100;
    offline at 150; end at 200."""
    run = Run(make_config(workstream="{capacity: {units: 50}}"))
    first = run.submit(0, "c1")
    second = run.submit(20, "c2")
    run.do(60, "complete", first)
    run.do(80, "close", first)
    run.do(100, "complete", second, wrap_up=False)
    run.do(150, "set_presence", "a", BasePresence.OFFLINE)
    return run.result(200)


def test_occupancy_is_busy_time_over_logged_in_time() -> None:
    """§8: busy 0–100 s (wrap-up included) over 150 s logged in; offline time is left out."""
    assert two_concurrent_items()["agents"]["a"]["occupancy"] == pytest.approx(100 / 150)


def test_utilisation_is_the_integral_of_used_units_over_capacity() -> None:
    """§8: 50·20 + 100·60 + 50·20 = 8000 unit-seconds over 100 units · 150 s."""
    assert two_concurrent_items()["agents"]["a"]["utilisation"] == pytest.approx(8000 / 15000)


def test_presence_time_follows_presence_changes() -> None:
    """R32: busy while part used, busy_dnd while full, available when empty, then offline."""
    agent = two_concurrent_items()["agents"]["a"]
    assert agent["presence_s"] == {"available": 50, "busy": 40, "busy_dnd": 60, "offline": 50}
    assert agent["handled"] == 2


def test_wrap_up_time_is_part_of_aht() -> None:
    """§8: c1 is 60 s assigned + 20 s wrap-up, c2 80 s assigned: aht 80 s."""
    assert two_concurrent_items()["totals"]["aht_s"] == 80


def test_offers_reserve_capacity_and_declines_and_expiries_count_as_waiting() -> None:
    """R22, R25: offered at 0, declined at 10, re-offered, expired at 40, re-offered, accepted at 50."""
    run = Run(make_config(workstream="{offer: {auto_accept: false, timeout_s: 30}}"))
    item = run.submit(0, "c1")
    run.do(10, "decline", run.offer_of(item), agent="a")
    run.at(40)
    run.do(50, "accept", run.offer_of(item), agent="a")
    run.do(60, "close", item)
    result = run.result(100)
    agent = result["agents"]["a"]
    assert (agent["offers"], agent["declines"], agent["expiries"], agent["handled"]) == (3, 1, 1, 1)
    assert agent["utilisation"] == pytest.approx(100 * 60 / (100 * 100))
    assert agent["occupancy"] == pytest.approx(10 / 100)
    assert result["totals"]["asa_s"] == 50


def test_items_created_in_the_warmup_are_not_counted() -> None:
    """§7 warmup: c1 (created at 50) is not counted; c2 (at 110) waits 20 s; agent time from 100 s."""
    run = Run(make_config(agents="{a: {default_presence: offline}}"), warmup_s=100)
    first = run.submit(50, "c1")
    second = run.submit(110, "c2")
    run.do(120, "set_presence", "a", BasePresence.AVAILABLE)
    run.do(130, "close", first)
    run.do(160, "close", second)
    result = run.result(200)
    totals, agent = result["totals"], result["agents"]["a"]
    assert (totals["arrived"], totals["answered"], totals["asa_s"]) == (1, 1, 20)
    assert totals["aht_s"] == 30
    assert agent["presence_s"]["offline"] == 20
    assert agent["occupancy"] == pytest.approx(40 / 80)
    assert agent["handled"] == 2


def test_groups_sum_the_integrals_of_their_agents() -> None:
    """§7 groups: a (busy 0–50) and b (idle) form g: 50 of 200 agent-seconds; c has no group."""
    agents = "{a: {attributes: {group: g}}, b: {attributes: {group: g}}, c: {}}"
    run = Run(make_config(agents=agents, members="[a]"))
    item = run.submit(0, "c1")
    run.do(50, "close", item)
    groups = run.result(100)["groups"]
    assert list(groups) == ["g"]
    assert groups["g"]["occupancy"] == pytest.approx(0.25)
    assert groups["g"]["utilisation"] == pytest.approx(0.25)
    assert groups["g"]["handled"] == 1


def test_waiting_series_and_wait_histogram() -> None:
    """Report series: two items wait 0–10 s and one of them to 40 s in interval 0; histogram bins."""
    run = Run(make_config(agents="{a: {default_presence: offline}}"))
    first = run.submit(0, "c1")
    run.submit(0, "c2")
    run.do(10, "cancel", first)
    run.do(40, "set_presence", "a", BasePresence.AVAILABLE)
    series = run.result(900)["series"]["main"]
    (interval,) = series["intervals"]
    assert (interval["arrived"], interval["answered"], interval["abandoned"]) == (2, 1, 1)
    assert interval["service_level"] == 0
    assert interval["waiting_max"] == 2
    assert interval["waiting_mean"] == pytest.approx((2 * 10 + 30) / 900)
    assert series["wait_histogram"]["counts"][2] == 1  # 10 s
    assert series["wait_histogram"]["counts"][8] == 1  # 40 s
    assert run.result(900)["wait_histogram"] == series["wait_histogram"]


def test_finish_can_be_read_twice() -> None:
    """finish() changes nothing: a mid-run read and a later one agree on what both cover."""
    run = Run(make_config())
    run.submit(0, "c1")
    assert run.acc.finish(50).to_dict() == run.acc.finish(50).to_dict()
    assert run.result(50)["totals"]["arrived"] == 1


# -- replications ----------------------------------------------------------------------------------


def replication(answered: int, in_sl: int, handled: int = 0) -> kpis.KpiResult:
    totals = Tally(arrived=answered + 2, answered=answered, abandoned=2, answered_in_sl=in_sl)
    agent = AgentTotals(logged_in_s=100, busy_s=handled * 10, handled=handled)
    return kpis.KpiResult(
        end_s=100, warmup_s=0, totals=totals, queues={"main": totals}, workstreams={},
        agents={"a": agent}, groups={}, series={}, wait_histogram={},
    )  # fmt: skip


def test_combine_means_counts_pools_ratios_and_gives_ci95() -> None:
    """§7: answered 8, 10, 12 → mean 10, half-width t(0.975, 2)·2/√3; SL pooled 24/36."""
    combined = kpis.combine([replication(8, 6, 1), replication(10, 9, 2), replication(12, 9, 6)])
    totals = combined["totals"]
    assert totals["answered"] == 10
    assert totals["answered_ci95"] == pytest.approx(4.303 * 2 / math.sqrt(3))
    assert totals["service_level"] == pytest.approx(24 / 36)
    per_rep = [6 / 10, 9 / 12, 9 / 14]
    assert totals["service_level_ci95"] == pytest.approx(_kpi_combine.ci95(per_rep))
    agent = combined["agents"]["a"]
    assert agent["occupancy"] == pytest.approx(90 / 300)
    assert agent["handled"] == 3
    assert combined["queues"]["main"]["answered"] == 10


def test_combine_of_one_replication_has_null_ci95() -> None:
    """§7: a half-width needs two replications."""
    totals = kpis.combine([replication(8, 6)])["totals"]
    assert totals["answered"] == 8
    assert totals["answered_ci95"] is None


def test_t_quantiles_match_the_table_and_the_normal_limit() -> None:
    """t(0.975, df): 12.706 for df 1, 2.021 for df 40, 1.984 for df 100, near 1.96 beyond."""
    assert _kpi_combine.t975(1) == 12.706
    assert _kpi_combine.t975(40) == pytest.approx(2.021, abs=1e-3)
    assert _kpi_combine.t975(100) == pytest.approx(1.984, abs=1e-3)
    assert _kpi_combine.t975(10_000) == pytest.approx(1.960, abs=1e-3)


def test_replications_pool_through_the_json_object_as_computed_by_hand() -> None:
    """§7 R > 1 via RunResult.to_dict: replication 1 answers waits 0, 30, 10 (2 in the 20 s service
    level), replication 2 one item after 50 s. Counts are means (answered 2), ratios pooled
    (asa 90/4, service level 2/4), and each has a Student t half-width over the two values."""
    second = Run(make_config(agents="{a: {default_presence: offline}}"))
    item = second.submit(0, "d1")
    second.do(50, "set_presence", "a", BasePresence.AVAILABLE)
    second.do(70, "close", item)
    first = Run(make_config())
    one = first.submit(0, "c1")
    two = first.submit(10, "c2")
    first.do(40, "complete", one, wrap_up=False)
    three = first.submit(50, "c3")
    first.do(60, "complete", two, wrap_up=False)
    first.do(100, "complete", three, wrap_up=False)
    kpi = (first.acc.finish(100), second.acc.finish(100))
    run = results.RunResult(
        seed=1, duration_s=100, end_s=100, counts={}, errors=(), items={}, kpis=kpi,
        runs=tuple(
            results.Replication(index=n, seed=n, busyness=1, arrivals_generated=0, end_s=100,
                                left_open=0, counts={})
            for n in range(2)
        ),
    )  # fmt: skip
    totals = run.to_dict()["totals"]
    t1 = 12.706  # t(0.975, 1)
    assert totals["answered"] == 2
    assert totals["answered_ci95"] == pytest.approx(t1 * statistics.stdev([3, 1]) / math.sqrt(2))
    assert totals["asa_s"] == pytest.approx((0 + 30 + 10 + 50) / 4)
    assert totals["asa_s_ci95"] == pytest.approx(t1 * statistics.stdev([40 / 3, 50]) / math.sqrt(2))
    assert totals["service_level"] == pytest.approx(2 / 4)
    assert totals["service_level_ci95"] == pytest.approx(
        t1 * statistics.stdev([2 / 3, 0]) / math.sqrt(2)
    )
    assert totals["max_wait_s"] == 50
    assert [entry["totals"]["answered"] for entry in run.to_dict()["runs"]] == [3, 1]
    agent = run.to_dict()["agents"]["a"]
    assert agent["handled"] == 2
    assert agent["occupancy"] == pytest.approx((100 + 20) / (100 + 50))


def series(intervals: list[dict[str, Any]], waits: dict[int, int]) -> dict[str, Any]:
    counts = [0] * 120
    for index, count in waits.items():
        counts[index] = count
    return {"interval_s": 900.0, "intervals": intervals,
            "wait_histogram": {"bin_s": 5.0, "counts": counts, "overflow": 1}}  # fmt: skip


def interval(
    start_s: float, arrived: int, in_sl: int, answered: int, **rest: Any
) -> dict[str, Any]:
    return {
        "start_s": start_s, "arrived": arrived, "answered": answered, "answered_in_sl": in_sl,
        "abandoned": rest.get("abandoned", 0), "service_level": None,
        "waiting_max": rest.get("waiting_max", 0), "waiting_mean": rest.get("waiting_mean"),
        "observed_s": rest.get("observed_s", 900.0),
    }  # fmt: skip


def test_combine_pools_series_per_interval_and_sums_histograms() -> None:
    """§7 report series over 2 replications: counts are means per interval, service level the
    ratio of sums, waiting_max the largest, waiting_mean weighted by observed time; an interval
    one replication lacks counts as empty there; histograms add bin by bin."""
    first = series(
        [interval(0, 4, 2, 3, abandoned=1, waiting_max=2, waiting_mean=0.5),
         interval(900, 2, 1, 2, waiting_max=1, waiting_mean=0.2, observed_s=300)],
        {0: 3, 4: 1},
    )  # fmt: skip
    second = series([interval(0, 2, 2, 2, waiting_max=5, waiting_mean=1.5)], {0: 1, 7: 2})
    pooled = _kpi_series.pool([first, second, None])
    early, late = pooled["intervals"]
    assert (early["arrived"], early["answered"], early["abandoned"]) == (2, 5 / 3, 1 / 3)
    assert early["service_level"] == pytest.approx(4 / 6)
    assert early["waiting_max"] == 5
    assert early["waiting_mean"] == pytest.approx((0.5 * 900 + 1.5 * 900) / 1800)
    assert late["start_s"] == 900 and late["arrived"] == pytest.approx(2 / 3)
    assert late["waiting_mean"] == pytest.approx(0.2)
    histogram = pooled["wait_histogram"]
    assert histogram["counts"][:8] == [4, 0, 0, 0, 1, 0, 0, 2]
    assert histogram["overflow"] == 2
    assert kpis.combine([replication(8, 6), replication(9, 7)])["series"] == {}


def test_agent_figures_stop_at_the_end_of_the_measured_period() -> None:
    """§8 with ``end_s``: an agent busy 0–150 s counts 100 s of 100, and its later offer is not
    counted; the item still counts in full (aht 150 s)."""
    cfg = configuration.validate(yaml.safe_load(make_config()))
    clock = ManualClock(0.0)
    engine = Engine(cfg, clock=clock, trace=False)
    acc = kpis.KpiAccumulator(cfg, end_s=100)
    item = engine.submit(external_id="c1", workstream="chat")
    clock.set(150)
    engine.close(item.id)
    engine.submit(external_id="c2", workstream="chat")
    acc.feed_all(engine.drain_events())
    result = acc.finish(200).to_dict()
    agent = result["agents"]["a"]
    assert agent["presence_s"] == {"busy_dnd": 100}
    assert (agent["occupancy"], agent["handled"]) == (1, 1)
    assert result["totals"]["aht_s"] == 150
    assert result["totals"]["left_open"] == 0 and result["totals"]["answered"] == 2


def test_a_new_configuration_changes_an_agents_capacity_from_then_on() -> None:
    """R42: capacity 100 units until 50 s, then 200: one 100-unit item held 0–100 s uses
    (100·50 + 100·50) of (100·50 + 200·50) unit-seconds."""
    text = make_config()
    cfg = configuration.validate(yaml.safe_load(text))
    wider = yaml.safe_load(text)
    wider["agents"]["a"] = {"capacity_units": 200}
    run = Run(text)
    item = run.submit(0, "c1")
    run.at(50)
    run.acc.apply_config(configuration.validate(wider), 50)
    run.do(100, "close", item)
    assert cfg.agents["a"].capacity_units == 100
    agent = run.result(100)["agents"]["a"]
    assert agent["utilisation"] == pytest.approx(10_000 / 15_000)


# -- bounded memory --------------------------------------------------------------------------------

COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(
            ["submit", "wait", "accept", "complete", "close", "cancel", "presence", "decline"]
        ),
        st.integers(0, 5),
    ),
    max_size=40,
)
PROPERTY_CONFIG = make_config(
    workstream="{capacity: {units: 50}, offer: {timeout_s: 20}, ttl_s: 300, wrap_up: {block: 10}}",
    main="{overflow: [{when: {waited_s: 60}, action: {transfer: backup}}]}",
    agents="{a: {attributes: {group: g}}, b: {capacity_units: 50}}",
    members="[a, b]",
)


def offered_to(run: Run, item_id: str) -> str:
    return run.engine.offer(run.offer_of(item_id)).agent


def apply(run: Run, t: float, op: str, n: int, names: list[str]) -> None:
    """One random command; a command the engine refuses changes nothing and is skipped."""
    target = names[n % len(names)] if names else ""
    actions: dict[str, Callable[[], object]] = {
        "submit": lambda: names.append(run.submit(t, f"x{len(names)}")),
        "wait": lambda: run.at(t + 25 * n),
        "complete": lambda: run.do(t, "complete", target),
        "close": lambda: run.do(t, "close", target),
        "cancel": lambda: run.do(t, "cancel", target),
        "presence": lambda: run.do(t, "set_presence", "ab"[n % 2], list(BasePresence)[n % 5]),
        "accept": lambda: run.do(t, "accept", run.offer_of(target), agent=offered_to(run, target)),
        "decline": lambda: run.do(
            t, "decline", run.offer_of(target), agent=offered_to(run, target)
        ),
    }
    try:
        actions[op]()
    except (errors.UnirouterError, AssertionError):
        run.pump()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=COMMANDS)
def test_open_item_state_is_dropped_when_every_item_closes(commands: list[tuple[str, int]]) -> None:
    """Memory is bounded: no item state survives its close; agent state stays one per agent."""
    run = Run(PROPERTY_CONFIG, warmup_s=30)
    names: list[str] = []
    t = 0.0
    for op, n in commands:
        t += 1
        apply(run, t, op, n, names)
        t = max(t, run.clock.now())
    for item in list(run.engine.items()):
        if item.state.value != "closed":
            run.do(t, "cancel", item.id, reason=CloseReason.CANCELLED)
    assert run.acc.open_items == 0
    result = run.acc.finish(t + 1)
    assert set(result.agents) == {"a", "b"}
    for agent in result.agents.values():  # no force-assign here, so nothing above capacity (R22)
        assert agent.used_unit_s <= agent.capacity_unit_s + 1e-6
        assert agent.busy_s <= agent.logged_in_s + 1e-6
    totals = result.totals
    ended = (totals.answered, totals.abandoned, totals.short_abandoned, totals.expired)
    assert totals.arrived == sum(ended) + totals.overflow_ended + totals.cancelled
    assert totals.arrived == sum(q.arrived for q in result.queues.values())
