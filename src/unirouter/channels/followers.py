"""Delivery from the log, at least once and in log order (issue 9): outbound webhooks and the
replies agents write, sent out by SMTP or a messaging provider.

A :class:`Follower` reads the durable log from its own cursor (``store.read``, never the live
subscriber queue, so it can fall any distance behind without losing a record and never holds up
the appender), picks the records it wants, and delivers them one at a time. A failed delivery is
retried with exponential backoff and full jitter; after ``max_attempts`` it goes to the follower's
dead-letter list and the follower moves on, so one bad record never stops the rest.

Its progress is logged as ``channel`` command records (``{"follower", "cursor"}``; a dead letter adds
``"dead"``), at most every :data:`PROGRESS_EVERY_S` seconds and when it catches up; the
:class:`~unirouter.channels.index.ChannelIndex` folds them, so after a crash the follower resumes
from its last logged cursor and delivers again what it sent after it (at least once: receivers
deduplicate by the delivery id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from unirouter.server.host import EngineHost, HostStopped
from unirouter.storage import RecordKind, StoredRecord

__all__ = ["DeliveryFailed", "Follower", "Status", "StatusCollector"]

log = logging.getLogger("unirouter.channels")

PROGRESS_EVERY_S = 0.5
READ_PAGE = 500
MAX_BACKOFF_S = 300.0

Accept = Callable[[RecordKind, dict[str, Any]], bool]
Deliver = Callable[[int, dict[str, Any]], Awaitable[None]]


class DeliveryFailed(Exception):
    """One attempt failed (a refused or unreachable peer); ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(slots=True, kw_only=True)
class Status:
    """What a follower has done, for ``GET /v1/webhooks`` and the metrics."""

    cursor: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    dead_letters: int = 0
    attempts: int = 0
    state: str = "idle"
    last_error: str | None = None
    last_success_at: float | None = None


class Follower:
    """One ordered delivery stream over the log."""

    def __init__(
        self, host: EngineHost, name: str, accept: Accept, deliver: Deliver, *,
        max_attempts: int = 8, backoff_s: float = 1.0,
    ) -> None:  # fmt: skip
        self.host, self.name, self.accept, self.deliver = host, name, accept, deliver
        self.max_attempts, self.backoff_s = max_attempts, backoff_s
        self.status = Status(cursor=host.channel_index.progress.get(name, 0))
        self.status.dead_letters = len(host.channel_index.dead.get(name, []))
        self._wakeup = asyncio.Event()
        self._logged = self.status.cursor
        self._logged_at = time.monotonic()
        #: Something was delivered (or dead-lettered) since the cursor was last logged; skipped
        #: records alone never log one (else each progress record would call for the next).
        self._dirty = False
        self._random = random.Random()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver forever (until cancelled)."""
        while True:
            self._wakeup.clear()
            page = await asyncio.to_thread(self.host.store.read, self.status.cursor, READ_PAGE)
            for record in page:
                await self._one(record)
                self._progress(force=False)
            if not page:
                self._progress(force=True)
                await self._wakeup.wait()

    async def _one(self, record: StoredRecord) -> None:
        body = json.loads(record.body)
        if self.accept(record.kind, body):
            await self._deliver(record.cursor, body)
        self.status.cursor = record.cursor

    async def _deliver(self, cursor: int, body: dict[str, Any]) -> None:
        """Attempts with backoff until one succeeds or ``max_attempts`` failed (dead letter)."""
        for attempt in range(1, self.max_attempts + 1):
            self.status.attempts = attempt
            try:
                await self.deliver(cursor, body)
            except DeliveryFailed as failed:
                self._failed(failed.reason)
                if attempt < self.max_attempts:
                    await asyncio.sleep(self._backoff(attempt))
                continue
            self.status.delivered += 1
            self._dirty = True
            self.status.state, self.status.attempts = "ok", 0
            self.status.last_success_at = time.time()
            return
        self._dead(cursor, body)

    def _failed(self, reason: str) -> None:
        self.status.failed_attempts += 1
        self.status.state, self.status.last_error = "failing", reason
        log.warning("delivery by %s failed: %s", self.name, reason)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform in (0, base·2^(attempt-1)]."""
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * float(2 ** (attempt - 1)))
        return ceiling * (1.0 - self._random.random())

    def _dead(self, cursor: int, body: dict[str, Any]) -> None:
        letter = {"cursor": cursor, "error": self.status.last_error, "at": time.time(),
                  "attempts": self.max_attempts, "record": body}  # fmt: skip
        self.status.dead_letters += 1
        self.status.cursor = cursor
        self._log({"follower": self.name, "cursor": cursor, "dead": letter})

    def _progress(self, *, force: bool) -> None:
        """Log the cursor when it moved, at most every PROGRESS_EVERY_S unless ``force``."""
        due = time.monotonic() - self._logged_at >= PROGRESS_EVERY_S
        if self._dirty and self.status.cursor > self._logged and (force or due):
            self._log({"follower": self.name, "cursor": self.status.cursor})

    def _log(self, args: dict[str, Any]) -> None:
        try:
            self.host.execute("channel", args)
        except HostStopped:
            return  # stopping: the next start resumes from the last logged cursor
        self._logged, self._logged_at = int(args["cursor"]), time.monotonic()
        self._dirty = False


class StatusCollector(Collector):
    """Prometheus metrics of the followers, read at scrape time: a failing endpoint shows as
    ``unirouter_channel_failing`` 1, its dead letters and failed attempts counting up."""

    def __init__(self, followers: Callable[[], list[Follower]]) -> None:
        self._followers = followers

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        label = ["follower"]
        delivered = CounterMetricFamily(
            "unirouter_channel_delivered", "Deliveries that succeeded.", labels=label
        )
        failed = CounterMetricFamily(
            "unirouter_channel_failed_attempts", "Delivery attempts that failed.", labels=label
        )
        dead = GaugeMetricFamily(
            "unirouter_channel_dead_letters",
            "Deliveries given up after max_attempts.",
            labels=label,
        )
        failing = GaugeMetricFamily(
            "unirouter_channel_failing", "1 while the last attempt failed.", labels=label
        )
        cursor = GaugeMetricFamily(
            "unirouter_channel_cursor", "Log cursor delivered up to.", labels=label
        )
        for follower in self._followers():
            status, name = follower.status, [follower.name]
            delivered.add_metric(name, status.delivered)
            failed.add_metric(name, status.failed_attempts)
            dead.add_metric(name, status.dead_letters)
            failing.add_metric(name, 1.0 if status.state == "failing" else 0.0)
            cursor.add_metric(name, status.cursor)
        yield from (delivered, failed, dead, failing, cursor)
