"""SPEC §3.1–§3.4 (R1–R22) probed through `unirouter simulate --events`: see conftest.py."""

from __future__ import annotations

from spec_support import Probe

#: Two agents on one push queue; each test changes what its rule needs.
BASE = """
skills: {french: {levels: 10}}
workstreams:
  chat:
    kind: messaging
    fallback_queue: q
    capacity: {units: 100}
    offer: {timeout_s: 30}
queues:
  q: {kind: messaging, members: [alice, bob], assignment: {method: round_robin}}
  r: {kind: messaging, members: [carol]}
agents: {alice: {}, bob: {}, carol: {}}
"""
#: R5: the fallback queue's overflow is not applied, so overflow tests route to q by a rule.
ROUTED = BASE.replace(
    "    offer: {timeout_s: 30}\n",
    "    offer: {timeout_s: 30}\n    route_to_queue: [{when: 'true', queue: q}]\n",
)
AWAY = "- {at: 0s, agent: alice, presence: away}\n- {at: 0s, agent: bob, presence: away}\n"


def test_r1_an_item_passes_intake_classification_route_queue_then_offer_in_that_order(
    probe: Probe,
) -> None:
    """R1: created → classified → routed → queued → offered, all at its arrival."""
    run = probe(BASE, "- {at: 5s, item: {id: a, workstream: chat}}")
    item = run.ids()["a"]
    first = [(e["t"], e["type"]) for e in run.log if e.get("item") == item][:5]
    kinds = ["item_created", "item_classified", "item_routed", "item_queued", "offer_made"]
    assert first == [(5.0, kind) for kind in kinds]


def test_r2_the_first_matching_rule_of_each_ruleset_applies_and_later_rulesets_read_it(
    probe: Probe,
) -> None:
    """R2: in ruleset 1 only the first matching rule sets `vip`; ruleset 2 reads it."""
    config = BASE.replace(
        "    offer: {timeout_s: 30}\n",
        """    offer: {timeout_s: 30}
    classification:
      - name: tier
        rules:
          - {when: item.tier == "gold", set: {vip: true}}
          - {when: "true", set: {vip: false}}
      - name: urgency
        rules:
          - {when: item.vip == true, set: {priority: 50}}
""",
    )
    run = probe(config, "- {at: 1s, item: {id: a, workstream: chat, attributes: {tier: gold}}}")
    (classified,) = run.of("item_classified")
    sets = [entry["set"] for entry in classified["applied"]]
    assert sets == [{"vip": True}, {"priority": 50}]


def test_r3_route_rules_run_in_order_and_the_first_match_wins(probe: Probe) -> None:
    """R3: the item goes to the queue of the first rule that matches."""
    config = BASE.replace(
        "    offer: {timeout_s: 30}\n",
        """    offer: {timeout_s: 30}
    route_to_queue:
      - {when: item.topic == "sales", queue: q}
      - {when: item.topic == "billing", queue: r}
      - {when: "true", queue: q}
""",
    )
    run = probe(config, "- {at: 1s, item: {id: a, workstream: chat, attributes: {topic: billing}}}")
    assert [e["queue"] for e in run.of("item_routed")] == ["r"]
    assert run.offers()[0] == (1.0, "a", "carol")


def test_r4_a_split_is_exact_over_time(probe: Probe) -> None:
    """R4: a 70/30 split over 10 items sends 7 and 3, each within one of N × share all along."""
    config = BASE.replace(
        "    offer: {timeout_s: 30}\n",
        "    offer: {timeout_s: 30}\n    route_to_queue: [{when: 'true', split: {q: 70, r: 30}}]\n",
    )
    events = "\n".join(
        f"- {{at: {n}s, item: {{id: i{n}, workstream: chat}}}}" for n in range(1, 11)
    )
    routed = [e["queue"] for e in probe(config, events).of("item_routed")]
    assert (routed.count("q"), routed.count("r")) == (7, 3)
    for n in range(1, 11):
        assert abs(routed[:n].count("q") - 0.7 * n) <= 1


def test_r5_no_matching_route_rule_goes_to_the_fallback_queue_and_says_why(probe: Probe) -> None:
    """R5: nothing matches → the workstream's fallback queue, with the reason."""
    config = BASE.replace(
        "    offer: {timeout_s: 30}\n",
        "    offer: {timeout_s: 30}\n    route_to_queue: [{when: item.topic == 'x', queue: r}]\n",
    )
    (routed,) = probe(config, "- {at: 1s, item: {id: a, workstream: chat}}").of("item_routed")
    assert routed["queue"] == "q" and routed["reason"]


def test_r6_a_queue_serves_higher_priority_first_then_the_older_item(probe: Probe) -> None:
    """R6: priority (larger first), then time entered routing (older first)."""
    events = (
        AWAY
        + """
- {at: 1s, item: {id: old, workstream: chat}}
- {at: 2s, item: {id: new, workstream: chat}}
- {at: 3s, item: {id: urgent, workstream: chat, priority: 5}}
- {at: 10s, agent: alice, presence: available}
- {at: 11s, agent: alice, accept: urgent}
- {at: 12s, close: urgent}
- {at: 13s, agent: alice, accept: old}
"""
    )
    run = probe(BASE.replace("capacity: {units: 100}", "capacity: {units: 100}"), events)
    assert [name for _, name, _ in run.offers()][:2] == ["urgent", "old"]


def test_r7_prioritisation_buckets_take_matching_items_first(probe: Probe) -> None:
    """R7: items matching the first prioritisation rule come before older unmatched ones."""
    config = BASE.replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: round_robin},\n      prioritization: [{name: vip, when: item.vip == true}]}",
    )
    events = (
        AWAY
        + """
- {at: 1s, item: {id: plain, workstream: chat}}
- {at: 2s, item: {id: vip, workstream: chat, attributes: {vip: true}}}
- {at: 10s, agent: alice, presence: available}
"""
    )
    assert probe(config, events).offers()[0] == (10.0, "vip", "alice")


def test_r8_aging_lifts_a_long_waiting_item_above_newer_urgent_ones(probe: Probe) -> None:
    """R8: +1 priority per 10 s waited: after 100 s the routine item outranks a priority-5 one."""
    config = BASE.replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: round_robin}, aging: {every_s: 10, add: 1}}",
    )
    events = (
        AWAY
        + """
- {at: 0s, item: {id: routine, workstream: chat}}
- {at: 99s, item: {id: urgent, workstream: chat, priority: 5}}
- {at: 100s, agent: alice, presence: available}
"""
    )
    assert probe(config, events).offers()[0] == (100.0, "routine", "alice")


def test_r9_a_returning_conversation_is_served_before_every_other_item(probe: Probe) -> None:
    """R9, R29: resumed under affinity, it goes to its agent ahead of an older waiting item."""
    config = BASE.replace(
        "offer: {timeout_s: 30}", "offer: {timeout_s: 30}\n    affinity: {enabled: true}"
    )
    events = """
- {at: 0s, agent: bob, presence: away}
- {at: 1s, item: {id: conv, workstream: chat}}
- {at: 2s, agent: alice, accept: conv}
- {at: 3s, park: conv}
- {at: 3s, agent: alice, presence: away}
- {at: 4s, item: {id: other, workstream: chat}}
- {at: 20s, resume: conv}
- {at: 30s, agent: alice, presence: available}
"""
    run = probe(config, events)
    assert next((name, agent) for t, name, agent in run.offers() if t >= 30) == ("conv", "alice")


def test_r10_an_agent_in_several_queues_is_served_from_the_smallest_priority_number(
    probe: Probe,
) -> None:
    """R10: queue priority 1 before 2, even when the other queue's item waited longer."""
    config = BASE.replace("q: {kind: messaging, members: [alice, bob]", "q: {kind: messaging, priority: 2, members: [alice, bob]").replace(
        "r: {kind: messaging, members: [carol]}", "r: {kind: messaging, priority: 1, members: [alice]}"
    ).replace("    offer: {timeout_s: 30}\n", "    offer: {timeout_s: 30}\n    route_to_queue: [{when: item.topic == 'r', queue: r}]\n")  # fmt: skip
    events = (
        AWAY
        + """
- {at: 1s, item: {id: in_q, workstream: chat}}
- {at: 2s, item: {id: in_r, workstream: chat, attributes: {topic: r}}}
- {at: 10s, agent: alice, presence: available}
"""
    )
    assert probe(config, events).offers()[0] == (10.0, "in_r", "alice")


def test_r10_equal_priority_queues_serve_the_item_that_waited_longest(probe: Probe) -> None:
    """R10: among queues of equal priority the oldest item overall goes first (not by id)."""
    config = BASE.replace(
        "r: {kind: messaging, members: [carol]}", "r: {kind: messaging, members: [alice]}"
    ).replace("    offer: {timeout_s: 30}\n", "    offer: {timeout_s: 30}\n    route_to_queue: [{when: item.topic == 'r', queue: r}]\n")  # fmt: skip
    events = (
        AWAY
        + """
- {at: 1s, item: {id: zz_old, workstream: chat, attributes: {topic: r}}}
- {at: 2s, item: {id: aa_new, workstream: chat}}
- {at: 10s, agent: alice, presence: available}
"""
    )
    assert probe(config, events).offers()[0] == (10.0, "zz_old", "alice")


def test_r11_an_item_deep_in_the_queue_is_assigned_when_only_it_fits(probe: Probe) -> None:
    """R11: no top-N window: the third item, the only one bob can take, is offered at once."""
    config = BASE.replace(
        "agents: {alice: {}, bob: {}", "agents: {alice: {skills: {french: 5}}, bob: {}"
    )
    events = """
- {at: 0s, agent: alice, presence: away}
- {at: 1s, item: {id: fr1, workstream: chat, skills: [{name: french, level: 3}]}}
- {at: 2s, item: {id: fr2, workstream: chat, skills: [{name: french, level: 3}]}}
- {at: 3s, item: {id: plain, workstream: chat}}
"""
    assert probe(config, events).offers()[0] == (3.0, "plain", "bob")


def test_r12_pre_queue_max_waiting_transfers_the_item(probe: Probe) -> None:
    """R12: q holds 1 waiting item, so the second overflows to r."""
    config = ROUTED.replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: round_robin},\n      overflow: [{when: {max_waiting: 1}, action: {transfer: r}}]}",
    )
    events = (
        AWAY
        + "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, item: {id: b, workstream: chat}}\n"
    )
    run = probe(config, events)
    (overflowed,) = run.of("item_overflowed")
    assert (overflowed["item"], overflowed["condition"], overflowed["target"]) == (
        run.ids()["b"],
        "max_waiting",
        "r",
    )
    assert run.offers()[0] == (2.0, "b", "carol")


def test_r12_ewt_counts_busy_agents_as_staffing(probe: Probe) -> None:
    """R12 (B1): a full agent is busy staffing, not absent: `ewt_s: 600` does not end the next
    chat at once when the only agent is on a call."""
    config = ROUTED.replace("members: [alice, bob], assignment: {method: round_robin}}", "members: [alice],\n      overflow: [{when: {ewt_s: 600}, action: end}]}")  # fmt: skip
    events = "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, agent: alice, accept: a}\n- {at: 3s, item: {id: b, workstream: chat}}\n"
    run = probe(config, events)
    assert run.of("item_overflowed") == []
    assert not run.of("item_closed", item=run.ids()["b"])


def test_r13_post_queue_waited_s_moves_the_item_when_it_has_waited_that_long(probe: Probe) -> None:
    """R13: after 60 s waiting in q it moves to r, and carol is offered it then."""
    config = ROUTED.replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: round_robin},\n      overflow: [{when: {waited_s: 60}, action: {transfer: r}}]}",
    )
    run = probe(config, AWAY + "- {at: 5s, item: {id: a, workstream: chat}}\n")
    assert [(e["t"], e["from"], e["to"]) for e in run.of("item_transferred")] == [(65.0, "q", "r")]
    assert run.offers()[0] == (65.0, "a", "carol")


def test_r14_out_of_hours_overflows_first(probe: Probe) -> None:
    """R14, R12: at Monday 00:00 a queue open 08:00–18:00 is closed: out_of_hours fires."""
    config = ROUTED.replace(
        "workstreams:",
        "calendars:\n  office: {tz: UTC, weekly: {mon-fri: '08:00-18:00'}}\nworkstreams:",
    ).replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: round_robin}, operating_hours: office,\n"
        "      overflow: [{when: {max_waiting: 0}, action: end}, {when: out_of_hours, action: {transfer: r}}]}",
    )
    run = probe(config, "- {at: 1s, item: {id: a, workstream: chat}}", start="2026-01-05T00:00:00Z")
    assert [e["condition"] for e in run.of("item_overflowed")] == ["out_of_hours"]


def test_r15_a_conversation_in_a_queue_without_members_waits(probe: Probe) -> None:
    """R15: no members and no `no_agents` rule: it waits, nothing overflows or closes."""
    config = BASE.replace("r: {kind: messaging, members: [carol]}", "r: {kind: messaging}").replace(
        "    offer: {timeout_s: 30}\n",
        "    offer: {timeout_s: 30}\n    route_to_queue: [{when: 'true', queue: r}]\n",
    )
    run = probe(config, "- {at: 1s, item: {id: a, workstream: chat}}")
    assert (
        run.of("item_queued", queue="r")
        and not run.of("item_overflowed")
        and not run.of("item_closed")
    )


def test_r16_only_eligible_agents_are_offered(probe: Probe) -> None:
    """R16: bob lacks the skill, carol is not a member, alice is away until 20 s."""
    config = BASE.replace("agents: {alice: {}", "agents: {alice: {skills: {french: 6}}")
    events = """
- {at: 0s, agent: alice, presence: away}
- {at: 1s, item: {id: fr, workstream: chat, skills: [{name: french, level: 5}]}}
- {at: 20s, agent: alice, presence: available}
"""
    assert probe(config, events).offers()[0] == (20.0, "fr", "alice")


def test_r17_round_robin_alternates_between_members(probe: Probe) -> None:
    """R17 round_robin: earliest last assignment in this queue first."""
    events = "\n".join(f"- {{at: {n}s, item: {{id: i{n}, workstream: chat}}}}" for n in range(1, 5))
    events += "\n" + "\n".join(
        f"- {{at: {n}.5s, agent: {a}, accept: i{n}}}" for n, a in ((1, "alice"), (2, "bob"))
    )
    agents = [
        agent for _, _, agent in probe(BASE.replace("units: 100", "units: 25"), events).offers()
    ]
    assert agents[:2] == ["alice", "bob"]


def test_r17_highest_capacity_prefers_the_agent_with_most_free_units(probe: Probe) -> None:
    """R17 highest_capacity: bob (100 free) before alice (75 free after one chat)."""
    config = BASE.replace("units: 100", "units: 25").replace(
        "method: round_robin", "method: highest_capacity"
    )
    events = "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, agent: alice, accept: a}\n- {at: 3s, item: {id: b, workstream: chat}}\n"
    run = probe(config, events)
    assert run.offers()[1] == (3.0, "b", "bob")


def test_r18_closest_matching_prefers_the_exactly_qualified_agent(probe: Probe) -> None:
    """R18: french 5 wanted: alice (5) before bob (9, over-qualified)."""
    config = (
        BASE.replace("offer: {timeout_s: 30}", "offer: {timeout_s: 30}\n    skill_match: closest")
        .replace(
            "agents: {alice: {}, bob: {}",
            "agents: {alice: {skills: {french: 5}}, bob: {skills: {french: 9}}",
        )
        .replace("method: round_robin", "method: least_active")
    )
    events = "- {at: 0s, agent: alice, presence: away}\n- {at: 1s, agent: alice, presence: available}\n- {at: 2s, item: {id: fr, workstream: chat, skills: [{name: french, level: 5}]}}"
    assert probe(config, events).offers()[0] == (2.0, "fr", "alice")


def test_r19_custom_assignment_gives_the_item_to_the_top_agent_of_the_first_matching_rule(
    probe: Probe,
) -> None:
    """R19: the first rule holds; its order_by (agent.seniority) picks bob."""
    config = BASE.replace(
        "assignment: {method: round_robin}}",
        "assignment: {method: custom, rules: [{when: agent.seniority > 1, order_by: agent.seniority}]}}",
    ).replace(
        "agents: {alice: {}, bob: {}",
        "agents: {alice: {attributes: {seniority: 2}}, bob: {attributes: {seniority: 7}}",
    )
    run = probe(config, "- {at: 1s, item: {id: a, workstream: chat}}")
    assert run.offers()[0] == (1.0, "a", "bob")


def test_r20_skill_requirements_relax_to_the_next_step_after_its_wait(probe: Probe) -> None:
    """R20: french 8 at first, french 3 after 60 s: bob (french 4) gets it at 61 s."""
    config = BASE.replace(
        "    offer: {timeout_s: 30}\n",
        """    offer: {timeout_s: 30}
    route_to_queue:
      - when: "true"
        queue: q
        steps: [{skills: [{name: french, level: 8}], after_s: 0}, {skills: [{name: french, level: 3}], after_s: 60}]
""",
    ).replace("agents: {alice: {}, bob: {}", "agents: {alice: {}, bob: {skills: {french: 4}}")
    assert probe(config, "- {at: 1s, item: {id: a, workstream: chat}}").offers()[0] == (
        61.0,
        "a",
        "bob",
    )


def test_r21_assignment_follows_the_presence_change_at_once(probe: Probe) -> None:
    """R21: event-driven: the offer is made the moment an agent becomes available."""
    events = (
        AWAY
        + "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 37.25s, agent: bob, presence: available}"
    )
    assert probe(BASE, events).offers()[0] == (37.25, "a", "bob")


def test_r22_capacity_is_reserved_by_the_offer(probe: Probe) -> None:
    """R22: alice's whole capacity is held by her open offer: the second chat goes to bob, and
    after her decline the capacity is hers again."""
    config = BASE.replace("method: round_robin", "method: highest_capacity")
    events = (
        "- {at: 1s, item: {id: a, workstream: chat}}\n- {at: 2s, item: {id: b, workstream: chat}}"
    )
    offers = probe(config, events).offers()
    assert offers[:2] == [(1.0, "a", "alice"), (2.0, "b", "bob")]
