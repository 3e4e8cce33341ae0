"""A whole escalation through all five steps, by mail only, with a restart before every pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.clock import ManualClock
from mailbot.config import Config
from tests.mail.backends_exchange import (
    ews_config,
    graph_config,
    graph_mailbox_factory,
    running_ews,
    running_graph,
)
from tests.scenario import ImapOutside, Sent, Story, gmail_nl_reply, mail, outlook_nl_reply
from tests.scenario_exchange import EwsOutside, GraphOutside

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
ANNA = "a.jansen@gemeente.example"
BERT = "b.bakker@gemeente.example"
SM = "servicemanager@acme.example"
MGR = "manager@acme.example"
DIR_ACME = "directie@acme.example"
DIR_OURS = "directie@gemeente.example"


def at(day: int, month: int, year: int = 2026, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


@pytest.fixture(
    params=[
        "maildir",
        pytest.param("imap", marks=pytest.mark.integration),
        "ews",
        "graph",
    ]
)
def story(
    request: pytest.FixtureRequest, make_config: Callable[..., Config], tmp_path: Path
) -> Iterator[Story]:
    """The same story on the embedded Maildir, on a real IMAP server (Dovecot + SMTP), and on
    Exchange over EWS and over Graph (exchangelib / httpx against their HTTP fakes)."""
    clock = ManualClock(at(7, 12, hour=8))
    quiet: dict[str, list[str]] = {"digest_to": []}  # the weekly digest has its own tests
    with ExitStack() as stack:
        if request.param == "maildir":
            story = Story(make_config(organisation=quiet), clock)
        elif request.param == "imap":
            account = request.getfixturevalue("dovecot")
            smtp = request.getfixturevalue("smtp_server")
            (tmp_path / "imap.secret").write_text(account.password)
            config = make_config(
                organisation=quiet,
                mailbox={
                    "backend": "imap",
                    "imap": {
                        "host": account.host,
                        "port": account.port,
                        "security": "none",
                        "username": account.user,
                        "password_file": "imap.secret",
                        "idle": False,
                    },
                },
                smtp={"host": smtp.host, "port": smtp.port, "security": "none"},
            )
            story = Story(config, clock, outside=ImapOutside(account, smtp.sink))
        elif request.param == "ews":
            _, ews = stack.enter_context(running_ews())
            # no mailbox_factory: every pass builds its mailbox from the config (from_config)
            config = make_config(organisation=quiet, mailbox=ews_config(ews, tmp_path))
            story = Story(config, clock, outside=EwsOutside(ews))
        else:
            _, graph = stack.enter_context(running_graph())
            config = make_config(organisation=quiet, mailbox=graph_config(graph, tmp_path))
            story = Story(
                config,
                clock,
                outside=GraphOutside(graph),
                mailbox_factory=graph_mailbox_factory(graph),  # trusts the fake's private CA
            )
        story.run()  # first start on an empty mailbox
        yield story


def one(mails: list[Sent], *, to: str, subject_has: str) -> Sent:
    found = [m for m in mails if to in m.to and subject_has in m.subject]
    assert len(found) == 1, (
        f"expected one mail to {to} about {subject_has!r}, got {[(m.to, m.subject) for m in mails]}"
    )
    return found[0]


def test_it_runs_a_case_through_all_five_steps_by_mail_alone(story: Story) -> None:
    # Monday 7 December: Anna opens the case.
    story.drop(
        mail(
            sender=ANNA,
            sender_name="Anna Jansen",
            subject="Escalatie acme: back-ups mislukken",
            body="De nachtelijke back-ups mislukken sinds 1 december.\nIncident: INC-4711\n",
        )
    )
    story.run(at(7, 12))
    out = story.new_mail()
    assert len(out) == 2
    step1 = one(out, to=SM, subject_has="Stap 1")
    assert step1.cc == [ANNA]
    assert step1.subject.startswith("[ESC-2026-0001] ")
    assert "SLA Hosting 2025, bijlage 4" in step1.text
    assert "maandag 21 december 2026" in step1.text  # 10 working days
    assert "INC-4711" in step1.text and "Anna Jansen" in step1.text
    assert step1.mail.header("Auto-Submitted") is None, "the letter is the owner's, not a robot's"
    assert (
        step1.mail.from_ is not None
        and step1.mail.from_.name == "Anna Jansen via Leveranciersmanagement"
    )
    opened = one(out, to=ANNA, subject_has="Escalatie geopend")
    assert "ESC-2026-0001" in opened.text and "maandag 21 december 2026" in opened.text
    assert opened.mail.header("Auto-Submitted") == "auto-generated"

    # Tuesday 8 December: the supplier answers in Outlook (Dutch), tag kept in the subject.
    subject, body = outlook_nl_reply(
        "We hebben de back-upserver herstart; vannacht liep alles goed.", step1, SM, "Jan Pietersen"
    )
    story.drop(
        mail(
            sender=SM,
            sender_name="Jan Pietersen",
            subject=subject,
            body=body,
            in_reply_to=step1.mail.message_id,
        )
    )
    story.run(at(8, 12))
    (forward,) = story.new_mail()
    assert forward.to == [ANNA] and "Reactie van Acme Hosting B.V." in forward.subject
    assert "back-upserver herstart" in forward.text
    assert "AKKOORD of ONVOLDOENDE" in forward.text

    # Wednesday 9 December: Anna judges it insufficient, replying Gmail-style (no In-Reply-To).
    subject, body = gmail_nl_reply("onvoldoende, de back-up van dinsdag faalde weer", forward)
    story.drop(mail(sender=ANNA, subject=subject, body=body))
    story.run(at(9, 12))
    (confirmation,) = story.new_mail()
    assert confirmation.to == [ANNA] and "ONVOLDOENDE" in confirmation.subject
    assert "maandag 21 december 2026" in confirmation.text

    # Thursday 17 December 09:00: two working days before the deadline, a reminder.
    story.run(at(16, 12, hour=18))
    assert story.new_mail() == []
    story.run(at(17, 12, hour=9))
    (reminder,) = story.new_mail()
    assert reminder.to == [ANNA] and "Herinnering" in reminder.subject

    # Tuesday 22 December 09:00: the deadline passed without accepted proof: step 2.
    story.run(at(21, 12, hour=23, minute=59))
    assert story.new_mail() == [], "the deadline is the end of Monday 21 December"
    story.run(at(22, 12, hour=9))
    out = story.new_mail()
    step2 = one(out, to=SM, subject_has="Stap 2")
    assert step2.to == [SM, MGR, BERT] and step2.cc == [ANNA]
    assert "root cause analyse" in step2.text and "tussenrapportages" in step2.text
    assert "maandag 7 december 2026" in step2.text, "step 2 refers to step 1 and its date"
    # 15 working days over Christmas (25, 26 Dec) and New Year (1 Jan): Thursday 14 January
    assert "donderdag 14 januari 2027" in step2.text
    one(out, to=ANNA, subject_has="Stap 2 verstuurd")

    # Friday 15 January 09:00: step 3 needs Anna's approval.
    story.run(at(15, 1, 2027, hour=9))
    (approval,) = story.new_mail()
    assert approval.to == [ANNA] and "Goedkeuring gevraagd: stap 3" in approval.subject
    assert "Managementnotitie" in approval.text or "managementnotitie" in approval.text
    assert "VERSTUUR" in approval.text

    # Monday 18 January: Anna approves with an HTML-only Outlook reply.
    story.drop(
        mail(
            sender=ANNA,
            subject=f"RE: {approval.subject}",
            body="",
            html="<html><body><div>VERSTUUR</div><div><br></div><hr>"
            "<b>Van:</b> Leveranciersmanagement<br><b>Onderwerp:</b> x<br>"
            "<p>VERSTUUR, of antwoord met OPGELOST</p></body></html>",
            in_reply_to=approval.mail.message_id,
        )
    )
    story.run(at(18, 1, 2027))
    out = story.new_mail()
    step3 = one(out, to=SM, subject_has="Stap 3")
    assert step3.to == [SM, MGR, BERT, DIR_ACME, DIR_OURS] and step3.cc == [ANNA]
    one(out, to=ANNA, subject_has="VERSTUUR")

    # Tuesday 2 February 09:00: step 4 waits for approval; Anna approves at 10:00.
    story.run(at(2, 2, 2027, hour=9))
    (approval4,) = story.new_mail()
    assert "stap 4" in approval4.subject
    subject, body = outlook_nl_reply("VERSTUUR", approval4, ANNA, "Anna Jansen")
    story.drop(mail(sender=ANNA, subject=subject, body=body, in_reply_to=approval4.mail.message_id))
    story.run(at(2, 2, 2027))
    out = story.new_mail()
    step4 = one(out, to=SM, subject_has="Stap 4")
    assert step4.to == [SM, MGR, BERT, DIR_ACME, DIR_OURS, ANNA], "everyone in To"
    assert step4.cc == [], "nobody in Cc from step 4 on"
    assert "op uw kosten" in step4.text.lower() or "voor uw rekening" in step4.text

    # Step 4's 20 working days pass: step 5 is prepared for approval and sent.
    story.run(at(3, 3, 2027, hour=9))
    (approval5,) = story.new_mail()
    assert "stap 5" in approval5.subject
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {approval5.subject}",
            body="Verstuur\n\nAnna",
            in_reply_to=approval5.mail.message_id,
        )
    )
    story.run(at(3, 3, 2027, hour=11))
    out = story.new_mail()
    step5 = one(out, to=SM, subject_has="Stap 5")
    assert step5.cc == [] and ANNA in step5.to
    one(out, to=ANNA, subject_has="hoe loopt het af")

    # The supplier finally delivers; Anna reports it solved: closing mail to everyone of step 5.
    story.drop(
        mail(
            sender=MGR,
            subject=f"Re: {step5.subject}",
            body="Alles is hersteld, zie rapport.",
            in_reply_to=step5.mail.message_id,
        )
    )
    story.run(at(4, 3, 2027))
    (forward,) = story.new_mail()
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {forward.subject}",
            body="OPGELOST",
            in_reply_to=forward.mail.message_id,
        )
    )
    story.run(at(5, 3, 2027))
    out = story.new_mail()
    closing = one(out, to=SM, subject_has="afgesloten")
    assert closing.to == step5.to and closing.cc == []

    # Nothing was ever sent twice, and nothing more happens afterwards.
    for moment in (at(5, 3, 2027, hour=12), at(1, 4, 2027, hour=9), at(1, 6, 2027, hour=9)):
        story.run(moment)
    assert story.new_mail() == []
    ids = [m.mail.message_id for m in story.outgoing()]
    assert len(ids) == len(set(ids))
    letters = [m for m in story.outgoing() if SM in m.to and "Stap" in m.subject]
    assert [m.subject.split(" – ")[0][-6:] for m in letters] == [
        "Stap 1",
        "Stap 2",
        "Stap 3",
        "Stap 4",
        "Stap 5",
    ]
    assert story.folder_count("INBOX") == 0
