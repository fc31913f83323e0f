"""Generated traffic of a scenario (SPEC §7): arrival sources, shifts, and their random streams.

A scenario's ``arrivals`` entries become :class:`Arrival` values and its ``shifts`` become
:class:`Shift` values (parsed by :mod:`unirouter.sim._arrivals`). The runner asks a
:class:`Generator` for each source's next arrival time and for the item that arrives; nothing here
routes: the item goes to the engine as any intake would.

Randomness: every purpose draws from its own ``random.Random`` (:func:`stream`), seeded from the
replication's seed and the purpose's name (``arrivals[0]``, ``handle_time[0]``, …). String seeds
are hashed with SHA-512 by :mod:`random`, so the streams do not depend on ``PYTHONHASHSEED``, and
adding a draw for one purpose never shifts the draws of another.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from unirouter.config import model
from unirouter.engine import commands
from unirouter.sim import distributions

__all__ = [
    "Arrival",
    "Choice",
    "Generated",
    "Generator",
    "Shift",
    "replication_seed",
    "stream",
]


def stream(seed: int, purpose: str) -> random.Random:
    """The random stream of one purpose within a run seeded with ``seed``."""
    return random.Random(f"unirouter/{seed}/{purpose}")


def replication_seed(seed: int, replication: int) -> int:
    """The seed of replication ``replication``: the scenario's own seed for the first, then
    seeds derived from it (so a one-replication run is the run the seed names)."""
    if replication == 0:
        return seed
    return stream(seed, f"replication[{replication}]").getrandbits(63)


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """An attribute value: fixed (one option with probability 1), or drawn by probability."""

    options: tuple[tuple[Any, float], ...]

    @classmethod
    def fixed(cls, value: Any) -> Choice:
        return cls(options=((value, 1.0),))

    def draw(self, rng: random.Random) -> Any:
        """One value; a fixed value draws nothing from ``rng``."""
        if len(self.options) == 1:
            return self.options[0][0]
        u = rng.random() * math.fsum(p for _, p in self.options)
        for value, probability in self.options:
            if u < probability:
                return value
            u -= probability
        return self.options[-1][0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """One ``arrivals`` entry: a Poisson source of items on one workstream (SPEC §7).

    ``patience`` None: customers never abandon. ``wrap_up`` None: completion closes at once.
    """

    workstream: str
    rate: distributions.PiecewiseRate
    handle_time: distributions.Distribution
    attributes: Mapping[str, Choice] = field(default_factory=dict)
    customer: Mapping[str, Choice] = field(default_factory=dict)
    skills: tuple[model.SkillReq, ...] = ()
    priority: int | None = None
    patience: distributions.Distribution | None = None
    wrap_up: distributions.Distribution | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Shift:
    """``{agents, from, to?}``: the agents work over [start_s, end_s); ``end_s`` may be infinite."""

    agents: tuple[str, ...]
    start_s: float
    end_s: float = math.inf


@dataclass(frozen=True, slots=True, kw_only=True)
class Generated:
    """One generated item: its intake (the engine command the run executes), and what its
    customer and agent will do."""

    intake: commands.Submit
    handle_s: float
    patience_s: float | None
    wrap_up_s: float
    #: Recorded demand: the handle time by the agent who takes the item (else ``handle_s``).
    handle_for: Callable[[str], float] | None = None


class _Source:
    """One arrival entry's rate (scaled by busyness) and its random streams."""

    __slots__ = ("arrival", "attributes", "gaps", "handle", "patience", "rate", "wrap_up")

    def __init__(self, arrival: Arrival, index: int, seed: int, factor: float) -> None:
        self.arrival = arrival
        self.rate = arrival.rate.scaled(factor)
        self.gaps = stream(seed, f"arrivals[{index}]")
        self.attributes = stream(seed, f"attributes[{index}]")
        self.handle = stream(seed, f"handle_time[{index}]")
        self.patience = stream(seed, f"patience[{index}]")
        self.wrap_up = stream(seed, f"wrap_up[{index}]")


class Generator:
    """The arrivals of one replication: times per source, and the items that arrive."""

    def __init__(
        self, arrivals: tuple[Arrival, ...], *, seed: int, factor: float, until: float
    ) -> None:
        self._sources = [_Source(a, i, seed, factor) for i, a in enumerate(arrivals)]
        self._until = until
        self._numbers: dict[str, int] = {}
        self.count = 0

    @property
    def sources(self) -> range:
        return range(len(self._sources))

    def next_time(self, source: int, after: float) -> float | None:
        """When ``source`` next sends an item after ``after``; None once arrivals have stopped."""
        s = self._sources[source]
        t = s.rate.next_arrival(after, s.gaps)
        return t if t < self._until else None

    def item(self, source: int) -> Generated:
        """The item ``source`` sends now, with every draw it needs taken at once."""
        s = self._sources[source]
        a = s.arrival
        number = self._numbers[a.workstream] = self._numbers.get(a.workstream, 0) + 1
        self.count += 1
        intake = commands.Submit(
            external_id=f"gen-{a.workstream}-{number}",
            workstream=a.workstream,
            attributes=_draw(a.attributes, s.attributes),
            customer=_draw(a.customer, s.attributes),
            skills=a.skills or None,
            priority=a.priority,
        )
        return Generated(
            intake=intake,
            handle_s=a.handle_time.sample(s.handle),
            patience_s=None if a.patience is None else a.patience.sample(s.patience),
            wrap_up_s=0.0 if a.wrap_up is None else a.wrap_up.sample(s.wrap_up),
        )


def _draw(choices: Mapping[str, Choice], rng: random.Random) -> dict[str, Any]:
    """One value per named choice, drawn in order (none drawn, and no loop, when there are none)."""
    return {name: c.draw(rng) for name, c in choices.items()} if choices else {}


def shift_plan(shifts: tuple[Shift, ...]) -> dict[str, list[tuple[float, float]]]:
    """Each shifted agent's working intervals, sorted, with overlapping or touching ones merged
    (an agent on two back-to-back shifts does not go offline between them)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for shift in shifts:
        for agent in shift.agents:
            spans.setdefault(agent, []).append((shift.start_s, shift.end_s))
    plan: dict[str, list[tuple[float, float]]] = {}
    for agent, intervals in spans.items():
        merged: list[tuple[float, float]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        plan[agent] = merged
    return plan
