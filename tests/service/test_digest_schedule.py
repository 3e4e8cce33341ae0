"""When the digest goes out: once per ISO week, at Monday 08:00 local, whatever happens.

Every pass in a `Story` is a new process (a restart), so "never twice" is
tested across restarts throughout. Times are Amsterdam local time unless
they say UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.daemon import Daemon, build_app, run_once
from mailbot.domain.digest_schedule import DigestSchedule, Week
from mailbot.service import digest
from mailbot.service.outbox import flush
from mailbot.store.tables import OutboundMessage
from tests.scenario import Sent, Story, mail

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
MT = "mt@gemeente.example"
ANNA = "a.jansen@gemeente.example"
BERT = "b.bakker@gemeente.example"
SCHEDULE = DigestSchedule(AMS, 0, time(8, 0))


def at(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def digests(mails: list[Sent]) -> list[str]:
    """The subjects of the digests among `mails`."""
    return [m.subject for m in mails if m.to == [MT]]


@pytest.fixture
def install(make_config: Callable[..., Config]) -> Callable[..., Story]:
    """mailbot's first start at `moment` (a pass on an empty mailbox)."""

    def factory(moment: datetime, **override: object) -> Story:
        story = Story(make_config(**override), ManualClock(moment))
        story.run()
        return story

    return factory


# -- the calendar of it (pure) ----------------------------------------------------------------


def test_it_sends_at_eight_local_on_both_sides_of_dst() -> None:
    # 29 March 2026 the clocks go forward, 25 October back
    assert SCHEDULE.due(Week(2026, 13)) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert SCHEDULE.due(Week(2026, 12)) == datetime(2026, 3, 23, 7, 0, tzinfo=UTC)
    assert SCHEDULE.due(Week(2026, 43)) == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    assert SCHEDULE.due(Week(2026, 42)) == datetime(2026, 10, 19, 6, 0, tzinfo=UTC)


def test_it_makes_weeks_run_from_local_midnight_to_local_midnight() -> None:
    week = Week(2026, 13)  # 23 to 29 March: one hour shorter
    assert week.start(AMS) == datetime(2026, 3, 22, 23, 0, tzinfo=UTC)
    assert week.end(AMS) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert week.end(AMS) - week.start(AMS) == timedelta(hours=167)
    assert Week(2026, 43).end(AMS) - Week(2026, 43).start(AMS) == timedelta(hours=169)


def test_it_knows_which_week_is_due() -> None:
    assert SCHEDULE.latest_due(datetime(2026, 3, 30, 5, 59, tzinfo=UTC)) == Week(2026, 12)
    assert SCHEDULE.latest_due(datetime(2026, 3, 30, 6, 0, tzinfo=UTC)) == Week(2026, 13)
    assert SCHEDULE.next_after(at(3, 30, 7, 59)) == at(3, 30, 8)
    assert SCHEDULE.next_after(at(3, 30, 8)) == at(4, 6, 8)
    # across the new year: ISO week 53 of 2026 ends on Sunday 3 January 2027
    assert Week.of(date(2027, 1, 1)) == Week(2026, 53)
    assert SCHEDULE.due(Week(2026, 53)) == at(1, 4, 8, year=2027)
    assert SCHEDULE.latest_due(at(1, 4, 9, year=2027)).key == "2026-W53"


def test_it_honours_another_day_and_time() -> None:
    friday = DigestSchedule.from_names("Europe/Amsterdam", "friday", time(16, 30))
    assert friday.due(Week(2026, 47)) == at(11, 27, 16, 30)
    assert friday.latest_due(at(11, 27, 16, 29)) == Week(2026, 46)


# -- exactly once ------------------------------------------------------------------------------


def test_it_sends_one_digest_at_monday_eight_and_never_again(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 18))  # Wednesday of week 47
    story.run(at(11, 23, 7, 59))
    assert digests(story.new_mail()) == []
    story.run(at(11, 23, 8, 0))
    (digest_mail,) = story.new_mail()
    assert digest_mail.to == [MT]
    assert digest_mail.subject.startswith("Weekoverzicht week 47:")
    assert digest_mail.mail.header("Auto-Submitted") == "auto-generated"
    for moment in (at(11, 23, 8, 1), at(11, 23, 12), at(11, 24), at(11, 29, 23, 59)):
        story.run(moment)
        assert story.new_mail() == [], moment
    story.run(at(11, 30, 8))
    assert digests(story.new_mail()) == ["Weekoverzicht week 48: 0 open escalaties, 0 complimenten"]


def test_it_sends_at_the_first_pass_after_a_daemon_that_was_down_at_eight(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 18))
    story.run(at(11, 23, 11))  # nothing ran between Wednesday and Monday 11:00
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 47"]


def test_it_sends_only_the_latest_week_after_three_weeks_down(
    install: Callable[..., Story],
) -> None:
    story = install(at(10, 28))
    story.run(at(11, 2, 9))
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 44"]
    story.run(at(11, 25, 15))  # down from 2 to 25 November: weeks 45, 46 and 47 were due
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 47"]
    story.run(at(11, 26))
    assert story.new_mail() == []


def test_it_sends_no_late_digest_in_the_week_it_was_installed(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 23, 10))  # Monday 10:00: week 47's 08:00 digest predates mailbot
    for moment in (at(11, 23, 11), at(11, 25), at(11, 29, 23)):
        story.run(moment)
        assert story.new_mail() == [], moment
    story.run(at(11, 30, 8))  # the week it was installed in is reported as usual
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 48"]


def test_it_sends_the_mondays_digest_when_installed_before_eight(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 23, 7))
    story.run(at(11, 23, 8))
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 47"]


def test_it_keeps_the_scheduled_digest_after_a_digest_sent_by_hand(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 18))
    app = story.app()
    story.clock.set(at(11, 23, 7))
    first = digest.send_now(app)
    story.clock.set(at(11, 23, 7, 30))
    second = digest.send_now(app)
    flush(app)
    app.mailbox.close()
    app.db.close()
    assert first and second and first != second and first.startswith("digest:manual:")
    assert len(digests(story.new_mail())) == 2
    story.run(at(11, 23, 8))
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 47"]


def test_it_sends_a_digest_queued_before_a_crash_exactly_once(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 18))
    story.clock.set(at(11, 23, 8))
    app = story.app()
    assert digest.send_due_digest(app) == "digest:2026-W47"
    app.mailbox.close()
    app.db.close()  # killed before the outbox was flushed
    assert story.new_mail() == []
    story.run(at(11, 23, 8, 1))
    story.run(at(11, 23, 8, 2))
    assert len(digests(story.new_mail())) == 1


def test_it_sends_nothing_when_nobody_should_get_it(install: Callable[..., Story]) -> None:
    story = install(at(11, 18), organisation={"digest_to": []})
    story.run(at(11, 23, 8))
    assert story.new_mail() == []


def test_it_keeps_the_mail_flowing_when_the_digest_cannot_be_built(
    install: Callable[..., Story], tmp_path: Path
) -> None:
    site = tmp_path / "site" / "nl"
    site.mkdir(parents=True)
    (site / "digest.txt").write_text("{{ no_such_figure.count }}\n")  # a broken override
    story = install(at(11, 18), mailbot={"templates": str(tmp_path / "site")})
    story.drop(mail(sender=ANNA, subject="Escalatie acme: back-ups mislukken", body="Kapot."))
    story.run(at(11, 23, 8))
    sent = story.new_mail()
    assert sent and digests(sent) == [], "the case's mail went; the digest did not"
    (site / "digest.txt").unlink()  # the administrator repairs the template
    story.run(at(11, 23, 8, 5))
    assert [s.split(":")[0] for s in digests(story.new_mail())] == ["Weekoverzicht week 47"]


def test_it_crosses_dst_on_the_real_clock(make_config: Callable[..., Config]) -> None:
    config = make_config()

    def sent_at(moment: datetime) -> list[str]:
        with time_machine.travel(moment, tick=False):
            app = build_app(config)  # the system clock, travelled
            try:
                run_once(app)
                with app.db.session() as session:
                    return list(
                        session.scalars(
                            select(OutboundMessage.dedup_key).where(
                                OutboundMessage.purpose == "digest",
                                OutboundMessage.status == "sent",
                            )
                        )
                    )
            finally:
                app.mailbox.close()
                app.db.close()

    assert sent_at(datetime(2026, 3, 25, 12, tzinfo=UTC)) == []  # installed
    assert sent_at(datetime(2026, 3, 30, 5, 59, tzinfo=UTC)) == []  # 07:59 summer time
    assert sent_at(datetime(2026, 3, 30, 6, 0, tzinfo=UTC)) == ["digest:2026-W13"]
    # 07:59 winter time: last week's digest is not due yet; after a long outage the latest
    # week that was due (42, 19 October) goes
    assert sent_at(datetime(2026, 10, 26, 6, 59, tzinfo=UTC)) == [
        "digest:2026-W13",
        "digest:2026-W42",
    ]
    assert sent_at(datetime(2026, 10, 26, 7, 0, tzinfo=UTC))[-1] == "digest:2026-W43"


def test_it_wakes_the_daemon_for_the_next_digest(make_config: Callable[..., Config]) -> None:
    clock = ManualClock(at(11, 22, 20))  # Sunday evening
    app = build_app(make_config(mailbot={"poll_interval": 7 * 86400}), clock=clock)
    try:
        assert digest.next_digest_moment(app) == at(11, 23, 8)
        delay = Daemon(app)._pass()
        assert delay == pytest.approx(12 * 3600 + 0.5)
    finally:
        app.mailbox.close()
        app.db.close()


# -- a reader replies --------------------------------------------------------------------------


def test_it_answers_a_manager_who_replies_status_to_the_digest(
    install: Callable[..., Story],
) -> None:
    story = install(at(11, 16, 9))
    story.drop(mail(sender=ANNA, subject="Escalatie acme: back-ups mislukken", body="Kapot."))
    story.run(at(11, 16, 10))
    story.new_mail()
    story.run(at(11, 23, 8))
    (weekly,) = story.new_mail()
    assert "STATUS ESC-2026-0001" in weekly.text
    assert "mailto:leveranciers@gemeente.example?subject=STATUS%20ESC-2026-0001" in (
        weekly.mail.html or ""
    )
    story.drop(
        mail(
            sender=BERT,
            subject=f"Re: {weekly.subject}",
            body="STATUS ESC-2026-0001\n\nBert",
            in_reply_to=weekly.mail.message_id,
        )
    )
    story.run(at(11, 23, 9))
    (status,) = story.new_mail()
    assert status.to == [BERT] and "ESC-2026-0001" in status.subject
