"""SPEC R6–R11: the order of a queue and which waiting item an agent gets.

Every test builds a small configuration around one messaging workstream ``chat``: an item whose
attribute ``q`` names a queue is routed there, anything else goes to ``q1``. Agent ``a`` starts away
unless a test says otherwise, so items wait and ``waiting_items`` shows the queue order.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any

import yaml

from unirouter.config.model import BasePresence, SkillReq
from unirouter.engine.state import ItemState, WorkItem

Rig = Any
MakeRig = Callable[..., Rig]


def _fragment(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(textwrap.dedent(text)) if text.strip() else None
    return dict(loaded or {})


def config(
    queues: str = "q1: {kind: messaging, members: [a]}",
    agents: str = "a: {default_presence: away}",
    workstream: str = "",
    top: str = "",
) -> str:
    """YAML of workstream ``chat`` routing ``item.q == NAME`` to queue NAME, else to ``q1``."""
    qs = _fragment(queues)
    routes = [{"when": f'item.q == "{name}"', "queue": name} for name in qs if name != "q1"]
    ws = {
        "kind": "messaging",
        "fallback_queue": "q1",
        "route_to_queue": [*routes, {"when": "true", "queue": "q1"}],
        **_fragment(workstream),
    }
    data = {
        **_fragment(top),
        "workstreams": {"chat": ws},
        "queues": qs,
        "agents": _fragment(agents),
    }
    return yaml.safe_dump(data, sort_keys=False)


def submit(
    r: Rig, external_id: str, *, at: float | None = None, q: str | None = None, **fields: Any
) -> WorkItem:
    """Submit an item to ``chat`` (at time ``at``, routed to queue ``q`` if given)."""
    if at is not None:
        r.at(at)
    if q is not None:
        fields["attributes"] = {**fields.get("attributes", {}), "q": q}
    item: WorkItem = r.engine.submit(external_id=external_id, workstream="chat", **fields)
    r.pump()
    return item


def order(r: Rig, queue: str = "q1") -> list[str]:
    """External ids of the waiting items of ``queue``, in queue order."""
    return [item.external_id for item in r.engine.waiting_items(queue)]


def accept(r: Rig, item: WorkItem, agent: str = "a") -> None:
    r.engine.accept(r.last_offer(item.id).offer, agent=agent)
    r.pump()


def presence(r: Rig, agent: str, value: BasePresence) -> None:
    r.engine.set_presence(agent, value)
    r.pump()


# -- R6: the default order -------------------------------------------------------------------------


def test_a_larger_priority_is_served_first(rig: MakeRig) -> None:
    """R6: without prioritisation rules the larger priority comes first."""
    r = rig(config())
    submit(r, "low", priority=0)
    submit(r, "high", priority=5)
    assert order(r) == ["high", "low"]


def test_priority_outranks_a_longer_wait(rig: MakeRig) -> None:
    """R6: a newer item of larger priority comes before an older item of smaller priority."""
    r = rig(config())
    submit(r, "old", priority=0)
    submit(r, "new", at=10, priority=3)
    assert order(r) == ["new", "old"]


def test_equal_priorities_are_ordered_by_routing_time_before_id(rig: MakeRig) -> None:
    """R6: at equal priority the item that entered routing first comes first, whatever its id."""
    r = rig(config())
    submit(r, "older", item_id="z-item")
    submit(r, "newer", at=5, item_id="a-item")
    assert order(r) == ["older", "newer"]


def test_equal_priority_and_routing_time_are_ordered_by_id(rig: MakeRig) -> None:
    """R6: items of equal priority that entered routing at the same time are ordered by id."""
    r = rig(config())
    submit(r, "second-by-id", item_id="w-b")
    submit(r, "first-by-id", item_id="w-a")
    assert order(r) == ["first-by-id", "second-by-id"]


def test_a_transfer_keeps_the_original_routing_time(rig: MakeRig) -> None:
    """R6: an item transferred into a queue keeps its place by its original routing time."""
    r = rig(config(queues="{q1: {kind: messaging}, q2: {kind: messaging}}"))
    moved = submit(r, "moved", q="q1")
    submit(r, "there", at=10, q="q2")
    r.at(20)
    r.engine.transfer(moved.id, queue="q2")
    assert order(r, "q2") == ["moved", "there"]


def test_an_overflow_transfer_keeps_the_original_routing_time(rig: MakeRig) -> None:
    """R6: an item moved by a waited_s overflow keeps its original routing time in the new queue."""
    r = rig(
        config(
            queues="""
            q1: {kind: messaging, overflow: [{when: {waited_s: 30}, action: {transfer: q2}}]}
            q2: {kind: messaging}
            """
        )
    )
    submit(r, "moved", q="q1")
    submit(r, "there", at=10, q="q2")
    r.at(30)
    assert order(r, "q2") == ["moved", "there"]


def test_a_resumed_parked_conversation_counts_from_its_resume(rig: MakeRig) -> None:
    """R6: a conversation back from parked is ordered by its resume time, not its first routing."""
    r = rig(config(agents="a: {}"))
    parked = submit(r, "parked")
    accept(r, parked)
    r.at(10)
    r.engine.park(parked.id)
    presence(r, "a", BasePresence.AWAY)
    submit(r, "waiting", at=20)
    r.at(30)
    r.engine.resume(parked.id)
    assert order(r) == ["waiting", "parked"]


def test_a_scheduled_item_counts_from_when_it_enters_routing(rig: MakeRig) -> None:
    """R6: a scheduled item's routing time is its available_at, not its submission."""
    r = rig(config())
    submit(r, "scheduled", available_at=50.0)
    submit(r, "plain", at=10)
    r.at(50)
    assert order(r) == ["plain", "scheduled"]


# -- R7: prioritisation rulesets -------------------------------------------------------------------


def prioritised(rules: str) -> str:
    """Queue ``q1`` (member ``a``, away) with the given prioritisation rules."""
    queue = {"kind": "messaging", "members": ["a"], "prioritization": _fragment(rules)["rules"]}
    return config(queues=yaml.safe_dump({"q1": queue}))


def test_items_of_the_first_rule_come_before_unmatched_items_of_larger_priority(
    rig: MakeRig,
) -> None:
    """R7: an item matching P1 is placed before an unmatched item, whatever their priorities."""
    r = rig(prioritised("rules: [{when: 'item.vip == true'}]"))
    submit(r, "normal", priority=10)
    submit(r, "vip", at=1, attributes={"vip": True})
    assert order(r) == ["vip", "normal"]


def test_a_bucket_is_ordered_by_its_order_by_ascending(rig: MakeRig) -> None:
    """R7: a bare order_by orders the bucket ascending."""
    r = rig(prioritised("rules: [{when: 'true', order_by: item.score}]"))
    for score in (5, 1, 3):
        submit(r, f"s{score}", attributes={"score": score})
    assert order(r) == ["s1", "s3", "s5"]


def test_a_non_finite_order_by_key_sorts_as_null_and_keeps_the_order_total(
    rig: MakeRig,
) -> None:
    """R7, issue 17 item 3: a NaN or Infinity key sorts last, like null; the others stay ordered."""
    r = rig(prioritised("rules: [{when: 'true', order_by: item.score}]"))
    for name, score in (("s5", 5), ("nan", math.nan), ("s1", 1), ("inf", math.inf), ("s3", 3)):
        submit(r, name, attributes={"score": score})
    assert order(r) == ["s1", "s3", "s5", "nan", "inf"]


def test_a_bucket_is_ordered_descending_when_asked(rig: MakeRig) -> None:
    """R7: an order_by key with desc orders the bucket largest first."""
    r = rig(prioritised("rules: [{when: 'true', order_by: [{by: item.score, desc: true}]}]"))
    for score in (5, 1, 3):
        submit(r, f"s{score}", attributes={"score": score})
    assert order(r) == ["s5", "s3", "s1"]


def test_a_bucket_is_ordered_descending_by_text(rig: MakeRig) -> None:
    """R7: a descending text key orders the bucket from the last string to the first."""
    r = rig(prioritised("rules: [{when: 'true', order_by: [{by: item.name, desc: true}]}]"))
    for name in ("ann", "cat", "bob"):
        submit(r, name, attributes={"name": name})
    assert order(r) == ["cat", "bob", "ann"]


def test_a_bucket_is_ordered_by_several_keys_in_turn(rig: MakeRig) -> None:
    """R7: order_by keys apply in turn: the second breaks ties of the first."""
    r = rig(
        prioritised(
            "rules: [{when: 'true', order_by: [{by: item.tier}, {by: item.value, desc: true}]}]"
        )
    )
    submit(r, "b5", attributes={"tier": "b", "value": 5})
    submit(r, "a1", attributes={"tier": "a", "value": 1})
    submit(r, "a9", attributes={"tier": "a", "value": 9})
    assert order(r) == ["a9", "a1", "b5"]


def test_a_later_rule_only_takes_items_no_earlier_rule_placed(rig: MakeRig) -> None:
    """R7: P2 orders only the items P1 did not place; P1's items keep P1's order ahead of them."""
    r = rig(
        prioritised(
            """
            rules:
              - {when: 'item.vip == true', order_by: item.score}
              - {when: 'item.score >= 0', order_by: [{by: item.score, desc: true}]}
            """
        )
    )
    submit(r, "vip9", attributes={"vip": True, "score": 9})
    submit(r, "vip1", attributes={"vip": True, "score": 1})
    submit(r, "other5", attributes={"score": 5})
    submit(r, "other7", attributes={"score": 7})
    assert order(r) == ["vip1", "vip9", "other7", "other5"]


def test_unmatched_items_form_a_last_bucket_in_r6_order(rig: MakeRig) -> None:
    """R7: items no rule matches come last, by priority then routing time."""
    r = rig(prioritised("rules: [{when: 'item.vip == true'}]"))
    submit(r, "p0-first")
    submit(r, "p5", at=1, priority=5)
    submit(r, "p0-second", at=2)
    submit(r, "vip", at=3, attributes={"vip": True})
    assert order(r) == ["vip", "p5", "p0-first", "p0-second"]


def test_an_attribute_update_moves_the_item_at_once(rig: MakeRig) -> None:
    """R7: update_item changing an attribute moves the item to its new bucket with no delay."""
    r = rig(prioritised("rules: [{when: 'item.vip == true'}]"))
    submit(r, "first")
    second = submit(r, "second", at=1)
    assert order(r) == ["first", "second"]
    r.engine.update_item(second.id, attributes={"vip": True})
    assert order(r) == ["second", "first"]


def test_a_priority_update_moves_the_item_at_once(rig: MakeRig) -> None:
    """R7: update_item changing the priority reorders the queue with no delay."""
    r = rig(config())
    submit(r, "first")
    second = submit(r, "second", at=1)
    r.engine.update_item(second.id, priority=5)
    assert order(r) == ["second", "first"]


def test_the_next_assignment_follows_an_attribute_update(rig: MakeRig) -> None:
    """R7: the item moved up by an update is the one offered when an agent becomes free."""
    r = rig(prioritised("rules: [{when: 'item.vip == true'}]"))
    submit(r, "first")
    second = submit(r, "second", at=1)
    r.engine.update_item(second.id, attributes={"vip": True})
    presence(r, "a", BasePresence.AVAILABLE)
    assert [e.item for e in r.of_type("offer_made")] == [second.id]


# -- R8: aging -------------------------------------------------------------------------------------

AGING = "q1: {kind: messaging, members: [a], aging: {every_s: 10, add: 2}}"


def test_aging_adds_k_for_every_s_seconds_waited(rig: MakeRig) -> None:
    """R8: with every_s 10 and add 2, the effective priority rises by 2 at 10 s, 20 s, …."""
    r = rig(config(queues=AGING))
    item = submit(r, "x", priority=2)
    seen = []
    for t in (9.5, 10.0, 19.5, 20.0, 35.0):
        r.at(t)
        seen.append(r.engine.item(item.id).effective_priority)
    assert seen == [2, 4, 4, 6, 8]


def test_an_aged_low_priority_item_overtakes_a_later_higher_priority_one(rig: MakeRig) -> None:
    """R8: a waiting low-priority item passes a later, higher-priority item once aging lifts it."""
    r = rig(config(queues=AGING))
    submit(r, "low", priority=0)
    submit(r, "high", at=25, priority=5)
    assert order(r) == ["high", "low"]
    r.at(30)
    assert order(r) == ["low", "high"]


def test_aging_goes_on_after_an_offer_of_the_item_is_declined(rig: MakeRig) -> None:
    """R8: an item keeps aging after an offer of it is declined and it returns to the queue."""
    r = rig(
        config(
            queues=AGING,
            agents="a: {}",
            workstream="offer: {timeout_s: 100, on_decline_presence: busy_dnd}",
        )
    )
    declined = submit(r, "declined")
    r.at(10)
    r.at(20)
    r.engine.decline(r.last_offer(declined.id).offer, agent="a")
    submit(r, "later", at=55, priority=7)
    r.at(60)
    assert order(r) == ["declined", "later"]


# -- R9: affinity first ----------------------------------------------------------------------------


def affinity_rig(rig: MakeRig) -> tuple[Rig, WorkItem, WorkItem, WorkItem]:
    """``returning`` came back to agent ``a`` by affinity while ``a`` holds ``held``; ``waiting``
    (older, priority 10) still waits."""
    r = rig(config(agents="a: {}", workstream="affinity: {enabled: true}"))
    returning = submit(r, "returning")
    accept(r, returning)
    waiting = submit(r, "waiting", at=1, priority=10)
    held = submit(r, "held", at=2, priority=20)
    r.at(3)
    r.engine.park(returning.id)
    accept(r, held)
    r.at(4)
    r.engine.resume(returning.id)
    r.pump()
    return r, returning, waiting, held


def test_a_returning_affinity_item_is_placed_before_every_other_item(rig: MakeRig) -> None:
    """R9: an item back under affinity is first in its queue, ahead of older, more urgent items."""
    r, _, _, _ = affinity_rig(rig)
    assert order(r) == ["returning", "waiting"]


def test_the_affinity_agent_takes_the_returning_item_before_older_items(rig: MakeRig) -> None:
    """R9: when the affinity agent frees up it is offered the returning item, not older ones."""
    r, returning, waiting, held = affinity_rig(rig)
    r.engine.complete(held.id, wrap_up=False)
    r.pump()
    assert r.last_offer(returning.id).agent == "a"
    assert r.engine.item(waiting.id).state is ItemState.QUEUED


# -- R10: several queues ---------------------------------------------------------------------------


def test_an_agent_is_served_from_its_smallest_priority_number_queue_first(rig: MakeRig) -> None:
    """R10: a freed agent takes from the queue with the smaller priority number, despite waits."""
    r = rig(
        config(
            queues="""
            q1: {kind: messaging, priority: 1, members: [a]}
            q2: {kind: messaging, priority: 2, members: [a]}
            """
        )
    )
    submit(r, "in-q2", q="q2")
    in_q1 = submit(r, "in-q1", at=10, q="q1")
    presence(r, "a", BasePresence.AVAILABLE)
    assert [e.item for e in r.of_type("offer_made")] == [in_q1.id]


def test_among_queues_of_equal_priority_the_longest_waiting_item_goes_first(rig: MakeRig) -> None:
    """R10: across queues of equal priority, the item that has waited longest is offered first."""
    r = rig(
        config(
            queues="""
            q1: {kind: messaging, priority: 1, members: [a]}
            q2: {kind: messaging, priority: 1, members: [a]}
            """
        )
    )
    oldest = submit(r, "in-q2", q="q2")
    submit(r, "in-q1", at=10, q="q1")
    presence(r, "a", BasePresence.AVAILABLE)
    assert [e.item for e in r.of_type("offer_made")] == [oldest.id]


def test_r10_across_queues_the_longer_wait_wins_even_against_a_smaller_id(rig: MakeRig) -> None:
    """R10: across queues of equal priority the order is by wait, not by id: ``zz`` waited longer."""
    r = rig(
        config(
            queues="""
            q1: {kind: messaging, priority: 1, members: [a]}
            q2: {kind: messaging, priority: 1, members: [a]}
            """
        )
    )
    oldest = submit(r, "older", q="q2", item_id="zz-older")
    submit(r, "newer", at=10, q="q1", item_id="aa-newer")
    presence(r, "a", BasePresence.AVAILABLE)
    assert [e.item for e in r.of_type("offer_made")] == [oldest.id]


# -- R11: no top-N window --------------------------------------------------------------------------

FRENCH = "skills: {french: {levels: 10}}"
SPEAKS_FRENCH = [SkillReq(name="french", level=1)]


def test_an_item_behind_many_that_fit_nobody_is_offered_when_an_agent_frees(rig: MakeRig) -> None:
    """R11: a freed agent is offered the first item it fits, however deep in the queue."""
    r = rig(config(top=FRENCH))
    for n in range(30):
        submit(r, f"fr-{n}", skills=SPEAKS_FRENCH)
    plain = submit(r, "plain", at=1)
    presence(r, "a", BasePresence.AVAILABLE)
    assert [e.item for e in r.of_type("offer_made")] == [plain.id]


def test_an_arriving_item_is_offered_though_items_ahead_fit_nobody(rig: MakeRig) -> None:
    """R11: a new item behind items nobody can take is offered at once to a free agent."""
    r = rig(config(agents="a: {}", top=FRENCH))
    for n in range(5):
        submit(r, f"fr-{n}", skills=SPEAKS_FRENCH)
    plain = submit(r, "plain", at=1)
    assert r.last_offer(plain.id).agent == "a"


def test_an_agent_takes_the_item_behind_one_it_may_no_longer_be_offered(rig: MakeRig) -> None:
    """R11: after declining the head item for good, the agent is offered the item behind it."""
    r = rig(config(workstream="offer: {max_declines_per_agent: 1}"))
    head = submit(r, "head")
    behind = submit(r, "behind", at=1)
    presence(r, "a", BasePresence.AVAILABLE)
    r.engine.decline(r.last_offer(head.id).offer, agent="a")
    r.pump()
    assert r.last_offer(behind.id).agent == "a"
    assert r.engine.item(head.id).state is ItemState.QUEUED


def test_an_item_behind_items_too_large_for_the_agent_is_offered(rig: MakeRig) -> None:
    """R11: an agent with little room left is offered a small item behind larger ones."""
    r = rig(config(agents="a: {}", workstream="capacity: {units: 30}"))
    held = submit(r, "held", units=60)
    accept(r, held)
    presence(r, "a", BasePresence.AWAY)
    submit(r, "large", at=1, units=50)
    small = submit(r, "small", at=2, units=30)
    presence(r, "a", BasePresence.AVAILABLE)
    assert r.last_offer(small.id).agent == "a"


def test_an_agent_takes_from_a_later_queue_when_nothing_in_the_first_fits(rig: MakeRig) -> None:
    """R11: when no item of its first queue fits, the agent gets an item of its next queue."""
    r = rig(
        config(
            queues="""
            q1: {kind: messaging, priority: 1, members: [a]}
            q2: {kind: messaging, priority: 2, members: [a]}
            """,
            top=FRENCH,
        )
    )
    submit(r, "french", q="q1", skills=SPEAKS_FRENCH)
    plain = submit(r, "plain", at=1, q="q2")
    presence(r, "a", BasePresence.AVAILABLE)
    assert [e.item for e in r.of_type("offer_made")] == [plain.id]
