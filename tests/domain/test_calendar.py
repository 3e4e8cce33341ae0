"""The working-day calendar: deadlines, send times and holiday rules.

Every expected date below was worked out by hand from a wall calendar, so a
change in counting rules or in the holidays package shows up as a failure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbot.domain.calendar import CalendarError, WorkingCalendar

AMS = ZoneInfo("Europe/Amsterdam")
NL = WorkingCalendar()


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An Amsterdam wall-clock moment."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- defaults and counting ----------------------------------------------------


def test_it_defaults_to_amsterdam_nl_and_nine_oclock() -> None:
    assert NL.timezone == "Europe/Amsterdam"
    assert NL.country == "NL"
    assert NL.send_hour == 9
    assert NL.extra_closed_days == ()
    assert NL.working_holidays == ()
    assert NL.tz == AMS


def test_it_counts_weekdays_only() -> None:
    # December 2026: Mon 7, Fri 11, Sat 12, Sun 13, Mon 14.
    assert NL.add_working_days(date(2026, 12, 7), 1) == date(2026, 12, 8)
    assert NL.add_working_days(date(2026, 12, 7), 5) == date(2026, 12, 14)
    assert NL.add_working_days(date(2026, 12, 10), 1) == date(2026, 12, 11)
    assert NL.add_working_days(date(2026, 12, 11), 1) == date(2026, 12, 14)
    assert NL.next_working_day(date(2026, 12, 11)) == date(2026, 12, 14)
    assert NL.next_working_day(date(2026, 12, 12)) == date(2026, 12, 14)
    assert [NL.is_working_day(date(2026, 12, d)) for d in range(7, 14)] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_it_returns_the_day_itself_or_the_next_working_day_for_zero() -> None:
    assert NL.add_working_days(date(2026, 12, 9), 0) == date(2026, 12, 9)
    assert NL.add_working_days(date(2026, 12, 12), 0) == date(2026, 12, 14)
    with pytest.raises(ValueError, match="-1"):
        NL.add_working_days(date(2026, 12, 9), -1)


def test_it_computes_the_deadline_over_christmas_and_new_year() -> None:
    # Sent Mon 21 Dec 2026, 10 working days; the send day does not count:
    #   Tue 22 (1), Wed 23 (2), Thu 24 (3),
    #   Fri 25 Eerste kerstdag, Sat 26 Tweede kerstdag, Sun 27: closed,
    #   Mon 28 (4), Tue 29 (5), Wed 30 (6), Thu 31 (7),
    #   Fri 1 Jan 2027 Nieuwjaarsdag, Sat 2, Sun 3: closed,
    #   Mon 4 (8), Tue 5 (9), Wed 6 Jan 2027 (10).
    sent = local(2026, 12, 21, 10, 30)
    assert NL.deadline_day(sent, 10) == date(2027, 1, 6)
    # End of Wed 6 Jan local = Thu 7 Jan 00:00 CET = Wed 6 Jan 23:00 UTC.
    assert NL.deadline(sent, 10) == utc(2027, 1, 6, 23)


def test_it_counts_from_the_local_date_not_the_utc_date() -> None:
    # 23:30 UTC on Mon 7 Dec is already 00:30 on Tue 8 Dec in Amsterdam,
    # so the mail went out on Tuesday and 1 working day later is Wednesday.
    sent = utc(2026, 12, 7, 23, 30)
    assert NL.local_date(sent) == date(2026, 12, 8)
    assert NL.deadline_day(sent, 1) == date(2026, 12, 9)


def test_it_counts_a_saturday_send_from_monday() -> None:
    # Sat 12 Dec 2026: counting starts on Mon 14 Dec, which is day 1 -- the
    # same deadline as for a mail sent on Fri 11 Dec.
    saturday = local(2026, 12, 12, 11)
    sunday = local(2026, 12, 13, 23, 59)
    friday = local(2026, 12, 11, 16)
    assert NL.deadline_day(saturday, 1) == date(2026, 12, 14)
    assert NL.deadline_day(sunday, 1) == date(2026, 12, 14)
    assert NL.deadline_day(friday, 1) == date(2026, 12, 14)
    # Mon 14 (1) .. Fri 18 (5).
    assert NL.deadline_day(saturday, 5) == date(2026, 12, 18)


def test_it_counts_a_holiday_send_from_the_next_working_day() -> None:
    # Good Friday 3 Apr 2026; Sat 4, Sun 5 (Easter), Mon 6 (Easter Monday)
    # are closed, so Tue 7 Apr is day 1.
    assert NL.deadline_day(local(2026, 4, 3, 10), 1) == date(2026, 4, 7)
    # Sent on Easter Monday: Tue 7 (1), Wed 8 (2).
    assert NL.deadline_day(local(2026, 4, 6, 10), 2) == date(2026, 4, 8)
    # Sent on Thu 2 Apr: Fri 3 to Mon 6 closed, Tue 7 is day 1.
    assert NL.deadline_day(local(2026, 4, 2, 10), 1) == date(2026, 4, 7)


# -- what the holidays package says for NL (the module docstring quotes this) --


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2026, 1, 1), "Nieuwjaarsdag"),
        (date(2026, 4, 3), "Goede vrijdag"),
        (date(2026, 4, 6), "Tweede paasdag"),
        (date(2026, 4, 27), "Koningsdag"),
        (date(2026, 5, 14), "Hemelvaartsdag"),
        (date(2026, 5, 25), "Tweede pinksterdag"),
        (date(2026, 12, 25), "Eerste kerstdag"),
        # A Saturday, but the holiday is the more specific explanation.
        (date(2026, 12, 26), "Tweede kerstdag"),
        # King's Day 2025 moves from Sunday 27 to Saturday 26 April.
        (date(2025, 4, 26), "Koningsdag"),
        # Liberation Day only in lustrum years.
        (date(2025, 5, 5), "Bevrijdingsdag"),
        (date(2030, 5, 5), "Bevrijdingsdag"),
        (date(2026, 12, 27), "weekend"),
    ],
)
def test_it_knows_the_nl_public_holidays(day: date, reason: str) -> None:
    assert not NL.is_working_day(day)
    assert NL.closed_reason(day) == reason


def test_it_treats_5_may_outside_lustrum_years_as_a_working_day() -> None:
    assert NL.is_working_day(date(2026, 5, 5))  # Tuesday
    assert NL.is_working_day(date(2027, 5, 5))  # Wednesday
    assert NL.closed_reason(date(2026, 5, 5)) is None


def test_it_does_not_move_a_weekend_holiday_to_a_weekday() -> None:
    # Tweede kerstdag 2026 is a Saturday; Monday 28 December is a normal day.
    assert NL.is_working_day(date(2026, 12, 28))


# -- extra closed days --------------------------------------------------------


def test_it_closes_5_may_every_year_when_configured() -> None:
    atw = WorkingCalendar(extra_closed_days=("05-05",))
    assert not atw.is_working_day(date(2026, 5, 5))
    assert not atw.is_working_day(date(2027, 5, 5))
    assert atw.closed_reason(date(2026, 5, 5)) == "extra closed day"
    assert atw.is_working_day(date(2026, 5, 6))
    # Mon 4 May 2026 + 1: Tue 5 closed, so Wed 6.
    assert atw.deadline_day(local(2026, 5, 4, 10), 1) == date(2026, 5, 6)


def test_it_closes_a_fixed_christmas_week() -> None:
    calendar = WorkingCalendar(extra_closed_days=("2026-12-24..2026-12-31",))
    # Sent Mon 21 Dec 2026, 10 working days:
    #   Tue 22 (1), Wed 23 (2), Thu 24 .. Thu 31 closed (range),
    #   Fri 1 Jan holiday, weekend 2-3,
    #   Mon 4 (3), Tue 5 (4), Wed 6 (5), Thu 7 (6), Fri 8 (7),
    #   Mon 11 (8), Tue 12 (9), Wed 13 Jan 2027 (10).
    assert calendar.deadline_day(local(2026, 12, 21, 10), 10) == date(2027, 1, 13)
    assert calendar.closed_reason(date(2026, 12, 24)) == "extra closed day"
    assert calendar.closed_reason(date(2026, 12, 31)) == "extra closed day"
    assert calendar.closed_reason(date(2026, 12, 25)) == "Eerste kerstdag"
    assert calendar.is_working_day(date(2026, 12, 23))
    # Only 2026: Fri 24 Dec 2027 works.
    assert calendar.is_working_day(date(2027, 12, 24))


def test_it_closes_a_single_fixed_day() -> None:
    calendar = WorkingCalendar(extra_closed_days=("2026-06-12",))
    assert not calendar.is_working_day(date(2026, 6, 12))
    assert calendar.is_working_day(date(2026, 6, 11))
    assert calendar.is_working_day(date(2027, 6, 11))


def test_it_closes_a_yearly_range_that_wraps_the_year_end() -> None:
    calendar = WorkingCalendar(extra_closed_days=("12-24..01-01",))
    for closed in (date(2026, 12, 24), date(2026, 12, 28), date(2026, 12, 31), date(2027, 12, 27)):
        assert not calendar.is_working_day(closed), closed
    # 2 Jan 2026 is a Friday just after the range; 23 Dec 2027 a Thursday before it.
    assert calendar.is_working_day(date(2026, 1, 2))
    assert calendar.is_working_day(date(2027, 12, 23))
    # Sent Wed 23 Dec 2026, 1 working day: 24 Dec .. 3 Jan closed, so Mon 4 Jan 2027.
    assert calendar.deadline_day(local(2026, 12, 23, 10), 1) == date(2027, 1, 4)


def test_it_closes_a_yearly_range_within_the_year() -> None:
    calendar = WorkingCalendar(country="", extra_closed_days=("07-20..07-31",))
    assert not calendar.is_working_day(date(2026, 7, 20))
    assert not calendar.is_working_day(date(2026, 7, 31))
    assert calendar.is_working_day(date(2026, 7, 17))
    assert calendar.is_working_day(date(2026, 8, 3))


# -- working holidays ---------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["Good Friday", "goede VRIJDAG", "Goede Vrijdag", "  good   friday "]
)
def test_it_waives_a_holiday_by_name(spec: str) -> None:
    calendar = WorkingCalendar(working_holidays=(spec,))
    # Every year, since the name matches whatever date Good Friday has.
    assert calendar.is_working_day(date(2026, 4, 3))
    assert calendar.is_working_day(date(2027, 3, 26))
    assert calendar.closed_reason(date(2026, 4, 3)) is None
    # Sent Thu 2 Apr 2026 + 1: Good Friday now counts.
    assert calendar.deadline_day(local(2026, 4, 2, 10), 1) == date(2026, 4, 3)
    # The other Easter holidays stay.
    assert not calendar.is_working_day(date(2026, 4, 6))


def test_it_waives_a_holiday_by_date() -> None:
    calendar = WorkingCalendar(working_holidays=("2026-04-03",))
    assert calendar.is_working_day(date(2026, 4, 3))
    # Good Friday 2027 is still a holiday.
    assert not calendar.is_working_day(date(2027, 3, 26))


def test_it_waives_a_holiday_by_month_and_day() -> None:
    calendar = WorkingCalendar(working_holidays=("12-26",))
    assert calendar.is_working_day(date(2025, 12, 26))  # Friday
    assert not calendar.is_working_day(date(2025, 12, 25))
    # A waiver never opens a weekend: 26 Dec 2026 is a Saturday.
    assert not calendar.is_working_day(date(2026, 12, 26))
    assert calendar.closed_reason(date(2026, 12, 26)) == "weekend"


def test_it_keeps_an_extra_closed_day_closed_even_if_its_holiday_is_waived() -> None:
    calendar = WorkingCalendar(extra_closed_days=("2026-04-03",), working_holidays=("Good Friday",))
    assert not calendar.is_working_day(date(2026, 4, 3))
    assert calendar.closed_reason(date(2026, 4, 3)) == "extra closed day"
    assert calendar.is_working_day(date(2027, 3, 26))


# -- validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"extra_closed_days": ("2026-13-01",)}, "2026-13-01"),
        ({"extra_closed_days": ("02-30",)}, "02-30"),
        ({"extra_closed_days": ("2027-02-29",)}, "2027-02-29"),
        ({"extra_closed_days": ("5 May",)}, "5 May"),
        ({"extra_closed_days": ("2026-5-5",)}, "2026-5-5"),
        ({"extra_closed_days": ("",)}, "''"),
        ({"extra_closed_days": ("05-05..",)}, "05-05.."),
        ({"extra_closed_days": ("2026-12-31..2026-12-24",)}, "2026-12-31..2026-12-24"),
        ({"extra_closed_days": ("2026-12-24..12-31",)}, "2026-12-24..12-31"),
        ({"extra_closed_days": ("01-01..12-31",)}, "01-01..12-31"),
        ({"extra_closed_days": "05-05"}, "05-05"),
        ({"working_holidays": ("Goede Vrijdg",)}, "Goede Vrijdg"),
        ({"working_holidays": ("Karfreitag",)}, "Karfreitag"),
        ({"working_holidays": ("2026-04-31",)}, "2026-04-31"),
        ({"working_holidays": ("12-24..12-31",)}, "12-24..12-31"),
        ({"working_holidays": ("Good Friday",), "country": ""}, "Good Friday"),
        ({"timezone": "Europe/Amsterdamm"}, "Europe/Amsterdamm"),
        ({"timezone": ""}, "''"),
        ({"timezone": "../../etc/passwd"}, "../../etc/passwd"),
        ({"country": "XX"}, "XX"),
        ({"country": "Netherlands"}, "Netherlands"),
        ({"send_hour": 18}, "18"),
        ({"send_hour": -1}, "-1"),
    ],
)
def test_it_rejects_bad_configuration_naming_the_value(
    kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(CalendarError) as caught:
        WorkingCalendar(**kwargs)  # type: ignore[arg-type]
    assert named in str(caught.value)


def test_it_is_a_value_error_so_config_loaders_can_catch_it() -> None:
    assert issubclass(CalendarError, ValueError)


def test_it_normalises_the_configuration() -> None:
    calendar = WorkingCalendar(
        country="nl",
        extra_closed_days=["05-05"],  # type: ignore[arg-type]
        working_holidays=["Good Friday"],  # type: ignore[arg-type]
    )
    assert calendar.country == "NL"
    assert calendar.extra_closed_days == ("05-05",)
    assert calendar == WorkingCalendar(
        extra_closed_days=("05-05",), working_holidays=("Good Friday",)
    )
    assert hash(calendar) == hash(
        WorkingCalendar(extra_closed_days=("05-05",), working_holidays=("Good Friday",))
    )


def test_it_rejects_naive_datetimes() -> None:
    naive = datetime(2026, 12, 7, 10)
    aware = local(2026, 12, 7, 10)
    with pytest.raises(ValueError, match="naive"):
        NL.local_date(naive)
    with pytest.raises(ValueError, match="naive"):
        NL.deadline_day(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        NL.deadline(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        NL.due_step_moment(naive)
    with pytest.raises(ValueError, match="naive"):
        NL.next_send_moment(naive)
    with pytest.raises(ValueError, match="naive"):
        NL.working_days_between(naive, aware)
    with pytest.raises(ValueError, match="naive"):
        NL.working_days_between(aware, naive)


def test_it_rejects_a_datetime_where_a_local_date_is_meant() -> None:
    with pytest.raises(TypeError, match="local_date"):
        NL.is_working_day(utc(2026, 12, 7, 23, 30))


# -- moments and DST ----------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 27), utc(2026, 3, 27, 8)),  # Friday before spring forward: CET
        (date(2026, 3, 30), utc(2026, 3, 30, 7)),  # Monday after: CEST
        (date(2026, 10, 23), utc(2026, 10, 23, 7)),  # Friday before fall back: CEST
        (date(2026, 10, 26), utc(2026, 10, 26, 8)),  # Monday after: CET
    ],
)
def test_it_sends_at_nine_local_across_dst(day: date, expected: datetime) -> None:
    moment = NL.at_send_hour(day)
    assert moment == expected
    assert moment.tzinfo is UTC
    assert moment.astimezone(AMS).hour == 9


def test_it_ends_the_day_at_local_midnight_around_dst() -> None:
    # Sun 29 Mar 2026 starts at 00:00 CET (28 Mar 23:00 UTC) and ends at
    # 00:00 CEST on the 30th (29 Mar 22:00 UTC): 23 hours.
    assert NL.end_of_day(date(2026, 3, 28)) == utc(2026, 3, 28, 23)
    assert NL.end_of_day(date(2026, 3, 29)) == utc(2026, 3, 29, 22)
    # Sun 25 Oct 2026 starts at 00:00 CEST (24 Oct 22:00 UTC) and ends at
    # 00:00 CET on the 26th (25 Oct 23:00 UTC): 25 hours.
    assert NL.end_of_day(date(2026, 10, 24)) == utc(2026, 10, 24, 22)
    assert NL.end_of_day(date(2026, 10, 25)) == utc(2026, 10, 25, 23)
    assert NL.end_of_day(date(2026, 3, 29)) - NL.end_of_day(date(2026, 3, 28)) == timedelta(
        hours=23
    )
    assert NL.end_of_day(date(2026, 10, 25)) - NL.end_of_day(date(2026, 10, 24)) == timedelta(
        hours=25
    )
    assert NL.end_of_day(date(2026, 10, 25)).tzinfo is UTC


def test_it_puts_the_deadline_at_the_end_of_the_local_day() -> None:
    # Sent Mon 7 Dec 2026, 5 working days: Mon 14 Dec; ends 23:00 UTC (CET).
    assert NL.deadline(local(2026, 12, 7, 10), 5) == utc(2026, 12, 14, 23)
    # Sent Mon 8 Jun 2026, 5 working days: Mon 15 Jun; ends 22:00 UTC (CEST).
    assert NL.deadline(local(2026, 6, 8, 10), 5) == utc(2026, 6, 15, 22)
    # One second before the deadline is still the deadline day locally.
    deadline = NL.deadline(local(2026, 12, 7, 10), 5)
    assert NL.local_date(deadline - timedelta(seconds=1)) == date(2026, 12, 14)
    assert NL.local_date(deadline) == date(2026, 12, 15)


def test_it_handles_a_timezone_that_skips_midnight() -> None:
    # Santiago springs forward from 00:00 to 01:00 on Sun 6 Sep 2026; the
    # 5th ends when the clocks jump, at 04:00 UTC.
    santiago = WorkingCalendar(timezone="America/Santiago", country="")
    assert santiago.end_of_day(date(2026, 9, 5)) == utc(2026, 9, 6, 4)


def test_it_handles_a_timezone_that_repeats_midnight() -> None:
    # Havana falls back from 01:00 to 00:00 on Sun 1 Nov 2026, so 00:00
    # happens twice; 31 Oct ends at the first one, 00:00 CDT = 04:00 UTC.
    havana = WorkingCalendar(timezone="America/Havana", country="")
    assert havana.end_of_day(date(2026, 10, 31)) == utc(2026, 11, 1, 4)


def test_it_sends_a_due_step_on_monday_after_a_friday_deadline() -> None:
    # Deadline day Fri 11 Dec 2026 ends at 23:00 UTC; next step Mon 14 Dec 09:00 CET.
    deadline = NL.end_of_day(date(2026, 12, 11))
    assert deadline == utc(2026, 12, 11, 23)
    moment = NL.due_step_moment(deadline)
    assert moment == utc(2026, 12, 14, 8)
    assert moment.astimezone(AMS) == local(2026, 12, 14, 9)


def test_it_sends_a_due_step_the_next_morning_after_a_midweek_deadline() -> None:
    assert NL.due_step_moment(NL.end_of_day(date(2026, 12, 9))) == utc(2026, 12, 10, 8)


def test_it_skips_the_holidays_for_a_due_step() -> None:
    # Deadline Thu 24 Dec 2026: 25, 26 (holidays), 27 (Sunday) closed -> Mon 28 Dec.
    assert NL.due_step_moment(NL.end_of_day(date(2026, 12, 24))) == utc(2026, 12, 28, 8)


def test_it_never_sends_a_due_step_before_its_deadline() -> None:
    # Not an end-of-day instant: 15:00 local on Wed 9 Dec is past 09:00 that day.
    assert NL.due_step_moment(local(2026, 12, 9, 15)) == utc(2026, 12, 10, 8)
    assert NL.due_step_moment(local(2026, 12, 9, 9)) == utc(2026, 12, 9, 8)


def test_it_sends_a_reminder_two_working_days_before_a_monday_deadline() -> None:
    # Deadline Mon 14 Dec 2026: Fri 11 is 1 before, Thu 10 is 2 before.
    assert NL.reminder_moment(date(2026, 12, 14), 2) == utc(2026, 12, 10, 8)
    assert NL.reminder_moment(date(2026, 12, 14), 1) == utc(2026, 12, 11, 8)


def test_it_skips_holidays_when_counting_back_for_a_reminder() -> None:
    # Deadline Tue 7 Apr 2026: Mon 6 and Fri 3 are holidays, so Thu 2 is
    # 1 before and Wed 1 Apr (09:00 CEST = 07:00 UTC) is 2 before.
    assert NL.reminder_moment(date(2026, 4, 7), 2) == utc(2026, 4, 1, 7)


def test_it_sends_a_zero_day_reminder_on_the_deadline_day() -> None:
    assert NL.reminder_moment(date(2026, 12, 14), 0) == utc(2026, 12, 14, 8)
    with pytest.raises(ValueError, match="-1"):
        NL.reminder_moment(date(2026, 12, 14), -1)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Mon 14 Dec 2026, before nine: today at nine.
        (local(2026, 12, 14, 7, 30), utc(2026, 12, 14, 8)),
        (local(2026, 12, 14, 0, 0), utc(2026, 12, 14, 8)),
        # Exactly nine, and during office hours: right away.
        (local(2026, 12, 14, 9, 0), utc(2026, 12, 14, 8)),
        (local(2026, 12, 14, 10, 15), utc(2026, 12, 14, 9, 15)),
        (local(2026, 12, 14, 17, 59), utc(2026, 12, 14, 16, 59)),
        # From 18:00 on: tomorrow at nine.
        (local(2026, 12, 14, 18, 0), utc(2026, 12, 15, 8)),
        (local(2026, 12, 14, 23, 30), utc(2026, 12, 15, 8)),
        # Friday evening, Saturday, Sunday: Monday at nine.
        (local(2026, 12, 11, 19, 0), utc(2026, 12, 14, 8)),
        (local(2026, 12, 12, 12, 0), utc(2026, 12, 14, 8)),
        (local(2026, 12, 13, 10, 0), utc(2026, 12, 14, 8)),
        # Christmas Day: Monday 28 December at nine.
        (local(2026, 12, 25, 11, 0), utc(2026, 12, 28, 8)),
    ],
)
def test_it_never_sends_at_night_or_at_weekends(now: datetime, expected: datetime) -> None:
    moment = NL.next_send_moment(now)
    assert moment == expected
    assert moment.tzinfo is UTC
    assert moment >= now


def test_it_respects_a_configured_send_hour() -> None:
    calendar = WorkingCalendar(send_hour=8)
    assert calendar.at_send_hour(date(2026, 12, 14)) == utc(2026, 12, 14, 7)
    assert calendar.next_send_moment(local(2026, 12, 14, 8, 30)) == utc(2026, 12, 14, 7, 30)
    assert calendar.next_send_moment(local(2026, 12, 12, 8, 30)) == utc(2026, 12, 14, 7)


# -- working days between -----------------------------------------------------


def test_it_counts_working_days_between_two_moments() -> None:
    # Fri 11 Dec 15:00 -> Mon 14 Dec 10:00: only Monday counts.
    assert NL.working_days_between(local(2026, 12, 11, 15), local(2026, 12, 14, 10)) == 1
    # Same day, or backwards: nothing.
    assert NL.working_days_between(local(2026, 12, 14, 9), local(2026, 12, 14, 17)) == 0
    assert NL.working_days_between(local(2026, 12, 14, 9), local(2026, 12, 7, 9)) == 0
    assert NL.working_days_between(local(2026, 12, 14, 9), local(2026, 12, 14, 9)) == 0
    # Over Christmas and New Year, matching the hand count above.
    assert NL.working_days_between(local(2026, 12, 21, 10), local(2027, 1, 6, 12)) == 10
    # Agrees with the deadline: unanswered at the deadline means N days waited.
    sent = local(2026, 12, 21, 10)
    deadline = NL.deadline(sent, 10)
    assert NL.working_days_between(sent, deadline - timedelta(seconds=1)) == 10
    # At the deadline itself Thu 7 Jan has begun locally, and it is a working day.
    assert NL.working_days_between(sent, deadline) == 11


def test_it_counts_working_days_by_local_date() -> None:
    # 23:30 UTC Sun 13 Dec is 00:30 Mon 14 Dec locally: Monday has started.
    assert NL.working_days_between(local(2026, 12, 11, 12), utc(2026, 12, 13, 23, 30)) == 1
    assert NL.working_days_between(local(2026, 12, 11, 12), utc(2026, 12, 13, 22, 30)) == 0


# -- other countries ----------------------------------------------------------


def test_it_has_no_public_holidays_without_a_country() -> None:
    calendar = WorkingCalendar(country="")
    assert calendar.is_working_day(date(2026, 12, 25))
    assert calendar.is_working_day(date(2027, 1, 1))
    assert calendar.closed_reason(date(2026, 12, 25)) is None
    assert calendar.closed_reason(date(2026, 12, 26)) == "weekend"
    # Sent Mon 21 Dec 2026, 10 working days with only weekends skipped: Mon 4 Jan 2027.
    assert calendar.deadline_day(local(2026, 12, 21, 10), 10) == date(2027, 1, 4)
    # Dates in working_holidays are harmless without a country.
    assert WorkingCalendar(country="", working_holidays=("12-26",)).is_working_day(
        date(2025, 12, 26)
    )


def test_it_uses_another_country_and_timezone() -> None:
    # Independence Day 2026 is a Saturday, observed on Friday 3 July.
    us = WorkingCalendar(timezone="America/New_York", country="US")
    assert not us.is_working_day(date(2026, 7, 3))
    assert us.closed_reason(date(2026, 7, 3)) == "Independence Day (observed)"
    # 09:00 EDT = 13:00 UTC.
    assert us.at_send_hour(date(2026, 7, 6)) == utc(2026, 7, 6, 13)


def test_it_matches_holiday_names_in_the_countrys_own_language() -> None:
    germany = WorkingCalendar(
        timezone="Europe/Berlin", country="DE", working_holidays=("Karfreitag",)
    )
    assert germany.is_working_day(date(2026, 4, 3))
    assert germany.closed_reason(date(2026, 10, 5)) is None
    assert germany.closed_reason(date(2027, 10, 3)) == "Tag der Deutschen Einheit"
