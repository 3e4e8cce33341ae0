"""Where SQLite and PostgreSQL differ, mailbot must not.

SQLite accepts anything: NUL characters in text, strings longer than their
column, naive timestamps. PostgreSQL refuses the first two and keeps time
zones. These tests feed mailbot the awkward values real mail brings and run
on both databases (`--db=postgresql`), so a difference shows up as a failure
here rather than as a quarantined message in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from mailbot.mail.port import INBOX
from mailbot.service.app import App
from mailbot.service.ingest import MOVED, ingest
from mailbot.service.router import process
from mailbot.store.tables import Case, Deadline, InboundMessage, Meta, OutboundMessage, Participant

pytestmark = pytest.mark.database


def drop(app: App, folder: str, raw: bytes, name: str) -> None:
    path = app.mailbox.folder_path(folder) / "new"  # type: ignore[attr-defined]
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(raw)


def plain_mail(*, from_: str, subject: str, body: str, message_id: str) -> bytes:
    return (
        f"From: {from_}\r\n"
        "To: leveranciers@gemeente.example\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Date: Mon, 14 Dec 2026 10:00:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


def ingest_one(app: App, folder: str, raw: bytes) -> InboundMessage:
    ingest(app, process)  # first start: the folders are empty and now known
    drop(app, folder, raw, "awkward.eml")
    report = ingest(app, process)
    assert report.errors == []
    assert report.applied == 1
    with app.db.session() as session:
        (row,) = session.scalars(select(InboundMessage)).all()
        assert row.status == MOVED and row.destination == "processed", row.last_error
        return row


@pytest.mark.parametrize("folder", [INBOX, "complimenten"])
def test_it_stores_mail_whose_text_contains_nul_characters(app: App, folder: str) -> None:
    body = "Anna Jansen heeft ons\x00 heel goed geholpen.\x00\x00 Dank!"
    raw = plain_mail(
        from_="Mevr.\x00 de Groot <klant@klant.example>",
        subject="Compliment\x00 voor Anna",
        body=body,
        message_id="nul@klant.example",
    )
    row = ingest_one(app, folder, raw)
    assert "\x00" not in row.subject
    with app.db.session() as session:
        # the bytes are kept exactly; only text derived from them loses its NULs
        assert session.scalars(select(InboundMessage.raw)).one() == raw


@pytest.mark.parametrize("folder", [INBOX, "complimenten"])
def test_it_stores_mail_whose_headers_are_longer_than_their_columns(app: App, folder: str) -> None:
    name = "Mevrouw " + "de Groot-" * 150
    local = "k" * 300
    raw = plain_mail(
        from_=f'"{name}" <{local}@klant.example>',
        subject="Compliment voor Anna Jansen " + "heel erg bedankt " * 400,
        body="Anna Jansen heeft ons heel goed geholpen. " * 50,
        message_id="m" * 2000 + "@klant.example",
    )
    ingest_one(app, folder, raw)
    with app.db.session() as session:
        for participant in session.scalars(select(Participant)):
            assert len(participant.name) <= 200
            assert len(participant.email) <= 320
        for case in session.scalars(select(Case)):
            assert len(case.title) <= 500


def test_it_gives_back_aware_utc_whatever_zone_went_in(app: App) -> None:
    """PostgreSQL keeps the zone, SQLite stores naive UTC: both read back aware UTC."""
    moment = datetime(2026, 12, 14, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    with app.db.session() as session:
        session.add(Meta(key="k", value="v"))
        case = Case(
            ref="ESC-2026-0001",
            kind="escalation",
            state="open",
            step=1,
            title="t",
            language="nl",
            data={"nested": {"ë": [1, 2.5, None, True, "\u20ac"]}},
            opened_at=moment,
            updated_at=moment,
        )
        session.add(case)
        session.flush()
        session.add(
            Deadline(
                case_id=case.id,
                kind="step",
                due_at=moment,
                status="pending",
                payload={},
                created_at=moment,
            )
        )
    with app.db.session() as session:
        case = session.scalars(select(Case)).one()
        assert case.opened_at == moment and case.opened_at.tzinfo is UTC
        assert case.opened_at.microsecond == 123456
        assert case.data == {"nested": {"ë": [1, 2.5, None, True, "\u20ac"]}}
        # comparisons happen in the database: an aware bound value must compare as UTC
        before = moment - timedelta(seconds=1)
        assert session.scalar(select(Deadline.id).where(Deadline.due_at <= before)) is None
        assert session.scalar(select(Deadline.id).where(Deadline.due_at <= moment)) is not None


def test_it_keeps_every_byte_of_a_raw_message(app: App) -> None:
    raw = bytes(range(256)) * 64
    with app.db.session() as session:
        session.add(
            OutboundMessage(
                dedup_key="bytes",
                purpose="test",
                mode="send",
                status="pending",
                recipients=["a@b.example"],
                subject="s",
                message_id="<x@y>",
                raw=raw,
                created_at=datetime.now(UTC),
            )
        )
    with app.db.session() as session:
        assert session.scalars(select(OutboundMessage.raw)).one() == raw


def test_it_refuses_a_naive_timestamp_on_every_database(app: App) -> None:
    with pytest.raises(StatementError, match="naive datetime"), app.db.session() as session:
        session.add(Meta(key="k", value="v"))
        session.add(
            Case(
                ref="ESC-2026-0002",
                kind="escalation",
                state="open",
                title="t",
                language="nl",
                opened_at=datetime(2026, 1, 1),  # naive: the point of the test
                updated_at=datetime(2026, 1, 1),
            )
        )
