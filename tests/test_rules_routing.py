"""SPEC R1–R5: the intake pipeline, classification, route-to-queue, percentage splits, fallback.

Every test builds a small configuration around one messaging workstream ``chat`` whose fallback
queue is ``general``; :func:`config` merges the YAML fragments a test gives over that base.
"""

from __future__ import annotations

import itertools
import textwrap
from collections import Counter
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from unirouter.config import model
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.events import Event
from unirouter.engine.state import ItemState, WorkItem

Rig = Any
MakeRig = Callable[..., Rig]


def _fragment(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(textwrap.dedent(text)) if text.strip() else None
    return dict(loaded or {})


def config(workstream: str = "", queues: str = "", agents: str = "a: {}", top: str = "") -> str:
    """YAML of workstream ``chat`` (messaging, fallback ``general``) with the fragments merged in.

    ``general`` is a queue with member ``a`` unless ``queues`` redefines it; ``top`` adds top-level
    keys such as ``skills`` or ``capacity_profiles``.
    """
    ws = {"kind": "messaging", "fallback_queue": "general", **_fragment(workstream)}
    qs = {"general": {"kind": "messaging", "members": ["a"]}, **_fragment(queues)}
    data = {
        **_fragment(top),
        "workstreams": {"chat": ws},
        "queues": qs,
        "agents": _fragment(agents),
    }
    return yaml.safe_dump(data, sort_keys=False)


def submit(r: Rig, external_id: str, **fields: Any) -> WorkItem:
    """Submit an item to ``chat`` and collect the events it caused."""
    item: WorkItem = r.engine.submit(external_id=external_id, workstream="chat", **fields)
    r.pump()
    return item


def events_of(r: Rig, item_id: str) -> list[Event]:
    r.pump()
    return [e for e in r.log if e.item == item_id]


def types_of(r: Rig, item_id: str) -> list[str]:
    return [str(e.type) for e in events_of(r, item_id)]


def stages(item: WorkItem) -> list[str]:
    return [str(entry["stage"]) for entry in item.trace]


def route_entry(item: WorkItem) -> dict[str, Any]:
    (entry,) = [e for e in item.trace if e["stage"] == "route"]
    return entry


# -- R1: the pipeline ------------------------------------------------------------------------------


def test_pipeline_events_run_intake_classification_routing_queueing_then_offer(
    rig: MakeRig,
) -> None:
    """R1: an item is created, classified, routed, queued, and then offered, in that order."""
    r = rig(config(workstream="route_to_queue: [{when: 'true', queue: general}]"))
    item = submit(r, "c-1")
    assert types_of(r, item.id) == [
        "item_created",
        "item_classified",
        "item_routed",
        "item_queued",
        "offer_made",
    ]


def test_trace_records_intake_classification_route_and_assignment_in_order(rig: MakeRig) -> None:
    """R1: intake, classification, route and assignment each append a trace entry, in order."""
    r = rig(config(workstream="route_to_queue: [{when: 'true', queue: general}]"))
    item = submit(r, "c-1")
    wanted = ["intake", "classification", "route", "assign"]
    assert [s for s in stages(r.engine.item(item.id)) if s in wanted] == wanted


def test_trace_records_the_pre_queue_overflow_check_when_nothing_overflows(rig: MakeRig) -> None:
    """R1: the pre-queue overflow stage appends to the trace even when no condition holds."""
    r = rig(
        config(
            queues="""
            general:
              kind: messaging
              members: [a]
              overflow: [{when: {max_waiting: 5}, action: end}]
            """
        )
    )
    item = submit(r, "c-1")
    assert "overflow" in stages(r.engine.item(item.id))


def test_trace_records_entering_the_queue(rig: MakeRig) -> None:
    """R1: the queued stage appends an entry naming the queue to the item's trace."""
    r = rig(config(agents="a: {default_presence: away}"))
    item = submit(r, "c-1")
    entries = [e for e in r.engine.item(item.id).trace if e["stage"] in ("queued", "queue")]
    assert [e.get("queue") for e in entries] == ["general"]


def test_trace_records_the_prioritisation_stage(rig: MakeRig) -> None:
    """R1: prioritisation in a queue with a prioritisation ruleset appends a trace entry."""
    r = rig(
        config(
            queues="""
            general:
              kind: messaging
              members: [a]
              prioritization: [{when: 'item.vip == true', order_by: item.age}]
            """,
            agents="a: {default_presence: away}",
        )
    )
    item = submit(r, "c-1", attributes={"vip": True, "age": 3})
    found = [s for s in stages(r.engine.item(item.id)) if s in ("prioritisation", "prioritization")]
    assert found


def test_pick_mode_item_waits_to_be_picked_without_an_offer(rig: MakeRig) -> None:
    """R1: in pick mode the queued item is not offered, even with a free agent."""
    r = rig(config(workstream="mode: pick"))
    item = submit(r, "c-1")
    assert r.engine.item(item.id).state is ItemState.QUEUED
    assert r.of_type("offer_made") == []


# -- R2: classification ----------------------------------------------------------------------------


def test_rulesets_run_in_listed_order_so_a_later_ruleset_overrides_priority(rig: MakeRig) -> None:
    """R2: rulesets run in listed order: the second ruleset's priority is the one that stays."""
    r = rig(
        config(
            workstream="""
            classification:
              - {name: first, rules: [{when: 'true', set: {priority: 5}}]}
              - {name: second, rules: [{when: 'true', set: {priority: 9}}]}
            """
        )
    )
    assert submit(r, "c-1").priority == 9


def test_only_the_first_matching_rule_of_a_ruleset_applies(rig: MakeRig) -> None:
    """R2: within a ruleset the first rule that holds applies; later matching rules do not."""
    r = rig(
        config(
            workstream="""
            classification:
              - name: team
                rules:
                  - {when: 'item.topic == "billing"', set: {team: first}}
                  - {when: 'true', set: {team: second, extra: 1}}
            """
        )
    )
    item = submit(r, "c-1", attributes={"topic": "billing"})
    assert item.attributes["team"] == "first"
    assert "extra" not in item.attributes


def test_a_ruleset_without_a_match_sets_nothing_and_the_next_ruleset_runs(rig: MakeRig) -> None:
    """R2: a ruleset with no true rule applies nothing; evaluation moves on to the next ruleset."""
    r = rig(
        config(
            workstream="""
            classification:
              - {name: vip, rules: [{when: 'item.topic == "vip"', set: {priority: 50}}]}
              - {name: seen, rules: [{when: 'true', set: {seen: yes}}]}
            """
        )
    )
    item = submit(r, "c-1", attributes={"topic": "other"})
    assert (item.priority, item.attributes["seen"]) == (0, True)


def test_later_rulesets_read_what_earlier_rulesets_set(rig: MakeRig) -> None:
    """R2: a later ruleset's condition sees the attribute an earlier ruleset set."""
    r = rig(
        config(
            workstream="""
            classification:
              - name: segment
                rules: [{when: 'item.customer.tier == "gold"', set: {segment: vip}}]
              - {name: urgency, rules: [{when: 'item.segment == "vip"', set: {priority: 40}}]}
            """
        )
    )
    item = submit(r, "c-1", customer={"tier": "gold"})
    assert (item.attributes["segment"], item.priority) == ("vip", 40)


def test_classification_sets_attributes_that_route_rules_read(rig: MakeRig) -> None:
    """R2: an attribute set by classification is what route-to-queue rules then read."""
    r = rig(
        config(
            workstream="""
            classification:
              - {name: team, rules: [{when: 'item.topic == "invoice"', set: {team: billing}}]}
            route_to_queue:
              - {when: 'item.team == "billing"', queue: billing}
            """,
            queues="billing: {kind: messaging, members: [a]}",
        )
    )
    item = submit(r, "c-1", attributes={"topic": "invoice"})
    assert item.queue == "billing"


def test_classification_adds_required_skills_that_routing_enforces(rig: MakeRig) -> None:
    """R2: a rule's skills are added to the item, so only an agent with them is offered it."""
    r = rig(
        config(
            workstream="""
            classification:
              - name: language
                rules:
                  - {when: 'item.language == "fr"', skills: [{name: french, level: 5}]}
            """,
            queues="general: {kind: messaging, members: [a, b]}",
            agents="{a: {}, b: {skills: {french: 7}}}",
            top="skills: {french: {levels: 10}}",
        )
    )
    item = submit(r, "c-1", attributes={"language": "fr"})
    assert [(s.name, s.level) for s in item.skills] == [("french", 5)]
    assert r.last_offer(item.id).agent == "b"


def test_classification_adds_capacity_profiles_that_routing_enforces(rig: MakeRig) -> None:
    """R2: a rule's capacity profiles are added, so only an agent holding them is offered it."""
    r = rig(
        config(
            workstream="""
            classification:
              - {name: media, rules: [{when: 'true', profiles: [video]}]}
            """,
            queues="general: {kind: messaging, members: [a, b]}",
            agents="{a: {}, b: {profiles: [video]}}",
            top="capacity_profiles: {video: {limit: 1}}",
        )
    )
    item = submit(r, "c-1")
    assert item.profiles == ("video",)
    assert r.last_offer(item.id).agent == "b"


def test_classification_replaces_the_units_an_item_consumes(rig: MakeRig) -> None:
    """R2: a rule's ``units`` replaces the workstream's units for the item."""
    r = rig(
        config(
            workstream="""
            capacity: {units: 30}
            classification:
              - {name: heavy, rules: [{when: 'item.topic == "video"', units: 70}]}
            """
        )
    )
    item = submit(r, "c-1", attributes={"topic": "video"})
    assert item.units == 70
    assert r.engine.agent("a").used_units == 70


def test_units_lowered_by_classification_fit_an_agent_with_that_much_room(rig: MakeRig) -> None:
    """R2: an item whose units a rule lowered to 30 is offered to an agent with 40 units."""
    r = rig(
        config(
            workstream="""
            capacity: {units: 100}
            classification:
              - {name: light, rules: [{when: 'item.topic == "faq"', units: 30}]}
            """,
            agents="a: {capacity_units: 40}",
        )
    )
    item = submit(r, "c-1", attributes={"topic": "faq"})
    assert item.units == 30
    assert r.last_offer(item.id).agent == "a"


def test_item_classified_event_names_the_ruleset_and_what_it_set(rig: MakeRig) -> None:
    """R2: the item_classified event reports which ruleset matched and what it set."""
    r = rig(
        config(
            workstream="""
            classification:
              - {name: tier, rules: [{when: 'item.customer.tier == "gold"', set: {priority: 10}}]}
              - {name: unused, rules: [{when: 'false', set: {priority: 99}}]}
            """
        )
    )
    item = submit(r, "c-1", customer={"tier": "gold"})
    (event,) = [e for e in events_of(r, item.id) if e.type == "item_classified"]
    applied = event.data["applied"]
    assert [a["ruleset"] for a in applied] == ["tier"]
    assert applied[0]["set"] == {"priority": 10}


# -- R3: route-to-queue ----------------------------------------------------------------------------

BILLING_AND_SALES = """
billing: {kind: messaging, members: [a]}
sales: {kind: messaging, members: [a]}
"""

ROUTES = """
route_to_queue:
  - {when: 'item.topic == "billing"', queue: billing}
  - {when: 'true', queue: sales}
"""


def test_the_first_matching_route_rule_wins(rig: MakeRig) -> None:
    """R3: when two rules match, the item goes to the first one's queue."""
    r = rig(
        config(
            workstream=ROUTES,
            queues=BILLING_AND_SALES,
        )
    )
    item = submit(r, "c-1", attributes={"topic": "billing"})
    (routed,) = [e for e in events_of(r, item.id) if e.type == "item_routed"]
    assert (routed.queue, routed.data["rule"], item.queue) == ("billing", 0, "billing")


def test_route_rules_that_do_not_match_are_skipped(rig: MakeRig) -> None:
    """R3: a rule whose condition is false is passed over for the next one."""
    r = rig(
        config(
            workstream=ROUTES,
            queues=BILLING_AND_SALES,
        )
    )
    item = submit(r, "c-1", attributes={"topic": "shoes"})
    (routed,) = [e for e in events_of(r, item.id) if e.type == "item_routed"]
    assert (routed.queue, routed.data["rule"]) == ("sales", 1)


def test_a_matching_queue_at_max_waiting_is_skipped_for_the_next_match(rig: MakeRig) -> None:
    """R3: a matching queue at max_waiting is skipped; its overflow action does not run."""
    r = rig(
        config(
            workstream=ROUTES,
            queues="""
            billing:
              {kind: messaging, members: [a], overflow: [{when: {max_waiting: 1}, action: end}]}
            sales: {kind: messaging, members: [a]}
            """,
            agents="a: {default_presence: away}",
        )
    )
    first = submit(r, "c-1", attributes={"topic": "billing"})
    second = submit(r, "c-2", attributes={"topic": "billing"})
    assert (first.queue, second.queue, second.state) == ("billing", "sales", ItemState.QUEUED)
    assert "item_overflowed" not in types_of(r, second.id)


def test_a_matching_queue_with_no_agents_is_skipped_for_the_next_match(rig: MakeRig) -> None:
    """R3: a matching queue that overflows (no_agents) is skipped for the next matching rule."""
    r = rig(
        config(
            workstream=ROUTES,
            queues="""
            billing: {kind: messaging, members: [b], overflow: [{when: no_agents, action: end}]}
            sales: {kind: messaging, members: [a]}
            """,
            agents="{a: {}, b: {default_presence: offline}}",
        )
    )
    item = submit(r, "c-1", attributes={"topic": "billing"})
    assert item.queue == "sales"
    assert r.last_offer(item.id).agent == "a"


def test_when_every_matching_queue_overflows_the_first_takes_it_and_runs_its_action(
    rig: MakeRig,
) -> None:
    """R3: if all matching queues overflow, the first matching queue gets it and its action runs."""
    r = rig(
        config(
            workstream=ROUTES,
            queues="""
            billing:
              kind: messaging
              members: [b]
              overflow: [{when: no_agents, action: {transfer: backup}}]
            sales: {kind: messaging, members: [b], overflow: [{when: no_agents, action: end}]}
            backup: {kind: messaging, members: [a]}
            """,
            agents="{a: {default_presence: away}, b: {default_presence: offline}}",
        )
    )
    item = submit(r, "c-1", attributes={"topic": "billing"})
    evs = events_of(r, item.id)
    (routed,) = [e for e in evs if e.type == "item_routed"]
    (overflowed,) = [e for e in evs if e.type == "item_overflowed"]
    assert routed.queue == "billing"
    assert (overflowed.queue, overflowed.data["action"]) == ("billing", "transfer")
    assert (item.state, item.queue) == (ItemState.QUEUED, "backup")


def test_a_queue_with_only_a_waited_s_rule_is_not_overflowing_for_routing(rig: MakeRig) -> None:
    """R3: post-queue (waited_s) rules do not make a queue overflowing at route time."""
    r = rig(
        config(
            workstream=ROUTES,
            queues="""
            billing:
              {kind: messaging, members: [a], overflow: [{when: {waited_s: 60}, action: end}]}
            sales: {kind: messaging, members: [a]}
            """,
        )
    )
    item = submit(r, "c-1", attributes={"topic": "billing"})
    assert item.queue == "billing"
    assert "item_overflowed" not in types_of(r, item.id)


# -- R4: percentage splits -------------------------------------------------------------------------


def split_config(weights: dict[str, int]) -> str:
    """Every item matches one split rule over ``weights``; the queues have no members."""
    queues = {name: {"kind": "messaging"} for name in weights}
    return config(
        workstream=yaml.safe_dump({"route_to_queue": [{"when": "true", "split": weights}]}),
        queues=yaml.safe_dump(queues),
    )


def routed_queues(r: Rig, count: int) -> list[str]:
    """Submit ``count`` items; the queue each was routed to, in order."""
    return [str(submit(r, f"c-{n}").queue) for n in range(count)]


def assert_within_one(weights: dict[str, int], queues: list[str]) -> None:
    """After every prefix of n items each queue holds within 1 of n × its share."""
    counts: Counter[str] = Counter()
    for n, queue in enumerate(queues, start=1):
        counts[queue] += 1
        for name, percent in weights.items():
            assert abs(counts[name] - n * percent / 100) <= 1, (n, name, counts[name])


def test_a_70_30_split_gives_each_queue_within_one_item_of_its_share(rig: MakeRig) -> None:
    """R4: a 70/30 split gives each queue within one item of its share at every point."""
    weights = {"general": 70, "other": 30}
    queues = routed_queues(rig(split_config(weights)), 100)
    assert_within_one(weights, queues)
    assert Counter(queues) == {"general": 70, "other": 30}


def test_split_is_deterministic_across_engines(rig: MakeRig) -> None:
    """R4: two engines given the same items route them to the same queues in the same order."""
    weights = {"general": 50, "other": 25, "third": 25}
    first = routed_queues(rig(split_config(weights)), 40)
    second = routed_queues(rig(split_config(weights)), 40)
    assert first == second
    assert set(first) == set(weights)


def _splits(max_queues: int) -> st.SearchStrategy[dict[str, int]]:
    """Percentages over 2..max_queues queues, each at least 1, summing to 100."""

    def weights(cuts: list[int]) -> dict[str, int]:
        bounds = [0, *sorted(cuts), 100]
        return {
            "general" if i == 0 else f"q{i}": hi - lo
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
        }

    cuts = st.integers(1, max_queues - 1).flatmap(
        lambda k: st.lists(st.integers(1, 99), min_size=k, max_size=k, unique=True)
    )
    return cuts.map(weights)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(weights=_splits(4), count=st.integers(1, 200))
def test_split_over_up_to_four_queues_stays_within_one_item_of_each_share(
    rig: MakeRig, weights: dict[str, int], count: int
) -> None:
    """R4: for random splits over 2–4 queues, every prefix stays within one item of each share."""
    assert_within_one(weights, routed_queues(rig(split_config(weights)), count))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(weights=_splits(5), count=st.integers(1, 200))
@example(weights={"general": 1, "q1": 1, "q2": 6, "q3": 46, "q4": 46}, count=100)
def test_split_over_up_to_five_queues_stays_within_one_item_of_each_share(
    rig: MakeRig, weights: dict[str, int], count: int
) -> None:
    """R4: for random splits over 2–5 queues, every prefix stays within one item of each share."""
    assert_within_one(weights, routed_queues(rig(split_config(weights)), count))


# -- R5: fallback ----------------------------------------------------------------------------------


def unvalidated_engine(text: str) -> Engine:
    """An engine on a configuration that passed the schema but skipped the cross checks (R41).

    Such a configuration is the only way to meet R5's "unknown queue" and "error in a rule" at
    run time, since validation refuses both.
    """
    cfg = model.Config.model_validate(yaml.safe_load(text))
    return Engine(cfg, clock=ManualClock(0.0))


def test_an_item_no_route_rule_matches_goes_to_the_fallback_queue(rig: MakeRig) -> None:
    """R5: with no matching route rule the item goes to the fallback queue and the trace says so."""
    r = rig(
        config(
            workstream="route_to_queue: [{when: 'item.topic == \"billing\"', queue: billing}]",
            queues="billing: {kind: messaging, members: [a]}",
        )
    )
    item = submit(r, "c-1", attributes={"topic": "shoes"})
    entry = route_entry(item)
    assert (item.queue, entry["queue"], entry["rule"]) == ("general", "general", None)
    assert "no" in entry["reason"] and "match" in entry["reason"]


def test_an_unknown_queue_sends_the_item_to_the_fallback_queue() -> None:
    """R5: a rule naming an unknown queue sends the item to the fallback; the trace names it."""
    engine = unvalidated_engine(
        config(workstream="route_to_queue: [{when: 'true', queue: nowhere}]")
    )
    item = engine.submit(external_id="c-1", workstream="chat")
    assert (item.state, item.queue) == (ItemState.OFFERED, "general")
    assert "nowhere" in route_entry(item)["reason"]


def test_a_failing_classification_rule_sends_the_item_to_the_fallback_queue() -> None:
    """R5: an error in a classification rule sends the item to the fallback; the trace says so."""
    engine = unvalidated_engine(
        config(
            workstream="""
            classification: [{name: bad, rules: [{when: 'true', set: {priority: high}}]}]
            route_to_queue: [{when: 'true', queue: billing}]
            """,
            queues="billing: {kind: messaging, members: [a]}",
        )
    )
    item = engine.submit(external_id="c-1", workstream="chat")
    entry = route_entry(item)
    assert (item.queue, entry["rule"]) == ("general", None)
    assert "error" in entry["reason"]


def test_the_fallback_queue_overflow_settings_are_not_applied(rig: MakeRig) -> None:
    """R5: an item sent to the fallback queue queues there though its overflow condition holds."""
    r = rig(
        config(
            queues="""
            general: {kind: messaging, members: [a], overflow: [{when: no_agents, action: end}]}
            """,
            agents="a: {default_presence: offline}",
        )
    )
    item = submit(r, "c-1")
    assert (item.state, item.queue, item.close_reason) == (ItemState.QUEUED, "general", None)
    assert "item_overflowed" not in types_of(r, item.id)
