"""When the weekly digest is due: ISO weeks in local time, one digest moment per week.

SPEC §12: "this week" is the previous Monday–Sunday in the configured
timezone, and the digest for ISO week W (the week that ended) is due at
`digest_day`/`digest_time` local time after it — by default Monday 08:00 of
week W+1. Week boundaries are local midnights, so a week around a DST change
lasts 167 or 169 hours; every instant that comes out of here is aware UTC.

The schedule is computed from the clock and the outbox, never kept in a
scheduler job (APScheduler's default misfire grace would drop a digest that
fell while mailbot was down): the latest week whose moment has passed is the
one to send, and its outbox dedup key (`digest:2026-W47`) makes it go once.

Pure: the caller passes `now`, the timezone, the day and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEK = timedelta(days=7)


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week (`2026-W47`): Monday 00:00 to the next Monday 00:00, local time."""

    year: int
    number: int

    @classmethod
    def of(cls, day: date) -> Week:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def key(self) -> str:
        """Stable id for dedup keys: never a formatted date (STYLE: Polar's rule)."""
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def shift(self, weeks: int) -> Week:
        return Week.of(self.monday + weeks * _WEEK)

    def start(self, tz: ZoneInfo) -> datetime:
        """Monday 00:00 local, as UTC."""
        return _local(self.monday, time(0), tz)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first instant after Sunday, local, as UTC (= next week's start)."""
        return self.shift(1).start(tz)


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: a time in a DST gap maps to the instant the clocks jump
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DigestSchedule:
    """`digest_day` + `digest_time` in `tz`."""

    tz: ZoneInfo
    weekday: int  # 0 = Monday
    at: time

    @classmethod
    def from_names(cls, timezone: str, day: str, at: time) -> DigestSchedule:
        return cls(ZoneInfo(timezone), WEEKDAYS.index(day.lower()), at)

    def due(self, week: Week) -> datetime:
        """When the digest about `week` goes out: the digest day of the week after it."""
        day = week.shift(1).monday + timedelta(days=self.weekday)
        return _local(day, self.at, self.tz)

    def latest_due(self, now: datetime) -> Week:
        """The newest week whose digest moment is at or before `now`."""
        current = Week.of(now.astimezone(self.tz).date())
        candidate = current.shift(-1)
        if self.due(candidate) > now:
            candidate = candidate.shift(-1)
        return candidate

    def next_after(self, now: datetime) -> datetime:
        """The first digest moment strictly after `now`."""
        return self.due(self.latest_due(now).shift(1))

    def last_complete_week(self, now: datetime) -> Week:
        """The previous Monday–Sunday: what `digest --send` and `--preview` report on."""
        return Week.of(now.astimezone(self.tz).date()).shift(-1)
