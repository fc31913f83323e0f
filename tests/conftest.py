"""Shared fixtures: engines built from YAML text on a manual clock.

Hypothesis profiles: ``dev`` (the default) draws new random examples on every run, so local runs
keep hunting for new failures; ``ci`` (``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) is
derandomized, so the same commit gives the same verdict and a landing never depends on luck. A
failure found locally becomes a deterministic regression test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import yaml
from hypothesis import settings

import pg_support
from unirouter import config as configuration
from unirouter.engine.clock import UNIX_EPOCH, ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.events import Event

settings.register_profile("dev", print_blob=True)
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new database on the real PostgreSQL server, dropped after the test; skipped (and said
    loudly at the end of the run) only when no server answers on 127.0.0.1:5432."""
    if pg_support.admin_url() is None:
        pytest.skip(f"PostgreSQL is not reachable: {pg_support.unreachable()}")
    with pg_support.fresh_database() as url:
        yield url


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A loud line when the PostgreSQL tests could not run."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "PostgreSQL is not reachable" in str(r.longrepr)]  # fmt: skip
    if skipped:
        terminalreporter.write_line(
            f"!!! {len(skipped)} PostgreSQL tests SKIPPED: no PostgreSQL server on "
            f"127.0.0.1:5432 ({pg_support.unreachable()}) !!!",
            red=True,
            bold=True,
        )


@dataclass
class Rig:
    """An engine, its clock, and every event it emitted so far."""

    engine: Engine
    clock: ManualClock
    log: list[Event]

    def at(self, t: float) -> Rig:
        """Move the clock to ``t`` and fire what is due."""
        self.clock.set(t)
        self.engine.advance()
        self.pump()
        return self

    def pump(self) -> list[Event]:
        """Collect new events into ``log`` and return them."""
        new = self.engine.drain_events()
        self.log.extend(new)
        return new

    def of_type(self, type_: str) -> list[Event]:
        self.pump()
        return [e for e in self.log if e.type == type_]

    def last_offer(self, item_id: str) -> Event:
        """The newest ``offer_made`` event of an item."""
        return [e for e in self.of_type("offer_made") if e.item == item_id][-1]


def parse_config(text: str) -> Any:
    return configuration.validate(yaml.safe_load(text))


@pytest.fixture
def rig() -> Callable[..., Rig]:
    """Build a :class:`Rig` from YAML text: ``rig(text, t0=0.0, epoch=UNIX_EPOCH)``."""

    def build(
        text: str,
        *,
        t0: float = 0.0,
        epoch: datetime = UNIX_EPOCH,
        trace: bool = True,
        await_connections: bool = False,
    ) -> Rig:
        clock = ManualClock(t0)
        engine = Engine(parse_config(text), clock=clock, epoch=epoch, trace=trace,
                        await_connections=await_connections)  # fmt: skip
        made = Rig(engine, clock, [])
        made.pump()
        return made

    return build
