"""What the simulated world will do next, in time order (the runner's side of the event loop).

A task is a scripted action (:mod:`unirouter.sim.actions`) or something the simulated people do on
their own: an agent answers an offer, finishes handling an item, ends wrap-up. The engine keeps its
own deadlines (:meth:`~unirouter.engine.Engine.next_deadline`); the runner merges the two.
Generated traffic (a later issue) adds arrivals to the same agenda.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from unirouter.sim import actions

__all__ = ["Agenda", "AnswerOffer", "EndWrapUp", "FinishWork", "Task"]


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


Task = actions.Action | AnswerOffer | FinishWork | EndWrapUp


class Agenda:
    """Tasks in time order; tasks due at the same time in the order they were scheduled."""

    __slots__ = ("_heap", "_order")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Task]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, t: float, task: Task) -> None:
        heapq.heappush(self._heap, (t, next(self._order), task))

    def next_time(self) -> float | None:
        """When the earliest task is due, or None when there is none."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, t: float) -> Task | None:
        """Remove and return the earliest task due at or before ``t``."""
        return heapq.heappop(self._heap)[2] if self._heap and self._heap[0][0] <= t else None
