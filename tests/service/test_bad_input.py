"""Bad input never crashes a pass and never gets lost (issue 8), case by case."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.store.db import Database
from mailbot.store.tables import Case, InboundMessage
from tests.scenario import Story, mail

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
ANNA = "a.jansen@gemeente.example"


@pytest.fixture
def story(make_config: Callable[..., Config]) -> Story:
    story = Story(make_config(), ManualClock(datetime(2026, 12, 7, 8, tzinfo=AMS)))
    story.run()
    return story


def rows(story: Story) -> list[InboundMessage]:
    with Database.connect(story.config.database_url).session() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def settled(story: Story, expected: int) -> None:
    """Every message is in the database and in exactly one end folder; the Inbox is empty."""
    stored = rows(story)
    assert len(stored) == expected and all(r.status == "moved" for r in stored)
    ends = sum(story.folder_count(f) for f in ("Verwerkt", "Te beoordelen", "Quarantaine"))
    assert ends == expected and story.folder_count("INBOX") == 0


def test_it_handles_a_fifty_megabyte_mail(story: Story) -> None:
    big = EmailMessage()
    big["From"] = "klant@klant.example"
    big["Subject"] = "Groot bestand"
    big.set_content("Zie bijlage.")
    big.add_attachment(
        b"\0" * (50 * 1024 * 1024),
        maintype="application",
        subtype="octet-stream",
        filename="groot.bin",
    )
    raw = big.as_bytes()
    story.drop(raw)
    report = story.run()
    assert report.ingest.errors == []
    settled(story, 1)
    assert rows(story)[0].size == len(raw) > 50 * 1024 * 1024


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"Subject: geen afzender, geen datum, geen Message-ID\r\n\r\nHallo",
        "Subject: 8-bit in de kop: Zoë €\r\nFrom: zoë@klant.example\r\n\r\nHoi".encode(),
        b"From: a@b.example\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"!!!! dit is geen base64 ####\r\n",
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=nooit\r\n\r\nzonder einde",
        b'From: a@b.example\r\nContent-Type: text/plain; charset="bestaat-niet"\r\n\r\n\xff\xfe',
        b"\x00\x01\x02 binary garbage \xff" * 1000,
    ],
    ids=[
        "empty",
        "blank-lines",
        "no-from-date-id",
        "8bit-header",
        "broken-base64",
        "no-closing-boundary",
        "unknown-charset",
        "binary",
    ],
)
def test_it_takes_malformed_mail_to_an_end_folder(story: Story, raw: bytes) -> None:
    story.drop(raw)
    assert story.run().ingest.errors == []
    settled(story, 1)


def test_it_processes_two_different_mails_with_the_same_message_id(story: Story) -> None:
    story.drop(
        mail(
            sender="x@elders.example", subject="Een", body="1", extra_headers="Message-ID: <dup@x>"
        )
    )
    story.drop(
        mail(
            sender="y@elders.example", subject="Twee", body="2", extra_headers="Message-ID: <dup@x>"
        )
    )
    story.run()
    settled(story, 2)
    assert [r.outcome for r in rows(story)][1] != "second delivery of #1", "different senders"


def test_it_opens_a_case_from_a_mail_with_a_tnef_attachment(story: Story) -> None:
    message = EmailMessage()
    message["From"] = f"Anna Jansen <{ANNA}>"
    message["To"] = "leveranciers@gemeente.example"
    message["Subject"] = "Escalatie acme: winmail"
    message["Message-ID"] = "<tnef@gemeente.example>"
    message.set_content("Zie winmail.dat.")
    message.add_attachment(
        base64.b64decode("eJ8+IgAAAAA="),
        maintype="application",
        subtype="ms-tnef",
        filename="winmail.dat",
    )
    story.drop(message.as_bytes())
    story.run()
    settled(story, 1)
    with Database.connect(story.config.database_url).session() as session:
        assert session.scalar(select(Case.ref)) == "ESC-2026-0001"


def test_it_finds_the_maker_of_a_compliment_forwarded_twice(story: Story) -> None:
    body = (
        "Voor jou!\n\n"
        "---------- Forwarded message ---------\n"
        "From: Bert Bakker <b.bakker@gemeente.example>\n"
        "Date: Mon, 7 Dec 2026 at 09:00\nSubject: FW: Bedankt\n"
        "To: Anna <a.jansen@gemeente.example>\n\n"
        "Van: Mevr. Klant <klant@klant.example>\n"
        "Verzonden: maandag 7 december 2026 08:00\nAan: Bert\nOnderwerp: Bedankt\n\n"
        "Dank aan Piet de Vries voor de hulp.\n"
    )
    story.drop(mail(sender=ANNA, subject="Fwd: FW: Bedankt", body=body), folder="complimenten")
    story.run()
    with Database.connect(story.config.database_url).session() as session:
        case = session.scalars(select(Case)).one()
        assert case.data["maker"]["email"] == "klant@klant.example"
        assert "Piet de Vries" in case.data["text"]
