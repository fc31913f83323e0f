"""Working-hours calendars (R14, R36): weekly hours, holidays, DST, next change, end of day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirouter import calendars
from unirouter.calendars import Calendar
from unirouter.config.model import CalendarDef

PARIS = CalendarDef(
    tz="Europe/Paris",
    weekly={"mon-fri": "08:00-18:00", "sat": "09:00-12:00,14:00-17:00"},
    holidays=[date(2026, 12, 25)],
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def calendar(
    weekly: dict[str, str], tz: str = "Europe/Paris", holidays: list[date] | None = None
) -> Calendar:
    """A calendar from weekly hours."""
    return Calendar(CalendarDef(tz=tz, weekly=weekly, holidays=holidays or []))


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "days"),
    [
        ("sat", {5}),
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed", {0, 2}),
        ("mon-tue, fri", {0, 1, 4}),
        ("fri-mon", {4, 5, 6, 0}),
        ("Sun", {6}),
    ],
)
def test_weekly_keys_name_days(key: str, days: set[int]) -> None:
    """R14: single days, ranges (wrapping over the week end) and comma lists."""
    assert calendars.parse_days(key) == days


def test_unknown_day_is_a_sentence() -> None:
    """R41: a bad day name raises ValueError with a sentence naming it."""
    with pytest.raises(ValueError, match="unknown day 'fry'"):
        calendars.parse_days("mon-fry")


@pytest.mark.parametrize(
    ("value", "spans"),
    [
        ("08:00-18:00", ((480, 1080),)),
        ("14:00-17:00, 09:00-12:00", ((540, 720), (840, 1020))),
        ("09:00-12:00,12:00-13:00", ((540, 780),)),
        ("18:00-24:00", ((1080, 1440),)),
        ("closed", ()),
    ],
)
def test_weekly_values_give_sorted_merged_ranges(
    value: str, spans: tuple[calendars.Span, ...]
) -> None:
    """R14: several ranges per day, 24:00 as an end, touching ranges merged."""
    assert calendars.parse_hours(value) == spans


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("18:00-08:00", "does not end after it starts"),
        ("08:00", "is not a range"),
        ("8h-18h", "is not a time"),
        ("08:00-25:00", "is not a time of day"),
        ("24:00-24:00", "is not a time of day"),
    ],
)
def test_bad_hours_are_sentences(value: str, message: str) -> None:
    """R41: bad hours raise ValueError with a sentence."""
    with pytest.raises(ValueError, match=message):
        calendars.parse_hours(value)


def test_a_day_given_twice_names_the_second_key() -> None:
    """R14: each day takes its hours from one key."""
    with pytest.raises(calendars.WeeklyHoursError, match="fri already has hours") as caught:
        calendars.parse_weekly({"mon-fri": "08:00-18:00", "fri": "08:00-12:00"})
    assert caught.value.key == "fri"


def test_unknown_time_zone_is_a_sentence() -> None:
    """R14: the zone is an IANA name."""
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        calendars.zone("Mars/Olympus")


# --- is_open -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 1, 14, 6, 59), False),  # Wednesday 07:59 Paris (UTC+1)
        (utc(2026, 1, 14, 7, 0), True),  # 08:00: ranges include their start
        (utc(2026, 1, 14, 16, 59, 59), True),
        (utc(2026, 1, 14, 17, 0), False),  # 18:00: ranges exclude their end
        (utc(2026, 1, 17, 10, 0), True),  # Saturday 11:00
        (utc(2026, 1, 17, 12, 0), False),  # Saturday 13:00, the lunch break
        (utc(2026, 1, 17, 13, 0), True),  # Saturday 14:00
        (utc(2026, 1, 18, 10, 0), False),  # Sunday: no hours
    ],
)
def test_weekly_hours_decide_openness(instant: datetime, expected: bool) -> None:
    """R14: open within the day's ranges, in the calendar's time zone."""
    assert Calendar(PARIS).is_open(instant) is expected


def test_holidays_are_closed_all_day_in_local_time() -> None:
    """R14: 2026-12-25 is closed from local midnight, 23:00 UTC the day before."""
    paris = Calendar(PARIS)
    assert paris.is_open(utc(2026, 12, 24, 16, 0))
    assert not paris.is_open(utc(2026, 12, 25, 9, 0))
    assert not paris.is_open(utc(2026, 12, 24, 23, 30))


def test_hours_follow_local_time_across_dst() -> None:
    """R14: 08:00 Paris is 07:00 UTC in winter and 06:00 UTC in summer (DST on 2026-03-29)."""
    paris = Calendar(PARIS)
    assert paris.is_open(utc(2026, 3, 27, 7, 0)) and not paris.is_open(utc(2026, 3, 27, 6, 30))
    assert paris.is_open(utc(2026, 3, 30, 6, 0)) and not paris.is_open(utc(2026, 3, 30, 5, 30))


def test_any_time_zone_of_the_instant_is_accepted() -> None:
    """An aware instant in another zone means the same moment."""
    new_york = calendars.zone("America/New_York")
    assert Calendar(PARIS).is_open(datetime(2026, 1, 14, 3, 0, tzinfo=new_york))


def test_naive_instants_are_refused() -> None:
    """Instants carry their zone; a naive datetime is ambiguous."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Calendar(PARIS).is_open(datetime(2026, 1, 14, 9, 0))


def test_from_def_builds_the_same_calendar() -> None:
    """Calendar.from_def(defn) is Calendar(defn)."""
    assert Calendar.from_def(PARIS).is_open(utc(2026, 1, 14, 9, 0))


# --- next_change -------------------------------------------------------------------------------


def test_next_change_while_open_is_the_closing_time() -> None:
    """R14: a Wednesday afternoon changes at 18:00 Paris."""
    assert Calendar(PARIS).next_change(utc(2026, 1, 14, 12, 0)) == utc(2026, 1, 14, 17, 0)


def test_next_change_over_a_weekend_and_dst() -> None:
    """R14: from Saturday evening the next opening is Monday 08:00 CEST, 06:00 UTC."""
    assert Calendar(PARIS).next_change(utc(2026, 3, 28, 17, 0)) == utc(2026, 3, 30, 6, 0)


def test_next_change_skips_a_holiday() -> None:
    """R14: from closing time on 24 December, Christmas stays closed; Saturday 26th opens."""
    paris = Calendar(PARIS)
    assert paris.next_change(utc(2026, 12, 24, 17, 0)) == utc(2026, 12, 26, 8, 0)


def test_next_change_at_a_dst_gap_is_the_jump() -> None:
    """DST: hours ending inside the skipped hour close when the clocks jump (01:00 UTC)."""
    night = calendar({"sun": "01:00-02:30"})
    assert night.next_change(utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 1, 0)


def test_next_change_is_none_when_always_open_or_never_open() -> None:
    """R14: a calendar that never changes state within a year has no next change."""
    assert calendar({"mon-sun": "00:00-24:00"}).next_change(utc(2026, 6, 1)) is None
    assert calendar({}).next_change(utc(2026, 6, 1)) is None


def test_midnight_between_open_days_is_not_a_change() -> None:
    """R14: 18:00-24:00 then 00:00-06:00 the next day is one opening."""
    night = calendar({"mon": "18:00-24:00", "tue": "00:00-06:00"}, tz="UTC")
    assert night.next_change(utc(2026, 1, 12, 20, 0)) == utc(2026, 1, 13, 6, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    )
)
def test_next_change_is_the_first_flip(t: datetime) -> None:
    """R14: the state is constant until next_change, and differs at it."""
    paris = Calendar(PARIS)
    change = paris.next_change(t)
    assert change is not None and change > t
    assert paris.is_open(change) != paris.is_open(t)
    probe = t
    while probe < change:
        assert paris.is_open(probe) == paris.is_open(t)
        probe += timedelta(minutes=29)


# --- end_of_day --------------------------------------------------------------------------------


def test_end_of_day_during_work_is_the_last_closing_time() -> None:
    """R36: on Saturday morning the working day ends at 17:00, after the lunch break."""
    assert Calendar(PARIS).end_of_day(utc(2026, 1, 17, 9, 0)) == utc(2026, 1, 17, 16, 0)


def test_end_of_day_before_work_is_today() -> None:
    """R36: at 06:00 the day that follows is today."""
    assert Calendar(PARIS).end_of_day(utc(2026, 1, 14, 5, 0)) == utc(2026, 1, 14, 17, 0)


def test_end_of_day_after_work_is_the_next_working_day() -> None:
    """R36: after Saturday's hours, the next working day is Monday."""
    assert Calendar(PARIS).end_of_day(utc(2026, 1, 17, 18, 0)) == utc(2026, 1, 19, 17, 0)


def test_end_of_day_skips_holidays() -> None:
    """R36: Christmas has no working day; the next one is Saturday 26th."""
    assert Calendar(PARIS).end_of_day(utc(2026, 12, 24, 20, 0)) == utc(2026, 12, 26, 16, 0)


def test_end_of_day_follows_dst() -> None:
    """R36: 18:00 Paris is 16:00 UTC in summer."""
    assert Calendar(PARIS).end_of_day(utc(2026, 7, 15, 9, 0)) == utc(2026, 7, 15, 16, 0)


def test_end_of_day_of_a_24_hour_day_is_midnight() -> None:
    """R36: a day open until 24:00 ends at the next local midnight."""
    always = calendar({"mon-sun": "00:00-24:00"})
    assert always.end_of_day(utc(2026, 1, 14, 12, 0)) == utc(2026, 1, 14, 23, 0)


def test_end_of_day_without_working_days_is_local_midnight() -> None:
    """R36: a calendar with no hours ends its days at local midnight."""
    assert calendar({}).end_of_day(utc(2026, 1, 14, 12, 0)) == utc(2026, 1, 14, 23, 0)


#: Nights 22:00–06:00 from Monday night to Saturday morning.
NIGHTS = CalendarDef(
    tz="UTC",
    weekly={
        "mon": "22:00-24:00",
        "tue-fri": "00:00-06:00,22:00-24:00",
        "sat": "00:00-06:00",
    },
)


def test_r36_an_overnight_shift_ends_its_day_in_the_morning() -> None:
    """R36: a night shift from 22:00 ends its working day at 06:00 next morning, not at midnight."""
    nights = Calendar(NIGHTS)
    assert nights.end_of_day(utc(2026, 1, 5, 23, 0)) == utc(2026, 1, 6, 6, 0)


def test_r36_after_midnight_the_shift_that_began_the_evening_before_ends_at_six() -> None:
    """R36: at 03:00 the working day under way is the night begun at 22:00 the day before."""
    nights = Calendar(NIGHTS)
    assert nights.end_of_day(utc(2026, 1, 6, 3, 0)) == utc(2026, 1, 6, 6, 0)


def test_r36_between_night_shifts_the_next_day_ends_the_following_morning() -> None:
    """R36: at noon the next working day is tonight's shift, ending tomorrow at 06:00."""
    nights = Calendar(NIGHTS)
    assert nights.end_of_day(utc(2026, 1, 6, 12, 0)) == utc(2026, 1, 7, 6, 0)


def test_r36_the_last_night_of_the_week_ends_on_saturday_morning() -> None:
    """R36: Friday night's shift ends Saturday 06:00; after it the next is Monday night's."""
    nights = Calendar(NIGHTS)
    assert nights.end_of_day(utc(2026, 1, 9, 23, 0)) == utc(2026, 1, 10, 6, 0)
    assert nights.end_of_day(utc(2026, 1, 10, 7, 0)) == utc(2026, 1, 13, 6, 0)
