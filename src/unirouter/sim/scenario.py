"""Scenario files (SPEC §7): a configuration, a start, agent behaviour and scripted events.

``load(path)`` reads a YAML file and ``parse(data, base=...)`` checks data already read; both
return a frozen :class:`Scenario` or raise one :class:`~unirouter.errors.ConfigError` listing
every problem with its field path (``events[3].accept``) and a sentence, as configuration files
do (R41). The configuration (a file relative to the scenario, or an inline mapping) is validated
as a whole by :mod:`unirouter.config`, and so is every ``{config: ...}`` event.

Generated traffic (``arrivals``, ``shifts``, ``busyness``, ``replications``, ``warmup``) is read
by :mod:`unirouter.sim._arrivals` into the values of :mod:`unirouter.sim.traffic`, beside the
scripted ``events``; the two can be mixed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from unirouter import config as cfg
from unirouter.config import model
from unirouter.errors import ConfigError, ConfigIssue
from unirouter.sim import _arrivals, _checks, _events, actions, distributions, traffic

__all__ = ["DEFAULT_START", "AgentBehaviour", "Scenario", "load", "parse"]

#: The engine epoch when a scenario gives no ``start``: Monday 5 January 2026, midnight UTC.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)

_TOP_KEYS = (
    "config", "duration", "warmup", "seed", "replications", "busyness", "start",
    "agent_behaviour", "arrivals", "shifts", "events",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentBehaviour:
    """How simulated agents answer offers (SPEC §7).

    ``manual``: only scripted accepts and declines answer offers (or they expire). Otherwise each
    offer is answered ``response_s`` after it was made (a number, or drawn from ``response`` when
    the scenario gives a distribution), accepted with probability ``accept``.
    """

    manual: bool = False
    accept: float = 1.0
    response_s: float = 0.0
    response: distributions.Distribution | None = None
    #: Agents who never answer (their offers expire), e.g. a replayed day's absent human.
    silent: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A checked scenario. ``events`` are in time order (stable for equal times); ``items`` are
    the scripted items by their scenario id, in the order they were written.

    Generated traffic: ``arrivals`` send items until ``duration``; ``warmup`` is kept for the KPIs
    (items arriving in it are not counted); each of the ``replications`` draws one ``busyness``
    factor multiplying every rate; ``shifts`` put their agents offline outside them.
    """

    config: model.Config
    config_source: str
    duration: float
    seed: int = 0
    start: datetime = DEFAULT_START
    behaviour: AgentBehaviour = field(default_factory=AgentBehaviour)
    events: tuple[actions.Action, ...] = ()
    items: Mapping[str, actions.ItemSpec] = field(default_factory=dict)
    source: Path | None = None
    warmup: float = 0.0
    replications: int = 1
    busyness: distributions.Distribution | None = None
    arrivals: tuple[traffic.Arrival, ...] = ()
    shifts: tuple[traffic.Shift, ...] = ()


def load(path: str | os.PathLike[str]) -> Scenario:
    """The scenario in a YAML file; a relative ``config:`` path is read next to it."""
    source = Path(path)
    if not source.is_file():
        what = "is a folder, not a scenario file" if source.is_dir() else "no such file"
        raise ConfigError([ConfigIssue(path=str(source), message=what)])
    try:
        data = _checks.read_yaml(source.read_text(encoding="utf-8"), source)
    except (OSError, UnicodeDecodeError) as error:
        issue = ConfigIssue(path=str(source), message=f"cannot be read: {error}")
        raise ConfigError([issue]) from None
    except yaml.YAMLError as error:
        raise ConfigError([_checks.yaml_issue(source, error)]) from None
    return parse(data, base=source.parent, source=source)


def parse(data: object, *, base: Path | None = None, source: Path | None = None) -> Scenario:
    """``data`` (as read from YAML) as a Scenario; relative config paths are read from ``base``."""
    return _Parser(base or Path.cwd(), source).scenario(data)


class _Parser(_checks.Checker):
    """One pass over a scenario mapping, collecting every issue before raising them together."""

    def __init__(self, base: Path, source: Path | None) -> None:
        super().__init__()
        self.base = base
        self.source = source

    def scenario(self, data: object) -> Scenario:
        if not isinstance(data, dict):
            self.issue((), "a scenario must be a mapping (config, duration, events, …)")
            self.raise_issues()
        assert isinstance(data, dict)
        self._top_keys(data)
        config, config_source = self.config(data.get("config"), ("config",))
        seed = self.integer(data.get("seed", 0), ("seed",))
        start = self._start(data.get("start"))
        behaviour = self._behaviour(data.get("agent_behaviour"))
        parser = _events.EventParser(self, config, start, self.config)
        events = self._events(data.get("events", []), parser)
        generated = _arrivals.TrafficParser(parser, self.base)
        arrivals = generated.arrivals(data["arrivals"]) if "arrivals" in data else ()
        shifts = generated.shifts(data["shifts"]) if "shifts" in data else ()
        duration = self._duration(data, events)
        warmup = generated.warmup(data["warmup"], duration) if "warmup" in data else 0.0
        replications = generated.replications(data.get("replications", 1))
        busyness = generated.busyness(data["busyness"]) if "busyness" in data else None
        self.raise_issues()
        assert config is not None
        items: dict[str, actions.ItemSpec] = {}
        for action in events:
            if isinstance(action, actions.Submit):
                items.setdefault(action.item.id, action.item)
        return Scenario(
            config=config,
            config_source=config_source,
            duration=duration,
            seed=seed,
            start=start,
            behaviour=behaviour,
            events=tuple(sorted(events, key=lambda action: action.at)),
            items=items,
            source=self.source,
            warmup=warmup,
            replications=replications,
            busyness=busyness,
            arrivals=arrivals,
            shifts=shifts,
        )

    def _top_keys(self, data: dict[str, Any]) -> None:
        if "config" not in data:
            self.issue(("config",), "this required field is missing (a file name or a mapping)")
        for key in data:
            if key not in _TOP_KEYS:
                self.issue((key,), _checks.unknown(key, _TOP_KEYS))
        if "arrivals" in data and "duration" not in data:
            self.issue(("duration",), "is required with arrivals: it says when arrivals stop")

    def config(self, value: object, loc: _checks.Loc) -> tuple[model.Config | None, str]:
        """A configuration file relative to the scenario, or an inline mapping (R41)."""
        if isinstance(value, dict):
            return self._validated(lambda: cfg.validate(value), loc, None), "inline"
        if not isinstance(value, str) or not value.strip():
            if value is not None:
                self.issue(loc, "must be a configuration file name or an inline mapping")
            return None, ""
        path = self.base / value
        if not path.exists():
            self.issue(loc, f"no such file or folder: {value} (read relative to the scenario)")
            return None, value
        return self._validated(lambda: cfg.load(path), loc, value), value

    def _validated(
        self, build: Callable[[], model.Config], loc: _checks.Loc, file: str | None
    ) -> model.Config | None:
        """The configuration ``build`` returns; its issues are kept under ``loc`` or ``file``."""
        try:
            return build()
        except ConfigError as error:
            for issue in error.issues:
                if file is None:
                    self.issues.append(_checks.nested(loc, issue))
                else:
                    message = f"{issue.message} (in {file})"
                    self.issues.append(ConfigIssue(path=issue.path, message=message))
            return None

    def _start(self, value: object) -> datetime:
        """The engine epoch: wall time of virtual second 0, for calendars (R14, R36)."""
        if value is None:
            return DEFAULT_START
        return self.moment(value, ("start",)) or DEFAULT_START

    def _behaviour(self, value: object) -> AgentBehaviour:
        loc: _checks.Loc = ("agent_behaviour",)
        if value is None:
            return AgentBehaviour()
        if value == "manual":
            return AgentBehaviour(manual=True)
        if not isinstance(value, dict):
            self.issue(loc, "must be 'manual' or a mapping {accept: P, response_s: S}")
            return AgentBehaviour()
        self.only_keys(value, ("accept", "response_s"), loc)
        accept = self.number(value.get("accept", 1.0), (*loc, "accept"))
        if not 0.0 <= accept <= 1.0:
            self.issue((*loc, "accept"), f"must be a probability between 0 and 1, not {accept}")
        response_loc = (*loc, "response_s")
        if isinstance(value.get("response_s"), dict):
            drawn = _arrivals.read_distribution(self, value["response_s"], response_loc, self.base)
            return AgentBehaviour(accept=accept, response=drawn)
        response = self.seconds(value.get("response_s", 0.0), response_loc)
        return AgentBehaviour(accept=accept, response_s=response or 0.0)

    def _events(self, value: object, parser: _events.EventParser) -> list[actions.Action]:
        if not isinstance(value, list):
            self.issue(
                ("events",), f"must be a list of scripted events, not {_checks.describe(value)}"
            )
            return []
        return parser.parse_all(value)

    def _duration(self, data: dict[str, Any], events: list[actions.Action]) -> float:
        """How long the run lasts; without ``duration``, until the last scripted event."""
        if "duration" not in data:
            return max((action.at for action in events), default=0.0)
        return self.seconds(data["duration"], ("duration",)) or 0.0
