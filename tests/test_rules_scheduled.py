"""Scheduled work, callbacks, time to live, cancellation and illegal transitions (SPEC R37–R40)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import errors
from unirouter.config.model import BasePresence
from unirouter.engine.state import CloseReason, ItemState, OfferStatus

Rigger = Callable[..., Any]
FIXTURE_OK = [HealthCheck.function_scoped_fixture]

OFFLINE = BasePresence.OFFLINE

CONFIG = """
workstreams:
  tasks:
    kind: record
    offer: {timeout_s: 1000}
    fallback_queue: backlog
  leads:
    kind: record
    ttl_s: 300
    offer: {timeout_s: 1000}
    fallback_queue: backlog
  callbacks:
    kind: record
    offer: {timeout_s: 1000}
    fallback_queue: backlog
    route_to_queue:
      - when: "true"
        queue: callbacks
  chat:
    kind: messaging
    offer: {timeout_s: 1000}
    fallback_queue: chats
queues:
  backlog: {kind: record, members: [ann]}
  callbacks: {kind: record, members: [ann]}
  chats: {kind: messaging, members: [ann, ben]}
agents:
  ann: {}
  ben: {}
  cid: {}
"""


def of_item(r: Any, type_: str, item_id: str) -> list[Any]:
    return [e for e in r.of_type(type_) if e.item == item_id]


def closed(r: Any, item_id: str) -> Any:
    [event] = of_item(r, "item_closed", item_id)
    return event


def snapshot(r: Any) -> tuple[Any, ...]:
    """What a refused command must leave untouched: every item's and agent's observable state."""
    items = tuple(
        (i.id, i.state, i.queue, i.agent, i.offer, i.close_reason) for i in r.engine.items()
    )
    agents = tuple(
        (a.id, a.presence, a.used_units, frozenset(a.active), frozenset(a.offers))
        for a in r.engine.agents()
    )
    return items, agents


# -- R37: scheduled items ----------------------------------------------------------------------------------


def test_future_available_at_makes_the_item_scheduled(rig: Rigger) -> None:
    """R37: an item available later is ``scheduled`` and announced with item_scheduled."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks", available_at=3600)
    assert item.state is ItemState.SCHEDULED
    [event] = of_item(r, "item_scheduled", item.id)
    assert event.data["available_at"] == 3600
    assert of_item(r, "item_routed", item.id) == []


def test_scheduled_item_does_not_route_before_its_time(rig: Rigger) -> None:
    """R37: just before ``available_at`` the item is still scheduled and unrouted."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks", available_at=3600)
    r.at(3599.999)
    assert item.state is ItemState.SCHEDULED
    assert r.of_type("offer_made") == []


def test_scheduled_item_enters_routing_exactly_at_available_at(rig: Rigger) -> None:
    """R37: a clock jump past ``available_at`` still routes the item at that very time."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks", available_at=3600)
    r.at(5000)
    [routed] = of_item(r, "item_routed", item.id)
    offer = of_item(r, "offer_made", item.id)[0]
    assert (routed.t, offer.t) == (3600, 3600)


def test_scheduled_start_is_a_timer_deadline(rig: Rigger) -> None:
    """R37, R21: the engine asks to be woken at ``available_at`` (a timer, not a poll)."""
    r = rig(CONFIG)
    r.engine.submit(external_id="t", workstream="tasks", available_at=3600)
    assert r.engine.next_deadline() == 3600


@pytest.mark.parametrize("available_at", [0.0, 50.0, 100.0])
def test_available_at_now_or_past_routes_at_once(rig: Rigger, available_at: float) -> None:
    """R37: an item whose ``available_at`` is not in the future routes immediately."""
    r = rig(CONFIG, t0=100)
    item = r.engine.submit(external_id="t", workstream="tasks", available_at=available_at)
    assert item.state is ItemState.OFFERED
    assert of_item(r, "item_scheduled", item.id) == []


@settings(max_examples=50, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    starts=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=6),
    jumps=st.lists(st.integers(min_value=1, max_value=4_000), min_size=1, max_size=8),
)
def test_every_scheduled_item_routes_exactly_at_its_time(
    rig: Rigger, starts: list[int], jumps: list[int]
) -> None:
    """R37: whatever the clock's jumps, each item enters routing at its ``available_at``."""
    r = rig(CONFIG)
    items = [
        r.engine.submit(external_id=f"t{n}", workstream="tasks", available_at=float(at))
        for n, at in enumerate(starts)
    ]
    now = 0
    for jump in jumps:
        now += jump
        r.at(now)
    r.at(max(now, *starts))
    for item, at in zip(items, starts, strict=True):
        [routed] = of_item(r, "item_routed", item.id)
        assert routed.t == at
        assert item.state is not ItemState.SCHEDULED
    routed_order = [e.item for e in r.of_type("item_routed")]
    by_start = sorted(range(len(items)), key=lambda n: (starts[n], n))
    assert routed_order == [items[n].id for n in by_start]


# -- R38: callbacks -----------------------------------------------------------------------------------------


def test_callback_waits_until_callback_at(rig: Rigger) -> None:
    """R38: a callback record with ``callback_at`` in the future waits, keeping its phone."""
    r = rig(CONFIG)
    item = r.engine.submit(
        external_id="cb", workstream="callbacks", callback_at=600, phone="+33100000000"
    )
    r.at(599)
    assert item.state is ItemState.SCHEDULED
    assert item.phone == "+33100000000"
    assert r.of_type("offer_made") == []


def test_callback_routes_like_a_record_when_due(rig: Rigger) -> None:
    """R38: at ``callback_at`` the callback is classified, routed by the rules and offered."""
    r = rig(CONFIG)
    item = r.engine.submit(
        external_id="cb", workstream="callbacks", callback_at=600, phone="+33100000000"
    )
    r.at(1000)
    [routed] = of_item(r, "item_routed", item.id)
    assert (routed.t, routed.queue, routed.data["rule"]) == (600, "callbacks", 0)
    offer = of_item(r, "offer_made", item.id)[0]
    assert (offer.agent, offer.t) == ("ann", 600)


# -- R39: time to live ---------------------------------------------------------------------------------------


def test_waiting_item_expires_at_workstream_ttl(rig: Rigger) -> None:
    """R39: an item waiting longer than the workstream's ``ttl_s`` closes as expired."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="l", workstream="leads")
    r.at(299)
    assert item.state is ItemState.QUEUED
    r.at(1000)
    assert (item.state, item.close_reason) == (ItemState.CLOSED, CloseReason.EXPIRED)
    event = closed(r, item.id)
    assert (event.t, event.data["reason"]) == (300, "expired")


def test_item_ttl_overrides_workstream_ttl(rig: Rigger) -> None:
    """R39: an item's own ``ttl_s`` wins over its workstream's."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="l", workstream="leads", ttl_s=100)
    r.at(1000)
    assert closed(r, item.id).t == 100


def test_item_ttl_applies_without_workstream_ttl(rig: Rigger) -> None:
    """R39: ``ttl_s`` on an item of a workstream without one still expires it."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="t", workstream="tasks", ttl_s=50)
    r.at(1000)
    assert (closed(r, item.id).t, item.close_reason) == (50, CloseReason.EXPIRED)


def test_item_without_ttl_never_expires(rig: Rigger) -> None:
    """R39: without any ``ttl_s`` a waiting item waits indefinitely."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="t", workstream="tasks")
    r.at(10_000_000)
    assert item.state is ItemState.QUEUED


def test_ttl_of_scheduled_item_counts_from_entering_routing(rig: Rigger) -> None:
    """R39 (our reading): TTL counts from entering routing, so a scheduled item is not expired early."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="t", workstream="tasks", available_at=100, ttl_s=50)
    r.at(1000)
    assert closed(r, item.id).t == 150


def test_ttl_withdraws_the_offer_of_an_offered_item(rig: Rigger) -> None:
    """R39: an offered item past its TTL has its offer withdrawn and closes as expired."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="l", workstream="leads")
    offer = r.last_offer(item.id)
    r.at(1000)
    [withdrawn] = of_item(r, "offer_withdrawn", item.id)
    assert (withdrawn.offer, withdrawn.agent, withdrawn.t) == (offer.offer, "ann", 300)
    assert r.engine.offer(offer.offer).status is OfferStatus.WITHDRAWN
    assert (item.close_reason, closed(r, item.id).t) == (CloseReason.EXPIRED, 300)
    assert r.engine.agent("ann").used_units == 0


def test_ttl_does_not_close_an_assigned_item(rig: Rigger) -> None:
    """R39: once assigned, an item is no longer waiting and its TTL does not apply."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="l", workstream="leads")
    r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    r.at(5000)
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")


def test_ttl_of_a_resumed_conversation_counts_from_its_return(rig: Rigger) -> None:
    """R39, R6: a parked conversation the customer resumes after its TTL is routed, not expired."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="c", workstream="chat", ttl_s=300)
    r.engine.accept(r.last_offer(item.id).offer, agent=r.last_offer(item.id).agent)
    r.at(100)
    r.engine.park(item.id)
    r.at(1000)
    r.engine.resume(item.id)
    assert item.state is ItemState.OFFERED
    assert of_item(r, "item_closed", item.id) == []


def test_ttl_applies_to_an_item_offered_by_transfer_to_agent(rig: Rigger) -> None:
    """R39, R31: a waiting item offered by a transfer to an agent still expires at its TTL."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    r.engine.set_presence("ben", OFFLINE)
    item = r.engine.submit(external_id="t", workstream="chat", ttl_s=300)
    r.at(10)
    r.engine.transfer(item.id, agent="cid")
    assert r.last_offer(item.id).agent == "cid"
    r.at(1000)
    assert (item.state, item.close_reason) == (ItemState.CLOSED, CloseReason.EXPIRED)
    assert closed(r, item.id).t == 300


# -- R40: cancel and illegal transitions -----------------------------------------------------------------------


def test_cancel_of_waiting_item_abandons_it(rig: Rigger) -> None:
    """R40: the caller cancelling a queued item closes it as abandoned."""
    r = rig(CONFIG)
    r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="t", workstream="tasks")
    r.at(20)
    r.engine.cancel(item.id)
    assert (item.state, item.close_reason) == (ItemState.CLOSED, CloseReason.ABANDONED)
    event = closed(r, item.id)
    assert (event.t, event.data["reason"]) == (20, "abandoned")
    assert r.engine.waiting_items("backlog") == []


def test_cancel_of_offered_item_withdraws_the_offer(rig: Rigger) -> None:
    """R40: cancelling an offered item withdraws the offer in flight, then closes it abandoned."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks")
    offer = r.last_offer(item.id)
    r.pump()
    r.engine.cancel(item.id)
    types = [e.type for e in r.pump() if e.item == item.id]
    assert types == ["offer_withdrawn", "item_closed"]
    assert r.engine.offer(offer.offer).status is OfferStatus.WITHDRAWN
    assert item.close_reason is CloseReason.ABANDONED
    with pytest.raises(errors.OfferNotOpen):
        r.engine.accept(offer.offer, agent="ann")


def test_cancel_of_offered_item_releases_reserved_capacity(rig: Rigger) -> None:
    """R40: the capacity the offer reserved goes back to the agent at once."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks")
    assert r.engine.agent("ann").used_units == 100
    r.engine.cancel(item.id)
    ann = r.engine.agent("ann")
    assert (ann.used_units, ann.offers, ann.presence) == (0, set(), BasePresence.AVAILABLE)


def test_cancel_of_offered_item_lets_the_agent_take_the_next_item(rig: Rigger) -> None:
    """R40, R21: the agent freed by a cancelled offer is offered the next waiting item."""
    r = rig(CONFIG)
    first = r.engine.submit(external_id="t1", workstream="tasks")
    second = r.engine.submit(external_id="t2", workstream="tasks")
    assert second.state is ItemState.QUEUED
    r.at(5)
    r.engine.cancel(first.id)
    offer = r.last_offer(second.id)
    assert (offer.agent, offer.t) == ("ann", 5)


def test_cancel_of_assigned_item_closes_it_as_cancelled(rig: Rigger) -> None:
    """R40: an assigned item can be called off with reason cancelled; its capacity is released."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks")
    r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    r.engine.cancel(item.id, reason=CloseReason.CANCELLED)
    assert (item.state, item.close_reason) == (ItemState.CLOSED, CloseReason.CANCELLED)
    assert closed(r, item.id).data["reason"] == "cancelled"
    assert r.engine.agent("ann").used_units == 0


def test_abandon_of_assigned_item_is_refused(rig: Rigger) -> None:
    """R40: a customer abandon applies to waiting or offered items only; nothing changes."""
    r = rig(CONFIG)
    item = r.engine.submit(external_id="t", workstream="tasks")
    r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    r.pump()
    before = snapshot(r)
    with pytest.raises(errors.Conflict):
        r.engine.cancel(item.id)
    assert r.pump() == []
    assert snapshot(r) == before


def at_state(r: Any, state: str) -> Any:
    """An item of the ``chat`` workstream brought to ``state`` (ben is away)."""
    r.engine.set_presence("ben", BasePresence.AWAY)
    if state == "queued":
        r.engine.set_presence("ann", OFFLINE)
    item = r.engine.submit(external_id="x", workstream="chat")
    if state in ("queued", "offered"):
        return item
    r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    if state == "wrap_up":
        r.engine.complete(item.id)
    elif state == "parked":
        r.engine.park(item.id)
    elif state == "closed":
        r.engine.close(item.id)
    return item


ILLEGAL = [
    ("queued", "complete"),
    ("queued", "close"),
    ("queued", "park"),
    ("queued", "resume"),
    ("offered", "complete"),
    ("offered", "park"),
    ("offered", "pick"),
    ("assigned", "resume"),
    ("assigned", "pick"),
    ("wrap_up", "complete"),
    ("wrap_up", "park"),
    ("wrap_up", "transfer"),
    ("wrap_up", "force_assign"),
    ("parked", "complete"),
    ("parked", "park"),
    ("closed", "close"),
    ("closed", "cancel"),
    ("closed", "resume"),
    ("closed", "transfer"),
    ("closed", "force_assign"),
]


def command(r: Any, name: str, item_id: str) -> None:
    engine = r.engine
    calls: dict[str, Callable[[], object]] = {
        "complete": lambda: engine.complete(item_id),
        "close": lambda: engine.close(item_id),
        "park": lambda: engine.park(item_id),
        "resume": lambda: engine.resume(item_id),
        "pick": lambda: engine.pick(item_id, agent="ann"),
        "cancel": lambda: engine.cancel(item_id, reason=CloseReason.CANCELLED),
        "transfer": lambda: engine.transfer(item_id, queue="chats"),
        "force_assign": lambda: engine.force_assign(item_id, agent="ben"),
    }
    calls[name]()


@pytest.mark.parametrize(("state", "name"), ILLEGAL)
def test_illegal_transition_is_refused_with_conflict_and_changes_nothing(
    rig: Rigger, state: str, name: str
) -> None:
    """R40, SPEC §2: a command the item's state does not allow raises Conflict, half-applying nothing."""
    r = rig(CONFIG)
    item = at_state(r, state)
    assert item.state == state
    r.pump()
    before = snapshot(r)
    with pytest.raises(errors.Conflict):
        command(r, name, item.id)
    assert r.pump() == []
    assert snapshot(r) == before


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(
                ["accept", "decline", "complete", "close", "park", "resume", "cancel", "abandon"]
            ),
            st.integers(min_value=0, max_value=2),
        ),
        max_size=25,
    )
)
def test_refused_commands_never_change_anything(rig: Rigger, steps: list[tuple[str, int]]) -> None:
    """R40, SPEC §6.1: over any command sequence, a refused command emits nothing and changes nothing."""
    r = rig(CONFIG)
    items = [r.engine.submit(external_id=f"x{n}", workstream="chat") for n in range(3)]
    for name, index in steps:
        r.pump()
        before = snapshot(r)
        try:
            attempt(r.engine, name, items[index])
        except errors.CommandError:
            assert r.pump() == []
            assert snapshot(r) == before


def attempt(engine: Any, name: str, item: Any) -> None:
    """Run one lifecycle command on ``item`` (offers are answered by the agent they went to)."""
    offer = item.offer or ""
    agent = engine.offer(offer).agent if offer else "ann"
    calls: dict[str, Callable[[], object]] = {
        "accept": lambda: engine.accept(offer, agent=agent),
        "decline": lambda: engine.decline(offer, agent=agent),
        "complete": lambda: engine.complete(item.id),
        "close": lambda: engine.close(item.id),
        "park": lambda: engine.park(item.id),
        "resume": lambda: engine.resume(item.id),
        "cancel": lambda: engine.cancel(item.id, reason=CloseReason.CANCELLED),
        "abandon": lambda: engine.cancel(item.id),
    }
    calls[name]()
