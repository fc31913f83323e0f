"""Every scripted action of SPEC §7 does what the library call of SPEC §6.1 does.

Each test runs one scenario twice: through the simulator (``{at, action}`` lines, manual agents)
and through the engine's own methods on a manual clock, firing due deadlines the same way, and
compares the two event logs field by field. A scripted action that takes a shortcut the library
does not (the defect of issue 11: a scripted ``complete`` that skipped wrap-up) shows up as a
difference in the logs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import yaml

from unirouter import config as configuration
from unirouter.config import model
from unirouter.engine import Engine
from unirouter.engine.clock import ManualClock
from unirouter.sim import runner, scenario

CONFIG = """
workstreams:
  chat:
    kind: messaging
    fallback_queue: q
    capacity: {units: 100}
    offer: {timeout_s: 30}
    wrap_up: {block: 60}
    affinity: {enabled: true}
  cases: {kind: record, mode: pick, fallback_queue: inbox, capacity: {units: 50}}
queues:
  q: {kind: messaging, members: [alice, bob], assignment: {method: round_robin}}
  r: {kind: messaging, members: [carol]}
  inbox: {kind: record, members: [alice, bob]}
agents: {alice: {}, bob: {}, carol: {}}
"""
#: Both logs are compared up to this time: the simulator's drain goes on past the script's end.
HORIZON = 300.0

Step = tuple[float, Callable[["Library"], object]]


class Library:
    """The engine driven directly: named items, the agent's open offer, deadlines fired in order."""

    def __init__(self, config: str = CONFIG) -> None:
        self.clock = ManualClock(0.0)
        self.engine = Engine(configuration.validate(yaml.safe_load(config)), clock=self.clock)
        self.ids: dict[str, str] = {}

    def submit(self, name: str, workstream: str = "chat", **fields: Any) -> None:
        self.ids[name] = self.engine.submit(external_id=name, workstream=workstream, **fields).id

    def item(self, name: str) -> str:
        return self.ids[name]

    def offer(self, name: str) -> str:
        offer = self.engine.item(self.ids[name]).offer
        assert offer is not None, f"{name} has no open offer"
        return offer

    def until(self, t: float) -> None:
        """Fire every deadline due before ``t``, then stand at ``t`` (as the simulator does)."""
        while (due := self.engine.next_deadline()) is not None and due <= t:
            self.clock.set(max(due, self.clock.now()))
            self.engine.advance()
        self.clock.set(max(t, self.clock.now()))

    def log(self, steps: list[Step]) -> list[dict[str, Any]]:
        for t, act in steps:
            self.until(t)
            act(self)
        self.until(HORIZON)
        return [event.to_dict() for event in self.engine.drain_events()]


def simulated(events: str, config: str = CONFIG) -> list[dict[str, Any]]:
    """The event log of the scenario ``events`` as `unirouter simulate --events` writes it."""
    data = {"config": yaml.safe_load(config), "agent_behaviour": "manual", "duration": "10m"}
    data["events"] = yaml.safe_load(events)
    stream = io.StringIO()
    runner.run(scenario.parse(data), observers=[runner.EventsFile(stream)])
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def same(events: str, steps: list[Step], config: str = CONFIG) -> list[dict[str, Any]]:
    """Assert both paths give the same log up to the horizon; return it."""
    sim = [_engine_fields(e) for e in simulated(events, config) if e["t"] <= HORIZON]
    lib = json.loads(json.dumps(Library(config).log(steps), default=str))
    assert sim == lib
    return sim


def _engine_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event as the engine emits it: the events file adds what an intake carried to
    ``item_created`` lines (for `unirouter capture`), which the library's event leaves out."""
    if event["type"] != "item_created":
        return event
    return {k: v for k, v in event.items() if k not in ("attributes", "customer", "skills")}


def types(log: list[dict[str, Any]]) -> list[tuple[float, str]]:
    return [(e["t"], e["type"]) for e in log if e["type"] != "presence_changed"]


def test_complete_goes_to_wrap_up_and_holds_capacity_for_the_block() -> None:
    """{complete} under `wrap_up: {block: 60}` enters wrap-up (R33) exactly as Engine.complete does:
    the next item is offered when the block ends at 70 s, not at the complete (issue 11)."""
    one_agent = CONFIG.replace("members: [alice, bob], assignment", "members: [alice], assignment")
    log = same(
        """
        - {at: 1s, item: {id: a, workstream: chat}}
        - {at: 2s, agent: alice, accept: a}
        - {at: 3s, item: {id: b, workstream: chat}}
        - {at: 10s, complete: a}
        """,
        [
            (1.0, lambda lib: lib.submit("a")),
            (2.0, lambda lib: lib.engine.accept(lib.offer("a"), agent="alice")),
            (3.0, lambda lib: lib.submit("b")),
            (10.0, lambda lib: lib.engine.complete(lib.item("a"))),
        ],
        config=one_agent,
    )
    offers = [(e["t"], e["item"]) for e in log if e["type"] == "offer_made"]
    assert offers[:2] == [(1.0, "w000000001"), (70.0, "w000000002")]
    assert (10.0, "item_wrap_up") in types(log)
    assert not [e for e in log if e["type"] == "item_closed"]


def test_complete_without_a_configured_wrap_up_closes_at_once() -> None:
    """{complete} on a workstream that configures no wrap-up is Engine.complete(wrap_up=False)."""
    plain = CONFIG.replace("    wrap_up: {block: 60}\n", "")
    log = same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 2s, agent: alice, accept: a},"
        " {at: 10s, complete: a}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (2.0, lambda lib: lib.engine.accept(lib.offer("a"), agent="alice")),
            (10.0, lambda lib: lib.engine.complete(lib.item("a"), wrap_up=False)),
        ],
        config=plain,
    )
    assert (10.0, "item_closed") in types(log)
    assert "item_wrap_up" not in [e["type"] for e in log]


def test_close_from_wrap_up_is_engine_close() -> None:
    """{close} after {complete} ends the wrap-up as Engine.close does (R33: capacity freed then)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 2s, agent: alice, accept: a},"
        " {at: 10s, complete: a}, {at: 20s, close: a}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (2.0, lambda lib: lib.engine.accept(lib.offer("a"), agent="alice")),
            (10.0, lambda lib: lib.engine.complete(lib.item("a"))),
            (20.0, lambda lib: lib.engine.close(lib.item("a"))),
        ],
    )


def test_presence_is_engine_set_presence() -> None:
    """{agent, presence} is Engine.set_presence (R32)."""
    same(
        "[{at: 0s, agent: alice, presence: away}, {at: 5s, item: {id: a, workstream: chat}},"
        " {at: 60s, agent: alice, presence: available}]",
        [
            (0.0, lambda lib: lib.engine.set_presence("alice", model.BasePresence.AWAY)),
            (5.0, lambda lib: lib.submit("a")),
            (60.0, lambda lib: lib.engine.set_presence("alice", model.BasePresence.AVAILABLE)),
        ],
    )


def test_decline_is_engine_decline_with_its_reason() -> None:
    """{agent, decline, reason} is Engine.decline (R25): the item goes to the other agent."""
    log = same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 4s, agent: alice, decline: a, reason: busy}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (4.0, lambda lib: lib.engine.decline(lib.offer("a"), agent="alice", reason="busy")),
        ],
    )
    assert [e["reason"] for e in log if e["type"] == "offer_declined"] == ["busy"]


def test_pick_is_engine_pick() -> None:
    """{agent, pick} is Engine.pick (R28)."""
    same(
        "[{at: 1s, item: {id: k, workstream: cases}}, {at: 5s, agent: bob, pick: k}]",
        [
            (1.0, lambda lib: lib.submit("k", "cases")),
            (5.0, lambda lib: lib.engine.pick(lib.item("k"), agent="bob")),
        ],
    )


def test_park_and_resume_are_engine_park_and_resume() -> None:
    """{park} and {resume} are Engine.park and Engine.resume (R34, R29)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 2s, agent: alice, accept: a},"
        " {at: 10s, park: a}, {at: 40s, resume: a}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (2.0, lambda lib: lib.engine.accept(lib.offer("a"), agent="alice")),
            (10.0, lambda lib: lib.engine.park(lib.item("a"))),
            (40.0, lambda lib: lib.engine.resume(lib.item("a"))),
        ],
    )


def test_cancel_is_engine_cancel() -> None:
    """{cancel} withdraws the open offer and abandons the item, as Engine.cancel does (R40)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 8s, cancel: a}]",
        [(1.0, lambda lib: lib.submit("a")), (8.0, lambda lib: lib.engine.cancel(lib.item("a")))],
    )


def test_transfer_to_a_queue_is_engine_transfer() -> None:
    """{transfer, queue} is Engine.transfer(queue=...) (R31)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 2s, agent: alice, accept: a},"
        " {at: 10s, transfer: a, queue: r}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (2.0, lambda lib: lib.engine.accept(lib.offer("a"), agent="alice")),
            (10.0, lambda lib: lib.engine.transfer(lib.item("a"), queue="r")),
        ],
    )


def test_transfer_to_an_agent_is_engine_transfer() -> None:
    """{transfer, agent} is Engine.transfer(agent=...) (R31)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 2s, agent: alice, accept: a},"
        " {at: 10s, transfer: a, agent: bob}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (2.0, lambda lib: lib.engine.accept(lib.offer("a"), agent="alice")),
            (10.0, lambda lib: lib.engine.transfer(lib.item("a"), agent="bob")),
        ],
    )


def test_assign_is_engine_force_assign() -> None:
    """{assign, agent} is Engine.force_assign (R31)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat}}, {at: 3s, assign: a, agent: carol}]",
        [
            (1.0, lambda lib: lib.submit("a")),
            (3.0, lambda lib: lib.engine.force_assign(lib.item("a"), agent="carol")),
        ],
    )


def test_disconnect_and_reconnect_are_engine_disconnect_and_reconnect() -> None:
    """{disconnect} and {reconnect} are Engine.disconnect and Engine.reconnect (R35)."""
    same(
        "[{at: 1s, agent: alice, disconnect: true}, {at: 2s, item: {id: a, workstream: chat}},"
        " {at: 50s, agent: alice, reconnect: true}]",
        [
            (1.0, lambda lib: lib.engine.disconnect("alice")),
            (2.0, lambda lib: lib.submit("a")),
            (50.0, lambda lib: lib.engine.reconnect("alice")),
        ],
    )


def test_item_with_time_fields_is_engine_submit() -> None:
    """{item: {...}} with durations for its time fields is Engine.submit with seconds (R37)."""
    same(
        "[{at: 1s, item: {id: a, workstream: chat, priority: 5, available_at: 30s,"
        " attributes: {topic: billing}}}]",
        [
            (
                1.0,
                lambda lib: lib.submit(
                    "a", priority=5, available_at=30.0, attributes={"topic": "billing"}
                ),
            )
        ],
    )


def test_config_is_engine_apply_config() -> None:
    """{config: {...}} is Engine.apply_config (R42)."""
    moved = CONFIG.replace("members: [alice, bob], assignment", "members: [carol], assignment")
    same(
        f"[{{at: 5s, config: {json.dumps(yaml.safe_load(moved))}}},"
        " {at: 6s, item: {id: a, workstream: chat}}]",
        [
            (
                5.0,
                lambda lib: lib.engine.apply_config(configuration.validate(yaml.safe_load(moved))),
            ),
            (6.0, lambda lib: lib.submit("a")),
        ],
    )
