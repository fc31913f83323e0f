"""Restart: rebuild the engine from the log by running the logged commands again (SPEC §9).

The engine is deterministic: the same commands at the same times give the same events. So a restart
reads the log from the start, runs each command on a fresh engine whose :class:`ManualClock` is set to
the time the command ran at, and checks that the events it emits are byte for byte the events the log
holds. Any difference means this build would route differently from the one that wrote the log, and
the server refuses to start (:class:`ReplayDiverged`) rather than serve a state the log does not say.

With a snapshot (the host stores one every N records, :mod:`unirouter.engine.snapshot`) the engine
starts from it instead: the log up to the snapshot's cursor is read but not re-run (the projections
still fold it, and it names the configuration the snapshot was taken under), and only the commands
after the cursor run again, checked the same way. A snapshot that cannot be used (damaged, another
format or version, another configuration, not at a command boundary of this log) is logged and
ignored: the whole log is replayed as without one.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from unirouter import config as configuration
from unirouter import errors
from unirouter.engine import UNIX_EPOCH, Engine, Event, ManualClock, events
from unirouter.engine import commands as vocabulary
from unirouter.engine import snapshot as snapshots
from unirouter.server import commands
from unirouter.storage import RecordKind, Snapshot, Store, StoredRecord

__all__ = ["LogCorrupt", "ReplayDiverged", "Restored", "encode_event", "group", "replay", "step"]

PAGE = 2000
log = logging.getLogger("unirouter.server")

Observer = Callable[[int, dict[str, Any], list[dict[str, Any]]], None]
Logged = tuple[int, dict[str, Any], list[bytes]]


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


def encode_event(event: Event, *, strict: bool = True) -> bytes:
    """The logged form of an event: :func:`unirouter.engine.events.encode` (the one wire format)."""
    return events.encode(event, strict=strict)


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
    #: The cursor of the snapshot the engine started from (None: the whole log was re-run).
    snapshot: int | None = None
    #: Why a snapshot in the store was not used, if one was not.
    ignored: str | None = None


def new_engine(
    config_data: object, t: float, retain_closed: int | None, *, await_connections: bool = False
) -> tuple[Engine, ManualClock]:
    """The engine of an ``init`` record (the configuration it holds, at the time it ran) and the
    clock that drives it: the server sets it before every command, so the time a command ran at is
    exactly the time it logs. ``await_connections`` as the record says (logs written before it
    existed start agents in their default presence, as they did then)."""
    clock = ManualClock(t)
    engine = Engine(
        configuration.validate(config_data, check_values=False),
        clock=clock,
        epoch=UNIX_EPOCH,
        retain_closed=retain_closed,
        await_connections=await_connections,
    )
    return engine, clock


def replay(
    store: Store,
    *,
    retain_closed: int | None,
    observe: Observer | None = None,
    use_snapshot: bool = True,
) -> Restored | None:
    """Rebuild the engine from the latest usable snapshot and the log after it, or from the whole
    log; ``None`` for an empty log. ``observe(cursor, command, events)`` sees every command of the
    log with its events, before and after the snapshot (the server folds its projections)."""
    records: Iterator[Logged] = _commands(store)
    restored: Restored | None = None
    snap = store.latest_snapshot() if use_snapshot else None
    ignored = None if snap is None else _unusable(snap, retain_closed)
    if snap is not None and ignored is None:
        prefix = _Prefix(snap)
        records = prefix.read(records, observe)
        try:
            restored = prefix.restore()
        except (snapshots.SnapshotError, errors.ConfigError) as exc:
            ignored = str(exc)
            restored = _replay_engine(store, snap.cursor, retain_closed)
    if ignored is not None:
        log.warning("ignored the snapshot in the store (%s); replaying the whole log", ignored)
    for cursor, command, logged in records:
        restored = step(restored, cursor, command, logged, retain_closed)
        if observe is not None:
            observe(cursor, command, [json.loads(body) for body in logged])
    if restored is not None:
        restored.ignored = ignored
    return restored


def step(
    restored: Restored | None,
    cursor: int,
    command: dict[str, Any],
    logged: list[bytes],
    retain_closed: int | None,
) -> Restored:
    """Run one logged command again (the first one builds the engine) and check its events: how
    a restart replays the log and how a follower keeps its read model (several servers)."""
    if restored is None:
        return _start(cursor, command, logged, retain_closed)
    _rerun(restored, cursor, command, logged)
    return restored


def _replay_engine(store: Store, upto: int, retain_closed: int | None) -> Restored | None:
    """Re-run the log up to ``upto`` for the engine alone (its observers have seen it already)."""
    restored: Restored | None = None
    for cursor, command, logged in _commands(store):
        if cursor > upto:
            break
        restored = step(restored, cursor, command, logged, retain_closed)
    return restored


def _unusable(snap: Snapshot, retain_closed: int | None) -> str | None:
    """Why the snapshot cannot serve this host, judged from its header alone; None if it can."""
    try:
        header = snapshots.read_header(snap.body)
    except snapshots.SnapshotError as exc:
        return str(exc)
    if header.retain_closed != retain_closed:
        return f"taken keeping {header.retain_closed} closed items, this host keeps {retain_closed}"
    return None


class _Prefix:
    """The log up to a snapshot's cursor: read and observed, not re-run. It names the
    configuration the snapshot was taken under and must end exactly where the snapshot does."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.header = snapshots.read_header(snap.body)
        self.config: object = None
        self.commands = self.events = self.cursor = self.seq = 0
        self.started = self.last_t = 0.0

    def read(self, records: Iterator[Logged], observe: Observer | None) -> Iterator[Logged]:
        """Consume the commands up to the snapshot; return the rest of ``records``."""
        for cursor, command, logged in records:
            if cursor > self.snap.cursor:
                rest: Iterable[Logged] = records
                return itertools.chain([(cursor, command, logged)], rest)
            events = [json.loads(body) for body in logged]
            self._take(cursor, command, events)
            if observe is not None:
                observe(cursor, command, events)
        return iter(())

    def _take(self, cursor: int, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        t = float(command["t"])
        if self.commands == 0:
            if command.get("op") != "init":
                raise LogCorrupt(cursor, "the first record is not the init command")
            self.started = t
        if command.get("op") in ("init", "apply_config") and not command.get("refused"):
            self.config = command["args"]["config"]
        self.commands += 1
        self.events += len(events)
        self.cursor = cursor + len(events)
        self.last_t = t
        if events:
            self.seq = int(events[-1].get("seq", 0))

    def restore(self) -> Restored:
        """The engine of the snapshot, after checking that it belongs to this log."""
        if self.cursor != self.snap.cursor:
            raise snapshots.SnapshotCorrupt(
                f"its cursor {self.snap.cursor} is not the end of a command of this log"
            )
        if self.seq != self.header.seq:
            raise snapshots.SnapshotCorrupt(
                f"it ends at event seq {self.header.seq}, the log at {self.seq} there"
            )
        if self.config is None:
            raise snapshots.SnapshotCorrupt("the log names no configuration before it")
        clock = ManualClock(self.header.now)
        config = configuration.validate(self.config, check_values=False)
        engine = Engine.restore(self.snap.body, config=config, clock=clock)
        return Restored(
            engine=engine,
            clock=clock,
            cursor=self.cursor,
            commands=self.commands,
            events=self.events,
            last_t=self.last_t,
            started=self.started,
            snapshot=self.snap.cursor,
        )


def _start(
    cursor: int, command: dict[str, Any], logged: list[bytes], retain_closed: int | None
) -> Restored:
    if command.get("op") != "init":
        raise LogCorrupt(cursor, "the first record is not the init command")
    try:
        init = vocabulary.Init.from_dict(command)
    except errors.InvalidCommand as exc:
        raise LogCorrupt(cursor, exc.message) from None
    t = float(command["t"])
    engine, clock = new_engine(init.config, t, retain_closed,
                               await_connections=init.await_connections)  # fmt: skip
    restored = Restored(engine=engine, clock=clock, cursor=cursor, last_t=t, started=t)
    _check(cursor, logged, [events.encode(e, strict=False) for e in engine.drain_events()])
    restored.commands, restored.events = 1, len(logged)
    restored.cursor = cursor + len(logged)
    return restored


def _rerun(restored: Restored, cursor: int, command: dict[str, Any], logged: list[bytes]) -> None:
    t = float(command["t"])
    restored.clock.set(t)
    refused = command.get("refused")
    ran: vocabulary.Command | None = None
    try:
        ran = commands.command_of(command["op"], command.get("args") or {})
        vocabulary.execute(restored.engine, ran)
    except Exception as exc:  # the live run's refusals, replayed; anything else diverges
        if ran is None and isinstance(exc, errors.InvalidCommand):  # the record does not decode
            if refused is None:
                raise LogCorrupt(cursor, exc.message) from None
            # An older build refused it in its own argument handling (a KeyError, say), before
            # the engine saw it: that refusal is replayed, and its events are checked below.
        elif refused != type(exc).__name__:
            raise ReplayDiverged(cursor, f"outcome {refused or 'ok'}", type(exc).__name__) from exc
    else:
        if refused is not None:
            raise ReplayDiverged(cursor, f"outcome {refused}", "ok")
    _check(cursor, logged, [events.encode(e, strict=False) for e in restored.engine.drain_events()])
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


def _commands(store: Store) -> Iterator[Logged]:
    """Each command record of the store's log with the event records that follow it."""
    return group(_records(store))


def group(records: Iterable[StoredRecord]) -> Iterator[Logged]:
    """Each command record with the event records that follow it (whole appends only: a command
    and its events are always appended together)."""
    current: tuple[int, dict[str, Any]] | None = None
    events: list[bytes] = []
    for record in records:
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
    if value["op"] not in commands.OPS:
        raise LogCorrupt(record.cursor, f"unknown command {value['op']!r}")
    return value
