"""Engine snapshots (SPEC §9: restart = latest snapshot + replay of the tail).

The central property: run random commands, snapshot at a random point, restore into a fresh
engine, then give the original and the restored engine the same remaining commands: the event
logs and the whole final state (every record, index, heap, timer and counter) must be identical.
The same holds when the restore happens in another process with another hash seed. Around it,
the refusals: damaged bytes, another format, another configuration, and a body that names code.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_engine_properties as props
import unirouter
from unirouter import config as configuration
from unirouter import errors
from unirouter.config import model
from unirouter.engine import Engine, ManualClock
from unirouter.engine import snapshot as snapshots
from unirouter.engine.state import ItemState

P = model.BasePresence

# -- a canonical, comparable form of an engine's whole state ----------------------------------------

#: Made from the configuration or the shell, compared apart (configuration hash, split counters).
_SKIPPED = {
    "clock",
    "scope",
    "config",
    "calendars",
    "priority_plans",
    "custom",
    "cfg",
}


def canonical(engine: Engine) -> Any:
    """Every attribute of the engine as plain data: objects by their slots, dict order kept,
    sets sorted, shared objects written once and then as a reference to their first path (so
    an item's ``slot`` must be the very heap its queue holds, in both engines)."""
    seen: dict[int, str] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, Enum):
            return f"{type(value).__name__}.{value.name}"
        if value is None or isinstance(value, bool | int | float | str):
            return repr(value) if isinstance(value, float) else value
        if isinstance(value, pydantic.BaseModel):
            return ["model", type(value).__name__, value.model_dump(mode="json")]
        if isinstance(value, tuple):
            return ["tuple", [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]]
        if id(value) in seen:
            return ["ref", seen[id(value)]]
        seen[id(value)] = path
        if isinstance(value, dict):
            # A value's path names its key by the key's canonical form, not its repr: the repr
            # of a frozenset in a key (a skill signature) follows the set's insertion history,
            # which a restored set need not share.
            pairs = []
            for k, v in value.items():
                key = walk(k, path)
                pairs.append([key, walk(v, f"{path}/{json.dumps(key, default=str)}")])
            return ["dict", pairs]
        if isinstance(value, list | deque):
            return ["list", [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]]
        if isinstance(value, set | frozenset):
            return ["set", sorted(json.dumps(walk(v, path), default=str) for v in value)]
        return ["obj", type(value).__name__, fields(value, path)]

    def fields(obj: Any, path: str) -> dict[str, Any]:
        if type(obj).__name__ == "WorkstreamPlan":  # compiled; only its split counters are state
            return {"splits": [_split_state(r.split) for r in obj.routes]}
        names = list(getattr(obj, "__dict__", {}))
        for klass in type(obj).__mro__:
            slots = klass.__dict__.get("__slots__", ())
            names.extend([slots] if isinstance(slots, str) else slots)
        return {
            n: walk(getattr(obj, n), f"{path}.{n}")
            for n in sorted(set(names))
            if n not in _SKIPPED and n != "__weakref__" and hasattr(obj, n)
        }

    state = fields(engine, "engine")
    state["config"] = snapshots.config_hash(engine.config)
    return state


def _split_state(split: Any) -> Any:
    return None if split is None else [dict(split.counts), split.total]


# -- two engines, one command list ------------------------------------------------------------------


def _perform(engine: Engine, clock: ManualClock, call: props.Call) -> str | None:
    """Run a resolved command on ``engine``; the name of the refusal, if any."""
    try:
        if call.method == "advance":
            clock.advance(call.args[0])
            engine.advance()
        elif call.method == "apply_config":
            engine.apply_config(props.CONFIGS[call.args[0]])
        else:
            getattr(engine, call.method)(*call.args, **call.kwargs)
    except errors.UnirouterError as exc:
        return type(exc).__name__
    return None


def _driver_perform(driver: props.Driver, call: props.Call) -> str | None:
    try:
        driver.perform(call)
    except errors.UnirouterError as exc:
        return type(exc).__name__
    return None


def split_run(
    commands: list[props.Command], cut: int, data: bytes | None = None
) -> tuple[props.Driver, Engine, list[Any], list[Any]]:
    """Run ``commands[:cut]``, restore a twin from a snapshot there (or from ``data``), then run
    the rest on both; returns the driver, the twin and the two logs of (outcome, events)."""
    driver = props.Driver()
    for cmd in commands[:cut]:
        driver.run(cmd)
    if data is None:
        data = driver.engine.snapshot()
    clock = ManualClock(driver.clock.now())
    twin = Engine.restore(data, config=driver.engine.config, clock=clock)
    original_log, twin_log = [], []
    for cmd in commands[cut:]:
        call = driver.resolve(cmd)
        outcome = _perform(twin, clock, call)
        twin_log.append((outcome, [e.to_dict() for e in twin.drain_events()]))
        outcome = _driver_perform(driver, call)
        original_log.append((outcome, [e.to_dict() for e in driver.pump()]))
    return driver, twin, original_log, twin_log


def continue_from(snapshot_file: str, seed: int, count: int, cut: int) -> str:
    """In a child process: restore the parent's snapshot, run the rest, digest the log and state."""
    commands = props.random_commands(seed, count)
    data = Path(snapshot_file).read_bytes()
    _, twin, _, twin_log = split_run(commands, cut, data)
    return _digest(twin_log, twin)


def _digest(log: list[Any], engine: Engine) -> str:
    text = json.dumps([log, canonical(engine)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- the properties ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(props.any_command, max_size=70), cut=st.integers(0, 70))
def test_a_restored_engine_continues_exactly_like_the_original(
    commands: list[props.Command], cut: int
) -> None:
    """SPEC §9: snapshot anywhere, restore, run the same commands: same events, same state."""
    driver, twin, original_log, twin_log = split_run(commands, min(cut, len(commands)))
    assert twin_log == original_log
    assert canonical(twin) == canonical(driver.engine)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(props.any_command, min_size=10, max_size=60), cuts=st.tuples(
    st.integers(0, 60), st.integers(0, 60)))  # fmt: skip
def test_a_snapshot_of_a_restored_engine_restores_the_same_state(
    commands: list[props.Command], cuts: tuple[int, int]
) -> None:
    """Snapshots chain: restoring the snapshot of a restored engine changes nothing either."""
    first, second = sorted(min(c, len(commands)) for c in cuts)
    driver, twin, _, _ = split_run(commands[:second], first)
    again = Engine.restore(twin.snapshot(), config=twin.config, clock=ManualClock(twin.now))
    assert canonical(again) == canonical(twin) == canonical(driver.engine)


def test_a_snapshot_restores_the_same_way_under_other_hash_seeds(tmp_path: Path) -> None:
    """No dict or set order of hashed names leaks through a snapshot: a child process with
    another PYTHONHASHSEED restores it and continues into the log and state of this process."""
    seed, count, cut = 2025, 360, 170
    commands = props.random_commands(seed, count)
    driver = props.Driver()
    for cmd in commands[:cut]:
        driver.run(cmd)
    path = tmp_path / "engine.snapshot"
    path.write_bytes(driver.engine.snapshot())
    _, _, original_log, _ = split_run(commands, cut, path.read_bytes())
    for cmd in commands[cut:]:
        driver.run(cmd)
    expected = _digest(original_log, driver.engine)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_engine_snapshot as t; "
        "print(t.continue_from(sys.argv[2], *map(int, sys.argv[3:])))"
    )
    for hash_seed in ("0", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent), str(path),
             str(seed), str(count), str(cut)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert done.stdout.strip() == expected, done.stderr


# -- what must survive, rule by rule ----------------------------------------------------------------

RICH_YAML = """
skills: {billing: {levels: 5}}
capacity_profiles: {chat: {limit: 2}}
workstreams:
  chat:
    kind: messaging
    capacity: {units: 40, profiles: [chat]}
    offer: {timeout_s: 30, on_expiry_presence: inactive, on_decline_presence: busy_dnd}
    wrap_up: {block: 20}
    affinity: {enabled: true, grace_s: 60}
    fallback_queue: rr
    route_to_queue:
      - {when: item.topic == "split", split: {rr: 30, cap: 70}}
      - {when: "true", queue: rr}
queues:
  rr:
    kind: messaging
    members: [ann, bob, cy]
    assignment: {method: round_robin}
    aging: {every_s: 15, add: 5}
  cap: {kind: messaging, members: [ann, cy], assignment: {method: highest_capacity}}
agents:
  ann: {profiles: [chat]}
  bob: {profiles: [chat]}
  cy: {profiles: [chat], capacity_units: 80}
"""


def _rich() -> tuple[Engine, ManualClock, model.Config]:
    config = configuration.validate(yaml.safe_load(RICH_YAML))
    clock = ManualClock(0.0)
    return Engine(config, clock=clock), clock, config


Step = Callable[[Engine, ManualClock], object]


def assert_continues_identically(engine: Engine, clock: ManualClock, steps: list[Step]) -> None:
    """Snapshot ``engine`` now, restore a twin, run ``steps`` on both: same events and state."""
    engine.drain_events()
    twin_clock = ManualClock(clock.now())
    twin = Engine.restore(engine.snapshot(), config=engine.config, clock=twin_clock)
    assert canonical(twin) == canonical(engine)
    for step in steps:
        step(engine, clock)
        step(twin, twin_clock)
        assert [e.to_dict() for e in twin.drain_events()] == [
            e.to_dict() for e in engine.drain_events()
        ]
    assert canonical(twin) == canonical(engine)


def _advance(seconds: float) -> Step:
    def step(engine: Engine, clock: ManualClock) -> None:
        clock.advance(seconds)
        engine.advance()

    return step


def _submit(external_id: str, **fields: Any) -> Step:
    return lambda e, c: e.submit(external_id=external_id, workstream="chat", **fields)


def test_r23_r25_an_open_offer_expires_at_its_deadline_after_a_restore() -> None:
    """R23, R25, R26: the open offer keeps ``expires_at``; its expiry passes the agent over and
    applies the expiry penalty in the restored engine exactly as in the original."""
    engine, clock, _ = _rich()
    item = engine.submit(external_id="x", workstream="chat")
    offer = engine.offer(item.offer or "")
    clock.advance(10)
    assert_continues_identically(engine, clock, [_advance(25), _advance(40)])
    assert engine.offer(offer.id).status == "expired"
    assert engine.agent(offer.agent).presence is P.INACTIVE


def test_r4_a_split_continues_its_exact_sequence_after_a_restore() -> None:
    """R4: the split counters are state; the restored engine sends the next items where the
    original would."""
    engine, clock, _ = _rich()
    for n in range(7):
        engine.submit(external_id=f"s{n}", workstream="chat", attributes={"topic": "split"})
    steps = [_submit(f"t{n}", attributes={"topic": "split"}) for n in range(13)]
    assert_continues_identically(engine, clock, steps)


def test_r17_round_robin_positions_survive_a_restore() -> None:
    """R17: who was assigned last in each queue carries over, so the rotation continues."""
    engine, clock, _ = _rich()
    for n in range(4):
        item = engine.submit(external_id=f"r{n}", workstream="chat")
        engine.accept(item.offer or "", agent=engine.offer(item.offer or "").agent)
        clock.advance(1)
    steps: list[Step] = [_submit(f"q{n}") for n in range(3)]
    steps.append(lambda e, c: [e.complete(i.id, wrap_up=False) for i in list(e.items())[:2]])
    assert_continues_identically(engine, clock, [*steps, _submit("last"), _advance(60)])


def test_r8_r29_r33_r35_timers_survive_a_restore() -> None:
    """R8 aging, R29 affinity grace, R33 wrap-up release and R35 reconnect grace are timers in the
    heap; after a restore each fires at the same moment with the same effect."""
    engine, clock, _ = _rich()
    for agent in ("ann", "bob", "cy"):
        engine.set_presence(agent, P.AWAY)
    for n in range(3):
        engine.submit(external_id=f"w{n}", workstream="chat", priority=n)
    engine.set_presence("ann", P.AVAILABLE)
    first = next(i for i in engine.items() if i.state is ItemState.OFFERED)
    engine.accept(first.offer or "", agent="ann")
    engine.park(first.id)
    engine.resume(first.id)
    engine.disconnect("ann")
    clock.advance(5)
    assert engine.next_deadline() is not None
    steps = [_advance(10), lambda e, c: e.reconnect("ann"), _advance(30), _advance(100)]
    assert_continues_identically(engine, clock, steps)


def test_r43_traces_and_counters_carry_over() -> None:
    """R43 traces, event ``seq`` and item and offer numbering continue from the snapshot."""
    engine, clock, _ = _rich()
    engine.submit(external_id="a", workstream="chat")
    engine.drain_events()
    twin = Engine.restore(engine.snapshot(), config=engine.config, clock=ManualClock(clock.now()))
    assert twin.item("w000000001").trace == engine.item("w000000001").trace
    made = twin.submit(external_id="b", workstream="chat")
    assert made.id == engine.submit(external_id="b", workstream="chat").id
    assert [e.seq for e in twin.drain_events()] == [e.seq for e in engine.drain_events()]


def test_r42_a_snapshot_after_a_configuration_change_keeps_the_new_version() -> None:
    """R42: the configuration version and items' versions survive; the restore needs the
    configuration in force when the snapshot was taken."""
    engine, clock, config = _rich()
    engine.submit(external_id="a", workstream="chat")
    changed = config.model_copy(update={"queues": {**config.queues}})
    engine.apply_config(changed)
    data = engine.snapshot()
    twin = Engine.restore(data, config=changed, clock=ManualClock(clock.now()))
    assert twin.config_version == engine.config_version == 2
    assert canonical(twin) == canonical(engine)


# -- refusals ---------------------------------------------------------------------------------------


def _snapshot() -> tuple[bytes, Engine, model.Config]:
    engine, _, config = _rich()
    engine.submit(external_id="a", workstream="chat")
    return engine.snapshot(), engine, config


def _with_header(data: bytes, **changes: Any) -> bytes:
    header, body = snapshots._split(data)
    raw = {f: getattr(header, f) for f in header.__dataclass_fields__} | changes
    return snapshots.MAGIC + json.dumps(raw).encode() + b"\n" + body


def test_a_snapshot_says_what_it_holds_in_its_header() -> None:
    """The header names the format, version, engine time, configuration and its hash."""
    data, engine, config = _snapshot()
    header = snapshots.read_header(data)
    assert header.format == snapshots.FORMAT
    assert header.unirouter == unirouter.__version__
    assert header.config_version == 1
    assert header.config_sha256 == snapshots.config_hash(config)
    assert header.seq == engine._core.seq and header.now == engine.now


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"NOT-A-SNAPSHOT" + d,
        lambda d: d[: len(snapshots.MAGIC) + 5],
        lambda d: d[:-1] + bytes([d[-1] ^ 1]),
        lambda d: d[:-20],
    ],
    ids=["magic", "truncated-header", "flipped-byte", "truncated-body"],
)
def test_damaged_bytes_are_refused_as_corrupt(damage: Callable[[bytes], bytes]) -> None:
    """A damaged snapshot is refused with SnapshotCorrupt, never half-restored."""
    data, _, config = _snapshot()
    with pytest.raises(snapshots.SnapshotCorrupt):
        Engine.restore(damage(data), config=config, clock=ManualClock(0.0))


@pytest.mark.parametrize(
    ("field", "value"),
    [("format", snapshots.FORMAT + 1), ("unirouter", "0.0.0-other"), ("layout", "0" * 32)],
)
def test_another_format_version_or_layout_is_refused_as_incompatible(
    field: str, value: object
) -> None:
    """A snapshot of another format, unirouter version or state layout is refused by field."""
    data, _, config = _snapshot()
    with pytest.raises(snapshots.SnapshotIncompatible) as caught:
        Engine.restore(_with_header(data, **{field: value}), config=config, clock=ManualClock(0))
    assert caught.value.found == value


def test_another_configuration_is_refused() -> None:
    """The configuration must hash like the one the snapshot was taken under."""
    data, _, config = _snapshot()
    other = config.model_copy(update={"version": 2})
    with pytest.raises(snapshots.SnapshotConfigMismatch) as caught:
        Engine.restore(data, config=other, clock=ManualClock(0.0))
    assert caught.value.expected == snapshots.config_hash(config)


def test_a_body_naming_other_code_is_refused_without_running_it(tmp_path: Path) -> None:
    """The restricted unpickler resolves only the engine's own classes: a body that would call
    ``os.system`` is refused and the command never runs."""
    data, _, config = _snapshot()
    marker = tmp_path / "ran"
    header = snapshots.read_header(data)
    evil = pickle.dumps(
        {"engine": _Evil(f"touch {marker}"), "dispatch": {}, "splits": {}}, protocol=5
    )
    raw = {f: getattr(header, f) for f in header.__dataclass_fields__}
    raw["body_sha256"] = hashlib.sha256(evil).hexdigest()
    forged = snapshots.MAGIC + json.dumps(raw).encode() + b"\n" + evil
    with pytest.raises(snapshots.SnapshotCorrupt, match=r"(posix|os|nt)\.system"):
        Engine.restore(forged, config=config, clock=ManualClock(0.0))
    assert not marker.exists()


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))
