"""The configuration models (SPEC §5, docs/architecture.md "Configuration model")."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from unirouter import config
from unirouter.config import model


def workstream(**fields: Any) -> model.Workstream:
    """A messaging workstream with the given fields over the defaults."""
    return model.Workstream.model_validate({"kind": "messaging", "fallback_queue": "q", **fields})


def overflow(when: object, action: object) -> model.OverflowRule:
    """An overflow rule from YAML-like data."""
    return model.OverflowRule.model_validate({"when": when, "action": action})


def test_workstream_defaults_follow_the_contract() -> None:
    """SPEC §2: push mode, available/busy, exact skills, 120 s offers, wrap-up blocks capacity."""
    ws = workstream()
    assert ws.mode is model.Mode.PUSH
    assert ws.allowed_presences == [model.BasePresence.AVAILABLE, model.BasePresence.BUSY]
    assert ws.skill_match is model.SkillMatch.EXACT
    assert (ws.offer.timeout_s, ws.offer.max_declines_per_agent) == (120, 3)
    assert (ws.offer.max_declines_total, ws.offer.rejectable) == (100, True)
    assert ws.wrap_up.block == "always"
    assert (ws.affinity.enabled, ws.affinity.grace_s) == (False, 150)
    assert ws.pick_checks is model.PickChecks.ENFORCE
    assert ws.preferred.fallback is model.PreferredFallback.QUEUE


def test_capacity_defaults_to_100_units() -> None:
    """CapacitySpec: 100 units and no profile when the block is left out."""
    assert workstream().capacity == model.CapacitySpec(units=100, profiles=[])


def test_capacity_with_profiles_only_consumes_no_units() -> None:
    """CapacitySpec: a block naming profiles but no units consumes 0 units."""
    assert workstream(capacity={"profiles": ["chat"]}).capacity.units == 0


def test_capacity_keeps_explicit_units_beside_profiles() -> None:
    """CapacitySpec: explicit units stay as given."""
    assert workstream(capacity={"units": 30, "profiles": ["chat"]}).capacity.units == 30


def test_queue_defaults_follow_the_contract() -> None:
    """SPEC §2: priority 0, highest_capacity, service level 20 s, short abandon 5 s."""
    queue = model.Queue.model_validate({"kind": "voice"})
    assert queue.priority == 0
    assert queue.assignment.method is model.Method.HIGHEST_CAPACITY
    assert (queue.service_level_s, queue.short_abandon_s) == (20, 5)
    assert (queue.operating_hours, queue.respect_calendars, queue.aging) == (None, False, None)


def test_unknown_fields_are_refused() -> None:
    """extra="forbid": a misspelt field is an error, not silently ignored."""
    with pytest.raises(pydantic.ValidationError):
        model.Queue.model_validate({"kind": "voice", "prority": 1})


def test_models_are_frozen() -> None:
    """A validated configuration cannot be changed in place."""
    queue = model.Queue.model_validate({"kind": "voice"})
    with pytest.raises(pydantic.ValidationError):
        queue.priority = 3  # type: ignore[misc]


def test_enums_are_str_enums_of_the_yaml_words() -> None:
    """Enums compare equal to the words of the YAML file."""
    presence: str = model.BasePresence.BUSY_DND
    assert presence == "busy_dnd"
    assert [k.value for k in model.Kind] == ["messaging", "voice", "record"]
    assert model.Method("round_robin") is model.Method.ROUND_ROBIN


def test_boolean_condition_becomes_the_literal_expression() -> None:
    """YAML reads `when: true` as a boolean; the model keeps the expression source "true"."""
    rule = model.RouteRule.model_validate({"when": True, "queue": "q"})
    assert rule.when == "true"


def test_route_rule_needs_exactly_one_target() -> None:
    """R3/R4: a route rule names a queue or a split, not both and not neither."""
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        model.RouteRule.model_validate({"when": "true"})
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        model.RouteRule.model_validate({"when": "true", "queue": "a", "split": {"a": 50, "b": 50}})


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("out_of_hours", ("out_of_hours", None)),
        ("no_agents", ("no_agents", None)),
        ({"max_waiting": 10}, ("max_waiting", 10)),
        ({"ewt_s": 600}, ("ewt_s", 600)),
        ({"waited_s": 300}, ("waited_s", 300)),
    ],
)
def test_overflow_condition_gives_kind_and_value(when: object, expected: tuple[str, Any]) -> None:
    """R12/R13: OverflowRule.condition is (kind, value)."""
    assert overflow(when, "end").condition == expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"transfer": "general"}, ("transfer", "general")),
        ({"callback": "callbacks"}, ("callback", "callbacks")),
        ("end", ("end", None)),
        ({"end": True}, ("end", None)),
        ("assign_anyway", ("assign_anyway", None)),
        ({"assign_anyway": True}, ("assign_anyway", None)),
    ],
)
def test_overflow_action_kind_gives_kind_and_target(
    action: object, expected: tuple[str, str | None]
) -> None:
    """R12: OverflowRule.action_kind is (kind, target) for every accepted form."""
    assert overflow("no_agents", action).action_kind == expected


def test_only_waited_s_is_post_queue() -> None:
    """R13: waited_s is checked while waiting; the others once after routing (R12)."""
    assert overflow({"waited_s": 60}, "end").post_queue
    assert not overflow({"max_waiting": 3}, "end").post_queue


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("closed", "out_of_hours, no_agents"),
        ({"waited": 3}, "out_of_hours, no_agents"),
        ({"ewt_s": 1, "waited_s": 2}, "out_of_hours, no_agents"),
        ({"max_waiting": 1.5}, "whole number"),
        ({"ewt_s": -1}, ">= 0"),
    ],
)
def test_bad_overflow_conditions_are_refused(when: object, message: str) -> None:
    """R12: only the listed conditions exist, with non-negative amounts."""
    with pytest.raises(pydantic.ValidationError, match=message):
        overflow(when, "end")


@pytest.mark.parametrize("action", ["transfer", {"transfer": ""}, {"end": False}, {"move": "q"}])
def test_bad_overflow_actions_are_refused(action: object) -> None:
    """R12: only the listed actions exist."""
    with pytest.raises(pydantic.ValidationError, match="transfer: QUEUE"):
        overflow("no_agents", action)


@pytest.mark.parametrize(
    ("block", "expected"), [("always", "always"), ("none", "none"), (60, 60.0)]
)
def test_wrap_up_block_forms(block: object, expected: object) -> None:
    """R33: always, none or seconds."""
    assert model.WrapUp.model_validate({"block": block}).block == expected


@pytest.mark.parametrize("block", ["sometimes", -5, True])
def test_bad_wrap_up_blocks_are_refused(block: object) -> None:
    """R33: anything else is an error."""
    with pytest.raises(pydantic.ValidationError, match="'always', 'none'"):
        model.WrapUp.model_validate({"block": block})


def test_order_by_bare_string_is_one_ascending_key() -> None:
    """R7: `order_by: EXPR` means one ascending key."""
    rule = model.PriorityRule.model_validate({"when": "true", "order_by": "item.waiting_since"})
    assert rule.order_by == [model.OrderKey(by="item.waiting_since", desc=False)]


def test_order_by_list_mixes_keys_and_bare_strings() -> None:
    """R7: list entries may be {by, desc} or bare strings."""
    data = {"when": "true", "order_by": [{"by": "item.priority", "desc": True}, "item.id"]}
    keys = model.PriorityRule.model_validate(data).order_by
    assert [(k.by, k.desc) for k in keys] == [("item.priority", True), ("item.id", False)]


def test_custom_assignment_needs_rules() -> None:
    """R19: method custom without rules is an error."""
    with pytest.raises(pydantic.ValidationError, match="needs at least one rule"):
        model.Assignment.model_validate({"method": "custom"})


def test_rules_without_custom_method_are_refused() -> None:
    """R19: rules are read only by method custom."""
    rules = [{"when": "true", "order_by": "agent.free_units"}]
    with pytest.raises(pydantic.ValidationError, match="only read with method 'custom'"):
        model.Assignment.model_validate({"method": "round_robin", "rules": rules})


def test_custom_rule_order_by_may_name_a_method() -> None:
    """R19: order_by is an expression or a built-in method name."""
    by_method = model.CustomRule.model_validate({"when": "true", "order_by": "least_active"})
    by_expression = model.CustomRule.model_validate(
        {"when": "true", "order_by": "agent.free_units"}
    )
    assert by_method.order_method is model.Method.LEAST_ACTIVE
    assert by_expression.order_method is None
    assert by_method.desc is True


def test_agent_profile_list_means_own_limits() -> None:
    """AgentDef: `profiles: [chat]` is every profile at its own limit (None)."""
    agent = model.AgentDef.model_validate({"profiles": ["chat", "email"]})
    assert agent.profiles == {"chat": None, "email": None}


def test_agent_profile_mapping_overrides_limits() -> None:
    """AgentDef: `profiles: {chat: 2}` overrides the limit for this agent."""
    agent = model.AgentDef.model_validate({"profiles": {"chat": 2, "email": None}})
    assert agent.profiles == {"chat": 2, "email": None}


def test_agent_defaults() -> None:
    """AgentDef: 100 units, available, no calendar."""
    agent = model.AgentDef()
    assert (agent.capacity_units, agent.default_presence, agent.calendar) == (
        100,
        "available",
        None,
    )


def test_agent_token_must_name_its_agent() -> None:
    """SPEC §6.3: a token of role agent is bound to one agent."""
    with pytest.raises(pydantic.ValidationError, match="must name its 'agent'"):
        model.TokenDef.model_validate({"name": "t", "role": "agent", "sha256": "a" * 64})


def test_other_tokens_name_no_agent() -> None:
    """SPEC §6.3: only agent tokens are bound to an agent."""
    data = {"name": "t", "role": "admin", "agent": "alice", "sha256": "a" * 64}
    with pytest.raises(pydantic.ValidationError, match="only a token of role 'agent'"):
        model.TokenDef.model_validate(data)


def test_token_hash_is_64_hex_digits_in_lower_case() -> None:
    """SPEC §6.3: only the SHA-256 is stored."""
    token = model.TokenDef.model_validate({"name": "t", "role": "intake", "sha256": "AB" * 32})
    assert token.sha256 == "ab" * 32
    with pytest.raises(pydantic.ValidationError, match="64 hexadecimal digits"):
        model.TokenDef.model_validate({"name": "t", "role": "intake", "sha256": "xyz"})


def test_config_sections_default_to_empty() -> None:
    """Config: every section may be left out; version is 1."""
    empty = model.Config()
    assert (empty.version, empty.workstreams, empty.auth.tokens) == (1, {}, [])


def test_json_schema_is_generated_from_the_models() -> None:
    """SPEC §5: the shipped JSON Schema describes every section and is plain JSON."""
    schema = config.json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) >= {"workstreams", "queues", "agents", "calendars"}
    assert json.loads(json.dumps(schema)) == schema


def test_json_schema_describes_the_written_shapes() -> None:
    """The schema accepts what YAML users write: bare conditions, string order keys."""
    defs = config.json_schema()["$defs"]
    when = defs["OverflowRule"]["properties"]["when"]
    assert {"enum": ["out_of_hours", "no_agents"]} in when["anyOf"]
    order_by = defs["PriorityRule"]["properties"]["order_by"]
    assert {"type": "string"} in order_by["anyOf"]
