"""Per-queue time series for the HTML report (SPEC §7 ``--report``), bounded in size.

Each queue keeps one :class:`Interval` per 15-minute interval of the run (so the size grows with the
run's length, never with the number of items) and a wait histogram of fixed bins. :func:`pool` and
:func:`pool_histograms` combine the snapshots of several replications (SPEC §7).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from unirouter.analytics import _kpi_tally

__all__ = [
    "HIST_BIN_S", "HIST_MAX_S", "INTERVAL_S", "Interval", "QueueSeries", "pool", "pool_histograms",
]  # fmt: skip

INTERVAL_S = 900.0
HIST_BIN_S = 5.0
HIST_MAX_S = 600.0
_BINS = int(HIST_MAX_S / HIST_BIN_S)


@dataclass(slots=True)
class Interval:
    """Counts of one interval, and the waiting count compressed to its maximum and time integral."""

    arrived: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    waiting_max: int = 0
    waiting_item_s: float = 0.0
    observed_s: float = 0.0

    def to_dict(self, index: int) -> dict[str, Any]:
        """``service_level`` as in SPEC §8, over this interval's answers and abandons."""
        return {
            "start_s": index * INTERVAL_S,
            "arrived": self.arrived,
            "answered": self.answered,
            "answered_in_sl": self.answered_in_sl,
            "abandoned": self.abandoned,
            "service_level": _kpi_tally.ratio(self.answered_in_sl, self.answered + self.abandoned),
            "waiting_max": self.waiting_max,
            "waiting_mean": _kpi_tally.ratio(self.waiting_item_s, self.observed_s),
            "observed_s": self.observed_s,
        }


@dataclass(slots=True)
class QueueSeries:
    """One queue's intervals (sparse, keyed by ``floor(t / INTERVAL_S)``) and wait histogram.

    ``histogram[i]`` counts waits in ``[i * HIST_BIN_S, (i + 1) * HIST_BIN_S)``; the last bin holds
    every wait of ``HIST_MAX_S`` or more.
    """

    start_s: float
    intervals: dict[int, Interval] = field(default_factory=dict)
    histogram: list[int] = field(default_factory=lambda: [0] * (_BINS + 1))
    waiting: int = 0
    since: float = 0.0

    def at(self, t: float) -> Interval:
        index = int(t // INTERVAL_S)
        found = self.intervals.get(index)
        if found is None:
            found = self.intervals[index] = Interval()
        return found

    def add_wait(self, wait: float) -> None:
        self.histogram[min(int(wait // HIST_BIN_S), _BINS)] += 1

    def change_waiting(self, t: float, delta: int) -> None:
        """The waiting count changes by ``delta`` at ``t``: integrate the old level first."""
        if t > self.since:
            self.integrate(t)
        waiting = self.waiting = self.waiting + delta
        if t >= self.start_s:
            slot = self.at(t)
            if waiting > slot.waiting_max:
                slot.waiting_max = waiting

    def integrate(self, t: float) -> None:
        """Add the current level over ``[since, t]`` (from the warm-up on), split by interval."""
        since = self.since
        if t <= since:
            return  # nothing to add, and ``since`` stays
        self.since = t
        begin = max(since, self.start_s)
        waiting, intervals = self.waiting, self.intervals
        while begin < t:
            end = min(t, (math.floor(begin / INTERVAL_S) + 1) * INTERVAL_S)
            index = int(begin // INTERVAL_S)
            slot = intervals.get(index)
            if slot is None:
                slot = intervals[index] = Interval()
            slot.waiting_item_s += waiting * (end - begin)
            slot.observed_s += end - begin
            if waiting > slot.waiting_max:
                slot.waiting_max = waiting
            begin = end

    def snapshot(self, end_t: float) -> dict[str, Any]:
        """The series up to ``end_t``, leaving this one untouched (``finish`` may be called twice)."""
        probe = QueueSeries(start_s=self.start_s, waiting=self.waiting, since=self.since)
        probe.intervals = {
            index: dataclasses.replace(slot) for index, slot in self.intervals.items()
        }
        probe.integrate(end_t)
        return {
            "interval_s": INTERVAL_S,
            "intervals": [probe.intervals[i].to_dict(i) for i in sorted(probe.intervals)],
            "wait_histogram": {
                "bin_s": HIST_BIN_S,
                "counts": self.histogram[:_BINS],
                "overflow": self.histogram[_BINS],
            },
        }


def pool(snapshots: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One queue's series over replications (None: the queue saw nothing in that replication).

    Per interval (matched by ``start_s``): counts are means per replication, like the KPIs;
    ``service_level`` is the ratio of the summed counts; ``waiting_max`` the largest;
    ``waiting_mean`` the mean over all replications' observed time. The histogram is summed.
    """
    count = max(len(snapshots), 1)
    by_start: dict[float, list[Mapping[str, Any]]] = {}
    for snapshot in snapshots:
        for interval in (snapshot or {}).get("intervals", ()):
            by_start.setdefault(float(interval["start_s"]), []).append(interval)
    histograms = [(snapshot or {}).get("wait_histogram") for snapshot in snapshots]
    return {
        "interval_s": INTERVAL_S,
        "intervals": [_pool_interval(by_start[start], count) for start in sorted(by_start)],
        "wait_histogram": pool_histograms(histograms),
    }


def _pool_interval(parts: Sequence[Mapping[str, Any]], count: int) -> dict[str, Any]:
    total = {key: sum(part[key] for part in parts) for key in _COUNTS}
    observed = sum(float(part.get("observed_s", 1.0)) for part in parts)
    waiting_s = sum(
        float(part.get("waiting_mean") or 0.0) * float(part.get("observed_s", 1.0))
        for part in parts
    )
    return {
        "start_s": parts[0]["start_s"],
        **{key: value / count for key, value in total.items()},
        "service_level": _kpi_tally.ratio(
            total["answered_in_sl"], total["answered"] + total["abandoned"]
        ),
        "waiting_max": max(part["waiting_max"] for part in parts),
        "waiting_mean": _kpi_tally.ratio(waiting_s, observed),
        "observed_s": observed / count,
    }


def pool_histograms(histograms: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Wait histograms of several replications summed bin by bin: the waits of every item."""
    counts = [0] * _BINS
    overflow = 0
    for histogram in histograms:
        if not histogram:
            continue
        for index, value in enumerate(histogram["counts"]):
            counts[index] += value
        overflow += histogram["overflow"]
    return {"bin_s": HIST_BIN_S, "counts": counts, "overflow": overflow}


_COUNTS = ("arrived", "answered", "answered_in_sl", "abandoned")
