"""Restart: rebuild the engine from the log by running the logged commands again (SPEC §9).

The engine is deterministic: the same commands at the same times give the same events. So a restart
reads the log from the start, runs each command on a fresh engine whose :class:`ManualClock` is set to
the time the command ran at, and checks that the events it emits are byte for byte the events the log
holds. Any difference means this build would route differently from the one that wrote the log, and
the server refuses to start (:class:`ReplayDiverged`) rather than serve a state the log does not say.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from unirouter import config as configuration
from unirouter import errors
from unirouter.engine import UNIX_EPOCH, Engine, Event, ManualClock
from unirouter.server import commands
from unirouter.storage import RecordKind, Store, StoredRecord

__all__ = ["LogCorrupt", "ReplayDiverged", "Restored", "encode_event", "replay"]

PAGE = 2000


class ReplayDiverged(errors.UnirouterError):
    """Re-running the log gave other events than the log holds: refuse to start."""

    def __init__(self, cursor: int, expected: object, found: object) -> None:
        self.cursor = cursor
        self.expected = expected
        self.found = found
        super().__init__(
            f"replaying the log diverged at the command with cursor {cursor}: the log holds "
            f"{expected} but this build emits {found}; refusing to start"
        )


class LogCorrupt(errors.UnirouterError):
    """The log does not have the shape the server writes."""

    def __init__(self, cursor: int, reason: str) -> None:
        self.cursor = cursor
        super().__init__(f"the log is not readable at cursor {cursor}: {reason}")


def encode_event(event: Event) -> bytes:
    """The logged form of an event: its SPEC §6.1.1 JSON object, compact."""
    return json.dumps(event.to_dict(), separators=(",", ":"), default=str).encode()


@dataclass(slots=True, kw_only=True)
class Restored:
    """The engine the log describes, its clock, and how far the log was read."""

    engine: Engine
    clock: ManualClock
    cursor: int
    commands: int = 0
    events: int = 0
    last_t: float = 0.0
    started: float = 0.0


def new_engine(
    config_data: object, t: float, retain_closed: int | None
) -> tuple[Engine, ManualClock]:
    """The engine of an ``init`` record (the configuration it holds, at the time it ran) and the
    clock that drives it: the server sets it before every command, so the time a command ran at is
    exactly the time it logs."""
    clock = ManualClock(t)
    engine = Engine(
        configuration.validate(config_data),
        clock=clock,
        epoch=UNIX_EPOCH,
        retain_closed=retain_closed,
    )
    return engine, clock


def replay(
    store: Store,
    *,
    retain_closed: int | None,
    observe: Callable[[int, dict[str, Any], list[dict[str, Any]]], None] | None = None,
) -> Restored | None:
    """Re-run the whole log; ``None`` for an empty log. ``observe(cursor, command, events)`` sees
    every command with its events (the server rebuilds its projections with it)."""
    restored: Restored | None = None
    for cursor, command, logged in _commands(store):
        if restored is None:
            restored = _start(cursor, command, logged, retain_closed)
        else:
            _rerun(restored, cursor, command, logged)
        if observe is not None:
            observe(cursor, command, [json.loads(body) for body in logged])
    return restored


def _start(
    cursor: int, command: dict[str, Any], logged: list[bytes], retain_closed: int | None
) -> Restored:
    if command.get("op") != "init":
        raise LogCorrupt(cursor, "the first record is not the init command")
    engine, clock = new_engine(command["args"]["config"], float(command["t"]), retain_closed)
    t = float(command["t"])
    restored = Restored(engine=engine, clock=clock, cursor=cursor, last_t=t, started=t)
    _check(cursor, logged, [encode_event(e) for e in engine.drain_events()])
    restored.commands, restored.events = 1, len(logged)
    restored.cursor = cursor + len(logged)
    return restored


def _rerun(restored: Restored, cursor: int, command: dict[str, Any], logged: list[bytes]) -> None:
    t = float(command["t"])
    restored.clock.set(t)
    refused = command.get("refused")
    try:
        commands.run(restored.engine, command["op"], command.get("args", {}))
    except Exception as exc:  # the live run's refusals, replayed; anything else diverges
        if refused != type(exc).__name__:
            raise ReplayDiverged(cursor, f"outcome {refused or 'ok'}", type(exc).__name__) from exc
    else:
        if refused is not None:
            raise ReplayDiverged(cursor, f"outcome {refused}", "ok")
    _check(cursor, logged, [encode_event(e) for e in restored.engine.drain_events()])
    restored.commands += 1
    restored.events += len(logged)
    restored.cursor = cursor + len(logged)
    restored.last_t = t


def _check(cursor: int, logged: list[bytes], found: list[bytes]) -> None:
    if logged == found:
        return
    for index, (want, got) in enumerate(zip(logged, found, strict=False)):
        if want != got:
            raise ReplayDiverged(cursor, f"event {index + 1} {want.decode()}", got.decode())
    raise ReplayDiverged(cursor, f"{len(logged)} events", f"{len(found)} events")


def _commands(store: Store) -> Iterator[tuple[int, dict[str, Any], list[bytes]]]:
    """Each command record with the event records that follow it."""
    current: tuple[int, dict[str, Any]] | None = None
    events: list[bytes] = []
    for record in _records(store):
        if record.kind is RecordKind.COMMAND:
            if current is not None:
                yield current[0], current[1], events
            current, events = (record.cursor, _json(record)), []
        elif current is None:
            raise LogCorrupt(record.cursor, "an event precedes every command")
        else:
            events.append(record.body)
    if current is not None:
        yield current[0], current[1], events


def _records(store: Store) -> Iterator[StoredRecord]:
    after = 0
    while True:
        page = store.read(after, PAGE)
        if not page:
            return
        yield from page
        after = page[-1].cursor


def _json(record: StoredRecord) -> dict[str, Any]:
    try:
        value = json.loads(record.body)
    except ValueError as exc:
        raise LogCorrupt(record.cursor, f"not JSON ({exc})") from None
    if not isinstance(value, dict) or "op" not in value or "t" not in value:
        raise LogCorrupt(record.cursor, "a command record needs 'op' and 't'")
    if value["op"] not in commands.OPS and value["op"] != "init":
        raise LogCorrupt(record.cursor, f"unknown command {value['op']!r}")
    return value
