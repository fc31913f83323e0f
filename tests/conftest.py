"""Shared fixtures: engines built from YAML text on a manual clock.

Hypothesis profiles: ``dev`` (the default) draws new random examples on every run, so local runs
keep hunting for new failures; ``ci`` (``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) is
derandomized, so the same commit gives the same verdict and a landing never depends on luck. A
failure found locally becomes a deterministic regression test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import yaml
from hypothesis import settings

from unirouter import config as configuration
from unirouter.engine.clock import UNIX_EPOCH, ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.events import Event

settings.register_profile("dev", print_blob=True)
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


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
        text: str, *, t0: float = 0.0, epoch: datetime = UNIX_EPOCH, trace: bool = True
    ) -> Rig:
        clock = ManualClock(t0)
        engine = Engine(parse_config(text), clock=clock, epoch=epoch, trace=trace)
        made = Rig(engine, clock, [])
        made.pump()
        return made

    return build
