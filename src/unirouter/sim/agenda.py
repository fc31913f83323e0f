"""What the simulated world will do next, in time order (the runner's side of the event loop).

A task is a scripted action (:mod:`unirouter.sim.actions`) or something the simulated people do on
their own: an agent answers an offer, finishes handling an item, ends wrap-up. The engine keeps its
own deadlines (:meth:`~unirouter.engine.Engine.next_deadline`); the runner merges the two.
Generated traffic adds arrivals, customers running out of patience and shift changes to the
same agenda.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from unirouter.sim import actions

__all__ = [
    "Abandon",
    "Agenda",
    "AnswerOffer",
    "Arrive",
    "Behaviour",
    "EndWrapUp",
    "FinishWork",
    "ShiftChange",
    "Task",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerOffer:
    """An agent answers an offer ``response_s`` after it was made (the behaviour model)."""

    offer: str
    agent: str
    accept: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishWork:
    """An item with ``handle_s`` is done that long after its ``generation``-th assignment."""

    item: str
    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EndWrapUp:
    """An item with ``wrap_up_s`` closes that long after wrap-up started."""

    item: str
    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrive:
    """Arrival source ``source`` (its place in ``arrivals``) sends its next item."""

    source: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Abandon:
    """A generated item's customer runs out of patience: gone if not answered yet (R40)."""

    item: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ShiftChange:
    """A shifted agent starts work (``on``) or ends it (SPEC §7 ``shifts``)."""

    agent: str
    on: bool


Behaviour = AnswerOffer | FinishWork | EndWrapUp | Arrive | Abandon | ShiftChange
Task = actions.Action | Behaviour


class Agenda:
    """Tasks in time order; tasks due at the same time in the order they were scheduled."""

    __slots__ = ("_order", "heap")

    def __init__(self) -> None:
        #: ``(t, order, task)`` entries, a :mod:`heapq` heap. The runner's loop reads and pops it
        #: directly (three times per generated item, where a method call costs more than the pop).
        self.heap: list[tuple[float, int, Task]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, t: float, task: Task) -> None:
        heapq.heappush(self.heap, (t, next(self._order), task))

    def next_time(self) -> float | None:
        """When the earliest task is due, or None when there is none."""
        return self.heap[0][0] if self.heap else None

    def pop_due(self, t: float) -> Task | None:
        """Remove and return the earliest task due at or before ``t``."""
        return heapq.heappop(self.heap)[2] if self.heap and self.heap[0][0] <= t else None
