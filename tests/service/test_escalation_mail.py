"""Escalations by mail: every side path the SPEC names, each through real mail and passes."""

from __future__ import annotations

import html as html_lib
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.store.db import Database
from mailbot.store.tables import Case, InboundMessage, OutboundMessage, TimelineEvent
from tests.scenario import Sent, Story, mail

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
ANNA = "a.jansen@gemeente.example"
BERT = "b.bakker@gemeente.example"
PIET = "p.devries@gemeente.example"
SM = "servicemanager@acme.example"
ADMIN = "beheer@gemeente.example"


def at(day: int, month: int = 12, year: int = 2026, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=AMS)


@pytest.fixture
def make_story(make_config: Callable[..., Config]) -> Callable[..., Story]:
    def factory(**override: object) -> Story:
        story = Story(make_config(**override), ManualClock(at(7, hour=8)))
        story.run()
        return story

    return factory


@pytest.fixture
def story(make_story: Callable[..., Story]) -> Story:
    return make_story()


def open_case(
    story: Story, when: datetime | None = None, body: str = "Back-ups mislukken."
) -> list[Sent]:
    story.drop(mail(sender=ANNA, subject="Escalatie acme: back-ups mislukken", body=body))
    story.run(when or at(7))
    return story.new_mail()


def letter(mails: list[Sent], step: int) -> Sent:
    (found,) = [m for m in mails if f"Stap {step} –" in m.subject]
    return found


def db(story: Story) -> Database:
    return Database.connect(story.config.database_url)


def timeline(story: Story) -> list[str]:
    database = db(story)
    with database.session() as session:
        return [
            e.summary for e in session.scalars(select(TimelineEvent).order_by(TimelineEvent.id))
        ]


def cases(story: Story) -> list[tuple[str, str, int | None]]:
    with db(story).session() as session:
        return [(c.ref, c.state, c.step) for c in session.scalars(select(Case).order_by(Case.id))]


# -- opening --------------------------------------------------------------------------------------


def test_it_explains_an_unknown_supplier_and_lists_the_known_ones(story: Story) -> None:
    story.drop(mail(sender=ANNA, subject="Escalatie Initech: printers", body="Kapot."))
    story.run(at(7))
    (reply,) = story.new_mail()
    assert reply.to == [ANNA] and "niet geopend" in reply.subject
    assert 'Ik ken geen leverancier "Initech"' in reply.text
    assert "Acme Hosting B.V. (acme)" in reply.text and "Globex Facilitair (globex)" in reply.text
    database = db(story)
    with database.session() as session:
        assert session.scalars(select(Case)).all() == []


def test_it_asks_for_the_shortfall_when_the_subject_has_none(story: Story) -> None:
    story.drop(mail(sender=ANNA, subject="Escalatie acme", body="Zie hieronder."))
    story.run(at(7))
    (reply,) = story.new_mail()
    assert "niet wat de tekortkoming is" in reply.text


def test_it_never_answers_an_outsider_who_tries_to_open_a_case_but_tells_the_admins(
    story: Story,
) -> None:
    story.drop(mail(sender="boos@klant.example", subject="Escalatie acme: slecht", body="!"))
    story.run(at(7))
    notice, daily = story.new_mail()
    assert notice.to == [ADMIN] and "boos@klant.example" in notice.subject
    assert daily.to == [ADMIN] and "Te beoordelen: 1 bericht" in daily.subject
    assert "Escalatie acme: slecht" in daily.text
    assert story.folder_count("Te beoordelen") == 1


def test_it_explains_to_a_colleague_outside_the_directory_and_tells_the_admins(
    story: Story,
) -> None:
    story.drop(mail(sender="nieuw@gemeente.example", subject="Escalatie acme: traag", body="x"))
    story.run(at(7))
    replies = story.new_mail()
    assert sorted(m.to[0] for m in replies) == [ADMIN, "nieuw@gemeente.example"]
    explained = next(m for m in replies if m.to == ["nieuw@gemeente.example"])
    assert "lijst van medewerkers" in explained.text


def test_it_starts_at_a_later_step_with_its_own_deadline(story: Story) -> None:
    out = open_case(
        story, body="Al eerder besproken.\nStart: stap 2\nTermijn: 5 werkdagen\nKPI: 99,9%"
    )
    step2 = letter(out, 2)
    assert "maandag 14 december 2026" in step2.text  # 5 working days after Mon 7 Dec
    assert "Eerder vroegen wij u" in step2.text and "KPI: 99,9%" in step2.text


def test_it_keeps_the_termijn_when_the_first_letter_waits_for_approval(story: Story) -> None:
    out = open_case(story, body="Al eerder besproken.\nStart: stap 3\nTermijn: 5 werkdagen")
    (approval,) = [m for m in out if "Goedkeuring gevraagd: stap 3" in m.subject]
    assert "maandag 14 december 2026" in approval.text  # 5 working days after Mon 7 Dec
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {approval.subject}",
            body="VERSTUUR",
            in_reply_to=approval.mail.message_id,
        )
    )
    story.run(at(7, hour=11))
    step3 = letter(story.new_mail(), 3)
    assert "maandag 14 december 2026" in step3.text, "the date the owner approved"
    story.run(at(15, hour=9))
    (approval4,) = [m for m in story.new_mail() if m.to == [ANNA]]  # besides the digest
    assert "Goedkeuring gevraagd: stap 4" in approval4.subject, "the day after the Termijn"


def test_it_keeps_the_termijn_when_the_owner_sends_the_first_letter_as_a_draft(
    make_story: Callable[..., Story],
) -> None:
    story = make_story(ladder={"policies": ["draft", "send", "approve", "approve", "approve"]})
    open_case(story, body="Back-ups mislukken.\nTermijn: 5 werkdagen")
    (draft,) = story.drafts()
    assert "maandag 14 december 2026" in draft.text
    story.clock.set(at(7, hour=15))
    src = next((story.root / ".Drafts" / "cur").iterdir())
    shutil.copy(src, story.root / ".Sent" / "cur" / "1765287000.M1P1Q1.owner:2,S")
    story.run(at(7, hour=15))
    story.drop(mail(sender=ANNA, subject="x", body="STATUS ESC-2026-0001"))
    story.run(at(7, hour=16))
    (status,) = story.new_mail()[-1:]
    assert "maandag 14 december 2026" in status.text, "the date the draft promised"


# -- commands and who may give them ---------------------------------------------------------------


def test_it_refuses_commands_from_staff_who_are_not_allowed(story: Story) -> None:
    out = open_case(story)
    story.drop(mail(sender=PIET, subject=f"Re: {letter(out, 1).subject}", body="OPGELOST"))
    story.run(at(8))
    (reply,) = story.new_mail()
    assert reply.to == [PIET] and "Niet uitgevoerd" in reply.subject
    assert ANNA in reply.text
    assert "OPGELOST refused: not allowed" in timeline(story)


def test_it_explains_a_command_on_a_case_from_outside_the_directory_under_its_tag(
    story: Story,
) -> None:
    """SPEC §3: every mail about a case carries its tag and X-Mailbot-Case."""
    step1 = letter(open_case(story), 1)
    story.drop(
        mail(
            sender="nieuw@gemeente.example",
            subject=f"Re: {step1.subject}",
            body="ESCALEER",
            in_reply_to=step1.mail.message_id,
        )
    )
    story.run(at(8))
    (explained,) = [m for m in story.new_mail() if m.to == ["nieuw@gemeente.example"]]
    ref, _, step = cases(story)[0]
    assert explained.subject.startswith(f"[{ref}] Niet uitgevoerd")
    assert explained.mail.header("X-Mailbot-Case") == ref
    assert step == 1, "nothing was carried out"
    with db(story).session() as session:
        refused = select(InboundMessage.case_id).where(
            InboundMessage.from_addr == "nieuw@gemeente.example"
        )
        assert session.scalar(refused) is not None, "the refused mail stays on the case"


def test_it_refuses_a_forged_owner_and_tells_the_admins(make_story: Callable[..., Story]) -> None:
    """SPEC §8: a staff From that our own server found failing DMARC is not staff."""
    story = make_story(mailbot={"trusted_authserv_id": "mx.gemeente.example"})
    out = open_case(story)
    before, cases_before = timeline(story), cases(story)
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {letter(out, 1).subject}",
            body="OPGELOST",
            extra_headers="Authentication-Results: mx.gemeente.example; dmarc=fail",
        )
    )
    story.drop(
        mail(
            sender=ANNA,
            subject="Escalatie acme: nog iets",
            body="x",
            extra_headers="Authentication-Results: mx.gemeente.example; spf=fail",
        )
    )
    story.run(at(8))
    notices = story.new_mail()
    assert sorted(m.to[0] for m in notices) == [ADMIN, ADMIN, ADMIN]  # two alerts + triage
    assert sum("Vervalste afzender geweigerd" in m.subject for m in notices) == 2
    assert timeline(story) == before, "the case did not move and no case was opened"
    assert cases(story) == cases_before, "still one case, in the same state and step"
    assert story.folder_count("Te beoordelen") == 2


def test_it_lets_the_owners_manager_act_and_copies_the_owner(story: Story) -> None:
    out = open_case(story)
    story.drop(mail(sender=BERT, subject=f"Re: {letter(out, 1).subject}", body="PAUZE 3"))
    story.run(at(8))
    (reply,) = story.new_mail()
    assert reply.to == [BERT] and reply.cc == [ANNA]
    assert "3 werkdagen" in reply.text


def test_it_keeps_an_open_ended_pause_after_escaleer_ended_a_pauze_n(story: Story) -> None:
    def reply(to: Sent, body: str, when: datetime) -> list[Sent]:
        story.drop(
            mail(
                sender=ANNA, subject=f"Re: {to.subject}", body=body, in_reply_to=to.mail.message_id
            )
        )
        story.run(when)
        return story.new_mail()

    step1 = letter(open_case(story), 1)
    reply(step1, "PAUZE 3", at(8, hour=10))  # would resume by itself on Fri 11 Dec 09:00
    step2 = letter(reply(step1, "ESCALEER", at(8, hour=11)), 2)
    reply(step2, "PAUZE", at(8, hour=12))  # no end: until HERVAT
    story.run(at(11, hour=10))
    story.drop(mail(sender=ANNA, subject="x", body="STATUS ESC-2026-0001"))
    story.run(at(11, hour=11))
    (status,) = story.new_mail()
    assert "Status: gepauzeerd" in status.text
    assert cases(story) == [("ESC-2026-0001", "paused", 2)]


def test_it_asks_what_was_meant_by_a_near_miss(story: Story) -> None:
    out = open_case(story)
    story.drop(mail(sender=ANNA, subject=f"Re: {letter(out, 1).subject}", body="AKOORD\n\nAnna"))
    story.run(at(8))
    (reply,) = story.new_mail()
    assert "Bedoelde je AKKOORD?" in reply.subject


def test_it_records_a_plain_note_from_the_owner_without_answering(story: Story) -> None:
    out = open_case(story)
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {letter(out, 1).subject}",
            body="Niet akkoord met de planning, bel ik morgen.",
        )
    )
    story.run(at(8))
    assert story.new_mail() == []
    assert any(s.startswith("note:") for s in timeline(story))


def test_it_passes_a_colleagues_note_on_to_the_owner(story: Story) -> None:
    out = open_case(story)
    story.drop(
        mail(sender=PIET, subject=f"Fwd: {letter(out, 1).subject}", body="Ook bij ons faalt het.")
    )
    story.run(at(8))
    (forward,) = story.new_mail()
    assert forward.to == [ANNA] and "Ook bij ons faalt het." in forward.text


@pytest.mark.parametrize(
    ("body", "answered"),
    [
        ("Status update: bij ons faalt het ook, al drie dagen.", "Stand van zaken"),
        ("Akkoord met Anna, bij ons faalt het ook.", "Niet uitgevoerd"),
        ("Help! Bij ons faalt het ook.", "Opdrachten"),
        ("Piet belde net: bij ons faalt het ook.", None),
    ],
)
def test_a_colleagues_note_that_opens_with_a_command_word_still_reaches_the_owner(
    story: Story, body: str, answered: str | None
) -> None:
    """The first word of a mail is its command (SPEC §12); a colleague who may not steer
    the case hears so (or gets what a read-only word asks for), and the owner still gets
    the note (SPEC §6). A word that only looks like a command is no question to them."""
    out = open_case(story)
    story.drop(mail(sender=PIET, subject=f"Re: {letter(out, 1).subject}", body=body))
    story.run(at(8))
    new = story.new_mail()
    to_owner = [m for m in new if m.to == [ANNA]]
    assert len(to_owner) == 1 and "bij ons faalt het ook" in to_owner[0].text.lower()
    to_piet = [m.subject for m in new if m.to == [PIET]]
    if answered is None:
        assert to_piet == []
    else:
        assert len(to_piet) == 1 and answered in to_piet[0]


SUPPLIER_MAIL_FORWARDED = (
    "Anna, dit kreeg ik rechtstreeks van Acme.\n\n"
    "-----Oorspronkelijk bericht-----\n"
    f"Van: Jan Pietersen <{SM}>\n"
    "Verzonden: dinsdag 8 december 2026 09:00\n"
    f"Aan: Piet de Vries <{PIET}>\n"
    "Onderwerp: back-ups\n\n"
    "Oorzaak gevonden: defecte tape-robot. Vervangen op 10 december.\n"
)
INLINE_ANSWERS = (
    "Zie onze antwoorden hieronder.\n\n"
    "> Wilt u ons laten weten welke verbetermaatregel u neemt?\n\n"
    "We vervangen de tape-robot op 10 december.\n\n"
    "> Met vriendelijke groet,\n> Anna Jansen\n"
)
REPORT_FORWARDED = (
    "Geachte mevrouw Jansen,\n\nHieronder het rapport van onze technicus.\n\n"
    "---------- Forwarded message ---------\n"
    "From: Tech <tech@acme.example>\n"
    "Subject: RCA back-ups\n\n"
    "Root cause: firmware van de tape-robot.\n"
)


def test_it_passes_on_the_supplier_mail_a_colleague_forwards_with_its_text(story: Story) -> None:
    """SPEC §6: the forwarded mail below the colleague's note is the point of the note."""
    out = open_case(story)
    story.drop(
        mail(sender=PIET, subject=f"FW: {letter(out, 1).subject}", body=SUPPLIER_MAIL_FORWARDED)
    )
    story.run(at(8))
    (forward,) = story.new_mail()
    assert forward.to == [ANNA]
    new, _, full = forward.text.partition("Het volledige bericht:")
    assert "> Anna, dit kreeg ik rechtstreeks van Acme." in new
    assert "> Oorzaak gevonden: defecte tape-robot." in full
    assert "defecte tape-robot" in html_lib.unescape(forward.mail.html or "")


@pytest.mark.parametrize(
    ("text", "html", "below"),
    [
        (INLINE_ANSWERS, None, "> We vervangen de tape-robot op 10 december."),
        (REPORT_FORWARDED, None, "> Root cause: firmware van de tape-robot."),
        ("", "<p>Zie bijlage.</p><blockquote>Wat gaat u doen?</blockquote>", "Wat gaat u doen?"),
    ],
    ids=["inline-answers", "forwarded-report", "html-only"],
)
def test_it_passes_on_what_a_supplier_wrote_below_the_quote(
    story: Story, text: str, html: str | None, below: str
) -> None:
    """SPEC §6: the owner gets the new part first, then the whole mail as it came."""
    step1 = letter(open_case(story), 1)
    story.drop(
        mail(
            sender=SM,
            subject=f"Re: {step1.subject}",
            body=text,
            html=html,
            in_reply_to=step1.mail.message_id,
        )
    )
    story.run(at(8))
    (forward,) = story.new_mail()
    assert forward.to == [ANNA]
    assert below in forward.text.partition("Het volledige bericht:")[2]


def test_it_answers_status_from_any_staff_member_in_any_mail(story: Story) -> None:
    open_case(story)
    story.drop(
        mail(sender=PIET, subject="Vraag over de digest", body="STATUS ESC-2026-0001\n\nGroet")
    )
    story.run(at(8))
    (reply,) = story.new_mail()
    assert reply.to == [PIET] and "Stand van zaken" in reply.subject
    assert "maandag 21 december 2026" in reply.text
    story.drop(mail(sender=PIET, subject="nog een", body="STATUS ESC-2026-0099"))
    story.run(at(8))
    (unknown,) = story.new_mail()
    assert "Onbekend zaaknummer" in unknown.subject


def test_it_asks_which_case_a_command_without_one_is_for_and_changes_nothing(
    story: Story,
) -> None:
    open_case(story)
    before = timeline(story)
    story.drop(mail(sender=ANNA, subject="back-ups acme", body="PAUZE 5 werkdagen"))
    story.drop(mail(sender=PIET, subject="printer", body="Escalate this please, it is urgent"))
    story.drop(mail(sender=BERT, subject="Losse vraag", body="Weet iemand hoe dit werkt?"))
    story.run(at(8))
    out = story.new_mail()
    (to_anna,) = [m for m in out if m.to == [ANNA]]
    assert "Bij welke zaak hoort PAUZE?" in to_anna.subject and "[ESC-" in to_anna.text
    (to_piet,) = [m for m in out if m.to == [PIET]]
    assert "Which case is ESCALATE for?" in to_piet.subject
    assert not [m for m in out if m.to == [BERT]], "an ordinary mail is no command"
    assert timeline(story) == before
    assert story.folder_count("Te beoordelen") == 3
    (notice,) = [m for m in out if m.to == [ADMIN]]
    assert "PAUZE without a case; asked the sender which case" in notice.text


@pytest.mark.parametrize(
    "sender",
    [PIET, "contractmanagement-list@gemeente.example"],
    ids=["colleague-to-a-list", "list-rewrites-from"],
)
def test_it_never_answers_or_obeys_list_mail_on_a_case(story: Story, sender: str) -> None:
    """SPEC §8: list mail is never answered. A colleague's list carrying a case's tag (or a
    list that rewrites From to its own address) is recorded, not read as a command."""
    step1 = letter(open_case(story), 1)
    story.drop(
        mail(
            sender=sender,
            subject=f"Re: {step1.subject}",
            body="ESCALEER\n\nGraag meteen door naar de volgende stap.",
            in_reply_to=step1.mail.message_id,
            extra_headers="List-Id: Contractmanagement <contractmanagement.gemeente.example>",
        )
    )
    story.run(at(8))
    assert story.new_mail() == [], "no answer, no admin notice, no step 2"
    assert cases(story) == [("ESC-2026-0001", "active", 1)]
    assert timeline(story)[-1].startswith("list mail: Re: [ESC-2026-0001]")


def test_it_answers_status_for_the_case_named_also_in_a_reply_on_another_case(
    story: Story,
) -> None:
    step1 = letter(open_case(story), 1)  # ESC-2026-0001
    story.drop(mail(sender=ANNA, subject="Escalatie globex: schoonmaak onvoldoende", body="Vies."))
    story.run(at(7))
    story.new_mail()
    for ref in ("ESC-2026-0002", "ESC-2026-0099"):
        story.drop(
            mail(
                sender=PIET,
                subject=f"Re: {step1.subject}",
                body=f"STATUS {ref}",
                in_reply_to=step1.mail.message_id,
            )
        )
        story.run(at(8))
        (answer,) = story.new_mail()
        assert answer.to == [PIET]
        if ref == "ESC-2026-0002":
            assert "[ESC-2026-0002] Stand van zaken" in answer.subject
        else:
            assert "Onbekend zaaknummer" in answer.subject and ref in answer.text


def test_it_hands_a_case_over_to_another_owner(story: Story) -> None:
    out = open_case(story)
    story.drop(
        mail(sender=ANNA, subject=f"Re: {letter(out, 1).subject}", body=f"OVERDRAGEN {PIET}")
    )
    story.run(at(8))
    (notice,) = story.new_mail()
    assert notice.to == [PIET] and notice.cc == [ANNA]
    database = db(story)
    with database.session() as session:
        assert session.scalars(select(Case)).one().owner == PIET
    # the next supplier reply goes to the new owner
    story.drop(
        mail(
            sender=SM,
            subject=f"Re: {letter(out, 1).subject}",
            body="Opgelost!",
            in_reply_to=letter(out, 1).mail.message_id,
        )
    )
    story.run(at(9))
    (forward,) = story.new_mail()
    assert forward.to == [PIET]


def test_it_confirms_a_handover_by_the_owners_manager_to_him_and_to_the_owner(
    story: Story,
) -> None:
    """SPEC §12: each command is confirmed to its sender (and to the owner when someone
    else acted)."""
    step1 = letter(open_case(story), 1)
    story.drop(mail(sender=BERT, subject=f"Re: {step1.subject}", body=f"OVERDRAGEN {PIET}"))
    story.run(at(8))
    (notice,) = story.new_mail()
    assert notice.to == [PIET] and notice.cc == [ANNA, BERT]
    assert "Anna Jansen en Bert Bakker krijgen een kopie" in notice.text


def test_it_answers_help_on_an_escalation_with_the_escalation_commands(story: Story) -> None:
    out = open_case(story)
    story.drop(mail(sender=ANNA, subject=f"Re: {letter(out, 1).subject}", body="HULP"))
    story.run(at(8))
    (answer,) = story.new_mail()
    assert answer.to == [ANNA] and "Opdrachten voor escalaties" in answer.subject
    assert "OVERDRAGEN" in answer.text


def test_it_refuses_a_handover_to_someone_outside_the_staff_and_records_it(story: Story) -> None:
    out = open_case(story)
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {letter(out, 1).subject}",
            body="OVERDRAGEN stagiair@gemeente.example",
        )
    )
    story.run(at(8))
    (refusal,) = story.new_mail()
    assert refusal.to == [ANNA] and "stagiair@gemeente.example" in refusal.text
    with db(story).session() as session:
        assert session.scalars(select(Case)).one().owner == ANNA
        refused = session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == "refused")
        ).one()
        assert refused.actor == ANNA and "new owner not staff" in refused.summary


# -- matching and trust ---------------------------------------------------------------------------


def test_it_sends_a_stranger_who_copies_a_case_tag_to_triage(story: Story) -> None:
    out = open_case(story)
    story.drop(
        mail(
            sender="spam@elders.example",
            subject=f"Re: {letter(out, 1).subject}",
            body="AKKOORD",
            in_reply_to=letter(out, 1).mail.message_id,
        )
    )
    story.run(at(8))
    (daily,) = story.new_mail()
    assert daily.to == [ADMIN] and "spam@elders.example" in daily.text, "only the daily notice"
    assert daily.mail.attachments == (), "an outsider's mail is quoted, never attached"
    assert story.folder_count("Te beoordelen") == 1
    assert story.folder_count("Verwerkt") == 1


def test_it_matches_a_reply_without_tag_or_headers_by_outlooks_thread_index(story: Story) -> None:
    out = open_case(story)
    index = letter(out, 1).mail.header("Thread-Index")
    assert index
    story.drop(
        mail(
            sender=SM,
            subject="Antwoord",
            body="We zijn ermee bezig.",
            extra_headers=f"Thread-Index: {index}AQHc",
        )
    )
    story.run(at(8))
    (forward,) = story.new_mail()
    assert forward.to == [ANNA] and "We zijn ermee bezig." in forward.text


def test_it_asks_the_owner_to_confirm_a_tentative_match_then_links_it(story: Story) -> None:
    open_case(story)
    story.drop(
        mail(
            sender="support@acme.example",
            subject="Update back-ups",
            body="Nieuwe hardware besteld.",
        )
    )
    story.run(at(8))
    (question,) = story.new_mail()
    assert "Hoort dit bij je escalatie?" in question.subject and "KOPPEL of NIET" in question.text
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {question.subject}",
            body="KOPPEL",
            in_reply_to=question.mail.message_id,
        )
    )
    story.run(at(9))
    (done,) = story.new_mail()
    assert "Gekoppeld" in done.subject
    assert "supplier reply recorded; owner asked for a verdict" in timeline(story)


@pytest.mark.parametrize("word", ["KOPPEL", "NIET"])
def test_it_copies_the_owner_when_her_manager_decides_on_a_tentative_match(
    story: Story, word: str
) -> None:
    """SPEC §12: each command is confirmed to its sender, and to the owner when someone
    else acted."""
    open_case(story)
    story.drop(mail(sender="support@acme.example", subject="Update", body="Hardware besteld."))
    story.run(at(8))
    (question,) = story.new_mail()
    story.drop(
        mail(
            sender=BERT,
            subject=f"Re: {question.subject}",
            body=word,
            in_reply_to=question.mail.message_id,
        )
    )
    story.run(at(9))
    (done,) = [m for m in story.new_mail() if m.to != [ADMIN]]  # NIET: a triage notice too
    assert done.to == [BERT] and done.cc == [ANNA]
    assert "Anna Jansen krijgt een kopie" in done.text


def test_a_second_link_finds_nothing_waiting_and_is_refused_on_the_timeline(
    story: Story,
) -> None:
    open_case(story)
    story.drop(mail(sender="support@acme.example", subject="Update", body="Hardware besteld."))
    story.run(at(8))
    (question,) = story.new_mail()
    for day in (9, 10):  # the owner answers twice (a second client, an impatient click)
        story.drop(
            mail(
                sender=ANNA,
                subject=f"Re: {question.subject}",
                body="KOPPEL",
                in_reply_to=question.mail.message_id,
            )
        )
        story.run(at(day))
    linked, refused = story.new_mail()
    assert "Gekoppeld" in linked.subject
    assert refused.to == [ANNA] and "KOPPEL" in refused.text
    assert "KOPPEL refused: nothing tentative" in timeline(story)


def test_it_moves_an_unlinked_tentative_match_to_triage(story: Story) -> None:
    open_case(story)
    story.drop(mail(sender="support@acme.example", subject="Factuur", body="Bijgaand de factuur."))
    story.run(at(8))
    (question,) = story.new_mail()
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {question.subject}",
            body="NIET",
            in_reply_to=question.mail.message_id,
        )
    )
    story.run(at(9))
    story.new_mail()
    assert story.folder_count("Te beoordelen") == 1
    database = db(story)
    with database.session() as session:
        invoice = session.scalar(select(InboundMessage).where(InboundMessage.subject == "Factuur"))
        assert invoice is not None and invoice.case_id is None and invoice.destination == "triage"


def test_it_does_not_guess_when_the_supplier_has_a_compliment_open_as_well(story: Story) -> None:
    """SPEC §6 rule 5: "a supplier with exactly one open case"; a compliment about the
    supplier is a case too, so a mail without a reference may be about either."""
    open_case(story)
    story.drop(
        mail(
            sender=PIET,
            subject="Compliment voor Jan Pietersen van Acme",
            body=f"Jan Pietersen van Acme Hosting ({SM}) hielp ons super.",
        )
    )
    story.run(at(7, hour=11))
    story.new_mail()
    assert [c[0] for c in cases(story)] == ["ESC-2026-0001", "CMP-2026-0001"]
    story.drop(mail(sender="support@acme.example", subject="Vraag", body="Nog een vraag."))
    story.run(at(8, hour=8))
    assert not any("Hoort dit bij je escalatie?" in m.subject for m in story.new_mail())
    with db(story).session() as session:
        question = session.scalar(select(InboundMessage).where(InboundMessage.subject == "Vraag"))
        assert question is not None and question.case_id is None
        assert question.destination == "triage"


# -- automated mail -------------------------------------------------------------------------------


def bounce_of(original: Sent, *, headers_only: bool = False) -> bytes:
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.acme.example>"
    report["To"] = "leveranciers@gemeente.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Auto-Submitted"] = "auto-replied"
    report.set_content(
        "This is the mail system at host mx.acme.example.\n\n"
        f"<{SM}>: host said: 550 5.1.1 User unknown\n"
    )
    if headers_only:  # RFC 3462: many servers hand back only the header block
        head = re.split(rb"\r?\n\r?\n", original.raw, maxsplit=1)[0]
        report.add_attachment(head, maintype="text", subtype="rfc822-headers")
    else:
        report.add_attachment(original.raw, maintype="message", subtype="rfc822")
    report.replace_header("Content-Type", "multipart/report; report-type=delivery-status")
    return report.as_bytes()


def test_it_alerts_the_owner_at_once_when_a_step_mail_bounces(story: Story) -> None:
    out = open_case(story)
    story.drop(bounce_of(letter(out, 1)))
    story.run(at(7, hour=11))
    (alert,) = story.new_mail()
    assert alert.to == [ANNA] and "Niet bezorgd: stap 1" in alert.subject
    assert any(s.startswith("delivery failed") for s in timeline(story))


def test_a_bounced_alert_to_the_owner_is_not_alerted_again_but_told_to_the_admins_once(
    story: Story,
) -> None:
    """An alert that bounces from our own owner's mailbox would bounce again if it were
    alerted again, for ever: it is recorded, and the admins hear of the address once."""
    out = open_case(story)
    story.drop(bounce_of(letter(out, 1)))
    story.run(at(7, hour=11))
    (alert,) = story.new_mail()
    story.drop(bounce_of(alert))
    story.run(at(7, hour=12))
    (notice,) = story.new_mail()
    assert notice.to == [ADMIN] and ANNA in notice.subject
    story.drop(bounce_of(alert))
    story.run(at(7, hour=13))
    assert story.new_mail() == [], "the same address is reported once"
    assert cases(story) == [("ESC-2026-0001", "active", 1)]


SERVER_ID = "AM0PR01MB1234.5678@eurprd01.prod.exchangelabs.com"


def as_the_server_sent_it(original: Sent, sender: str | None = None) -> Sent:
    """Our mail as Exchange sent it: with a Message-ID of the server's choosing."""
    raw = original.raw.replace(f"<{original.mail.message_id}>".encode(), f"<{SERVER_ID}>".encode())
    if sender is not None:
        raw = raw.replace(b"<leveranciers@gemeente.example>", f"<{sender}>".encode(), 1)
    return Sent(original.mail, raw)


@pytest.mark.parametrize("headers_only", [False, True], ids=["whole-mail", "headers-only"])
@pytest.mark.parametrize("learned", [True, False], ids=["server-id-recorded", "id-never-learned"])
def test_it_alerts_the_owner_of_a_bounce_of_a_mail_the_server_gave_its_own_id(
    story: Story, learned: bool, headers_only: bool
) -> None:
    """SPEC §6: we match the Message-ID the server used, and also our X-Mailbot-Case."""
    step1 = letter(open_case(story), 1)
    if learned:  # as the outbox records it when the backend reports the id it used
        with db(story).session() as session:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.message_id == step1.mail.message_id)
                .values(message_id=SERVER_ID)
            )
    story.drop(bounce_of(as_the_server_sent_it(step1), headers_only=headers_only))
    story.run(at(7, hour=11))
    (alert,) = story.new_mail()
    assert alert.to == [ANNA]
    assert ("Niet bezorgd: stap 1" if learned else "Niet bezorgd: een bericht") in alert.subject
    assert any(s.startswith("delivery failed") for s in timeline(story))


def test_it_trusts_x_mailbot_case_only_on_a_returned_mail_of_ours(story: Story) -> None:
    """Anyone can write the header: on a mail's own headers, or on an original that was
    not ours, it attaches nothing to a case."""
    step1 = letter(open_case(story), 1)
    ref = cases(story)[0][0]
    story.drop(bounce_of(as_the_server_sent_it(step1, sender="spam@elders.example")))
    story.drop(
        mail(
            sender="MAILER-DAEMON@elders.example",
            subject="Undelivered Mail Returned to Sender",
            body=f"<{SM}>: host said: 550 5.1.1 User unknown",
            extra_headers=f"Auto-Submitted: auto-replied\nX-Mailbot-Case: {ref}",
        )
    )
    story.run(at(7, hour=11))
    assert all(m.to != [ANNA] for m in story.new_mail())
    assert story.folder_count("Te beoordelen") == 2
    assert not any(s.startswith("delivery failed") for s in timeline(story))


def ticket_update(original: Sent, *, threaded: bool) -> bytes:
    return mail(
        sender="support@acme.example",
        subject=f"Re: {original.subject} (ticket #4711 bijgewerkt)",
        body="Uw melding #4711 is bijgewerkt: de back-up is hersteld.",
        in_reply_to=original.mail.message_id if threaded else None,
        extra_headers="Auto-Submitted: auto-generated\nX-Autoreply: yes",
    )


@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "tag-only"])
def test_it_passes_a_ticket_systems_update_on_to_the_owner_and_never_answers_it(
    story: Story, threaded: bool
) -> None:
    """SPEC §12: ticket systems mark their mail automated and usually thread to ours. The
    update is passed on for information; it is no reply waiting for a verdict (an
    automatic receipt looks the same), so the next step is not held at the deadline."""
    out = open_case(story)
    story.drop(ticket_update(letter(out, 1), threaded=threaded))
    story.run(at(8))
    (forward,) = story.new_mail()
    assert forward.to == [ANNA] and "de back-up is hersteld" in forward.text
    assert "Automatisch bericht van Acme" in forward.subject and "AKKOORD" in forward.text
    assert "supplier reply recorded; owner asked for a verdict" not in timeline(story)
    story.run(at(22, hour=9))
    step2 = [m for m in story.new_mail() if "Stap 2" in m.subject and SM in m.to]
    assert len(step2) == 1, "the step goes out: nothing was waiting for a verdict"


def test_it_records_a_read_receipt_with_the_tag_without_passing_it_on(story: Story) -> None:
    """A receipt from the supplier's domain carries the tag but is no ticket update."""
    out = open_case(story)
    step1 = letter(out, 1)
    receipt = EmailMessage()
    receipt["From"] = SM
    receipt["To"] = "leveranciers@gemeente.example"
    receipt["Subject"] = f"Gelezen: {step1.subject}"
    receipt["In-Reply-To"] = f"<{step1.mail.message_id}>"
    receipt.set_content("Uw bericht is gelezen.")
    receipt.add_attachment(
        f"Original-Message-ID: <{step1.mail.message_id}>\nDisposition: manual-action/"
        "MDN-sent-manually; displayed\n".encode(),
        maintype="message",
        subtype="disposition-notification",
    )
    receipt.replace_header("Content-Type", "multipart/report; report-type=disposition-notification")
    story.drop(receipt.as_bytes())
    story.run(at(8))
    assert story.new_mail() == []
    assert f"automatic reply: Gelezen: {step1.subject}" in timeline(story)


def test_it_alerts_the_owner_of_a_bounce_that_only_its_tag_ties_to_the_case(story: Story) -> None:
    """A bounce without the returned original is still a bounce, never the supplier's reply."""
    out = open_case(story)
    story.drop(
        mail(
            sender="MAILER-DAEMON@mx.acme.example",
            subject=f"Onbestelbaar: {letter(out, 1).subject}",
            body=f"<{SM}>: host said: 550 5.1.1 User unknown",
            extra_headers="Auto-Submitted: auto-replied",
        )
    )
    story.run(at(7, hour=11))
    (alert,) = story.new_mail()
    assert alert.to == [ANNA] and "Niet bezorgd" in alert.subject
    assert "supplier reply recorded; owner asked for a verdict" not in timeline(story)


def oof(original: Sent, sender: str = SM, *, threaded: bool = True) -> bytes:
    return mail(
        sender=sender,
        subject=f"Automatisch antwoord: {original.subject}",
        body="Ik ben afwezig tot 4 januari.",
        in_reply_to=original.mail.message_id if threaded else None,
        extra_headers="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n"
        "X-MS-Exchange-Inbox-Rules-Loop: sm@acme.example",
    )


def test_it_passes_an_out_of_office_on_once_and_never_answers_it(story: Story) -> None:
    out = open_case(story)
    story.drop(oof(letter(out, 1)))
    story.drop(oof(letter(out, 1)))
    story.run(at(7, hour=11))
    (notice,) = story.new_mail()
    assert notice.to == [ANNA] and f"Afwezig: {SM}" in notice.subject
    assert "afwezig tot 4 januari" in notice.text


def test_it_never_counts_an_out_of_office_found_by_its_tag_as_the_suppliers_reply(
    story: Story,
) -> None:
    """An Exchange OOF keeps the tag but may drop In-Reply-To: still an absence notice."""
    out = open_case(story)
    story.drop(oof(letter(out, 1), threaded=False))
    story.drop(oof(letter(out, 1), threaded=False))
    story.run(at(7, hour=11))
    (notice,) = story.new_mail()
    assert notice.to == [ANNA] and f"Afwezig: {SM}" in notice.subject
    assert "supplier reply recorded; owner asked for a verdict" not in timeline(story)
    story.run(at(22, hour=9))  # step 1's deadline passed without any reply
    later = story.new_mail()
    assert any(SM in m.to and "Stap 2 –" in m.subject for m in later), "policy send, not held"


# -- policies -------------------------------------------------------------------------------------


def test_it_waits_for_the_owner_to_send_a_draft_and_counts_from_then(
    make_story: Callable[..., Story],
) -> None:
    story = make_story(ladder={"policies": ["draft", "send", "approve", "approve", "approve"]})
    out = open_case(story)
    assert [m.to for m in out] == [[ANNA], [ANNA]] or all(SM not in m.to for m in out)
    (draft,) = story.drafts()
    assert SM in draft.to and "Stap 1" in draft.subject
    # Anna sends it from the shared mailbox on Wednesday: it appears in Sent.
    story.clock.set(at(9, hour=15))
    sent_dir = story.root / ".Sent" / "cur"
    src = next((story.root / ".Drafts" / "cur").iterdir())
    shutil.copy(src, sent_dir / "1765287000.M1P1Q1.owner:2,S")
    story.run(at(9, hour=15))
    assert "step 1 sent; deadline" in " ".join(timeline(story))
    story.drop(mail(sender=ANNA, subject="x", body="STATUS ESC-2026-0001"))
    story.run(at(9, hour=16))
    (status,) = story.new_mail()
    assert "woensdag 23 december 2026" in status.text  # 10 working days from Wed 9 Dec


def test_it_notices_a_draft_sent_by_hand_among_a_thousand_other_mails_in_sent(
    make_story: Callable[..., Story],
) -> None:
    """After a busy day Sent holds many new copies: the draft is found by its subject
    tag even when the client gave it a new Message-ID and dropped our header."""
    story = make_story(ladder={"policies": ["draft", "send", "approve", "approve", "approve"]})
    open_case(story)
    story.clock.set(at(9, hour=15))
    sent_dir = story.root / ".Sent" / "cur"
    for n in range(1100):
        (sent_dir / f"1765287000.M{n}P2Q{n}.staff:2,S").write_bytes(
            f"From: leveranciers@gemeente.example\r\nTo: x{n}@elders.example\r\n"
            f"Subject: Re: vergadering {n}\r\nMessage-ID: <staff-{n}@gemeente.example>\r\n"
            "\r\nTot dan.\r\n".encode()
        )
    draft = next((story.root / ".Drafts" / "cur").iterdir()).read_bytes()
    header, _, body = draft.partition(b"\r\n\r\n")
    kept = [
        line
        for line in header.split(b"\r\n")
        if not line.lower().startswith((b"x-mailbot-case:", b"message-id:"))
    ]
    kept.append(b"Message-ID: <outlook-new-id@gemeente.example>")
    (sent_dir / "1765287999.M1P1Q1.owner:2,S").write_bytes(b"\r\n".join(kept) + b"\r\n\r\n" + body)

    story.run(at(9, hour=15))

    assert "step 1 sent; deadline" in " ".join(timeline(story))


def test_it_makes_every_send_a_draft_in_dry_run(make_story: Callable[..., Story]) -> None:
    story = make_story(mailbot={"dry_run": True})
    open_case(story)
    assert story.outgoing() == []
    assert len(story.drafts()) == 2


# -- after downtime -------------------------------------------------------------------------------


def test_it_catches_up_one_step_only_after_downtime_and_drops_stale_reminders(story: Story) -> None:
    open_case(story)
    # mailbot was down from 7 December until 15 February: one pass then.
    story.run(at(15, 2, 2027, hour=11))
    out = story.new_mail()
    assert [m.subject for m in out if SM in m.to] == [
        "[ESC-2026-0001] Stap 2 – verzoek om corrigerend actieplan – Acme Hosting B.V."
    ]
    assert not any("Herinnering" in m.subject for m in out), "the old reminder is dropped"
    step2 = letter(out, 2)
    assert "maandag 8 maart 2027" in step2.text  # 15 working days from Mon 15 Feb


def test_it_sends_a_step_that_fell_due_in_downtime_at_nine_on_the_next_working_day(
    story: Story,
) -> None:
    open_case(story)  # step 1's deadline: the end of Monday 21 December
    # mailbot comes back on Saturday 9 January at 23:30 (a night run from cron, say)
    for moment in (at(9, 1, 2027, hour=23), at(10, 1, 2027), at(11, 1, 2027, hour=8)):
        story.run(moment)
        assert [m.subject for m in story.new_mail() if SM in m.to] == [], moment
    story.run(at(11, 1, 2027, hour=9))  # Monday 09:00
    step2 = letter(story.new_mail(), 2)
    assert "maandag 1 februari 2027" in step2.text  # 15 working days from Mon 11 Jan


def test_it_forwards_supplier_attachments_to_the_owner(story: Story) -> None:
    out = open_case(story)
    reply = EmailMessage()
    reply["From"] = SM
    reply["To"] = "leveranciers@gemeente.example"
    reply["Subject"] = f"Re: {letter(out, 1).subject}"
    reply["In-Reply-To"] = f"<{letter(out, 1).mail.message_id}>"
    reply["Message-ID"] = "<plan@acme.example>"
    reply.set_content("Bijgaand ons plan van aanpak.")
    reply.add_attachment(
        b"%PDF-1.4 plan", maintype="application", subtype="pdf", filename="plan.pdf"
    )
    story.drop(reply.as_bytes())
    story.run(at(8))
    (forward,) = story.new_mail()
    assert [(a.filename, a.content) for a in forward.mail.attachments] == [
        ("plan.pdf", b"%PDF-1.4 plan")
    ]


def test_it_batches_triage_notices_at_most_once_a_day(story: Story) -> None:
    for n in range(3):
        story.drop(mail(sender=f"iemand{n}@elders.example", subject=f"Vraag {n}", body="Hallo?"))
    story.run(at(7, hour=7))
    assert story.new_mail() == [], "before 09:00 nothing goes out"
    story.run(at(7, hour=9))
    (daily,) = story.new_mail()
    assert "3 berichten" in daily.subject
    assert daily.mail.header("X-Mailbot-Case") == "none", "SPEC §6: on every mail"
    story.drop(mail(sender="nog@elders.example", subject="Vraag 4", body="?"))
    story.drop(mail(sender=PIET, subject="Losse vraag", body="Weet iemand hoe dit werkt?"))
    story.run(at(7, hour=15))
    assert story.new_mail() == [], "one notice a day"
    story.run(at(8, hour=9))
    (next_day,) = story.new_mail()
    assert "2 berichten" in next_day.subject and "Vraag 4" in next_day.text
    assert [a.filename for a in next_day.mail.attachments] == [
        f"bericht-{n}.eml" for n in [int(next_day.text.split("#")[2].split(" ")[0])]
    ], "a colleague's mail is attached, an outsider's is not"


def test_it_tells_the_admins_of_mail_unlinked_after_a_later_notice(story: Story) -> None:
    open_case(story)
    story.drop(mail(sender="support@acme.example", subject="Factuur", body="Bijgaand de factuur."))
    story.run(at(8, hour=8))
    (question,) = story.new_mail()
    story.drop(mail(sender="iemand@elders.example", subject="Losse vraag", body="Hallo?"))
    story.run(at(8, hour=9))
    (daily,) = [m for m in story.new_mail() if m.to == [ADMIN]]
    assert "Losse vraag" in daily.text and "Factuur" not in daily.text
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {question.subject}",
            body="NIET",
            in_reply_to=question.mail.message_id,
        )
    )
    story.run(at(8, hour=11))
    story.new_mail()
    story.run(at(9, hour=9))
    (next_day,) = [m for m in story.new_mail() if m.to == [ADMIN]]
    assert "1 bericht zonder zaak" in next_day.subject
    assert "Factuur" in next_day.text and "unlinked from ESC-2026-0001" in next_day.text
    assert "Losse vraag" not in next_day.text, "reported once"


def test_it_quotes_every_triage_message_and_brings_what_does_not_fit_the_next_day(
    story: Story,
) -> None:
    for n in range(52):
        story.drop(
            mail(sender=f"iemand{n}@elders.example", subject=f"Vraag {n}", body=f"Inhoud {n}")
        )
    story.run(at(7, hour=9))
    (daily,) = story.new_mail()
    quoted = {line for line in daily.text.splitlines() if line.startswith("> Inhoud")}
    assert quoted == {f"> Inhoud {n}" for n in range(50)}
    assert "52 berichten" in daily.subject
    assert "Nog 2 berichten volgen in de volgende melding" in daily.text
    story.run(at(8, hour=9))
    (next_day,) = story.new_mail()
    assert "2 berichten" in next_day.subject
    assert "> Inhoud 50" in next_day.text and "> Inhoud 51" in next_day.text
    assert "volgende melding" not in next_day.text


def test_it_quotes_a_long_triage_message_in_full_or_says_where_the_whole_one_is(
    story: Story,
) -> None:
    def lines(count: int) -> str:
        return "\n".join(f"regel {n}" for n in range(1, count + 1))

    story.drop(mail(sender="iemand@elders.example", subject="Lange vraag", body=lines(30)))
    story.drop(mail(sender="ander@elders.example", subject="Heel lange vraag", body=lines(150)))
    story.drop(mail(sender=PIET, subject="Heel lang verslag", body=lines(150)))
    story.run(at(7, hour=9))
    (daily,) = story.new_mail()
    parts = daily.text.split("\n#")
    short, long, colleague = (
        next(p for p in parts if f"– {s}\n" in p)
        for s in ("Lange vraag", "Heel lange vraag", "Heel lang verslag")
    )
    assert "> regel 30" in short and "Ingekort" not in short
    number = long.split(" ")[0]
    assert "> regel 100\n" in long and "> regel 101" not in long
    assert f'(Ingekort. Het hele bericht is #{number} in de map "Te beoordelen".)' in long
    (attached,) = [a.filename for a in daily.mail.attachments]
    assert f"(Ingekort. Het hele bericht zit als bijlage bij deze mail: {attached}.)" in colleague


def test_it_brings_a_colleagues_original_that_would_make_the_notice_too_big_the_next_day(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailbot.service import triage

    monkeypatch.setattr(triage, "ATTACHED_BYTES", 2_000)
    story.drop(mail(sender=PIET, subject="Verslag 1", body="x" * 1_000))
    story.drop(mail(sender=PIET, subject="Verslag 2", body="x" * 1_000))
    story.drop(mail(sender=PIET, subject="Verslag 3", body="x" * 5_000))
    story.run(at(7, hour=9))
    (daily,) = story.new_mail()
    assert "Verslag 1" in daily.text and "Verslag 2" not in daily.text
    assert "Nog 2 berichten volgen in de volgende melding" in daily.text
    assert len(daily.mail.attachments) == 1
    story.run(at(8, hour=9))
    (next_day,) = story.new_mail()
    assert "Verslag 2" in next_day.text and "Verslag 3" in next_day.text
    assert "Het origineel is te groot om mee te sturen" in next_day.text
    assert len(next_day.mail.attachments) == 1
