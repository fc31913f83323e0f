"""Eligibility and the choice of agent (SPEC R16–R20), against the real engine.

Each test builds a one-queue configuration with :func:`config`, submits items and reads the offers,
assignments and agent states the engine reports. ``auto_accept`` is used where only the chosen agent
matters and several items must be taken in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from unirouter import config as configuration
from unirouter.config import model
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.state import ItemState

Rigger = Callable[..., Any]

SKILLS = ("french", "billing", "spanish")
#: A Monday, one hour before the ``day`` calendar opens.
MONDAY_0700 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
DAY_CALENDAR = {"day": {"tz": "UTC", "weekly": {"mon-fri": "08:00-18:00"}}}
HOUR = 3600.0
AUTO = {"offer": {"auto_accept": True}}


def config(
    agents: dict[str, dict[str, Any]],
    *,
    method: str = "highest_capacity",
    rules: list[dict[str, Any]] | None = None,
    members: list[str] | None = None,
    workstream: dict[str, Any] | None = None,
    queue: dict[str, Any] | None = None,
    profiles: dict[str, Any] | None = None,
    calendars: dict[str, Any] | None = None,
) -> str:
    """YAML of workstream ``chat`` routing everything to queue ``q`` (members: every agent).

    Agents keep the order given, so a test can list them against their id order.
    """
    assignment: dict[str, Any] = {"method": method}
    if rules is not None:
        assignment["rules"] = rules
    data = {
        "skills": {name: {"levels": 10} for name in SKILLS},
        "capacity_profiles": profiles or {},
        "calendars": calendars or {},
        "workstreams": {
            "chat": {
                "kind": "messaging",
                "fallback_queue": "q",
                "route_to_queue": [{"when": "true", "queue": "q"}],
                **(workstream or {}),
            }
        },
        "queues": {
            "q": {
                "kind": "messaging",
                "members": list(agents) if members is None else members,
                "assignment": assignment,
                **(queue or {}),
            }
        },
        "agents": agents,
    }
    return yaml.safe_dump(data, sort_keys=False)


def parsed(text: str) -> model.Config:
    return configuration.validate(yaml.safe_load(text))


def need(name: str, level: int = 1, *, optional: bool = False) -> model.SkillReq:
    return model.SkillReq(name=name, level=level, optional=optional)


def submit(r: Any, name: str, **fields: Any) -> str:
    """Submit item ``name`` to workstream ``chat``; returns its id."""
    return str(r.engine.submit(external_id=name, workstream="chat", **fields).id)


def offered_to(r: Any, item_id: str) -> str | None:
    """The agent of the item's newest offer, or None when it was never offered."""
    agents = [e.agent for e in r.of_type("offer_made") if e.item == item_id]
    return agents[-1] if agents else None


def first_offer(r: Any, item_id: str) -> Any:
    """The item's first ``offer_made`` event."""
    return next(e for e in r.of_type("offer_made") if e.item == item_id)


def holder(r: Any, item_id: str) -> str | None:
    return r.engine.item(item_id).agent  # type: ignore[no-any-return]


# -- R16: membership -------------------------------------------------------------------------------


def test_non_member_is_not_offered_the_queues_item(rig: Rigger) -> None:
    """R16: an agent outside the queue is passed over even with the most free units."""
    r = rig(config({"outsider": {"capacity_units": 500}, "member": {}}, members=["member"]))
    assert offered_to(r, submit(r, "c1")) == "member"


def test_item_waits_when_only_non_members_are_free(rig: Rigger) -> None:
    """R16: with no member able to take it, the item waits though a non-member is free."""
    r = rig(config({"outsider": {}, "member": {"default_presence": "away"}}, members=["member"]))
    item = submit(r, "c1")
    assert r.of_type("offer_made") == []
    assert r.engine.item(item).state is ItemState.QUEUED


# -- R16: presence ---------------------------------------------------------------------------------


def test_agent_in_a_presence_not_allowed_is_passed_over(rig: Rigger) -> None:
    """R16: an away agent is not eligible under the default allowed presences."""
    r = rig(config({"a": {"default_presence": "away", "capacity_units": 500}, "b": {}}))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_busy_agent_is_passed_over_when_only_available_is_allowed(rig: Rigger) -> None:
    """R16: with allowed_presences [available], an agent made busy by its work gets no more."""
    ws = {"allowed_presences": ["available"], "capacity": {"units": 30}, **AUTO}
    r = rig(config({"a": {"capacity_units": 300}, "b": {}}, workstream=ws))
    first = submit(r, "c1")
    assert holder(r, first) == "a"
    assert r.engine.agent("a").presence is model.BasePresence.BUSY
    assert holder(r, submit(r, "c2")) == "b"


def test_presence_allowed_by_the_workstream_makes_the_agent_eligible(rig: Rigger) -> None:
    """R16: allowed presences come from the workstream: allowing busy_dnd admits busy_dnd."""
    ws = {"allowed_presences": ["available", "busy", "busy_dnd"]}
    r = rig(config({"a": {"default_presence": "busy_dnd"}}, workstream=ws))
    assert offered_to(r, submit(r, "c1")) == "a"


def test_allowed_presences_are_those_of_the_items_workstream(rig: Rigger) -> None:
    """R16: in a queue fed by two workstreams, a busy agent only takes the one allowing busy."""
    text = """
workstreams:
  strict:
    kind: messaging
    allowed_presences: [available]
    capacity: {units: 30}
    fallback_queue: q
  relaxed:
    kind: messaging
    capacity: {units: 30}
    offer: {auto_accept: true}
    fallback_queue: q
queues:
  q: {kind: messaging, members: [a]}
agents:
  a: {}
"""
    r = rig(text)
    r.engine.submit(external_id="r1", workstream="relaxed")
    assert r.engine.agent("a").presence is model.BasePresence.BUSY
    strict = r.engine.submit(external_id="s1", workstream="strict")
    relaxed = r.engine.submit(external_id="r2", workstream="relaxed")
    assert strict.state is ItemState.QUEUED
    assert (relaxed.state, relaxed.agent) == (ItemState.ASSIGNED, "a")


# -- R16: free units -------------------------------------------------------------------------------


def test_agent_with_exactly_the_items_units_free_is_eligible(rig: Rigger) -> None:
    """R16: free units equal to the item's units are enough."""
    r = rig(config({"a": {"capacity_units": 60}}, workstream={"capacity": {"units": 30}, **AUTO}))
    submit(r, "c1")
    assert holder(r, submit(r, "c2")) == "a"
    assert r.engine.agent("a").free_units == 0


def test_agent_with_fewer_free_units_than_the_item_needs_is_passed_over(rig: Rigger) -> None:
    """R16: an agent whose free units are below the item's units is not offered it."""
    r = rig(config({"a": {"capacity_units": 60}}, workstream={"capacity": {"units": 30}, **AUTO}))
    submit(r, "c1")
    second = submit(r, "c2", units=31)
    assert r.engine.item(second).state is ItemState.QUEUED
    assert r.engine.agent("a").used_units == 30


def test_items_own_units_decide_even_below_the_workstreams_units(rig: Rigger) -> None:
    """R16: an item needing fewer units than its workstream's fits an agent with that room."""
    r = rig(config({"a": {"capacity_units": 50}}))  # the workstream's items take 100 units
    assert offered_to(r, submit(r, "c1", units=30)) == "a"


def test_item_larger_than_its_workstreams_units_skips_agents_without_room(rig: Rigger) -> None:
    """R16: free units are checked against the item's own units, above the workstream's."""
    agents = {"a": {"capacity_units": 100}, "b": {"capacity_units": 300}}
    ws = {"capacity": {"units": 30}}
    r = rig(config(agents, method="round_robin", workstream=ws))
    # Round robin would start with a; only b has room for 150 units.
    assert offered_to(r, submit(r, "c1", units=150)) == "b"


# -- R16: capacity profiles ------------------------------------------------------------------------

CHAT_EMAIL = {"chat": {"limit": 3}, "email": {"limit": 1}}
CHAT_WS = {"capacity": {"units": 10, "profiles": ["chat"]}, **AUTO}


def test_agent_at_a_profile_limit_is_passed_over(rig: Rigger) -> None:
    """R16: an agent whose profile is at its limit is passed over though its units are free."""
    agents = {
        "a": {"capacity_units": 500, "profiles": ["chat", "email"]},
        "b": {"profiles": ["chat"]},
    }
    profiles = {"chat": {"limit": 1}, "email": {"limit": 1}}
    r = rig(config(agents, profiles=profiles, workstream=CHAT_WS))
    first, second = submit(r, "c1"), submit(r, "c2")
    assert (holder(r, first), holder(r, second)) == ("a", "b")
    assert r.engine.agent("a").free_units == 490


def test_every_profile_the_item_carries_needs_room(rig: Rigger) -> None:
    """R16: an item carrying two profiles needs room in both; room in one is not enough."""
    agents = {
        "a": {"capacity_units": 500, "profiles": ["chat", "email"]},
        "b": {"profiles": ["chat", "email"]},
    }
    r = rig(config(agents, profiles=CHAT_EMAIL, workstream=CHAT_WS))
    assert holder(r, submit(r, "c1", profiles=["email"])) == "a"
    # a: chat 1 of 3, email 1 of 1.
    assert holder(r, submit(r, "c2", profiles=["email"])) == "b"


def test_agent_lacking_a_profile_of_the_item_is_not_eligible(rig: Rigger) -> None:
    """R16: an agent must hold every capacity profile the item carries."""
    agents = {
        "a": {"capacity_units": 500, "profiles": ["chat"]},
        "b": {"profiles": ["chat", "email"]},
    }
    r = rig(config(agents, profiles=CHAT_EMAIL, workstream=CHAT_WS))
    assert holder(r, submit(r, "c1", profiles=["email"])) == "b"


def test_agent_profile_limit_override_replaces_the_profiles_limit(rig: Rigger) -> None:
    """R16: an agent's own limit for a profile is the room it has in that profile."""
    agents = {"a": {"profiles": {"chat": 2, "email": None}}}
    r = rig(
        config(agents, profiles={"chat": {"limit": 1}, "email": {"limit": 1}}, workstream=CHAT_WS)
    )
    items = [submit(r, f"c{n}") for n in range(3)]
    assert [holder(r, i) for i in items] == ["a", "a", None]
    assert r.engine.agent("a").profile_used["chat"] == 2


def test_non_blocking_profile_never_refuses_an_assignment(rig: Rigger) -> None:
    """R16: a blocking: false profile at its limit still lets the agent take work."""
    profiles = {"chat": {"limit": 1, "blocking": False}}
    r = rig(config({"a": {"profiles": ["chat"]}}, profiles=profiles, workstream=CHAT_WS))
    items = [submit(r, f"c{n}") for n in range(3)]
    assert [holder(r, i) for i in items] == ["a", "a", "a"]


def test_agent_lacking_a_non_blocking_profile_is_not_eligible(rig: Rigger) -> None:
    """R16: a non-blocking profile never refuses by its limit, but the agent must still hold it."""
    profiles = {"chat": {"limit": 1, "blocking": False}}
    agents = {"a": {"capacity_units": 500}, "b": {"profiles": ["chat"]}}
    r = rig(config(agents, profiles=profiles, workstream=CHAT_WS))
    assert holder(r, submit(r, "c1")) == "b"


def test_immediate_profile_room_returns_when_the_item_is_released(rig: Rigger) -> None:
    """R16: an immediate profile counts items held now; closing one gives the room back."""
    agents = {"a": {"profiles": ["chat", "email"]}}
    profiles = {"chat": {"limit": 1}, "email": {"limit": 1}}
    r = rig(config(agents, profiles=profiles, workstream=CHAT_WS))
    first, second = submit(r, "c1"), submit(r, "c2")
    assert r.engine.item(second).state is ItemState.QUEUED
    r.engine.close(first)
    assert holder(r, second) == "a"


def test_end_of_day_profile_counts_the_items_taken_today(rig: Rigger) -> None:
    """R16: an end_of_day profile has no room after its limit of items today, even once closed."""
    profiles = {"daily": {"limit": 1, "reset": "end_of_day"}}
    ws = {"capacity": {"units": 10, "profiles": ["daily"]}, **AUTO}
    r = rig(config({"a": {"profiles": ["daily"]}}, profiles=profiles, workstream=ws))
    first = submit(r, "c1")
    r.at(60)
    r.engine.close(first)
    second = submit(r, "c2")
    assert r.engine.item(second).state is ItemState.QUEUED
    r.at(2 * 86400)
    [assigned] = [e for e in r.of_type("item_assigned") if e.item == second]
    assert (assigned.agent, assigned.t) == ("a", 86400.0)


# -- R16: skills -----------------------------------------------------------------------------------


def test_agent_at_exactly_the_required_level_is_eligible(rig: Rigger) -> None:
    """R16: exact matching accepts a skill level equal to the required level."""
    r = rig(config({"a": {"skills": {"french": 5}}}))
    assert offered_to(r, submit(r, "c1", skills=[need("french", 5)])) == "a"


def test_agent_below_the_required_level_is_not_eligible(rig: Rigger) -> None:
    """R16: exact matching refuses a skill level below the required one."""
    agents = {"a": {"skills": {"french": 4}, "capacity_units": 500}, "b": {"skills": {"french": 9}}}
    r = rig(config(agents))
    assert offered_to(r, submit(r, "c1", skills=[need("french", 5)])) == "b"


def test_agent_missing_one_required_skill_is_not_eligible(rig: Rigger) -> None:
    """R16: every required skill is needed, not just some."""
    agents = {
        "a": {"skills": {"french": 9}, "capacity_units": 500},
        "b": {"skills": {"french": 1, "billing": 1}},
    }
    r = rig(config(agents))
    assert offered_to(r, submit(r, "c1", skills=[need("french"), need("billing")])) == "b"


def test_item_waits_when_no_agent_has_the_required_skill(rig: Rigger) -> None:
    """R16: an item whose skills nobody holds is offered to no one."""
    r = rig(config({"a": {"skills": {"french": 9}}}))
    item = submit(r, "c1", skills=[need("spanish")])
    assert r.engine.item(item).state is ItemState.QUEUED
    assert r.of_type("offer_made") == []


def test_missing_optional_skill_does_not_exclude_the_agent(rig: Rigger) -> None:
    """R16: an optional skill the agent lacks does not make it ineligible."""
    r = rig(config({"a": {"skills": {"french": 3}}}))
    skills = [need("french", 3), need("billing", 5, optional=True)]
    assert offered_to(r, submit(r, "c1", skills=skills)) == "a"


def test_optional_skill_below_its_level_does_not_exclude_the_agent(rig: Rigger) -> None:
    """R16: an optional skill held below its level does not make the agent ineligible."""
    r = rig(config({"a": {"skills": {"french": 3, "billing": 1}}}))
    skills = [need("french", 3), need("billing", 5, optional=True)]
    assert offered_to(r, submit(r, "c1", skills=skills)) == "a"


def test_skill_match_none_ignores_skills(rig: Rigger) -> None:
    """R16: with skill_match none an agent without the required skills is eligible."""
    r = rig(config({"a": {}}, workstream={"skill_match": "none"}))
    assert offered_to(r, submit(r, "c1", skills=[need("french", 9)])) == "a"


# -- R16: calendars (R36) --------------------------------------------------------------------------


def test_agent_outside_working_hours_is_passed_over_when_calendars_are_respected(
    rig: Rigger,
) -> None:
    """R16: with respect_calendars, an agent outside its working hours is not eligible."""
    agents = {"a": {"calendar": "day", "capacity_units": 500}, "b": {}}
    text = config(agents, calendars=DAY_CALENDAR, queue={"respect_calendars": True})
    r = rig(text, epoch=MONDAY_0700)
    assert offered_to(r, submit(r, "c1")) == "b"


def test_agent_becomes_eligible_when_its_working_hours_start(rig: Rigger) -> None:
    """R16: the waiting item is offered at the instant the agent's working hours start."""
    text = config(
        {"a": {"calendar": "day"}}, calendars=DAY_CALENDAR, queue={"respect_calendars": True}
    )
    r = rig(text, epoch=MONDAY_0700)
    item = submit(r, "c1")
    r.at(HOUR - 1)
    assert offered_to(r, item) is None
    r.at(HOUR + 600)
    assert first_offer(r, item).t == HOUR


def test_agent_stops_being_eligible_when_its_working_hours_end(rig: Rigger) -> None:
    """R16: after the end of its working hours the agent is offered nothing more."""
    text = config(
        {"a": {"calendar": "day"}}, calendars=DAY_CALENDAR, queue={"respect_calendars": True}
    )
    r = rig(text, epoch=datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    r.at(HOUR)
    item = submit(r, "c1")
    assert r.engine.item(item).state is ItemState.QUEUED


def test_calendar_is_ignored_when_the_queue_does_not_respect_calendars(rig: Rigger) -> None:
    """R16: without respect_calendars, working hours do not limit eligibility."""
    r = rig(config({"a": {"calendar": "day"}}, calendars=DAY_CALENDAR), epoch=MONDAY_0700)
    assert offered_to(r, submit(r, "c1")) == "a"


# -- R16: declines (R25) ---------------------------------------------------------------------------


def test_decliner_is_excluded_for_that_item_only(rig: Rigger) -> None:
    """R16: a decline excludes the agent for the declined item, not for other items."""
    r = rig(config({"a": {"capacity_units": 500}, "b": {}}))
    first = submit(r, "c1")
    r.engine.decline(r.last_offer(first).offer, agent="a")
    assert offered_to(r, first) == "b"
    assert offered_to(r, submit(r, "c2")) == "a"


# -- R17: built-in methods -------------------------------------------------------------------------


def test_highest_capacity_chooses_the_most_free_units(rig: Rigger) -> None:
    """R17: highest_capacity offers the item to the agent with the most free units."""
    agents = {
        "a": {"capacity_units": 100},
        "b": {"capacity_units": 150},
        "c": {"capacity_units": 120},
    }
    r = rig(config(agents))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_highest_capacity_counts_free_units_not_total_units(rig: Rigger) -> None:
    """R17: highest_capacity compares units free now, after what agents already hold."""
    agents = {
        "a": {"capacity_units": 100},
        "b": {"capacity_units": 150},
        "c": {"capacity_units": 120},
    }
    r = rig(config(agents, workstream={"capacity": {"units": 60}, **AUTO}))
    items = [submit(r, f"c{n}") for n in range(3)]
    # b 150 → 90 free; then c 120 → 60 free; then a with 100 free.
    assert [holder(r, i) for i in items] == ["b", "c", "a"]


def test_round_robin_chooses_the_earliest_last_assignment(rig: Rigger) -> None:
    """R17: round_robin rotates through the members by their last assignment."""
    r = rig(
        config(
            {"a": {}, "b": {}, "c": {}},
            method="round_robin",
            workstream={"capacity": {"units": 10}, **AUTO},
        )
    )
    owners = []
    for n in range(5):
        r.at(10.0 * n)
        owners.append(holder(r, submit(r, f"c{n}")))
    assert owners == ["a", "b", "c", "a", "b"]


def test_round_robin_counts_assignments_in_this_queue_only(rig: Rigger) -> None:
    """R17: round_robin reads the last assignment in this queue, not in the agent's other queues."""
    text = """
workstreams:
  chat:
    kind: messaging
    capacity: {units: 10}
    offer: {auto_accept: true}
    fallback_queue: q
    route_to_queue:
      - {when: 'item.lane == "side"', queue: side}
      - {when: 'true', queue: q}
queues:
  q: {kind: messaging, members: [a, b], assignment: {method: round_robin}}
  side: {kind: messaging, members: [a], assignment: {method: round_robin}}
agents: {a: {}, b: {}}
"""
    r = rig(text)
    assert holder(r, submit(r, "c1")) == "a"
    r.at(10)
    assert holder(r, submit(r, "c2")) == "b"
    r.at(20)
    assert holder(r, submit(r, "c3", attributes={"lane": "side"})) == "a"
    r.at(30)
    # In q, a was last given work at 0 and b at 10: a's turn, whatever a did in "side".
    assert holder(r, submit(r, "c4")) == "a"


def test_round_robin_orders_never_assigned_members_by_join_time(rig: Rigger) -> None:
    """R17: members never assigned in the queue come in the order they joined it, not by id."""
    agents = {"zed": {}, "amy": {}}
    r = rig(config(agents, method="round_robin", members=["zed"]))
    r.at(10)
    r.engine.apply_config(parsed(config(agents, method="round_robin", members=["amy", "zed"])))
    r.at(20)
    assert offered_to(r, submit(r, "c1")) == "zed"


def test_round_robin_serves_never_assigned_members_before_assigned_ones(rig: Rigger) -> None:
    """R17: a member never assigned in the queue goes before one assigned there, even if newer."""
    agents = {"amy": {}, "zed": {}}
    r = rig(config(agents, method="round_robin", members=["amy"], workstream=AUTO))
    first = submit(r, "c1")
    assert holder(r, first) == "amy"
    r.at(5)
    r.engine.close(first)
    r.at(10)
    r.engine.apply_config(
        parsed(config(agents, method="round_robin", members=["amy", "zed"], workstream=AUTO))
    )
    r.at(20)
    assert holder(r, submit(r, "c2")) == "zed"


def test_round_robin_rotates_on_offers_not_only_on_accepts(rig: Rigger) -> None:
    """R17: a push assignment is the offer, so round_robin moves on to the next member per offer."""
    r = rig(
        config({"a": {}, "b": {}}, method="round_robin", workstream={"capacity": {"units": 10}})
    )
    first = submit(r, "c1")
    r.at(1)
    second = submit(r, "c2")
    assert (offered_to(r, first), offered_to(r, second)) == ("a", "b")


def test_least_active_chooses_the_earliest_last_capacity_release(rig: Rigger) -> None:
    """R17: least_active prefers the agent whose last capacity release is the oldest."""
    r = rig(config({"a": {}, "b": {}, "c": {}}, method="least_active", workstream=AUTO))
    first, second, third = submit(r, "c1"), submit(r, "c2"), submit(r, "c3")
    assert [holder(r, i) for i in (first, second, third)] == ["a", "b", "c"]
    r.at(10)
    r.engine.close(second)  # b released at 10
    r.at(20)
    r.engine.close(first)  # a released at 20
    r.at(30)
    assert holder(r, submit(r, "c4")) == "b"


def test_least_active_prefers_an_agent_that_never_released_capacity(rig: Rigger) -> None:
    """R17: under least_active an agent that never released capacity beats one that did."""
    agents = {"a": {"capacity_units": 100}, "d": {"capacity_units": 200}}
    r = rig(config(agents, method="least_active", workstream=AUTO))
    first = submit(r, "c1")
    r.at(5)
    second = submit(r, "c2")
    assert (holder(r, first), holder(r, second)) == ("a", "d")
    r.at(10)
    r.engine.close(first)  # a: released at 10, 100 free; d: never released, 100 free
    r.at(20)
    assert holder(r, submit(r, "c3")) == "d"


def test_most_skilled_chooses_the_highest_summed_level_over_required_skills(rig: Rigger) -> None:
    """R17: most_skilled sums the levels of the required skills only."""
    agents = {
        "a": {"skills": {"french": 9, "billing": 1, "spanish": 10}, "capacity_units": 500},
        "b": {"skills": {"french": 5, "billing": 6}},
        "c": {"skills": {"french": 10}},
    }
    r = rig(config(agents, method="most_skilled"))
    assert offered_to(r, submit(r, "c1", skills=[need("french"), need("billing")])) == "b"


def test_ties_are_broken_by_round_robin(rig: Rigger) -> None:
    """R17: agents equal under the method are ordered by round robin before their id."""
    r = rig(config({"a": {}, "b": {}}, workstream=AUTO))
    owners = []
    for n in range(3):
        r.at(10.0 * n)
        item = submit(r, f"c{n}")
        owners.append(holder(r, item))
        r.at(10.0 * n + 5)
        r.engine.close(item)
    # Equal free units each time: a (id), b (never assigned), a (assigned longest ago).
    assert owners == ["a", "b", "a"]


def test_ties_are_broken_last_by_agent_id(rig: Rigger) -> None:
    """R17: among agents equal in everything, the smallest id wins, whatever the listing order."""
    r = rig(config({"zed": {}, "bob": {}, "amy": {}}))
    assert offered_to(r, submit(r, "c1")) == "amy"


def test_agents_freed_at_the_same_instant_compete_by_the_method(rig: Rigger) -> None:
    """R17: agents whose hours start at one instant are ranked by the method, not by listing."""
    agents = {"small": {"calendar": "day"}, "big": {"calendar": "day", "capacity_units": 300}}
    text = config(agents, calendars=DAY_CALENDAR, queue={"respect_calendars": True})
    r = rig(text, epoch=MONDAY_0700)
    item = submit(r, "c1")
    r.at(HOUR)
    assert offered_to(r, item) == "big"


def test_agents_freed_at_the_same_instant_tie_by_agent_id(rig: Rigger) -> None:
    """R17: equal agents whose hours start at the same instant tie by id, not by listing order."""
    agents = {"zed": {"calendar": "day"}, "amy": {"calendar": "day"}}
    text = config(agents, calendars=DAY_CALENDAR, queue={"respect_calendars": True})
    r = rig(text, epoch=MONDAY_0700)
    item = submit(r, "c1")
    r.at(HOUR)
    assert offered_to(r, item) == "amy"


# -- R17: never random (property) ------------------------------------------------------------------

NAMES = ["ann", "bob", "cid", "dee", "eve"]
BUILT_IN = ["highest_capacity", "round_robin", "least_active", "most_skilled"]


def _offers(text: str, items: list[tuple[int, int]]) -> list[tuple[str | None, str | None]]:
    """Run ``items`` (units, french level) one second apart; the (item, agent) of every offer."""
    clock = ManualClock(0.0)
    engine = Engine(parsed(text), clock=clock)
    for n, (units, level) in enumerate(items):
        clock.set(float(n))
        engine.submit(
            external_id=f"c{n}", workstream="chat", units=units, skills=[need("french", level)]
        )
    return [(e.item, e.agent) for e in engine.drain_events() if e.type == "offer_made"]


def _expected_first(
    method: str, agents: dict[str, dict[str, Any]], units: int, level: int
) -> str | None:
    """The R17 winner for the first item, when nobody was ever assigned and all joined together."""
    fit = [
        a
        for a, d in agents.items()
        if d["capacity_units"] >= units and d["skills"].get("french", 0) >= level
    ]
    if not fit:
        return None
    if method == "highest_capacity":
        return min(fit, key=lambda a: (-agents[a]["capacity_units"], a))
    if method == "most_skilled":
        return min(fit, key=lambda a: (-agents[a]["skills"].get("french", 0), a))
    return min(fit)


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(NAMES),
    count=st.integers(min_value=2, max_value=5),
    method=st.sampled_from(BUILT_IN),
    capacities=st.lists(st.sampled_from([50, 100, 150]), min_size=5, max_size=5),
    levels=st.lists(st.integers(min_value=0, max_value=10), min_size=5, max_size=5),
    items=st.lists(
        st.tuples(st.sampled_from([30, 50, 100]), st.sampled_from([1, 5])), min_size=1, max_size=4
    ),
    shuffle=st.randoms(use_true_random=False),
)
def test_the_chosen_agent_is_deterministic_and_independent_of_listing_order(
    order: list[str],
    count: int,
    method: str,
    capacities: list[int],
    levels: list[int],
    items: list[tuple[int, int]],
    shuffle: Any,
) -> None:
    """R17: the same configuration and items give the same offers, whatever the listing order."""
    chosen = order[:count]
    agents = {
        name: {
            "capacity_units": capacities[n],
            "skills": {"french": levels[n]} if levels[n] else {},
        }
        for n, name in enumerate(chosen)
    }
    # Items need 30 to 100 units: the workstream's own 30 keeps every agent in the pools.
    ws = {"capacity": {"units": 30}}
    text = config(agents, method=method, workstream=ws)
    relisted = list(chosen)
    shuffle.shuffle(relisted)
    text_relisted = config({a: agents[a] for a in relisted}, method=method, workstream=ws)
    runs = [_offers(text, items), _offers(text, items), _offers(text_relisted, items)]
    assert runs[0] == runs[1] == runs[2]
    first = [agent for item, agent in runs[0] if item == "w000000001"]
    assert first[:1] == [a for a in [_expected_first(method, agents, *items[0])] if a is not None]


# -- R18: closest skill matching -------------------------------------------------------------------

CLOSEST = {"skill_match": "closest"}
FRENCH_5 = [need("french", 5)]


def test_closest_prefers_an_exactly_qualified_agent(rig: Rigger) -> None:
    """R18: an exactly qualified agent goes before over- and under-qualified ones."""
    agents = {
        "over": {"skills": {"french": 7}, "capacity_units": 500},
        "under": {"skills": {"french": 3}, "capacity_units": 400},
        "exact": {"skills": {"french": 5}},
    }
    r = rig(config(agents, workstream=CLOSEST))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "exact"


def test_closest_prefers_over_qualified_to_under_qualified(rig: Rigger) -> None:
    """R18: with no exact match, an over-qualified agent goes before an under-qualified one."""
    agents = {
        "under": {"skills": {"french": 4}, "capacity_units": 500},
        "over": {"skills": {"french": 9}},
    }
    r = rig(config(agents, workstream=CLOSEST))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "over"


def test_closest_offers_to_an_under_qualified_agent_when_no_one_else_is_free(rig: Rigger) -> None:
    """R18: closest matching ranks under-qualified agents last but does not exclude them."""
    r = rig(config({"under": {"skills": {"french": 2}}}, workstream=CLOSEST))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "under"


def test_r18_closeness_counts_every_required_skill(rig: Rigger) -> None:
    """R18: over by 2 on billing (exact on french) is farther than over by 1 on french alone."""
    agents = {
        "two_over": {"skills": {"billing": 7, "french": 5}, "capacity_units": 500},
        "one_over": {"skills": {"billing": 5, "french": 6}},
    }
    r = rig(config(agents, workstream=CLOSEST))
    needs = [need("billing", 5), need("french", 5)]
    assert offered_to(r, submit(r, "c1", skills=needs)) == "one_over"


def test_r18_an_optional_skill_does_not_stop_the_closeness_of_the_others(rig: Rigger) -> None:
    """R18: an optional skill is skipped, and the required ones after it still count."""
    agents = {
        "over": {"skills": {"french": 9}, "capacity_units": 500},
        "exact": {"skills": {"french": 5}},
    }
    r = rig(config(agents, workstream=CLOSEST))
    needs = [model.SkillReq(name="billing", level=1, optional=True), need("french", 5)]
    assert offered_to(r, submit(r, "c1", skills=needs)) == "exact"


def test_closest_prefers_the_closer_over_qualified_agent(rig: Rigger) -> None:
    """R18: among over-qualified agents, the one closest to the required level goes first."""
    agents = {
        "far": {"skills": {"french": 9}, "capacity_units": 500},
        "near": {"skills": {"french": 6}},
    }
    r = rig(config(agents, workstream=CLOSEST))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "near"


def test_closest_prefers_the_closer_under_qualified_agent(rig: Rigger) -> None:
    """R18: among under-qualified agents, the one closest to the required level goes first."""
    agents = {
        "far": {"skills": {"french": 1}, "capacity_units": 500},
        "near": {"skills": {"french": 4}},
    }
    r = rig(config(agents, workstream=CLOSEST))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "near"


def test_closest_breaks_equal_closeness_by_the_method(rig: Rigger) -> None:
    """R18: agents equally close are ordered by the queue's method (here highest_capacity)."""
    agents = {"a": {"skills": {"french": 5}}, "b": {"skills": {"french": 5}, "capacity_units": 200}}
    r = rig(config(agents, workstream=CLOSEST))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "b"


# -- R19: custom assignment ------------------------------------------------------------------------


def custom(agents: dict[str, dict[str, Any]], rules: list[dict[str, Any]], **kw: Any) -> str:
    return config(agents, method="custom", rules=rules, **kw)


def team(name: str, experience: int, **fields: Any) -> dict[str, Any]:
    """An agent definition with a team and an experience attribute."""
    return {"attributes": {"team": name, "experience": experience}, **fields}


VIP_THEN_ANYONE = [
    {"when": 'agent.team == "vip"', "order_by": "agent.experience"},
    {"when": "true", "order_by": "agent.free_units"},
]


def test_custom_first_rule_true_for_an_eligible_agent_decides(rig: Rigger) -> None:
    """R19: the first rule holding for an eligible agent decides; later rules are not tried."""
    agents = {"std": team("std", 9, capacity_units=500), "vip": team("vip", 1)}
    r = rig(custom(agents, VIP_THEN_ANYONE))
    assert offered_to(r, submit(r, "c1")) == "vip"


def test_custom_rule_true_only_for_ineligible_agents_is_skipped(rig: Rigger) -> None:
    """R19: a rule holding only for ineligible agents does not match; the next rule is tried."""
    agents = {"std": team("std", 9), "vip": team("vip", 1, default_presence="away")}
    r = rig(custom(agents, VIP_THEN_ANYONE))
    assert offered_to(r, submit(r, "c1")) == "std"


def test_custom_condition_reads_item_and_agent(rig: Rigger) -> None:
    """R19: a rule's condition may compare the item with the agent."""
    rules = [
        {"when": "agent.language == item.language", "order_by": "agent.experience"},
        {"when": "true", "order_by": "agent.experience"},
    ]
    agents = {
        "en": {"attributes": {"language": "en", "experience": 9}},
        "fr": {"attributes": {"language": "fr", "experience": 1}},
    }
    r = rig(custom(agents, rules))
    assert offered_to(r, submit(r, "c1", attributes={"language": "fr"})) == "fr"


def test_custom_order_by_expression_puts_the_largest_first(rig: Rigger) -> None:
    """R19: order_by is an expression over the agent, larger first by default."""
    agents = {"a": team("x", 3), "b": team("x", 8), "c": team("x", 5)}
    r = rig(custom(agents, [{"when": "true", "order_by": "agent.experience"}]))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_custom_order_by_ascending_puts_the_smallest_first(rig: Rigger) -> None:
    """R19: with desc: false, order_by puts the smallest value first."""
    agents = {"a": team("x", 8), "c": team("x", 3), "b": team("x", 5)}
    rules = [{"when": "true", "order_by": "agent.experience", "desc": False}]
    r = rig(custom(agents, rules))
    assert offered_to(r, submit(r, "c1")) == "c"


def test_custom_order_by_highest_capacity_method_name(rig: Rigger) -> None:
    """R19: order_by may name the built-in highest_capacity method."""
    agents = {"a": team("x", 1), "b": team("x", 1, capacity_units=300)}
    r = rig(custom(agents, [{"when": "true", "order_by": "highest_capacity"}]))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_custom_order_by_least_active_method_name(rig: Rigger) -> None:
    """R19: order_by may name the built-in least_active method."""
    agents = {"a": team("x", 1), "b": team("x", 1)}
    rules = [{"when": "true", "order_by": "least_active"}]
    r = rig(custom(agents, rules, workstream=AUTO))
    first, second = submit(r, "c1"), submit(r, "c2")
    assert (holder(r, first), holder(r, second)) == ("a", "b")
    r.at(10)
    r.engine.close(second)  # b released at 10
    r.at(20)
    r.engine.close(first)  # a released at 20
    assert holder(r, submit(r, "c3")) == "b"


def test_custom_order_by_most_skilled_method_name(rig: Rigger) -> None:
    """R19: order_by may name the built-in most_skilled method (highest summed required level)."""
    agents = {"a": {"skills": {"french": 2}}, "b": {"skills": {"french": 9}}}
    r = rig(custom(agents, [{"when": "true", "order_by": "most_skilled"}]))
    assert offered_to(r, submit(r, "c1", skills=[need("french")])) == "b"


def test_custom_ties_are_broken_by_agent_id(rig: Rigger) -> None:
    """R19: agents equal by order_by tie as in R17, ending with the smallest id."""
    agents = {"zed": team("x", 5), "amy": team("x", 5)}
    r = rig(custom(agents, [{"when": "true", "order_by": "agent.experience"}]))
    assert offered_to(r, submit(r, "c1")) == "amy"


def test_custom_ties_are_broken_by_round_robin_first(rig: Rigger) -> None:
    """R19: agents equal by order_by tie by round robin before their id."""
    agents = {"zed": team("x", 5), "amy": team("x", 5)}
    r = rig(custom(agents, [{"when": "true", "order_by": "agent.experience"}], workstream=AUTO))
    first = submit(r, "c1")
    assert holder(r, first) == "amy"
    r.at(5)
    r.engine.close(first)
    r.at(10)
    assert holder(r, submit(r, "c2")) == "zed"


def test_custom_item_waits_when_no_rule_matches(rig: Rigger) -> None:
    """R19: when no rule holds for any eligible agent, the item waits."""
    r = rig(
        custom(
            {"std": team("std", 9)},
            [{"when": 'agent.team == "vip"', "order_by": "agent.experience"}],
        )
    )
    item = submit(r, "c1")
    r.at(1000)
    assert r.engine.item(item).state is ItemState.QUEUED
    assert r.of_type("offer_made") == []


def test_custom_waiting_item_goes_to_a_matching_agent_who_becomes_available(rig: Rigger) -> None:
    """R19: an agent who becomes eligible takes a waiting item only if a rule gives it to them."""
    rules = [{"when": 'agent.team == "vip"', "order_by": "agent.experience"}]
    agents = {
        "std": team("std", 9, default_presence="away"),
        "vip": team("vip", 1, default_presence="away"),
    }
    r = rig(custom(agents, rules))
    item = submit(r, "c1")
    r.engine.set_presence("std", model.BasePresence.AVAILABLE)
    assert offered_to(r, item) is None
    r.engine.set_presence("vip", model.BasePresence.AVAILABLE)
    assert offered_to(r, item) == "vip"


ANYONE_BY_EXPERIENCE = [{"when": "true", "order_by": "agent.experience"}]


def test_custom_rule_keeps_the_presence_check(rig: Rigger) -> None:
    """R19: a custom rule never gives the item to an agent whose presence is not allowed."""
    agents = {"a": team("x", 9, default_presence="away"), "b": team("x", 1)}
    r = rig(custom(agents, ANYONE_BY_EXPERIENCE))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_custom_rule_keeps_the_capacity_check(rig: Rigger) -> None:
    """R19: a custom rule never gives the item to an agent without enough free units."""
    agents = {"a": team("x", 9, capacity_units=50), "b": team("x", 1)}
    r = rig(custom(agents, ANYONE_BY_EXPERIENCE))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_custom_rule_keeps_the_skill_check(rig: Rigger) -> None:
    """R19: a custom rule never gives the item to an agent lacking a required skill."""
    agents = {"a": team("x", 9, skills={"french": 2}), "b": team("x", 1, skills={"french": 6})}
    r = rig(custom(agents, ANYONE_BY_EXPERIENCE))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "b"


def test_custom_rule_keeps_the_profile_check(rig: Rigger) -> None:
    """R19: a custom rule never gives the item to an agent lacking a profile it carries."""
    agents = {"a": team("x", 9), "b": team("x", 1, profiles=["chat"])}
    ws = {"capacity": {"units": 10, "profiles": ["chat"]}}
    r = rig(custom(agents, ANYONE_BY_EXPERIENCE, workstream=ws, profiles={"chat": {"limit": 2}}))
    assert offered_to(r, submit(r, "c1")) == "b"


def test_custom_rule_ignoring_skills_relaxes_the_skill_check(rig: Rigger) -> None:
    """R19: a rule with ignore: [skills] may give the item to an agent lacking the skills."""
    agents = {"a": team("x", 9), "b": team("x", 1, skills={"french": 6})}
    rules = [{"when": "true", "order_by": "agent.experience", "ignore": ["skills"]}]
    r = rig(custom(agents, rules))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "a"


def test_custom_rule_ignoring_skills_still_checks_capacity(rig: Rigger) -> None:
    """R19: ignore: [skills] relaxes skills only; capacity is still required."""
    agents = {"a": team("x", 9, capacity_units=50), "b": team("x", 1, skills={"french": 6})}
    rules = [{"when": "true", "order_by": "agent.experience", "ignore": ["skills"]}]
    r = rig(custom(agents, rules))
    assert offered_to(r, submit(r, "c1", skills=FRENCH_5)) == "b"


# -- R20: skill relaxation -------------------------------------------------------------------------


def steps(*pairs: tuple[list[dict[str, Any]], float]) -> dict[str, Any]:
    """A workstream routing to ``q`` through the given (skills, after_s) relaxation steps."""
    return {
        "route_to_queue": [
            {
                "when": "true",
                "queue": "q",
                "steps": [{"skills": s, "after_s": after} for s, after in pairs],
            }
        ]
    }


def french(level: int) -> list[dict[str, Any]]:
    return [{"name": "french", "level": level}]


#: Agent "a" (french 5) meets only the second step, due 60 s after the first queueing.
TWO_STEPS_FOR_FRENCH_5 = config(
    {"a": {"skills": {"french": 5}}}, workstream=steps((french(8), 0), (french(3), 60))
)


def test_relaxation_keeps_the_first_step_until_the_next_one_is_due(rig: Rigger) -> None:
    """R20: before the next step's after_s, the item needs the first step's skills."""
    r = rig(TWO_STEPS_FOR_FRENCH_5)
    item = submit(r, "c1")
    r.at(59.999)
    assert offered_to(r, item) is None
    assert r.engine.item(item).state is ItemState.QUEUED


def test_relaxation_step_applies_exactly_at_its_after_s(rig: Rigger) -> None:
    """R20: the requirements relax at exactly after_s, even when the engine is woken later."""
    r = rig(TWO_STEPS_FOR_FRENCH_5)
    item = submit(r, "c1")
    r.at(100)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("a", 60.0)


THREE_STEPS = steps((french(9), 0), (french(6), 30), (french(2), 90))
#: "six" would meet the 30 s step but is away; "two" meets only the 90 s step.
SIX_AWAY_AND_TWO = {
    "six": {"skills": {"french": 6}, "default_presence": "away"},
    "two": {"skills": {"french": 2}},
}


def test_relaxation_steps_apply_each_at_its_own_time(rig: Rigger) -> None:
    """R20: with several steps, each applies at its own after_s from the first queueing, in turn."""
    r = rig(config(SIX_AWAY_AND_TWO, workstream=THREE_STEPS))
    r.at(10)
    item = submit(r, "c1")
    r.at(99.9)
    assert offered_to(r, item) is None
    r.at(300)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("two", 100.0)


def test_relaxation_steps_of_an_item_queued_at_time_zero_apply_on_time(rig: Rigger) -> None:
    """R20: an item first queued at engine time 0 relaxes at each step's own after_s."""
    r = rig(config(SIX_AWAY_AND_TWO, workstream=THREE_STEPS))
    item = submit(r, "c1")
    r.at(300)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("two", 90.0)


def test_relaxation_reaches_an_agent_qualified_by_a_middle_step(rig: Rigger) -> None:
    """R20: an agent meeting the second step's skills is offered the item when that step is due."""
    ws = steps((french(9), 0), (french(6), 30), (french(2), 90))
    r = rig(config({"six": {"skills": {"french": 6}}}, workstream=ws))
    item = submit(r, "c1")
    r.at(200)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("six", 30.0)


def test_relaxation_is_timed_from_when_the_item_started_waiting(rig: Rigger) -> None:
    """R20: after_s counts from the item's first queueing, not from time zero."""
    r = rig(TWO_STEPS_FOR_FRENCH_5)
    r.at(25)
    item = submit(r, "c1")
    r.at(200)
    assert first_offer(r, item).t == 85.0


def test_relaxation_step_without_skills_lets_any_agent_qualify(rig: Rigger) -> None:
    """R20: a step's skills replace the item's requirements, so an empty step requires nothing."""
    r = rig(config({"a": {}}, workstream=steps((french(9), 0), ([], 45))))
    item = submit(r, "c1")
    r.at(100)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("a", 45.0)


def french_by_classification(steps_ws: dict[str, Any]) -> dict[str, Any]:
    """``steps_ws`` with a classification that requires french 5 of items in French."""
    rule = {"when": 'item.language == "fr"', "skills": [{"name": "french", "level": 5}]}
    return {**steps_ws, "classification": [{"name": "language", "rules": [rule]}]}


BILLING_STEPS = french_by_classification(
    steps(([{"name": "billing", "level": 8}], 0), ([{"name": "billing", "level": 2}], 60))
)


def test_r20_relaxation_keeps_the_skills_classification_added(rig: Rigger) -> None:
    """R20, R2: steps relax the route's own skills; classification's french 5 still holds."""
    agents = {"en": {"skills": {"billing": 9}}, "fr": {"skills": {"french": 6, "billing": 3}}}
    r = rig(config(agents, workstream=BILLING_STEPS))
    item = submit(r, "c1", attributes={"language": "fr"})
    r.at(200)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("fr", 60.0)
    needs = {s.name: s.level for s in r.engine.item(item).skills}
    assert needs == {"french": 5, "billing": 2}


def test_r20_an_english_only_agent_never_gets_a_french_item_through_relaxation(
    rig: Rigger,
) -> None:
    """R20: however far the steps relax, an agent without french is not offered a French item."""
    r = rig(config({"en": {"skills": {"billing": 9}}}, workstream=BILLING_STEPS))
    item = submit(r, "c1", attributes={"language": "fr"})
    r.at(1000)
    assert offered_to(r, item) is None


def test_r20_a_step_naming_a_classification_skill_relaxes_its_level(rig: Rigger) -> None:
    """R20: a step that names french itself relaxes classification's level to its own."""
    ws = french_by_classification(steps(([], 0), ([{"name": "french", "level": 2}], 30)))
    r = rig(config({"weak": {"skills": {"french": 2}}}, workstream=ws))
    item = submit(r, "c1", attributes={"language": "fr"})
    r.at(100)
    assert (first_offer(r, item).agent, first_offer(r, item).t) == ("weak", 30.0)
