"""Run a scenario in virtual time over the real engine (SPEC §7).

One loop, one clock. The next thing to happen is either a task on the agenda (a scripted action,
or one the simulated agents or customers do: answer an offer, finish handling, end wrap-up) or an
engine deadline (:meth:`Engine.next_deadline`: offer expiries, scheduled starts, TTLs, overflow
timers, R21). The :class:`~unirouter.engine.ManualClock` jumps there, the engine acts, and its events
go to the behaviour model (which may put more tasks on the agenda), to the run's
:class:`~unirouter.analytics.kpis.KpiAccumulator` (the KPIs of SPEC §8 in the result) and to the observers
(the ``--events`` file, the narrator). Every routing decision is the engine's; nothing here routes.

A scripted action the engine refuses (any :class:`~unirouter.errors.CommandError`) is recorded as a
:class:`~unirouter.sim.results.Refusal` and the run goes on. The run ends once ``duration`` has passed and nothing is
pending (no task on the agenda, no item waiting for an agent), or at ``duration`` + 7 days.

Generated traffic (SPEC §7) runs through the same loop: each arrival source keeps one
:class:`~unirouter.sim.agenda.Arrive` task on the agenda (its next arrival, drawn from its own
random stream), the item goes to the engine as any intake would, and its customer's patience and
its handle and wrap-up times become further tasks (a callback the engine makes for it, R12, is
worked like it). Per-item runner and KPI state of a generated item lives only while the item is
open, and the engine keeps only the last :data:`RETAIN_CLOSED` closed items and ended offers, so
memory stays bounded however many items a run generates. ``replications`` repeat the run, each
with a fresh engine and a seed derived from the scenario's (:func:`~unirouter.sim.traffic.replication_seed`).

Shifts go through engine commands only: at a shift's start the agent is set ``available``; at its
end (and at the start of the run, when no shift covers it) ``offline``, a sticky manual presence
(R32) under which the engine offers nothing new but keeps what the agent holds, which the agent then
finishes as usual. An offer still open at the shift's end is declined (accepted when the
workstream does not allow declines).

This module is about 570 lines, over the usual 400: the loop, the behaviour of the simulated people
and the books kept on the engine's events share one run's state (agenda, open items, offers); split
into several classes, each would reach into the others' state. The next thing to move out, if it
grows, is the generated-traffic section of :class:`_Run`.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Protocol

from unirouter import errors
from unirouter.analytics import kpis
from unirouter.config import model
from unirouter.engine import (
    CloseReason,
    Engine,
    Event,
    EventType,
    ItemState,
    ManualClock,
    OfferStatus,
    WorkItem,
    commands,
)
from unirouter.engine.events import encode as encode_event
from unirouter.sim import actions, agenda, results, traffic
from unirouter.sim.scenario import Scenario

__all__ = [
    "DRAIN_IDLE_S",
    "HARD_CAP_S",
    "RETAIN_CLOSED",
    "Demand",
    "EventsFile",
    "Listener",
    "Observer",
    "run",
]


#: How long past ``duration`` a run may go on while items are still pending.
HARD_CAP_S = 7 * 86_400.0
#: A drain whose next step is only an engine timer (aging, say) after this long without an event
#: cannot end by itself: the run stops there and says so (see :meth:`_Run._stalled`).
DRAIN_IDLE_S = 86_400.0
#: Closed items the engine keeps in memory during a run with generated traffic.
RETAIN_CLOSED = 10_000
#: The cyclic garbage collector's youngest-generation threshold during a run (CPython's default
#: is 700). A run allocates and frees a dozen objects per item, almost none of them in reference
#: cycles, so the collections the default would trigger every few dozen items find next to
#: nothing, yet cost about a tenth of a long simulation's time (``unirouter bench sim``).
GC_THRESHOLD = 10_000

#: A callable that sees every engine event of a run (e.g. a KPI accumulator).
Listener = Callable[[Event], None]


class Traffic(Protocol):
    """Where a run's arrivals come from: :class:`~unirouter.sim.traffic.Generator`, or recorded
    demand (``unirouter replay``). ``next_time`` and ``item`` are called in pairs, per source."""

    count: int

    @property
    def sources(self) -> range: ...

    def next_time(self, source: int, after: float) -> float | None: ...

    def item(self, source: int) -> traffic.Generated: ...


#: Recorded demand for a replication: its seed to the traffic it sends (``unirouter replay``).
Demand = Callable[[int], Traffic]


# -- observers ---------------------------------------------------------------------------------------


class Observer(Protocol):
    """Receives the events of a run as they happen, with the task that caused them."""

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        """A batch of events, oldest first; ``cause`` is None for timers and the start."""

    def on_refusal(self, refusal: results.Refusal) -> None:
        """A scripted action the engine refused."""


class EventsFile:
    """Writes each event as one JSON line the moment it comes (``--events FILE.jsonl``), in the
    wire format of the server's log (:func:`unirouter.engine.events.encode`).

    ``item_created`` lines also carry the item's ``attributes``, ``customer`` and requested
    ``skills`` (extra fields, SPEC §6.1.1), so ``unirouter capture`` can take a day's demand from
    the file as from a server's log, whose intake commands hold them."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        write = self._stream.write
        for event in events:
            extra = None
            if event.type is EventType.ITEM_CREATED and event.item is not None:
                extra = _intake(engine, event.item)
            write(encode_event(event, strict=False, extra=extra).decode() + "\n")

    def on_refusal(self, refusal: results.Refusal) -> None:
        """Refusals are not engine events: the events file holds only what the engine emitted."""


def _intake(engine: Engine, ident: str) -> dict[str, object]:
    """What the item was submitted with, as its intake left it."""
    try:
        item = engine.item(ident)
    except errors.NotFound:
        return {}
    skills = item.base_skills or item.skills
    return {
        "attributes": dict(item.attributes),
        "customer": dict(item.customer),
        "skills": [s.model_dump(exclude_defaults=True) for s in skills],
    }


# -- the run -------------------------------------------------------------------------------------------


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    trace: bool = False,
    explain: bool = False,
    observers: Iterable[Observer] = (),
    listeners: Iterable[Listener] = (),
    demand: Demand | None = None,
    horizon_s: float | None = None,
) -> results.RunResult:
    """Run ``scenario`` to its end, once per replication; ``seed`` overrides the scenario's.

    ``horizon_s`` stops each replication there even with items pending (they count as
    ``left_open``), as a recorded day stops where its record does.

    ``demand`` replaces the scenario's generated arrivals by recorded ones (``unirouter replay``):
    each replication gets the traffic ``demand(seed)`` sends, measured as generated traffic is.

    ``trace`` keeps every item's trace (R43) and returns it in the result; ``explain`` keeps traces
    only for the observers (the narrator reads why an item went where it went). Observers and
    ``listeners`` see the replications one after the other (each engine numbers its events from 1).
    """
    seed = scenario.seed if seed is None else seed
    observers, listeners = list(observers), list(listeners)
    runs: list[results.RunResult] = []
    with _fewer_collections():
        for index in range(scenario.replications):
            runs.append(
                _replicate(
                    scenario, seed, index, trace, explain, observers, listeners, demand, horizon_s
                )
            )
    return results.combine(runs, seed=seed, generated=bool(scenario.arrivals) or demand is not None)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the collector's threshold to :data:`GC_THRESHOLD` for a run; restore it after."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], GC_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _replicate(
    scenario: Scenario,
    seed: int,
    index: int,
    trace: bool,
    explain: bool,
    observers: list[Observer],
    listeners: list[Listener],
    demand: Demand | None = None,
    horizon_s: float | None = None,
) -> results.RunResult:
    """One replication, with its own engine and the seed derived for it."""
    one = _Run(
        scenario,
        traffic.replication_seed(seed, index),
        replication=index if scenario.replications > 1 else None,
        trace=trace,
        explain=explain,
        observers=observers,
        listeners=listeners,
        demand=demand,
    )
    if horizon_s is not None:
        one.cap, one.horizon = horizon_s, True
    return one.run()


def busyness(scenario: Scenario, seed: int) -> float:
    """The replication's factor on every arrival rate: one draw of ``busyness`` (else 1)."""
    if scenario.busyness is None:
        return 1.0
    return scenario.busyness.sample(traffic.stream(seed, "busyness"))


class _Open:
    """What the runner knows of an open generated item: its agent's and customer's times
    (``handle_for``: the handle time depends on who takes it, recorded demand); ``named`` once a
    scripted action refers to it (a scripted submit of its external id), so its offers are kept
    for the script (:meth:`_Run.offer_id`)."""

    __slots__ = ("answered", "handle_for", "handle_s", "named", "wrap_up_s")

    def __init__(
        self,
        handle_s: float,
        wrap_up_s: float,
        handle_for: Callable[[str], float] | None = None,
    ) -> None:
        self.handle_s = handle_s
        self.wrap_up_s = wrap_up_s
        self.handle_for = handle_for
        self.answered = False
        self.named = False


class _Run:
    """One run: the engine, its clock, the agenda and what the events told so far."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        *,
        replication: int | None = None,
        trace: bool,
        explain: bool,
        observers: Iterable[Observer],
        listeners: Iterable[Listener] = (),
        demand: Demand | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.replication = replication
        self.keep_traces = trace
        self.rng = random.Random(seed)  # the behaviour model's stream, as in scripted runs
        self.response_rng = traffic.stream(seed, "response_s")
        self.clock = ManualClock(0.0)
        self.engine = Engine(
            scenario.config,
            clock=self.clock,
            epoch=scenario.start,
            trace=trace or explain,
            retain_closed=RETAIN_CLOSED if scenario.arrivals or demand is not None else None,
        )
        self.observers = list(observers)
        self.listeners = list(listeners)
        self.agenda = agenda.Agenda()
        self.factor = busyness(scenario, seed)
        self.generator: Traffic = (
            traffic.Generator(
                scenario.arrivals, seed=seed, factor=self.factor, until=scenario.duration
            )
            if demand is None
            else demand(seed)
        )
        generated = bool(scenario.arrivals) or demand is not None
        self.open: dict[str, _Open] = {}  # generated items still open, by engine id
        self.callback_of: _Open | None = None  # a generated item overflowing to a callback (R12)
        # Agents' figures cover the generated day, not the drain after it (see kpis); a scripted
        # run ends when its script does, so it is measured to the end.
        self.kpi = kpis.KpiAccumulator(
            scenario.config,
            warmup_s=scenario.warmup,
            end_s=scenario.duration if generated else None,
        )
        self.closed: dict[str, WorkItem] = {}  # scripted items as they closed
        self.off_shift: set[str] = set()
        self._plan_shifts()
        for action in scenario.events:
            self.agenda.push(action.at, action)
        for source in self.generator.sources:
            self._next_arrival(source, 0.0)
        self.cap = scenario.duration + HARD_CAP_S
        self.horizon = False  # the cap is where a replayed record ends (run(horizon_s=))
        self.counts: dict[EventType, int] = dict.fromkeys(EventType, 0)
        self.refusals: list[results.Refusal] = []
        self.ids: dict[str, str] = {}  # scenario id (external id) -> engine id
        self.names: dict[str, str] = {}  # engine id -> external id
        self.offers: dict[str, dict[str, str]] = {}  # engine id -> agent -> latest offer
        self.generation: dict[str, int] = {}  # engine id -> assignments so far
        self.waiting: set[str] = set()  # items without an agent yet (scheduled to offered)
        self.readers = self._readers()
        self.tasks = self._tasks()
        self.last_event_t = 0.0
        #: The engine's next deadline as of the last :meth:`_next_time`: nothing runs on the
        #: engine between that and the task it chose, so the task reads it from here.
        self.deadline: float | None = None
        self.stopped: str | None = None  # why a drain that could not end was stopped

    def run(self) -> results.RunResult:
        self._flush(None)
        clock, heap = self.clock, self.agenda.heap
        while (t := self._next_time()) is not None:
            if t > clock.now():
                clock.set(t)
            if heap and heap[0][0] <= t:  # the agenda's earliest task (Agenda.pop_due, inlined)
                self._perform(heapq.heappop(heap)[2])
            else:
                self.engine.advance()
                self._flush(None)
        if self.clock.now() < self.scenario.duration:  # the final state is as of the end
            self.clock.set(self.scenario.duration)
            self.engine.advance()
            self._flush(None)
        return self._result()

    def _next_time(self) -> float | None:
        """When the next task or deadline is due; None once the run is over."""
        heap = self.agenda.heap
        t, deadline = heap[0][0] if heap else None, self.engine.next_deadline()
        self.deadline = deadline
        if deadline is not None and (t is None or deadline < t):
            t = deadline
        if t is None:
            return None
        if t <= self.scenario.duration:  # the day itself: neither over nor stalled
            return t
        if not self.agenda and not self.waiting:
            return None
        if t > self.cap or self._stalled(t):
            self.stopped = self._why_stopped(t)
            return None
        return t

    def _stalled(self, t: float) -> bool:
        """Draining, and the next step is an engine timer a day after the last event: only timers
        that change nothing (aging of items nobody can take) are left, so the drain cannot end."""
        due = self.agenda.next_time()
        idle_since = max(self.last_event_t, self.scenario.duration)
        return (
            t > self.scenario.duration
            and (due is None or due > t)
            and t - idle_since > DRAIN_IDLE_S
        )

    def _why_stopped(self, t: float) -> str:
        """The sentence a stopped drain reports: when, why and what was still open."""
        still = len(self.waiting) + len(self.open)
        if self.horizon and t > self.cap:
            return (f"the replay stopped at {self.cap:.0f} s, where the record ends: {still} "
                    "item(s) still open count as left_open, as in the record")  # fmt: skip
        limit = "the 7-day limit after the arrivals stopped" if t > self.cap else (
            f"{DRAIN_IDLE_S / 3600:.0f} h without an event")  # fmt: skip
        return (
            f"the drain was stopped at {self.clock.now():.0f} s after {limit}: {still} item(s) "
            "still waiting that no agent takes; the KPIs are those so far (they count as left_open)"
        )

    def _perform(self, task: agenda.Task) -> None:
        """Do one task; a scripted action the engine refuses becomes a :class:`~unirouter.sim.results.Refusal`."""
        refused: errors.CommandError | None = None
        try:
            self.tasks.get(type(task), self._perform_other)(task)
        except errors.CommandError as error:
            if not isinstance(task, actions.Action | agenda.Arrive):
                raise  # the behaviour model checks its preconditions: this is a bug
            refused = error
        self._flush(task)
        if refused is not None and not isinstance(task, agenda.Behaviour):
            self._refuse(task.index, task.describe(), refused)
        elif refused is not None and isinstance(task, agenda.Arrive):
            workstream = self.scenario.arrivals[task.source].workstream
            self._refuse(-1, {"arrivals": task.source, "workstream": workstream}, refused)

    def _refuse(self, index: int, action: dict[str, object], error: errors.CommandError) -> None:
        """An action the engine refused (``index`` -1: a generated arrival) goes in ``errors``."""
        refusal = results.Refusal(
            t=self.clock.now(),
            index=index,
            action=action,
            message=error.message,
            code=error.code,
            replication=self.replication,
        )
        self.refusals.append(refusal)
        for observer in self.observers:
            observer.on_refusal(refusal)

    # -- scripted actions (SPEC §7) -----------------------------------------------------------------

    def _scripted(self, action: actions.Action) -> None:
        """Run the engine command the action is (:meth:`~unirouter.sim.actions.Action.command`)."""
        done = commands.execute(self.engine, action.command(self))
        if isinstance(action, actions.Submit):
            assert isinstance(done, WorkItem)
            self.ids.setdefault(action.item.id, done.id)
            if (held := self.open.get(done.id)) is not None:
                held.named = True

    def item_id(self, name: str) -> str:
        """The engine id of the item the scenario calls ``name``."""
        ident = self.ids.get(name)
        if ident is None:
            raise errors.NotFound(f"item {name} has not been submitted yet", item=name)
        return ident

    def offer_id(self, name: str, agent: str) -> str:
        """The agent's latest offer of the item, else the item's open offer (the engine judges)."""
        ident = self.item_id(name)
        offer = self.offers.get(ident, {}).get(agent) or self.engine.item(ident).offer
        if offer is None:
            raise errors.OfferNotOpen(
                f"item {name} has no offer for agent {agent}", item=name, agent=agent
            )
        return offer

    def _spec(self, ident: str) -> actions.ItemSpec | None:
        return self.scenario.items.get(self.names.get(ident, ""))

    def wraps_up(self, ident: str) -> bool:
        """Whether completing the item goes to wrap-up (R33) rather than straight to closed.

        A generated item wraps up when its drawn ``wrap_up_s`` is positive. A scripted one (SPEC
        §7 ``{complete: ITEM}``) wraps up when it was given a ``wrap_up_s`` or when its workstream
        configures a ``wrap_up`` that blocks capacity (``always`` or N seconds): it then stays in
        wrap-up until a ``{close}`` or its ``wrap_up_s`` ends it, as ``Engine.complete`` does.
        """
        if (held := self.open.get(ident)) is not None:
            return held.wrap_up_s > 0
        spec = self._spec(ident)
        if spec is not None and spec.wrap_up_s:
            return True
        workstream = self.engine.config.workstreams.get(self.engine.item(ident).workstream)
        if workstream is None or "wrap_up" not in workstream.model_fields_set:
            return False
        return workstream.wrap_up.block != "none"

    # -- what the simulated people do -----------------------------------------------------------------

    def _tasks(self) -> dict[type, Callable[[agenda.Task], None]]:
        """What each kind of behaviour task does, looked up by its class once per task (scripted
        actions, of many classes, go through :meth:`_perform_other`)."""
        table: dict[type, Callable[[Any], None]] = {
            agenda.Arrive: self._arrive_task,
            agenda.AnswerOffer: self._answer,
            agenda.FinishWork: self._finish,
            agenda.EndWrapUp: self._end_wrap_up,
            agenda.Abandon: self._abandon_task,
            agenda.ShiftChange: self._shift_task,
        }
        return table

    def _perform_other(self, task: agenda.Task) -> None:
        if isinstance(task, actions.Action):
            self._scripted(task)
        else:
            self._behave(task)

    def _behave(self, task: agenda.Behaviour) -> None:
        """Do a behaviour task (what :meth:`_tasks` maps its class to)."""
        self.tasks[type(task)](task)

    def _due_first(self) -> None:
        """Fire what is due before the simulated people act: reads do not, and an offer may
        expire. (An arrival needs none of it: its submit fires what is due itself.)"""
        due = self.deadline
        if due is not None and due <= self.clock.now():
            self.engine.advance()
            self.deadline = self.engine.next_deadline()

    def _arrive_task(self, task: agenda.Arrive) -> None:
        self._arrive(task.source)

    def _abandon_task(self, task: agenda.Abandon) -> None:
        self._due_first()
        self._abandon(task.item)

    def _shift_task(self, task: agenda.ShiftChange) -> None:
        self._due_first()
        self._shift(task.agent, on=task.on)

    def _answer(self, task: agenda.AnswerOffer) -> None:
        """The agent answers an offer; one whose shift has ended declines when it may."""
        self._due_first()
        engine = self.engine
        try:
            offer = engine.offer(task.offer)
        except errors.NotFound:
            return  # ended long ago: the engine let it go (RETAIN_CLOSED)
        if offer.status is not OfferStatus.OPEN:
            return  # answered by script, expired or withdrawn meanwhile
        if task.accept and task.agent not in self.off_shift:
            engine.accept(task.offer, agent=task.agent)
            return
        item = engine.item(offer.item)
        if engine.config.workstreams[item.workstream].offer.rejectable:
            engine.decline(task.offer, agent=task.agent)
        else:
            engine.accept(task.offer, agent=task.agent)

    def _finish(self, task: agenda.FinishWork) -> None:
        """Handling ends, unless the item moved on since (a newer task owns it)."""
        self._due_first()
        if self._current(task.item, task.generation, ItemState.ASSIGNED):
            self.engine.complete(task.item, wrap_up=self.wraps_up(task.item))

    def _end_wrap_up(self, task: agenda.EndWrapUp) -> None:
        """Wrap-up ends, unless the item moved on since."""
        self._due_first()
        if self._current(task.item, task.generation, ItemState.WRAP_UP):
            self.engine.close(task.item)

    def _current(self, ident: str, generation: int, state: ItemState) -> bool:
        """Whether the item is still in ``state`` from its ``generation``-th assignment."""
        if self.generation.get(ident) != generation or ident in self.closed:
            return False  # reassigned since, or closed (the engine may have let a closed item go)
        return self.engine.item(ident).state is state

    # -- generated traffic --------------------------------------------------------------------------

    def _next_arrival(self, source: int, after: float) -> None:
        t = self.generator.next_time(source, after)
        if t is not None:
            self.agenda.push(t, agenda.Arrive(source=source))

    def _arrive(self, source: int) -> None:
        """A generated item arrives; its next one is put on the agenda first (whatever happens)."""
        now = self.clock.now()
        self._next_arrival(source, now)
        made = self.generator.item(source)
        item = commands.execute(self.engine, made.intake)
        assert isinstance(item, WorkItem)
        held = self.open[item.id] = _Open(made.handle_s, made.wrap_up_s, made.handle_for)
        held.named = item.id in self.names  # a script submitted its external id first
        if made.patience_s is not None:
            self.agenda.push(now + made.patience_s, agenda.Abandon(item=item.id))

    def _abandon(self, ident: str) -> None:
        """The customer leaves if still waiting unanswered when patience runs out (R40)."""
        held = self.open.get(ident)
        if held is None or held.answered:
            return
        if self.engine.item(ident).state in _ABANDONABLE:
            commands.execute(self.engine, commands.Cancel(item=ident, reason=CloseReason.ABANDONED))

    def _plan_shifts(self) -> None:
        """Offline at the start unless a shift covers it; available and offline at the edges."""
        for agent, spans in traffic.shift_plan(self.scenario.shifts).items():
            if spans[0][0] > 0:
                self.agenda.push(0.0, agenda.ShiftChange(agent=agent, on=False))
            for start, end in spans:
                self.agenda.push(start, agenda.ShiftChange(agent=agent, on=True))
                if end != math.inf:
                    self.agenda.push(end, agenda.ShiftChange(agent=agent, on=False))

    def _shift(self, agent: str, *, on: bool) -> None:
        if on:
            self.off_shift.discard(agent)
            presence = model.BasePresence.AVAILABLE
        else:
            self.off_shift.add(agent)
            presence = model.BasePresence.OFFLINE
        commands.execute(self.engine, commands.SetPresence(agent=agent, presence=presence))

    # -- events -------------------------------------------------------------------------------------------

    def _flush(self, cause: agenda.Task | None) -> None:
        events = self.engine.drain_events()
        if not events:
            return
        self.last_event_t = events[-1].t
        counts, readers = self.counts, self.readers
        for event in events:
            kind = event.type
            counts[kind] += 1
            for reader in readers[kind]:
                reader(event)
        for observer in self.observers:
            observer.on_events(events, self.engine, cause)

    def _readers(self) -> dict[EventType, tuple[Listener, ...]]:
        """Per event type, who reads it, in this order: the run's books (and the behaviour model
        answering what the engine asks), the KPI accumulator, then the listeners.

        Dispatching on the type once per event, rather than in each reader, is most of what the
        runner costs per event (``unirouter bench sim``).
        """
        books: dict[EventType, tuple[Listener, ...]] = {
            EventType.ITEM_CREATED: (self._on_created,),
            EventType.ITEM_OVERFLOWED: (self._on_overflowed,),
            EventType.OFFER_MADE: (self._offered,),
            EventType.ITEM_ASSIGNED: (self._on_assigned,),
            EventType.ITEM_WRAP_UP: (self._on_wrap_up,),
            EventType.ITEM_PARKED: (self._on_not_waiting,),
            EventType.ITEM_CLOSED: (self._on_closed,),
            EventType.CONFIG_APPLIED: (),
        }
        for kind in (
            EventType.ITEM_SCHEDULED,
            EventType.ITEM_QUEUED,
            EventType.ITEM_RESUMED,
            EventType.ITEM_TRANSFERRED,
        ):
            books[kind] = (self._on_waiting,)
        kpi = self.kpi.handlers()
        readers: dict[EventType, tuple[Listener, ...]] = {}
        for kind in EventType:
            chain = list(books.get(kind, ()))
            if kind in kpi:
                chain.append(kpi[kind])
            if kind is EventType.CONFIG_APPLIED:
                chain.append(self._on_config_applied)
            readers[kind] = (*chain, *self.listeners)
        return readers

    def _on_created(self, event: Event) -> None:
        ident = event.item or ""
        if ident not in self.open:
            self._created(ident, str(event.data["external_id"]))
        self.waiting.add(ident)

    def _on_overflowed(self, event: Event) -> None:
        if event.data.get("action") == "callback":
            held = self.open.get(event.item or "")
            if held is not None:  # the callback the engine makes next is this customer's
                self.callback_of = _Open(held.handle_s, held.wrap_up_s, held.handle_for)

    def _on_waiting(self, event: Event) -> None:
        self.waiting.add(event.item or "")

    def _on_not_waiting(self, event: Event) -> None:
        self.waiting.discard(event.item or "")

    def _on_wrap_up(self, event: Event) -> None:
        self._wrapping_up(event.t, event.item or "")

    def _on_config_applied(self, event: Event) -> None:
        self.kpi.apply_config(self.engine.config, event.t)

    def _created(self, ident: str, name: str) -> None:
        """A new item that is not a generated arrival: scripted, or made by the engine (R12)."""
        if self.callback_of is not None:  # a generated customer's callback is generated work
            self.open[ident], self.callback_of = self.callback_of, None
            return
        self.names[ident] = name
        self.ids.setdefault(name, ident)

    def _on_assigned(self, event: Event) -> None:
        """The item is done its handle time after each assignment (generated, the assigned
        agent's for recorded demand, or ``handle_s``)."""
        ident = event.item or ""
        self.waiting.discard(ident)
        generation = self.generation[ident] = self.generation.get(ident, 0) + 1
        held = self.open.get(ident)
        handle_s: float | None
        if held is not None:
            handle_s = (
                held.handle_s if held.handle_for is None else held.handle_for(event.agent or "")
            )
            held.answered = True
        else:
            spec = self._spec(ident)
            handle_s = None if spec is None else spec.handle_s
        if handle_s is not None:
            task = agenda.FinishWork(item=ident, generation=generation)
            self.agenda.push(event.t + handle_s, task)

    def _wrapping_up(self, t: float, ident: str) -> None:
        held, spec = self.open.get(ident), self._spec(ident)
        wrap_up_s = held.wrap_up_s if held is not None else None if spec is None else spec.wrap_up_s
        if wrap_up_s:
            task = agenda.EndWrapUp(item=ident, generation=self.generation.get(ident, 0))
            self.agenda.push(t + wrap_up_s, task)

    def _on_closed(self, event: Event) -> None:
        """A generated item leaves no trace in the runner; a scripted one is kept for the end."""
        ident = event.item or ""
        self.waiting.discard(ident)
        if self.open.pop(ident, None) is not None:
            self.generation.pop(ident, None)
            self.offers.pop(ident, None)
        elif ident in self.names:
            self.closed[ident] = self.engine.item(ident)

    def _offered(self, event: Event) -> None:
        assert event.item is not None and event.agent is not None and event.offer is not None
        self.waiting.add(event.item)
        held = self.open.get(event.item)
        if held is None or held.named:  # only scripted actions name offers (:meth:`offer_id`)
            self.offers.setdefault(event.item, {})[event.agent] = event.offer
        behaviour = self.scenario.behaviour
        if behaviour.manual or event.agent in behaviour.silent:
            return
        accept = self.rng.random() < behaviour.accept
        answer = agenda.AnswerOffer(offer=event.offer, agent=event.agent, accept=accept)
        delay = behaviour.response_s
        if behaviour.response is not None:
            delay = behaviour.response.sample(self.response_rng)
        self.agenda.push(event.t + delay, answer)

    # -- the end ----------------------------------------------------------------------------------------

    def _result(self) -> results.RunResult:
        items: dict[str, results.ItemOutcome] = {}
        for name, spec in self.scenario.items.items():
            ident = self.ids.get(name)
            items[name] = (
                self._outcome(ident)
                if ident is not None
                else results.ItemOutcome(
                    id=None, workstream=spec.workstream, state=results.NOT_SUBMITTED
                )
            )
        for ident, name in self.names.items():  # items the engine made, e.g. callbacks (R12)
            items.setdefault(name, self._outcome(ident))
        counts = dict(sorted((kind._value_, n) for kind, n in self.counts.items() if n))
        replication = results.Replication(
            index=self.replication or 0,
            seed=self.seed,
            busyness=self.factor,
            arrivals_generated=self.generator.count,
            end_s=self.clock.now(),
            left_open=len(self.open),
            counts=counts,
            stopped=self.stopped,
        )
        return results.RunResult(
            seed=self.seed,
            duration_s=self.scenario.duration,
            end_s=self.clock.now(),
            counts=counts,
            errors=tuple(self.refusals),
            items=items,
            warmup_s=self.scenario.warmup,
            arrivals_generated=self.generator.count,
            runs=(replication,),
            kpis=(self.kpi.finish(self.clock.now()),),
        )

    def _outcome(self, ident: str) -> results.ItemOutcome:
        item = self.closed.get(ident) or self.engine.item(ident)
        trace = tuple(dict(entry) for entry in item.trace) if self.keep_traces else None
        return results.ItemOutcome(
            id=item.id,
            workstream=item.workstream,
            state=item.state.value,
            queue=item.queue,
            agent=item.agent,
            close_reason=None if item.close_reason is None else item.close_reason.value,
            trace=trace,
        )


#: States from which a customer can abandon (R40): not yet answered.
_ABANDONABLE = frozenset(
    {ItemState.SCHEDULED, ItemState.ROUTING, ItemState.QUEUED, ItemState.OFFERED}
)
