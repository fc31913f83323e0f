"""SPEC §7/§8 conservation: every item that arrives has exactly one outcome, in every scope.

For random small generated scenarios (several queues, patience, time to live, offers that are
declined or expire, pre- and post-queue overflow that transfers, ends or calls back, a warm-up),
the ``--json`` KPIs of the real runner satisfy, per queue, per workstream and in total::

    arrived = answered + abandoned + short_abandoned + expired + overflow_ended + cancelled
              + left_open

and the totals agree with an independent count made from the engine's own event log.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import errors
from unirouter.engine import Event, EventType
from unirouter.sim import runner, scenario

OUTCOMES = (
    "answered",
    "abandoned",
    "short_abandoned",
    "expired",
    "overflow_ended",
    "cancelled",
    "left_open",
)
OVERFLOW_ACTIONS = st.sampled_from(["end", "transfer", "callback"])


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A small generated scenario: 1–3 messaging queues fed by one source each, 1–4 agents."""
    queues = draw(st.integers(1, 3))
    agents = [f"a{n}" for n in range(draw(st.integers(1, 4)))]
    config: dict[str, Any] = {
        "workstreams": {
            "chat": {
                "kind": "messaging",
                "fallback_queue": "q0",
                "capacity": {"units": draw(st.sampled_from([50, 100]))},
                "offer": {"timeout_s": draw(st.integers(5, 60))},
                "route_to_queue": [
                    {"when": f'item.topic == "t{n}"', "queue": f"q{n}"} for n in range(queues)
                ],
            },
            "callbacks": {"kind": "record", "fallback_queue": "cb"},
        },
        "queues": {"cb": {"kind": "record", "members": agents[:1]}},
        "agents": {name: {} for name in agents},
    }
    if draw(st.booleans()):
        config["workstreams"]["chat"]["ttl_s"] = draw(st.integers(30, 600))
    for n in range(queues):
        members = draw(st.lists(st.sampled_from(agents), min_size=1, unique=True))
        queue: dict[str, Any] = {"kind": "messaging", "members": sorted(members)}
        queue["overflow"] = draw(st.lists(overflow_rules(queues, n), max_size=2))
        queue["short_abandon_s"] = draw(st.sampled_from([0, 5, 30]))
        config["queues"][f"q{n}"] = queue
    arrivals = [
        {
            "workstream": "chat",
            "rate": f"{draw(st.integers(10, 90))}/h",
            "attributes": {"topic": f"t{n}"},
            "handle_time": {"dist": "exponential", "mean_s": draw(st.integers(30, 400))},
            **patience(draw),
            "wrap_up_s": draw(st.sampled_from([0, 20])),
        }
        for n in range(queues)
    ]
    response = draw(st.integers(0, 40))
    return {
        "config": config,
        "duration": f"{draw(st.integers(20, 60))}m",
        "warmup": f"{draw(st.sampled_from([0, 5, 15]))}m",
        "seed": draw(st.integers(0, 2**31)),
        "agent_behaviour": {
            "accept": draw(st.sampled_from([0.6, 0.9, 1.0])),
            "response_s": response,
        },
        "arrivals": arrivals,
    }


def patience(draw: st.DrawFn) -> dict[str, Any]:
    if not draw(st.booleans()):
        return {}
    return {"patience": {"dist": "exponential", "mean_s": draw(st.integers(10, 300))}}


@st.composite
def overflow_rules(draw: st.DrawFn, queues: int, own: int) -> dict[str, Any]:
    """A pre-queue ``max_waiting`` or post-queue ``waited_s`` rule; transfers go to any other queue.

    Post-queue transfers that form a cycle (q0 → q1 → q0 by ``waited_s``) are drawn too: validation
    must refuse them (R13, R41), since an item nobody takes would circulate for ever."""
    action = draw(OVERFLOW_ACTIONS)
    others = [n for n in range(queues) if n != own]
    if action == "transfer" and not others:
        action = "end"
    when: dict[str, int] = (
        {"max_waiting": draw(st.integers(0, 3))}
        if draw(st.booleans())
        else {"waited_s": draw(st.integers(5, 120))}
    )
    if action == "transfer":
        return {"when": when, "action": {"transfer": f"q{draw(st.sampled_from(others))}"}}
    if action == "callback":
        return {"when": when, "action": {"callback": "cb"}}
    return {"when": when, "action": "end"}


def has_post_queue_cycle(config: dict[str, Any]) -> bool:
    """Whether ``waited_s`` transfers lead some queue back to itself (found here independently)."""
    moves = {
        name: {r["action"]["transfer"] for r in queue.get("overflow", [])
               if "waited_s" in r["when"] and isinstance(r["action"], dict)
               and "transfer" in r["action"]}
        for name, queue in config["queues"].items()
    }  # fmt: skip

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(moves[start])
        while todo:
            queue = todo.pop()
            if queue not in seen:
                seen.add(queue)
                todo.extend(moves[queue])
        return seen

    return any(name in reachable(name) for name in moves)


def run(data: dict[str, Any]) -> tuple[dict[str, Any], list[Event]]:
    log: list[Event] = []
    result = runner.run(scenario.parse(data), listeners=[log.append])
    return result.to_dict(), log


def assert_conserved(name: str, kpis: dict[str, Any]) -> None:
    outcomes = {key: kpis[key] for key in OUTCOMES}
    assert kpis["arrived"] == sum(outcomes.values()), (name, kpis["arrived"], outcomes)


def outcomes_from_events(log: list[Event], warmup_s: float) -> Counter[str]:
    """What the event log says happened to the items created from ``warmup_s`` on."""
    counted = {e.item for e in log if e.type is EventType.ITEM_CREATED and e.t >= warmup_s}
    answered = {e.item for e in log if e.type is EventType.ITEM_ASSIGNED and e.item in counted}
    tally: Counter[str] = Counter(arrived=len(counted), answered=len(answered))
    closed = set()
    for event in log:
        if event.type is EventType.ITEM_CLOSED and event.item in counted:
            closed.add(event.item)
            if event.item not in answered:
                tally[str(event.data["reason"])] += 1
        moving = event.data.get("action") in ("transfer", "end", "callback")
        if event.type is EventType.ITEM_OVERFLOWED and event.item in counted and moving:
            tally["overflowed"] += 1
    tally["left_open"] = len(counted - closed - answered)
    return tally


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=scenarios())
def test_every_arrived_item_has_exactly_one_outcome_in_every_scope(data: dict[str, Any]) -> None:
    """SPEC §8: arrived = answered + abandoned + short + expired + overflow-ended (+ open), per
    queue, per workstream and in total; the scopes add up to the totals. A drawn configuration
    whose waited_s transfers form a cycle is refused instead (R13, R41)."""
    if has_post_queue_cycle(data["config"]):
        with pytest.raises(errors.UnirouterError, match="cycle"):
            scenario.parse(data)
        return
    out, log = run(data)
    totals = out["totals"]
    assert_conserved("totals", totals)
    for family in ("queues", "workstreams"):
        for name, kpis in out[family].items():
            assert_conserved(f"{family}.{name}", kpis)
        for key in ("arrived", *OUTCOMES, "overflowed"):
            assert sum(k[key] for k in out[family].values()) == totals[key], (family, key)
    expected = outcomes_from_events(log, out["warmup_s"])
    assert totals["arrived"] == expected["arrived"]
    assert totals["answered"] == expected["answered"]
    assert totals["abandoned"] + totals["short_abandoned"] == expected["abandoned"]
    assert totals["expired"] == expected["expired"]
    assert totals["overflow_ended"] == expected["overflow_ended"]
    assert totals["left_open"] == expected["left_open"]
    assert totals["overflowed"] == expected["overflowed"]
