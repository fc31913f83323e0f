"""Replay and compare: a captured day through a candidate configuration (``unirouter replay``,
``unirouter compare``; issue 13).

A replay is a simulator run (:func:`unirouter.sim.runner.run`): the real engine in virtual time,
the simulator's KPI accumulator, nothing routed here. What differs from a simulation is where the
demand comes from: the captured items arrive at their recorded times with what they were
submitted with (:class:`~unirouter.whatif.demand.Recorded`, which also holds the handle-time and
patience models), and agents follow their recorded presence timeline (``--agents as-recorded``)
or the shifts of a scenario file. Simulated agents answer offers after a delay drawn from the
recorded answer delays and accept as often as the record's agents did.

Compare runs one replay per configuration with the same replications (common random numbers):
replication 0 keeps every recorded handle time, the others resample them, and every KPI gets a
95% confidence half-width across replications (SPEC §7's ``x_ci95``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from unirouter import errors
from unirouter.config import model
from unirouter.sim import actions, distributions, results, runner, scenario
from unirouter.whatif import demand

__all__ = ["Replayed", "build_scenario", "replay"]

AS_RECORDED = "as-recorded"


@dataclass(frozen=True, slots=True, kw_only=True)
class Replayed:
    """One configuration's replay: its result (KPIs pooled over replications) and skips."""

    result: results.RunResult
    skipped: dict[str, int]
    items: int

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict()
        out.pop("items", None)
        return {**out, "replayed_items": self.items, "skipped": dict(self.skipped)}


def build_scenario(
    capture: demand.CaptureFile, config: model.Config, agents: str, *, replications: int = 1,
    seed: int = 0,
) -> scenario.Scenario:  # fmt: skip
    """The scenario a replay runs: the capture's length, the agents as recorded or from shifts."""
    shifts: tuple[Any, ...] = ()
    events: tuple[actions.Action, ...] = ()
    if agents == AS_RECORDED:
        events = _timeline(capture, config)
    else:
        shifts = scenario.load(Path(agents)).shifts
    return scenario.Scenario(
        config=config, config_source="candidate", duration=capture.duration_s, seed=seed,
        start=_start(capture),
        behaviour=_behaviour(capture), events=events, replications=replications, shifts=shifts,
    )  # fmt: skip


def replay(
    capture: demand.CaptureFile, config: model.Config, *, agents: str = AS_RECORDED,
    replications: int = 1, seed: int = 0,
) -> Replayed:  # fmt: skip
    """Run the capture through ``config``; replication 0 keeps the recorded handle times."""
    items, skipped = demand.usable(capture, config)
    day = build_scenario(capture, config, agents, replications=replications, seed=seed)
    first = [True]

    def traffic(rep_seed: int) -> runner.Traffic:
        resample, first[0] = not first[0], False
        return demand.Recorded(items, rep_seed, resample)

    horizon = capture.header.get("horizon_s")
    result = runner.run(day, seed=seed, demand=traffic,
                        horizon_s=None if horizon is None else float(horizon))  # fmt: skip
    return Replayed(result=result, skipped=skipped, items=len(items))


def _start(capture: demand.CaptureFile) -> datetime:
    """The wall-clock time the captured window began (calendars and hours follow it)."""
    start = capture.header.get("start")
    return scenario.DEFAULT_START if not isinstance(start, str) else datetime.fromisoformat(start)


def _behaviour(capture: demand.CaptureFile) -> scenario.AgentBehaviour:
    """Answer delays drawn from the recorded ones, accepting as often as the record's agents
    did; an agent who had offers and answered none stays silent (its offers expire)."""
    answers: dict[str, dict[str, int]] = capture.header.get("answers") or {}
    accepted = sum(a.get("accepted", 0) for a in answers.values())
    declined = sum(a.get("declined", 0) for a in answers.values())
    silent = frozenset(
        agent for agent, a in answers.items()
        if a.get("offers") and not a.get("accepted") and not a.get("declined")
    )  # fmt: skip
    accept = accepted / (accepted + declined) if accepted + declined else 1.0
    delays = tuple(float(i["response_s"]) for i in capture.items if i["response_s"] is not None)
    if not delays or statistics.pstdev(delays) == 0:
        return scenario.AgentBehaviour(accept=accept, response_s=delays[0] if delays else 0.0,
                                       silent=silent)  # fmt: skip
    response = distributions.Empirical(values=delays)
    return scenario.AgentBehaviour(accept=accept, response=response, silent=silent)


def _timeline(capture: demand.CaptureFile, config: model.Config) -> tuple[actions.Action, ...]:
    """Each known agent's state at the start, then its recorded changes, as scripted actions."""
    out: list[actions.Action] = []
    for agent, state in sorted(capture.header.get("agents", {}).items()):
        out += _changes(agent, 0.0, state, config, len(out))
    for line in capture.timeline:
        out += _changes(line["agent"], float(line["t"]), line, config, len(out))
    return tuple(sorted(out, key=lambda a: (a.at, a.index)))


def _changes(
    agent: str, at: float, state: dict[str, Any], config: model.Config, index: int
) -> list[actions.Action]:
    if agent not in config.agents:
        return []  # an agent the candidate does not have: its presence means nothing there
    out: list[actions.Action] = []
    if state.get("connected") is False:
        out.append(actions.Disconnect(at=at, index=index, agent=agent))
    elif state.get("connected") is True:
        out.append(actions.Reconnect(at=at, index=index, agent=agent))
    presence = state.get("presence")
    if presence is not None:
        try:
            value = model.BasePresence(presence)
        except ValueError:
            raise errors.InvalidCommand(
                f"unknown presence {presence!r}", field="presence"
            ) from None
        if value is not model.BasePresence.INACTIVE:
            label = state.get("label")
            out.append(actions.SetPresence(at=at, index=index + len(out), agent=agent,
                                           presence=value, label=label))  # fmt: skip
    return out
