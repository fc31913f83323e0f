"""The generated-traffic keys of a scenario (SPEC §7): ``arrivals``, ``shifts``, ``busyness``,
``replications`` and ``warmup``.

Like the rest of the scenario parser, every check records an issue with its field path
(``arrivals[0].rate``) and returns a placeholder, so one run of the parser reports every problem.
Distributions and rates are read by :mod:`unirouter.sim.distributions`, whose ``ValueError``
sentences already start with the field path they were given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from unirouter.errors import ConfigIssue
from unirouter.sim import _checks, _events, distributions, traffic

__all__ = ["TrafficParser", "read_distribution"]

Loc = _checks.Loc
_ARRIVAL_KEYS = (
    "workstream", "rate", "from", "to", "attributes", "customer", "skills", "priority",
    "handle_time", "patience", "wrap_up_s",
)  # fmt: skip
_SHIFT_KEYS = ("agents", "from", "to")
_MAX_REPLICATIONS = 100_000
_PROBABILITY_SLACK = 1e-6
_T = TypeVar("_T")


class TrafficParser:
    """Reads the generated-traffic keys; names are checked against the scenario's configurations."""

    def __init__(self, events: _events.EventParser, base: Path) -> None:
        self.events = events
        self.check = events.check
        self.names = events.names
        self.base = base

    # -- top-level values -----------------------------------------------------------------------------

    def replications(self, value: object) -> int:
        return self.check.integer(value, ("replications",), low=1, high=_MAX_REPLICATIONS) or 1

    def warmup(self, value: object, duration: float) -> float:
        warmup = self.check.seconds(value, ("warmup",)) or 0.0
        if warmup and warmup >= duration:
            self.check.issue(("warmup",), "must be shorter than the duration")
        return warmup

    def busyness(self, value: object) -> distributions.Distribution | None:
        return self.distribution(value, ("busyness",))

    def distribution(self, value: object, loc: Loc) -> distributions.Distribution | None:
        """A ``{dist: ...}`` mapping; a relative ``csv`` is read next to the scenario."""
        return read_distribution(self.check, value, loc, self.base)

    def _read(self, build: Callable[[str], _T], loc: Loc) -> _T | None:
        return _read(self.check, build, loc)

    # -- arrivals -------------------------------------------------------------------------------------

    def arrivals(self, value: object) -> tuple[traffic.Arrival, ...]:
        if not isinstance(value, list):
            self.check.issue(
                ("arrivals",), f"must be a list of arrival sources, not {_checks.describe(value)}"
            )
            return ()
        built = (self._arrival(entry, ("arrivals", i)) for i, entry in enumerate(value))
        return tuple(arrival for arrival in built if arrival is not None)

    def _arrival(self, value: object, loc: Loc) -> traffic.Arrival | None:
        data = self.check.mapping(value, loc)
        self.check.only_keys(data, _ARRIVAL_KEYS, loc)
        for key in ("workstream", "rate", "handle_time"):
            if key not in data and isinstance(value, dict):
                self.check.issue((*loc, key), "this required field of an arrival is missing")
        workstream = self._workstream(data.get("workstream"), (*loc, "workstream"))
        rate = self._rate(data, loc) if "rate" in data else None
        handle = self.distribution(data.get("handle_time"), (*loc, "handle_time"))
        patience = self._optional(data, "patience", loc)
        wrap_up = (
            self._wrap_up(data["wrap_up_s"], (*loc, "wrap_up_s")) if "wrap_up_s" in data else None
        )
        priority = (
            self.events.priority(data["priority"], (*loc, "priority"))
            if "priority" in data
            else None
        )
        skills = self.events.skills(data["skills"], (*loc, "skills")) if "skills" in data else ()
        if rate is None or handle is None or not workstream:
            return None
        return traffic.Arrival(
            workstream=workstream,
            rate=rate,
            handle_time=handle,
            attributes=self._choices(data.get("attributes", {}), (*loc, "attributes")),
            customer=self._choices(data.get("customer", {}), (*loc, "customer")),
            skills=skills,
            priority=priority,
            patience=patience,
            wrap_up=wrap_up,
        )

    def _workstream(self, value: object, loc: Loc) -> str:
        if value is None:
            return ""
        name = self.check.text(value, loc)
        if name and self.names.known and name not in self.names.workstreams:
            self.events.unknown_name(loc, "workstream", name, self.names.workstreams)
        return name

    def _rate(self, data: dict[str, Any], loc: Loc) -> distributions.PiecewiseRate | None:
        bounds = {key: data[key] for key in ("from", "to") if key in data}
        for key, bound in bounds.items():
            if isinstance(bound, bool) or not isinstance(bound, str | int | float):
                self.check.issue((*loc, key), f"must be a duration, not {_checks.describe(bound)}")
                return None
        return self._read(
            lambda path: distributions.parse_arrival_rate(
                data["rate"], field=path, start=bounds.get("from"), end=bounds.get("to")
            ),
            (*loc, "rate"),
        )

    def _optional(
        self, data: dict[str, Any], key: str, loc: Loc
    ) -> distributions.Distribution | None:
        return self.distribution(data[key], (*loc, key)) if key in data else None

    def _wrap_up(self, value: object, loc: Loc) -> distributions.Distribution | None:
        """A number of seconds (``wrap_up_s: 30``) or a distribution."""
        if isinstance(value, dict):
            return self.distribution(value, loc)
        seconds = self.check.seconds(value, loc)
        return None if seconds is None else distributions.Constant(value_s=seconds)

    def _choices(self, value: object, loc: Loc) -> dict[str, traffic.Choice]:
        data = self.check.mapping(value, loc)
        return {str(name): self._choice(v, (*loc, str(name))) for name, v in data.items()}

    def _choice(self, value: object, loc: Loc) -> traffic.Choice:
        """A fixed value, or ``{value: probability, ...}`` with probabilities summing to 1."""
        if not isinstance(value, dict):
            return traffic.Choice.fixed(value)
        options = [(option, self.check.number(p, (*loc, option))) for option, p in value.items()]
        if not options:
            self.check.issue(loc, "needs at least one value with its probability")
            return traffic.Choice.fixed(None)
        if any(p < 0 for _, p in options):
            self.check.issue(loc, "probabilities must not be negative")
        elif abs(math.fsum(p for _, p in options) - 1.0) > _PROBABILITY_SLACK:
            total = math.fsum(p for _, p in options)
            self.check.issue(loc, f"probabilities must add up to 1, not {total:g}")
        return traffic.Choice(options=tuple(options))

    # -- shifts ---------------------------------------------------------------------------------------

    def shifts(self, value: object) -> tuple[traffic.Shift, ...]:
        if not isinstance(value, list):
            self.check.issue(
                ("shifts",),
                f"must be a list of {{agents, from, to}}, not {_checks.describe(value)}",
            )
            return ()
        return tuple(self._shift(entry, ("shifts", i)) for i, entry in enumerate(value))

    def _shift(self, value: object, loc: Loc) -> traffic.Shift:
        data = self.check.mapping(value, loc)
        self.check.only_keys(data, _SHIFT_KEYS, loc)
        if "agents" not in data and isinstance(value, dict):
            self.check.issue((*loc, "agents"), "this required field of a shift is missing")
        agents = self.check.texts(data.get("agents", []), (*loc, "agents"))
        for index, name in enumerate(agents):
            if name and self.names.known and name not in self.names.agents:
                self.events.unknown_name((*loc, "agents", index), "agent", name, self.names.agents)
        start = self.check.seconds(data.get("from", 0.0), (*loc, "from")) or 0.0
        end = math.inf
        if "to" in data:
            end = self.check.seconds(data["to"], (*loc, "to")) or math.inf
            if end <= start:
                self.check.issue((*loc, "to"), "must come after the shift's from")
        return traffic.Shift(agents=agents, start_s=start, end_s=end)


def read_distribution(
    check: _checks.Checker, value: object, loc: Loc, base: Path
) -> distributions.Distribution | None:
    """A ``{dist: ...}`` mapping at ``loc``, or None after recording why it is not one."""
    return _read(
        check,
        lambda path: distributions.parse_distribution(value, field=path, base_dir=base),
        loc,
    )


def _read(check: _checks.Checker, build: Callable[[str], _T], loc: Loc) -> _T | None:
    """What ``build`` returns, or None after recording its ``ValueError`` as an issue."""
    path = _checks.field_path(loc)
    try:
        return build(path)
    except ValueError as error:
        where, _, message = str(error).partition(": ")
        if not message or not where.startswith(path):
            where, message = path, str(error)
        check.issues.append(ConfigIssue(path=where, message=message.rstrip(".")))
        return None
