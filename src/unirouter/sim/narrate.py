"""A readable account of a run: one line per meaningful event, then a summary (SPEC §7).

::

    00:00:05  chat-1  routed to billing_chat (rule 0: item.topic == "billing")
    00:00:05  chat-1  offered to alice (round_robin; 2 candidates; excluded: 1 presence)
    00:00:20  alice   declined chat-1 (busy) → back in billing_chat, bob next

The "why" comes from the item's trace (R43), so runs that narrate keep traces. Lines are written
as the events come; items are called by their scenario ids, not engine ids. Automatic presence
moves (available ↔ busy after every assignment, R32) and bookkeeping events are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from unirouter import durations
from unirouter.engine import Engine, Event
from unirouter.sim import _phrases, agenda, results, summary
from unirouter.sim.scenario import Scenario

__all__ = ["Narrator", "clock"]

#: Virtual time as ``HH:MM:SS`` from the start of the run.
clock = _phrases.clock


class Narrator:
    """An observer of a run (:class:`~unirouter.sim.runner.Observer`) that writes its account."""

    def __init__(
        self, scenario: Scenario, write: Callable[[str], None], *, color: bool = False
    ) -> None:
        self.scenario = scenario
        self.write = write
        self.color = color
        self.phrases = _phrases.Phrases(scenario, self._style)
        self.tallies = summary.AgentTallies()
        self.engine: Engine | None = None
        self.events = 0
        subjects = [*scenario.items, *scenario.config.agents, "config"]
        self.width = min(max(len(name) for name in subjects), 18)

    # -- the observer side ---------------------------------------------------------------------------

    def header(self, seed: int) -> None:
        """What is about to run: the configuration, the start, the agents' behaviour."""
        s = self.scenario
        name = s.source.name if s.source is not None else "scenario"
        sizes = ", ".join(
            _count(len(names), noun)
            for names, noun in ((s.config.workstreams, "workstream"), (s.config.queues, "queue"))
        )
        agents = _count(len(s.config.agents), "agent")
        b = s.behaviour
        answer = (
            "offers are answered only by the script"
            if b.manual
            else f"agents answer offers after {durations.format_duration(b.response_s)}"
            f" and accept {b.accept:.0%} of them"
        )
        start = s.start.strftime("%a %Y-%m-%d %H:%M %z")
        self.write(self._style(f"unirouter simulate · {name}", bold=True))
        self.write(f"  configuration  {s.config_source} ({sizes}, {agents})")
        self.write(
            f"  start          {start} · runs {durations.format_duration(s.duration)} · seed {seed}"
        )
        self.write(f"  behaviour      {answer}")
        self.write("")

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        self.engine = engine
        batch = _phrases.Batch(events, engine, cause)
        for position, event in enumerate(events):
            batch.position = position
            self.events += 1
            self.tallies.observe(event)
            if event.seq in batch.skip:
                continue
            line = self.phrases.line(event, batch)
            if line is not None:
                self._line(event.t, *line)

    def on_refusal(self, refusal: results.Refusal) -> None:
        action = dict(refusal.action)
        subject = str(action.get("agent") or next(iter(action.values()), ""))
        written = ", ".join(f"{key}: {value}" for key, value in action.items())
        text = f"✗ refused {{{written}}}: {self.phrases.rename(refusal.message)}"
        self._line(refusal.t, subject, self._style(text, fg="red"))

    # -- the summary ---------------------------------------------------------------------------------

    def summary(self, result: results.RunResult) -> None:
        """The queues' KPIs, items by final state and what each agent did."""
        refused = len(result.errors)
        self.write("")
        self.write(
            self._style(f"Finished at {clock(result.end_s)}", bold=True)
            + f" · {_count(self.events, 'event')} · {_count(refused, 'refused action')}"
        )
        for why in result.stopped:
            self.write(self._style(f"Warning: {why}", fg="red"))
        agents = list(self.engine.agents()) if self.engine is not None else []
        sections = (
            ("Queues", summary.queue_rows(result.to_dict()), {1, 2, 3, 4, 5, 6}),
            ("Items by final state", summary.state_rows(result.items), {1}),
            ("Agents", summary.agent_rows(agents, self.tallies), {1, 2, 3, 4, 5}),
        )
        for title, rows, right in sections:
            self.write("")
            self.write(self._style(title, bold=True))
            for line in summary.table(rows, right=right):
                self.write(line)

    # -- lines ---------------------------------------------------------------------------------------

    def _line(self, t: float, subject: str, text: str) -> None:
        who = subject.ljust(self.width)
        if self.color:
            is_agent = subject in self.tallies.by_agent or subject in self.scenario.config.agents
            who = click.style(who, fg="magenta" if is_agent else "cyan", bold=True)
        self.write(f"{self._style(clock(t), dim=True)}  {who}  {text}")

    def _style(self, text: str, **styles: Any) -> str:
        return click.style(text, **styles) if self.color else text


def _count(number: int, noun: str) -> str:
    """``1 queue``, ``3 queues``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
