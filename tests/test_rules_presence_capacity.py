"""Presence, wrap-up, parking, connections and calendars (SPEC R32–R36)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import errors
from unirouter.config.model import BasePresence
from unirouter.engine.state import ItemState

Rigger = Callable[..., Any]
FIXTURE_OK = [HealthCheck.function_scoped_fixture]

AVAILABLE, BUSY, BUSY_DND, AWAY, OFFLINE = (
    BasePresence.AVAILABLE,
    BasePresence.BUSY,
    BasePresence.BUSY_DND,
    BasePresence.AWAY,
    BasePresence.OFFLINE,
)
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
HOUR = 3600.0
DAY = 24 * HOUR


def chat_config(
    *,
    wrap_up: str = "always",
    auto_accept: str = "false",
    default: str = "available",
    declines: int = 3,
) -> str:
    """Chats of 50 units; ann (100 units) holds two at most."""
    return f"""
workstreams:
  chat:
    kind: messaging
    capacity: {{units: 50}}
    offer: {{auto_accept: {auto_accept}, timeout_s: 120, max_declines_per_agent: {declines}}}
    wrap_up: {{block: {wrap_up}}}
    fallback_queue: chats
queues:
  chats: {{kind: messaging, members: [ann]}}
agents:
  ann: {{default_presence: {default}}}
"""


def take(r: Any, external_id: str) -> Any:
    """Submit a chat and have ann accept its offer."""
    item = r.engine.submit(external_id=external_id, workstream="chat")
    if item.state is ItemState.OFFERED:
        r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")
    return item


def presence(r: Any, agent: str = "ann") -> BasePresence:
    return r.engine.agent(agent).presence


def first_offer(r: Any, item_id: str) -> Any:
    """The first ``offer_made`` event of an item."""
    return next(e for e in r.of_type("offer_made") if e.item == item_id)


def released(r: Any, item_id: str) -> list[Any]:
    return [e for e in r.of_type("capacity_released") if e.item == item_id]


# -- R32: automatic and manual presence ---------------------------------------------------------------------


def test_presence_is_available_when_nothing_is_used(rig: Rigger) -> None:
    """R32: an agent using no capacity is available, again after its last item closes."""
    r = rig(chat_config())
    assert presence(r) is AVAILABLE
    item = take(r, "a")
    r.engine.close(item.id)
    assert presence(r) is AVAILABLE


def test_presence_is_busy_when_part_of_capacity_is_used(rig: Rigger) -> None:
    """R32: an agent using part of its capacity is busy."""
    r = rig(chat_config())
    take(r, "a")
    assert presence(r) is BUSY


def test_presence_is_busy_dnd_when_all_capacity_is_used(rig: Rigger) -> None:
    """R32: an agent using all of its capacity is busy_dnd."""
    r = rig(chat_config())
    take(r, "a")
    take(r, "b")
    assert presence(r) is BUSY_DND


def test_open_offer_counts_as_used_capacity(rig: Rigger) -> None:
    """R32, R22: an offer reserves capacity, so the offered agent is busy before accepting."""
    r = rig(chat_config())
    item = r.engine.submit(external_id="a", workstream="chat")
    assert item.state is ItemState.OFFERED
    assert presence(r) is BUSY


def test_presence_changes_are_announced(rig: Rigger) -> None:
    """R32: each automatic presence change is a presence_changed event marked not manual."""
    r = rig(chat_config())
    r.pump()
    take(r, "a")
    take(r, "b")
    changes = [
        (e.agent, e.data["presence"], e.data["manual"]) for e in r.of_type("presence_changed")
    ]
    assert changes[-2:] == [("ann", BUSY, False), ("ann", BUSY_DND, False)]


@pytest.mark.parametrize("manual", [AWAY, OFFLINE, BUSY_DND])
def test_manual_presence_sticks_after_a_close(rig: Rigger, manual: BasePresence) -> None:
    """R32: a manual away, offline or busy_dnd is not recomputed when an item closes."""
    r = rig(chat_config())
    item = take(r, "a")
    r.engine.set_presence("ann", manual)
    r.engine.close(item.id)
    assert presence(r) is manual
    assert r.engine.agent("ann").used_units == 0


@pytest.mark.parametrize("manual", [AWAY, OFFLINE, BUSY_DND])
def test_manual_presence_sticks_after_a_force_assign(rig: Rigger, manual: BasePresence) -> None:
    """R32: a manual away, offline or busy_dnd is not recomputed after an assignment."""
    r = rig(chat_config())
    r.engine.set_presence("ann", manual)
    item = r.engine.submit(external_id="a", workstream="chat")
    r.engine.force_assign(item.id, agent="ann")
    assert presence(r) is manual


def test_manual_presence_is_announced_as_manual(rig: Rigger) -> None:
    """R32: a presence set by hand is a presence_changed event with its label, marked manual."""
    r = rig(chat_config())
    r.pump()
    r.engine.set_presence("ann", AWAY, label="Lunch")
    [event] = r.pump()
    assert event.type == "presence_changed"
    assert (event.agent, event.data["presence"], event.data["label"]) == ("ann", AWAY, "Lunch")
    assert event.data["manual"] is True


def test_manual_available_lasts_until_next_accept(rig: Rigger) -> None:
    """R32: a manual available holds through a new offer and ends with the next accept."""
    r = rig(chat_config())
    take(r, "a")
    r.engine.set_presence("ann", AVAILABLE)
    second = r.engine.submit(external_id="b", workstream="chat")
    assert second.state is ItemState.OFFERED
    assert presence(r) is AVAILABLE
    r.engine.accept(r.last_offer(second.id).offer, agent="ann")
    assert presence(r) is BUSY_DND


def test_manual_available_ends_with_the_next_close(rig: Rigger) -> None:
    """R32: a manual available set while full ends when an item closes; busy is recomputed."""
    r = rig(chat_config())
    first = take(r, "a")
    take(r, "b")
    r.engine.set_presence("ann", AVAILABLE)
    assert presence(r) is AVAILABLE
    r.engine.close(first.id)
    assert presence(r) is BUSY


def test_manual_busy_lasts_through_a_declined_offer(rig: Rigger) -> None:
    """R32: a manual busy is not recomputed by a decline's release (only accept or close end it)."""
    r = rig(chat_config(declines=1))
    r.engine.set_presence("ann", BUSY)
    item = r.engine.submit(external_id="a", workstream="chat")
    r.engine.decline(r.last_offer(item.id).offer, agent="ann")
    assert presence(r) is BUSY
    assert r.engine.agent("ann").used_units == 0


def test_manual_busy_ends_with_the_next_close(rig: Rigger) -> None:
    """R32: a manual busy ends when an item closes; with nothing used the agent is available."""
    r = rig(chat_config())
    item = take(r, "a")
    r.engine.set_presence("ann", BUSY)
    r.engine.close(item.id)
    assert presence(r) is AVAILABLE


def test_inactive_cannot_be_set_by_hand(rig: Rigger) -> None:
    """R32: ``inactive`` is system-set only; setting it by hand is refused and changes nothing."""
    r = rig(chat_config())
    r.pump()
    with pytest.raises(errors.InvalidCommand):
        r.engine.set_presence("ann", BasePresence.INACTIVE)
    assert r.pump() == []
    assert presence(r) is AVAILABLE


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(steps=st.lists(st.sampled_from(["submit", "close", "wrap"]), max_size=15))
def test_automatic_presence_always_follows_capacity_use(rig: Rigger, steps: list[str]) -> None:
    """R32: without manual presence, presence is available / busy / busy_dnd by capacity in use."""
    r = rig(chat_config(auto_accept="true"))
    counter = 0
    for step in steps:
        holding = sorted(r.engine.agent("ann").active)
        if step == "submit":
            counter += 1
            r.engine.submit(external_id=f"i{counter}", workstream="chat")
        elif holding and step == "close":
            r.engine.close(holding[0])
        elif holding:
            r.engine.complete(holding[0], wrap_up=False)
        ann = r.engine.agent("ann")
        expected = AVAILABLE if ann.used_units == 0 else BUSY if ann.free_units > 0 else BUSY_DND
        assert ann.presence is expected


# -- R33: wrap-up --------------------------------------------------------------------------------------------


def test_wrap_up_always_keeps_capacity_until_close(rig: Rigger) -> None:
    """R33: with ``block: always`` capacity stays used through wrap-up and is released at close."""
    r = rig(chat_config(wrap_up="always"))
    item = take(r, "a")
    r.at(10)
    r.engine.complete(item.id)
    r.at(5000)
    assert item.state is ItemState.WRAP_UP
    assert r.engine.agent("ann").used_units == 50
    assert released(r, item.id) == []
    r.engine.close(item.id)
    assert r.engine.agent("ann").used_units == 0
    assert [e.t for e in released(r, item.id)] == [5000]


def test_wrap_up_none_releases_capacity_on_entering_wrap_up(rig: Rigger) -> None:
    """R33: with ``block: none`` capacity is released as wrap-up begins."""
    r = rig(chat_config(wrap_up="none"))
    item = take(r, "a")
    r.at(10)
    r.engine.complete(item.id)
    assert item.state is ItemState.WRAP_UP
    assert r.engine.agent("ann").used_units == 0
    assert [e.t for e in released(r, item.id)] == [10]


def test_wrap_up_seconds_keeps_capacity_until_the_delay_passes(rig: Rigger) -> None:
    """R33: with ``block: 30`` capacity is still used just before 30 s of wrap-up."""
    r = rig(chat_config(wrap_up="30"))
    item = take(r, "a")
    r.at(10)
    r.engine.complete(item.id)
    r.at(39.9)
    assert r.engine.agent("ann").used_units == 50
    assert released(r, item.id) == []


def test_wrap_up_seconds_releases_capacity_at_the_exact_time(rig: Rigger) -> None:
    """R33: with ``block: 30`` capacity is released 30 s after wrap-up starts, by the timer."""
    r = rig(chat_config(wrap_up="30"))
    item = take(r, "a")
    r.at(10)
    r.engine.complete(item.id)
    r.at(500)
    assert item.state is ItemState.WRAP_UP
    assert r.engine.agent("ann").used_units == 0
    assert [e.t for e in released(r, item.id)] == [40]
    assert presence(r) is AVAILABLE


def test_wrap_up_release_lets_the_agent_take_waiting_work_then(rig: Rigger) -> None:
    """R33, R21: the agent freed by the wrap-up delay is offered waiting work at that moment."""
    r = rig(chat_config(wrap_up="30"))
    item = take(r, "a")
    take(r, "b")
    waiting = r.engine.submit(external_id="c", workstream="chat")
    r.at(10)
    r.engine.complete(item.id)
    r.at(500)
    offer = first_offer(r, waiting.id)
    assert (offer.agent, offer.t) == ("ann", 40)


# -- R34: park ------------------------------------------------------------------------------------------------


def test_park_releases_capacity(rig: Rigger) -> None:
    """R34: parking a conversation gives its capacity back to the agent."""
    r = rig(chat_config())
    item = take(r, "a")
    r.at(10)
    r.engine.park(item.id)
    assert item.state is ItemState.PARKED
    ann = r.engine.agent("ann")
    assert (ann.used_units, ann.presence) == (0, AVAILABLE)


def test_park_records_a_capacity_release(rig: Rigger) -> None:
    """R34: parking emits capacity_released for the agent at that time."""
    r = rig(chat_config())
    item = take(r, "a")
    r.at(10)
    r.engine.park(item.id)
    [event] = released(r, item.id)
    assert (event.agent, event.t, event.data["units"]) == ("ann", 10, 50)


def test_only_conversations_can_be_parked(rig: Rigger) -> None:
    """R34: a record is not an async conversation; parking it is refused and changes nothing."""
    r = rig(calendar_config(respect="false"), epoch=MONDAY)
    item = r.engine.submit(external_id="m", workstream="mail")
    r.engine.accept(r.last_offer(item.id).offer, agent="ann")
    r.pump()
    with pytest.raises(errors.CommandError):
        r.engine.park(item.id)
    assert r.pump() == []
    assert (item.state, r.engine.agent("ann").used_units) == (ItemState.ASSIGNED, 100)


LEAST_ACTIVE = """
workstreams:
  chat:
    kind: messaging
    offer: {auto_accept: true}
    fallback_queue: chats
queues:
  chats: {kind: messaging, members: [ann, ben], assignment: {method: least_active}}
agents:
  ann: {}
  ben: {}
"""


def test_park_counts_as_release_for_least_active(rig: Rigger) -> None:
    """R34, R17: ben parked at 20 after ann closed at 10, so ann released earliest and wins."""
    r = rig(LEAST_ACTIVE)
    first = r.engine.submit(external_id="a", workstream="chat")
    second = r.engine.submit(external_id="b", workstream="chat")
    assert {first.agent, second.agent} == {"ann", "ben"}
    by_agent = {first.agent: first, second.agent: second}
    r.at(10)
    r.engine.close(by_agent["ann"].id)
    r.at(20)
    r.engine.park(by_agent["ben"].id)
    r.at(30)
    fresh = r.engine.submit(external_id="c", workstream="chat")
    # Were the park not a release, ben would have none recorded and win.
    assert fresh.agent == "ann"


# -- R35: connection ------------------------------------------------------------------------------------------


def test_r35_agents_awaiting_connections_start_offline_and_get_no_offer(rig: Rigger) -> None:
    """R35, issue 16: a server's agents start offline and disconnected: no work before they log in."""
    r = rig(chat_config(), await_connections=True)
    ann = r.engine.agent("ann")
    assert (ann.presence, ann.connected, ann.manual) == (OFFLINE, False, False)
    item = r.engine.submit(external_id="a", workstream="chat")
    assert item.state is ItemState.QUEUED and r.of_type("offer_made") == []


def test_r35_an_agent_awaiting_its_connection_gets_its_default_presence_on_connecting(
    rig: Rigger,
) -> None:
    """R35, issue 16: the agent's own connection brings its default presence, then work."""
    r = rig(chat_config(), await_connections=True)
    item = r.engine.submit(external_id="a", workstream="chat")
    r.at(30)
    r.engine.reconnect("ann")
    changes = [e.data["presence"] for e in r.of_type("presence_changed") if e.t == 30]
    assert changes[0] is AVAILABLE and r.engine.agent("ann").connected
    assert r.last_offer(item.id).agent == "ann"


def test_r32_an_agent_present_by_a_presence_call_alone_follows_its_work(rig: Rigger) -> None:
    """R32, issue 16: an agent awaiting its connection that sets a presence by API is present
    without a connection, and its presence then follows its work."""
    r = rig(chat_config(auto_accept="true"), await_connections=True)
    r.engine.set_presence("ann", AVAILABLE)
    assert (presence(r), r.engine.agent("ann").connected) == (AVAILABLE, False)
    take(r, "a")
    take(r, "b")
    assert presence(r) is BUSY_DND


def test_agents_of_the_simulator_start_connected_in_their_default_presence(rig: Rigger) -> None:
    """Issue 16: without awaiting connections (the simulator) agents start in default_presence."""
    r = rig(chat_config())
    assert (presence(r), r.engine.agent("ann").connected) == (AVAILABLE, True)


def test_disconnect_sets_offline_at_once(rig: Rigger) -> None:
    """R35: a dropped connection makes the agent offline in the same instant."""
    r = rig(chat_config())
    r.at(10)
    r.engine.disconnect("ann")
    events = r.pump()
    assert [e.type for e in events] == ["agent_disconnected", "presence_changed"]
    assert all(e.t == 10 and e.agent == "ann" for e in events)
    assert events[1].data["presence"] == OFFLINE
    assert presence(r) is OFFLINE


def test_disconnected_agent_gets_no_offer(rig: Rigger) -> None:
    """R35: an offline (disconnected) agent is not offered new work."""
    r = rig(chat_config())
    r.engine.disconnect("ann")
    item = r.engine.submit(external_id="a", workstream="chat")
    assert item.state is ItemState.QUEUED
    assert r.of_type("offer_made") == []


def test_reconnect_within_grace_restores_previous_presence(rig: Rigger) -> None:
    """R35: reconnecting within 150 s brings back the presence held before the drop."""
    r = rig(chat_config())
    r.engine.set_presence("ann", AWAY, label="Lunch")
    r.at(10)
    r.engine.disconnect("ann")
    r.at(150)
    r.engine.reconnect("ann")
    assert presence(r) is AWAY
    assert r.engine.agent("ann").label == "Lunch"
    assert r.of_type("agent_connected")[-1].t == 150


def test_reconnect_within_grace_restores_automatic_busy(rig: Rigger) -> None:
    """R35: an agent busy with work before the drop is busy again after a quick reconnect."""
    r = rig(chat_config())
    take(r, "a")
    r.engine.disconnect("ann")
    r.at(60)
    r.engine.reconnect("ann")
    assert presence(r) is BUSY


def test_reconnect_after_grace_returns_default_presence(rig: Rigger) -> None:
    """R35: reconnecting after 150 s gives the agent its default presence, not the old one."""
    r = rig(chat_config())
    r.engine.set_presence("ann", AWAY)
    r.at(10)
    r.engine.disconnect("ann")
    r.at(200)
    r.engine.reconnect("ann")
    assert presence(r) is AVAILABLE


def test_reconnect_after_grace_recomputes_presence_of_an_agent_holding_work(rig: Rigger) -> None:
    """R35, R32: back after the grace with an item still held, the agent is busy, not available."""
    r = rig(chat_config())
    take(r, "a")
    r.engine.disconnect("ann")
    r.at(200)
    r.engine.reconnect("ann")
    assert presence(r) is BUSY


def test_reconnect_after_grace_returns_a_manual_default_presence(rig: Rigger) -> None:
    """R35, R32: with ``default_presence: away``, a late reconnect gives away, which then sticks."""
    r = rig(chat_config(default="away"))
    r.engine.set_presence("ann", AVAILABLE)
    r.at(10)
    r.engine.disconnect("ann")
    r.at(200)
    r.engine.reconnect("ann")
    assert presence(r) is AWAY


def test_outstanding_offer_expires_normally_after_disconnect(rig: Rigger) -> None:
    """R35: an offer open at the drop is not withdrawn; it expires at its own deadline."""
    r = rig(chat_config())
    item = r.engine.submit(external_id="a", workstream="chat")
    offer = r.last_offer(item.id)
    r.at(10)
    r.engine.disconnect("ann")
    r.at(119)
    assert item.state is ItemState.OFFERED
    assert r.of_type("offer_withdrawn") == []
    r.at(500)
    [expired] = r.of_type("offer_expired")
    assert (expired.offer, expired.t) == (offer.offer, 120)
    assert item.state is ItemState.QUEUED


def test_disconnected_agent_stays_offline_when_its_offer_expires_with_a_penalty(
    rig: Rigger,
) -> None:
    """R35, R26: an offer expiring during the drop does not lift the agent out of offline."""
    r = rig(chat_config().replace("timeout_s: 120", "timeout_s: 120, on_expiry_presence: inactive"))
    r.engine.submit(external_id="a", workstream="chat")
    r.at(10)
    r.engine.disconnect("ann")
    r.at(130)
    assert r.of_type("offer_expired")
    assert presence(r) is OFFLINE


def test_assigned_items_stay_with_disconnected_agent(rig: Rigger) -> None:
    """R35: items assigned before the drop stay assigned to the agent, capacity held."""
    r = rig(chat_config())
    item = take(r, "a")
    r.engine.disconnect("ann")
    r.at(1000)
    assert (item.state, item.agent) == (ItemState.ASSIGNED, "ann")
    ann = r.engine.agent("ann")
    assert (ann.active, ann.used_units) == ({item.id}, 50)


# -- R36: calendars ------------------------------------------------------------------------------------------


def calendar_config(*, respect: str = "true") -> str:
    """ann works 09:00-17:00 UTC on weekdays."""
    return f"""
calendars:
  office: {{tz: UTC, weekly: {{mon-fri: "09:00-17:00"}}}}
workstreams:
  mail: {{kind: record, fallback_queue: inbox}}
queues:
  inbox: {{kind: record, respect_calendars: {respect}, members: [ann]}}
agents:
  ann: {{calendar: office}}
"""


def test_agent_outside_working_hours_is_not_offered_work(rig: Rigger) -> None:
    """R36: with ``respect_calendars`` an agent out of hours is not eligible."""
    r = rig(calendar_config(), epoch=MONDAY)
    item = r.engine.submit(external_id="m", workstream="mail")
    r.at(9 * HOUR - 1)
    assert item.state is ItemState.QUEUED
    assert r.of_type("offer_made") == []


def test_agent_within_working_hours_is_offered_work(rig: Rigger) -> None:
    """R36: with ``respect_calendars`` an agent within hours is eligible as usual."""
    r = rig(calendar_config(), epoch=MONDAY, t0=10 * HOUR)
    item = r.engine.submit(external_id="m", workstream="mail")
    assert r.last_offer(item.id).agent == "ann"


def test_agent_becomes_eligible_exactly_when_hours_start(rig: Rigger) -> None:
    """R36, R21: the waiting item is offered at 09:00 by the calendar timer, not later."""
    r = rig(calendar_config(), epoch=MONDAY)
    item = r.engine.submit(external_id="m", workstream="mail")
    r.at(12 * HOUR)
    offer = first_offer(r, item.id)
    assert (offer.agent, offer.t) == ("ann", 9 * HOUR)


def test_agent_is_not_eligible_after_hours_end(rig: Rigger) -> None:
    """R36: after 17:00 the agent takes no new work until the next day's 09:00."""
    r = rig(calendar_config(), epoch=MONDAY, t0=17 * HOUR)
    item = r.engine.submit(external_id="m", workstream="mail")
    r.at(DAY + 9 * HOUR - 1)
    assert item.state is ItemState.QUEUED
    r.at(DAY + 12 * HOUR)
    assert first_offer(r, item.id).t == DAY + 9 * HOUR


def test_queue_not_respecting_calendars_ignores_agent_hours(rig: Rigger) -> None:
    """R36: without ``respect_calendars`` the agent's calendar does not limit eligibility."""
    r = rig(calendar_config(respect="false"), epoch=MONDAY)
    item = r.engine.submit(external_id="m", workstream="mail")
    assert r.last_offer(item.id).t == 0


def profile_config(*, calendar: str) -> str:
    """One email a day for ann; the queue ignores calendars so only the profile limits her."""
    return f"""
capacity_profiles:
  email: {{limit: 1, reset: end_of_day}}
calendars:
  office: {{tz: UTC, weekly: {{mon-fri: "09:00-17:00"}}}}
workstreams:
  mail:
    kind: record
    capacity: {{units: 10, profiles: [email]}}
    offer: {{auto_accept: true}}
    fallback_queue: inbox
queues:
  inbox: {{kind: record, members: [ann]}}
agents:
  ann: {{profiles: [email]{calendar}}}
"""


def test_end_of_day_profile_blocks_after_limit_within_the_day(rig: Rigger) -> None:
    """R36: an ``end_of_day`` profile counts items taken today, even after they close."""
    r = rig(profile_config(calendar=", calendar: office"), epoch=MONDAY)
    first = r.engine.submit(external_id="m1", workstream="mail")
    assert first.agent == "ann"
    r.at(100)
    r.engine.close(first.id)
    second = r.engine.submit(external_id="m2", workstream="mail")
    r.at(17 * HOUR - 1)
    assert second.state is ItemState.QUEUED


def test_end_of_day_profile_resets_at_end_of_agents_calendar_day(rig: Rigger) -> None:
    """R36: the profile resets when the agent's working day ends (17:00), freeing the next item."""
    r = rig(profile_config(calendar=", calendar: office"), epoch=MONDAY)
    first = r.engine.submit(external_id="m1", workstream="mail")
    r.at(100)
    r.engine.close(first.id)
    second = r.engine.submit(external_id="m2", workstream="mail")
    r.at(DAY + HOUR)
    assert second.agent == "ann"
    assert [e.t for e in r.of_type("item_assigned") if e.item == second.id] == [17 * HOUR]


def test_end_of_day_profile_without_calendar_resets_at_utc_midnight(rig: Rigger) -> None:
    """R36 (our reading): an agent without calendar has its day end at UTC midnight."""
    r = rig(profile_config(calendar=""), epoch=MONDAY)
    first = r.engine.submit(external_id="m1", workstream="mail")
    r.at(100)
    r.engine.close(first.id)
    second = r.engine.submit(external_id="m2", workstream="mail")
    r.at(DAY - 1)
    assert second.state is ItemState.QUEUED
    r.at(DAY + HOUR)
    assert [e.t for e in r.of_type("item_assigned") if e.item == second.id] == [DAY]


NIGHT_SHIFT = """
capacity_profiles:
  email: {limit: 2, reset: end_of_day}
calendars:
  nights: {tz: UTC, weekly: {mon: "22:00-24:00", tue-fri: "00:00-06:00,22:00-24:00", sat: "00:00-06:00"}}
workstreams:
  mail:
    kind: record
    capacity: {units: 10, profiles: [email]}
    offer: {auto_accept: true}
    fallback_queue: inbox
queues:
  inbox: {kind: record, members: [ann]}
agents:
  ann: {profiles: [email], calendar: nights}
"""


def test_r36_an_end_of_day_profile_does_not_reset_at_midnight_during_a_night_shift(
    rig: Rigger,
) -> None:
    """R36: two emails taken on Monday night fill the limit until the shift ends at 06:00."""
    r = rig(NIGHT_SHIFT, epoch=MONDAY)
    r.at(22.5 * HOUR)
    for name in ("m1", "m2"):
        taken = r.engine.submit(external_id=name, workstream="mail")
        assert taken.agent == "ann"
        r.engine.close(taken.id)
    third = r.engine.submit(external_id="m3", workstream="mail")
    r.at(DAY + 0.5 * HOUR)
    assert third.state is ItemState.QUEUED
    r.at(DAY + 7 * HOUR)
    assert [e.t for e in r.of_type("item_assigned") if e.item == third.id] == [DAY + 6 * HOUR]
