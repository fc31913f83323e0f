"""Durations and rates as the configuration writes them: ``"90s"``, ``"1h30m"``, ``"120/h"``.

A bare number is seconds (a duration) or per second (a rate). Units: ``ms``, ``s``/``sec``,
``m``/``min``, ``h`` and ``d``, case-insensitive; a duration may chain parts (``"1h 30m"``).
Negative, non-finite or malformed values are refused with a ``ValueError`` naming the field.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration", "parse_rate"]

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:ms|min|sec|s|m|h|d)"  # longer spellings first: "ms" is not "m" then "s"
_PLAIN = re.compile(rf"\s*({_NUMBER})\s*")
_PART = re.compile(rf"\s*({_NUMBER})\s*({_UNIT})\s*")
_DURATION = re.compile(rf"(?:\s*{_NUMBER}\s*{_UNIT}\s*)+")
_RATE = re.compile(rf"\s*({_NUMBER})\s*/\s*({_UNIT})\s*")
_FORMAT_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000))


def parse_duration(value: str | int | float, *, field: str = "duration") -> float:
    """Seconds from a number of seconds or a string such as ``"90s"``, ``"8h"`` or ``"1h30m"``."""
    if not isinstance(value, str):
        return _number(value, field, "duration")
    text = value.lower()
    if plain := _PLAIN.fullmatch(text):
        return _finite(float(plain[1]), value, field, "duration")
    if not _DURATION.fullmatch(text):
        raise _invalid(
            value, field, "duration", "a number of seconds or e.g. '90s', '30m', '1h30m'"
        )
    seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
    return _finite(seconds, value, field, "duration")


def parse_rate(value: str | int | float, *, field: str = "rate") -> float:
    """Events per second from a number per second or a string such as ``"120/h"`` or ``"3/min"``."""
    if not isinstance(value, str):
        return _number(value, field, "rate")
    text = value.lower()
    if plain := _PLAIN.fullmatch(text):
        return _finite(float(plain[1]), value, field, "rate")
    if rate := _RATE.fullmatch(text):
        return _finite(float(rate[1]) / _UNITS[rate[2]], value, field, "rate")
    raise _invalid(value, field, "rate", "a number per second or e.g. '120/h', '2/m', '0.5/s'")


def format_duration(seconds: float) -> str:
    """A short form that :func:`parse_duration` reads back: ``"1h30m"``, ``"45s"``, ``"2.5s"``.

    Whole units are shown down to the millisecond; below one second the unit is ``ms``.
    """
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1:
        return f"{_trim(seconds * 1000)}ms" if seconds else "0s"
    millis = round(seconds * 1000)
    parts: list[str] = []
    for unit, size in _FORMAT_UNITS:
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis or not parts:
        parts.append(f"{_trim(millis / 1000)}s")
    return "".join(parts)


def _number(value: object, field: str, kind: str) -> float:
    """A bare number: finite and not negative. A bool is not a number here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(value, field, kind, "a number or a string")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    return _finite(number, value, field, kind)


def _finite(number: float, value: object, field: str, kind: str) -> float:
    """``number`` (parsed from ``value``) when it is finite and not negative."""
    if not math.isfinite(number) or number < 0:
        raise _invalid(value, field, kind, "a finite number that is not negative")
    return number


def _invalid(value: object, field: str, kind: str, expected: str) -> ValueError:
    if isinstance(value, str) and value.strip().startswith("-"):
        expected = f"a {kind} that is not negative"
    return ValueError(f"{field}: {value!r} is not a valid {kind}; expected {expected}.")


def _trim(number: float) -> str:
    """At most three decimals, without trailing zeros: 2.5 -> "2.5", 3.0 -> "3"."""
    return f"{number:.3f}".rstrip("0").rstrip(".")
