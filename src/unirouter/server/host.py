"""The engine host: one engine, one durable log, one asyncio loop (SPEC §9).

Every mutating request becomes a command run on the engine in the loop's thread, with no ``await``
between reading the clock and handing the command's records to the appender, so commands run one
at a time in a total order (the loop's single thread is the lock). The command record and the events
it produced go to the store in one atomic append; the request is answered, and subscribers get the
events, only after that append returned.

Ordering. Appends leave in the order the commands ran: one appender task takes every command queued
while the previous append was syncing and writes them as one batch (group commit, in order). A read
answers only after every command that ran before it is durable (:meth:`EngineHost.read`), so nobody
sees state whose events could still be lost. If an append fails the host stops: it refuses every
later command (503), ``/readyz`` turns false and ``on_failure`` stops the server, because the engine
has moved past what the log holds.

Time. The engine runs on a :class:`ManualClock` the host sets to the wall clock (never backwards)
before each command, so the time a command ran at is exactly the time it logs. One timer handle
sleeps until :meth:`Engine.next_deadline` and then runs a logged ``advance``; it is re-armed after
every command. Nothing polls (R21).

Several servers (PostgreSQL, :mod:`unirouter.server.cluster`). A host that ``follow``s runs no
commands: it folds the durable records another server (the leader) appended, through the same
checked replay step as a restart, into the same engine, projection and subscribers, so it serves
reads, SSE and agent streams. When elected it catches up to the last durable record and
:meth:`EngineHost.lead` s: from then on it is the leader above.
"""

# A little over 400 lines: snapshot scheduling rides the append pipeline (a snapshot is taken with
# the records it follows and stored once they are durable), so it lives here beside the appender;
# replay, the projection and the HTTP layer stay in their own modules.
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from unirouter import errors, wellformed
from unirouter.analytics import fold as analytics_fold
from unirouter.channels.index import ChannelIndex
from unirouter.config import model
from unirouter.engine import Engine, ManualClock, WorkItem
from unirouter.engine import commands as vocabulary
from unirouter.engine.events import encode as encode_event
from unirouter.server import commands, intake_keys, replay, snapshot_child
from unirouter.server.config_versions import ConfigVersions
from unirouter.server.metrics import Metrics
from unirouter.server.projection import Projection
from unirouter.storage import Key, Record, RecordKind, Store, StoredRecord, StoreLost

__all__ = ["EngineHost", "HostStopped", "NotLeader", "Published", "Subscription"]

T = TypeVar("T")
log = logging.getLogger("unirouter.server")

#: Who the current request acts as (its token's name), set when the caller is authenticated and
#: written with every command it runs (R43's audit trail, ``GET /v1/audit``).
ACTOR: ContextVar[str | None] = ContextVar("unirouter_actor", default=None)

#: Closed items kept readable in memory; older ones live on in the log (reports, event stream).
RETAIN_CLOSED = 100_000
SUBSCRIBER_BACKLOG = 10_000
#: Log records between two engine snapshots (a restart replays at most about this many).
SNAPSHOT_EVERY = 10_000


class HostStopped(errors.UnirouterError):
    """The host no longer takes commands: the log could not be written, or it is shutting down."""


class NotLeader(HostStopped):
    """This server follows the leader: commands run there (HTTP writes are forwarded)."""


class ClusterHooks(Protocol):
    """What the host asks of the cluster it belongs to (several servers on PostgreSQL)."""

    async def connections_changed(self) -> None:
        """This server's set of connected agents changed (R35 liveness is decided by the leader)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """A durable record as subscribers see it: its cursor, kind, JSON body, and that body as the
    log holds it (``data``: strict JSON, encoded once for every reader, issue 17 item 8)."""

    cursor: int
    kind: RecordKind
    body: dict[str, Any]
    data: bytes


@dataclass(slots=True, kw_only=True)
class Subscription:
    """A live feed of durable records that ``accept`` lets through; ``overflowed`` when the reader
    fell more than the backlog behind (it resumes from the store by cursor)."""

    accept: Callable[[Published], bool]
    queue: asyncio.Queue[Published | None] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_BACKLOG)
    )
    overflowed: bool = False


@dataclass(slots=True)
class _Pending:
    records: list[Record]
    bodies: list[tuple[RecordKind, dict[str, Any]]]
    future: asyncio.Future[int]
    #: Gives the engine's snapshot right after these records (blocking: called off the loop once
    #: they are durable, :mod:`unirouter.server.snapshot_child`).
    snapshot: Callable[[], bytes] | None = None
    #: The intake keys of the items these records create, stored in the same append.
    keys: list[Key] = field(default_factory=list)


class EngineHost:
    """Owns the engine, its clock, the store, the appender task and the timer."""

    def __init__(
        self,
        store: Store,
        *,
        metrics: Metrics | None = None,
        retain_closed: int | None = RETAIN_CLOSED,
        snapshot_every: int | None = SNAPSHOT_EVERY,
    ) -> None:
        """``snapshot_every``: records between engine snapshots (None or 0: never snapshot)."""
        self.store = store
        self.snapshot_every = snapshot_every or None
        self._since_snapshot = 0
        self._snapshot_writes: set[asyncio.Task[None]] = set()
        #: Snapshots begun and not yet stored (or given up).
        self._snapshots_due = 0
        #: The cursor of the newest snapshot this host stored.
        self.snapshot_cursor: int | None = None
        self.metrics = metrics or Metrics()
        self.projection = Projection(retain_closed)
        #: More folds of every logged command and its events, fed like the projection (before
        #: the append, and by the replay in log order): the channels' indexes (issue 9).
        self.channel_index = ChannelIndex()
        #: Per-interval KPIs of the whole log for the reports (issue 13).
        self.reports = analytics_fold.LogFold()
        #: The configurations applied, by version (issue 16 item 4).
        self.config_versions = ConfigVersions()
        self.folds: list[Callable[[dict[str, Any], list[dict[str, Any]]], None]] = [
            self.channel_index.feed,
            self.reports.feed,
            self.config_versions.feed,
        ]
        self._retain = retain_closed
        self._engine: Engine | None = None
        self._clock = ManualClock(0.0)
        self._queue: list[_Pending] = []
        self._tail: asyncio.Future[int] | None = None
        self._wakeup: asyncio.Event | None = None
        self._appender: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self._subscribers: list[Subscription] = []
        self.failure: BaseException | None = None
        self.stopping = False
        self.replayed = False
        self.on_failure: Callable[[BaseException], None] = lambda exc: None
        self.restored_commands = 0
        #: Engine time of the log's first command.
        self.log_started = 0.0
        #: Open streams per agent: the agent's liveness (R35).
        self.connections: Counter[str] = Counter()
        #: False while this host follows another server's log (several servers).
        self.leading = True
        #: The cursor of the newest record this host knows durable (appended or applied).
        self.durable_cursor = 0
        self.cluster: ClusterHooks | None = None
        self._restored: replay.Restored | None = None
        self._follow_config: model.Config | None = None

    # -- start and stop ---------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise HostStopped("the engine is not started")
        return self._engine

    @property
    def has_engine(self) -> bool:
        """False only for a follower of a log that has no first command yet."""
        return self._engine is not None

    def restore(self, config: model.Config | None, *, follow: bool = False) -> str:
        """Rebuild the engine from the log (blocking; run before serving). With an empty log,
        ``config`` starts it; with a log, a ``config`` that differs from the logged one is applied
        when the loop starts. Returns a sentence saying what happened.

        ``follow``: start as a follower. An empty log is then started with ``config`` only if this
        host is elected; a log's own configuration wins over ``config`` (it may have been applied
        through the API since), so a failover never rolls a configuration back."""
        backfill = (
            None if follow or intake_keys.marked(self.store) else intake_keys.Backfill(self.store)
        )
        if backfill is not None:  # a log from before the store kept intake keys (issue 17)
            self.folds.append(backfill.feed)
        try:
            restored = replay.replay(self.store, retain_closed=self._retain, observe=self._observe)
        finally:
            if backfill is not None:
                self.folds.remove(backfill.feed)
        if backfill is not None:
            backfill.finish()
        self.leading = not follow
        self._restored = restored
        self.durable_cursor = 0 if restored is None else restored.cursor
        if follow:
            self._follow_config = config
            self.replayed = True
            if restored is not None:
                self._engine, self._clock = restored.engine, restored.clock
                self.log_started = restored.started
                return f"following the log from cursor {restored.cursor}"
            return "following an empty log"
        if restored is None:
            if config is None:
                raise HostStopped("the store is empty: start the server with --config FILE")
            self._init_records = self._init(config)
            self.replayed = True
            return "started a new log with the given configuration"
        self._engine, self._clock = restored.engine, restored.clock
        self.restored_commands = restored.commands
        self.log_started = restored.started
        self._pending_config = (
            config if config is not None and config != self.engine.config else None
        )
        self.replayed = True
        if restored.snapshot is not None:
            self.snapshot_cursor = restored.snapshot
            return (
                f"restored the snapshot at cursor {restored.snapshot} and replayed the "
                f"{restored.cursor - restored.snapshot} records after it "
                f"({restored.commands} commands, {restored.events} events in the log)"
            )
        ignored = "" if restored.ignored is None else f" (ignored the snapshot: {restored.ignored})"
        return (
            f"replayed {restored.commands} commands and {restored.events} events from the log"
            f"{ignored}"
        )

    _init_records: list[Record] | None = None
    _pending_config: model.Config | None = None

    def _init(self, config: model.Config) -> list[Record]:
        """The first command: build the engine from ``config`` now; written when the loop starts."""
        t = self.log_started = time.time()
        data = commands.config_json(config)
        self._engine, self._clock = replay.new_engine(data, t, self._retain, await_connections=True)
        init = vocabulary.Init(config=data, await_connections=True)
        command = {"op": init.op, "t": t, "args": init.args()}
        events = self.engine.drain_events()
        self._feed(command, [e.to_dict() for e in events])
        return [_record(command), *(Record(kind=RecordKind.EVENT, body=encode_event(e))
                                    for e in events)]  # fmt: skip

    def _observe(self, cursor: int, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self._feed(command, events)

    def _feed(self, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self.projection.feed(command, events)
        for fold in self.folds:
            fold(command, events)

    async def start(self) -> None:
        """Start the appender, write a new log's first command, apply a changed configuration,
        and fire the deadlines that passed while the server was down."""
        self._wakeup = asyncio.Event()
        self._appender = asyncio.create_task(self._append_loop(), name="unirouter-appender")
        if self.leading:
            await self._begin()

    async def _begin(self, *, drop_connections: bool = True) -> None:
        if self._init_records is not None:
            init = self._init_records
            self._init_records = None
            future = self._enqueue(init, [(RecordKind.COMMAND, json.loads(init[0].body))])
            await asyncio.shield(future)
        if self._pending_config is not None:
            config, self._pending_config = self._pending_config, None
            await self.command(vocabulary.ApplyConfig(config=config))
        await self.command(vocabulary.Advance())
        if drop_connections:
            await self._drop_connections()

    async def _drop_connections(self) -> None:
        """After a restart nobody is connected yet: every agent the log left connected is
        disconnected now, so it is offline until it comes back and gets its presence back only
        by reconnecting within the grace of R35."""
        for agent in list(self.engine.agents()):
            if agent.connected and not self.connections[agent.id]:
                await self.command(vocabulary.Disconnect(agent=agent.id))

    async def lead(self) -> None:
        """Start routing (elected; the log is applied up to its last durable record and the store
        fenced with the new term): a new log's first command, then the deadlines that passed.

        Connections are not dropped as after a restart: the agents streaming on the other servers
        are connected still, and the cluster's liveness (with its grace after an election) decides
        who is not (a new leader that dropped them would take every follower's agents offline)."""
        self.leading = True
        if self._engine is None:
            if self._follow_config is None:
                raise HostStopped("the store is empty: start the server with --config FILE")
            self._init_records = self._init(self._follow_config)
        await self._begin(drop_connections=False)

    def apply(self, records: list[StoredRecord]) -> None:
        """Fold records another server appended (durable, in log order) into the read model and
        push them to subscribers; each command is re-run and checked like a replay. A leader
        applies nothing: its engine ran these commands itself (re-running them would run them
        twice)."""
        if self.leading:
            return
        for cursor, command, logged in replay.group(records):
            if cursor <= self.durable_cursor:
                continue
            self._restored = replay.step(self._restored, cursor, command, logged, self._retain)
            if self._engine is None:
                self.log_started = self._restored.started
            self._engine, self._clock = self._restored.engine, self._restored.clock
            events = [wellformed.decode(body) for body in logged]
            self._feed(command, events)
            self._publish(Published(cursor=cursor, kind=RecordKind.COMMAND, body=command,
                                    data=wellformed.encode(command)))  # fmt: skip
            for offset, (body, data) in enumerate(zip(events, logged, strict=True), 1):
                self._publish(Published(cursor=cursor + offset, kind=RecordKind.EVENT, body=body,
                                        data=data))  # fmt: skip
            self.durable_cursor = cursor + len(logged)

    async def verify_store(self) -> None:
        """Issue 17 item 6: if the store is no longer the one opened (files deleted, replaced or
        truncated), stop as after a failed append: 503 for every later request."""
        try:
            await asyncio.to_thread(self.store.verify)
        except StoreLost as lost:
            if self.failure is None:
                self._fail(lost, [])

    async def stop(self) -> None:
        """Graceful stop: refuse new commands, finish the appends in flight, close the store."""
        self.stopping = True
        if self._timer is not None:
            self._timer.cancel()
        if self._tail is not None and not self._tail.done():
            await asyncio.wait([self._tail])
        if self._snapshot_writes:
            await asyncio.wait(self._snapshot_writes)
        if self._appender is not None:
            self._appender.cancel()
        for sub in self._subscribers:
            _offer(sub, None)
        await asyncio.to_thread(self.store.close)

    # -- commands and reads -----------------------------------------------------------------------

    async def command(
        self,
        op: str | vocabulary.Command,
        args: dict[str, Any] | None = None,
        view: Callable[[Any], T] = lambda r: r,
        *,
        keys: list[Key] | None = None,
        checked: bool = False,
    ) -> T:
        """Run ``op`` (a command record, or its log name with ``args``) on the engine now, build
        its answer with ``view`` at once (before any later command can change the state it
        shows), then wait until it is durable.

        ``keys``: store keys written in the command's own append if it succeeds (a new
        conversation's customer token). ``checked``: ``args`` were already found well formed
        (the HTTP edge checked the request they come from, :func:`~unirouter.wellformed`).

        A refused command raises its :class:`~unirouter.errors.CommandError` once everything it
        may have observed is durable; it wrote nothing unless due timers fired first.
        """
        result, error = self.execute(op, args, actor=ACTOR.get(), keys=keys, checked=checked)
        answer = view(result) if error is None else None
        await self.barrier()
        if error is not None:
            raise error
        return answer  # type: ignore[return-value]

    def now(self) -> float:
        """Wall-clock time as the engine would read it now (never before its last command)."""
        return max(self._clock.now(), time.time())

    async def read(self, view: Callable[[], T]) -> T:
        """Read engine state now and answer once every command that ran before is durable."""
        self._check_serving()
        answer = view()
        await self.barrier()
        return answer

    async def barrier(self) -> None:
        """Wait until every command run so far is durable (appends finish in order)."""
        tail = self._tail
        if tail is not None and not tail.done():
            await asyncio.shield(tail)
        elif tail is not None and tail.exception() is not None:
            raise HostStopped("the log could not be written") from tail.exception()

    def execute(
        self,
        op: str | vocabulary.Command,
        args: dict[str, Any] | None = None,
        *,
        at: float | None = None,
        actor: str | None = None,
        keys: list[Key] | None = None,
        checked: bool = False,
    ) -> tuple[Any, Exception | None]:
        """Run one command synchronously and queue its records; returns (result, refusal).
        ``op`` is a command record of :mod:`unirouter.engine.commands`, or its log name with its
        JSON ``args`` (decoded into the record; logged as given). ``actor`` (the token name of
        who asked; None for the server itself) is logged with it. ``keys`` are stored with its
        records when it succeeds; ``checked``: the caller already found ``args`` well formed
        (issue 17), so they are not walked again."""
        self._check_serving()
        if not self.leading:
            raise NotLeader("this server follows the leader; commands run there")
        command: vocabulary.Command | None = None
        if isinstance(op, str):
            args = {} if args is None else args
        else:
            command = op
            op, args = command.op, command.args()
        flaw = None if checked else wellformed.first_flaw(args, max_depth=None)
        if flaw is not None:  # issue 17: what the log could not hold, or no reader send back
            field = flaw.field
            return None, errors.InvalidCommand(f"{field} {flaw.message}", field=field)
        now = max(self._clock.now(), time.time() if at is None else at)
        self._clock.set(now)
        due_before = self.engine.next_deadline()
        result: Any = None
        error: Exception | None = None
        try:
            if command is None:
                command = commands.command_of(op, args)
            result = vocabulary.execute(self.engine, command)
        except (errors.CommandError, errors.ConfigError) as exc:
            error = exc
        except Exception as exc:  # a defect: logged so the replay re-runs it the same way
            log.exception("command %s failed", op)
            error = exc
        events = self.engine.drain_events()
        outcome = "ok" if error is None else type(error).__name__
        self.metrics.count_command(op, outcome)
        # A refusal is logged when it changed anything: events, or timers it fired silently.
        fired = self.engine.next_deadline() != due_before
        if error is None or events or fired or not isinstance(error, errors.UnirouterError):
            self._log(op, args, now, error, events, actor, keys if error is None else None)
        self._rearm()
        return result, error

    def _log(
        self,
        op: str,
        args: dict[str, Any],
        now: float,
        error: Exception | None,
        events: list[Any],
        actor: str | None = None,
        extra_keys: list[Key] | None = None,
    ) -> None:
        command: dict[str, Any] = {"op": op, "t": now, "args": args}
        if actor is not None:
            command["actor"] = actor
        if error is not None:
            command["refused"] = type(error).__name__
        try:
            record = _record(command)
            encoded = [encode_event(e) for e in events]
        except ValueError as exc:
            # A non-finite number the engine computed: the log stays strict JSON (issue 17), and
            # the engine has moved past what the log can say, so the host stops (as on a failed
            # append) rather than serve a state a restart would not rebuild.
            self._fail(exc, [])
            raise HostStopped(
                "a command's events are not strict JSON; the server is stopping"
            ) from exc
        dicts = [wellformed.decode(body) for body in encoded]
        self._feed(command, dicts)
        records = [record, *(Record(kind=RecordKind.EVENT, body=b) for b in encoded)]
        bodies = [(RecordKind.COMMAND, command), *((RecordKind.EVENT, d) for d in dicts)]
        keys = [intake_keys.key_of(d) for d in dicts if d.get("type") == "item_created"]
        if extra_keys:
            keys += extra_keys
        self._enqueue(records, bodies, self._take_snapshot(len(records)), keys)

    def _take_snapshot(self, records: int) -> Callable[[], bytes] | None:
        """Every ``snapshot_every`` records, the engine's state right after this command: begun
        here, in the loop's thread between commands, so it matches a record boundary exactly, and
        pickled in a forked child so no request waits on it."""
        if self.snapshot_every is None:
            return None
        self._since_snapshot += records
        if self._since_snapshot < self.snapshot_every or self._snapshots_due:
            return None  # not due, or the previous one is still being taken or written
        self._since_snapshot = 0
        try:
            collect = snapshot_child.begin(self.engine.snapshot)
        except Exception:  # a snapshot is an optimisation: never let it stop the server
            log.exception("taking an engine snapshot failed")
            return None
        self._snapshots_due += 1
        return collect

    async def forgotten_intake(self, workstream: str, external_id: str) -> str | None:
        """The id of the item an intake of (``workstream``, ``external_id``) made, from the store's
        intake keys (durable with the item, indexed): found also once the engine let the closed
        item go (issue 17 item 8). None when there was none."""
        scope = intake_keys.SCOPE + workstream
        return await asyncio.to_thread(self.store.recall_key, scope, external_id)

    async def repeat_of(
        self, workstream: str, external_id: str
    ) -> tuple[WorkItem | None, str | None]:
        """(the held item an intake of (``workstream``, ``external_id``) made, the id of one that
        was closed and left memory): both None for a new intake (issue 17 item 8)."""
        held = self.engine.item_by_external_id(workstream, external_id)
        if held is not None or not self.engine.forgets_closed:
            return held, None
        forgotten = await self.forgotten_intake(workstream, external_id)
        held = self.engine.item_by_external_id(workstream, external_id)
        return held, None if held is not None else forgotten

    def _check_serving(self) -> None:
        if self.failure is not None:
            raise HostStopped("the log could not be written; the server is stopping")
        if self.stopping:
            raise HostStopped("the server is shutting down")

    # -- the appender -----------------------------------------------------------------------------

    def _enqueue(
        self,
        records: list[Record],
        bodies: list[tuple[RecordKind, dict[str, Any]]],
        snapshot: Callable[[], bytes] | None = None,
        keys: list[Key] | None = None,
    ) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(records, bodies, future, snapshot, keys or []))
        self._tail = future
        assert self._wakeup is not None
        self._wakeup.set()
        return future

    async def _append_loop(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                if not await self._append(batch):
                    return

    async def _append(self, batch: list[_Pending]) -> bool:
        records = [r for pending in batch for r in pending.records]
        keys = [k for pending in batch for k in pending.keys]
        started = time.perf_counter()
        try:
            last = await asyncio.to_thread(self.store.append, records, keys)
        except BaseException as exc:
            self._fail(exc, batch)
            return False
        self.durable_cursor = last
        self.metrics.append_seconds.observe(time.perf_counter() - started)
        self.metrics.append_records.observe(len(records))
        cursor = last - len(records)
        for pending in batch:
            # A new log's init batch publishes its command only (not the events after it).
            for record, (kind, body) in zip(pending.records, pending.bodies, strict=False):
                cursor += 1
                data = record.body if isinstance(record.body, bytes) else record.body.encode()
                self._publish(Published(cursor=cursor, kind=kind, body=body, data=data))
            if not pending.future.done():
                pending.future.set_result(cursor)
            if pending.snapshot is not None:
                self._store_snapshot(cursor, pending.snapshot)
        return True

    def _store_snapshot(self, cursor: int | None, collect: Callable[[], bytes]) -> None:
        """Write a snapshot off the loop once its records are durable; a failure is only logged
        (the next restart replays more of the log). ``cursor`` None: its records were never
        written, so the snapshot is only collected and dropped."""

        async def write() -> None:
            try:
                body = await asyncio.to_thread(collect)
                if cursor is None:
                    return
                await asyncio.to_thread(self.store.put_snapshot, cursor, body)
            except Exception as exc:
                log.warning("storing the engine snapshot at cursor %s failed: %s", cursor, exc)
            else:
                self.snapshot_cursor = cursor
            finally:
                self._snapshots_due -= 1

        task = asyncio.get_running_loop().create_task(write(), name="unirouter-snapshot")
        self._snapshot_writes.add(task)
        task.add_done_callback(self._snapshot_writes.discard)

    def _fail(self, exc: BaseException, batch: list[_Pending]) -> None:
        log.error("appending to the log failed; stopping: %s", exc)
        self.failure = exc
        for pending in [*batch, *self._queue]:
            if pending.snapshot is not None:  # reap its child and its file; never stored
                self._store_snapshot(None, pending.snapshot)
            if not pending.future.done():
                pending.future.set_exception(HostStopped("the log could not be written"))
                pending.future.exception()  # read, so an unawaited one logs nothing
        self._queue = []
        self.on_failure(exc)

    # -- subscribers ------------------------------------------------------------------------------

    def subscribe(self, accept: Callable[[Published], bool]) -> Subscription:
        """Durable records from now on that ``accept`` lets through, in log order."""
        sub = Subscription(accept=accept)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def _publish(self, record: Published) -> None:
        if record.kind is RecordKind.EVENT:
            self.metrics.count_event(record.body.get("type", ""))
        for sub in list(self._subscribers):
            if sub.accept(record):
                _offer(sub, record)

    # -- time ---------------------------------------------------------------------------------------

    def _rearm(self) -> None:
        """Sleep until the engine's next deadline (R21: a timer, never a poll)."""
        due = self.engine.next_deadline()
        if due == self._armed or self.stopping or self.failure is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = due
        if due is not None:
            delay = max(0.0, due - time.time())
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire, due)

    def _fire(self, due: float) -> None:
        self._timer, self._armed = None, None
        if self.stopping or self.failure is not None:
            return
        # The wall clock may read a hair before the deadline the loop woke for: fire it anyway.
        self.execute(vocabulary.Advance(), at=max(time.time(), due))


def _record(command: dict[str, Any]) -> Record:
    """A command as the log holds it: strict JSON (no NaN, issue 17), ASCII as it always was."""
    text = json.dumps(command, separators=(",", ":"), allow_nan=False)
    return Record(kind=RecordKind.COMMAND, body=text)


def _offer(sub: Subscription, record: Published | None) -> None:
    if sub.overflowed:
        return
    try:
        sub.queue.put_nowait(record)
    except asyncio.QueueFull:
        sub.overflowed = True
