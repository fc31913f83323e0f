"""The records of the SPEC §3 probe (tests/spec): what one ``unirouter simulate`` run left behind.
Kept out of conftest.py so the tests import them by a name no other test folder uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Run:
    """What one ``unirouter simulate`` left behind: its event log and its ``--json`` object."""

    log: list[dict[str, Any]]
    out: dict[str, Any]

    def of(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        """The events of one type whose fields equal ``match``."""
        return [
            e
            for e in self.log
            if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())
        ]

    def ids(self) -> dict[str, str]:
        """Scenario id (external id) -> engine id, from the ``item_created`` events."""
        return {e["external_id"]: e["item"] for e in self.of("item_created")}

    def offers(self) -> list[tuple[float, str, str]]:
        """(time, scenario id, agent) of every offer, in order."""
        names = {v: k for k, v in self.ids().items()}
        return [(e["t"], names[e["item"]], e["agent"]) for e in self.of("offer_made")]

    def assigned(self) -> list[tuple[float, str, str]]:
        """(time, scenario id, agent) of every assignment, in order."""
        names = {v: k for k, v in self.ids().items()}
        return [(e["t"], names[e["item"]], e["agent"]) for e in self.of("item_assigned")]

    def closed(self, name: str) -> dict[str, Any]:
        (event,) = self.of("item_closed", item=self.ids()[name])
        return event

    def presences(self, agent: str) -> list[tuple[float, str]]:
        return [(e["t"], e["presence"]) for e in self.of("presence_changed", agent=agent)]


Probe = Callable[..., Run]
