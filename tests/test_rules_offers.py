"""Triggers, reservations and offers (SPEC R21–R27), against the real engine.

Each test builds a small configuration with :func:`config` (workstream ``chat`` into queue
``q``) and drives offers by hand: accept, decline, or let the clock pass ``expires_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from unirouter import config as configuration
from unirouter import errors
from unirouter.config import model
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.state import ItemState, OfferStatus

Rigger = Callable[..., Any]

AVAILABLE = model.BasePresence.AVAILABLE
TIMEOUT = 30.0


def config(
    agents: dict[str, dict[str, Any]],
    *,
    offer: dict[str, Any] | None = None,
    workstream: dict[str, Any] | None = None,
    members: list[str] | None = None,
    method: str = "highest_capacity",
    rules: list[dict[str, Any]] | None = None,
    profiles: dict[str, Any] | None = None,
    kind: str = "messaging",
    extra_queues: dict[str, Any] | None = None,
) -> str:
    """YAML of workstream ``chat`` routing to queue ``q`` (members: every agent, in given order).

    Offers time out after 30 s unless ``offer`` says otherwise.
    """
    assignment: dict[str, Any] = {"method": method}
    if rules is not None:
        assignment["rules"] = rules
    data = {
        "skills": {"french": {"levels": 10}},
        "capacity_profiles": profiles or {},
        "workstreams": {
            "chat": {
                "kind": kind,
                "fallback_queue": "q",
                "offer": {"timeout_s": TIMEOUT, **(offer or {})},
                **(workstream or {}),
            }
        },
        "queues": {
            "q": {
                "kind": kind,
                "members": list(agents) if members is None else members,
                "assignment": assignment,
            },
            **(extra_queues or {}),
        },
        "agents": agents,
    }
    return yaml.safe_dump(data, sort_keys=False)


def parsed(text: str) -> model.Config:
    return configuration.validate(yaml.safe_load(text))


def submit(r: Any, name: str, **fields: Any) -> str:
    """Submit item ``name`` to workstream ``chat``; returns its id."""
    return str(r.engine.submit(external_id=name, workstream="chat", **fields).id)


def offers_of(r: Any, item_id: str) -> list[Any]:
    return [e for e in r.of_type("offer_made") if e.item == item_id]


def offered_to(r: Any, item_id: str) -> list[str]:
    """The agents the item was offered to, in order."""
    return [e.agent for e in offers_of(r, item_id)]


def offer_id(r: Any, item_id: str) -> str:
    return str(r.last_offer(item_id).offer)


def decline(r: Any, item_id: str, agent: str, reason: str | None = None) -> None:
    r.engine.decline(offer_id(r, item_id), agent=agent, reason=reason)


def snapshot(r: Any, item_id: str, *agents: str) -> tuple[Any, ...]:
    """What a refused command must leave unchanged: the item, its offers and the agents."""
    item = r.engine.item(item_id)
    offers = tuple(r.engine.offer(e.offer).status for e in offers_of(r, item_id))
    people = tuple(
        (a.presence, a.used_units, a.free_units, sorted(a.offers), sorted(a.active))
        for a in map(r.engine.agent, agents)
    )
    return (item.state, item.agent, item.queue, item.offer, offers, people)


# -- R21: assignment is event-driven ---------------------------------------------------------------


def test_queued_item_is_offered_when_it_arrives(rig: Rigger) -> None:
    """R21: an item entering a queue with a free eligible agent is offered at once."""
    r = rig(config({"a": {}}))
    r.at(5)
    item = submit(r, "c1")
    [offer] = offers_of(r, item)
    assert (offer.agent, offer.t) == ("a", 5.0)


def test_presence_change_triggers_assignment(rig: Rigger) -> None:
    """R21: an agent becoming available is offered the waiting item at that moment."""
    r = rig(config({"a": {"default_presence": "away"}}))
    item = submit(r, "c1")
    r.at(30)
    assert offers_of(r, item) == []
    r.engine.set_presence("a", AVAILABLE)
    [offer] = offers_of(r, item)
    assert (offer.agent, offer.t) == ("a", 30.0)


def test_capacity_release_triggers_assignment(rig: Rigger) -> None:
    """R21: closing an item frees capacity and the waiting item is offered at that moment."""
    r = rig(config({"a": {}}))
    first, second = submit(r, "c1"), submit(r, "c2")
    r.engine.accept(offer_id(r, first), agent="a")
    assert offers_of(r, second) == []
    r.at(40)
    r.engine.close(first)
    [offer] = offers_of(r, second)
    assert (offer.agent, offer.t) == ("a", 40.0)


def test_membership_change_triggers_assignment(rig: Rigger) -> None:
    """R21: adding the agent to the queue offers it the waiting item at once."""
    r = rig(config({"a": {}}, members=[]))
    item = submit(r, "c1")
    r.at(20)
    r.engine.apply_config(parsed(config({"a": {}})))
    [offer] = offers_of(r, item)
    assert (offer.agent, offer.t) == ("a", 20.0)


def test_configuration_change_triggers_assignment(rig: Rigger) -> None:
    """R21: a configuration giving the agent enough capacity offers it the waiting item at once."""
    r = rig(config({"a": {"capacity_units": 50}}))
    item = submit(r, "c1")
    assert offers_of(r, item) == []
    r.at(20)
    r.engine.apply_config(parsed(config({"a": {"capacity_units": 100}})))
    [offer] = offers_of(r, item)
    assert (offer.agent, offer.t) == ("a", 20.0)


def test_membership_change_offers_the_queues_first_item(rig: Rigger) -> None:
    """R21: a new member is offered the waiting item that comes first in queue order (R6)."""
    r = rig(config({"a": {}}, members=[]))
    low = submit(r, "c1", priority=0)
    high = submit(r, "c2", priority=10)
    r.engine.apply_config(parsed(config({"a": {}})))
    assert (offered_to(r, high), offered_to(r, low)) == (["a"], [])


def test_membership_change_offers_to_the_best_new_member_by_the_method(rig: Rigger) -> None:
    """R21: when a change makes several agents eligible at once, the queue's method picks one."""
    agents = {"small": {"capacity_units": 100}, "big": {"capacity_units": 300}}
    r = rig(config(agents, members=[]))
    item = submit(r, "c1")
    r.engine.apply_config(parsed(config(agents)))
    assert offered_to(r, item) == ["big"]


def test_decline_triggers_assignment_to_another_agent(rig: Rigger) -> None:
    """R21: a decline offers the item to the next eligible agent at that moment."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}))
    item = submit(r, "c1")
    r.at(10)
    decline(r, item, "a")
    offer = r.last_offer(item)
    assert (offer.agent, offer.t) == ("b", 10.0)


def test_expiry_triggers_assignment_to_another_agent(rig: Rigger) -> None:
    """R21: an expiry offers the item to the next eligible agent at the expiry time."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}))
    item = submit(r, "c1")
    r.at(100)
    assert [(e.agent, e.t) for e in offers_of(r, item)][:2] == [("a", 0.0), ("b", TIMEOUT)]


def test_decline_frees_the_decliner_for_its_next_item(rig: Rigger) -> None:
    """R21: the capacity a decline releases is used at once for another waiting item."""
    r = rig(config({"a": {}}, offer={"max_declines_per_agent": 1}))
    first, second = submit(r, "c1"), submit(r, "c2")
    r.at(10)
    decline(r, first, "a")
    offer = r.last_offer(second)
    assert (offer.agent, offer.t) == ("a", 10.0)


def test_scheduled_item_is_offered_when_it_becomes_available(rig: Rigger) -> None:
    """R21: a scheduled item is offered by the timer at its available_at, not when next woken."""
    r = rig(config({"a": {}}))
    item = submit(r, "c1", available_at=50.0)
    r.at(49.9)
    assert offers_of(r, item) == []
    r.at(70)
    [offer] = offers_of(r, item)
    assert (offer.agent, offer.t) == ("a", 50.0)


def test_wrap_up_release_timer_triggers_assignment(rig: Rigger) -> None:
    """R21: capacity released by the wrap-up timer is used for the waiting item at that time."""
    r = rig(config({"a": {}}, workstream={"wrap_up": {"block": 30}}))
    first, second = submit(r, "c1"), submit(r, "c2")
    r.engine.accept(offer_id(r, first), agent="a")
    r.at(10)
    r.engine.complete(first)
    r.at(39.9)
    assert offers_of(r, second) == []
    r.at(60)
    [offer] = offers_of(r, second)
    assert (offer.agent, offer.t) == ("a", 40.0)


def test_overflow_timer_triggers_assignment_in_the_new_queue(rig: Rigger) -> None:
    """R21: a post-queue overflow moves the item by timer and it is offered there at once."""
    extra = {"backup": {"kind": "messaging", "members": ["b"]}}
    text = config({"a": {"default_presence": "away"}, "b": {}}, members=["a"], extra_queues=extra)
    data = yaml.safe_load(text)
    data["queues"]["q"]["overflow"] = [{"when": {"waited_s": 60}, "action": {"transfer": "backup"}}]
    r = rig(yaml.safe_dump(data, sort_keys=False))
    item = submit(r, "c1")
    r.at(59.9)
    assert offers_of(r, item) == []
    r.at(80)
    [offer] = offers_of(r, item)
    assert (offer.agent, offer.queue, offer.t) == ("b", "backup", 60.0)


def test_nothing_happens_without_a_trigger(rig: Rigger) -> None:
    """R21: with no event and no deadline, time passing changes nothing and nothing is scheduled."""
    r = rig(config({"a": {"default_presence": "away"}}))
    item = submit(r, "c1")
    r.pump()
    assert r.engine.next_deadline() is None
    r.at(1_000_000)
    assert r.pump() == []
    assert r.engine.item(item).state is ItemState.QUEUED


def test_the_only_deadline_of_an_open_offer_is_its_expiry(rig: Rigger) -> None:
    """R21: nothing polls: the engine's next wake-up is exactly the open offer's expiry."""
    r = rig(config({"a": {}}))
    r.at(7)
    submit(r, "c1")
    assert r.engine.next_deadline() == 7.0 + TIMEOUT


# -- R22: capacity is reserved by the offer --------------------------------------------------------


def test_offer_reserves_the_items_units(rig: Rigger) -> None:
    """R22: capacity is reserved when the offer is made, before any accept."""
    r = rig(config({"a": {}}))
    submit(r, "c1", units=60)
    agent = r.engine.agent("a")
    assert (agent.used_units, agent.free_units) == (60, 40)


def test_offered_agent_is_not_given_a_conflicting_item(rig: Rigger) -> None:
    """R22: units reserved by an open offer are not free for another item."""
    agents = {"a": {"capacity_units": 100}, "b": {"capacity_units": 70}}
    r = rig(config(agents, workstream={"capacity": {"units": 60}}))
    first, second = submit(r, "c1"), submit(r, "c2")
    assert (offered_to(r, first), offered_to(r, second)) == (["a"], ["b"])


def test_offer_reserves_profile_room(rig: Rigger) -> None:
    """R22: an open offer takes its room in the item's capacity profiles."""
    profiles = {"chat": {"limit": 1}, "email": {"limit": 1}}
    ws = {"capacity": {"units": 10, "profiles": ["chat"]}}
    r = rig(config({"a": {"profiles": ["chat", "email"]}}, profiles=profiles, workstream=ws))
    first, second = submit(r, "c1"), submit(r, "c2")
    assert r.engine.agent("a").profile_used["chat"] == 1
    assert (offered_to(r, first), offered_to(r, second)) == (["a"], [])


def test_decline_releases_the_reserved_capacity(rig: Rigger) -> None:
    """R22: a declined offer gives back its units and profile room."""
    profiles = {"chat": {"limit": 1}}
    ws = {"capacity": {"units": 60, "profiles": ["chat"]}}
    agents = {"a": {"profiles": ["chat"], "capacity_units": 200}, "b": {"profiles": ["chat"]}}
    r = rig(config(agents, profiles=profiles, workstream=ws))
    item = submit(r, "c1")
    decline(r, item, "a")
    agent = r.engine.agent("a")
    assert (agent.used_units, agent.free_units, agent.profile_used["chat"]) == (0, 200, 0)


def test_expiry_releases_the_reserved_capacity(rig: Rigger) -> None:
    """R22: an expired offer gives back its units and profile room."""
    profiles = {"chat": {"limit": 1}}
    ws = {"capacity": {"units": 60, "profiles": ["chat"]}}
    agents = {"a": {"profiles": ["chat"], "capacity_units": 200}, "b": {"profiles": ["chat"]}}
    r = rig(config(agents, profiles=profiles, workstream=ws))
    item = submit(r, "c1")
    r.at(TIMEOUT)
    assert offered_to(r, item) == ["a", "b"]
    agent = r.engine.agent("a")
    assert (agent.used_units, agent.free_units, agent.profile_used["chat"]) == (0, 200, 0)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["submit", "accept", "decline", "close", "wait"]),
        st.integers(min_value=0, max_value=9),
        st.sampled_from([20, 50, 80]),
    ),
    max_size=30,
)


def _held_units(engine: Engine, agent: str) -> int:
    """Units of the items offered to or assigned to ``agent``, from the items' own records."""
    total = 0
    for item in engine.items():
        offered = item.state is ItemState.OFFERED and engine.offer(item.offer or "").agent == agent
        if offered or (item.state is ItemState.ASSIGNED and item.agent == agent):
            total += item.units
    return total


@settings(max_examples=80, deadline=None)
@given(actions=ACTIONS)
def test_reserved_units_always_match_open_offers_and_assignments(
    actions: list[tuple[str, int, int]],
) -> None:
    """R22: an agent's used units are always those of its open offers plus its assigned items."""
    agents = {"a": {"capacity_units": 100}, "b": {"capacity_units": 150}, "c": {}}
    clock = ManualClock(0.0)
    engine = Engine(parsed(config(agents)), clock=clock)
    for n, (action, pick, units) in enumerate(actions):
        open_offers = sorted((o, a.id) for a in engine.agents() for o in a.offers)
        assigned = sorted(i.id for i in engine.items() if i.state is ItemState.ASSIGNED)
        if action == "submit":
            engine.submit(external_id=f"c{n}", workstream="chat", units=units)
        elif action in ("accept", "decline") and open_offers:
            offer, agent = open_offers[pick % len(open_offers)]
            getattr(engine, action)(offer, agent=agent)
        elif action == "close" and assigned:
            engine.close(assigned[pick % len(assigned)])
        else:
            clock.advance(pick * 5.0)
            engine.advance()
        for agent in engine.agents():
            assert agent.used_units == _held_units(engine, agent.id)
            assert agent.free_units >= 0


def test_accept_keeps_the_reservation_without_counting_it_twice(rig: Rigger) -> None:
    """R22: accepting turns the reservation into the assignment; the units are held once."""
    r = rig(config({"a": {}}))
    item = submit(r, "c1", units=60)
    r.engine.accept(offer_id(r, item), agent="a")
    assert r.engine.agent("a").used_units == 60


# -- R23: expiry time and auto-accept --------------------------------------------------------------


def test_offer_expires_timeout_s_after_it_is_made(rig: Rigger) -> None:
    """R23: expires_at = now + offer.timeout_s, in the event and on the offer."""
    r = rig(config({"a": {}}, offer={"timeout_s": 45}))
    r.at(7)
    item = submit(r, "c1")
    offer = r.last_offer(item)
    assert offer.data["expires_at"] == 52.0
    assert r.engine.offer(offer.offer).expires_at == 52.0


def test_offer_timeout_defaults_to_120_seconds(rig: Rigger) -> None:
    """R23: without offer.timeout_s an offer expires 120 s after it is made."""
    text = yaml.safe_dump(
        {
            "workstreams": {"chat": {"kind": "messaging", "fallback_queue": "q"}},
            "queues": {"q": {"kind": "messaging", "members": ["a"]}},
            "agents": {"a": {}},
        }
    )
    r = rig(text)
    r.at(3)
    item = submit(r, "c1")
    assert r.last_offer(item).data["expires_at"] == 123.0


def test_auto_accept_assigns_at_once_without_an_offer(rig: Rigger) -> None:
    """R23: with auto_accept the item is assigned at once and no offer event appears."""
    r = rig(config({"a": {}}, offer={"auto_accept": True}))
    r.at(4)
    item = submit(r, "c1")
    assert (r.engine.item(item).state, r.engine.item(item).agent) == (ItemState.ASSIGNED, "a")
    [assigned] = r.of_type("item_assigned")
    assert (assigned.item, assigned.agent, assigned.t) == (item, "a", 4.0)
    assert [e.type for e in r.log if e.type.startswith("offer_")] == []


def test_auto_accept_assigns_a_waiting_item_to_an_agent_who_frees_up(rig: Rigger) -> None:
    """R23: with auto_accept, an agent becoming available is assigned the waiting item, no offer."""
    r = rig(config({"a": {"default_presence": "away"}}, offer={"auto_accept": True}))
    item = submit(r, "c1")
    r.at(9)
    r.engine.set_presence("a", AVAILABLE)
    [assigned] = r.of_type("item_assigned")
    assert (assigned.item, assigned.agent, assigned.t) == (item, "a", 9.0)
    assert offers_of(r, item) == []


def test_auto_accept_holds_the_items_capacity(rig: Rigger) -> None:
    """R23: an auto-accepted item holds its units like an accepted one."""
    r = rig(config({"a": {}}, offer={"auto_accept": True}))
    submit(r, "c1", units=60)
    assert r.engine.agent("a").used_units == 60


# -- R24: accepting --------------------------------------------------------------------------------


def test_accept_before_expiry_assigns(rig: Rigger) -> None:
    """R24: an accept just before expires_at assigns the item to the agent."""
    r = rig(config({"a": {}}))
    item = submit(r, "c1")
    offer = offer_id(r, item)
    r.at(TIMEOUT - 0.001)
    r.engine.accept(offer, agent="a")
    assert (r.engine.item(item).state, r.engine.item(item).agent) == (ItemState.ASSIGNED, "a")
    assert [e.type for e in r.pump()][:2] == ["offer_accepted", "item_assigned"]
    assert r.engine.offer(offer).status is OfferStatus.ACCEPTED


def refused_accept(r: Any, offer: str, agent: str, item: str, *agents: str) -> None:
    """Accepting ``offer`` as ``agent`` raises OfferNotOpen, emits nothing and changes nothing."""
    r.pump()
    before = snapshot(r, item, *agents)
    with pytest.raises(errors.OfferNotOpen):
        r.engine.accept(offer, agent=agent)
    assert r.pump() == []
    assert snapshot(r, item, *agents) == before


def test_accept_at_the_expiry_instant_is_refused(rig: Rigger) -> None:
    """R24: at expires_at the offer has expired; accepting it is refused and changes nothing."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}))
    item = submit(r, "c1")
    offer = offer_id(r, item)
    r.at(TIMEOUT)
    assert r.engine.offer(offer).status is OfferStatus.EXPIRED
    refused_accept(r, offer, "a", item, "a", "b")


def test_accept_after_expiry_is_refused(rig: Rigger) -> None:
    """R24: accepting an expired offer is refused and changes nothing."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}))
    item = submit(r, "c1")
    offer = offer_id(r, item)
    r.at(TIMEOUT + 5)
    refused_accept(r, offer, "a", item, "a", "b")
    assert r.engine.item(item).state is ItemState.OFFERED


def test_late_accept_is_refused_after_the_expiry_it_comes_after(rig: Rigger) -> None:
    """R24: an accept arriving after expires_at, with no wake-up between, finds the offer expired."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}))
    item = submit(r, "c1")
    offer = offer_id(r, item)
    r.clock.set(TIMEOUT + 10)
    with pytest.raises(errors.OfferNotOpen):
        r.engine.accept(offer, agent="a")
    [expired] = r.of_type("offer_expired")
    assert (expired.offer, expired.t) == (offer, TIMEOUT)
    assert r.engine.item(item).state is ItemState.OFFERED
    assert r.engine.agent("a").used_units == 0


def test_accept_after_expiry_is_refused_though_the_item_was_offered_again(rig: Rigger) -> None:
    """R24: an expired offer stays refused when the same agent holds a newer offer of the item."""
    r = rig(config({"a": {}}))
    item = submit(r, "c1")
    old = offer_id(r, item)
    r.at(TIMEOUT + 1)
    assert offered_to(r, item) == ["a", "a"]
    refused_accept(r, old, "a", item, "a")


def test_accept_of_another_agents_offer_is_refused(rig: Rigger) -> None:
    """R24: an agent cannot accept an offer made to someone else; nothing changes."""
    r = rig(config({"a": {}, "b": {}}))
    item = submit(r, "c1")
    refused_accept(r, offer_id(r, item), "b", item, "a", "b")
    assert r.engine.offer(offer_id(r, item)).status is OfferStatus.OPEN


def test_accept_of_an_accepted_offer_is_refused(rig: Rigger) -> None:
    """R24: accepting an offer a second time is refused and changes nothing."""
    r = rig(config({"a": {}}))
    item = submit(r, "c1")
    offer = offer_id(r, item)
    r.engine.accept(offer, agent="a")
    refused_accept(r, offer, "a", item, "a")


def test_accept_of_a_declined_offer_is_refused(rig: Rigger) -> None:
    """R24: accepting an offer after declining it is refused and changes nothing."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}))
    item = submit(r, "c1")
    offer = offer_id(r, item)
    r.engine.decline(offer, agent="a")
    refused_accept(r, offer, "a", item, "a", "b")


def test_decline_of_another_agents_offer_is_refused(rig: Rigger) -> None:
    """R24: an agent cannot answer an offer made to someone else, by declining either."""
    r = rig(config({"a": {}, "b": {}}))
    item = submit(r, "c1")
    r.pump()
    before = snapshot(r, item, "a", "b")
    with pytest.raises(errors.OfferNotOpen):
        r.engine.decline(offer_id(r, item), agent="b")
    assert r.pump() == []
    assert snapshot(r, item, "a", "b") == before


# -- R25: declines and expiries --------------------------------------------------------------------


def test_declined_item_returns_to_its_old_place_in_the_queue(rig: Rigger) -> None:
    """R25: a declined item goes back ahead of the items that arrived after it."""
    agents = {"a": {}, "b": {"default_presence": "away"}}
    r = rig(config(agents, offer={"max_declines_per_agent": 1}))
    first, second, third = submit(r, "c1"), submit(r, "c2"), submit(r, "c3")
    decline(r, first, "a")
    assert offered_to(r, second) == ["a"]
    assert [i.id for i in r.engine.waiting_items("q")] == [first, third]
    r.engine.set_presence("b", AVAILABLE)
    assert (offered_to(r, first), offered_to(r, third)) == (["a", "b"], [])


def test_declined_item_keeps_its_place_under_a_time_based_prioritisation(rig: Rigger) -> None:
    """R25: the old place holds even when the queue orders by an expression reading the time."""
    agents = {"a": {}, "b": {"skills": {"french": 5}, "default_presence": "away"}}
    data = yaml.safe_load(config(agents, offer={"max_declines_per_agent": 1}))
    by_wait = [{"by": "minutes_waited(item)", "desc": True}]
    data["queues"]["q"]["prioritization"] = [{"when": "true", "order_by": by_wait}]
    r = rig(yaml.safe_dump(data, sort_keys=False))
    first = submit(r, "c1", skills=[model.SkillReq(name="french", level=1)])  # a cannot take it
    r.at(10)
    second = submit(r, "c2")
    r.at(20)
    third = submit(r, "c3")
    assert offered_to(r, second) == ["a"]
    assert [i.id for i in r.engine.waiting_items("q")] == [first, third]
    r.at(25)
    decline(r, second, "a")  # a takes the third item; the second returns behind the first
    assert [i.id for i in r.engine.waiting_items("q")] == [first, second]


def test_decliner_is_passed_over_while_another_agent_is_eligible(rig: Rigger) -> None:
    """R25: after a decline the item goes to another eligible agent, not back to the decliner."""
    r = rig(config({"a": {"capacity_units": 500}, "b": {}}))
    item = submit(r, "c1")
    decline(r, item, "a")
    assert offered_to(r, item) == ["a", "b"]


def test_r25_when_everyone_declined_the_last_decliner_is_passed_over(rig: Rigger) -> None:
    """R25: both agents declined; y (last, and now the most free) is passed over: x is offered."""
    agents = {
        "x": {"capacity_units": 300, "default_presence": "away"},
        "y": {"capacity_units": 400},
    }
    r = rig(config(agents))
    held = [submit(r, f"p{n}") for n in range(2)]
    for item in held:
        r.engine.accept(offer_id(r, item), agent="y")
    r.engine.set_presence("x", AVAILABLE)
    item = submit(r, "c1")
    decline(r, item, "x")
    for done in held:
        r.engine.complete(done, wrap_up=False)
    decline(r, item, "y")
    assert (r.engine.agent("y").free_units, r.engine.agent("x").free_units) == (400, 200)
    assert offered_to(r, item) == ["x", "y", "x"]


def test_r25_the_last_decliner_is_passed_over_when_both_decliners_return_together(
    rig: Rigger,
) -> None:
    """R25: x then y declined; both come back to the queue at once (an apply), y now the most
    free: x is offered, the last decliner y is passed over."""
    agents = {"x": {"default_presence": "away"}, "y": {"capacity_units": 300}}
    both = yaml.safe_load(
        config(agents, extra_queues={"q2": {"kind": "messaging", "members": ["y"]}})
    )
    both["workstreams"]["side"] = {"kind": "messaging", "fallback_queue": "q2"}
    apart = yaml.safe_load(yaml.safe_dump(both))
    apart["queues"]["q"]["members"] = []
    r = rig(yaml.safe_dump(both))
    held = [submit(r, "p1"), submit(r, "p2")]
    for item in held:
        r.engine.accept(offer_id(r, item), agent="y")
    r.engine.set_presence("x", AVAILABLE)
    item = submit(r, "c1")
    decline(r, item, "x")
    r.engine.apply_config(parsed(yaml.safe_dump(apart)))
    decline(r, item, "y")
    side = str(r.engine.submit(external_id="d1", workstream="side").id)
    r.engine.accept(offer_id(r, side), agent="y")  # y is offered something since its decline
    for done in [*held, side]:
        r.engine.complete(done, wrap_up=False)
    r.engine.apply_config(parsed(yaml.safe_dump(both)))
    assert offered_to(r, item) == ["x", "y", "x"]


def test_decliner_is_offered_again_when_no_one_else_is_eligible(rig: Rigger) -> None:
    """R25: the decliner is only passed over while someone else is eligible (our reading)."""
    r = rig(config({"a": {}, "b": {"default_presence": "away"}}))
    item = submit(r, "c1")
    r.at(5)
    decline(r, item, "a")
    assert [(e.agent, e.t) for e in offers_of(r, item)] == [("a", 0.0), ("a", 5.0)]


def test_r25_a_sole_decliner_gets_the_next_item_before_the_declined_one(rig: Rigger) -> None:
    """R25: a lone decliner is offered the item behind the declined one first, not the same item."""
    r = rig(config({"a": {}, "b": {"default_presence": "away"}}))
    first, second = submit(r, "c1"), submit(r, "c2")
    r.at(5)
    decline(r, first, "a")
    assert (offered_to(r, first), offered_to(r, second)) == (["a"], ["a"])
    assert r.last_offer(second).t == 5.0


def test_r25_the_declined_item_comes_back_once_the_item_behind_had_its_turn(rig: Rigger) -> None:
    """R25: after the item behind was offered, the declined item is next, ahead of later ones."""
    r = rig(config({"a": {}}))
    first, second, third = submit(r, "c1"), submit(r, "c2"), submit(r, "c3")
    decline(r, first, "a")
    r.engine.accept(offer_id(r, second), agent="a")
    r.engine.complete(second, wrap_up=False)
    assert offered_to(r, first) == ["a", "a"]
    assert offered_to(r, third) == []


def test_r25_a_sole_agent_letting_an_offer_expire_gets_the_next_item(rig: Rigger) -> None:
    """R25: an expiry, like a decline, lets the item behind have its turn with the lone agent."""
    r = rig(config({"a": {}}))
    first, second = submit(r, "c1"), submit(r, "c2")
    r.at(TIMEOUT)
    assert (offered_to(r, first), offered_to(r, second)) == (["a"], ["a"])


def test_r25_a_sole_decliner_in_a_custom_queue_gets_the_next_item(rig: Rigger) -> None:
    """R25, R19: in a custom queue too the lone decliner is offered the item behind first."""
    rules = [{"when": "true", "order_by": "agent.free_units"}]
    r = rig(config({"a": {}}, method="custom", rules=rules))
    first, second = submit(r, "c1"), submit(r, "c2")
    decline(r, first, "a")
    assert (offered_to(r, first), offered_to(r, second)) == (["a"], ["a"])


def test_decliner_in_a_custom_queue_is_offered_again_when_alone(rig: Rigger) -> None:
    """R25: in a custom queue too, a lone decliner gets the item again (below the decline limit)."""
    rules = [{"when": "true", "order_by": "agent.free_units"}]
    r = rig(config({"a": {}}, method="custom", rules=rules))
    item = submit(r, "c1")
    r.at(5)
    decline(r, item, "a")
    assert offered_to(r, item) == ["a", "a"]


def test_agent_is_not_offered_the_item_after_max_declines_per_agent(rig: Rigger) -> None:
    """R25: after max_declines_per_agent declines the agent is never offered that item again."""
    r = rig(config({"a": {}}, offer={"max_declines_per_agent": 2}))
    item = submit(r, "c1")
    decline(r, item, "a")
    decline(r, item, "a")
    r.at(1000)
    assert offered_to(r, item) == ["a", "a"]
    assert r.engine.item(item).state is ItemState.QUEUED


def test_another_agent_is_offered_the_item_after_max_declines_per_agent(rig: Rigger) -> None:
    """R25: the item the decliner may no longer get goes to the next agent who becomes eligible."""
    agents = {"a": {}, "b": {"default_presence": "away"}}
    r = rig(config(agents, offer={"max_declines_per_agent": 1}))
    item = submit(r, "c1")
    decline(r, item, "a")
    r.at(10)
    r.engine.set_presence("b", AVAILABLE)
    assert offered_to(r, item) == ["a", "b"]


TOTAL_2 = {"max_declines_total": 2}
THREE = {"a": {"capacity_units": 300}, "b": {"capacity_units": 200}, "c": {}}


def test_max_declines_total_stops_automatic_offers(rig: Rigger) -> None:
    """R25: after max_declines_total declines the item is offered to no one, though c is free."""
    r = rig(config(THREE, offer=TOTAL_2))
    item = submit(r, "c1")
    decline(r, item, "a")
    decline(r, item, "b")
    r.at(1000)
    assert offered_to(r, item) == ["a", "b"]
    assert r.engine.item(item).state is ItemState.QUEUED


def test_item_past_max_declines_total_is_not_offered_to_an_agent_who_frees_up(rig: Rigger) -> None:
    """R25: an agent becoming available later is not offered an item past max_declines_total."""
    agents = {**THREE, "c": {"default_presence": "away"}}
    r = rig(config(agents, offer=TOTAL_2))
    item = submit(r, "c1")
    decline(r, item, "a")
    decline(r, item, "b")
    r.engine.set_presence("c", AVAILABLE)
    assert offered_to(r, item) == ["a", "b"]


def test_item_past_max_declines_total_can_still_be_picked(rig: Rigger) -> None:
    """R25: an item no longer auto-assigned can still be picked by a member."""
    r = rig(config(THREE, offer=TOTAL_2))
    item = submit(r, "c1")
    decline(r, item, "a")
    decline(r, item, "b")
    r.engine.pick(item, agent="c")
    assert (r.engine.item(item).state, r.engine.item(item).agent) == (ItemState.ASSIGNED, "c")


def test_item_past_max_declines_total_can_still_be_force_assigned(rig: Rigger) -> None:
    """R25: an item no longer auto-assigned can still be force-assigned by a supervisor."""
    r = rig(config(THREE, offer=TOTAL_2))
    item = submit(r, "c1")
    decline(r, item, "a")
    decline(r, item, "b")
    r.engine.force_assign(item, agent="a")
    assert (r.engine.item(item).state, r.engine.item(item).agent) == (ItemState.ASSIGNED, "a")


def test_trace_says_max_declines_total_was_reached(rig: Rigger) -> None:
    """R25: the item's trace records that it stopped being auto-assigned."""
    r = rig(config(THREE, offer=TOTAL_2))
    item = submit(r, "c1")
    decline(r, item, "a")
    assert not any("max_declines_total" in str(entry) for entry in r.engine.item(item).trace)
    decline(r, item, "b")
    assert any("max_declines_total" in str(entry) for entry in r.engine.item(item).trace)


def test_decline_reason_is_reported(rig: Rigger) -> None:
    """R25: the optional decline reason code is carried by the offer_declined event."""
    r = rig(config({"a": {}, "b": {}}))
    item = submit(r, "c1")
    decline(r, item, "a", reason="wrong_language")
    [declined] = r.of_type("offer_declined")
    assert (declined.item, declined.agent, declined.data["reason"]) == (item, "a", "wrong_language")


def test_expiry_passes_over_the_agent_like_a_decline(rig: Rigger) -> None:
    """R25: after an expiry the item goes to another eligible agent, not back to the first."""
    r = rig(config({"a": {"capacity_units": 500}, "b": {}}))
    item = submit(r, "c1")
    r.at(TIMEOUT)
    assert offered_to(r, item) == ["a", "b"]


def test_expired_item_returns_to_its_old_place_in_the_queue(rig: Rigger) -> None:
    """R25: an expired item goes back ahead of the items that arrived after it."""
    r = rig(config({"a": {}}, offer={"max_declines_per_agent": 1}))
    first = submit(r, "c1")
    r.at(1)
    second, third = submit(r, "c2"), submit(r, "c3")
    r.at(TIMEOUT)
    assert offered_to(r, second) == ["a"]
    assert [i.id for i in r.engine.waiting_items("q")] == [first, third]


def test_expiries_count_toward_max_declines_per_agent(rig: Rigger) -> None:
    """R25: each expiry counts as a decline for max_declines_per_agent."""
    r = rig(config({"a": {}}, offer={"max_declines_per_agent": 2}))
    item = submit(r, "c1")
    r.at(1000)
    assert [(e.agent, e.t) for e in offers_of(r, item)] == [("a", 0.0), ("a", TIMEOUT)]
    assert r.engine.item(item).state is ItemState.QUEUED


def test_expiries_count_toward_max_declines_total(rig: Rigger) -> None:
    """R25: an expiry counts toward max_declines_total like a decline."""
    r = rig(config(THREE, offer=TOTAL_2))
    item = submit(r, "c1")
    decline(r, item, "a")
    r.at(1000)  # b's offer expires: the second refusal
    assert offered_to(r, item) == ["a", "b"]
    assert r.engine.item(item).state is ItemState.QUEUED


# -- R26: presence penalties -----------------------------------------------------------------------

PENALTIES = {"on_expiry_presence": "inactive", "on_decline_presence": "busy_dnd"}


def presences(r: Any, agent: str) -> list[tuple[float, str]]:
    return [(e.t, e.data["presence"]) for e in r.of_type("presence_changed") if e.agent == agent]


def test_expiry_sets_the_agent_inactive(rig: Rigger) -> None:
    """R26: with on_expiry_presence: inactive, an expiry makes the agent inactive."""
    r = rig(config({"a": {}, "b": {}}, offer=PENALTIES))
    submit(r, "c1")
    r.at(TIMEOUT)
    assert r.engine.agent("a").presence is model.BasePresence.INACTIVE
    assert presences(r, "a")[-1] == (TIMEOUT, "inactive")


def test_inactive_agent_is_offered_nothing_more(rig: Rigger) -> None:
    """R26: an agent made inactive by an expiry is not offered new items."""
    r = rig(config({"a": {"capacity_units": 500}, "b": {}}, offer=PENALTIES))
    first = submit(r, "c1")
    r.at(TIMEOUT)
    second = submit(r, "c2", units=10)
    assert offered_to(r, first) == ["a", "b"]
    assert offered_to(r, second) == []


def test_decline_sets_the_agent_busy_dnd(rig: Rigger) -> None:
    """R26: with on_decline_presence: busy_dnd, a decline makes the agent busy_dnd."""
    r = rig(config({"a": {"capacity_units": 200}, "b": {}}, offer=PENALTIES))
    item = submit(r, "c1")
    assert r.engine.agent("a").presence is model.BasePresence.BUSY
    r.at(5)
    decline(r, item, "a")
    assert r.engine.agent("a").presence is model.BasePresence.BUSY_DND
    assert presences(r, "a")[-1] == (5.0, "busy_dnd")


def test_decline_penalty_does_not_apply_to_an_expiry(rig: Rigger) -> None:
    """R26: on_decline_presence alone leaves an agent whose offer expired available."""
    r = rig(
        config({"a": {"capacity_units": 500}, "b": {}}, offer={"on_decline_presence": "busy_dnd"})
    )
    submit(r, "c1")
    r.at(TIMEOUT)
    assert r.engine.agent("a").presence is AVAILABLE


def test_without_penalties_a_decline_leaves_the_agent_available(rig: Rigger) -> None:
    """R26: penalties are optional: by default a decline leaves the presence to capacity (R32)."""
    r = rig(config({"a": {"capacity_units": 500}, "b": {}}))
    decline(r, submit(r, "c1"), "a")
    assert r.engine.agent("a").presence is AVAILABLE


def test_penalty_stays_when_capacity_is_released(rig: Rigger) -> None:
    """R26: a penalty presence is not recomputed away when the agent's other work ends."""
    r = rig(config({"a": {"capacity_units": 300}, "b": {}}, offer=PENALTIES))
    first = submit(r, "c1")
    r.engine.accept(offer_id(r, first), agent="a")
    second = submit(r, "c2")
    decline(r, second, "a")
    r.engine.close(first)
    assert r.engine.agent("a").presence is model.BasePresence.BUSY_DND


def test_penalty_lasts_until_the_agent_sets_a_presence(rig: Rigger) -> None:
    """R26: after a penalty, the agent's own presence change makes it eligible again."""
    r = rig(config({"a": {}, "b": {"default_presence": "away"}}, offer=PENALTIES))
    item = submit(r, "c1")
    decline(r, item, "a")
    second = submit(r, "c2")
    assert offered_to(r, second) == []
    r.engine.set_presence("a", AVAILABLE)
    assert offered_to(r, item)[-1] == "a"


def test_penalty_is_reported_as_system_set(rig: Rigger) -> None:
    """R26: the penalty's presence_changed event says the system set it (manual: false)."""
    r = rig(config({"a": {}, "b": {}}, offer=PENALTIES))
    submit(r, "c1")
    r.at(TIMEOUT)
    [penalty] = [e for e in r.of_type("presence_changed") if e.data["presence"] == "inactive"]
    assert penalty.data["manual"] is False


# -- R27: records that cannot be rejected ----------------------------------------------------------

NO_REJECT = {"rejectable": False}


def test_non_rejectable_offer_cannot_be_declined(rig: Rigger) -> None:
    """R27: declining an offer of a rejectable: false record workstream is refused; no change."""
    r = rig(config({"a": {}, "b": {}}, kind="record", offer=NO_REJECT))
    item = submit(r, "c1")
    r.pump()
    before = snapshot(r, item, "a", "b")
    with pytest.raises(errors.Conflict):
        decline(r, item, "a")
    assert r.pump() == []
    assert snapshot(r, item, "a", "b") == before


def test_non_rejectable_offer_expires_into_assignment(rig: Rigger) -> None:
    """R27: at expires_at a non-rejectable offer becomes an assignment to its agent."""
    r = rig(config({"a": {}, "b": {}}, kind="record", offer=NO_REJECT))
    item = submit(r, "c1", units=60)
    r.at(100)
    assert (r.engine.item(item).state, r.engine.item(item).agent) == (ItemState.ASSIGNED, "a")
    [assigned] = r.of_type("item_assigned")
    assert (assigned.item, assigned.agent, assigned.t) == (item, "a", TIMEOUT)
    assert offered_to(r, item) == ["a"]
    assert r.engine.agent("a").used_units == 60


def test_non_rejectable_offer_can_be_accepted(rig: Rigger) -> None:
    """R27: a non-rejectable offer is accepted like any other."""
    r = rig(config({"a": {}}, kind="record", offer=NO_REJECT))
    item = submit(r, "c1")
    r.engine.accept(offer_id(r, item), agent="a")
    assert (r.engine.item(item).state, r.engine.item(item).agent) == (ItemState.ASSIGNED, "a")


def test_rejectable_false_is_refused_outside_record_workstreams() -> None:
    """R27: only record workstreams may be configured rejectable: false."""
    with pytest.raises(errors.ConfigError):
        parsed(config({"a": {}}, kind="messaging", offer=NO_REJECT))
