"""Scenario files (SPEC §7): parsing into frozen values, every action kind, bad scenarios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from unirouter.config import model
from unirouter.engine import CloseReason
from unirouter.errors import ConfigError, ConfigTooComplex
from unirouter.sim import actions, scenario

CONFIG = """
skills: {french: {levels: 10}}
capacity_profiles: {chat: {limit: 2}}
workstreams:
  chat: {kind: messaging, fallback_queue: q}
  tasks: {kind: record, fallback_queue: backlog}
queues:
  q: {kind: messaging, members: [alice, bob]}
  r: {kind: messaging, members: [bob]}
  backlog: {kind: record, members: [alice]}
agents:
  alice: {skills: {french: 5}, profiles: [chat]}
  bob: {}
"""


def parse(events: str = "[]", **top: Any) -> scenario.Scenario:
    """A scenario with the inline CONFIG, the given events (YAML) and top-level fields."""
    data = {"config": yaml.safe_load(CONFIG), "events": yaml.safe_load(events), **top}
    return scenario.parse(data)


def issues(data: dict[str, Any]) -> list[str]:
    """Every issue of a scenario, as ``path: message``."""
    with pytest.raises(ConfigError) as caught:
        scenario.parse(data)
    return [str(issue) for issue in caught.value.issues]


def bad(events: str, **top: Any) -> list[str]:
    data = {"config": yaml.safe_load(CONFIG), "events": yaml.safe_load(events), **top}
    return issues(data)


ITEM = "{at: 0s, item: {id: c1, workstream: chat}}"


# -- the scenario as a whole ----------------------------------------------------------------------------


def test_defaults_start_monday_seed_zero_and_automatic_answers() -> None:
    """SPEC §7: without start, seed or agent_behaviour: 2026-01-05 UTC, seed 0, accept at once."""
    loaded = parse(f"[{ITEM}]", duration="1h")
    assert loaded.start == datetime(2026, 1, 5, tzinfo=UTC)
    assert loaded.start.weekday() == 0
    assert (loaded.seed, loaded.duration) == (0, 3600.0)
    assert loaded.behaviour == scenario.AgentBehaviour(manual=False, accept=1.0, response_s=0.0)
    assert loaded.config_source == "inline"


def test_duration_defaults_to_the_last_scripted_event() -> None:
    """Without duration, the run covers the scripted events."""
    loaded = parse(f"[{ITEM}, {{at: 90s, complete: c1}}]")
    assert loaded.duration == 90.0


def test_start_is_an_iso_datetime_and_utc_when_no_offset_is_written() -> None:
    """start is the engine epoch; an offset is kept, a naive time is UTC."""
    assert parse(start="2026-03-02T09:30:00+01:00").start == datetime(
        2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse(start="2026-03-02T09:30:00").start == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_manual_behaviour_and_a_behaviour_model() -> None:
    """agent_behaviour: manual, or {accept: p, response_s: duration}."""
    assert parse(agent_behaviour="manual").behaviour.manual is True
    model_ = parse(agent_behaviour={"accept": 0.8, "response_s": "5s"}).behaviour
    assert model_ == scenario.AgentBehaviour(manual=False, accept=0.8, response_s=5.0)


def test_events_are_sorted_by_time_and_keep_their_written_order_on_ties() -> None:
    """`at` orders the events; equal times keep the order written; index is the written place."""
    loaded = parse(
        f"[{{at: 20s, complete: c1}}, {ITEM}, {{at: 20s, close: c1}}, {{at: 5s, park: c1}}]"
    )
    assert [(type(a).__name__, a.at, a.index) for a in loaded.events] == [
        ("Submit", 0.0, 1),
        ("Park", 5.0, 3),
        ("Complete", 20.0, 0),
        ("Close", 20.0, 2),
    ]


def test_config_file_is_read_relative_to_the_scenario_file(tmp_path: Path) -> None:
    """SPEC §7: `config: FILE` names a configuration next to the scenario."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "centre.yaml").write_text(CONFIG, encoding="utf-8")
    path = tmp_path / "run.yaml"
    path.write_text(f"config: conf/centre.yaml\nseed: 7\nevents: [{ITEM}]\n", encoding="utf-8")
    loaded = scenario.load(path)
    assert loaded.config_source == "conf/centre.yaml"
    assert set(loaded.config.agents) == {"alice", "bob"}
    assert (loaded.seed, loaded.source) == (7, path)


def test_bundled_demo_scenario_is_valid() -> None:
    """The scenario `unirouter demo` runs parses and uses every kind of item action it shows."""
    path = Path(scenario.__file__).parent.parent / "examples" / "demo_scenario.yaml"
    loaded = scenario.load(path)
    kinds = {type(action).__name__ for action in loaded.events}
    assert {"Submit", "Accept", "Decline", "Pick", "Park", "Resume", "Transfer"} <= kinds
    assert loaded.duration == 600.0


# -- every action kind ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            "{at: 1s, agent: alice, presence: away, label: lunch}",
            actions.SetPresence(
                at=1, index=1, agent="alice", presence=model.BasePresence.AWAY, label="lunch"
            ),
        ),
        (
            "{at: 2s, agent: alice, accept: c1}",
            actions.Accept(at=2, index=1, agent="alice", item="c1"),
        ),
        (
            "{at: 3s, agent: bob, decline: c1, reason: busy}",
            actions.Decline(at=3, index=1, agent="bob", item="c1", reason="busy"),
        ),
        ("{at: 4s, agent: bob, pick: c1}", actions.Pick(at=4, index=1, agent="bob", item="c1")),
        ("{at: 5s, complete: c1}", actions.Complete(at=5, index=1, item="c1")),
        ("{at: 6s, close: c1}", actions.Close(at=6, index=1, item="c1")),
        ("{at: 7s, park: c1}", actions.Park(at=7, index=1, item="c1")),
        ("{at: 8s, resume: c1}", actions.Resume(at=8, index=1, item="c1")),
        ("{at: 9s, cancel: c1}", actions.Cancel(at=9, index=1, item="c1")),
        (
            "{at: 9s, cancel: c1, reason: cancelled}",
            actions.Cancel(at=9, index=1, item="c1", reason=CloseReason.CANCELLED),
        ),
        (
            "{at: 10s, transfer: c1, queue: r}",
            actions.Transfer(at=10, index=1, item="c1", queue="r"),
        ),
        (
            "{at: 11s, transfer: c1, agent: bob}",
            actions.Transfer(at=11, index=1, item="c1", agent="bob"),
        ),
        (
            "{at: 12s, assign: c1, agent: bob}",
            actions.Assign(at=12, index=1, item="c1", agent="bob"),
        ),
        (
            "{at: 13s, agent: bob, disconnect: true}",
            actions.Disconnect(at=13, index=1, agent="bob"),
        ),
        ("{at: 14s, agent: bob, reconnect: true}", actions.Reconnect(at=14, index=1, agent="bob")),
        (
            "{at: 15s, agent: alice, accept: 'c1:callback'}",
            actions.Accept(at=15, index=1, agent="alice", item="c1:callback"),
        ),
    ],
)
def test_every_action_kind_parses_into_its_value(event: str, expected: actions.Action) -> None:
    """SPEC §7: each scripted action is one frozen value naming its agent and item."""
    loaded = parse(f"[{ITEM}, {event}]")
    assert loaded.events[1] == expected


def test_item_fields_are_read_with_times_from_the_start() -> None:
    """{item: ...}: id is the external id; time fields are durations from the start or ISO times."""
    item = """
    [{at: 0s, item: {id: c1, workstream: chat, channel: web, attributes: {topic: billing},
      customer: {tier: gold}, priority: 7, skills: [{name: french, level: 3, optional: true}],
      units: 20, profiles: [chat], available_at: 5m, callback_at: "2026-01-05T01:00:00Z",
      due_at: 2h, ttl_s: 90s, preferred_agents: [alice], phone: "+33 1 00", handle_s: 3m,
      wrap_up_s: 30}}]
    """
    spec = parse(item).items["c1"]
    assert spec == actions.ItemSpec(
        id="c1",
        workstream="chat",
        channel="web",
        attributes={"topic": "billing"},
        customer={"tier": "gold"},
        priority=7,
        skills=(model.SkillReq(name="french", level=3, optional=True),),
        units=20,
        profiles=("chat",),
        available_at=300.0,
        callback_at=3600.0,
        due_at=7200.0,
        ttl_s=90.0,
        preferred_agents=("alice",),
        phone="+33 1 00",
        handle_s=180.0,
        wrap_up_s=30.0,
    )


def test_skills_may_be_written_as_a_mapping_of_levels() -> None:
    """The short form {french: 5} means [{name: french, level: 5}]."""
    spec = parse("[{at: 0s, item: {id: c1, workstream: chat, skills: {french: 5}}}]").items["c1"]
    assert spec.skills == (model.SkillReq(name="french", level=5),)


def test_a_config_event_is_validated_and_its_names_may_be_used() -> None:
    """{config: {...}} applies a whole new configuration (R42); its new agents are known names."""
    new = yaml.safe_load(CONFIG)
    new["agents"]["zoe"] = {}
    new["queues"]["q"]["members"].append("zoe")
    data = {
        "config": yaml.safe_load(CONFIG),
        "events": [
            {"at": "1m", "config": new},
            {"at": "2m", "agent": "zoe", "presence": "away"},
        ],
    }
    loaded = scenario.parse(data)
    apply = loaded.events[0]
    assert isinstance(apply, actions.ApplyConfig)
    assert "zoe" in apply.config.agents and apply.source == "inline"


def test_repeating_an_item_on_its_workstream_is_allowed() -> None:
    """Intake is idempotent (external id per workstream): a repeat is a legal scripted action."""
    loaded = parse(f"[{ITEM}, {{at: 5s, item: {{id: c1, workstream: chat}}}}]")
    assert list(loaded.items) == ["c1"]
    assert len(loaded.events) == 2


# -- bad scenarios ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ("[{complete: c1}]", "events[0].at: this required field of a complete event is missing"),
        ("[{at: soon, complete: c1}]", "events[0].at: 'soon' is not a valid duration"),
        ("[{at: -5s, complete: c1}]", "events[0].at: '-5s' is not a valid duration"),
        ("[{at: 1s, agent: alice, accept: c9}]", "events[0].accept: unknown item 'c9'"),
        (
            "[{at: 1s, agent: alcie, pick: c1}]",
            "events[0].agent: unknown agent 'alcie'; did you mean 'alice'?",
        ),
        (
            "[{at: 1s, accept: c1}]",
            "events[0].agent: this required field of a accept event is missing",
        ),
        (
            "[{at: 1s, agent: alice, acept: c1}]",
            "events[0].acept: unknown action 'acept'; did you mean 'accept'?",
        ),
        ("[{at: 1s, agent: alice}]", "events[0]: names no action; expected one of presence, item"),
        ("[{at: 1s, complete: c1, close: c1}]", "events[0]: holds 2 actions (complete, close)"),
        ("[{at: 1s, complete: c1, agent: bob}]", "events[0].agent: unknown field 'agent'"),
        (
            "[{at: 1s, agent: bob, presence: inactive}]",
            "events[0].presence: inactive is set by the system only",
        ),
        (
            "[{at: 1s, agent: bob, presence: lunch}]",
            "events[0].presence: must be one of available, busy",
        ),
        (
            "[{at: 1s, transfer: c1}]",
            "events[0]: a transfer names exactly one target: queue or agent",
        ),
        (
            "[{at: 1s, transfer: c1, queue: r, agent: bob}]",
            "events[0]: a transfer names exactly one",
        ),
        ("[{at: 1s, transfer: c1, queue: nowhere}]", "events[0].queue: unknown queue 'nowhere'"),
        (
            "[{at: 1s, agent: bob, disconnect: false}]",
            "events[0].disconnect: must be true, not false",
        ),
        (
            "[{at: 1s, cancel: c1, reason: bored}]",
            "events[0].reason: must be abandoned or cancelled",
        ),
        (
            "[{at: 1s, item: {workstream: chat}}]",
            "events[0].item.id: this required field of an item is missing",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: mail}}]",
            "events[0].item.workstream: unknown workstream 'mail'",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: chat, priority: 100001}}]",
            "events[0].item.priority: must be between 0 and 100000",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: chat, colour: red}}]",
            "events[0].item.colour: unknown field 'colour'",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: chat, handle_s: long}}]",
            "events[0].item.handle_s: 'long' is not a valid duration",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: chat, skills: [{name: german}]}}]",
            "events[0].item.skills[0].name: unknown skill 'german'",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: chat, preferred_agents: [zed]}}]",
            "events[0].item.preferred_agents[0]: unknown agent 'zed'",
        ),
        (
            "[{at: 1s, item: {id: c1, workstream: chat, available_at: '2025-12-31T00:00:00Z'}}]",
            "events[0].item.available_at: is before the scenario's start",
        ),
        (
            f"[{ITEM}, {{at: 1s, item: {{id: c1, workstream: tasks}}}}]",
            "events[1].item.id: item 'c1' is already defined on workstream 'chat'",
        ),
        (
            "[{at: 1s, config: {queues: {q: {kind: voice, members: [zed]}}}}]",
            "events[0].config.queues.q.members[0]: unknown agent 'zed'",
        ),
        ("[42]", "events[0]: must be a mapping"),
        ("{}", "events: must be a list of scripted events"),
    ],
)
def test_a_bad_event_is_reported_with_its_path(events: str, expected: str) -> None:
    """SPEC §7, R41: each problem names its field (`events[3].accept`) and says what is wrong."""
    found = bad(events)
    assert any(issue.startswith(expected) for issue in found), found


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"duration": "forever"}, "duration: 'forever' is not a valid duration"),
        ({"duraton": "1h"}, "duraton: unknown field 'duraton'; did you mean 'duration'?"),
        ({"seed": "seven"}, "seed: must be a whole number, not 'seven'"),
        ({"start": "next monday"}, "start: 'next monday' is not an ISO date or datetime"),
        ({"agent_behaviour": "lazy"}, "agent_behaviour: must be 'manual' or a mapping"),
        ({"agent_behaviour": {"accept": 1.5}}, "agent_behaviour.accept: must be a probability"),
        ({"agent_behaviour": {"reply_s": 3}}, "agent_behaviour.reply_s: unknown field 'reply_s'"),
        ({"arrivals": []}, "duration: is required with arrivals"),
        ({"arrivals": {}}, "arrivals: must be a list of arrival sources"),
        (
            {"duration": "1h", "arrivals": [{"workstream": "chat"}]},
            "arrivals[0].rate: this required",
        ),
        (
            {
                "duration": "1h",
                "arrivals": [
                    {
                        "workstream": "chat",
                        "rate": "lots",
                        "handle_time": {"dist": "constant", "value_s": 1},
                    }
                ],
            },
            "arrivals[0].rate: 'lots' is not a valid rate",
        ),
        (
            {"duration": "1h", "arrivals": [{"workstream": "chta"}]},
            "arrivals[0].workstream: unknown workstream 'chta'; did you mean 'chat'?",
        ),
        (
            {
                "duration": "1h",
                "arrivals": [
                    {"workstream": "chat", "rate": "1/m", "handle_time": {"dist": "normal"}}
                ],
            },
            "arrivals[0].handle_time.dist: 'normal' is not a distribution",
        ),
        (
            {
                "duration": "1h",
                "arrivals": [
                    {
                        "workstream": "chat",
                        "rate": "1/m",
                        "handle_time": {"dist": "constant", "value_s": 1},
                        "attributes": {"lang": {"fr": 0.5, "en": 0.4}},
                    }
                ],
            },
            "arrivals[0].attributes.lang: probabilities must add up to 1, not 0.9",
        ),
        (
            {"duration": "1h", "arrivals": [{"workstream": "chat", "rte": 1}]},
            "arrivals[0].rte: unknown field 'rte'; did you mean 'rate'?",
        ),
        (
            {"shifts": [{"agents": ["alcie"], "from": "1h"}]},
            "shifts[0].agents[0]: unknown agent 'alcie'",
        ),
        (
            {"shifts": [{"agents": ["alice"], "from": "2h", "to": "1h"}]},
            "shifts[0].to: must come after",
        ),
        ({"replications": 0}, "replications: must be between 1 and 100000"),
        ({"busyness": {"dist": "gamma", "shape": 2}}, "busyness: a gamma distribution takes"),
        ({"duration": "1h", "warmup": "2h"}, "warmup: must be shorter than the duration"),
    ],
)
def test_a_bad_top_level_field_is_reported_with_its_path(
    top: dict[str, Any], expected: str
) -> None:
    """Top-level fields are checked like events, generated-traffic ones included (SPEC §7)."""
    found = bad("[]", **top)
    assert any(issue.startswith(expected) for issue in found), found


def test_an_invalid_inline_configuration_is_reported_under_config() -> None:
    """R41: the inline configuration is validated as a whole; its paths sit under `config`."""
    data = yaml.safe_load(CONFIG)
    data["queues"]["q"]["members"] = ["zoe"]
    found = issues({"config": data, "events": []})
    assert found[0].startswith("config.queues.q.members[0]: unknown agent 'zoe'")


def test_a_missing_configuration_is_reported() -> None:
    """`config` is required, and a file must exist (relative to the scenario)."""
    assert issues({"events": []})[0].startswith("config: this required field is missing")
    assert issues({"config": "nope.yaml"})[0].startswith(
        "config: no such file or folder: nope.yaml"
    )


def test_every_issue_is_reported_at_once() -> None:
    """R41's manner: one ConfigError listing every problem, not the first only."""
    found = bad("[{at: x, complete: c9}, {at: 1s, agent: zed, presence: away}]", seed=True)
    paths = [issue.split(":")[0] for issue in found]
    assert paths == ["seed", "events[0].at", "events[0].complete", "events[1].agent"]


def test_a_scenario_file_with_a_repeated_key_names_the_line(tmp_path: Path) -> None:
    """A key written twice is an issue at its field naming the file and both lines, not a silent
    overwrite: the same reader and the same words as a configuration file."""
    path = tmp_path / "run.yaml"
    path.write_text("config: {}\nevents: []\nevents: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        scenario.load(path)
    [issue] = caught.value.issues
    assert issue.path == "events"
    assert issue.message == f"'events' is written twice in {path} (lines 2 and 3)"


def test_a_scenario_file_is_read_within_the_configuration_bounds(tmp_path: Path) -> None:
    """A scenario file is YAML from a user too: an alias bomb is refused at once, by the bound it
    passes, rather than expanded (issue 17 item 4, the same reader as configuration files)."""
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, "
             f"*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 9)]  # fmt: skip
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(["config: {}", "events: []", *rows]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigTooComplex) as caught:
        scenario.load(path)
    assert caught.value.limit_name == "max_nodes"


def test_a_missing_scenario_file_is_one_issue(tmp_path: Path) -> None:
    """A scenario path that does not exist is reported as such."""
    with pytest.raises(ConfigError) as caught:
        scenario.load(tmp_path / "none.yaml")
    assert [str(i) for i in caught.value.issues] == [f"{tmp_path / 'none.yaml'}: no such file"]


def test_a_scenario_must_be_a_mapping() -> None:
    """A list at the top is not a scenario."""
    assert issues([1, 2])[0] == "a scenario must be a mapping (config, duration, events, …)"  # type: ignore[arg-type]
