"""The working-day calendar: which days count, and when mails may go out.

Escalation deadlines are promised to suppliers in *working days*, so every
deadline, reminder and follow-up time in mailbot is derived here and nowhere
else. The module is pure: it never reads the clock or the environment; callers
pass the moments in, and every moment that comes out is timezone-aware UTC,
which is how deadlines are stored.

Rules (from the product spec)
-----------------------------
* Working days follow the configured timezone (default ``Europe/Amsterdam``)
  and the country's public holidays (default ``NL``). A working day is Monday
  to Friday, not a public holiday (unless waived through ``working_holidays``)
  and not an ``extra_closed_days`` day.
* N working days count from the day the step mail went out, *not* including
  that day. A mail sent on a weekend or holiday starts counting on the next
  working day, so that day is working day 1: a mail sent on Saturday with N=1
  is due on Monday, exactly like one sent on the Friday before.
* The deadline is the end of that local day; it has passed at local midnight.
* A next step that falls due, and every reminder, goes out at ``send_hour``
  (default 09:00) local time on a working day: never at night or at weekends.

Public holidays: what the ``holidays`` package says for NL
-----------------------------------------------------------
Checked against holidays 0.109. The package's NL list (category ``public``,
the only category used here) is:

* Nieuwjaarsdag / New Year's Day, 1 January;
* Goede vrijdag / Good Friday -- **a holiday in the package**, although the
  Algemene termijnenwet (Atw) does not list it. Organisations that work on
  Good Friday must put ``"Good Friday"`` (or ``"Goede vrijdag"``) in
  ``working_holidays``;
* Eerste paasdag / Easter Sunday and Eerste pinksterdag / Pentecost, which
  are Sundays anyway;
* Tweede paasdag / Easter Monday and Tweede pinksterdag / Pentecost Monday;
* Koningsdag / King's Day, 27 April, moved to Saturday 26 April when the 27th
  is a Sunday (Koninginnedag / Queen's Day, 30 April, before 2014);
* Bevrijdingsdag / Liberation Day, 5 May -- **only in lustrum years** (years
  divisible by 5: 2025, 2030, ...), following the common collective labour
  agreements. The Atw treats 5 May as a holiday every year; organisations that
  follow it add ``"05-05"`` to ``extra_closed_days``;
* Hemelvaartsdag / Ascension Day;
* Eerste kerstdag / Christmas Day and Tweede kerstdag / Second Day of
  Christmas, 25 and 26 December.

A holiday on a Saturday or Sunday is not moved to a weekday (Tweede kerstdag
2026 is a Saturday and simply costs nothing). The package knows no NL holidays
before 1966, the year the Atw took effect.

Configuration defaults
----------------------
``timezone="Europe/Amsterdam"``, ``country="NL"`` (``""`` for no public
holidays at all), ``extra_closed_days=()``, ``working_holidays=()``,
``send_hour=9``. A day in both ``extra_closed_days`` and ``working_holidays``
stays closed: ``working_holidays`` only waives public holidays and can never
open a weekend.

Holiday names are matched, and reported by `WorkingCalendar.closed_reason`,
in the country's own language (Dutch for NL) and in English (``en_US``). The
language is always passed to the package explicitly, because without one it
follows the process locale (``LANG``/``LC_ALL``), which would make names differ
between a developer's shell and the server.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["SEND_WINDOW_END_HOUR", "CalendarError", "WorkingCalendar"]

SEND_WINDOW_END_HOUR: Final = 18
"""Local hour after which nothing is sent any more the same day."""

_ENGLISH: Final = "en_US"
_ONE_DAY: Final = timedelta(days=1)
# Bounds the search for a working day, so a calendar that is closed for ever
# fails loudly instead of looping; ten years is far beyond any real closure.
_MAX_SCAN_DAYS: Final = 3660
# Years searched for holiday names when validating `working_holidays`: wide
# enough to include renamed holidays (Queen's Day until 2013).
_NAME_YEARS: Final = range(2000, 2061)

_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_DAY = re.compile(r"\d{2}-\d{2}")
_DATE_LIKE = re.compile(r"[\d\s.-]+")

_MonthDay: TypeAlias = tuple[int, int]


class CalendarError(ValueError):
    """The calendar configuration cannot be used; the message names the bad value."""


@dataclass(frozen=True, slots=True)
class _Holiday:
    native: str
    english: str


@dataclass(frozen=True, slots=True)
class _ClosedDays:
    """Parsed `extra_closed_days`: fixed date ranges and yearly month-day ranges."""

    fixed: tuple[tuple[date, date], ...]
    yearly: tuple[tuple[_MonthDay, _MonthDay], ...]

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if any(start <= day <= end for start, end in self.fixed):
            return True
        month_day = (day.month, day.day)
        return any(_in_yearly_range(month_day, start, end) for start, end in self.yearly)


@dataclass(frozen=True, slots=True)
class _Waivers:
    """Parsed `working_holidays`."""

    dates: frozenset[date]
    month_days: frozenset[_MonthDay]
    names: frozenset[str]  # casefolded


def _in_yearly_range(month_day: _MonthDay, start: _MonthDay, end: _MonthDay) -> bool:
    if start <= end:
        return start <= month_day <= end
    # Wraps the year end, e.g. 12-24..01-01.
    return month_day >= start or month_day <= end


def _native_language(country: str) -> str:
    # Countries without a language of their own only have English names.
    default: str | None = holidays.country_holidays(country).default_language
    return default or _ENGLISH


@lru_cache(maxsize=512)
def _holidays_in_year(country: str, year: int) -> MappingProxyType[date, tuple[_Holiday, ...]]:
    """One year's holidays in both languages, built on first use: no year range to guess."""
    native = holidays.country_holidays(country, years=year, language=_native_language(country))
    english = holidays.country_holidays(country, years=year, language=_ENGLISH)
    table: dict[date, tuple[_Holiday, ...]] = {}
    for day in sorted(native.keys()):
        native_names: list[str] = native.get_list(day)
        english_names: list[str] = english.get_list(day)
        if len(english_names) != len(native_names):
            english_names = native_names
        table[day] = tuple(_Holiday(n, e) for n, e in zip(native_names, english_names, strict=True))
    return MappingProxyType(table)


@lru_cache(maxsize=64)
def _known_holiday_names(country: str) -> frozenset[str]:
    """Every holiday name the country uses, casefolded, so typos are caught at startup."""
    names: set[str] = set()
    for language in {_native_language(country), _ENGLISH}:
        with warnings.catch_warnings():
            # Some lunar calendars warn about far-away years; irrelevant here.
            warnings.simplefilter("ignore")
            table = holidays.country_holidays(country, years=_NAME_YEARS, language=language)
            for day in table:
                names.update(name.casefold() for name in table.get_list(day))
    return frozenset(names)


def _parse_day(text: str, *, option: str, entry: str) -> date | _MonthDay:
    """A single "YYYY-MM-DD" or "MM-DD" (the latter checked against a leap year)."""
    try:
        if _FULL_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _MONTH_DAY.fullmatch(text):
            parsed = date.fromisoformat(f"2000-{text}")
            return (parsed.month, parsed.day)
    except ValueError:
        raise CalendarError(f"{option}: {entry!r} is not a valid date") from None
    raise CalendarError(f"{option}: {entry!r} is not of the form YYYY-MM-DD or MM-DD")


def _parse_closed_days(specs: tuple[str, ...]) -> _ClosedDays:
    option = "extra_closed_days"
    fixed: list[tuple[date, date]] = []
    yearly: list[tuple[_MonthDay, _MonthDay]] = []
    for spec in specs:
        text = _entry_text(spec, option=option)
        first, separator, last = text.partition("..")
        start = _parse_day(first.strip(), option=option, entry=spec)
        end = _parse_day(last.strip(), option=option, entry=spec) if separator else start
        if isinstance(start, date) and isinstance(end, date):
            if end < start:
                raise CalendarError(f"{option}: range {spec!r} ends before it starts")
            fixed.append((start, end))
        elif isinstance(start, tuple) and isinstance(end, tuple):
            yearly.append((start, end))
        else:
            raise CalendarError(
                f"{option}: range {spec!r} mixes YYYY-MM-DD and MM-DD; use one form for both ends"
            )
    closed = _ClosedDays(tuple(fixed), tuple(yearly))
    leap_year = (date(2000, 1, 1) + timedelta(days=offset) for offset in range(366))
    if yearly and all(day in closed for day in leap_year):
        raise CalendarError(f"{option}: {specs!r} closes every day of the year")
    return closed


def _parse_waivers(specs: tuple[str, ...], country: str) -> _Waivers:
    option = "working_holidays"
    dates: set[date] = set()
    month_days: set[_MonthDay] = set()
    names: set[str] = set()
    for spec in specs:
        text = _entry_text(spec, option=option)
        if _DATE_LIKE.fullmatch(text):
            parsed = _parse_day(text, option=option, entry=spec)
            if isinstance(parsed, date):
                dates.add(parsed)
            else:
                month_days.add(parsed)
            continue
        if not country:
            raise CalendarError(
                f"{option}: {spec!r} names a holiday, but no country (so no holidays) is configured"
            )
        name = " ".join(text.split()).casefold()
        if name not in _known_holiday_names(country):
            raise CalendarError(
                f"{option}: {spec!r} is not a holiday name the holidays package uses for "
                f"{country} (in English or the country's own language)"
            )
        names.add(name)
    return _Waivers(frozenset(dates), frozenset(month_days), frozenset(names))


def _entry_text(spec: object, *, option: str) -> str:
    if not isinstance(spec, str):
        raise CalendarError(f"{option}: {spec!r} is not a string")
    text = spec.strip()
    if not text:
        raise CalendarError(f"{option}: {spec!r} is empty")
    return text


def _as_tuple(value: object, *, option: str) -> tuple[str, ...]:
    # A bare string would be iterated character by character: a classic config slip.
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise CalendarError(f"{option} must be a list of strings, not {value!r}")
    return tuple(value)


def _require_date(day: date) -> None:
    # datetime is a subclass of date; its date part is not the local date.
    if isinstance(day, datetime):
        raise TypeError(f"expected a date, got the datetime {day!r}; use local_date() first")


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware moment")


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Working days and send times for one organisation.

    Frozen and validated on construction, so a bad configuration stops the
    daemon at startup rather than skewing deadlines weeks later.
    """

    timezone: str = "Europe/Amsterdam"
    country: str = "NL"
    extra_closed_days: tuple[str, ...] = ()
    working_holidays: tuple[str, ...] = ()
    send_hour: int = 9

    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _closed: _ClosedDays = field(init=False, repr=False, compare=False)
    _waivers: _Waivers = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.timezone, str) or not self.timezone.strip():
            raise CalendarError(f"timezone {self.timezone!r} is not a timezone name")
        try:
            zone = ZoneInfo(self.timezone.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise CalendarError(f"unknown timezone {self.timezone!r}") from None
        object.__setattr__(self, "timezone", self.timezone.strip())
        object.__setattr__(self, "_zone", zone)

        if not isinstance(self.country, str):
            raise CalendarError(f"country {self.country!r} is not a country code")
        country = self.country.strip().upper()
        if country and country not in holidays.list_supported_countries():
            raise CalendarError(
                f"unknown country code {self.country!r} for public holidays "
                '(use an ISO 3166 code the holidays package knows, or "" for none)'
            )
        object.__setattr__(self, "country", country)

        if (
            isinstance(self.send_hour, bool)
            or not isinstance(self.send_hour, int)
            or not 0 <= self.send_hour < SEND_WINDOW_END_HOUR
        ):
            raise CalendarError(
                f"send_hour {self.send_hour!r} must be a whole hour from 0 to "
                f"{SEND_WINDOW_END_HOUR - 1}"
            )

        closed_specs = _as_tuple(self.extra_closed_days, option="extra_closed_days")
        waiver_specs = _as_tuple(self.working_holidays, option="working_holidays")
        object.__setattr__(self, "extra_closed_days", closed_specs)
        object.__setattr__(self, "working_holidays", waiver_specs)
        object.__setattr__(self, "_closed", _parse_closed_days(closed_specs))
        object.__setattr__(self, "_waivers", _parse_waivers(waiver_specs, country))

    @property
    def tz(self) -> ZoneInfo:
        return self._zone

    # -- days ---------------------------------------------------------------

    def _active_holidays(self, day: date) -> tuple[_Holiday, ...]:
        """The public holidays on `day` that the organisation does not work through."""
        if not self.country:
            return ()
        found = _holidays_in_year(self.country, day.year).get(day, ())
        waivers = self._waivers
        if not found or day in waivers.dates or (day.month, day.day) in waivers.month_days:
            return ()
        return tuple(
            holiday
            for holiday in found
            if holiday.native.casefold() not in waivers.names
            and holiday.english.casefold() not in waivers.names
        )

    def is_working_day(self, day: date) -> bool:
        _require_date(day)
        return day.weekday() < 5 and day not in self._closed and not self._active_holidays(day)

    def closed_reason(self, day: date) -> str | None:
        """Why `day` is not a working day, for explaining a deadline in a mail.

        The most specific reason wins: a holiday name (in the country's own
        language, e.g. "Tweede kerstdag"), then "weekend", then "extra closed
        day". None means it is a working day.
        """
        _require_date(day)
        active = self._active_holidays(day)
        if active:
            return "; ".join(holiday.native for holiday in active)
        if day.weekday() >= 5:
            return "weekend"
        if day in self._closed:
            return "extra closed day"
        return None

    def local_date(self, moment: datetime) -> date:
        _require_aware(moment)
        return moment.astimezone(self._zone).date()

    def next_working_day(self, day: date) -> date:
        _require_date(day)
        candidate = day
        for _ in range(_MAX_SCAN_DAYS):
            candidate += _ONE_DAY
            if self.is_working_day(candidate):
                return candidate
        raise CalendarError(
            f"no working day within {_MAX_SCAN_DAYS} days after {day.isoformat()}; "
            "check extra_closed_days"
        )

    def _previous_working_day(self, day: date) -> date:
        candidate = day
        for _ in range(_MAX_SCAN_DAYS):
            candidate -= _ONE_DAY
            if self.is_working_day(candidate):
                return candidate
        raise CalendarError(
            f"no working day within {_MAX_SCAN_DAYS} days before {day.isoformat()}; "
            "check extra_closed_days"
        )

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day`, which itself never counts.

        Because `day` is skipped whether or not it is a working day, a closed
        start day makes the next working day number 1, which is what the spec
        means by "starts counting on the next working day". With n=0 the
        result is the first working day on or after `day`.
        """
        _require_date(day)
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        if n == 0:
            return day if self.is_working_day(day) else self.next_working_day(day)
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def deadline_day(self, sent_at: datetime, n: int) -> date:
        """The local day by whose end an answer to a mail sent at `sent_at` is due."""
        return self.add_working_days(self.local_date(sent_at), n)

    # -- moments ------------------------------------------------------------

    def _local_moment(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self._zone).astimezone(UTC)

    def end_of_day(self, day: date) -> datetime:
        """The first instant after local `day`: the deadline has passed when now >= this.

        Some timezones change their clocks at midnight, so local midnight can
        be missing or doubled. The first reading (fold=0) is right in both
        cases: a missing midnight maps to the instant the clocks jump, a
        doubled one to its first occurrence, when the new date begins.
        """
        _require_date(day)
        return self._local_moment(day + _ONE_DAY, time(0, fold=0))

    def deadline(self, sent_at: datetime, n: int) -> datetime:
        return self.end_of_day(self.deadline_day(sent_at, n))

    def at_send_hour(self, day: date) -> datetime:
        """`send_hour`:00 local time on `day`, with the day's own UTC offset (DST-correct)."""
        _require_date(day)
        return self._local_moment(day, time(self.send_hour))

    def due_step_moment(self, deadline: datetime) -> datetime:
        """When the next step goes out once `deadline` has passed unanswered.

        For an `end_of_day` deadline that is `send_hour` on the first working
        day from the day after the deadline day. Any other instant is handled
        too, and the result is never before the deadline itself.
        """
        day = self.add_working_days(self.local_date(deadline), 0)
        moment = self.at_send_hour(day)
        if moment < deadline:
            moment = self.at_send_hour(self.next_working_day(day))
        return moment

    def reminder_moment(self, deadline_day: date, before: int) -> datetime:
        """`send_hour` on the working day `before` working days ahead of `deadline_day`.

        The result may already be in the past; dropping such reminders is the
        caller's job. before=0 means the deadline day itself (or the last
        working day before it, should the deadline day be closed).
        """
        _require_date(deadline_day)
        if before < 0:
            raise ValueError(f"before must not be negative, got {before}")
        day = deadline_day
        if before == 0:
            if not self.is_working_day(day):
                day = self._previous_working_day(day)
        else:
            for _ in range(before):
                day = self._previous_working_day(day)
        return self.at_send_hour(day)

    def next_send_moment(self, now: datetime) -> datetime:
        """The earliest acceptable moment, at or after `now`, to send a mail.

        Mails go out on working days between `send_hour`:00 (inclusive) and
        `SEND_WINDOW_END_HOUR`:00 (exclusive) local time: never at night or at
        weekends. Inside that window the answer is `now` itself; earlier on a
        working day it is today's `send_hour`; otherwise `send_hour` on the
        next working day.
        """
        _require_aware(now)
        now = now.astimezone(UTC)
        today = self.local_date(now)
        if self.is_working_day(today):
            opens = self.at_send_hour(today)
            if now < opens:
                return opens
            if now < self._local_moment(today, time(SEND_WINDOW_END_HOUR)):
                return now
        return self.at_send_hour(self.next_working_day(today))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after the local date of `start`, up to and including that of `end`.

        Counts like `add_working_days`, so a mail sent on day D and still
        unanswered at the end of its N-th working day has been waiting N days.
        """
        _require_aware(start)
        _require_aware(end)
        if end <= start:
            return 0
        day = self.local_date(start)
        last = self.local_date(end)
        count = 0
        while day < last:
            day += _ONE_DAY
            if self.is_working_day(day):
                count += 1
        return count
