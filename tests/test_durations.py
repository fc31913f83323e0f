"""Durations and rates as the configuration writes them ("90s", "1h30m", "120/h")."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unirouter.durations import format_duration, parse_duration, parse_rate

# --- parse_duration ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [(90, 90.0), (1.5, 1.5), (0, 0.0)])
def test_number_is_seconds(value: float, seconds: float) -> None:
    """A bare number is a number of seconds."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ("90s", 90.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("30m", 1800.0),
        ("8h", 28800.0),
        ("2d", 172800.0),
        ("3min", 180.0),
        ("10sec", 10.0),
        (".5s", 0.5),
    ],
)
def test_string_with_one_unit(text: str, seconds: float) -> None:
    """A string is a number with an optional unit: ms, s, m, h, d (also sec, min)."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h30m", 5400.0), ("1d2h", 93600.0), ("2m30s", 150.0), ("1s500ms", 1.5)],
)
def test_compound_duration_adds_its_parts(text: str, seconds: float) -> None:
    """ "1h30m" is the sum of its parts."""
    assert parse_duration(text) == seconds


def test_blanks_and_case_are_ignored() -> None:
    """Blanks around and between parts, and upper case units, are accepted."""
    assert parse_duration(" 1H 30M ") == 5400.0


@pytest.mark.parametrize("value", [-1, -0.5, "-5s", " -5"])
def test_negative_duration_is_refused(value: str | float) -> None:
    """A negative duration is a ValueError saying so."""
    with pytest.raises(ValueError, match="not negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["", "abc", "5x", "h", "1h-30m", "1e3", "1,5s", "nan", "inf"])
def test_malformed_duration_is_refused(value: str) -> None:
    """A string that is not a duration is a ValueError."""
    with pytest.raises(ValueError, match="not a valid duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400, "9" * 400])
def test_non_finite_duration_is_refused(value: str | float) -> None:
    """Infinite, NaN or out-of-range durations are refused."""
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)


def test_boolean_is_not_a_duration() -> None:
    """true is not one second."""
    with pytest.raises(ValueError, match="not a valid duration"):
        parse_duration(True)


def test_duration_error_names_the_field_and_the_value() -> None:
    """The error sentence names the field and repeats the value."""
    with pytest.raises(ValueError, match=r"^offer\.timeout_s: '5x' is not a valid duration"):
        parse_duration("5x", field="offer.timeout_s")


# --- parse_rate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "per_second"), [(2, 2.0), (0.5, 0.5), ("4", 4.0), (0, 0.0)])
def test_number_is_per_second(value: str | float, per_second: float) -> None:
    """A bare number (or numeric string) is a rate per second."""
    assert parse_rate(value) == per_second


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("120/h", 120 / 3600),
        ("2/m", 2 / 60),
        ("3/min", 3 / 60),
        ("0.5/s", 0.5),
        ("1/d", 1 / 86400),
        (" 120 / H ", 120 / 3600),
    ],
)
def test_rate_per_unit(text: str, per_second: float) -> None:
    """ "n/unit" is n per that unit, converted to per second."""
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("value", ["", "120/", "/h", "120/x", "120/h/h", "10 per hour"])
def test_malformed_rate_is_refused(value: str) -> None:
    """A string that is not a rate is a ValueError."""
    with pytest.raises(ValueError, match="not a valid rate"):
        parse_rate(value)


@pytest.mark.parametrize("value", [-1, "-2/h", math.inf, False])
def test_negative_or_non_finite_rate_is_refused(value: str | float) -> None:
    """Negative, infinite and boolean rates are refused."""
    with pytest.raises(ValueError, match="not a valid rate"):
        parse_rate(value)


def test_rate_error_names_the_field() -> None:
    """The error sentence names the field."""
    with pytest.raises(ValueError, match=r"^arrivals: '3/y' is not a valid rate"):
        parse_rate("3/y", field="arrivals")


# --- format_duration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (2.5, "2.5s"),
        (60, "1m"),
        (90, "1m30s"),
        (5400, "1h30m"),
        (3600, "1h"),
        (86400 + 3661.5, "1d1h1m1.5s"),
        (0.25, "250ms"),
        (59.9996, "1m"),
        (-90, "-1m30s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations print in a short human form, largest unit first."""
    assert format_duration(seconds) == text


@given(millis=st.integers(min_value=0, max_value=10**11))
def test_format_then_parse_round_trips(millis: int) -> None:
    """parse_duration reads back what format_duration writes, to the millisecond."""
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=5e-4)


@given(seconds=st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_parse_accepts_any_non_negative_number(seconds: float) -> None:
    """Every finite non-negative number is a duration of that many seconds."""
    assert parse_duration(seconds) == seconds
