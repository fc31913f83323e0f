"""What the server lets one caller take (issue 17): the size of a conversation message, how fast a
conversation and a token may add messages, and how much a conversation may hold.

:class:`Limits` holds the settings (``unirouter serve --limit NAME=VALUE``, or
``UNIROUTER_LIMIT="NAME=VALUE …"``; ``0`` turns a limit off). :class:`RateLimiter` keeps a token
bucket per conversation and per token, in memory: a restart forgets the buckets, which only ever
lets a caller in sooner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from unirouter.config import bounded
from unirouter.server.problems import ApiProblem

__all__ = [
    "Draw",
    "Limits",
    "OffLoop",
    "RateLimiter",
    "check_message_size",
    "message_draws",
    "message_size",
    "parse",
]

T = TypeVar("T")

#: One draw on a bucket: (limit name, key, capacity per minute, cost).
Draw = tuple[str, str, int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Server limits; each is documented in docs/server.md ("Limits")."""

    #: A message's ``text`` in UTF-8 bytes, and its ``attributes`` as compact JSON (413).
    message_text_bytes: int = 16 * 1024
    message_attributes_bytes: int = 16 * 1024
    #: Messages and bytes a conversation takes per minute, all senders together (429).
    conversation_messages_per_minute: int = 60
    conversation_bytes_per_minute: int = 256 * 1024
    #: Messages and bytes one token posts per minute over all its conversations (429).
    token_messages_per_minute: int = 120
    token_bytes_per_minute: int = 1024 * 1024
    #: Messages one conversation may hold in all (409 once reached).
    conversation_messages: int = 5_000
    #: Messages a read returns when it names no ``limit``, and the most it may ask for.
    message_page: int = 100
    message_page_max: int = 1_000
    #: A configuration body (``PUT /v1/config``): mappings and lists inside each other, and
    #: nodes with every YAML alias counted where it is used (422 past either; the same bounds
    #: as ``unirouter config validate`` on a file), and how long reading it may take (422).
    config_depth: int = bounded.DEFAULT.max_depth
    config_nodes: int = bounded.DEFAULT.max_nodes
    config_parse_ms: int = 10_000
    #: The connection (``server/_http.py``): a request head's bytes (431 past it), how long a head
    #: and a body may take to arrive (408, then the connection is closed), how long an idle
    #: keep-alive connection stays open, how many connections are served at once (503 past it),
    #: and the largest WebSocket message an agent's stream takes.
    header_bytes: int = 64 * 1024
    header_timeout_ms: int = 10_000
    body_timeout_ms: int = 30_000
    keep_alive_s: int = 5
    connections: int = 4_096
    websocket_message_bytes: int = 1024 * 1024


def parse(pairs: Iterable[str], base: Limits | None = None) -> Limits:
    """``["message_text_bytes=4096", …]`` over ``base`` (default: the defaults); a ValueError
    names the pair that cannot be read."""
    known = {f.name for f in dataclasses.fields(Limits)}
    changes: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise ValueError(
                f"{pair!r}: expected NAME=VALUE, NAME one of {', '.join(sorted(known))}"
            )
        if not value.strip().isdigit():
            raise ValueError(f"{pair!r}: the value must be a whole number ≥ 0")
        changes[name] = int(value)
    return dataclasses.replace(base or Limits(), **changes)


def message_size(text: str, attributes: Any) -> tuple[int, int]:
    """A message's text in UTF-8 bytes and its attributes as compact JSON, counted so that no
    string makes the count fail (what a string may hold is checked elsewhere)."""
    encoded = json.dumps(attributes or {}, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass")), len(encoded.encode("utf-8", "surrogatepass"))


def message_draws(limits: Limits, item: str, token: str, size: int) -> list[Draw]:
    """What one message of ``size`` bytes takes from the conversation's and the token's buckets."""
    return [
        ("conversation_messages_per_minute", f"conversation {item}",
         limits.conversation_messages_per_minute, 1),
        ("conversation_bytes_per_minute", f"conversation {item}",
         limits.conversation_bytes_per_minute, size),
        ("token_messages_per_minute", f"token {token}", limits.token_messages_per_minute, 1),
        ("token_bytes_per_minute", f"token {token}", limits.token_bytes_per_minute, size),
    ]  # fmt: skip


def check_message_size(limits: Limits, text_bytes: int, attributes_bytes: int) -> None:
    """413 naming the part of a message over its limit."""
    for field, size, limit in (
        ("text", text_bytes, limits.message_text_bytes),
        ("attributes", attributes_bytes, limits.message_attributes_bytes),
    ):
        if limit and size > limit:
            raise ApiProblem(
                413, "message_too_large",
                f"the message's {field} is {size} bytes; the limit is {limit}",
                field=field, limit=limit, size=size,
            )  # fmt: skip


class _Bucket:
    """A token bucket holding up to ``capacity``, refilled at ``capacity`` per minute."""

    __slots__ = ("level", "t")

    def __init__(self, level: float, t: float) -> None:
        self.level = level
        self.t = t


class RateLimiter:
    """Token buckets per (limit name, key): a message is let in only if every bucket it draws on
    holds enough, and then takes from all of them, so a refusal takes nothing."""

    #: How many buckets may exist before the full ones (same as absent) are swept away.
    SWEEP_AT = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, draws: list[Draw]) -> None:
        """``draws``: (limit name, key, per-minute capacity, cost). 429 with ``Retry-After``
        naming the first limit that cannot pay; limits of capacity 0 are off."""
        now = self._clock()
        live = [(name, key, cap, min(cost, cap)) for name, key, cap, cost in draws if cap > 0]
        for name, key, capacity, cost in live:
            level = self._level(name, key, capacity, now)
            if level < cost:
                wait = (cost - level) * 60.0 / capacity
                retry = max(1, math.ceil(wait))
                raise ApiProblem(
                    429, "rate_limited",
                    f"{name} is {capacity}: {key} may go on in {retry} s",
                    headers={"Retry-After": str(retry)}, limit_name=name, limit=capacity,
                    retry_after_s=retry,
                )  # fmt: skip
        for name, key, capacity, cost in live:
            bucket = self._buckets.get((name, key))
            if bucket is None:
                bucket = self._buckets[(name, key)] = _Bucket(float(capacity), now)
            bucket.level = self._level(name, key, capacity, now) - cost
            bucket.t = now
        if len(self._buckets) > self.SWEEP_AT:
            self._sweep(now)

    def _level(self, name: str, key: str, capacity: int, now: float) -> float:
        bucket = self._buckets.get((name, key))
        if bucket is None:
            return float(capacity)
        return min(float(capacity), bucket.level + (now - bucket.t) * capacity / 60.0)

    def _sweep(self, now: float) -> None:
        """Drop the buckets a minute idle: refilled to full, they are the same as absent."""
        stale = [k for k, b in self._buckets.items() if now - b.t >= 60.0]
        for key in stale:
            del self._buckets[key]


class OffLoop:
    """Runs configuration reading in a worker thread, one body at a time, so a costly body never
    holds the event loop (issue 17 item 4). A body still being read after ``timeout_ms`` gets a
    422; its thread, bounded by the parse limits, finishes on its own and keeps the one slot until
    then, so slow bodies cannot pile up threads."""

    def __init__(self, timeout_ms: int) -> None:
        self._timeout_ms = timeout_ms
        self._slot = asyncio.Semaphore(1)

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a thread; its exceptions are raised here."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_ms / 1000 if self._timeout_ms else None
        try:
            await asyncio.wait_for(self._slot.acquire(), self._left(loop, deadline))
            future = loop.run_in_executor(None, work)
        except TimeoutError:
            raise self._too_slow() from None
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._left(loop, deadline))
        except TimeoutError:
            raise self._too_slow() from None

    @staticmethod
    def _left(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - loop.time())

    def _release(self, future: asyncio.Future[Any]) -> None:
        self._slot.release()
        if not future.cancelled():
            future.exception()  # retrieved: a body answered 422 already need not be logged

    def _too_slow(self) -> ApiProblem:
        return ApiProblem(
            422, "configuration_too_slow",
            f"the configuration took over {self._timeout_ms} ms to read and check",
            field="body", limit_name="config_parse_ms", limit=self._timeout_ms,
        )  # fmt: skip
