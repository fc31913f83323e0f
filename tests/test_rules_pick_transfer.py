"""Pick mode, affinity, preferred agents, transfers and force-assign (SPEC R28–R31)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import errors
from unirouter.config.model import BasePresence, SkillReq
from unirouter.engine.state import ItemState

Rigger = Callable[..., Any]
FIXTURE_OK = [HealthCheck.function_scoped_fixture]

AVAILABLE, BUSY, BUSY_DND, OFFLINE = (
    BasePresence.AVAILABLE,
    BasePresence.BUSY,
    BasePresence.BUSY_DND,
    BasePresence.OFFLINE,
)


def assigned(r: Any, item_id: str) -> list[Any]:
    return [e for e in r.of_type("item_assigned") if e.item == item_id]


# -- R28: pick mode ---------------------------------------------------------------------------------------


def pick_config(checks: str = "enforce") -> str:
    """Record work picked from one backlog; ``cid`` lacks billing, ``dan`` is no member."""
    return f"""
skills: {{billing: {{levels: 10}}}}
workstreams:
  cases:
    kind: record
    mode: pick
    pick_checks: {checks}
    capacity: {{units: 60}}
    fallback_queue: backlog
queues:
  backlog: {{kind: record, members: [ann, ben, cid]}}
agents:
  ann: {{skills: {{billing: 5}}}}
  ben: {{skills: {{billing: 5}}}}
  cid: {{}}
  dan: {{skills: {{billing: 5}}}}
"""


BILLING = [SkillReq(name="billing", level=3)]


def test_pick_mode_makes_no_offer_to_free_members(rig: Rigger) -> None:
    """R28: in pick mode an item waits queued even with free members; no offer is made."""
    r = rig(pick_config())
    item = r.engine.submit(external_id="c1", workstream="cases")
    r.at(1000)
    assert item.state is ItemState.QUEUED
    assert r.of_type("offer_made") == []
    assert r.engine.agent("ann").free_units == 100


def test_member_picks_a_waiting_item(rig: Rigger) -> None:
    """R28: a queue member claims a waiting item; it is assigned to them and uses their capacity."""
    r = rig(pick_config())
    item = r.engine.submit(external_id="c1", workstream="cases")
    r.engine.pick(item.id, agent="ann")
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")
    [event] = assigned(r, item.id)
    assert (event.agent, event.data["forced"]) == ("ann", False)
    assert r.engine.agent("ann").free_units == 40


def test_second_picker_of_same_item_gets_already_claimed(rig: Rigger) -> None:
    """R28: two agents pick the same item: the first succeeds, the second gets AlreadyClaimed."""
    r = rig(pick_config())
    item = r.engine.submit(external_id="c1", workstream="cases")
    r.engine.pick(item.id, agent="ann")
    r.pump()
    with pytest.raises(errors.AlreadyClaimed):
        r.engine.pick(item.id, agent="ben")
    assert r.pump() == []
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")
    assert r.engine.agent("ben").free_units == 100
    assert r.engine.agent("ben").active == set()


def test_non_member_cannot_pick(rig: Rigger) -> None:
    """R28: only members of the item's queue may pick it; a refusal changes nothing."""
    r = rig(pick_config())
    item = r.engine.submit(external_id="c1", workstream="cases")
    r.pump()
    with pytest.raises(errors.NotEligible):
        r.engine.pick(item.id, agent="dan")
    assert r.pump() == []
    assert (item.state, item.agent) == (ItemState.QUEUED, None)


def test_pick_enforces_skills(rig: Rigger) -> None:
    """R28: with pick checks enforced, an agent lacking a required skill cannot pick."""
    r = rig(pick_config())
    item = r.engine.submit(external_id="c1", workstream="cases", skills=BILLING)
    r.pump()
    with pytest.raises(errors.NotEligible):
        r.engine.pick(item.id, agent="cid")
    assert r.pump() == []
    assert item.state is ItemState.QUEUED


def test_pick_enforces_capacity(rig: Rigger) -> None:
    """R28: with pick checks enforced, an agent without free units for the item cannot pick."""
    r = rig(pick_config())
    first = r.engine.submit(external_id="c1", workstream="cases")
    second = r.engine.submit(external_id="c2", workstream="cases")
    r.engine.pick(first.id, agent="ann")
    r.pump()
    with pytest.raises(errors.NotEligible):
        r.engine.pick(second.id, agent="ann")
    assert r.pump() == []
    assert second.state is ItemState.QUEUED
    assert r.engine.agent("ann").free_units == 40


def test_pick_checks_none_lets_unskilled_member_pick(rig: Rigger) -> None:
    """R28: with ``pick_checks: none`` a member lacking the required skill may pick."""
    r = rig(pick_config("none"))
    item = r.engine.submit(external_id="c1", workstream="cases", skills=BILLING)
    r.engine.pick(item.id, agent="cid")
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "cid")


def test_pick_checks_none_lets_member_pick_beyond_capacity(rig: Rigger) -> None:
    """R28, R32: with ``pick_checks: none`` a full member may pick; free units go negative."""
    r = rig(pick_config("none"))
    first = r.engine.submit(external_id="c1", workstream="cases")
    second = r.engine.submit(external_id="c2", workstream="cases")
    r.engine.pick(first.id, agent="ann")
    r.engine.pick(second.id, agent="ann")
    assert second.agent == "ann"
    assert r.engine.agent("ann").free_units == -20
    assert r.engine.agent("ann").presence is BUSY_DND


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    picks=st.lists(
        st.tuples(st.sampled_from(["ann", "ben"]), st.integers(min_value=0, max_value=2)),
        max_size=12,
    )
)
def test_every_item_is_claimed_by_its_first_eligible_picker_only(
    rig: Rigger, picks: list[tuple[str, int]]
) -> None:
    """R28: over any sequence of picks, each item is assigned once, to the first eligible picker."""
    r = rig(pick_config())
    items = [r.engine.submit(external_id=f"c{n}", workstream="cases") for n in range(3)]
    owner: dict[int, str] = {}
    holding: set[str] = set()
    for agent, index in picks:
        if index in owner:
            with pytest.raises(errors.AlreadyClaimed):
                r.engine.pick(items[index].id, agent=agent)
        elif agent in holding:
            with pytest.raises(errors.NotEligible):
                r.engine.pick(items[index].id, agent=agent)
        else:
            r.engine.pick(items[index].id, agent=agent)
            owner[index] = agent
            holding.add(agent)
    for index, item in enumerate(items):
        events = assigned(r, item.id)
        assert [e.agent for e in events] == ([owner[index]] if index in owner else [])
        assert item.agent == owner.get(index)


# -- R29: affinity ------------------------------------------------------------------------------------------


def affinity_config(members: str = "[ann, ben]", enabled: str = "true") -> str:
    """Auto-accepted chats of 100 units: every agent holds one at a time."""
    return f"""
workstreams:
  chat:
    kind: messaging
    offer: {{auto_accept: true}}
    affinity: {{enabled: {enabled}, grace_s: 150}}
    fallback_queue: chats
queues:
  chats: {{kind: messaging, members: {members}}}
agents:
  ann: {{}}
  ben: {{}}
"""


def test_resumed_conversation_returns_to_its_last_agent(rig: Rigger) -> None:
    """R29: a parked conversation that becomes active again goes back to the agent who had it."""
    r = rig(affinity_config())
    item = r.engine.submit(external_id="x", workstream="chat")
    assert item.agent == "ann"
    r.at(10)
    r.engine.park(item.id)
    r.at(20)
    # Without affinity round robin would choose ben, who has never been assigned here.
    r.engine.resume(item.id)
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")
    assert [e.agent for e in assigned(r, item.id)] == ["ann", "ann"]


def test_without_affinity_resumed_conversation_is_routed_normally(rig: Rigger) -> None:
    """R29: with affinity disabled the returning conversation goes to whoever the method picks."""
    r = rig(affinity_config(enabled="false"))
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.engine.park(item.id)
    r.at(20)
    r.engine.resume(item.id)
    assert item.agent == "ben"


def test_r29_r43_the_trace_says_whether_a_resumed_conversation_goes_back_and_why_not(
    rig: Rigger,
) -> None:
    """R29, R43: park and resume are trace entries; the resume names the last agent and the agent
    it returns to, or, without affinity, why it does not go back."""
    for enabled, back, reason in (("true", "ann", None), ("false", None, "affinity off")):
        r = rig(affinity_config(enabled=enabled))
        item = r.engine.submit(external_id="x", workstream="chat")
        r.at(10)
        r.engine.park(item.id)
        r.at(20)
        r.engine.resume(item.id)
        parked = [e for e in item.trace if e["stage"] == "parked"]
        [resumed] = [e for e in item.trace if e["stage"] == "resumed"]
        assert [e["agent"] for e in parked] == ["ann"]
        assert (resumed["last_agent"], resumed["affinity"]) == ("ann", back)
        assert resumed.get("reason") == reason


def test_returning_conversation_is_served_before_older_waiting_items(rig: Rigger) -> None:
    """R29, R9: a conversation returning under affinity is served ahead of items waiting longer."""
    r = rig(affinity_config(members="[ann]"))
    returning = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.engine.park(returning.id)
    r.at(20)
    current = r.engine.submit(external_id="y", workstream="chat")
    assert current.agent == "ann"
    r.at(30)
    older = r.engine.submit(external_id="z", workstream="chat")
    r.at(40)
    r.engine.resume(returning.id)
    assert returning.state is ItemState.QUEUED
    r.at(50)
    r.engine.close(current.id)
    assert (returning.state, returning.agent) == (ItemState.ASSIGNED, "ann")
    assert older.state is ItemState.QUEUED


def test_conversation_waits_for_last_agent_offline_within_grace(rig: Rigger) -> None:
    """R29: while its last agent has been offline less than ``grace_s`` the item waits for them."""
    r = rig(affinity_config())
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.engine.park(item.id)
    r.at(100)
    r.engine.set_presence("ann", OFFLINE)
    r.at(120)
    r.engine.resume(item.id)
    r.at(249.5)
    assert item.state is ItemState.QUEUED
    assert r.engine.agent("ben").free_units == 100


def test_conversation_is_routed_normally_exactly_when_grace_runs_out(rig: Rigger) -> None:
    """R29: the agent offline since t=100 with grace 150 s: the item goes elsewhere at t=250."""
    r = rig(affinity_config())
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.engine.park(item.id)
    r.at(100)
    r.engine.set_presence("ann", OFFLINE)
    r.at(120)
    r.engine.resume(item.id)
    r.at(400)
    assert item.agent == "ben"
    assert assigned(r, item.id)[-1].t == 250


def test_conversation_is_routed_normally_when_last_agent_was_offline_past_grace(
    rig: Rigger,
) -> None:
    """R29: resumed after its agent has been offline longer than ``grace_s``: routed at once."""
    r = rig(affinity_config())
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.engine.park(item.id)
    r.engine.set_presence("ann", OFFLINE)
    r.at(200)
    r.engine.resume(item.id)
    assert item.agent == "ben"
    assert assigned(r, item.id)[-1].t == 200


def test_last_agent_back_within_grace_gets_the_conversation(rig: Rigger) -> None:
    """R29: the last agent coming back within the grace period takes the waiting conversation."""
    r = rig(affinity_config())
    item = r.engine.submit(external_id="x", workstream="chat")
    r.at(10)
    r.engine.park(item.id)
    r.at(100)
    r.engine.set_presence("ann", OFFLINE)
    r.at(120)
    r.engine.resume(item.id)
    r.at(200)
    r.engine.set_presence("ann", AVAILABLE)
    r.at(400)
    assert item.agent == "ann"
    assert assigned(r, item.id)[-1].t == 200


# -- R30: preferred agents ----------------------------------------------------------------------------------


def preferred_config(fallback: str = "queue") -> str:
    """Auto-accepted records; highest capacity with ties by join time and id prefers ann."""
    return f"""
workstreams:
  cases:
    kind: record
    offer: {{auto_accept: true}}
    preferred: {{fallback: {fallback}}}
    fallback_queue: backlog
queues:
  backlog: {{kind: record, members: [ann, ben, cid]}}
agents:
  ann: {{}}
  ben: {{}}
  cid: {{}}
"""


def test_eligible_preferred_agent_is_chosen_before_the_method(rig: Rigger) -> None:
    """R30: an eligible preferred agent gets the item although the method would choose another."""
    r = rig(preferred_config())
    item = r.engine.submit(external_id="c1", workstream="cases", preferred_agents=["cid"])
    assert item.agent == "cid"


def test_r43_preferred_agents_refused_are_named_by_reason(rig: Rigger) -> None:
    """R30, R43: a preferred agent who is away is excluded for presence, a full one for capacity,
    one outside the queue for membership."""
    text = preferred_config("wait").replace("members: [ann, ben, cid]", "members: [ann, ben]")
    text = text.replace("ben: {}", "ben: {capacity_units: 150}")  # busy with 50 units free
    r = rig(text)
    r.engine.set_presence("ann", BasePresence.AWAY)
    r.engine.submit(external_id="busy", workstream="cases", preferred_agents=["ben"])
    item = r.engine.submit(
        external_id="c1", workstream="cases", preferred_agents=["ann", "ben", "cid"]
    )
    [entry] = [e for e in item.trace if e["stage"] == "assign"]
    excluded = {reason: slot["agents"] for reason, slot in entry["excluded"].items()}
    assert excluded == {"presence": ["ann"], "capacity": ["ben"], "membership": ["cid"]}


def test_fallback_queue_gives_item_to_method_choice_when_no_preferred_agent_is_eligible(
    rig: Rigger,
) -> None:
    """R30: ``preferred.fallback: queue`` routes to the queue's method when no preferred is eligible."""
    r = rig(preferred_config("queue"))
    r.engine.set_presence("cid", OFFLINE)
    item = r.engine.submit(external_id="c1", workstream="cases", preferred_agents=["cid"])
    assert item.agent == "ann"


def test_fallback_wait_keeps_item_for_preferred_agents(rig: Rigger) -> None:
    """R30: ``preferred.fallback: wait`` keeps the item waiting while others are free."""
    r = rig(preferred_config("wait"))
    r.engine.set_presence("cid", OFFLINE)
    item = r.engine.submit(external_id="c1", workstream="cases", preferred_agents=["cid"])
    r.at(500)
    assert item.state is ItemState.QUEUED
    assert r.engine.agent("ann").free_units == 100


def test_fallback_wait_gives_item_to_preferred_agent_when_eligible(rig: Rigger) -> None:
    """R30: a waiting item goes to its preferred agent as soon as that agent becomes eligible."""
    r = rig(preferred_config("wait"))
    r.engine.set_presence("cid", OFFLINE)
    item = r.engine.submit(external_id="c1", workstream="cases", preferred_agents=["cid"])
    r.at(30)
    r.engine.set_presence("cid", AVAILABLE)
    assert item.agent == "cid"
    assert assigned(r, item.id)[-1].t == 30


def test_fallback_wait_item_is_not_taken_by_other_agent_freeing_up(rig: Rigger) -> None:
    """R30: under ``wait``, another agent gaining room does not take the item."""
    r = rig(preferred_config("wait"))
    r.engine.set_presence("cid", OFFLINE)
    r.engine.set_presence("ben", OFFLINE)
    held = r.engine.submit(external_id="c0", workstream="cases")
    assert held.agent == "ann"
    item = r.engine.submit(external_id="c1", workstream="cases", preferred_agents=["cid"])
    r.at(10)
    r.engine.close(held.id)
    assert item.state is ItemState.QUEUED


# -- R31: transfer and force-assign -------------------------------------------------------------------------


TRANSFER = """
workstreams:
  chat:
    kind: messaging
    capacity: {units: 60}
    offer: {timeout_s: 600}
    fallback_queue: tier1
  quick:
    kind: messaging
    offer: {auto_accept: true}
    capacity: {units: 60}
    fallback_queue: tier1
  calls: {kind: voice, fallback_queue: phones}
queues:
  tier1: {kind: messaging, members: [ann]}
  tier2: {kind: messaging, members: [ben]}
  phones: {kind: voice, members: [ann]}
agents:
  ann: {}
  ben: {}
  cid: {}
"""


def held_by_ann(r: Any, external_id: str = "x", workstream: str = "chat") -> Any:
    """An item submitted and accepted by ann."""
    item = r.engine.submit(external_id=external_id, workstream=workstream)
    if item.state is ItemState.OFFERED:
        r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")
    return item


def test_transfer_to_queue_requeues_the_item_there(rig: Rigger) -> None:
    """R31: transferring an assigned item to a queue of its kind puts it back in that queue."""
    r = rig(TRANSFER)
    r.engine.set_presence("ben", OFFLINE)
    item = held_by_ann(r)
    r.at(10)
    r.engine.transfer(item.id, queue="tier2")
    assert (item.state, item.queue) == (ItemState.QUEUED, "tier2")
    [moved] = r.of_type("item_transferred")
    assert (moved.item, moved.data["from"], moved.data["to"]) == (item.id, "tier1", "tier2")
    assert [i.id for i in r.engine.waiting_items("tier2")] == [item.id]


def test_transfer_to_queue_releases_first_agents_capacity_at_once(rig: Rigger) -> None:
    """R31: the first agent's capacity is released at the transfer, not later."""
    r = rig(TRANSFER)
    r.engine.set_presence("ben", OFFLINE)
    item = held_by_ann(r)
    r.at(10)
    r.engine.transfer(item.id, queue="tier2")
    ann = r.engine.agent("ann")
    assert (ann.free_units, ann.active, ann.presence) == (100, set(), AVAILABLE)
    [released] = r.of_type("capacity_released")
    assert (released.item, released.agent, released.t) == (item.id, "ann", 10)


def test_transfer_to_queue_is_offered_to_a_free_member_there(rig: Rigger) -> None:
    """R31: after a transfer to a queue the item is routed there like any waiting item."""
    r = rig(TRANSFER)
    item = held_by_ann(r)
    r.at(10)
    r.engine.transfer(item.id, queue="tier2")
    offer = r.last_offer(item.id)
    assert (offer.agent, offer.queue, offer.t) == ("ben", "tier2", 10)


def test_transfer_of_offered_item_to_queue_withdraws_the_offer(rig: Rigger) -> None:
    """R31, R22: transferring an offered item withdraws the offer and frees its reservation."""
    r = rig(TRANSFER)
    r.engine.set_presence("ben", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    offer = r.last_offer(item.id)
    r.engine.transfer(item.id, queue="tier2")
    [withdrawn] = r.of_type("offer_withdrawn")
    assert (withdrawn.offer, withdrawn.agent) == (offer.offer, "ann")
    assert (item.state, item.queue, item.offer) == (ItemState.QUEUED, "tier2", None)
    assert r.engine.agent("ann").used_units == 0


def test_transfer_to_queue_of_another_kind_is_refused(rig: Rigger) -> None:
    """R31: a messaging item cannot be transferred to a voice queue; nothing changes."""
    r = rig(TRANSFER)
    item = held_by_ann(r)
    r.pump()
    with pytest.raises(errors.InvalidCommand):
        r.engine.transfer(item.id, queue="phones")
    assert r.pump() == []
    assert (item.state, item.agent, item.queue) == (ItemState.ASSIGNED, "ann", "tier1")
    assert r.engine.agent("ann").free_units == 40


def test_transferred_item_keeps_its_original_routing_time(rig: Rigger) -> None:
    """R31, R6: a transferred item is ordered by when it first entered routing."""
    r = rig(TRANSFER)
    r.engine.set_presence("ben", OFFLINE)
    item = held_by_ann(r)
    r.at(5)
    later = r.engine.submit(external_id="later", workstream="chat")
    r.engine.transfer(later.id, queue="tier2")
    r.at(10)
    r.engine.transfer(item.id, queue="tier2")
    assert [i.id for i in r.engine.waiting_items("tier2")] == [item.id, later.id]
    r.engine.set_presence("ben", AVAILABLE)
    assert r.last_offer(item.id).agent == "ben"
    assert later.state is ItemState.QUEUED


def test_transfer_to_agent_offers_item_directly(rig: Rigger) -> None:
    """R31: transferring to an agent makes that agent an offer, releasing the first agent."""
    r = rig(TRANSFER)
    item = held_by_ann(r)
    r.at(10)
    r.engine.transfer(item.id, agent="cid")
    offer = r.last_offer(item.id)
    assert (offer.agent, offer.t) == ("cid", 10)
    assert (item.state, item.offer) == (ItemState.OFFERED, offer.offer)
    assert r.engine.agent("ann").free_units == 100
    r.engine.accept(offer.offer, agent="cid")
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "cid")


def test_transfer_to_agent_with_auto_accept_assigns_directly(rig: Rigger) -> None:
    """R31: with auto-accept a transfer to an agent assigns the item to them at once."""
    r = rig(TRANSFER)
    item = held_by_ann(r, workstream="quick")
    r.engine.transfer(item.id, agent="cid")
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "cid")
    assert r.engine.agent("cid").free_units == 40


def test_transfer_of_waiting_item_to_agent_leaves_queue_counts_consistent(rig: Rigger) -> None:
    """R31: a waiting item transferred to an agent and accepted no longer counts as waiting."""
    r = rig(TRANSFER)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    assert r.engine.queue_status("tier1")["waiting"] == 1
    r.engine.transfer(item.id, agent="cid")
    r.engine.accept(r.last_offer(item.id).offer, agent="cid")
    status = r.engine.queue_status("tier1")
    assert (status["waiting"], status["offered"]) == (0, 0)


def test_transfer_to_agent_without_room_is_refused(rig: Rigger) -> None:
    """R31: a transfer to an agent who has no room is refused and changes nothing."""
    r = rig(TRANSFER)
    first = held_by_ann(r, external_id="a")
    r.engine.transfer(first.id, agent="cid")
    r.engine.accept(r.last_offer(first.id).offer, agent="cid")
    second = held_by_ann(r, external_id="b")
    r.pump()
    with pytest.raises(errors.NotEligible):
        r.engine.transfer(second.id, agent="cid")
    assert r.pump() == []
    assert (second.state, second.agent) == (ItemState.ASSIGNED, "ann")


def test_force_assign_beyond_capacity_makes_free_units_negative(rig: Rigger) -> None:
    """R31: a supervisor may force-assign past capacity; the agent's free units go negative."""
    r = rig(TRANSFER)
    held_by_ann(r)
    extra = r.engine.submit(external_id="y", workstream="chat")
    assert extra.state is ItemState.QUEUED
    r.engine.force_assign(extra.id, agent="ann")
    assert (extra.state, extra.agent) == (ItemState.ASSIGNED, "ann")
    assert r.engine.agent("ann").free_units == -20
    [event] = assigned(r, extra.id)
    assert (event.agent, event.data["forced"]) == ("ann", True)


def test_force_assign_beyond_capacity_sets_busy_dnd(rig: Rigger) -> None:
    """R31, R32: after a force-assign past capacity the agent's presence is busy_dnd."""
    r = rig(TRANSFER)
    held_by_ann(r)
    assert r.engine.agent("ann").presence is BUSY
    extra = r.engine.submit(external_id="y", workstream="chat")
    assert extra.state is ItemState.QUEUED
    r.engine.force_assign(extra.id, agent="ann")
    assert r.engine.agent("ann").presence is BUSY_DND
