"""Configuration validation and application, the trace, and the event contract (R41–R43, §6.1.1)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import config, errors
from unirouter.config.model import BasePresence, SkillReq
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.state import CloseReason, ItemState

Rigger = Callable[..., Any]
FIXTURE_OK = [HealthCheck.function_scoped_fixture]

OFFLINE, AVAILABLE = BasePresence.OFFLINE, BasePresence.AVAILABLE
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
NEEDS_BILLING = [SkillReq(name="billing", level=1)]


def parse(text: str) -> config.Config:
    return config.validate(yaml.safe_load(text))


def issues(data: object) -> dict[str, str]:
    """The issues ``validate`` reports, by field path."""
    with pytest.raises(errors.ConfigError) as caught:
        config.validate(data)
    return {issue.path: issue.message for issue in caught.value.issues}


def entries(item: Any, stage: str) -> list[dict[str, Any]]:
    return [entry for entry in item.trace if entry["stage"] == stage]


# -- R41: validation (engine side) ---------------------------------------------------------------------------


BAD = """
workstreams:
  chat: {kind: messaging, fallback_queue: chats}
  mail: {kind: record, fallback_queue: phones}
queues:
  chats:
    kind: messaging
    members: [ann, zed]
    overflow: [{when: {max_waiting: 3}, action: {transfer: nowhere}}]
  phones: {kind: voice}
agents:
  ann: {}
"""


def test_validate_reports_unknown_reference_with_its_field_path() -> None:
    """R41: an unknown agent and an unknown overflow target are reported at their fields."""
    found = issues(yaml.safe_load(BAD))
    assert "zed" in found["queues.chats.members[1]"]
    assert "nowhere" in found["queues.chats.overflow[0].action.transfer"]


def test_validate_reports_kind_mismatch_with_its_field_path() -> None:
    """R41: a record workstream falling back to a voice queue is reported at ``fallback_queue``."""
    found = issues(yaml.safe_load(BAD))
    assert "voice" in found["workstreams.mail.fallback_queue"]


def test_validate_reports_a_bad_expression_with_its_field_path() -> None:
    """R41: an expression that does not compile is reported at its field."""
    data = yaml.safe_load(BAD)
    data["queues"]["chats"] = {"kind": "messaging", "members": ["ann"]}
    data["workstreams"]["mail"]["fallback_queue"] = "cases"
    data["queues"]["cases"] = {"kind": "record"}
    data["workstreams"]["chat"]["route_to_queue"] = [{"when": "item.x ==", "queue": "chats"}]
    assert list(issues(data)) == ["workstreams.chat.route_to_queue[0].when"]


# -- R42: applying a configuration ---------------------------------------------------------------------------


def base_config(
    *, members: str = "[ann]", extra_queue: str = "", method: str = "round_robin"
) -> str:
    return f"""
workstreams:
  chat:
    kind: messaging
    offer: {{timeout_s: 1000}}
    fallback_queue: chats
    route_to_queue:
      - when: item.topic == "old"
        queue: old
      - when: "true"
        queue: chats
queues:
  chats:
    kind: messaging
    members: {members}
    assignment: {{method: {method}}}
    overflow: [{{when: {{waited_s: 300}}, action: end}}]
{extra_queue}
agents:
  ann: {{}}
  ben: {{}}
"""


OLD_QUEUE = "  old: {kind: messaging, members: [ben]}"


def test_apply_config_returns_the_new_version_and_announces_it(rig: Rigger) -> None:
    """R42: applying a configuration gives a new version, announced by config_applied."""
    r = rig(base_config(extra_queue=OLD_QUEUE))
    assert r.engine.config_version == 1
    version = r.engine.apply_config(parse(base_config(members="[ann, ben]", extra_queue=OLD_QUEUE)))
    assert version == r.engine.config_version == 2
    assert [e.data["version"] for e in r.of_type("config_applied")] == [1, 2]


def test_new_membership_takes_effect_for_the_next_decision(rig: Rigger) -> None:
    """R42, R21: a waiting item is offered to a newly added member within the same apply."""
    r = rig(base_config(extra_queue=OLD_QUEUE))
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.pump()
    r.engine.apply_config(parse(base_config(members="[ann, ben]", extra_queue=OLD_QUEUE)))
    types = [e.type for e in r.pump()]
    assert types.index("config_applied") < types.index("offer_made")
    assert (r.last_offer(item.id).agent, r.last_offer(item.id).t) == ("ben", 10)


METHOD = """
skills: {billing: {levels: 10}}
workstreams:
  chat: {kind: messaging, offer: {auto_accept: true}, fallback_queue: chats}
queues:
  chats: {kind: messaging, members: [ann, ben], assignment: {method: METHOD}}
agents:
  ann: {skills: {billing: 9}}
  ben: {skills: {billing: 2}}
"""


def test_new_assignment_method_decides_the_next_item(rig: Rigger) -> None:
    """R42: the first assignment after an apply follows the new queue method."""
    r = rig(METHOD.replace("METHOD", "round_robin"))
    first = r.engine.submit(external_id="a", workstream="chat", skills=NEEDS_BILLING)
    assert first.agent == "ann"
    r.engine.close(first.id)
    # Round robin would now choose ben, who was never assigned here; most_skilled chooses ann.
    r.engine.apply_config(parse(METHOD.replace("METHOD", "most_skilled")))
    second = r.engine.submit(external_id="b", workstream="chat", skills=NEEDS_BILLING)
    assert second.agent == "ann"


def test_assigned_and_offered_items_keep_their_state_across_an_apply(rig: Rigger) -> None:
    """R42: an apply leaves assigned items with their agent and offers open and answerable."""
    r = rig(base_config(members="[ann, ben]", extra_queue=OLD_QUEUE))
    held = r.engine.submit(external_id="a", workstream="chat")
    r.engine.accept(r.last_offer(held.id).offer, agent="ann")
    offered = r.engine.submit(external_id="b", workstream="chat")
    offer = r.last_offer(offered.id)
    r.engine.apply_config(parse(base_config(members="[ann, ben]", extra_queue=OLD_QUEUE)))
    assert (held.state, held.agent) == (ItemState.ASSIGNED, "ann")
    assert r.engine.agent("ann").used_units == 100
    assert (offered.state, offered.offer) == (ItemState.OFFERED, offer.offer)
    r.engine.accept(offer.offer, agent=offer.agent)
    assert offered.state is ItemState.ASSIGNED


def test_each_item_records_the_configuration_version_that_routed_it(rig: Rigger) -> None:
    """R42: items routed before and after an apply carry versions 1 and 2."""
    r = rig(base_config(extra_queue=OLD_QUEUE))
    before = r.engine.submit(external_id="a", workstream="chat")
    scheduled = r.engine.submit(external_id="s", workstream="chat", available_at=100)
    r.engine.apply_config(parse(base_config(members="[ann, ben]", extra_queue=OLD_QUEUE)))
    after = r.engine.submit(external_id="b", workstream="chat")
    r.at(100)
    assert (before.config_version, after.config_version) == (1, 2)
    assert scheduled.config_version == 2


def test_waiting_items_of_a_removed_queue_move_to_the_fallback(rig: Rigger) -> None:
    """R42: when a queue disappears, its waiting items go to their workstream's fallback queue."""
    r = rig(base_config(extra_queue=OLD_QUEUE))
    r.engine.set_presence("ben", OFFLINE)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat", attributes={"topic": "old"})
    assert item.queue == "old"
    text = base_config().replace(
        """      - when: item.topic == "old"
        queue: old
""",
        "",
    )
    r.engine.apply_config(parse(text))
    assert (item.state, item.queue) == (ItemState.QUEUED, "chats")
    assert [i.id for i in r.engine.waiting_items("chats")] == [item.id]
    r.engine.set_presence("ann", AVAILABLE)
    assert r.last_offer(item.id).agent == "ann"


def test_apply_does_not_restart_the_post_queue_wait(rig: Rigger) -> None:
    """R42, R13: an item queued at t=0 overflows at t=300 even if a configuration came at t=200."""
    r = rig(base_config(extra_queue=OLD_QUEUE))
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(200)
    r.engine.apply_config(parse(base_config(extra_queue=OLD_QUEUE)))
    r.at(1000)
    assert item.close_reason is CloseReason.OVERFLOW_ENDED
    [overflowed] = r.of_type("item_overflowed")
    assert overflowed.t == 300


TWO_WORKSTREAMS = """
workstreams:
  chat: {kind: messaging, fallback_queue: chats}
  mail: {kind: messaging, fallback_queue: chats}
queues:
  chats: {kind: messaging, members: [ann]}
agents:
  ann: {}
"""


def test_agent_removed_by_a_configuration_is_not_offered_work_again(rig: Rigger) -> None:
    """R42: an agent dropped from the configuration loses its open offers and gets no new one."""
    r = rig(TWO_WORKSTREAMS.replace("members: [ann]", "members: [ann, cid]") + "  cid: {}\n")
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    assert r.last_offer(item.id).agent == "cid"
    r.engine.apply_config(parse(TWO_WORKSTREAMS))
    assert item.state is ItemState.QUEUED
    assert len(r.of_type("offer_made")) == 1
    r.engine.set_presence("ann", AVAILABLE)
    assert r.last_offer(item.id).agent == "ann"


def test_dropping_a_workstream_with_live_items_never_breaks_the_engine(rig: Rigger) -> None:
    """R42, §6.1: dropping a workstream with waiting items is refused or applied, never half-done."""
    r = rig(TWO_WORKSTREAMS)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="m", workstream="mail")
    try:
        r.engine.apply_config(
            parse(TWO_WORKSTREAMS.replace("  mail: {kind: messaging, fallback_queue: chats}\n", ""))
        )
    except errors.UnirouterError:
        assert r.engine.config_version == 1
    r.engine.set_presence("ann", AVAILABLE)
    assert item.state in (ItemState.QUEUED, ItemState.OFFERED)


# -- R43: trace ------------------------------------------------------------------------------------------------


TRACE = """
skills: {billing: {levels: 10}}
workstreams:
  chat:
    kind: messaging
    offer: {timeout_s: 1000}
    fallback_queue: general
    classification:
      - name: tier
        rules:
          - when: item.customer.tier == "silver"
            set: {priority: 5}
          - name: gold
            when: item.customer.tier == "gold"
            set: {priority: 10, vip: true}
      - name: topic
        rules:
          - when: item.topic == "billing"
            skills: [{name: billing, level: 3}]
    route_to_queue:
      - when: item.topic == "sales"
        queue: sales
      - name: billing
        when: item.topic == "billing"
        queue: billing
queues:
  general: {kind: messaging, members: [ann]}
  sales: {kind: messaging, members: [ann]}
  billing:
    kind: messaging
    members: [ann, ben, cid, dan]
    overflow: [{when: {max_waiting: 1}, action: {transfer: general}}]
agents:
  ann: {skills: {billing: 5}}
  ben: {skills: {billing: 7}}
  cid: {}
  dan: {skills: {billing: 5}}
"""


def billing_item(r: Any, external_id: str = "x") -> Any:
    return r.engine.submit(
        external_id=external_id,
        workstream="chat",
        customer={"tier": "gold"},
        attributes={"topic": "billing"},
    )


def test_trace_lists_classification_rules_matched_and_what_they_set(rig: Rigger) -> None:
    """R43: the classification entry names each matching rule (its name, else its place in the
    ruleset), its condition and its outputs."""
    r = rig(TRACE)
    item = billing_item(r)
    [entry] = entries(item, "classification")
    applied = {a["ruleset"]: a for a in entry["applied"]}
    assert applied["tier"]["rule"] == "gold"
    assert applied["tier"]["when"] == 'item.customer.tier == "gold"'
    assert applied["tier"]["set"] == {"priority": 10, "vip": True}
    assert applied["topic"]["rule"] == "rules[0]"
    assert applied["topic"]["skills"] == ["billing"]


def test_trace_lists_the_route_rule_that_matched(rig: Rigger) -> None:
    """R43: the route entry names the matching rule (not its index), its condition and the queue."""
    r = rig(TRACE)
    item = billing_item(r)
    [entry] = entries(item, "route")
    assert (entry["rule"], entry["queue"]) == ("billing", "billing")
    assert entry["when"] == 'item.topic == "billing"'
    sales = r.engine.submit(external_id="s", workstream="chat", attributes={"topic": "sales"})
    assert entries(sales, "route")[0]["rule"] == "route_to_queue[0]"


def test_trace_says_why_the_fallback_queue_was_used(rig: Rigger) -> None:
    """R43, R5: when no route rule matches, the route entry says so."""
    r = rig(TRACE)
    item = r.engine.submit(external_id="x", workstream="chat")
    [entry] = entries(item, "route")
    assert (entry["rule"], entry["queue"]) == (None, "general")
    assert "no route rule matched" in entry["reason"]


def test_trace_records_an_overflow_that_fired(rig: Rigger) -> None:
    """R43: an overflow entry names the queue, the condition that held and the action taken."""
    r = rig(TRACE)
    billing_item(r, "a")
    r.engine.set_presence("ann", OFFLINE)
    second = billing_item(r, "b")
    [entry] = entries(second, "overflow")
    assert (entry["queue"], entry["condition"], entry["action"]) == (
        "billing",
        "max_waiting",
        "transfer",
    )
    assert entry["reason"] == (
        "billing holds 1 waiting items (max_waiting 1): transferred to general"
    )
    assert second.queue == "general"


def test_trace_records_overflow_checks_that_did_not_fire(rig: Rigger) -> None:
    """R43: the overflow conditions checked for a queue appear in the trace even when none held."""
    r = rig(TRACE)
    item = billing_item(r)
    assert item.queue == "billing"
    [entry] = entries(item, "overflow")
    assert entry["queue"] == "billing"
    assert "max_waiting" in json.dumps(entry)


def test_trace_assignment_lists_candidates_with_scores_and_the_winner(rig: Rigger) -> None:
    """R43: an assignment entry lists its candidates, each with a score, and the winner."""
    r = rig(TRACE)
    item = billing_item(r)
    [entry] = entries(item, "assign")
    assert entry["winner"] == r.last_offer(item.id).agent
    agents = [c["agent"] for c in entry["candidates"]]
    assert entry["winner"] in agents
    assert set(agents) <= {"ann", "ben", "dan"}
    assert entry["method"] == "highest_capacity"
    for candidate in entry["candidates"]:  # named parts, not an ordering tuple
        assert candidate["score"]["free_units"] == 100
        assert set(candidate["score"]) == {"free_units", "last_assigned", "joined"}


def test_trace_counts_exclusions_per_reason(rig: Rigger) -> None:
    """R43: excluded agents are counted by reason: presence, skill."""
    r = rig(TRACE)
    r.engine.set_presence("ann", OFFLINE)
    r.engine.set_presence("ben", BasePresence.AWAY)
    item = billing_item(r)
    [entry] = entries(item, "assign")
    assert entry["winner"] == "dan"
    assert entry["excluded"]["presence"]["count"] == 2
    assert entry["excluded"]["skill"]["count"] == 1


def test_trace_names_the_skill_an_excluded_agent_lacks(rig: Rigger) -> None:
    """R43: a skill exclusion names the agent and the skill it misses, with the level asked."""
    r = rig(TRACE)
    item = billing_item(r)
    [entry] = entries(item, "assign")
    assert entry["excluded"]["skill"]["agents"] == [
        {"agent": "cid", "missing": [{"skill": "billing", "level": 3, "has": 0}]}
    ]


def test_trace_says_who_transferred_and_who_force_assigned(rig: Rigger) -> None:
    """R43, R31: transfer and force-assign entries name who did them."""
    r = rig(TRACE)
    item = billing_item(r)
    r.engine.transfer(item.id, queue="general", by="sue")
    [moved] = entries(item, "transfer")
    assert (moved["from_queue"], moved["to_queue"], moved["by"]) == ("billing", "general", "sue")
    r.engine.force_assign(item.id, agent="ben", by="sue")
    [forced] = entries(item, "force_assign")
    assert (forced["agent"], forced["by"]) == ("ben", "sue")


def test_trace_names_agents_passed_over_after_declining(rig: Rigger) -> None:
    """R43, R25: a decision after a decline counts and names the decliner under ``declined``."""
    r = rig(TRACE)
    item = billing_item(r)
    first = r.last_offer(item.id)
    r.engine.decline(first.offer, agent=first.agent)
    entry = entries(item, "assign")[-1]
    assert entry["excluded"]["declined"] == {"count": 1, "agents": [first.agent]}
    assert entry["winner"] not in (None, first.agent)


def many_agents(count: int, **extra: Any) -> dict[str, Any]:
    """A configuration with ``count`` chat agents a0000, a0001, … in one queue."""
    agents = {f"a{n:04d}": dict(extra) for n in range(count)}
    return {
        "skills": {"billing": {"levels": 10}},
        "workstreams": {"chat": {"kind": "messaging", "fallback_queue": "q"}},
        "queues": {"q": {"kind": "messaging", "members": list(agents)}},
        "agents": agents,
    }


def test_trace_names_at_most_ten_agents_per_reason(rig: Rigger) -> None:
    """R43: after 12 declines the entry counts all 12 decliners but names only 10."""
    r = rig(yaml.safe_dump(many_agents(13)))
    item = r.engine.submit(external_id="x", workstream="chat")
    for _ in range(12):
        offer = r.last_offer(item.id)
        r.engine.decline(offer.offer, agent=offer.agent)
    entry = entries(item, "assign")[-1]
    declined = entry["excluded"]["declined"]
    assert declined["count"] == 12
    assert len(declined["agents"]) == 10
    assert entry["winner"] == r.last_offer(item.id).agent


def test_trace_names_the_calendar_exclusion(rig: Rigger) -> None:
    """R43, R36: an agent out of working hours is excluded for reason ``calendar``, by name."""
    text = """
calendars:
  office: {tz: UTC, weekly: {mon-fri: "09:00-17:00"}}
workstreams:
  mail: {kind: record, fallback_queue: inbox}
queues:
  inbox: {kind: record, respect_calendars: true, members: [ann, ben]}
agents:
  ann: {calendar: office}
  ben: {}
"""
    r = rig(text, epoch=MONDAY)
    item = r.engine.submit(external_id="m", workstream="mail")
    [entry] = entries(item, "assign")
    assert entry["winner"] == "ben"
    assert entry["excluded"]["calendar"] == {"count": 1, "agents": ["ann"]}


def test_trace_of_an_agent_triggered_assignment_scores_its_candidate(rig: Rigger) -> None:
    """R43: when a freed agent takes a waiting item, that decision lists its candidate and score."""
    r = rig(TRACE)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    r.engine.set_presence("ann", AVAILABLE)
    entry = entries(item, "assign")[-1]
    assert entry["winner"] == "ann"
    assert [c["agent"] for c in entry["candidates"]] == ["ann"]
    assert entry["candidates"][0]["score"]["free_units"] == 100


def test_tracing_off_keeps_no_trace(rig: Rigger) -> None:
    """R43: with tracing turned off (as the simulator does unless asked) items carry no trace."""
    r = rig(TRACE, trace=False)
    item = billing_item(r)
    assert item.state is ItemState.OFFERED
    assert item.trace == []


def two_thousand_agents() -> Engine:
    """2,000 members: even ones offline, a quarter without the required skill, the rest eligible."""
    data = many_agents(2000)
    for n, agent in enumerate(data["agents"].values()):
        if n % 2 == 0:
            agent["default_presence"] = "offline"
        elif n % 4 == 3:
            agent["skills"] = {"billing": 5}
    return Engine(config.validate(data), clock=ManualClock(0.0))


def test_trace_stays_bounded_with_two_thousand_agents() -> None:
    """R43: with 2,000 agents each assignment entry keeps ≤ 5 candidates and ≤ 10 names a reason."""
    engine = two_thousand_agents()
    item = engine.submit(external_id="x", workstream="chat", skills=NEEDS_BILLING)
    [entry] = entries(item, "assign")
    assert 1 <= len(entry["candidates"]) <= 5
    assert all(len(reason["agents"]) <= 10 for reason in entry["excluded"].values())
    assert entry["excluded"]["presence"]["count"] == 1000
    assert entry["excluded"]["skill"]["count"] == 500
    assert int(entry["winner"][1:]) % 4 == 3
    assert len(json.dumps(item.trace, default=str)) < 4000


def test_trace_lists_the_top_five_candidates_when_many_are_eligible() -> None:
    """R43: with 500 eligible agents the entry keeps the top 5 candidates, best first."""
    engine = two_thousand_agents()
    item = engine.submit(external_id="x", workstream="chat", skills=NEEDS_BILLING)
    [entry] = entries(item, "assign")
    agents = [c["agent"] for c in entry["candidates"]]
    assert len(agents) == 5
    assert agents[0] == entry["winner"]
    assert all(int(a[1:]) % 4 == 3 for a in agents)


# -- §6.1.1: events ------------------------------------------------------------------------------------------------


SPEC_TYPES = {
    "item_created",
    "item_scheduled",
    "item_classified",
    "item_routed",
    "item_overflowed",
    "item_queued",
    "offer_made",
    "offer_accepted",
    "offer_declined",
    "offer_expired",
    "offer_withdrawn",
    "item_assigned",
    "item_wrap_up",
    "item_parked",
    "item_resumed",
    "item_transferred",
    "item_closed",
    "presence_changed",
    "agent_connected",
    "agent_disconnected",
    "config_applied",
}
EXTRA_TYPES = {"item_updated", "capacity_released"}

EVENTS = """
workstreams:
  chat:
    kind: messaging
    capacity: {units: 50}
    offer: {timeout_s: 60}
    wrap_up: {block: 10}
    fallback_queue: chats
  cases: {kind: record, mode: pick, fallback_queue: backlog}
queues:
  chats:
    kind: messaging
    members: [ann, ben]
    overflow: [{when: {waited_s: 500}, action: {transfer: spare}}]
  spare: {kind: messaging, members: [ben]}
  backlog: {kind: record, members: [ann]}
agents:
  ann: {}
  ben: {}
"""


def run_every_kind_of_command(r: Any) -> None:
    """A scenario touching every command, so that every event type appears."""
    e = r.engine
    a = e.submit(external_id="a", workstream="chat")
    e.decline(r.last_offer(a.id).offer, agent=r.last_offer(a.id).agent, reason="busy")
    e.accept(r.last_offer(a.id).offer, agent=r.last_offer(a.id).agent)
    e.update_item(e.submit(external_id="u", workstream="chat").id, priority=3)
    r.at(100)
    e.park(a.id)
    e.resume(a.id)
    e.transfer(a.id, queue="spare")
    b = e.submit(external_id="b", workstream="chat", available_at=200.0)
    r.at(300)
    e.cancel(b.id)
    c = e.submit(external_id="c", workstream="cases")
    e.pick(c.id, agent="ann")
    e.complete(c.id)
    e.close(c.id)
    e.disconnect("ben")
    e.reconnect("ben")
    e.set_presence("ann", OFFLINE)
    e.set_presence("ben", OFFLINE)
    r.at(400)
    e.submit(external_id="d", workstream="chat")
    r.at(1000)
    e.apply_config(parse(EVENTS))
    r.pump()


def test_every_event_type_is_a_spec_type(rig: Rigger) -> None:
    """§6.1.1: every emitted type is one of the SPEC's names (plus item_updated, capacity_released)."""
    r = rig(EVENTS)
    run_every_kind_of_command(r)
    emitted = {e.type for e in r.log}
    assert emitted <= SPEC_TYPES | EXTRA_TYPES
    assert emitted >= SPEC_TYPES


def test_event_seq_strictly_increases_and_time_never_goes_back(rig: Rigger) -> None:
    """§6.1.1: ``seq`` strictly increases; ``t`` never decreases."""
    r = rig(EVENTS)
    run_every_kind_of_command(r)
    seqs = [e.seq for e in r.log]
    assert all(a < b for a, b in itertools.pairwise(seqs))
    times = [e.t for e in r.log]
    assert times == sorted(times)


def test_events_are_flat_objects_with_seq_t_type_and_ids(rig: Rigger) -> None:
    """§6.1.1: every event serialises to a flat JSON object with seq, t, type and its ids."""
    r = rig(EVENTS)
    run_every_kind_of_command(r)
    for event in r.log:
        flat = event.to_dict()
        assert {"seq", "t", "type"} <= set(flat)
        assert isinstance(flat["t"], float)
        assert json.loads(json.dumps(flat)) == flat
    created = r.of_type("item_created")[0].to_dict()
    assert (created["external_id"], created["workstream"]) == ("a", "chat")


def test_event_time_is_a_float_even_after_an_integer_deadline(rig: Rigger) -> None:
    """§6.1.1: ``t`` is a float, also for events fired by a deadline given as an integer."""
    r = rig(EVENTS)
    r.engine.submit(external_id="b", workstream="chat", available_at=200)
    r.at(300)
    assert {type(e.t) for e in r.log} == {float}


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["submit", "accept", "decline", "close", "cancel", "wait", "presence"]),
            st.integers(min_value=0, max_value=3),
        ),
        max_size=30,
    )
)
def test_events_of_any_command_sequence_keep_the_contract(
    rig: Rigger, steps: list[tuple[str, int]]
) -> None:
    """§6.1.1: over any command sequence, types are SPEC names and ``seq`` strictly increases."""
    r = rig(EVENTS)
    e = r.engine
    now = 0.0
    for name, n in steps:
        offers = [o for o in r.of_type("offer_made") if e.offer(o.offer).status == "open"]
        try:
            if name == "submit":
                e.submit(external_id=f"x{len(r.log)}", workstream="chat")
            elif name == "wait":
                now += 25.0 * (n + 1)
                r.at(now)
            elif name == "presence":
                e.set_presence(["ann", "ben"][n % 2], [AVAILABLE, OFFLINE][n // 2])
            elif offers and name in ("accept", "decline"):
                o = offers[n % len(offers)]
                getattr(e, name)(o.offer, agent=o.agent)
            elif name in ("close", "cancel"):
                items = sorted(i.id for i in e.items())
                if items:
                    target = items[n % len(items)]
                    if name == "close":
                        e.close(target)
                    else:
                        e.cancel(target, reason=CloseReason.CANCELLED)
        except errors.CommandError:
            pass
        r.pump()
    seqs = [ev.seq for ev in r.log]
    assert all(a < b for a, b in itertools.pairwise(seqs))
    assert {ev.type for ev in r.log} <= SPEC_TYPES | EXTRA_TYPES


def test_r43_trace_kept_as_records_rendered_when_read() -> None:
    """R43 (issue 10): the engine keeps one compact record (a tuple) per trace entry and renders
    the entry's dict only when the trace is read: each read gives new dicts of the same content,
    ``t`` and ``stage`` first, the assignment decision's fields after the trigger and queue."""
    engine = two_thousand_agents()
    item = engine.submit(external_id="x", workstream="chat", skills=NEEDS_BILLING)
    assert item.trace_log and all(isinstance(record, tuple) for record in item.trace_log)
    first, second = item.trace, item.trace
    assert first == second
    assert all(a is not b for a, b in zip(first, second, strict=True))
    [entry] = entries(item, "assign")
    assert list(entry) == ["t", "stage", "trigger", "queue", "winner", "method", "candidates",
                           "excluded"]  # fmt: skip
    assert [e["stage"] for e in first][:3] == ["intake", "classification", "route"]
