"""SPEC §8 per interval (issue 13 item 4): the KPI accumulator's buckets, read through the log fold,
add up to the KPIs of the same events read as one run, whatever the intervals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter.analytics import fold, windows
from unirouter.engine import Event
from unirouter.server import commands
from unirouter.sim import runner, scenario

DAY = """
config:
  workstreams:
    chat: {kind: messaging, fallback_queue: q, capacity: {units: 100}, offer: {auto_accept: true}}
    mail: {kind: record, fallback_queue: m, capacity: {units: 50}}
  queues:
    q: {kind: messaging, members: [a, b], service_level_s: 20, short_abandon_s: 5}
    m: {kind: record, members: [b, c]}
  agents:
    a: {attributes: {group: g1}}
    b: {attributes: {group: g1}}
    c: {attributes: {group: g2}}
duration: 3h
seed: SEED
arrivals:
  - {workstream: chat, rate: 40/h, handle_time: {dist: exponential, mean_s: 240},
     patience: {dist: exponential, mean_s: 200}}
  - {workstream: mail, rate: 10/h, handle_time: {dist: exponential, mean_s: 400}, wrap_up_s: 30}
shifts:
  - {agents: [a], from: 0h, to: 2h}
  - {agents: [b, c], from: 30m}
"""

#: Where the simulated day starts in Unix time (on the grid, as any 15-minute boundary).
EPOCH = 1_796_000_400.0


def _day(seed: int, until: float = float("inf")) -> tuple[fold.LogFold, Any, float]:
    """A simulated day (its events before ``until``) folded as the server folds its log, and
    the run's own KPIs."""
    events: list[Event] = []
    day = scenario.parse(__import__("yaml").safe_load(DAY.replace("SEED", str(seed))))
    result = runner.run(day, listeners=[events.append])
    log = fold.LogFold()
    log.command({"op": "init", "t": EPOCH, "args": {"config": commands.config_json(day.config)}})
    for event in (e for e in events if e.t < until):
        log.event({**event.to_dict(), "t": event.t + EPOCH})
    return log, result.to_dict(), EPOCH + result.end_s


def _counts(kpis: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kpis.items() if not k.endswith("_s") and k not in ("p_wait",)}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), by=st.sampled_from(["15m", "30m", "1h", "1d"]))
def test_intervals_add_up_to_the_run_kpis(seed: int, by: str) -> None:
    """Item counts per interval sum to the run's (items by arrival), agent figures too (by time)."""
    log, run, end = _day(seed)
    span = log.window(None, EPOCH + 3 * 3600, by, end)  # agents: the measured day, as the run
    queues, agents = log.queues(span, end), log.agents(span, end)
    assert _counts(queues["totals"]) == _counts(run["totals"])
    for name, kpis in run["queues"].items():
        assert _counts(queues["queues"][name]) == _counts(kpis)
    summed = sum(part["totals"]["arrived"] for part in queues["intervals"])
    assert summed == run["totals"]["arrived"]
    for name, kpis in run["agents"].items():
        mine = agents["agents"][name]
        assert mine["handled"] == kpis["handled"]
        assert mine["occupancy"] == pytest.approx(kpis["occupancy"], rel=1e-6)
        for presence, seconds in kpis["presence_s"].items():
            assert mine["presence_s"][presence] == pytest.approx(seconds, abs=1e-3)
    for group in ("g1", "g2"):
        assert agents["groups"][group]["handled"] == run["groups"][group]["handled"]
    each = sum(sum(p["agents"].get("a", {}).get("presence_s", {}).values())
               for p in agents["intervals"])  # fmt: skip
    assert each == pytest.approx(3 * 3600, abs=1e-3)


def test_an_item_counts_in_the_interval_it_arrived_in() -> None:
    """Items by arrival: every interval's arrived = answered + abandoned + … + left_open."""
    log, _run, end = _day(3)
    span = log.window(None, end, "15m", end)
    outcomes = ("answered", "abandoned", "short_abandoned", "expired", "overflow_ended",
                "cancelled", "left_open")  # fmt: skip
    for part in log.queues(span, end)["intervals"]:
        totals = part["totals"]
        assert totals["arrived"] == sum(totals[k] for k in outcomes)
    assert log.queues(span, end)["intervals"][0]["from"] == EPOCH


def test_a_report_read_mid_interval_integrates_agents_up_to_now() -> None:
    """The interval still running shows agent time up to the time of reading, not beyond."""
    log, _run, _end = _day(5, until=600)
    now = EPOCH + 600
    span = log.window(None, None, "15m", now)
    first = log.agents(span, now)["intervals"][0]["agents"]["a"]["presence_s"]
    assert sum(first.values()) == pytest.approx(600)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1796000400", 1796000400.0), ("2026-12-01T10:00:00Z", 1796119200.0),
     ("2026-12-01T11:00:00+01:00", 1796119200.0), ("2026-12-01T10:00:00", 1796119200.0),
     ("2026-12-01", 1796083200.0)],
)  # fmt: skip
def test_report_times_are_unix_seconds_or_iso_8601(text: str, seconds: float) -> None:
    """docs/api.md: Unix seconds or ISO 8601 (UTC without a zone)."""
    assert windows.parse_time(text, "from") == seconds


def test_a_window_with_too_many_intervals_is_refused_naming_by() -> None:
    """SPEC §10: a window of more than MAX_INTERVALS intervals is refused, field ``by``."""
    with pytest.raises(windows.InvalidWindow) as caught:
        windows.window(0.0, 1e10, "15m", first=0.0, now=1e10)
    assert caught.value.field == "by"


def test_days_follow_the_zone_of_from() -> None:
    """by=1d from a local midnight gives that zone's days."""
    start = windows.parse_time("2026-12-01T00:00:00+01:00", "from")
    span = windows.window(start, start + 3 * 86400, "1d", first=0.0, now=2e9)
    assert span.start == start and span.step == 86400


def test_pooling_tallies_adds_every_field() -> None:
    """Tally.add and AgentTotals.add are spelled out for speed: none of their fields is left out."""
    from dataclasses import fields

    from unirouter.analytics._kpi_tally import AgentTotals, Tally

    for make in (Tally, AgentTotals):
        one = make()
        for number, f in enumerate(fields(one), start=1):
            value = {"presence_s": {"available": 1.0}}.get(f.name, number)
            setattr(one, f.name, value)
        total = make()
        total.add(one)
        total.add(one)
        for f in fields(one):
            if f.name == "max_wait_s":
                assert total.max_wait_s == one.max_wait_s
            elif f.name == "presence_s":
                assert total.presence_s == {"available": 2.0}
            else:
                assert getattr(total, f.name) == 2 * getattr(one, f.name), f.name


def _approx(report: Any) -> Any:
    """A report with every float rounded: roll-ups add the same figures in another grouping."""
    if isinstance(report, dict):
        return {key: _approx(value) for key, value in report.items()}
    if isinstance(report, list):
        return [_approx(value) for value in report]
    return round(report, 6) if isinstance(report, float) else report


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    until_q=st.integers(1, 4 * 8),  # the log so far: up to 8 hours, in quarters
    read_q=st.integers(0, 4 * 30),  # read this many quarters after it (a quiet night)
    from_q=st.integers(-8, 4 * 6),
    length_q=st.integers(1, 4 * 40),
    by=st.sampled_from([None, "15m", "30m", "1h", "2h", "1d"]),
)
def test_reports_read_from_roll_ups_equal_the_quarters_summed(
    seed: int, until_q: int, read_q: int, from_q: int, length_q: int, by: str | None
) -> None:
    """Hour and day roll-ups, the fewest buckets tiling each interval, and the agent time since
    the last event taken as one difference per interval: the same reports as the 15-minute
    buckets alone, for any window, interval length and time of reading."""
    events: list[Event] = []
    day = scenario.parse(__import__("yaml").safe_load(DAY.replace("SEED", str(seed))))
    runner.run(day, listeners=[events.append])
    until = until_q * 900.0
    folds = fold.LogFold(), fold.LogFold(rollups=())
    for log in folds:
        init = {"op": "init", "t": EPOCH, "args": {"config": commands.config_json(day.config)}}
        log.command(init)
        for event in (e for e in events if e.t < until):
            log.event({**event.to_dict(), "t": event.t + EPOCH})
    now = EPOCH + until + read_q * 900.0
    start = EPOCH + from_q * 900.0
    rolled, quarters = (
        (log.queues(span, now), log.agents(span, now))
        for log in folds
        for span in [log.window(start, start + length_q * 900.0, by, now)]
    )
    assert _approx(rolled) == _approx(quarters)
