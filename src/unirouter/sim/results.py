"""What a run returns: event counts by type, refused actions, and where every scripted item ended.

:meth:`RunResult.to_dict` is the ``unirouter simulate --json`` object. Generated items are only
counted (``arrivals_generated``, event counts): a result holds nothing per generated item, so its
size does not grow with the traffic. The KPIs of SPEC §8 (waits, service level, occupancy) are
computed from the event stream by a listener of the runner, beside these fields.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NOT_SUBMITTED", "ItemOutcome", "Refusal", "Replication", "RunResult", "combine"]

#: The ``state`` of a scripted item whose submission never ran.
NOT_SUBMITTED = "not_submitted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A scripted action the engine refused at ``t`` (``events[index]``); nothing changed."""

    t: float
    index: int
    action: Mapping[str, Any]
    message: str
    code: str
    #: Which replication it happened in, when a scenario has more than one.
    replication: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"t": self.t, "action": dict(self.action), "message": self.message}
        return out if self.replication is None else {**out, "replication": self.replication}


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemOutcome:
    """Where an item ended: its state, queue, agent and close reason (and trace, if kept)."""

    id: str | None
    workstream: str
    state: str
    queue: str | None = None
    agent: str | None = None
    close_reason: str | None = None
    trace: tuple[Mapping[str, Any], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "workstream": self.workstream,
            "state": self.state,
            "queue": self.queue,
            "agent": self.agent,
            "close_reason": self.close_reason,
        }
        if self.trace is not None:
            out["trace"] = [dict(entry) for entry in self.trace]
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Replication:
    """One replication of a run: its seed, busyness factor and event counts.

    ``left_open`` counts generated items still open when the run stopped (at the hard cap).
    """

    index: int
    seed: int
    busyness: float
    arrivals_generated: int
    end_s: float
    left_open: int
    counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "replication": self.index,
            "seed": self.seed,
            "busyness": self.busyness,
            "arrivals_generated": self.arrivals_generated,
            "end_s": self.end_s,
            "left_open": self.left_open,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A finished run. ``items`` are keyed by scenario id (engine-made items by external id).

    With several replications, ``counts`` and ``arrivals_generated`` are summed over them (each
    replication's own are in ``runs``), ``errors`` are pooled, ``end_s`` is the latest end, and
    ``items`` are the scripted items' final states in the first replication.
    """

    seed: int
    duration_s: float
    end_s: float
    counts: Mapping[str, int]
    errors: tuple[Refusal, ...]
    items: Mapping[str, ItemOutcome]
    warmup_s: float = 0.0
    arrivals_generated: int = 0
    runs: tuple[Replication, ...] = ()
    generated: bool = False

    @property
    def replications(self) -> int:
        return max(len(self.runs), 1)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object; runs with generated traffic also list their replications."""
        out: dict[str, Any] = {
            "seed": self.seed,
            "duration_s": self.duration_s,
            "end_s": self.end_s,
            "replications": self.replications,
            "warmup_s": self.warmup_s,
            "arrivals_generated": self.arrivals_generated,
            "counts": dict(self.counts),
            "errors": [refusal.to_dict() for refusal in self.errors],
            "items": {name: outcome.to_dict() for name, outcome in self.items.items()},
        }
        if self.generated or len(self.runs) > 1:
            out["runs"] = [run.to_dict() for run in self.runs]
        return out


def combine(runs: list[RunResult], *, seed: int, generated: bool) -> RunResult:
    """One result for the replications of a scenario (see :class:`RunResult`)."""
    first = runs[0]
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update(run.counts)
    return RunResult(
        seed=seed,
        duration_s=first.duration_s,
        end_s=max(run.end_s for run in runs),
        counts=dict(sorted(counts.items())),
        errors=tuple(refusal for run in runs for refusal in run.errors),
        items=first.items,
        warmup_s=first.warmup_s,
        arrivals_generated=sum(run.arrivals_generated for run in runs),
        runs=tuple(replication for run in runs for replication in run.runs),
        generated=generated,
    )
