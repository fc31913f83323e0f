"""Capture files and replays in-process (issue 13): bad input named by line and field, skips
counted, the handle-time and patience models, and exact reproduction of a simulated day."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from unirouter import config as configuration
from unirouter.server import commands
from unirouter.sim import runner, scenario
from unirouter.storage import memory, port
from unirouter.whatif import capture, demand, replay

DAY = """
config:
  workstreams:
    chat: {kind: messaging, fallback_queue: q, capacity: {units: 100}}
    mail: {kind: record, fallback_queue: m, capacity: {units: 50}}
  queues:
    q: {kind: messaging, members: [a, b], service_level_s: 20, short_abandon_s: 5}
    m: {kind: record, members: [b, c]}
  agents:
    a: {attributes: {group: g1}}
    b: {attributes: {group: g1}}
    c: {attributes: {group: g2}}
duration: 2h
seed: 5
agent_behaviour: {accept: 1.0, response_s: 4}
arrivals:
  - {workstream: chat, rate: 50/h, attributes: {lang: {fr: 0.5, en: 0.5}},
     handle_time: {dist: exponential, mean_s: 200}, patience: {dist: exponential, mean_s: 150}}
  - {workstream: mail, rate: 10/h, handle_time: {dist: exponential, mean_s: 300}, wrap_up_s: 20}
shifts:
  - {agents: [a], from: 0h, to: 90m}
  - {agents: [b, c], from: 15m}
"""


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, Any]]:
    """A simulated day's events file captured, with the scenario and its own KPIs."""
    day = scenario.parse(yaml.safe_load(DAY))
    stream = io.StringIO()
    result = runner.run(day, observers=[runner.EventsFile(stream)])
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    taken = capture.from_events(events, day.config, None, None, "events")
    path = tmp_path_factory.mktemp("whatif") / "day.jsonl"
    path.write_text("\n".join(capture.lines(taken)) + "\n")
    return path, day, result.to_dict()


def test_a_replay_of_a_simulated_day_under_its_configuration_reproduces_it(
    captured: tuple[Path, Any, dict[str, Any]],
) -> None:
    """Same engine, same demand, recorded handle times and patience, agents answering as
    recorded (always, after 4 s): the same KPIs."""
    path, day, original = captured
    done = replay.replay(demand.read(path), day.config).to_dict()
    for key in ("arrived", "answered", "abandoned", "short_abandoned"):
        assert done["totals"][key] == original["totals"][key]
    for key in ("asa_s", "aht_s", "service_level"):
        assert done["totals"][key] == pytest.approx(original["totals"][key], rel=1e-6)


def test_the_capture_carries_what_items_were_submitted_with(
    captured: tuple[Path, Any, dict[str, Any]],
) -> None:
    """Items keep attributes, handle time, wrap-up and patience; agents their timeline."""
    read = demand.read(captured[0])
    chats = [i for i in read.items if i["workstream"] == "chat"]
    assert {i["attributes"]["lang"] for i in chats} == {"fr", "en"}
    assert any(i["patience_s"] is not None for i in chats)
    assert all(i["handle_s"] > 0 for i in read.items if i["outcome"] == "completed")
    assert any(i["wrap_up_s"] > 0 for i in read.items if i["workstream"] == "mail")
    assert {line["agent"] for line in read.timeline} == {"a", "b", "c"}
    assert read.header["version"] == capture.VERSION


def _write(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def _header(**changes: Any) -> dict[str, Any]:
    return {"format": "unirouter-capture", "version": 1, "from": 0, "to": 60,
            "duration_s": 60, "config": {}, "agents": {}, **changes}  # fmt: skip


def _item(**changes: Any) -> dict[str, Any]:
    base = {"kind": "item", "t": 1.0, "id": "x", "workstream": "chat", "channel": None,
            "priority": None, "attributes": {}, "customer": {}, "skills": [], "agent": "a",
            "handle_s": 30.0, "wrap_up_s": 0.0, "patience_s": None, "wait_s": 0.0,
            "response_s": None, "outcome": "completed"}  # fmt: skip
    return {**base, **changes}


@pytest.mark.parametrize(
    ("lines", "line", "field"),
    [
        ([_header(version=2)], 1, "version"),
        ([_header(format="other")], 1, "format"),
        ([_header(duration_s="long")], 1, "duration_s"),
        ([_header(), _item(), {k: v for k, v in _item().items() if k != "workstream"}], 3,
         "workstream"),
        ([_header(), _item(t="soon")], 2, "t"),
        ([_header(), _item(handle_s=True)], 2, "handle_s"),
        ([_header(), {"kind": "mystery"}], 2, "kind"),
    ],
)  # fmt: skip
def test_a_bad_capture_file_is_refused_naming_its_line_and_field(
    tmp_path: Path, lines: list[dict[str, Any]], line: int, field: str
) -> None:
    """Issue 13 bad input: another version, a missing field, a wrong type: line and field."""
    with pytest.raises(demand.CaptureError) as caught:
        demand.read(_write(tmp_path, lines))
    assert (caught.value.line, caught.value.field) == (line, field)
    assert f":{line}: {field}:" in str(caught.value)


def test_a_line_that_is_not_json_is_refused_naming_it(tmp_path: Path) -> None:
    """A broken line: its number in the message."""
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(_header()) + "\n{oops\n")
    with pytest.raises(demand.CaptureError, match=r":2: not JSON"):
        demand.read(path)


def test_items_of_workstreams_the_candidate_lacks_are_skipped_and_counted(
    captured: tuple[Path, Any, dict[str, Any]],
) -> None:
    """Issue 13 bad input: unknown workstreams are a counted, reported skip, never silent."""
    path, _day, _ = captured
    data = configuration.validate(yaml.safe_load(DAY)["config"]).model_dump(mode="json")
    data["workstreams"].pop("mail")
    data["queues"].pop("m")
    candidate = configuration.validate(data)
    done = replay.replay(demand.read(path), candidate)
    mails = sum(1 for i in demand.read(path).items if i["workstream"] == "mail")
    assert done.skipped == {"unknown workstream mail": mails} and mails > 0
    assert done.to_dict()["totals"]["arrived"] == done.items


def test_another_agent_takes_the_handle_time_of_its_own_record() -> None:
    """The handle-time model: the recorded agent keeps the recorded time; another agent's is
    drawn from its own recorded times on the workstream."""
    items = [_item(id="1", agent="a", handle_s=10.0), _item(id="2", agent="b", handle_s=500.0),
             _item(id="3", agent="b", handle_s=700.0)]  # fmt: skip
    recorded = demand.Recorded(items, seed=1, resample=False)
    recorded.next_time(0, 0.0)
    made = recorded.item(0)
    assert made.handle_for is not None
    assert made.handle_for("a") == 10.0
    assert {made.handle_for("b") for _ in range(20)} <= {500.0, 700.0}


def test_a_censored_patience_is_never_shorter_than_the_recorded_wait() -> None:
    """Kaplan–Meier patience, conditioned on the wait the customer is known to have accepted."""
    observed = [(float(t), t % 3 == 0) for t in range(1, 60)]
    estimate = demand._Patience(observed)
    rng = random.Random(4)
    draws = [estimate.draw_beyond(30.0, rng) for _ in range(200)]
    assert all(d is None or d > 30.0 for d in draws)
    assert any(d is None for d in draws) and any(d is not None for d in draws)


def test_a_server_log_starts_its_awaited_agents_offline_and_disconnected() -> None:
    """Issue 13 with issue 16 item 1: a server that awaits connections starts every agent it
    configures offline and not connected without an event saying so; the capture's start state
    says it, so the replay's first recorded connection finds the agent disconnected."""
    day = scenario.parse(yaml.safe_load(DAY))
    data = commands.config_json(day.config)
    store = memory.MemoryStore()
    init = {"op": "init", "t": 100.0, "args": {"config": data, "await_connections": True}}
    added = {**data, "agents": {**data["agents"], "d": {}}}
    records = [
        (port.RecordKind.COMMAND, init),
        (port.RecordKind.EVENT, {"type": "agent_connected", "t": 110.0, "seq": 1, "agent": "a"}),
        (port.RecordKind.COMMAND, {"op": "apply_config", "t": 120.0, "args": {"config": added}}),
    ]
    store.append([port.Record(kind=k, body=json.dumps(b)) for k, b in records])
    taken = capture.from_store(store, 105.0, 200.0, "test")
    offline = {"connected": False, "presence": "offline"}
    assert taken.header["agents"] == {name: offline for name in ("a", "b", "c")}
    assert taken.timeline == [
        {"kind": "agent", "t": 5.0, "agent": "a", "connected": True},
        {"kind": "agent", "t": 15.0, "agent": "d", **offline},
    ]
