"""Purging keeps the numbers and removes the people (issue 8)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.service.app import App
from mailbot.service.retention import PURGED, purge, purge_due
from mailbot.store.db import Database
from mailbot.store.tables import Case, InboundMessage, OutboundMessage, Participant, TimelineEvent
from tests.scenario import Story, mail

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
ANNA = "a.jansen@gemeente.example"


def test_it_purges_long_closed_cases_but_keeps_their_numbers(
    make_config: Callable[..., Config],
) -> None:
    story = Story(make_config(), ManualClock(datetime(2026, 12, 7, 8, tzinfo=AMS)))
    story.run()
    for n in (1, 2):
        story.drop(mail(sender=ANNA, subject=f"Escalatie acme: storing {n}", body="Privé details."))
    story.drop(
        mail(sender="klant@klant.example", subject="Compliment", body="Piet de Vries was top."),
        folder="complimenten",
    )
    story.run(datetime(2026, 12, 7, 10, tzinfo=AMS))
    opened = story.new_mail()
    letter = next(m for m in opened if "storing 1" in m.text and "Stap 1" in m.subject)
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {letter.subject}",
            body="OPGELOST",
            in_reply_to=letter.mail.message_id,
        )
    )
    story.run(datetime(2026, 12, 8, 10, tzinfo=AMS))

    app = story.app()
    report = purge(app, older_than=timedelta(days=365), now=datetime(2027, 12, 9, tzinfo=AMS))
    assert report.cases == 1 and report.inbound >= 2 and report.outbound >= 3
    assert (
        purge(app, older_than=timedelta(days=365), now=datetime(2027, 12, 9, tzinfo=AMS)).cases == 0
    )

    with Database.connect(story.config.database_url).session() as session:
        resolved = session.scalar(select(Case).where(Case.ref == "ESC-2026-0001"))
        still_open = session.scalar(select(Case).where(Case.ref == "ESC-2026-0002"))
        assert resolved is not None and still_open is not None
        # the numbers stay
        assert (resolved.kind, resolved.state, resolved.step, resolved.supplier_id) == (
            "escalation",
            "resolved",
            1,
            "acme",
        )
        assert resolved.opened_at and resolved.closed_at
        assert resolved.data["escalation"]["steps"][0]["number"] == 1
        # the people go
        assert resolved.title == PURGED and resolved.owner is None
        assert "Privé" not in str(resolved.data)
        assert (
            session.scalars(select(Participant).where(Participant.case_id == resolved.id)).all()
            == []
        )
        assert {
            e.summary
            for e in session.scalars(
                select(TimelineEvent).where(TimelineEvent.case_id == resolved.id)
            )
        } == {PURGED}
        for row in session.scalars(
            select(InboundMessage).where(InboundMessage.case_id == resolved.id)
        ):
            assert row.raw is None and row.from_addr is None and row.subject == PURGED
        for out in session.scalars(
            select(OutboundMessage).where(OutboundMessage.case_id == resolved.id)
        ):
            assert out.raw == b"" and out.recipients == []
        # open cases and the open compliment are untouched
        assert still_open.title == "storing 2" and still_open.owner == ANNA
        compliment = session.scalar(select(Case).where(Case.kind == "compliment"))
        assert compliment is not None and "Piet de Vries" in compliment.data["text"]


def closed_case(app: App, ref: str, kind: str, days_ago: int) -> None:
    now = app.clock.now()
    with app.db.session() as session:
        session.add(
            Case(
                ref=ref,
                kind=kind,
                state="closed",
                title=f"{ref} voor Piet de Vries",
                language="nl",
                data={},
                opened_at=now - timedelta(days=days_ago + 30),
                updated_at=now - timedelta(days=days_ago),
                closed_at=now - timedelta(days=days_ago),
                owner=ANNA,
            )
        )


def titles(app: App) -> dict[str, str]:
    with app.db.session() as session:
        return {case.ref: case.title for case in session.scalars(select(Case))}


def test_compliments_have_their_own_retention_without_retention_days(
    make_app: Callable[..., App],
) -> None:
    app = make_app(mailbot={"compliment_retention_days": 730})
    closed_case(app, "CMP-2023-0001", "compliment", 1100)
    closed_case(app, "CMP-2025-0001", "compliment", 400)
    closed_case(app, "ESC-2023-0001", "escalation", 1100)
    report = purge_due(app)  # the daemon's daily purge
    assert report is not None and report.cases == 1
    assert titles(app) == {
        "CMP-2023-0001": PURGED,
        "CMP-2025-0001": "CMP-2025-0001 voor Piet de Vries",
        "ESC-2023-0001": "ESC-2023-0001 voor Piet de Vries",  # no retention_days: kept
    }


def test_nothing_is_purged_without_a_retention(make_app: Callable[..., App]) -> None:
    app = make_app()
    closed_case(app, "CMP-2020-0001", "compliment", 2500)
    assert purge_due(app) is None
    assert titles(app) == {"CMP-2020-0001": "CMP-2020-0001 voor Piet de Vries"}
