"""SPEC §3.5–§3.10 (R23–R43) probed through `unirouter simulate --events`: see conftest.py."""

from __future__ import annotations

import json

import yaml
from spec_support import Probe

BASE = """
capacity_profiles: {chat: {limit: 1}}
calendars:
  day: {tz: UTC, weekly: {mon-sun: "08:00-18:00"}}
workstreams:
  chat:
    kind: messaging
    fallback_queue: q
    capacity: {units: 100}
    offer: {timeout_s: 30, max_declines_per_agent: 2}
    wrap_up: {block: 60}
    affinity: {enabled: true}
  cases: {kind: record, mode: pick, fallback_queue: inbox, capacity: {units: 50}}
  tasks: {kind: record, fallback_queue: backlog, capacity: {units: 50}}
queues:
  q: {kind: messaging, members: [alice, bob], assignment: {method: round_robin}}
  r: {kind: messaging, members: [carol]}
  inbox: {kind: record, members: [alice, bob]}
  backlog: {kind: record, members: [alice, bob]}
agents: {alice: {}, bob: {}, carol: {}}
"""
BOB_AWAY = "- {at: 0s, agent: bob, presence: away}\n"


def test_r23_an_offer_expires_after_the_timeout(probe: Probe) -> None:
    """R23: expires_at = offered + timeout_s, and the expiry happens then."""
    run = probe(BASE, BOB_AWAY + "- {at: 4s, item: {id: a, workstream: chat}}")
    first = run.of("offer_made")[0]
    assert (first["t"], first["expires_at"]) == (4.0, 34.0)
    assert run.of("offer_expired")[0]["t"] == 34.0


def test_r23_auto_accept_assigns_without_an_offer(probe: Probe) -> None:
    """R23: with auto_accept the item is assigned at once and no offer event appears."""
    config = BASE.replace(
        "max_declines_per_agent: 2}", "max_declines_per_agent: 2, auto_accept: true}"
    )
    run = probe(config, "- {at: 4s, item: {id: a, workstream: chat}}")
    assert run.assigned() == [(4.0, "a", "alice")] and run.of("offer_made") == []


def test_r24_an_accept_after_expiry_is_refused_and_changes_nothing(probe: Probe) -> None:
    """R24: alice's accept at 40 s comes after her offer expired at 31 s: refused, not assigned."""
    events = (
        BOB_AWAY
        + "- {at: 0s, agent: carol, presence: away}\n- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 40s, agent: bob, accept: a}"
    )
    run = probe(BASE, events)
    assert run.assigned() == []
    assert [error["action"] for error in run.out["errors"]] == [{"agent": "bob", "accept": "a"}]


def test_r25_a_declined_item_goes_to_another_eligible_agent(probe: Probe) -> None:
    """R25: alice declines; bob is offered it at once; alice's reason is kept."""
    run = probe(
        BASE,
        "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 5s, agent: alice, decline: a, reason: busy}",
    )
    assert run.offers()[:2] == [(1.0, "a", "alice"), (5.0, "a", "bob")]
    assert run.of("offer_declined")[0]["reason"] == "busy"


def test_r25_an_agent_is_never_offered_the_item_after_max_declines(probe: Probe) -> None:
    """R25: the sole eligible agent declines twice (max 2) and is not offered it again."""
    events = (
        BOB_AWAY
        + """
- {at: 1s, item: {id: a, workstream: chat}}
- {at: 2s, agent: alice, decline: a}
- {at: 3s, agent: alice, decline: a}
"""
    )
    run = probe(BASE, events)
    assert [agent for _, _, agent in run.offers()] == ["alice", "alice"]


def test_r26_offer_expiry_can_set_a_presence_penalty(probe: Probe) -> None:
    """R26: on_expiry_presence: inactive applies when alice lets the offer expire."""
    config = BASE.replace(
        "max_declines_per_agent: 2}", "max_declines_per_agent: 2, on_expiry_presence: inactive}"
    )
    run = probe(config, BOB_AWAY + "- {at: 1s, item: {id: a, workstream: chat}}")
    assert (31.0, "inactive") in run.presences("alice")


def test_r27_a_non_rejectable_record_expires_into_assignment(probe: Probe) -> None:
    """R27: rejectable: false — a decline is refused, and expiry assigns it."""
    config = BASE.replace(
        "  tasks: {kind: record, fallback_queue: backlog, capacity: {units: 50}}",
        "  tasks: {kind: record, fallback_queue: backlog, capacity: {units: 50},\n"
        "          offer: {timeout_s: 30, rejectable: false}}",
    )
    events = (
        BOB_AWAY
        + "- {at: 1s, item: {id: t, workstream: tasks}}\n- {at: 5s, agent: alice, decline: t}"
    )
    run = probe(config, events)
    assert run.of("offer_declined") == []
    assert run.assigned() == [(31.0, "t", "alice")]
    assert len(run.out["errors"]) == 1


def test_r28_two_agents_picking_one_item_exactly_one_succeeds(probe: Probe) -> None:
    """R28: alice and bob pick the same case at the same second: one assignment, one refusal."""
    events = "- {at: 1s, item: {id: k, workstream: cases}}\n- {at: 5s, agent: alice, pick: k}\n- {at: 5s, agent: bob, pick: k}"
    run = probe(BASE, events)
    assert run.assigned() == [(5.0, "k", "alice")] and run.of("offer_made") == []
    assert [error["action"]["agent"] for error in run.out["errors"]] == ["bob"]


def test_r29_a_resumed_conversation_returns_to_its_last_agent(probe: Probe) -> None:
    """R29: parked by alice, resumed later: offered to alice again although bob is free."""
    events = """
- {at: 1s, item: {id: c, workstream: chat}}
- {at: 2s, agent: alice, accept: c}
- {at: 3s, park: c}
- {at: 4s, item: {id: other, workstream: chat}}
- {at: 20s, resume: c}
"""
    run = probe(BASE, events)
    assert [(name, agent) for t, name, agent in run.offers() if t == 20.0] == [("c", "alice")]


def test_r30_an_eligible_preferred_agent_is_chosen_first(probe: Probe) -> None:
    """R30: preferred bob gets it although round robin would pick alice."""
    run = probe(BASE, "- {at: 1s, item: {id: a, workstream: chat, preferred_agents: [bob]}}")
    assert run.offers()[0] == (1.0, "a", "bob")


def test_r31_transfer_to_a_queue_releases_the_first_agents_capacity_at_once(probe: Probe) -> None:
    """R31: alice's capacity is free at the transfer; carol is offered it in r."""
    events = "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, agent: alice, accept: a}\n- {at: 10s, transfer: a, queue: r}"
    run = probe(BASE, events)
    assert run.of("capacity_released", agent="alice")[0]["t"] == 10.0
    assert next(o for o in run.offers() if o[2] == "carol") == (10.0, "a", "carol")


def test_r31_force_assign_may_exceed_capacity_and_makes_the_agent_busy_dnd(probe: Probe) -> None:
    """R31: a second chat forced on a full alice: assigned (forced), presence busy_dnd."""
    events = (
        BOB_AWAY
        + """
- {at: 1s, item: {id: a, workstream: chat}}
- {at: 2s, agent: alice, accept: a}
- {at: 3s, agent: carol, presence: away}
- {at: 4s, item: {id: b, workstream: chat}}
- {at: 5s, assign: b, agent: alice}
"""
    )
    run = probe(BASE, events)
    forced = run.of("item_assigned", item=run.ids()["b"])
    assert [(e["agent"], e["forced"]) for e in forced] == [("alice", True)]
    assert run.presences("alice")[-1][1] == "busy_dnd"


def test_r32_presence_follows_used_capacity(probe: Probe) -> None:
    """R32: available → busy (part used) → available again after close."""
    config = BASE.replace(
        "capacity: {units: 100}\n    offer", "capacity: {units: 40}\n    offer"
    ).replace("    wrap_up: {block: 60}\n", "")
    events = (
        BOB_AWAY
        + "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, agent: alice, accept: a}\n- {at: 9s, close: a}"
    )
    run = probe(config, events)
    assert [p for t, p in run.presences("alice") if t >= 1] == ["busy", "available"]


def test_r32_a_manual_away_is_sticky(probe: Probe) -> None:
    """R32: after a manual away, closing work does not make alice available."""
    config = BASE.replace("    wrap_up: {block: 60}\n", "")
    events = (
        BOB_AWAY
        + """
- {at: 1s, item: {id: a, workstream: chat}}
- {at: 2s, agent: alice, accept: a}
- {at: 3s, agent: alice, presence: away}
- {at: 9s, close: a}
"""
    )
    assert probe(config, events).presences("alice")[-1] == (3.0, "away")


def test_r33_wrap_up_for_n_seconds_releases_capacity_after_n(probe: Probe) -> None:
    """R33 block: 60 — completing at 10 s frees alice's capacity at 70 s (issue 11's case)."""
    events = (
        BOB_AWAY
        + """
- {at: 1s, item: {id: a, workstream: chat}}
- {at: 2s, agent: alice, accept: a}
- {at: 3s, item: {id: b, workstream: chat}}
- {at: 10s, complete: a}
"""
    )
    run = probe(BASE, events)
    assert run.of("item_wrap_up")[0]["t"] == 10.0
    assert run.of("capacity_released", agent="alice")[0]["t"] == 70.0
    assert [(t, name) for t, name, _ in run.offers()][:2] == [(1.0, "a"), (70.0, "b")]


def test_r34_parking_releases_capacity_and_records_it(probe: Probe) -> None:
    """R34: park at 10 s: capacity_released then, and alice takes the next chat at once."""
    events = (
        BOB_AWAY
        + "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, agent: alice, accept: a}\n- {at: 3s, item: {id: b, workstream: chat}}\n- {at: 10s, park: a}"
    )
    run = probe(BASE, events)
    assert run.of("item_parked")[0]["t"] == 10.0
    assert run.of("capacity_released", agent="alice")[0]["t"] == 10.0
    assert run.offers()[1] == (10.0, "b", "alice")


def test_r35_a_dropped_connection_is_offline_at_once_and_a_quick_return_restores(
    probe: Probe,
) -> None:
    """R35: disconnect → offline at once; reconnect within 150 s → the previous presence."""
    events = (
        "- {at: 1s, agent: alice, disconnect: true}\n- {at: 100s, agent: alice, reconnect: true}"
    )
    run = probe(BASE, events)
    assert run.presences("alice")[-2:] == [(1.0, "offline"), (100.0, "available")]


def test_r36_respect_calendars_keeps_an_agent_outside_hours_from_offers(probe: Probe) -> None:
    """R36: at 00:00 alice (calendar 08–18) is off; bob without a calendar gets the chat."""
    config = BASE.replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: round_robin}, respect_calendars: true}",
        1,
    ).replace("agents: {alice: {}", "agents: {alice: {calendar: day}")
    run = probe(config, "- {at: 1s, item: {id: a, workstream: chat}}", start="2026-01-05T00:00:00Z")
    assert run.offers()[0] == (1.0, "a", "bob")


def test_r37_a_scheduled_item_enters_routing_exactly_when_due(probe: Probe) -> None:
    """R37: available_at 2m: scheduled at intake, queued and offered at 120 s exactly."""
    run = probe(BASE, "- {at: 5s, item: {id: s, workstream: tasks, available_at: 2m}}")
    assert run.of("item_scheduled")[0]["t"] == 5.0
    assert run.of("item_queued")[0]["t"] == 120.0
    assert run.offers()[0][0] == 120.0


def test_r38_a_callback_routes_when_its_time_comes(probe: Probe) -> None:
    """R38: a callback record with callback_at 90s is offered at 90 s."""
    item = "{id: cb, workstream: tasks, callback_at: 90s, phone: '+33100000000'}"
    run = probe(BASE, f"- {{at: 1s, item: {item}}}")
    assert run.offers()[0] == (90.0, "cb", "alice")


def test_r39_a_waiting_item_older_than_its_ttl_expires(probe: Probe) -> None:
    """R39: ttl_s 50 with nobody available: closed as expired at 51 s."""
    events = (
        "- {at: 0s, agent: alice, presence: away}\n"
        + BOB_AWAY
        + "- {at: 1s, item: {id: a, workstream: chat, ttl_s: 50}}"
    )
    closed = probe(BASE, events).closed("a")
    assert (closed["t"], closed["reason"]) == (51.0, "expired")


def test_r40_abandoning_an_offered_item_withdraws_the_offer(probe: Probe) -> None:
    """R40: the customer leaves while alice is offered it: withdrawn, abandoned, capacity freed."""
    run = probe(BASE, "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 6s, cancel: a}")
    assert run.of("offer_withdrawn")[0]["t"] == 6.0
    assert (run.closed("a")["t"], run.closed("a")["reason"]) == (6.0, "abandoned")
    assert run.presences("alice")[-1] == (6.0, "available")


def test_r41_an_invalid_configuration_is_refused_with_its_field_path(probe: Probe) -> None:
    """R41: a scripted apply of a configuration naming an unknown queue is refused whole; routing
    goes on under the old one."""
    events = "- {at: 1s, config: {workstreams: {chat: {kind: messaging, fallback_queue: nowhere}}, queues: {}, agents: {}}}\n- {at: 2s, item: {id: a, workstream: chat}}"
    try:
        run = probe(BASE, events)
    except AssertionError as refused:  # refused when the scenario is read: say where
        assert "fallback_queue" in str(refused)
        return
    assert run.of("config_applied")[-1]["version"] == 1
    assert run.offers()[0] == (2.0, "a", "alice")


def test_r42_an_applied_configuration_takes_effect_for_the_next_decision(probe: Probe) -> None:
    """R42: at 5 s q's members become [bob]: the chat at 6 s goes to bob; version 2 is logged."""
    moved = BASE.replace("members: [alice, bob], assignment", "members: [bob], assignment")
    inline = json.dumps(yaml.safe_load(moved))  # JSON is YAML: the whole configuration inline
    run = probe(
        BASE, f"- {{at: 5s, config: {inline}}}\n- {{at: 6s, item: {{id: a, workstream: chat}}}}"
    )
    assert [(e["t"], e["version"]) for e in run.of("config_applied")] == [(0.0, 1), (5.0, 2)]
    assert run.offers()[0] == (6.0, "a", "bob")


def test_r43_the_trace_names_the_winner_and_why_the_others_were_excluded(probe: Probe) -> None:
    """R43: an assignment decision lists the candidates and the excluded agents with a reason."""
    run = probe(BASE, BOB_AWAY + "- {at: 1s, item: {id: a, workstream: chat}}")
    trace = run.out["items"]["a"]["trace"]
    decision = next(entry for entry in trace if entry.get("winner"))
    assert decision["winner"] == "alice"
    assert "bob" in str(decision["excluded"]) and "presence" in str(decision["excluded"])
