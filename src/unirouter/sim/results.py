"""What a run returns: the KPIs of SPEC §8, event counts by type, refused actions, and where every
scripted item ended.

:meth:`RunResult.to_dict` is the ``unirouter simulate --json`` object; :meth:`RunResult.report_data`
adds the per-queue 15-minute series and the wait histogram for ``--report``. Generated items are
only counted: the KPIs come from a :class:`~unirouter.analytics.kpis.KpiAccumulator` the runner feeds
event by event, which keeps sums, never per-item lists, so a result's size does not grow with the
traffic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unirouter.analytics import kpis

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
    ``stopped`` says why, when the drain after the arrivals could not end by itself.
    """

    index: int
    seed: int
    busyness: float
    arrivals_generated: int
    end_s: float
    left_open: int
    counts: Mapping[str, int]
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "replication": self.index,
            "seed": self.seed,
            "busyness": self.busyness,
            "arrivals_generated": self.arrivals_generated,
            "end_s": self.end_s,
            "left_open": self.left_open,
            "counts": dict(self.counts),
        }
        return out if self.stopped is None else {**out, "stopped": self.stopped}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A finished run. ``items`` are keyed by scenario id (engine-made items by external id).

    With several replications, ``counts`` and ``arrivals_generated`` are summed over them (each
    replication's own are in ``runs``), ``errors`` are pooled, ``end_s`` is the latest end, and
    ``items`` are the scripted items' final states in the first replication. ``kpis`` holds one
    :class:`~unirouter.analytics.kpis.KpiResult` per replication.
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
    kpis: tuple[kpis.KpiResult, ...] = ()

    @property
    def replications(self) -> int:
        return max(len(self.runs), 1)

    @property
    def stopped(self) -> list[str]:
        """Why each replication whose drain could not end was stopped (none: every one ended)."""
        return [run.stopped for run in self.runs if run.stopped is not None]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object of SPEC §7: ``seed``, ``duration_s``, the KPIs (``totals``,
        ``queues``, ``workstreams``, ``agents``, ``groups``), then the run's own figures. With
        several replications every KPI ``x`` has ``x_ci95`` and ``runs`` gives each one's totals."""
        pooled = self._kpis()
        out: dict[str, Any] = {
            "seed": self.seed,
            "duration_s": self.duration_s,
            **{key: pooled[key] for key in _KPI_SCOPES if key in pooled},
            "end_s": self.end_s,
            "replications": self.replications,
            "warmup_s": self.warmup_s,
            "arrivals_generated": self.arrivals_generated,
            "counts": dict(self.counts),
            "errors": [refusal.to_dict() for refusal in self.errors],
            "items": {name: outcome.to_dict() for name, outcome in self.items.items()},
        }
        if self.stopped:
            out["stopped"] = self.stopped
        if self.generated or len(self.runs) > 1:
            out["runs"] = [run.to_dict() for run in self.runs]
            if len(self.kpis) == len(self.runs):
                for entry, one in zip(out["runs"], self.kpis, strict=True):
                    entry["totals"] = one.totals.kpis()
        return out

    def report_data(self) -> dict[str, Any]:
        """What ``--report`` draws: :meth:`to_dict` plus ``series`` (per queue, 15-minute intervals)
        and ``wait_histogram`` (every queue's waits), pooled over the replications; the shapes are
        those of :meth:`~unirouter.analytics.kpis.KpiResult.to_dict`."""
        pooled = self._kpis()
        return {
            **self.to_dict(),
            "series": pooled.get("series", {}),
            "wait_histogram": pooled.get("wait_histogram", kpis.empty_histogram()),
        }

    def _kpis(self) -> dict[str, Any]:
        """One replication's KPIs as they are; several combined (SPEC §7); none: nothing."""
        if len(self.kpis) == 1:
            return self.kpis[0].to_dict()
        return kpis.combine(self.kpis) if self.kpis else {}


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
        kpis=tuple(one for run in runs for one in run.kpis),
    )


#: The KPI parts of the ``--json`` object, in their order (SPEC §7).
_KPI_SCOPES = ("totals", "queues", "workstreams", "agents", "groups")
