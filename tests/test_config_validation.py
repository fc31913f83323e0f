"""Whole-configuration validation (R41): every issue, with the path of its field and a sentence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from unirouter import config
from unirouter.errors import ConfigError, ConfigIssue

EXAMPLES = Path(config.__file__).parent.parent / "examples"

BASE = """
version: 1
skills: {french: {levels: 10}, billing: {levels: 5}}
capacity_profiles: {chat: {limit: 3}}
calendars:
  paris: {tz: Europe/Paris, weekly: {mon-fri: "08:00-18:00"}}
workstreams:
  web_chat:
    kind: messaging
    capacity: {profiles: [chat]}
    fallback_queue: general_chat
    classification:
      - name: language
        rules:
          - when: item.language == "fr"
            skills: [{name: french, level: 5}]
    route_to_queue:
      - when: item.topic == "billing"
        queue: billing_chat
        steps: [{skills: [{name: billing, level: 3}], after_s: 0}]
      - when: "true"
        split: {general_chat: 70, billing_chat: 30}
  email: {kind: record, fallback_queue: emails}
queues:
  general_chat: {kind: messaging, members: [alice]}
  billing_chat:
    kind: messaging
    members: [alice, bob]
    operating_hours: paris
    overflow:
      - when: out_of_hours
        action: {transfer: general_chat}
  phone: {kind: voice, members: [bob]}
  emails: {kind: record, members: [bob]}
agents:
  alice: {skills: {french: 7, billing: 4}, profiles: [chat]}
  bob: {skills: {billing: 5}, profiles: [chat], calendar: paris}
"""


def base() -> dict[str, Any]:
    """A fresh copy of a small valid configuration."""
    data: dict[str, Any] = yaml.safe_load(BASE)
    return data


def issues_of(data: object) -> list[ConfigIssue]:
    """Every issue validation reports for ``data``."""
    with pytest.raises(ConfigError) as caught:
        config.validate(data)
    return caught.value.issues


def only_issue(data: object) -> ConfigIssue:
    """The single issue validation reports for ``data``."""
    issues = issues_of(data)
    assert len(issues) == 1, issues
    return issues[0]


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """The base configuration after ``change`` mutated it."""
    data = base()
    change(data)
    return data


def write(folder: Path, name: str, text: str) -> Path:
    """Write a file of a configuration folder."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the whole ---------------------------------------------------------------------------------


def test_base_configuration_is_valid() -> None:
    """The fixture every other test breaks in one place is itself valid."""
    assert set(config.validate(base()).queues) == {
        "general_chat",
        "billing_chat",
        "phone",
        "emails",
    }


@pytest.mark.parametrize("name", ["spec_example.yaml", "contact_centre.yaml"])
def test_example_files_validate(name: str) -> None:
    """SPEC §5: the shipped examples are valid configurations."""
    loaded = config.load(EXAMPLES / name)
    assert loaded.workstreams and loaded.queues and loaded.agents


def test_contact_centre_example_exercises_the_features() -> None:
    """The bundled example shows every kind, pick mode, R27 and custom assignment."""
    loaded = config.load(EXAMPLES / "contact_centre.yaml")
    assert {ws.kind for ws in loaded.workstreams.values()} == {"messaging", "voice", "record"}
    assert any(ws.mode == "pick" for ws in loaded.workstreams.values())
    assert any(not ws.offer.rejectable for ws in loaded.workstreams.values())
    assert any(q.assignment.method == "custom" for q in loaded.queues.values())
    assert all("group" in agent.attributes for agent in loaded.agents.values())


def test_all_cross_reference_issues_are_reported_together() -> None:
    """R41: a configuration with several errors reports every one of them at once."""

    def break_three(data: dict[str, Any]) -> None:
        data["workstreams"]["web_chat"]["fallback_queue"] = "nowhere"
        data["queues"]["general_chat"]["members"] = ["zoe"]
        data["agents"]["alice"]["calendar"] = "tokyo"

    paths = [issue.path for issue in issues_of(changed(break_three))]
    assert paths == [
        "workstreams.web_chat.fallback_queue",
        "queues.general_chat.members[0]",
        "agents.alice.calendar",
    ]


def test_all_schema_issues_are_reported_together() -> None:
    """R41: every schema error is reported, each with its path."""

    def break_three(data: dict[str, Any]) -> None:
        data["workstreams"]["web_chat"]["mode"] = "shove"
        data["queues"]["phone"]["priority"] = "high"
        del data["queues"]["emails"]["kind"]

    paths = [issue.path for issue in issues_of(changed(break_three))]
    assert paths == [
        "workstreams.web_chat.mode",
        "queues.phone.priority",
        "queues.emails.kind",
    ]


# --- schema issues -----------------------------------------------------------------------------


def test_schema_issue_path_uses_keys_and_indices() -> None:
    """R41: pydantic locations read as queues.billing_chat.overflow[0].action."""
    data = changed(lambda d: d["queues"]["billing_chat"]["overflow"][0].update(action="fly"))
    issue = only_issue(data)
    assert issue.path == "queues.billing_chat.overflow[0].action"
    assert "must be {transfer: QUEUE}" in issue.message


def test_unknown_field_suggests_the_closest_field() -> None:
    """R41: a misspelt field names the field it probably means."""
    data = changed(lambda d: d["queues"]["phone"].update(prority=1))
    assert only_issue(data) == ConfigIssue(
        path="queues.phone.prority", message="unknown field 'prority'; did you mean 'priority'?"
    )


def test_wrong_type_says_what_was_given() -> None:
    """R41: a wrong value is described in a sentence naming it."""
    data = changed(lambda d: d["queues"]["phone"].update(priority="high"))
    assert only_issue(data) == ConfigIssue(
        path="queues.phone.priority", message="must be a valid integer, not 'high'"
    )


def test_missing_field_is_named() -> None:
    """R41: a required field left out is reported at its own path."""
    data = changed(lambda d: d["workstreams"]["email"].pop("fallback_queue"))
    assert only_issue(data).path == "workstreams.email.fallback_queue"


def test_a_configuration_that_is_not_a_mapping_is_refused() -> None:
    """R41: the top level must be a mapping of sections."""
    issue = only_issue(["queues"])
    assert (issue.path, issue.message) == ("", "the configuration must be a mapping, not a list")


# --- R41 error kinds ---------------------------------------------------------------------------


def test_unknown_queue_reference() -> None:
    """R41 unknown reference: a route to an undefined queue, with a suggestion."""
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["route_to_queue"][0].update(queue="biling_chat")
    )
    assert only_issue(data) == ConfigIssue(
        path="workstreams.web_chat.route_to_queue[0].queue",
        message="unknown queue 'biling_chat'; did you mean 'billing_chat'?",
    )


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    """R41 duplicate names: a queue defined in two merged files is an issue naming both files."""
    write(tmp_path, "a.yaml", "queues: {q: {kind: voice}}\n")
    write(tmp_path, "b.yaml", "queues: {q: {kind: voice}}\n")
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    [issue] = caught.value.issues
    assert issue.path == "queues.q"
    assert "a.yaml" in issue.message and "b.yaml" in issue.message


def test_kind_mismatch_of_routed_queue() -> None:
    """R41 kind mismatch: a messaging workstream may not route to a voice queue."""
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["route_to_queue"][0].update(queue="phone")
    )
    issue = only_issue(data)
    assert issue.path == "workstreams.web_chat.route_to_queue[0].queue"
    assert "voice queue" in issue.message and "messaging" in issue.message


def test_split_percentages_not_summing_to_100() -> None:
    """R41 percentages: a split must sum to 100."""
    split = {"general_chat": 60, "billing_chat": 30}
    data = changed(lambda d: d["workstreams"]["web_chat"]["route_to_queue"][1].update(split=split))
    assert only_issue(data) == ConfigIssue(
        path="workstreams.web_chat.route_to_queue[1].split",
        message="split percentages sum to 90, not 100",
    )


def test_bad_expression_names_field_and_column() -> None:
    """R41 bad expression: the issue path names the field, the message the column."""
    rule = {"when": "item.topic ==", "queue": "general_chat"}
    data = changed(lambda d: d["workstreams"]["web_chat"]["route_to_queue"].insert(0, rule))
    issue = only_issue(data)
    assert issue.path == "workstreams.web_chat.route_to_queue[0].when"
    assert "column" in issue.message and "'item.topic =='" in issue.message


# --- one test per check ------------------------------------------------------------------------


def test_version_must_be_1() -> None:
    """Only configuration version 1 is read."""
    assert only_issue(changed(lambda d: d.update(version=2))).path == "version"


def test_calendar_time_zone_must_exist() -> None:
    """R14: tz is an IANA zone."""
    data = changed(lambda d: d["calendars"]["paris"].update(tz="Europe/Pariss"))
    issue = only_issue(data)
    assert issue.path == "calendars.paris.tz"
    assert "unknown time zone 'Europe/Pariss'" in issue.message


def test_calendar_weekly_key_must_name_days() -> None:
    """R14: a weekly key names days; the issue path ends with the key."""
    weekly = {"mon-fry": "08:00-18:00"}
    data = changed(lambda d: d["calendars"]["paris"].update(weekly=weekly))
    assert only_issue(data) == ConfigIssue(
        path="calendars.paris.weekly.mon-fry",
        message="unknown day 'fry'; use mon, tue, wed, thu, fri, sat, sun",
    )


def test_calendar_weekly_value_must_give_hours() -> None:
    """R14: a weekly value is HH:MM-HH:MM ranges."""
    weekly = {"mon-fri": "18:00-08:00"}
    data = changed(lambda d: d["calendars"]["paris"].update(weekly=weekly))
    issue = only_issue(data)
    assert issue.path == "calendars.paris.weekly.mon-fri"
    assert "does not end after it starts" in issue.message


def test_calendar_day_given_by_two_keys() -> None:
    """R14: each day's hours come from one key only."""
    weekly = {"mon-fri": "08:00-18:00", "fri": "08:00-12:00"}
    data = changed(lambda d: d["calendars"]["paris"].update(weekly=weekly))
    assert only_issue(data).path == "calendars.paris.weekly.fri"


def test_fallback_queue_must_exist() -> None:
    """R5: the fallback queue is defined."""
    data = changed(lambda d: d["workstreams"]["email"].update(fallback_queue="mails"))
    assert only_issue(data).path == "workstreams.email.fallback_queue"


def test_fallback_queue_must_have_the_workstream_kind() -> None:
    """R41 kind mismatch: a record workstream falls back to a record queue."""
    data = changed(lambda d: d["workstreams"]["email"].update(fallback_queue="phone"))
    issue = only_issue(data)
    assert issue.path == "workstreams.email.fallback_queue"
    assert "voice queue" in issue.message


def test_workstream_profiles_must_exist() -> None:
    """R16: a workstream's capacity profiles are defined."""
    data = changed(lambda d: d["workstreams"]["web_chat"]["capacity"].update(profiles=["chta"]))
    assert only_issue(data).path == "workstreams.web_chat.capacity.profiles[0]"


def test_rejectable_false_only_on_record_workstreams() -> None:
    """R27: a messaging workstream cannot make offers that cannot be declined."""
    data = changed(lambda d: d["workstreams"]["web_chat"].update(offer={"rejectable": False}))
    assert only_issue(data).path == "workstreams.web_chat.offer.rejectable"


def test_rejectable_false_is_fine_on_record_workstreams() -> None:
    """R27: records may be configured rejectable: false."""
    data = changed(lambda d: d["workstreams"]["email"].update(offer={"rejectable": False}))
    assert not config.validate(data).workstreams["email"].offer.rejectable


def test_ruleset_names_are_unique() -> None:
    """R41 duplicate names: two classification rulesets with one name."""
    ws = "web_chat"
    data = changed(
        lambda d: d["workstreams"][ws]["classification"].append({"name": "language", "rules": []})
    )
    assert only_issue(data).path == "workstreams.web_chat.classification[1].name"


def test_classification_condition_must_compile() -> None:
    """R2: classification conditions are checked expressions."""
    path = "workstreams.web_chat.classification[0].rules[0]"
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["classification"][0]["rules"][0].update(
            when="item.("
        )
    )
    issue = only_issue(data)
    assert issue.path == f"{path}.when"
    assert "column" in issue.message


def test_classification_priority_is_in_range() -> None:
    """SPEC §2: a priority is an integer from 0 to 100000."""
    rule = {"when": "true", "set": {"priority": 100001}}
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["classification"][0]["rules"].append(rule)
    )
    assert only_issue(data).path == "workstreams.web_chat.classification[0].rules[1].set.priority"


def test_classification_profiles_must_exist() -> None:
    """R2: profiles added by a rule are defined."""
    rule = {"when": "true", "profiles": ["video"]}
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["classification"][0]["rules"].append(rule)
    )
    assert only_issue(data).path == "workstreams.web_chat.classification[0].rules[1].profiles[0]"


def test_required_skill_must_exist() -> None:
    """R16: a required skill is defined."""
    rules = base()["workstreams"]["web_chat"]["classification"][0]["rules"]
    rules[0]["skills"] = [{"name": "frnch"}]
    data = changed(lambda d: d["workstreams"]["web_chat"]["classification"][0].update(rules=rules))
    issue = only_issue(data)
    assert issue.path == "workstreams.web_chat.classification[0].rules[0].skills[0].name"
    assert "did you mean 'french'?" in issue.message


def test_required_skill_level_fits_the_skill() -> None:
    """R16: a required level is within the skill's levels (relaxation steps too, R20)."""
    step = {"skills": [{"name": "billing", "level": 6}], "after_s": 0}
    data = changed(lambda d: d["workstreams"]["web_chat"]["route_to_queue"][0].update(steps=[step]))
    issue = only_issue(data)
    assert issue.path == "workstreams.web_chat.route_to_queue[0].steps[0].skills[0].level"
    assert "outside 1..5" in issue.message


def test_route_condition_must_compile() -> None:
    """R3: route conditions are checked expressions."""
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["route_to_queue"][1].update(when="item.__class__")
    )
    assert only_issue(data).path == "workstreams.web_chat.route_to_queue[1].when"


def test_split_names_2_to_5_queues() -> None:
    """R4: a split of a single queue is refused."""
    data = changed(
        lambda d: d["workstreams"]["web_chat"]["route_to_queue"][1].update(
            split={"general_chat": 100}
        )
    )
    issue = only_issue(data)
    assert issue.path == "workstreams.web_chat.route_to_queue[1].split"
    assert "2 to 5 queues" in issue.message


def test_split_queues_must_exist_and_match_the_kind() -> None:
    """R4, R41: each split queue exists and has the workstream's kind."""
    split = {"general_chat": 50, "phone": 30, "chats": 20}
    data = changed(lambda d: d["workstreams"]["web_chat"]["route_to_queue"][1].update(split=split))
    paths = [issue.path for issue in issues_of(data)]
    loc = "workstreams.web_chat.route_to_queue[1].split"
    assert paths == [f"{loc}.phone", f"{loc}.chats"]


def test_relaxation_steps_start_at_0() -> None:
    """R20: the first step applies at once."""
    step = {"skills": [], "after_s": 30}
    data = changed(lambda d: d["workstreams"]["web_chat"]["route_to_queue"][0].update(steps=[step]))
    assert only_issue(data).path == "workstreams.web_chat.route_to_queue[0].steps[0].after_s"


def test_relaxation_steps_ascend() -> None:
    """R20: steps follow one another in time."""
    steps = [
        {"skills": [], "after_s": 0},
        {"skills": [], "after_s": 60},
        {"skills": [], "after_s": 60},
    ]
    data = changed(lambda d: d["workstreams"]["web_chat"]["route_to_queue"][0].update(steps=steps))
    assert only_issue(data).path == "workstreams.web_chat.route_to_queue[0].steps[2].after_s"


def test_queue_members_must_exist() -> None:
    """R16: members are defined agents."""
    data = changed(lambda d: d["queues"]["phone"].update(members=["bob", "carol"]))
    assert only_issue(data).path == "queues.phone.members[1]"


def test_queue_members_are_listed_once() -> None:
    """R41 duplicate names: an agent listed twice in a queue."""
    data = changed(lambda d: d["queues"]["phone"].update(members=["bob", "bob"]))
    assert only_issue(data) == ConfigIssue(
        path="queues.phone.members[1]", message="member 'bob' is given twice"
    )


def test_operating_hours_name_a_calendar() -> None:
    """R14: operating_hours names a defined calendar."""
    data = changed(lambda d: d["queues"]["billing_chat"].update(operating_hours="lyon"))
    assert only_issue(data).path == "queues.billing_chat.operating_hours"


def test_custom_assignment_expressions_must_compile() -> None:
    """R19: custom rule conditions and order_by expressions compile; method names are allowed."""
    rules = [
        {"when": "agent.", "order_by": "agent.free_units"},
        {"when": "true", "order_by": "round_robin"},
        {"when": "true", "order_by": "agent.free_units +"},
    ]
    assignment = {"method": "custom", "rules": rules}
    data = changed(lambda d: d["queues"]["phone"].update(assignment=assignment))
    paths = [issue.path for issue in issues_of(data)]
    assert paths == [
        "queues.phone.assignment.rules[0].when",
        "queues.phone.assignment.rules[2].order_by",
    ]


def test_prioritization_expressions_must_compile() -> None:
    """R7: prioritisation conditions and each ordering key compile."""
    rule = {"when": "true", "order_by": ["item.priority", {"by": "item.(", "desc": True}]}
    data = changed(lambda d: d["queues"]["phone"].update(prioritization=[rule]))
    assert only_issue(data).path == "queues.phone.prioritization[0].order_by[1].by"


def test_prioritization_rule_names_are_unique() -> None:
    """R41 duplicate names: two prioritisation rules with one name."""
    rules = [{"name": "vip", "when": "true"}, {"name": "vip", "when": "false"}]
    data = changed(lambda d: d["queues"]["phone"].update(prioritization=rules))
    assert only_issue(data).path == "queues.phone.prioritization[1].name"


def test_overflow_transfer_queue_must_exist() -> None:
    """R12: an overflow transfer names a defined queue."""
    rule = {"when": {"waited_s": 60}, "action": {"transfer": "general"}}
    data = changed(lambda d: d["queues"]["billing_chat"]["overflow"].append(rule))
    assert only_issue(data).path == "queues.billing_chat.overflow[1].action.transfer"


def test_overflow_transfer_keeps_the_kind() -> None:
    """R31, R41 kind mismatch: an overflow transfer goes to a queue of the same kind."""
    rule = {"when": {"waited_s": 60}, "action": {"transfer": "phone"}}
    data = changed(lambda d: d["queues"]["billing_chat"]["overflow"].append(rule))
    issue = only_issue(data)
    assert issue.path == "queues.billing_chat.overflow[1].action.transfer"
    assert "voice queue" in issue.message


def test_overflow_transfer_to_itself_is_refused() -> None:
    """R12: a queue overflowing to itself would loop."""
    rule = {"when": "no_agents", "action": {"transfer": "billing_chat"}}
    data = changed(lambda d: d["queues"]["billing_chat"]["overflow"].append(rule))
    assert only_issue(data).path == "queues.billing_chat.overflow[1].action.transfer"


def test_overflow_callback_goes_to_a_record_queue() -> None:
    """R12, R38: callbacks are record items, so their queue is a record queue."""
    rule = {"when": {"max_waiting": 5}, "action": {"callback": "general_chat"}}
    data = changed(lambda d: d["queues"]["phone"].update(overflow=[rule]))
    issue = only_issue(data)
    assert issue.path == "queues.phone.overflow[0].action.callback"
    assert "record" in issue.message


def test_overflow_callback_to_a_record_queue_is_valid() -> None:
    """R12: a voice queue may create callbacks in a record queue."""
    rule = {"when": {"max_waiting": 5}, "action": {"callback": "emails"}}
    data = changed(lambda d: d["queues"]["phone"].update(overflow=[rule]))
    assert config.validate(data).queues["phone"].overflow[0].action_kind == ("callback", "emails")


def waited(target: str, action: str = "transfer", seconds: int = 60) -> dict[str, Any]:
    """A post-queue rule moving the item to ``target`` after ``seconds`` (R13)."""
    return {"when": {"waited_s": seconds}, "action": {action: target}}


def test_r13_post_queue_transfers_in_a_cycle_are_refused_with_every_move_named() -> None:
    """R13, R41: q → q' → q by waited_s would circulate an unanswered item for ever; the issue
    sits at the first move and writes out every move of the cycle as its field path."""
    data = changed(lambda d: d["queues"]["billing_chat"]["overflow"].append(waited("general_chat")))
    data["queues"]["general_chat"]["overflow"] = [waited("billing_chat", seconds=90)]
    issue = only_issue(data)
    assert issue.path == "queues.general_chat.overflow[0].action.transfer"
    assert "queues.billing_chat.overflow[1].action.transfer" in issue.message
    assert "cycle" in issue.message


def test_r13_a_three_queue_cycle_is_reported_once() -> None:
    """R13, R41: a longer cycle is one issue, not one per queue on it."""
    data = base()
    data["queues"]["general_chat"]["overflow"] = [waited("billing_chat")]
    data["queues"]["billing_chat"]["overflow"] = [waited("extra_chat")]
    data["queues"]["extra_chat"] = {"kind": "messaging", "members": ["bob"],
                                    "overflow": [waited("general_chat")]}  # fmt: skip
    issue = only_issue(data)
    for queue in ("general_chat", "billing_chat", "extra_chat"):
        assert f"queues.{queue}.overflow[0].action.transfer" in issue.message


def test_r13_a_callback_back_into_its_own_record_queue_is_a_cycle() -> None:
    """R13, R38: a waited_s callback into the queue it waits in would make callbacks for ever."""
    data = changed(lambda d: d["queues"]["emails"].update(overflow=[waited("emails", "callback")]))
    assert only_issue(data).path == "queues.emails.overflow[0].action.callback"


def test_r12_pre_queue_transfers_may_point_at_each_other() -> None:
    """R12: pre-queue overflow runs once per item, so two queues may overflow into each other."""
    rule = {"when": {"max_waiting": 5}, "action": {"transfer": "billing_chat"}}
    data = changed(lambda d: d["queues"]["general_chat"].update(overflow=[rule]))
    data["queues"]["billing_chat"]["overflow"].append(waited("general_chat"))
    assert config.validate(data).queues["general_chat"].overflow[0].action_kind[1] == "billing_chat"


def test_r13_a_forward_chain_of_waited_s_moves_is_valid() -> None:
    """R13: q → q' → q'' by waited_s ends, so it is accepted."""
    data = changed(lambda d: d["queues"]["billing_chat"]["overflow"].append(waited("general_chat")))
    data["queues"]["general_chat"]["overflow"] = [waited("emails", "callback")]
    assert len(config.validate(data).queues["general_chat"].overflow) == 1


def test_agent_skills_must_exist() -> None:
    """R16: an agent's skills are defined."""
    data = changed(lambda d: d["agents"]["bob"]["skills"].update(spanish=3))
    assert only_issue(data).path == "agents.bob.skills.spanish"


def test_agent_skill_levels_fit_the_skill() -> None:
    """R16: an agent's level is within the skill's levels."""
    data = changed(lambda d: d["agents"]["bob"]["skills"].update(billing=9))
    assert only_issue(data) == ConfigIssue(
        path="agents.bob.skills.billing", message="level 9 of skill 'billing' is outside 1..5"
    )


def test_agent_profiles_must_exist() -> None:
    """R16: an agent's profiles are defined."""
    data = changed(lambda d: d["agents"]["bob"].update(profiles=["chat", "voice"]))
    assert only_issue(data).path == "agents.bob.profiles.voice"


def test_agent_calendar_must_exist() -> None:
    """R36: an agent's calendar is defined."""
    data = changed(lambda d: d["agents"]["bob"].update(calendar="lyon"))
    assert only_issue(data).path == "agents.bob.calendar"


def test_agent_default_presence_is_not_inactive() -> None:
    """SPEC §2: inactive is set by the system only."""
    data = changed(lambda d: d["agents"]["bob"].update(default_presence="inactive"))
    assert only_issue(data).path == "agents.bob.default_presence"


def test_token_agent_must_exist() -> None:
    """SPEC §6.3: an agent token is bound to a defined agent."""
    token = {"name": "t", "role": "agent", "agent": "carol", "sha256": "0" * 64}
    data = changed(lambda d: d.update(auth={"tokens": [token]}))
    assert only_issue(data).path == "auth.tokens[0].agent"


def test_token_names_are_unique() -> None:
    """R41 duplicate names: two tokens with one name."""
    token = {"name": "ops", "role": "admin", "sha256": "0" * 64}
    data = changed(lambda d: d.update(auth={"tokens": [token, token]}))
    assert only_issue(data).path == "auth.tokens[1].name"


# --- files and folders -------------------------------------------------------------------------


def test_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    """A YAML error is one issue naming the file and the line."""
    path = write(tmp_path, "broken.yaml", "queues:\n  q: {kind: voice\n  r: [\n")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    [issue] = caught.value.issues
    assert issue.path.startswith(f"{path}:")
    assert issue.message.startswith("invalid YAML")


def test_key_written_twice_in_one_file(tmp_path: Path) -> None:
    """R41 duplicate names: YAML keeps the last of two equal keys; validation reports them."""
    text = "queues:\n  q: {kind: voice}\n  q: {kind: record}\n"
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, "one.yaml", text))
    [issue] = caught.value.issues
    assert issue.path == "queues.q"
    assert "lines 2 and 3" in issue.message


def test_numeric_keys_are_read_as_names(tmp_path: Path) -> None:
    """Agent ids written as numbers are names, not integers."""
    loaded = config.load(write(tmp_path, "c.yaml", "agents: {1001: {}, no: {}}\n"))
    assert set(loaded.agents) == {"1001", "no"}


def test_missing_file_is_one_issue(tmp_path: Path) -> None:
    """A path that does not exist is reported, not raised as OSError."""
    with pytest.raises(ConfigError, match="no such file or folder"):
        config.load(tmp_path / "nope.yaml")


def test_folder_files_are_merged_key_by_key(tmp_path: Path) -> None:
    """A folder's YAML files merge top-level sections name by name."""
    write(tmp_path, "10-queues.yaml", "queues: {q: {kind: voice, members: [ann]}}\n")
    write(tmp_path, "20-agents.yml", "agents: {ann: {}}\n")
    write(tmp_path, "30-more.yaml", "version: 1\nqueues: {r: {kind: voice}}\n")
    write(tmp_path, "notes.txt", "not: [yaml")
    write(tmp_path, ".hidden.yaml", "queues: {q: {kind: record}}\n")
    loaded = config.load(tmp_path)
    assert set(loaded.queues) == {"q", "r"} and set(loaded.agents) == {"ann"}


def test_folder_issue_names_the_file_its_entry_came_from(tmp_path: Path) -> None:
    """In a folder, an issue tells which file the faulty name is defined in."""
    write(tmp_path, "a.yaml", "agents: {ann: {}}\n")
    write(tmp_path, "b.yaml", "queues: {q: {kind: voice, members: [bob]}}\n")
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    [issue] = caught.value.issues
    assert issue.path == "queues.q.members[0]"
    assert issue.message.endswith("(in b.yaml)")


def test_folder_files_disagreeing_on_a_value(tmp_path: Path) -> None:
    """A plain top-level value given differently by two files is an issue."""
    write(tmp_path, "a.yaml", "version: 1\n")
    write(tmp_path, "b.yaml", "version: 2\n")
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path)
    assert caught.value.issues[0].path == "version"
    assert "a.yaml" in caught.value.issues[0].message


def test_folder_without_yaml_files(tmp_path: Path) -> None:
    """An empty folder is an issue, not an empty configuration."""
    with pytest.raises(ConfigError, match="no YAML file"):
        config.load(tmp_path)


# --- catalogues (issue 16 item 5) ----------------------------------------------------------------


def test_custom_presences_and_wrap_up_codes_are_a_catalogue_of_the_configuration() -> None:
    """R32: custom presences map a label to a base presence; wrap-up codes list per workstream."""

    def catalogue(data: dict[str, Any]) -> None:
        data["presences"] = {"lunch": {"base": "away", "title": "Lunch"}}
        data["workstreams"]["web_chat"]["wrap_up"] = {"block": 30, "codes": ["resolved"]}

    loaded = config.validate(changed(catalogue))
    assert loaded.presences["lunch"].base.value == "away"
    assert loaded.workstreams["web_chat"].wrap_up.codes == ["resolved"]


def test_a_custom_presence_cannot_be_inactive() -> None:
    """R32: ``inactive`` is set by the system only, so no custom presence maps to it."""
    data = changed(lambda d: d.update(presences={"idle": {"base": "inactive"}}))
    issue = only_issue(data)
    assert issue.path == "presences.idle.base" and "system" in issue.message
