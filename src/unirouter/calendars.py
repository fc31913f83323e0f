"""Working-hours calendars (R14, R36): a time zone, weekly hours and holidays.

Hours are wall-clock times in the calendar's zone, so ``08:00-18:00`` stays 08:00–18:00 local
across daylight-saving changes; holidays are local dates closed all day. Ranges are half-open:
``08:00-18:00`` is open at 08:00 and closed at 18:00. Weekly keys name days (``mon``, ``mon-fri``,
``mon,wed``, ``fri-mon``) and each day may be named by one key only; values are one or more
comma-separated ranges, ``24:00`` allowed as an end, or ``closed``.

The configuration validation reports parsing errors with their path (R41) through
:func:`parse_days`, :func:`parse_hours`, :func:`parse_weekly` and :func:`zone`, which raise
:class:`ValueError` with a sentence. Nothing here reads the clock: every query takes the instant.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from unirouter.config.model import CalendarDef

__all__ = [
    "DAYS",
    "Calendar",
    "Span",
    "WeeklyHoursError",
    "parse_days",
    "parse_hours",
    "parse_weekly",
    "zone",
]

#: Day names of weekly keys, Monday first (``date.weekday()`` order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: An opening range in minutes since local midnight, ``[start, end)``; ``end`` may be 1440.
Span = tuple[int, int]
#: Opening ranges of each weekday, Monday first.
Week = tuple[tuple[Span, ...], ...]

_DAY_MINUTES = 24 * 60
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
#: ``next_change`` looks this far ahead (a leap year and a day of margin).
_HORIZON = timedelta(days=367)


class WeeklyHoursError(ValueError):
    """A weekly entry that does not parse; ``key`` is the entry's day key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris"
        ) from None


def parse_days(key: str) -> frozenset[int]:
    """The weekdays (Monday 0) a key names: ``sat``, ``mon-fri``, ``mon,wed``, ``fri-mon``."""
    days: set[int] = set()
    for part in key.split(","):
        days.update(_day_range(part))
    return frozenset(days)


def _day_range(part: str) -> list[int]:
    """``mon-fri`` or ``sat``; a range may wrap over the week end (``fri-mon``)."""
    first, dash, last = part.partition("-")
    start = _day(first)
    end = _day(last) if dash else start
    return [(start + step) % 7 for step in range((end - start) % 7 + 1)]


def _day(name: str) -> int:
    """The weekday number of a three-letter day name."""
    try:
        return DAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown day {name.strip()!r}; use {', '.join(DAYS)}") from None


def parse_hours(value: str) -> tuple[Span, ...]:
    """``08:00-18:00``, ``09:00-12:00,14:00-17:00`` or ``closed``, sorted and merged."""
    if value.strip().lower() == "closed":
        return ()
    spans = sorted(_span(part.strip()) for part in value.split(","))
    return _merged(spans)


def _span(text: str) -> Span:
    """One ``HH:MM-HH:MM`` range within one day."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError(f"{text!r} is not a range such as 08:00-18:00")
    start, end = _minute(start_text, end=False), _minute(end_text, end=True)
    if end <= start:
        raise ValueError(f"{text!r} does not end after it starts; split a night over two days")
    return start, end


def _minute(text: str, *, end: bool) -> int:
    """Minutes since midnight of ``HH:MM``; ``24:00`` only as the end of a range."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a time such as 08:30")
    hours, minutes = int(match[1]), int(match[2])
    if end and (hours, minutes) == (24, 0):
        return _DAY_MINUTES
    if hours > 23 or minutes > 59:
        raise ValueError(
            f"{text.strip()!r} is not a time of day; use 00:00 to 23:59, or 24:00 to end"
        )
    return hours * 60 + minutes


def _merged(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted spans with overlapping and touching ones joined."""
    out: list[Span] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return tuple(out)


def parse_weekly(weekly: Mapping[str, str]) -> Week:
    """The opening ranges of each weekday; WeeklyHoursError for a bad entry or a day given twice."""
    week: list[tuple[Span, ...] | None] = [None] * 7
    for key, value in weekly.items():
        try:
            days, spans = parse_days(key), parse_hours(value)
        except ValueError as error:
            raise WeeklyHoursError(key, str(error)) from None
        for day in sorted(days):
            if week[day] is not None:
                raise WeeklyHoursError(key, f"{DAYS[day]} already has hours from another key")
            week[day] = spans
    return tuple(spans or () for spans in week)


class Calendar:
    """A runtime calendar (R14, R36); every instant given must be timezone-aware."""

    __slots__ = ("_constant", "_holidays", "_week", "_zone")

    def __init__(self, defn: CalendarDef) -> None:
        self._zone = zone(defn.tz)
        self._week = parse_weekly(defn.weekly)
        self._holidays = frozenset(defn.holidays)
        self._constant = _never_changes(self._week, self._holidays)

    @classmethod
    def from_def(cls, defn: CalendarDef) -> Calendar:
        """The calendar of a configuration's ``calendars`` entry."""
        return cls(defn)

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return self._zone

    def is_open(self, t: datetime) -> bool:
        """Whether ``t`` falls within the weekly hours of a day that is not a holiday."""
        local = _aware(t).astimezone(self._zone)
        if local.date() in self._holidays:
            return False
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(start * 60 <= second < end * 60 for start, end in self._spans(local.date()))

    def next_change(self, t: datetime) -> datetime | None:
        """The first instant after ``t`` where open/closed flips, within a year; else None."""
        state = self.is_open(t)
        if self._constant:
            return None
        for instant in self._candidates(_aware(t), _aware(t) + _HORIZON):
            if self.is_open(instant) != state:
                return instant
        return None

    def end_of_day(self, t: datetime) -> datetime:
        """End of the working day containing or following ``t`` (R36 ``end_of_day`` resets).

        That is the end of the last range of the first local day whose hours end after ``t``. A
        day whose last range runs to 24:00 goes on into the next morning's range from 00:00 (a
        night shift ends in the morning, not at midnight), and that morning range belongs to the
        day before. A calendar with no working day in the coming year ends its days at local
        midnight.
        """
        first = _aware(t).astimezone(self._zone).date()
        for offset in range(-1, _HORIZON.days):
            end = self._day_end(first + timedelta(days=offset))
            if end is not None and end > t:
                return end
        return self._instant(first + timedelta(days=1), 0)

    def _spans(self, day: date) -> tuple[Span, ...]:
        """Opening ranges of a local date: none on holidays."""
        return () if day in self._holidays else self._week[day.weekday()]

    def _day_end(self, day: date) -> datetime | None:
        """The instant the working day of a local date ends, or None if it has none (R36)."""
        spans = self._spans(day)
        if spans and self._continues_overnight(day - timedelta(days=1)):
            spans = spans[1:]  # this morning's range ends the night begun the day before
        if not spans:
            return None
        if self._continues_overnight(day):
            return self._instant(
                day + timedelta(days=1), self._spans(day + timedelta(days=1))[0][1]
            )
        return self._instant(day, spans[-1][1])

    def _continues_overnight(self, day: date) -> bool:
        """Whether the hours of ``day`` run to 24:00 into a morning range of the next day."""
        spans, following = self._spans(day), self._spans(day + timedelta(days=1))
        return (
            bool(spans and following)
            and spans[-1][1] == _DAY_MINUTES
            and following[0][0] == 0
            and following[0][1] < _DAY_MINUTES
        )

    def _instant(self, day: date, minute: int) -> datetime:
        """The UTC instant of a local wall time; a time skipped by DST resolves to the jump."""
        wall = datetime.combine(day, time()) + timedelta(minutes=minute)
        first = wall.replace(tzinfo=self._zone).astimezone(UTC)
        if first.astimezone(self._zone).replace(tzinfo=None) == wall:
            return first
        skipped_from = wall.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        return self._transition(skipped_from, first) or first

    def _candidates(self, after: datetime, limit: datetime) -> Iterator[datetime]:
        """Instants after ``after`` where the state may flip, ascending, up to ``limit``.

        Candidates of a local day may fall a few hours into its neighbours (DST folds), so a
        candidate is released only once every later day's candidates are surely later.
        """
        heap: list[datetime] = []
        day = after.astimezone(self._zone).date() - timedelta(days=1)
        while True:
            for instant in self._day_candidates(day):
                heapq.heappush(heap, instant)
            settled = datetime.combine(day, time(), tzinfo=UTC) - timedelta(days=1)
            while heap and heap[0] < settled:
                instant = heapq.heappop(heap)
                if instant > limit:
                    return
                if instant > after:
                    yield instant
            day += timedelta(days=1)

    def _day_candidates(self, day: date) -> Iterator[datetime]:
        """Every range boundary and midnight of ``day`` in both folds, and any DST jump."""
        minutes = {0, *(m for span in self._week[day.weekday()] for m in span)}
        for minute in minutes:
            wall = datetime.combine(day, time()) + timedelta(minutes=minute)
            for fold in (0, 1):
                yield wall.replace(tzinfo=self._zone, fold=fold).astimezone(UTC)
        midnight = self._instant(day, 0)
        jump = self._transition(midnight, midnight + timedelta(days=1))
        if jump is not None:
            yield jump

    def _transition(self, start: datetime, end: datetime) -> datetime | None:
        """The first instant in ``(start, end]`` with the offset ``end`` has, if it differs."""
        offset = self._offset
        if offset(start) == offset(end):
            return None
        low, high = int(start.timestamp()), int(end.timestamp())
        before = offset(start)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(_utc(middle)) == before else (low, middle)
        return _utc(high)

    def _offset(self, instant: datetime) -> timedelta | None:
        """The zone's UTC offset at ``instant``."""
        return instant.astimezone(self._zone).utcoffset()


def _never_changes(week: Week, holidays: frozenset[date]) -> bool:
    """Open around the clock with no holiday, or never open: no state change ever."""
    always = all(spans == ((0, _DAY_MINUTES),) for spans in week) and not holidays
    return always or not any(week)


def _aware(t: datetime) -> datetime:
    """``t`` itself; a naive datetime is refused (instants carry their zone)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("calendar instants must be timezone-aware datetimes")
    return t


def _utc(timestamp: int) -> datetime:
    """A UTC datetime from POSIX seconds."""
    return datetime.fromtimestamp(timestamp, UTC)
