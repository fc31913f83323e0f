"""Generated traffic in the scenario runner (SPEC §7): arrivals, handle times, patience, shifts,
busyness and replications, all through the one runner loop over the real engine.

Statistical tolerances: a Poisson count with mean m has standard deviation sqrt(m); counts are
checked within 4 standard deviations (a false alarm about once in 16,000 runs per check), and
proportions and means within 4 of their standard errors. Seeds are fixed, so the tests are also
deterministic regressions.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from unirouter.engine import Event
from unirouter.sim import results, runner, scenario

AGENTS = [f"a{n}" for n in range(10)]


def config(**workstream: Any) -> dict[str, Any]:
    """One messaging workstream ``chat`` into queue ``q`` (French into ``fr``), ten agents."""
    return {
        "workstreams": {
            "chat": {
                "kind": "messaging",
                "fallback_queue": "q",
                "route_to_queue": [{"when": 'item.language == "fr"', "queue": "fr"}],
                **workstream,
            }
        },
        "queues": {
            "q": {"kind": "messaging", "members": AGENTS},
            "fr": {"kind": "messaging", "members": AGENTS},
        },
        "agents": {name: {} for name in AGENTS},
    }


def arrival(**fields: Any) -> dict[str, Any]:
    return {
        "workstream": "chat",
        "rate": "120/h",
        "handle_time": {"dist": "constant", "value_s": 1},
        **fields,
    }


def make(**top: Any) -> scenario.Scenario:
    data = {"config": config(), "duration": "10h", "seed": 3, "arrivals": [arrival()], **top}
    return scenario.parse(data)


def run(sc: scenario.Scenario, **options: Any) -> tuple[results.RunResult, list[Event]]:
    """The result and every engine event of a run."""
    log: list[Event] = []
    return runner.run(sc, listeners=[log.append], **options), log


def of(log: list[Event], kind: str) -> list[Event]:
    return [event for event in log if event.type.value == kind]


def within(count: float, mean: float, sd: float) -> bool:
    return abs(count - mean) <= 4 * sd


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arrivals_over_a_long_run_match_the_poisson_rate(seed: int) -> None:
    """SPEC §7: `rate: 120/h` for 50 h gives 6,000 arrivals on average, within 4 sqrt(6000)."""
    result, log = run(make(duration="50h", seed=seed))
    created = of(log, "item_created")
    assert result.arrivals_generated == len(created)
    assert within(len(created), 6000, math.sqrt(6000))
    assert all(event.t < 50 * 3600 for event in created)


def test_arrivals_stop_at_duration_and_the_run_drains() -> None:
    """SPEC §7: no arrival after `duration`; the run goes on until every item has left."""
    result, log = run(
        make(duration="1h", arrivals=[arrival(handle_time={"dist": "constant", "value_s": 600})])
    )
    assert max(event.t for event in of(log, "item_created")) < 3600
    assert len(of(log, "item_closed")) == len(of(log, "item_created"))
    assert result.end_s > 3600
    assert result.runs[0].left_open == 0


def test_piecewise_rates_give_each_piece_its_own_count() -> None:
    """SPEC §7: a list of {from, to, rate} pieces; the rate is zero outside them."""
    pieces = [
        {"from": "0h", "to": "10h", "rate": "360/h"},
        {"from": "12h", "to": "22h", "rate": "36/h"},
    ]
    _, log = run(make(duration="24h", arrivals=[arrival(rate=pieces)]))
    times = [event.t for event in of(log, "item_created")]
    first = sum(t < 10 * 3600 for t in times)
    gap = sum(10 * 3600 <= t < 12 * 3600 for t in times)
    second = sum(12 * 3600 <= t < 22 * 3600 for t in times)
    assert within(first, 3600, math.sqrt(3600))
    assert gap == 0
    assert within(second, 360, math.sqrt(360))
    assert all(t < 22 * 3600 for t in times)


def test_from_and_to_bound_a_plain_rate() -> None:
    """SPEC §7: `from`/`to` on an arrival bound its plain rate."""
    _, log = run(make(arrivals=[arrival(rate="600/h", **{"from": "2h", "to": "3h"})]))
    times = [event.t for event in of(log, "item_created")]
    assert times and all(2 * 3600 <= t < 3 * 3600 for t in times)
    assert within(len(times), 600, math.sqrt(600))


def test_attribute_values_are_drawn_in_their_proportions() -> None:
    """SPEC §7: `{fr: 0.3, en: 0.7}` sends 30 % of the items with language fr (4 standard errors)."""
    attributes = {"language": {"fr": 0.3, "en": 0.7}, "topic": "billing"}
    _, log = run(make(duration="30h", arrivals=[arrival(attributes=attributes)]))
    routed = Counter(event.queue for event in of(log, "item_routed"))
    n = sum(routed.values())
    share = routed["fr"] / n
    assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / n)


def test_a_fixed_attribute_reaches_the_engine() -> None:
    """SPEC §7: a plain attribute value is set on every item (routing reads it)."""
    _, log = run(make(duration="1h", arrivals=[arrival(attributes={"language": "fr"})]))
    assert {event.queue for event in of(log, "item_routed")} == {"fr"}


def test_customers_out_of_patience_abandon_while_waiting() -> None:
    """SPEC §7, R40: past its patience a waiting item is cancelled with reason abandoned."""
    sc = make(
        duration="2h",
        arrivals=[
            arrival(
                rate="600/h",
                handle_time={"dist": "constant", "value_s": 300},
                patience={"dist": "constant", "value_s": 60},
            )
        ],
    )
    _, log = run(sc)
    created = {event.item: event.t for event in of(log, "item_created")}
    assigned = {event.item for event in of(log, "item_assigned")}
    abandoned = [event for event in of(log, "item_closed") if event.data["reason"] == "abandoned"]
    assert abandoned
    assert all(event.t == pytest.approx(created[event.item] + 60) for event in abandoned)
    assert not assigned & {event.item for event in abandoned}  # answered items never abandon
    assert len(of(log, "item_closed")) == len(created)


def test_handle_times_follow_their_distribution() -> None:
    """SPEC §7: assigned to wrap-up lasts the drawn handle time (mean 180 s, 4 standard errors);
    wrap-up to closed lasts `wrap_up_s`."""
    handle = {"dist": "exponential", "mean_s": 180}
    _, log = run(make(duration="40h", arrivals=[arrival(handle_time=handle, wrap_up_s=30)]))
    assigned = {event.item: event.t for event in of(log, "item_assigned")}
    wrap = {event.item: event.t for event in of(log, "item_wrap_up")}
    closed = {event.item: event.t for event in of(log, "item_closed")}
    handled = [wrap[item] - assigned[item] for item in wrap]
    n = len(handled)
    assert n > 4000
    assert abs(sum(handled) / n - 180) <= 4 * 180 / math.sqrt(n)
    assert all(closed[item] - wrap[item] == pytest.approx(30) for item in wrap)


def test_agents_are_offline_outside_their_shifts_and_finish_what_they_hold() -> None:
    """SPEC §7: outside its shift an agent is offline and takes no new work; at the shift's end
    it finishes what it holds."""
    shifts = [{"agents": ["a0"], "from": "1h", "to": "2h"}, {"agents": AGENTS[1:], "to": "1h"}]
    work = {"dist": "constant", "value_s": 1000}
    patience = {"dist": "constant", "value_s": 1800}
    sc = make(
        duration="3h",
        shifts=shifts,
        arrivals=[arrival(rate="60/h", handle_time=work, patience=patience)],
    )
    _, log = run(sc)
    changes = [e for e in of(log, "presence_changed") if e.agent == "a0" and e.data["manual"]]
    presence = [(e.t, e.data["presence"].value) for e in changes]
    assert presence == [(0.0, "offline"), (3600.0, "available"), (7200.0, "offline")]
    assigned = of(log, "item_assigned")
    mine = [event for event in assigned if event.agent == "a0"]
    assert mine and all(3600 <= event.t < 7200 for event in mine)
    assert all(event.t < 3600 for event in assigned if event.agent != "a0")
    held = {event.item for event in mine}
    finished = [e for e in of(log, "item_closed") if e.item in held]
    assert {e.data["reason"] for e in finished} == {"completed"} and len(finished) == len(held)
    assert any(event.t > 7200 for event in finished)  # held work outlives the shift


def test_busyness_draws_one_factor_per_replication_that_scales_the_counts() -> None:
    """SPEC §7: each replication's busyness factor multiplies every rate."""
    busy = {"dist": "gamma", "shape": 4, "scale": 0.25}
    result, _ = run(make(duration="20h", replications=4, busyness=busy))
    factors = [run.busyness for run in result.runs]
    assert len(set(factors)) == 4
    for one in result.runs:
        mean = 2400 * one.busyness
        assert within(one.arrivals_generated, mean, math.sqrt(mean))
    assert result.arrivals_generated == sum(one.arrivals_generated for one in result.runs)


def test_replications_are_independent_and_reproducible() -> None:
    """SPEC §7: R replications are independent runs on fresh engines, derived from the seed."""
    sc = make(duration="5h", replications=3)
    first, log = run(sc)
    again, log_again = run(sc)
    assert first.to_dict() == again.to_dict()
    assert [e.to_dict() for e in log] == [e.to_dict() for e in log_again]
    seeds = [one.seed for one in first.runs]
    assert seeds[0] == 3 and len(set(seeds)) == 3
    assert len({one.arrivals_generated for one in first.runs}) > 1
    single, _ = run(make(duration="5h"))
    assert single.runs[0].counts == first.runs[0].counts  # replication 0 is the seed's own run
    assert first.to_dict()["replications"] == 3


def test_adding_patience_does_not_move_the_arrivals() -> None:
    """Each purpose draws from its own stream: a new draw elsewhere leaves arrival times alone."""
    plain = make(duration="3h")
    patient = make(duration="3h", arrivals=[arrival(patience={"dist": "exponential", "mean_s": 9})])
    times = [[e.t for e in of(run(sc)[1], "item_created")] for sc in (plain, patient)]
    assert times[0] == times[1]


def test_the_same_file_and_seed_give_byte_identical_events(tmp_path: Path) -> None:
    """SPEC §7: `--events` is the same bytes for the same scenario and seed, whatever the hash seed."""
    data = {
        "config": config(),
        "duration": "3h",
        "seed": 11,
        "replications": 2,
        "busyness": {"dist": "gamma", "shape": 9, "scale": 0.11},
        "agent_behaviour": {"accept": 0.8, "response_s": {"dist": "exponential", "mean_s": 5}},
        "arrivals": [
            arrival(
                attributes={"language": {"fr": 0.5, "en": 0.5}},
                handle_time={"dist": "lognormal", "mean_s": 200, "sd_s": 100},
                patience={"dist": "exponential", "mean_s": 120},
                wrap_up_s={"dist": "exponential", "mean_s": 10},
            )
        ],
    }
    file = tmp_path / "day.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"events-{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        code = "from unirouter.cli import main; main()"
        command = [
            sys.executable,
            "-c",
            code,
            "simulate",
            str(file),
            "--json",
            "--events",
            str(out),
        ]
        subprocess.run(command, check=True, env=env, capture_output=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b'"item_created"') > 100


def test_runner_state_stays_bounded_over_a_long_run() -> None:
    """Memory: per-item runner state lives only while an item is open; the result and the
    engine keep nothing per generated item beyond a bounded window."""
    sc = make(
        duration="40h",
        arrivals=[arrival(rate="600/h", patience={"dist": "exponential", "mean_s": 60})],
    )
    one = runner._Run(sc, 3, trace=False, explain=False, observers=[])
    result = one.run()
    assert result.arrivals_generated > 2 * runner.RETAIN_CLOSED
    assert not one.open and not one.generation and not one.offers and not one.waiting
    assert not one.names and not one.ids and not one.closed
    assert len(one.agenda) == 0
    assert sum(1 for _ in one.engine.items()) <= runner.RETAIN_CLOSED
    assert result.items == {}


def test_scripted_events_mix_with_generated_arrivals() -> None:
    """SPEC §7: scripted items and presences run beside generated traffic; only scripted items
    are listed with their final state."""
    events = [
        {"at": "0s", "agent": "a0", "presence": "away"},
        {"at": "30m", "item": {"id": "w1", "workstream": "chat", "handle_s": 60}},
        {"at": "40m", "cancel": "w1"},
    ]
    result, log = run(make(duration="2h", events=events))
    assert set(result.items) == {"w1"}
    assert result.items["w1"].state == "closed" and result.items["w1"].close_reason == "completed"
    assert [r.to_dict()["action"] for r in result.errors] == [{"cancel": "w1"}]
    assert not [e for e in of(log, "item_assigned") if e.agent == "a0"]
    names = {e.data["external_id"] for e in of(log, "item_created")}
    assert "w1" in names and "gen-chat-1" in names
    per_agent = defaultdict(int)
    for event in of(log, "item_assigned"):
        per_agent[event.agent] += 1
    assert sum(per_agent.values()) == len(names)
    assert result.to_dict()["arrivals_generated"] == len(names) - 1
