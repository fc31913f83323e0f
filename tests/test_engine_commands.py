"""One command vocabulary and one event wire format (issue 14 item 3).

Every command record round-trips through its JSON log form; a record that does not decode names
the field; a log written in the format the server has always written (records spelled out here by
hand) still replays, refusals of older builds included; the server logs a typed command as the
same record; and an event's object and bytes decode back into the same event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from unirouter import config as configuration
from unirouter import errors
from unirouter.config import model
from unirouter.engine import CloseReason, Engine, Event, EventType, ItemState, ManualClock, events
from unirouter.engine import commands as c
from unirouter.server import EngineHost, replay
from unirouter.storage import MemoryStore, Record, RecordKind

CONFIG = """
skills: {french: {}}
workstreams:
  chat: {kind: messaging, fallback_queue: chat_q}
queues:
  chat_q: {kind: messaging, members: [alice, bob]}
agents: {alice: {}, bob: {}}
"""


def _config() -> model.Config:
    return configuration.validate(yaml.safe_load(CONFIG))


# -- every record round-trips -------------------------------------------------------------------

names = st.text(min_size=1, max_size=8)
maybe_names = st.none() | names
numbers = st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
name_tuples = st.none() | st.lists(names, min_size=1, max_size=3).map(tuple)
skills = st.none() | st.lists(
    st.builds(model.SkillReq, name=names, level=st.integers(1, 9), optional=st.booleans()),
    min_size=1,
    max_size=3,
).map(tuple)

RECORDS: dict[type[c.Record], st.SearchStrategy[c.Record]] = {
    c.Submit: st.builds(
        c.Submit,
        external_id=names,
        workstream=names,
        item_id=maybe_names,
        channel=maybe_names,
        attributes=st.none() | objects,
        customer=st.none() | objects,
        priority=st.none() | st.integers(0, 100_000),
        skills=skills,
        units=st.none() | st.integers(0, 100),
        profiles=name_tuples,
        available_at=st.none() | numbers,
        callback_at=st.none() | numbers,
        phone=maybe_names,
        due_at=st.none() | numbers,
        ttl_s=st.none() | numbers,
        preferred_agents=name_tuples,
    ),
    c.UpdateItem: st.builds(
        c.UpdateItem, item=names, attributes=st.none() | objects, priority=st.none() | st.integers()
    ),
    c.Cancel: st.builds(c.Cancel, item=names, reason=st.sampled_from(CloseReason)),
    c.Accept: st.builds(c.Accept, offer=names, agent=names),
    c.Decline: st.builds(c.Decline, offer=names, agent=names, reason=maybe_names),
    c.Pick: st.builds(c.Pick, item=names, agent=names),
    c.Complete: st.builds(c.Complete, item=names, wrap_up=st.booleans(), code=maybe_names),
    c.WrapUp: st.builds(c.WrapUp, item=names, code=maybe_names),
    c.Close: st.builds(c.Close, item=names, code=maybe_names),
    c.Park: st.builds(c.Park, item=names),
    c.Resume: st.builds(c.Resume, item=names),
    c.Transfer: st.builds(
        c.Transfer, item=names, queue=maybe_names, agent=maybe_names, by=maybe_names
    ),
    c.ForceAssign: st.builds(c.ForceAssign, item=names, agent=names, by=maybe_names),
    c.SetPresence: st.builds(
        c.SetPresence, agent=names, presence=st.sampled_from(model.BasePresence), label=maybe_names
    ),
    c.Disconnect: st.builds(c.Disconnect, agent=names),
    c.Reconnect: st.builds(c.Reconnect, agent=names),
    c.ApplyConfig: st.builds(
        c.ApplyConfig, config=st.just(_config()), rollback_of=st.none() | st.integers(1, 99)
    ),
    c.Advance: st.just(c.Advance()),
    c.Message: st.builds(
        c.Message,
        item=names,
        number=st.none() | st.integers(1, 999),
        sender=maybe_names,
        text=st.none() | st.text(max_size=20),
        attributes=st.none() | objects,
        at=st.none() | numbers,
        agent=maybe_names,
        resume=st.booleans(),
    ),
    c.Channel: st.builds(c.Channel, data=objects),
    c.Init: st.builds(c.Init, config=objects, await_connections=st.booleans()),
}


def test_every_record_of_the_log_has_a_strategy() -> None:
    """The round trip below covers the whole vocabulary: every ``op`` the log may hold."""
    assert {kind.op for kind in RECORDS} == c.OPS


@given(record=st.one_of(*RECORDS.values()))
def test_every_record_round_trips_through_its_json_log_form(record: c.Record) -> None:
    """Issue 14 item 3: ``from_dict(json(to_dict(r))) == r`` for every command record, and the
    record decodes from its log fields ``op`` and ``args`` the same way."""
    text = json.dumps({**record.to_dict(), "t": 12.5}, allow_nan=False)
    assert c.Record.from_dict(json.loads(text)) == record
    assert type(record).from_dict(json.loads(text)) == record
    body = json.loads(text)
    assert c.decode(body["op"], body["args"]) == record


@pytest.mark.parametrize(
    ("op", "args", "field"),
    [
        ("submit", {"workstream": "chat"}, "args.external_id"),
        ("submit", {"external_id": 7, "workstream": "chat"}, "args.external_id"),
        ("submit", {"external_id": "x", "workstream": "chat", "priority": "high"}, "args.priority"),
        ("submit", {"external_id": "x", "workstream": "chat", "priority": True}, "args.priority"),
        ("submit", {"external_id": "x", "workstream": "chat", "profiles": "a"}, "args.profiles"),
        (
            "submit",
            {"external_id": "x", "workstream": "chat", "profiles": ["a", 1]},
            "args.profiles[1]",
        ),
        (
            "submit",
            {"external_id": "x", "workstream": "chat", "skills": [{"level": 2}]},
            "args.skills[0]",
        ),
        ("submit", {"external_id": "x", "workstream": "chat", "colour": "red"}, "args.colour"),
        ("presence", {"agent": "alice", "presence": "asleep"}, "args.presence"),
        ("cancel", {"item": "i", "reason": "bored"}, "args.reason"),
        ("complete", {"item": "i", "wrap_up": "yes"}, "args.wrap_up"),
        ("accept", {"offer": "o"}, "args.agent"),
        ("channel", [], "args"),
        ("teleport", {}, "op"),
    ],
)
def test_a_record_that_does_not_decode_names_its_field(op: str, args: Any, field: str) -> None:
    """Bad input: a clear error naming the field (STYLE), raised before anything runs."""
    with pytest.raises(errors.InvalidCommand) as caught:
        c.decode(op, args)
    assert caught.value.fields["field"] == field
    assert field.split("[")[0].removeprefix("args.") in caught.value.message


def test_a_record_of_another_kind_is_refused_by_a_subclass() -> None:
    with pytest.raises(errors.InvalidCommand) as caught:
        c.Accept.from_dict({"op": "pick", "args": {"item": "i", "agent": "a"}})
    assert caught.value.fields["field"] == "op"


def test_records_are_frozen() -> None:
    record = c.Pick(item="i", agent="alice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.item = "j"  # type: ignore[misc]


def test_execute_runs_the_one_engine_method_a_record_names() -> None:
    """``execute`` is the one way to run a record: the same events as the method itself."""
    by_method = Engine(_config(), clock=ManualClock(0.0))
    by_method.set_presence("alice", model.BasePresence.AVAILABLE)
    item = by_method.submit(external_id="x", workstream="chat", priority=3)
    by_record = Engine(_config(), clock=ManualClock(0.0))
    c.execute(by_record, c.SetPresence(agent="alice", presence=model.BasePresence.AVAILABLE))
    made = c.execute(by_record, c.Submit(external_id="x", workstream="chat", priority=3))
    assert made == by_record.item(item.id) and by_record.item(item.id).state is ItemState.OFFERED
    assert by_record.drain_events() == by_method.drain_events()


# -- a log in the format written before ---------------------------------------------------------


def _log(*records: tuple[dict[str, Any], list[dict[str, Any]]]) -> MemoryStore:
    store = MemoryStore()
    out: list[Record] = []
    for command, logged in records:
        out.append(Record(kind=RecordKind.COMMAND, body=json.dumps(command)))
        out += [
            Record(kind=RecordKind.EVENT, body=json.dumps(e, separators=(",", ":"))) for e in logged
        ]
    store.append(out)
    return store


def test_a_log_in_the_format_written_before_still_replays() -> None:
    """Issue 14 item 3: records as the server wrote them before the vocabulary was typed (op
    names ``presence``, ``assign``; a refusal an older build raised in its own argument handling,
    logged as ``KeyError``) replay to the same events and the same state."""
    config = json.loads(json.dumps(c.ApplyConfig(config=_config()).args()["config"]))
    t = 1_700_000_000.0
    reference = Engine(_config(), clock=(clock := ManualClock(t)), await_connections=True)
    created = reference.drain_events()
    clock.set(t + 1)
    reference.set_presence("alice", model.BasePresence.AVAILABLE)
    presence = [e.to_dict() for e in reference.drain_events()]
    clock.set(t + 2)
    reference.submit(external_id="old-1", workstream="chat", item_id="01OLD1", priority=5)
    submitted = [e.to_dict() for e in reference.drain_events()]
    clock.set(t + 3)
    reference.force_assign("01OLD1", agent="bob", by="sup")
    assigned = [e.to_dict() for e in reference.drain_events()]
    store = _log(
        ({"op": "init", "t": t, "args": {"config": config, "await_connections": True}},
         [e.to_dict() for e in created]),
        ({"op": "presence", "t": t + 1, "args": {"agent": "alice", "presence": "available"}, "actor": "alice"},
         presence),
        ({"op": "submit", "t": t + 2, "args": {"external_id": "old-1", "workstream": "chat", "priority": 5,
                                               "item_id": "01OLD1"}}, submitted),
        ({"op": "assign", "t": t + 3, "args": {"item": "01OLD1", "agent": "bob", "by": "sup"}}, assigned),
        ({"op": "cancel", "t": t + 4, "args": {}, "refused": "KeyError"}, []),
        ({"op": "advance", "t": t + 5, "args": {}}, []),
    )  # fmt: skip
    restored = replay.replay(store, retain_closed=None)
    assert restored is not None and restored.commands == 6
    item = restored.engine.item("01OLD1")
    assert (item.state, item.agent, item.priority) == (ItemState.ASSIGNED, "bob", 5)
    assert restored.engine.agent("alice").presence is model.BasePresence.AVAILABLE


def test_a_logged_record_that_does_not_decode_is_reported_with_its_field() -> None:
    """A damaged command record (not a refusal) stops the replay with the cursor and the field."""
    config = c.ApplyConfig(config=_config()).args()["config"]
    started = [e.to_dict() for e in Engine(_config(), clock=ManualClock(5.0)).drain_events()]
    store = _log(
        ({"op": "init", "t": 5.0, "args": {"config": config}}, started),
        ({"op": "presence", "t": 6.0, "args": {"agent": "alice", "presence": 3}}, []),
    )  # fmt: skip
    with pytest.raises(replay.LogCorrupt) as caught:
        replay.replay(store, retain_closed=None)
    assert caught.value.cursor == 2 + len(started) and "args.presence" in str(caught.value)


def test_the_server_logs_a_typed_command_as_its_record() -> None:
    """The host runs a record of the vocabulary and logs exactly ``to_dict`` of it (plus ``t``)."""

    async def run() -> EngineHost:
        host = EngineHost(MemoryStore())
        host.restore(_config())
        await host.start()
        _, error = host.execute(c.SetPresence(agent="alice", presence=model.BasePresence.AWAY))
        assert error is None
        await host.barrier()
        return host

    host = asyncio.run(run())
    logged = [json.loads(r.body) for r in host.store.read(0, 100) if r.kind is RecordKind.COMMAND]
    last = logged[-1]
    assert {"op": last["op"], "args": last["args"]} == {
        "op": "presence",
        "args": {"agent": "alice", "presence": "away"},
    }
    assert c.Record.from_dict(last) == c.SetPresence(
        agent="alice", presence=model.BasePresence.AWAY
    )


# -- one event wire format -----------------------------------------------------------------------

event_data = st.dictionaries(
    st.sampled_from(["reason", "expires_at", "external_id", "presence", "note"]),
    json_values,
    max_size=3,
)


@given(
    event=st.builds(
        Event,
        seq=st.integers(1, 10**9),
        t=st.floats(0, 1e10, allow_nan=False),
        type=st.sampled_from(EventType),
        item=maybe_names,
        agent=maybe_names,
        queue=maybe_names,
        offer=maybe_names,
        data=event_data,
    )
)
def test_an_event_round_trips_through_its_object_and_its_bytes(event: Event) -> None:
    """``Event.from_dict(to_dict(e)) == e``, and the bytes :func:`events.encode` writes (the log,
    the SSE stream, the simulator's ``--events`` file) decode to the same event."""
    assert Event.from_dict(event.to_dict()) == event
    assert Event.from_dict(json.loads(events.encode(event))) == event
    assert events.encode(event).isascii()


def test_a_non_finite_number_is_no_strict_event() -> None:
    """Issue 17: the log holds strict JSON only; a replay compares leniently."""
    event = Event(1, 0.0, EventType.ITEM_UPDATED, item="i", data={"score": math.nan})
    with pytest.raises(ValueError):
        events.encode(event)
    assert b"NaN" in events.encode(event, strict=False)
