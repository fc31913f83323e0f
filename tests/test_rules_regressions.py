"""Defects found by an independent audit of the routing rules, each pinned by the rule it broke.

Every test here failed before its fix. They drive the real engine on a manual clock, as the other
rule tests do; each docstring names the rule (SPEC §3) it holds the engine to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from unirouter import config as configuration
from unirouter import errors
from unirouter.config.model import BasePresence, SkillReq
from unirouter.engine.state import ItemState

Rigger = Callable[..., Any]

AVAILABLE, OFFLINE = BasePresence.AVAILABLE, BasePresence.OFFLINE


def parse_config(data: dict[str, Any]) -> Any:
    return configuration.validate(yaml.safe_load(yaml.safe_dump(data)))


def entries(item: Any, stage: str) -> list[dict[str, Any]]:
    return [entry for entry in item.trace if entry["stage"] == stage]


def one_queue(agents: dict[str, Any], **queue: Any) -> dict[str, Any]:
    """Workstream ``chat`` into queue ``q`` whose members are ``agents``; ``queue`` adds keys."""
    return {
        "skills": {"french": {"levels": 10}},
        "capacity_profiles": {"chat": {"limit": 3}, "email": {"limit": 5}},
        "workstreams": {
            "chat": {"kind": "messaging", "offer": {"timeout_s": 30}, "fallback_queue": "q"}
        },
        "queues": {"q": {"kind": "messaging", "members": list(agents), **queue}},
        "agents": agents,
    }


# -- B8: R43 trace reasons ----------------------------------------------------------------------------


def test_r43_an_agent_lacking_the_items_profile_is_excluded_for_profile_not_skill(
    rig: Rigger,
) -> None:
    """R43: a member without the item's capacity profile is counted under ``profile``, not ``skill``."""
    agents = {"ann": {"profiles": ["chat", "email"]}, "bob": {"profiles": ["chat"]}}
    r = rig(yaml.safe_dump(one_queue(agents)))
    item = r.engine.submit(external_id="x", workstream="chat", profiles=["email"])
    [entry] = entries(item, "assign")
    assert entry["winner"] == "ann"
    assert entry["excluded"]["profile"]["count"] == 1
    assert "skill" not in entry["excluded"]


def test_r43_a_skill_shortfall_is_still_a_skill_exclusion(rig: Rigger) -> None:
    """R43: an agent with the profile but without the skill stays a ``skill`` exclusion."""
    agents = {"ann": {"skills": {"french": 5}}, "bob": {}}
    r = rig(yaml.safe_dump(one_queue(agents)))
    item = r.engine.submit(
        external_id="x", workstream="chat", skills=[SkillReq(name="french", level=3)]
    )
    [entry] = entries(item, "assign")
    assert entry["excluded"]["skill"]["count"] == 1
    assert "profile" not in entry["excluded"]


def test_r43_a_preferred_agent_lacking_the_profile_is_a_profile_exclusion(rig: Rigger) -> None:
    """R43, R30: a preferred agent (fallback ``wait``) lacking the profile is named under ``profile``."""
    agents = {"ann": {"profiles": ["chat", "email"]}, "bob": {"profiles": ["chat"]}}
    data = one_queue(agents)
    data["workstreams"]["chat"]["preferred"] = {"fallback": "wait"}
    r = rig(yaml.safe_dump(data))
    item = r.engine.submit(
        external_id="x", workstream="chat", profiles=["email"], preferred_agents=["bob"]
    )
    first = entries(item, "assign")[0]
    assert first["excluded"]["profile"] == {"count": 1, "agents": ["bob"]}


def test_r28_a_pick_without_the_items_profile_is_refused_for_profile(rig: Rigger) -> None:
    """R28, R43: a pick refused because the agent lacks the item's profile says ``profile``."""
    agents = {"ann": {"profiles": ["chat"]}}
    data = one_queue(agents)
    data["workstreams"]["chat"]["mode"] = "pick"
    r = rig(yaml.safe_dump(data))
    item = r.engine.submit(external_id="x", workstream="chat", profiles=["email"])
    with pytest.raises(errors.NotEligible) as refused:
        r.engine.pick(item.id, agent="ann")
    assert refused.value.fields["reason"] == "profile"


# -- B3: R7, R25 changes made while an item is offered -----------------------------------------------


def test_r7_a_priority_change_during_an_offer_holds_after_the_decline(rig: Rigger) -> None:
    """R7, R25: raised while offered, the item returns to the place of its new priority."""
    agents = {"ann": {}, "bob": {"default_presence": "offline"}}
    r = rig(yaml.safe_dump(one_queue(agents)))
    x = r.engine.submit(external_id="x", workstream="chat")
    r.engine.set_presence("ann", BasePresence.AWAY)
    r.engine.submit(external_id="y", workstream="chat", priority=5)
    r.engine.update_item(x.id, priority=10)
    r.engine.decline(r.last_offer(x.id).offer, agent="ann")
    assert [i.external_id for i in r.engine.waiting_items("q")] == ["x", "y"]
    r.engine.set_presence("bob", AVAILABLE)
    assert r.last_offer(x.id).agent == "bob"


def test_r7_an_attribute_change_during_an_offer_holds_after_expiry(rig: Rigger) -> None:
    """R7, R25: an attribute that moves the item into bucket 1 while offered holds after expiry."""
    agents = {"ann": {}, "bob": {"default_presence": "offline"}}
    prioritise = [{"when": "item.vip == true", "order_by": []}]
    r = rig(yaml.safe_dump(one_queue(agents, prioritization=prioritise)))
    x = r.engine.submit(external_id="x", workstream="chat")
    r.engine.submit(external_id="y", workstream="chat", priority=5)
    r.engine.update_item(x.id, attributes={"vip": True})
    r.engine.set_presence("ann", OFFLINE)  # the offer stays open until it expires
    r.at(31)
    assert [i.external_id for i in r.engine.waiting_items("q")] == ["x", "y"]


# -- B5: R4, R42 split counters across configuration applies -------------------------------------------


def split_data(weights: dict[str, int]) -> dict[str, Any]:
    """Every item of ``chat`` matches one split rule over ``weights``; the queues have no members."""
    data = one_queue({"ann": {}})
    data["queues"].update({name: {"kind": "messaging"} for name in weights})
    data["workstreams"]["chat"]["route_to_queue"] = [{"when": "true", "split": weights}]
    return data


def test_r4_an_unchanged_split_keeps_its_sequence_across_applies(rig: Rigger) -> None:
    """R4, R42: a 50/50 split re-applied between items still gives 10 / 10 after 20 items."""
    data = split_data({"left": 50, "right": 50})
    r = rig(yaml.safe_dump(data))
    routed = []
    for n in range(20):
        r.engine.apply_config(parse_config(data))
        routed.append(r.engine.submit(external_id=f"c{n}", workstream="chat").queue)
    assert (routed.count("left"), routed.count("right")) == (10, 10)


def test_r4_a_split_whose_shares_change_starts_its_new_sequence(rig: Rigger) -> None:
    """R4, R42: a split given new shares is a new split: it is exact over the items after it."""
    r = rig(yaml.safe_dump(split_data({"left": 50, "right": 50})))
    for n in range(3):
        r.engine.submit(external_id=f"a{n}", workstream="chat")
    r.engine.apply_config(parse_config(split_data({"left": 20, "right": 80})))
    routed = [r.engine.submit(external_id=f"b{n}", workstream="chat").queue for n in range(10)]
    assert (routed.count("left"), routed.count("right")) == (2, 8)


# -- B2: R29, R42 affinity across configuration applies -----------------------------------------------


def affinity_data(members: list[str], agents: list[str]) -> dict[str, Any]:
    """Auto-accepted chats of 100 units with affinity: every agent holds one at a time."""
    data = one_queue({name: {} for name in agents})
    data["queues"]["q"]["members"] = members
    data["workstreams"]["chat"].update(
        {"offer": {"auto_accept": True}, "affinity": {"enabled": True, "grace_s": 150}}
    )
    return data


def returning_to_ann(r: Any) -> Any:
    """A conversation ann parked that resumed while she is away: it waits for her (R29)."""
    item = r.engine.submit(external_id="x", workstream="chat")
    r.engine.set_presence("ben", BasePresence.AWAY)
    assert item.agent == "ann"
    r.engine.park(item.id)
    r.engine.set_presence("ann", BasePresence.AWAY)
    r.engine.set_presence("ben", AVAILABLE)
    r.engine.resume(item.id)
    assert (item.state, item.affinity_agent) == (ItemState.QUEUED, "ann")
    return item


def test_r29_an_apply_removing_the_last_agent_from_the_queue_routes_normally(rig: Rigger) -> None:
    """R29, R42: the last agent taken out of the queue: the returning conversation goes to ben."""
    r = rig(yaml.safe_dump(affinity_data(["ann", "ben"], ["ann", "ben"])))
    item = returning_to_ann(r)
    r.engine.apply_config(parse_config(affinity_data(["ben"], ["ann", "ben"])))
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ben")


def test_r29_an_apply_removing_the_last_agent_altogether_routes_normally(rig: Rigger) -> None:
    """R29, R42: the last agent removed from the configuration: the conversation goes to ben."""
    r = rig(yaml.safe_dump(affinity_data(["ann", "ben"], ["ann", "ben"])))
    item = returning_to_ann(r)
    r.engine.apply_config(parse_config(affinity_data(["ben"], ["ben"])))
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ben")


def test_r29_an_apply_leaving_the_last_agent_unqualified_routes_normally(rig: Rigger) -> None:
    """R29, R42: the last agent stripped of the item's profile: the conversation goes to ben."""
    data = affinity_data(["ann", "ben"], ["ann", "ben"])
    for agent in data["agents"].values():
        agent["profiles"] = ["chat"]
    data["workstreams"]["chat"]["capacity"] = {"units": 100, "profiles": ["chat"]}
    r = rig(yaml.safe_dump(data))
    item = returning_to_ann(r)
    data["agents"]["ann"]["profiles"] = ["email"]
    r.engine.apply_config(parse_config(data))
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ben")


def test_r29_an_apply_keeping_the_last_agent_keeps_the_affinity(rig: Rigger) -> None:
    """R29, R42: an apply that changes nothing for the last agent leaves the item waiting for her."""
    data = affinity_data(["ann", "ben"], ["ann", "ben"])
    r = rig(yaml.safe_dump(data))
    item = returning_to_ann(r)
    r.engine.apply_config(parse_config(data))
    assert (item.state, item.affinity_agent) == (ItemState.QUEUED, "ann")


# -- B1: R12 full agents are staffing, not absent -----------------------------------------------------


def calls_data(overflow: list[dict[str, Any]], *, units: int = 100, agents: int = 3) -> Any:
    """Auto-accepted voice calls of ``units`` into queue ``q`` with ``overflow``; ``backup`` waits."""
    names = [f"a{n}" for n in range(agents)]
    data = {
        "workstreams": {
            "calls": {
                "kind": "voice",
                "offer": {"auto_accept": True},
                "capacity": {"units": units},
                "fallback_queue": "backup",
                "route_to_queue": [{"when": "true", "queue": "q"}],
            }
        },
        "queues": {
            "q": {"kind": "voice", "members": names, "overflow": overflow},
            "backup": {"kind": "voice"},
        },
        "agents": {name: {} for name in names},
    }
    return yaml.safe_dump(data)


def call(r: Any, name: str) -> Any:
    return r.engine.submit(external_id=name, workstream="calls")


def test_r12_agents_full_with_calls_give_a_finite_ewt(rig: Rigger) -> None:
    """R12, §8: three agents each on a 60 s call: the 4th call's EWT is 20 s, not infinite."""
    r = rig(calls_data([{"when": {"ewt_s": 600}, "action": "end"}]))
    first = call(r, "c0")
    r.at(60)
    r.engine.complete(first.id, wrap_up=False)
    for n in range(1, 4):
        call(r, f"c{n}")
    assert {r.engine.agent(f"a{n}").presence for n in range(3)} == {BasePresence.BUSY_DND}
    assert r.engine.queue_status("q")["ewt_s"] == 20.0
    fourth = call(r, "c4")
    assert (fourth.state, fourth.queue) == (ItemState.QUEUED, "q")


def test_r12_agents_full_with_calls_are_not_no_agents(rig: Rigger) -> None:
    """R12: members made busy_dnd by full capacity (R32) staff the queue: no_agents does not hold."""
    r = rig(calls_data([{"when": "no_agents", "action": "end"}]))
    for n in range(3):
        call(r, f"c{n}")
    fourth = call(r, "c3")
    assert (fourth.state, fourth.queue) == (ItemState.QUEUED, "q")
    assert r.engine.queue_status("q")["staffed"] == 3


def test_r12_a_manual_busy_dnd_outside_the_allowed_presences_is_no_agent(rig: Rigger) -> None:
    """R12: an agent who chose busy_dnd by hand is not staffing; with all such, no_agents holds."""
    r = rig(calls_data([{"when": "no_agents", "action": "end"}]))
    for n in range(3):
        r.engine.set_presence(f"a{n}", BasePresence.BUSY_DND)
    item = call(r, "c0")
    assert item.close_reason is not None and item.close_reason.value == "overflow_ended"


def test_r12_ewt_counts_the_items_each_agent_can_hold_at_once(rig: Rigger) -> None:
    """§8: one agent holding three 30-unit chats at once serves three times as fast."""
    r = rig(calls_data([], units=30, agents=1))
    first = call(r, "c0")
    r.at(90)
    r.engine.complete(first.id, wrap_up=False)
    for n in range(1, 6):
        call(r, f"c{n}")
    # Three held, two waiting: (2 + 1) × 90 s ÷ 3 items at once.
    assert r.engine.queue_status("q")["ewt_s"] == 90.0


# -- B4: R19 custom assignment cost on an agent's side ----------------------------------------------


def test_r19_a_presence_change_checks_each_waiting_item_against_the_agent_alone(
    rig: Rigger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R19: an agent becoming available reads agent fields about once per waiting item and rule,
    not once per waiting item and ready member (the cost grew with items × agents)."""
    from unirouter.engine import state

    agents = {f"a{n:02d}": {"attributes": {"team": f"t{n % 3}"}} for n in range(20)}
    rules = [{"when": "agent.team == item.team", "order_by": "agent.free_units"}]
    r = rig(yaml.safe_dump(one_queue(agents, assignment={"method": "custom", "rules": rules})))
    for n in range(60):
        r.engine.submit(external_id=f"c{n}", workstream="chat", attributes={"team": "nobody"})
    r.engine.set_presence("a00", BasePresence.AWAY)
    reads = 0
    original = state.AgentState.expr_get

    def counting(self: Any, name: str) -> object:
        nonlocal reads
        reads += 1
        return original(self, name)

    monkeypatch.setattr(state.AgentState, "expr_get", counting)
    r.engine.set_presence("a00", AVAILABLE)
    assert reads <= 60 * len(rules) + 20
    assert all(item.state is ItemState.QUEUED for item in r.engine.items())


# -- B7: R7, R8 time-dependent prioritisation conditions ---------------------------------------------


def waited_bucket(condition: str) -> str:
    """Queue ``q`` whose first bucket is ``condition``; its only agent is away."""
    data = one_queue({"ann": {"default_presence": "away"}})
    data["queues"]["q"]["prioritization"] = [{"when": condition, "order_by": []}]
    return yaml.safe_dump(data)


def test_r7_a_minutes_waited_bucket_fills_when_the_wait_passes_its_threshold(rig: Rigger) -> None:
    """R7: ``minutes_waited(item) >= 5`` takes the old item into bucket 1 at 300 s, no event needed."""
    r = rig(waited_bucket("minutes_waited(item) >= 5"))
    old = r.engine.submit(external_id="old", workstream="chat")
    r.at(200)
    r.engine.submit(external_id="new", workstream="chat", priority=5)
    r.at(299)
    assert [i.external_id for i in r.engine.waiting_items("q")] == ["new", "old"]
    r.at(300.5)
    assert [i.external_id for i in r.engine.waiting_items("q")] == ["old", "new"]
    r.engine.set_presence("ann", AVAILABLE)
    assert r.last_offer(old.id).agent == "ann"


def test_r7_a_now_condition_is_evaluated_again_at_its_moment(rig: Rigger) -> None:
    """R7: a condition on ``now`` moves an item when ``now`` crosses its bound, by its own timer."""
    r = rig(waited_bucket("now > item.due_at - 60"))
    r.engine.submit(external_id="first", workstream="chat", priority=5)
    r.engine.submit(external_id="due", workstream="chat", due_at=500.0)
    r.at(439)
    assert [i.external_id for i in r.engine.waiting_items("q")] == ["first", "due"]
    r.at(441)
    assert [i.external_id for i in r.engine.waiting_items("q")] == ["due", "first"]
    assert r.engine.next_deadline() is None


def test_r19_a_custom_rule_reading_the_wait_gives_the_item_when_it_comes_true(rig: Rigger) -> None:
    """R19, R21: ``minutes_waited(item) >= 2`` holds at 120 s: the item is offered then, by its own
    timer, to the free agent that was refused before."""
    rules = [{"when": "minutes_waited(item) >= 2", "order_by": "agent.free_units"}]
    r = rig(yaml.safe_dump(one_queue({"ann": {}}, assignment={"method": "custom", "rules": rules})))
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(119)
    assert item.state is ItemState.QUEUED
    r.at(125)
    [offer] = r.of_type("offer_made")
    assert (offer.agent, offer.t) == ("ann", pytest.approx(120.0))
