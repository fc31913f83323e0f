"""A progress bar for long simulation runs: virtual time done ÷ (duration × replications).

:class:`Progress` is an observer of the run (:class:`~unirouter.sim.runner.Observer`) drawing
click's progress bar. It is only for runs that print nothing while they go (``--report`` without
``--json``): a narrated account writes a line per event to the same terminal, which a bar redrawn
with carriage returns would garble, and ``--json`` or a redirected output wants no terminal
decoration at all (:func:`wanted`). The bar goes to standard error, so even there it stays out of
what a program reading standard output gets.

It costs next to nothing per event: the bar is redrawn at most every ``min_interval_s`` of wall
time, and between redraws an event batch costs one clock read and a comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TextIO

import click

from unirouter import durations
from unirouter.engine import Engine, Event
from unirouter.sim import agenda, narrate, results

__all__ = ["MIN_INTERVAL_S", "Progress", "wanted"]

#: Wall time between two redraws of the bar, at the least.
MIN_INTERVAL_S = 0.2


def wanted(*, stdout: TextIO, stream: TextIO) -> bool:
    """Whether a quiet run shows the bar on ``stream``: only when it and standard output are both
    a terminal (a redirected output gets nothing it would have to clean up)."""
    return _isatty(stdout) and _isatty(stream)


class Progress:
    """Draws how much virtual time of the run is done, replication after replication.

    Use it as a context manager around the run (entering draws the empty bar, leaving draws the
    full one and ends its line), and pass it to the runner as an observer.
    """

    def __init__(
        self,
        *,
        duration_s: float,
        replications: int,
        stream: TextIO,
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.duration_s = max(duration_s, 0.0)
        self.replications = max(replications, 1)
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.replication = 0
        self.done_s = 0.0
        self._engine: Engine | None = None
        self._next_draw = clock()
        self._bar = click.progressbar(
            length=max(round(self.duration_s * self.replications), 1),
            label=self._label(0.0),
            file=stream,
            show_eta=True,
            show_percent=True,
        )

    def __enter__(self) -> Progress:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self._draw(self.replications * self.duration_s)
        self._bar.__exit__(kind, error, traceback)

    # -- the observer side -------------------------------------------------------------------------

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        """Each replication has its own engine: a new one means the previous replication ended."""
        if engine is not self._engine:
            if self._engine is not None:
                self.replication += 1
            self._engine = engine
        now = self.clock()
        if now < self._next_draw or not events:
            return
        self._next_draw = now + self.min_interval_s
        done = self.replication * self.duration_s + min(events[-1].t, self.duration_s)
        self._draw(done)

    def on_refusal(self, refusal: results.Refusal) -> None:
        """Refusals are reported in the result; the bar only counts time."""

    # -- drawing -----------------------------------------------------------------------------------

    def _draw(self, done_s: float) -> None:
        """Move the bar to ``done_s`` virtual seconds out of ``duration × replications``."""
        done_s = min(max(done_s, self.done_s), self.duration_s * self.replications)
        step = round(done_s) - self._bar.pos
        self.done_s = done_s
        self._bar.label = self._label(done_s)
        self._bar.update(max(step, 0))

    def _label(self, done_s: float) -> str:
        """``simulating 02:15:00 of 8h`` (with ``replication 2/5`` when there are several)."""
        index = min(self.replication, self.replications - 1)
        within = done_s - index * self.duration_s
        where = f"{narrate.clock(within)} of {durations.format_duration(self.duration_s)}"
        if self.replications > 1:
            where = f"replication {index + 1}/{self.replications} · {where}"
        return f"simulating {where}"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream is no terminal
        return False
