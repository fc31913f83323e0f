"""Reading scenario files: YAML with keys kept as written, and value checks that collect issues.

A :class:`Checker` never raises on the first problem: every check records a
:class:`~unirouter.errors.ConfigIssue` with the field path (``events[3].accept``) and a sentence,
returns a harmless placeholder, and the caller raises them all together at the end (as R41 asks of
configuration files).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from unirouter import durations
from unirouter.config import bounded
from unirouter.config.load import describe, duplicate_keys, yaml_issue
from unirouter.config.validate import field_path
from unirouter.errors import ConfigError, ConfigIssue

__all__ = [
    "Checker",
    "Loc",
    "describe",
    "field_path",
    "nested",
    "read_yaml",
    "unknown",
    "yaml_issue",
]

Loc = tuple[str | int, ...]


def nested(loc: Loc, issue: ConfigIssue) -> ConfigIssue:
    """An issue of an embedded document, with its path placed under ``loc``."""
    prefix = field_path(loc)
    if not issue.path:
        return ConfigIssue(path=prefix, message=issue.message)
    joiner = "" if issue.path.startswith("[") else "."
    return ConfigIssue(path=f"{prefix}{joiner}{issue.path}", message=issue.message)


def unknown(name: object, allowed: Sequence[str]) -> str:
    """``unknown field 'acept'; did you mean 'accept'?`` or the list of allowed fields."""
    close = difflib.get_close_matches(str(name), allowed, n=1)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    return f"unknown field {name!r}; allowed fields: {', '.join(allowed)}"


def read_yaml(text: str, source: Path) -> object:
    """The document in ``text``, read from ``source`` by the configuration files' reader: keys kept
    as written, the text bounds of :mod:`unirouter.config.bounded` (ConfigTooComplex past them),
    ``yaml.YAMLError`` when it is not YAML, and a ConfigError naming every key written twice."""
    node, data = bounded.parse_yaml(text, str(source))
    repeats = list(duplicate_keys(source, node, ())) if node is not None else []
    if repeats:
        raise ConfigError(repeats)
    return data


def as_datetime(value: str | date) -> datetime:
    """An ISO date or datetime as an aware datetime, UTC when no offset is given (ValueError)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(value.strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_duration(text: str) -> bool:
    """Whether ``text`` reads as a duration (``90``, ``"5m"``, ``"1h30m"``)."""
    try:
        durations.parse_duration(text)
    except ValueError:
        return False
    return True


def as_iso(text: str) -> datetime | None:
    """``text`` as an ISO datetime (UTC unless an offset is written), or None."""
    try:
        return as_datetime(text)
    except ValueError:
        return None


class Checker:
    """Collects issues; each check returns a placeholder after recording a problem."""

    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []

    def issue(self, loc: Loc, message: str) -> None:
        self.issues.append(ConfigIssue(path=field_path(loc), message=message))

    def raise_issues(self) -> None:
        """Raise every recorded issue at once, if any."""
        if self.issues:
            raise ConfigError(self.issues)

    def only_keys(self, data: dict[str, Any], allowed: Sequence[str], loc: Loc) -> None:
        for key in data:
            if key not in allowed:
                self.issue((*loc, key), unknown(key, allowed))

    def mapping(self, value: object, loc: Loc) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.issue(loc, f"must be a mapping, not {describe(value)}")
        return {}

    def text(self, value: object, loc: Loc) -> str:
        """A non-empty string (a number written for an id is read as its text)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value
        self.issue(loc, f"must be a non-empty string, not {describe(value)}")
        return ""

    def texts(self, value: object, loc: Loc) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.issue(loc, f"must be a list of names, not {describe(value)}")
            return ()
        return tuple(self.text(entry, (*loc, index)) for index, entry in enumerate(value))

    def integer(
        self, value: object, loc: Loc, *, low: int | None = None, high: int | None = None
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.issue(loc, f"must be a whole number, not {describe(value)}")
            return 0
        if (low is not None and value < low) or (high is not None and value > high):
            self.issue(loc, f"must be between {low} and {high}, not {value}")
        return value

    def number(self, value: object, loc: Loc) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.issue(loc, f"must be a number, not {describe(value)}")
            return 0.0
        return float(value)

    def seconds(self, value: object, loc: Loc) -> float | None:
        """A duration (``90``, ``"90s"``, ``"1h30m"``) in seconds; None after an issue."""
        if not isinstance(value, str | int | float):
            self.issue(loc, f"must be a duration such as '90s' or '5m', not {describe(value)}")
            return None
        path = field_path(loc)
        try:
            return durations.parse_duration(value, field=path)
        except ValueError as error:
            self.issue(loc, str(error).removeprefix(f"{path}: "))
            return None

    def moment(self, value: object, loc: Loc) -> datetime | None:
        """An ISO date or datetime (UTC unless an offset is written)."""
        if not isinstance(value, str | date):
            self.issue(loc, f"must be an ISO date or datetime, not {describe(value)}")
            return None
        try:
            return as_datetime(value)
        except ValueError:
            self.issue(loc, f"{value!r} is not an ISO date or datetime (e.g. 2026-01-05T09:00:00Z)")
            return None

    def flag(self, value: object, loc: Loc) -> bool:
        if isinstance(value, bool):
            return value
        self.issue(loc, f"must be true or false, not {describe(value)}")
        return False
