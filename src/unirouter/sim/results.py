"""What a run returns: event counts by type, refused actions, and where every item ended.

:meth:`RunResult.to_dict` is the ``unirouter simulate --json`` object. The KPIs of SPEC §8 (waits,
service level, occupancy) come with generated traffic, as further fields beside these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NOT_SUBMITTED", "ItemOutcome", "Refusal", "RunResult"]

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

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "action": dict(self.action), "message": self.message}


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
class RunResult:
    """A finished run. ``items`` are keyed by scenario id (engine-made items by external id)."""

    seed: int
    duration_s: float
    end_s: float
    counts: Mapping[str, int]
    errors: tuple[Refusal, ...]
    items: Mapping[str, ItemOutcome]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "seed": self.seed,
            "duration_s": self.duration_s,
            "end_s": self.end_s,
            "counts": dict(self.counts),
            "errors": [refusal.to_dict() for refusal in self.errors],
            "items": {name: outcome.to_dict() for name, outcome in self.items.items()},
        }
