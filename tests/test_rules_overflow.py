"""SPEC R12–R15: pre-queue and post-queue overflow, operating hours, queues without members.

Every test builds a small configuration: the messaging workstream ``chat`` routes every item to
queue ``main`` (whose overflow rules the test gives); ``backup`` is a messaging queue and
``callbacks`` a record queue fed by the record workstream ``cases``; agent ``a`` is a member of all
three. Engines start on Monday 2026-01-05 00:00 UTC, so ``t = 9 * H`` is Monday 09:00 UTC.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from unirouter import config as configuration
from unirouter.config.model import BasePresence
from unirouter.engine.events import Event
from unirouter.engine.state import CloseReason, ItemState, WorkItem

Rig = Any
MakeRig = Callable[..., Rig]

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
H = 3600.0
DAY = 24 * H


def _fragment(text: str) -> Any:
    return yaml.safe_load(textwrap.dedent(text)) if text.strip() else None


def config(
    overflow: str = "[]",
    *,
    main: str = "",
    queues: str = "",
    agents: str = "a: {}",
    workstream: str = "",
    top: str = "",
) -> str:
    """YAML of the base configuration with ``overflow`` as ``main``'s overflow rules.

    ``main`` adds keys to queue ``main``; ``queues`` adds or replaces whole queues; ``workstream``
    adds keys to ``chat``; ``top`` adds top-level keys such as ``calendars``.
    """
    qs: dict[str, Any] = {
        "main": {"kind": "messaging", "members": ["a"], "overflow": _fragment(overflow) or []},
        "backup": {"kind": "messaging", "members": ["a"]},
        "callbacks": {"kind": "record", "members": ["a"]},
    }
    qs["main"].update(_fragment(main) or {})
    qs.update(_fragment(queues) or {})
    chat = {
        "kind": "messaging",
        "fallback_queue": "backup",
        "route_to_queue": [{"when": "true", "queue": "main"}],
        **(_fragment(workstream) or {}),
    }
    cases = {
        "kind": "record",
        "fallback_queue": "callbacks",
        "route_to_queue": [{"when": "true", "queue": "callbacks"}],
    }
    data = {
        **(_fragment(top) or {}),
        "workstreams": {"chat": chat, "cases": cases},
        "queues": qs,
        "agents": _fragment(agents),
    }
    return yaml.safe_dump(data, sort_keys=False)


def office(tz: str = "UTC", holidays: str = "[]") -> str:
    """A ``calendars`` block with calendar ``office`` open Monday to Friday 08:00–18:00."""
    hours = '{mon-fri: "08:00-18:00"}'
    return f"calendars: {{office: {{tz: {tz}, weekly: {hours}, holidays: {holidays}}}}}"


def build(rig: MakeRig, text: str) -> Rig:
    return rig(text, epoch=MONDAY)


def submit(r: Rig, external_id: str, *, at: float | None = None, **fields: Any) -> WorkItem:
    """Submit an item to ``chat`` (at time ``at`` if given) and collect its events."""
    if at is not None:
        r.at(at)
    fields.setdefault("workstream", "chat")
    item: WorkItem = r.engine.submit(external_id=external_id, **fields)
    r.pump()
    return item


def events_of(r: Rig, item_id: str, type_: str | None = None) -> list[Event]:
    r.pump()
    return [e for e in r.log if e.item == item_id and (type_ is None or e.type == type_)]


def overflowed(r: Rig, item_id: str) -> list[tuple[str | None, str, str]]:
    """(queue, condition, action) of every item_overflowed event of the item."""
    return [
        (e.queue, e.data["condition"], e.data["action"])
        for e in events_of(r, item_id, "item_overflowed")
    ]


# -- R12: pre-queue overflow conditions ------------------------------------------------------------


def test_out_of_hours_overflow_applies_when_the_queue_is_closed(rig: MakeRig) -> None:
    """R12: an item arriving while its queue is closed takes the out_of_hours action."""
    r = build(
        rig,
        config(
            "[{when: out_of_hours, action: {transfer: backup}}]",
            main="operating_hours: office",
            top=office(),
        ),
    )
    item = submit(r, "c-1", at=7 * H)
    assert overflowed(r, item.id) == [("main", "out_of_hours", "transfer")]
    assert item.queue == "backup"


def test_out_of_hours_is_evaluated_before_conditions_listed_first(rig: MakeRig) -> None:
    """R12: out_of_hours is checked first even when a holding condition is listed before it."""
    r = build(
        rig,
        config(
            """
            - {when: no_agents, action: end}
            - {when: out_of_hours, action: {transfer: backup}}
            """,
            main="operating_hours: office",
            agents="a: {default_presence: offline}",
            top=office(),
        ),
    )
    item = submit(r, "c-1", at=7 * H)
    assert overflowed(r, item.id) == [("main", "out_of_hours", "transfer")]
    assert (item.state, item.queue) == (ItemState.QUEUED, "backup")


def test_other_conditions_are_evaluated_in_listed_order(rig: MakeRig) -> None:
    """R12: after out_of_hours, the first listed condition that holds decides the action."""
    r = build(
        rig,
        config(
            """
            - {when: {max_waiting: 0}, action: {transfer: backup}}
            - {when: no_agents, action: end}
            """,
            agents="a: {default_presence: offline}",
        ),
    )
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "max_waiting", "transfer")]
    assert item.queue == "backup"


def test_max_waiting_overflows_when_the_queue_holds_n_waiting_items(rig: MakeRig) -> None:
    """R12: with max_waiting 2, the third item overflows while two wait."""
    r = build(
        rig,
        config(
            "[{when: {max_waiting: 2}, action: {transfer: backup}}]",
            agents="a: {default_presence: away}",
        ),
    )
    items = [submit(r, f"c-{n}") for n in range(3)]
    assert [i.queue for i in items] == ["main", "main", "backup"]
    assert overflowed(r, items[1].id) == []


def test_max_waiting_counts_offered_items_as_waiting(rig: MakeRig) -> None:
    """R12: an item under offer counts toward max_waiting (docs/interpretations.md)."""
    r = build(rig, config("[{when: {max_waiting: 1}, action: {transfer: backup}}]"))
    offered = submit(r, "c-1")
    second = submit(r, "c-2")
    assert offered.state is ItemState.OFFERED
    assert overflowed(r, second.id) == [("main", "max_waiting", "transfer")]


def handled_once(r: Rig, handle_s: float) -> None:
    """Agent ``a`` answers one item of ``main`` at once and closes it after ``handle_s``."""
    first = submit(r, "handled")
    r.engine.accept(r.last_offer(first.id).offer, agent="a")
    r.at(handle_s)
    r.engine.complete(first.id, wrap_up=False)
    r.pump()


def test_an_ewt_over_the_threshold_overflows(rig: MakeRig) -> None:
    """R12: after a 100 s handle time with one agent, EWT is 100 s, over an ewt_s of 50."""
    r = build(rig, config("[{when: {ewt_s: 50}, action: {transfer: backup}}]"))
    handled_once(r, 100.0)
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "ewt_s", "transfer")]
    assert item.queue == "backup"


def test_an_ewt_not_over_the_threshold_does_not_overflow(rig: MakeRig) -> None:
    """R12: an EWT of 100 s is not over an ewt_s of 100, so the item queues normally."""
    r = build(rig, config("[{when: {ewt_s: 100}, action: {transfer: backup}}]"))
    handled_once(r, 100.0)
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == []
    assert item.queue == "main"


def test_r12_ewt_is_infinite_with_nobody_staffing_once_handle_times_are_known(
    rig: MakeRig,
) -> None:
    """R12, §8: a handle time was seen but every member is offline: EWT is infinite and overflows."""
    r = build(rig, config("[{when: {ewt_s: 100000}, action: {transfer: backup}}]"))
    handled_once(r, 100.0)
    r.engine.set_presence("a", BasePresence.OFFLINE)
    assert r.engine.queue_status("main")["ewt_s"] == float("inf")
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "ewt_s", "transfer")]


def test_no_agents_overflows_when_every_member_is_offline(rig: MakeRig) -> None:
    """R12: with no member logged in, the no_agents action runs."""
    r = build(
        rig,
        config(
            "[{when: no_agents, action: {transfer: backup}}]",
            main="members: [a, b]",
            agents="{a: {default_presence: offline}, b: {default_presence: offline}}",
        ),
    )
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "no_agents", "transfer")]


def test_a_member_in_a_presence_the_workstream_does_not_allow_counts_as_no_agent(
    rig: MakeRig,
) -> None:
    """R12: a member logged in as busy_dnd (not an allowed presence) does not prevent no_agents."""
    r = build(
        rig,
        config(
            "[{when: no_agents, action: {transfer: backup}}]",
            agents="a: {default_presence: busy_dnd}",
        ),
    )
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "no_agents", "transfer")]


def test_a_member_in_an_allowed_presence_prevents_no_agents(rig: MakeRig) -> None:
    """R12: one available member is enough: no_agents does not hold and the item is offered."""
    r = build(
        rig,
        config(
            "[{when: no_agents, action: end}]",
            main="members: [a, b]",
            agents="{a: {}, b: {default_presence: offline}}",
        ),
    )
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == []
    assert r.last_offer(item.id).agent == "a"


# -- R12: actions ----------------------------------------------------------------------------------

NO_AGENTS = "a: {default_presence: offline}"


def test_transfer_action_moves_the_item_to_the_named_queue(rig: MakeRig) -> None:
    """R12: transfer queues the item in the named queue, announced by item_transferred."""
    r = build(rig, config("[{when: no_agents, action: {transfer: backup}}]", agents=NO_AGENTS))
    item = submit(r, "c-1")
    (moved,) = events_of(r, item.id, "item_transferred")
    assert (moved.data["from"], moved.data["to"]) == ("main", "backup")
    assert (item.state, item.queue) == (ItemState.QUEUED, "backup")


def test_end_action_closes_the_item_as_overflow_ended(rig: MakeRig) -> None:
    """R12: end closes the item with reason overflow_ended."""
    r = build(rig, config("[{when: no_agents, action: end}]", agents=NO_AGENTS))
    item = submit(r, "c-1")
    (closed,) = events_of(r, item.id, "item_closed")
    assert closed.data["reason"] == "overflow_ended"
    assert (item.state, item.close_reason) == (ItemState.CLOSED, CloseReason.OVERFLOW_ENDED)


def test_callback_action_creates_a_callback_record_in_the_named_queue(rig: MakeRig) -> None:
    """R12: callback creates a record item in the named queue and ends the original item."""
    r = build(rig, config("[{when: no_agents, action: {callback: callbacks}}]", agents=NO_AGENTS))
    item = submit(r, "c-1", customer={"id": "cust-9", "phone": "+331234"})
    callback = r.engine.item_by_external_id("cases", "c-1:callback")
    assert callback is not None
    assert (callback.kind.value, callback.queue, callback.state) == (
        "record",
        "callbacks",
        ItemState.QUEUED,
    )
    assert callback.customer["id"] == "cust-9"
    assert item.close_reason is CloseReason.OVERFLOW_ENDED


def test_r12_a_callback_keeps_the_callers_place_in_the_callback_queue(rig: MakeRig) -> None:
    """R12, R6: a caller who waited since t=0 and asks for a callback at t=100 is served before a
    record that entered the callback queue at t=50 (the caller keeps their place)."""
    rule = "[{when: {waited_s: 100}, action: {callback: callbacks}}]"
    r = build(rig, config(rule, agents="{a: {default_presence: away}}"))
    caller = submit(r, "c-1", customer={"phone": "+331234"})
    record = submit(r, "case-1", at=50, workstream="cases")
    r.at(100)
    callback = r.engine.item_by_external_id("cases", "c-1:callback")
    assert callback is not None and caller.close_reason is CloseReason.OVERFLOW_ENDED
    assert [i.id for i in r.engine.waiting_items("callbacks")] == [callback.id, record.id]
    r.engine.set_presence("a", BasePresence.AVAILABLE)
    offers = [e.item for e in r.of_type("offer_made")]
    assert offers[0] == callback.id


def test_assign_anyway_action_queues_the_item_in_its_queue(rig: MakeRig) -> None:
    """R12: assign_anyway keeps the item in the queue it was routed to, waiting for an agent."""
    r = build(rig, config("[{when: no_agents, action: assign_anyway}]", agents=NO_AGENTS))
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "no_agents", "assign_anyway")]
    assert (item.state, item.queue) == (ItemState.QUEUED, "main")


def test_an_assign_anyway_item_is_offered_once_an_agent_logs_in(rig: MakeRig) -> None:
    """R12: an item kept by assign_anyway is offered when a member becomes available."""
    r = build(rig, config("[{when: no_agents, action: assign_anyway}]", agents=NO_AGENTS))
    item = submit(r, "c-1")
    r.engine.set_presence("a", BasePresence.AVAILABLE)
    assert r.last_offer(item.id).agent == "a"


# -- R12: when it is checked -----------------------------------------------------------------------


def test_pre_queue_overflow_is_checked_after_route_to_queue(rig: MakeRig) -> None:
    """R12: the overflow decision follows the routing decision in the event log."""
    r = build(rig, config("[{when: no_agents, action: end}]", agents=NO_AGENTS))
    item = submit(r, "c-1")
    kinds = [str(e.type) for e in events_of(r, item.id)]
    assert kinds.index("item_routed") < kinds.index("item_overflowed")
    assert "item_queued" not in kinds


def test_pre_queue_overflow_is_not_checked_again_once_queued(rig: MakeRig) -> None:
    """R12: an item already queued stays when its queue's condition starts to hold later."""
    r = build(rig, config("[{when: no_agents, action: end}]", workstream="mode: pick"))
    waiting = submit(r, "c-1")
    r.engine.set_presence("a", BasePresence.OFFLINE)
    later = submit(r, "c-2", at=10)
    assert (waiting.state, waiting.queue) == (ItemState.QUEUED, "main")
    assert later.close_reason is CloseReason.OVERFLOW_ENDED


def test_the_pre_queue_rules_of_an_overflow_target_are_not_checked(rig: MakeRig) -> None:
    """R12: checked once per item: a transfer target's own pre-queue conditions do not apply."""
    r = build(
        rig,
        config(
            "[{when: no_agents, action: {transfer: backup}}]",
            queues="""
            backup: {kind: messaging, members: [a], overflow: [{when: no_agents, action: end}]}
            """,
            agents=NO_AGENTS,
        ),
    )
    item = submit(r, "c-1")
    assert (item.state, item.queue) == (ItemState.QUEUED, "backup")
    assert len(overflowed(r, item.id)) == 1


# -- R13: post-queue overflow ----------------------------------------------------------------------

BACKUP_ENDS_AFTER_30 = """
backup: {kind: messaging, members: [a], overflow: [{when: {waited_s: 30}, action: end}]}
"""
WAITED_60 = "[{when: {waited_s: 60}, action: {transfer: backup}}]"
AWAY = "a: {default_presence: away}"


def test_waited_s_fires_at_exactly_the_threshold(rig: MakeRig) -> None:
    """R13: waited_s 60 moves the item at t = 60 exactly, not before, whenever time is next read."""
    r = build(rig, config(WAITED_60, agents=AWAY))
    item = submit(r, "c-1")
    r.at(59.999)
    assert item.queue == "main"
    r.at(500.0)
    (moved,) = events_of(r, item.id, "item_transferred")
    assert moved.t == 60.0
    assert overflowed(r, item.id) == [("main", "waited_s", "transfer")]
    assert item.queue == "backup"


def test_waited_s_applies_again_in_the_queue_the_item_moves_to(rig: MakeRig) -> None:
    """R13: the new queue's waited_s rule runs in turn, counting from the move."""
    r = build(
        rig,
        config(
            WAITED_60,
            queues=BACKUP_ENDS_AFTER_30,
            agents=AWAY,
        ),
    )
    item = submit(r, "c-1")
    r.at(1000.0)
    (closed,) = events_of(r, item.id, "item_closed")
    assert (closed.t, closed.queue, closed.data["reason"]) == (90.0, "backup", "overflow_ended")


def test_waited_s_counts_from_entering_the_queue(rig: MakeRig) -> None:
    """R13: an item transferred into a queue at t = 50 meets its waited_s 30 at t = 80."""
    r = build(
        rig,
        config(
            queues=BACKUP_ENDS_AFTER_30,
            agents=AWAY,
        ),
    )
    item = submit(r, "c-1")
    r.at(50.0)
    r.engine.transfer(item.id, queue="backup")
    r.at(1000.0)
    (closed,) = events_of(r, item.id, "item_closed")
    assert closed.t == 80.0


def test_an_item_assigned_before_waited_s_does_not_overflow(rig: MakeRig) -> None:
    """R13: waited_s is checked only while the item waits; an assigned item stays with its agent."""
    r = build(rig, config(WAITED_60))
    item = submit(r, "c-1")
    r.at(10.0)
    r.engine.accept(r.last_offer(item.id).offer, agent="a")
    r.at(500.0)
    assert overflowed(r, item.id) == []
    assert (item.state, item.queue, item.agent) == (ItemState.ASSIGNED, "main", "a")


def test_waited_s_withdraws_an_open_offer_and_moves_the_item(rig: MakeRig) -> None:
    """R13: an item still under offer when waited_s passes loses the offer and overflows."""
    r = build(rig, config(WAITED_60, workstream="offer: {timeout_s: 300}"))
    item = submit(r, "c-1")
    first_offer = r.last_offer(item.id).offer
    r.at(60.0)
    (withdrawn,) = events_of(r, item.id, "offer_withdrawn")
    assert (withdrawn.offer, withdrawn.t) == (first_offer, 60.0)
    assert item.queue == "backup"


def test_a_waited_s_rule_removed_by_a_new_configuration_no_longer_fires(rig: MakeRig) -> None:
    """R13: once a new configuration drops the queue's waited_s rule, waiting items stay put."""
    r = build(rig, config(WAITED_60, agents=AWAY))
    item = submit(r, "c-1")
    r.at(10.0)
    r.engine.apply_config(configuration.validate(yaml.safe_load(config(agents=AWAY))))
    r.at(100.0)
    assert (item.state, item.queue) == (ItemState.QUEUED, "main")
    assert overflowed(r, item.id) == []


# -- R14: operating hours --------------------------------------------------------------------------

CLOSED_ENDS = "[{when: out_of_hours, action: end}]"


def test_a_queue_without_operating_hours_is_always_open(rig: MakeRig) -> None:
    """R14: with no operating_hours an out_of_hours rule never fires, even on Sunday at 03:00."""
    r = build(rig, config(CLOSED_ENDS, top=office()))
    item = submit(r, "c-1", at=6 * DAY + 3 * H)
    assert overflowed(r, item.id) == []
    assert item.queue == "main"


def test_hours_are_read_in_the_calendars_time_zone_when_open(rig: MakeRig) -> None:
    """R14: 07:30 UTC is 08:30 in Paris in January, so a Paris 08:00–18:00 queue is open."""
    r = build(rig, config(CLOSED_ENDS, main="operating_hours: office", top=office("Europe/Paris")))
    item = submit(r, "c-1", at=7.5 * H)
    assert overflowed(r, item.id) == []
    assert item.queue == "main"


def test_hours_are_read_in_the_calendars_time_zone_when_closed(rig: MakeRig) -> None:
    """R14: 17:30 UTC is 18:30 in Paris in January, so a Paris 08:00–18:00 queue is closed."""
    r = build(rig, config(CLOSED_ENDS, main="operating_hours: office", top=office("Europe/Paris")))
    item = submit(r, "c-1", at=17.5 * H)
    assert overflowed(r, item.id) == [("main", "out_of_hours", "end")]


def test_a_day_without_weekly_hours_is_closed(rig: MakeRig) -> None:
    """R14: a mon-fri calendar is closed on Saturday at 10:00."""
    r = build(rig, config(CLOSED_ENDS, main="operating_hours: office", top=office()))
    item = submit(r, "c-1", at=5 * DAY + 10 * H)
    assert item.close_reason is CloseReason.OVERFLOW_ENDED


def test_a_holiday_is_closed_all_day(rig: MakeRig) -> None:
    """R14: on a holiday date the queue is closed during its usual weekly hours."""
    r = build(
        rig,
        config(CLOSED_ENDS, main="operating_hours: office", top=office(holidays='["2026-01-06"]')),
    )
    holiday = submit(r, "c-1", at=1 * DAY + 10 * H)
    next_day = submit(r, "c-2", at=2 * DAY + 10 * H)
    assert holiday.close_reason is CloseReason.OVERFLOW_ENDED
    assert next_day.queue == "main" and next_day.state is not ItemState.CLOSED


# -- R15: queues without members -------------------------------------------------------------------


def test_a_conversation_to_a_queue_without_members_uses_its_no_agents_overflow(
    rig: MakeRig,
) -> None:
    """R15: a conversation routed to a memberless queue takes that queue's no_agents action."""
    r = build(rig, config("[{when: no_agents, action: {transfer: backup}}]", main="members: []"))
    item = submit(r, "c-1")
    assert overflowed(r, item.id) == [("main", "no_agents", "transfer")]
    assert item.queue == "backup"


def test_a_conversation_to_a_queue_without_members_waits_and_the_trace_warns(
    rig: MakeRig,
) -> None:
    """R15: without a no_agents rule the conversation waits in the memberless queue; trace warns."""
    r = build(rig, config(main="members: []"))
    item = submit(r, "c-1")
    assert (item.state, item.queue) == (ItemState.QUEUED, "main")
    warnings = [e["warning"] for e in item.trace if "warning" in e]
    assert len(warnings) == 1 and "main" in warnings[0]


def test_a_conversation_falling_back_to_a_queue_without_members_is_warned_about(
    rig: MakeRig,
) -> None:
    """R15: a conversation sent to a memberless fallback queue waits there and the trace warns."""
    r = build(
        rig,
        config(
            workstream="route_to_queue: [{when: 'false', queue: main}]",
            queues="backup: {kind: messaging, members: []}",
        ),
    )
    item = submit(r, "c-1")
    assert (item.state, item.queue) == (ItemState.QUEUED, "backup")
    warnings = [e["warning"] for e in item.trace if "warning" in e]
    assert len(warnings) == 1 and "backup" in warnings[0]


def test_a_record_to_a_queue_without_members_waits(rig: MakeRig) -> None:
    """R15: a record routed to a memberless queue waits there."""
    r = build(rig, config(queues="callbacks: {kind: record, members: []}"))
    item = submit(r, "r-1", workstream="cases")
    assert (item.state, item.queue) == (ItemState.QUEUED, "callbacks")


def test_a_record_to_a_queue_without_members_waits_even_with_a_no_agents_rule(
    rig: MakeRig,
) -> None:
    """R15: a record routed to a memberless queue waits there even if the queue sets no_agents."""
    r = build(
        rig,
        config(
            queues="""
            callbacks: {kind: record, members: [], overflow: [{when: no_agents, action: end}]}
            """
        ),
    )
    item = submit(r, "r-1", workstream="cases")
    assert (item.state, item.queue) == (ItemState.QUEUED, "callbacks")
