"""Prometheus metrics of one server (``GET /metrics``): one registry per app, so several apps in a
process (tests) never share counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]


class _QueueCollector(Collector):
    """Live queue gauges read from the engine at scrape time (never stale, nothing to update)."""

    def __init__(self, status: Callable[[], list[dict[str, Any]]]) -> None:
        self._status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "unirouter_queue_waiting",
            "Items waiting in a queue (queued or offered).",
            labels=["queue"],
        )
        longest = GaugeMetricFamily(
            "unirouter_queue_longest_wait_seconds", "Longest wait in a queue.", labels=["queue"]
        )
        ready = GaugeMetricFamily(
            "unirouter_queue_ready_agents", "Members ready to take work.", labels=["queue"]
        )
        for row in self._status():
            waiting.add_metric([row["name"]], row["waiting"])
            longest.add_metric([row["name"]], row["longest_wait_s"])
            ready.add_metric([row["name"]], row["ready"])
        yield from (waiting, longest, ready)


class _CommitCollector(Collector):
    """The store's group commits and the writes they carried, read at scrape time: commits per
    second against intakes per second shows how well group commit batches (issue 10 item 3)."""

    def __init__(self, counts: Callable[[], tuple[int, int] | None]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        counts = self._counts()
        if counts is None:
            return
        yield CounterMetricFamily("unirouter_store_commits",
                                  "Transactions the store's writer committed (group commits).",
                                  value=counts[0])  # fmt: skip
        yield CounterMetricFamily("unirouter_store_writes",
                                  "Writes (appends, keys, snapshots) those commits carried.",
                                  value=counts[1])  # fmt: skip


class Metrics:
    """Counters of commands and events, the append latency, and live queue gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "unirouter_commands",
            "Commands run on the engine, by operation and outcome.",
            ["op", "outcome"],
            registry=self.registry,
        )
        self.events = Counter(
            "unirouter_events", "Durable engine events, by type.", ["type"], registry=self.registry
        )
        self.append_seconds = Histogram(
            "unirouter_append_seconds",
            "Time of one durable append of the log (a group of commands).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.append_records = Histogram(
            "unirouter_append_records",
            "Records per durable append (how well group commit batches).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=self.registry,
        )

        # Each label set's child, looked up once (``labels()`` checks and locks on every call).
        self._children: dict[tuple[str, ...], Any] = {}

    def count_command(self, op: str, outcome: str) -> None:
        """One command run with ``outcome`` ("ok" or the refusal's class name)."""
        child = self._children.get(("command", op, outcome))
        if child is None:
            child = self._children[("command", op, outcome)] = self.commands.labels(op, outcome)
        child.inc()

    def count_event(self, kind: str) -> None:
        """One durable event of type ``kind``."""
        child = self._children.get(("event", kind))
        if child is None:
            child = self._children[("event", kind)] = self.events.labels(kind)
        child.inc()

    def watch_queues(self, status: Callable[[], list[dict[str, Any]]]) -> None:
        """Export the queue gauges from ``status()`` (rows of engine.queue_status)."""
        self.registry.register(_QueueCollector(status))

    def watch_commits(self, counts: Callable[[], tuple[int, int] | None]) -> None:
        """Export the store's (commits, writes) from ``counts()`` (None: a store without them)."""
        self.registry.register(_CommitCollector(counts))
