"""Run a scenario in virtual time over the real engine (SPEC §7).

One loop, one clock. The next thing to happen is either a task on the agenda (a scripted action,
or one the simulated agents or customers do: answer an offer, finish handling, end wrap-up) or an
engine deadline (:meth:`Engine.next_deadline`: offer expiries, scheduled starts, TTLs, overflow
timers, R21). The :class:`~unirouter.engine.ManualClock` jumps there, the engine acts, and its events
go to the behaviour model (which may put more tasks on the agenda) and to the observers (the
``--events`` file, the narrator). Every routing decision is the engine's; nothing here routes.

A scripted action the engine refuses (any :class:`~unirouter.errors.CommandError`) is recorded as a
:class:`~unirouter.sim.results.Refusal` and the run goes on. The run ends once ``duration`` has passed and nothing is
pending (no task on the agenda, no item waiting for an agent), or at ``duration`` + 7 days.

Generated traffic (a later issue) adds arrival sources that put ``Submit`` tasks on the same agenda.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO, Protocol

from unirouter import errors
from unirouter.engine import Engine, Event, EventType, ItemState, ManualClock, OfferStatus
from unirouter.sim import actions, agenda, results
from unirouter.sim.scenario import Scenario

__all__ = ["HARD_CAP_S", "EventsFile", "Observer", "run"]


#: How long past ``duration`` a run may go on while items are still pending.
HARD_CAP_S = 7 * 86_400.0


# -- observers ---------------------------------------------------------------------------------------


class Observer(Protocol):
    """Receives the events of a run as they happen, with the task that caused them."""

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        """A batch of events, oldest first; ``cause`` is None for timers and the start."""

    def on_refusal(self, refusal: results.Refusal) -> None:
        """A scripted action the engine refused."""


class EventsFile:
    """Writes each event as one JSON line the moment it comes (``--events FILE.jsonl``)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        write = self._stream.write
        for event in events:
            write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")

    def on_refusal(self, refusal: results.Refusal) -> None:
        """Refusals are not engine events: the events file holds only what the engine emitted."""


# -- the run -------------------------------------------------------------------------------------------


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    trace: bool = False,
    explain: bool = False,
    observers: Iterable[Observer] = (),
) -> results.RunResult:
    """Run ``scenario`` to its end; ``seed`` overrides the scenario's.

    ``trace`` keeps every item's trace (R43) and returns it in the result; ``explain`` keeps traces
    only for the observers (the narrator reads why an item went where it went).
    """
    seed = scenario.seed if seed is None else seed
    return _Run(scenario, seed, trace=trace, explain=explain, observers=observers).run()


class _Run:
    """One run: the engine, its clock, the agenda and what the events told so far."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        *,
        trace: bool,
        explain: bool,
        observers: Iterable[Observer],
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.keep_traces = trace
        self.rng = random.Random(seed)
        self.clock = ManualClock(0.0)
        self.engine = Engine(
            scenario.config, clock=self.clock, epoch=scenario.start, trace=trace or explain
        )
        self.observers = list(observers)
        self.agenda = agenda.Agenda()
        for action in scenario.events:
            self.agenda.push(action.at, action)
        self.cap = scenario.duration + HARD_CAP_S
        self.counts: Counter[str] = Counter()
        self.refusals: list[results.Refusal] = []
        self.ids: dict[str, str] = {}  # scenario id (external id) -> engine id
        self.names: dict[str, str] = {}  # engine id -> external id
        self.offers: dict[tuple[str, str], str] = {}  # (engine id, agent) -> latest offer
        self.generation: dict[str, int] = {}  # engine id -> assignments so far
        self.waiting: set[str] = set()  # items without an agent yet (scheduled to offered)

    def run(self) -> results.RunResult:
        self._flush(None)
        while (t := self._next_time()) is not None:
            self.clock.set(max(t, self.clock.now()))
            task = self.agenda.pop_due(t)
            if task is None:
                self.engine.advance()
                self._flush(None)
            else:
                self._perform(task)
        if self.clock.now() < self.scenario.duration:  # the final state is as of the end
            self.clock.set(self.scenario.duration)
            self.engine.advance()
            self._flush(None)
        return self._result()

    def _next_time(self) -> float | None:
        """When the next task or deadline is due; None once the run is over."""
        due = [t for t in (self.agenda.next_time(), self.engine.next_deadline()) if t is not None]
        if not due:
            return None
        t = min(due)
        if t > self.cap or (t > self.scenario.duration and not self.agenda and not self.waiting):
            return None
        return t

    def _perform(self, task: agenda.Task) -> None:
        """Do one task; a scripted action the engine refuses becomes a :class:`~unirouter.sim.results.Refusal`."""
        refused: errors.CommandError | None = None
        try:
            if isinstance(task, actions.Action):
                self._scripted(task)
            else:
                self._behave(task)
        except errors.CommandError as error:
            if not isinstance(task, actions.Action):
                raise  # the behaviour model checks its preconditions: this is a bug
            refused = error
        self._flush(task)
        if refused is not None and isinstance(task, actions.Action):
            self._refuse(task, refused)

    def _refuse(self, action: actions.Action, error: errors.CommandError) -> None:
        refusal = results.Refusal(
            t=self.clock.now(),
            index=action.index,
            action=action.describe(),
            message=error.message,
            code=error.code,
        )
        self.refusals.append(refusal)
        for observer in self.observers:
            observer.on_refusal(refusal)

    # -- scripted actions (SPEC §7) -----------------------------------------------------------------

    def _scripted(self, action: actions.Action) -> None:
        engine = self.engine
        match action:
            case actions.SetPresence():
                engine.set_presence(action.agent, action.presence, label=action.label)
            case actions.Submit():
                self._submit(action.item)
            case actions.Accept():
                engine.accept(self._offer_for(action.item, action.agent), agent=action.agent)
            case actions.Decline():
                offer = self._offer_for(action.item, action.agent)
                engine.decline(offer, agent=action.agent, reason=action.reason)
            case actions.Pick():
                engine.pick(self._item(action.item), agent=action.agent)
            case actions.Complete():
                ident = self._item(action.item)
                engine.complete(ident, wrap_up=self._wraps_up(ident))
            case actions.Close():
                engine.close(self._item(action.item))
            case actions.Park():
                engine.park(self._item(action.item))
            case actions.Resume():
                engine.resume(self._item(action.item))
            case actions.Cancel():
                engine.cancel(self._item(action.item), reason=action.reason)
            case actions.Transfer():
                ident = self._item(action.item)
                engine.transfer(ident, queue=action.queue, agent=action.agent)
            case actions.Assign():
                engine.force_assign(self._item(action.item), agent=action.agent)
            case actions.Disconnect():
                engine.disconnect(action.agent)
            case actions.Reconnect():
                engine.reconnect(action.agent)
            case actions.ApplyConfig():
                engine.apply_config(action.config)

    def _submit(self, spec: actions.ItemSpec) -> None:
        item = self.engine.submit(
            external_id=spec.id,
            workstream=spec.workstream,
            channel=spec.channel,
            attributes=dict(spec.attributes),
            customer=dict(spec.customer),
            priority=spec.priority,
            skills=list(spec.skills) or None,
            units=spec.units,
            profiles=list(spec.profiles) or None,
            available_at=spec.available_at,
            callback_at=spec.callback_at,
            phone=spec.phone,
            due_at=spec.due_at,
            ttl_s=spec.ttl_s,
            preferred_agents=list(spec.preferred_agents) or None,
        )
        self.ids.setdefault(spec.id, item.id)

    def _item(self, name: str) -> str:
        """The engine id of the item the scenario calls ``name``."""
        ident = self.ids.get(name)
        if ident is None:
            raise errors.NotFound(f"item {name} has not been submitted yet", item=name)
        return ident

    def _offer_for(self, name: str, agent: str) -> str:
        """The agent's latest offer of the item, else the item's open offer (the engine judges)."""
        ident = self._item(name)
        offer = self.offers.get((ident, agent)) or self.engine.item(ident).offer
        if offer is None:
            raise errors.OfferNotOpen(
                f"item {name} has no offer for agent {agent}", item=name, agent=agent
            )
        return offer

    def _spec(self, ident: str) -> actions.ItemSpec | None:
        return self.scenario.items.get(self.names.get(ident, ""))

    def _wraps_up(self, ident: str) -> bool:
        """``{complete: X}`` closes at once unless the item has a ``wrap_up_s``."""
        spec = self._spec(ident)
        return bool(spec is not None and spec.wrap_up_s)

    # -- what the simulated people do -----------------------------------------------------------------

    def _behave(self, task: agenda.AnswerOffer | agenda.FinishWork | agenda.EndWrapUp) -> None:
        engine = self.engine
        engine.advance()  # fire what is due now first: reads do not, and an offer may expire now
        if isinstance(task, agenda.AnswerOffer):
            offer = engine.offer(task.offer)
            if offer.status is not OfferStatus.OPEN:
                return  # answered by script, expired or withdrawn meanwhile
            item = engine.item(offer.item)
            rejectable = engine.config.workstreams[item.workstream].offer.rejectable
            if task.accept or not rejectable:
                engine.accept(task.offer, agent=task.agent)
            else:
                engine.decline(task.offer, agent=task.agent)
            return
        if self.generation.get(task.item) != task.generation:
            return  # reassigned since: a newer task owns the item
        state = engine.item(task.item).state
        if isinstance(task, agenda.FinishWork) and state is ItemState.ASSIGNED:
            engine.complete(task.item, wrap_up=self._wraps_up(task.item))
        elif isinstance(task, agenda.EndWrapUp) and state is ItemState.WRAP_UP:
            engine.close(task.item)

    # -- events -------------------------------------------------------------------------------------------

    def _flush(self, cause: agenda.Task | None) -> None:
        events = self.engine.drain_events()
        if not events:
            return
        for event in events:
            self.counts[event.type.value] += 1
            self._react(event)
        for observer in self.observers:
            observer.on_events(events, self.engine, cause)

    def _react(self, event: Event) -> None:
        """Keep the run's books, and let the behaviour model answer what the engine asks."""
        kind, ident = event.type, event.item or ""
        if kind is EventType.ITEM_CREATED:
            name = str(event.data["external_id"])
            self.names[ident] = name
            self.ids.setdefault(name, ident)
        if kind in _WAITING:
            self.waiting.add(ident)
        elif kind in _NOT_WAITING:
            self.waiting.discard(ident)
        if kind is EventType.OFFER_MADE:
            self._offered(event)
        elif kind is EventType.ITEM_ASSIGNED:
            self.generation[ident] = self.generation.get(ident, 0) + 1
            spec = self._spec(ident)
            if spec is not None and spec.handle_s is not None:
                task = agenda.FinishWork(item=ident, generation=self.generation[ident])
                self.agenda.push(event.t + spec.handle_s, task)
        elif kind is EventType.ITEM_WRAP_UP:
            spec = self._spec(ident)
            if spec is not None and spec.wrap_up_s:
                task_end = agenda.EndWrapUp(item=ident, generation=self.generation.get(ident, 0))
                self.agenda.push(event.t + spec.wrap_up_s, task_end)

    def _offered(self, event: Event) -> None:
        assert event.item is not None and event.agent is not None and event.offer is not None
        self.offers[(event.item, event.agent)] = event.offer
        behaviour = self.scenario.behaviour
        if behaviour.manual:
            return
        accept = self.rng.random() < behaviour.accept
        answer = agenda.AnswerOffer(offer=event.offer, agent=event.agent, accept=accept)
        self.agenda.push(event.t + behaviour.response_s, answer)

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
        return results.RunResult(
            seed=self.seed,
            duration_s=self.scenario.duration,
            end_s=self.clock.now(),
            counts=dict(sorted(self.counts.items())),
            errors=tuple(self.refusals),
            items=items,
        )

    def _outcome(self, ident: str) -> results.ItemOutcome:
        item = self.engine.item(ident)
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


_WAITING = frozenset(
    {
        EventType.ITEM_CREATED,
        EventType.ITEM_SCHEDULED,
        EventType.ITEM_QUEUED,
        EventType.ITEM_RESUMED,
        EventType.ITEM_TRANSFERRED,
        EventType.OFFER_MADE,
    }
)
_NOT_WAITING = frozenset({EventType.ITEM_ASSIGNED, EventType.ITEM_PARKED, EventType.ITEM_CLOSED})
