"""The configurations a server applied, by version (issue 16 item 4): ``GET /v1/config/versions``
and a rollback to one of them.

A fold over the log like the projection: every ``init`` or ``apply_config`` command whose
``config_applied`` event gave it a version is kept with its time and actor, so a restart's replay
rebuilds the same list. Only the newest :data:`KEEP` configurations stay in memory (each may be
large); their versions, times and actors all stay listed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["KEEP", "ConfigVersions"]

#: How many of the newest applied configurations are kept whole (older ones are listed only).
KEEP = 50
_CONFIG_OPS = frozenset({"init", "apply_config"})


class ConfigVersions:
    """Applied configuration versions, oldest first."""

    def __init__(self) -> None:
        self._listed: list[dict[str, Any]] = []
        self._configs: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def feed(self, command: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Take one logged command and its events."""
        if command.get("op") not in _CONFIG_OPS or command.get("refused"):
            return
        for event in events:
            if event.get("type") == "config_applied":
                self._add(int(event["version"]), command)

    def _add(self, version: int, command: dict[str, Any]) -> None:
        rolled = command["args"].get("rollback_of")
        self._listed.append({"version": version, "t": command["t"], "actor": command.get("actor"),
                             "rollback_of": rolled})  # fmt: skip
        self._configs[version] = command["args"]["config"]
        while len(self._configs) > KEEP:
            self._configs.popitem(last=False)

    def listing(self) -> list[dict[str, Any]]:
        """Every applied version with its time, actor and, when kept, ``kept: true``."""
        return [{**row, "kept": row["version"] in self._configs} for row in self._listed]

    def config(self, version: int) -> dict[str, Any] | None:
        """The configuration (JSON) applied as ``version``, if still kept."""
        return self._configs.get(version)
