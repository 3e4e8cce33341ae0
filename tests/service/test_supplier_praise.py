"""Compliments about suppliers: possible proof for open escalations, decided by the owner only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.store.db import Database
from mailbot.store.tables import Case, Deadline
from tests.scenario import Sent, Story, mail

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
ANNA = "a.jansen@gemeente.example"
KARIN = "kwaliteit@gemeente.example"
SM = "servicemanager@acme.example"


def at(day: int, month: int = 12, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=AMS)


@pytest.fixture
def story(make_config: Callable[..., Config]) -> Story:
    story = Story(make_config(), ManualClock(at(1, hour=8)))
    story.run()
    return story


def escalate_to_step_two(story: Story) -> None:
    story.drop(
        mail(sender=ANNA, subject="Escalatie acme: back-ups mislukken", body="Start: stap 2")
    )
    story.run(at(1))
    story.new_mail()


def cases(story: Story) -> dict[str, Case]:
    db = Database.connect(story.config.database_url)
    with db.session() as session:
        return {c.ref: c for c in session.scalars(select(Case))}


def pending_deadlines(story: Story, ref: str) -> list[str]:
    db = Database.connect(story.config.database_url)
    with db.session() as session:
        case = session.scalar(select(Case).where(Case.ref == ref))
        assert case is not None
        return [
            d.kind
            for d in session.scalars(
                select(Deadline).where(Deadline.case_id == case.id, Deadline.status == "pending")
            )
        ]


def test_it_asks_the_owner_whether_a_compliment_is_proof_and_akkoord_resolves(story: Story) -> None:
    escalate_to_step_two(story)
    assert "step" in pending_deadlines(story, "ESC-2026-0001")
    story.drop(
        mail(
            sender="klant@klant.example",
            subject="Compliment",
            body="De hosting van Acme Hosting is sinds vorige week eindelijk stabiel!",
        ),
        folder="complimenten",
    )
    story.run(at(2))
    out = story.new_mail()
    question = [m for m in out if m.to == [ANNA]]
    assert len(question) == 1
    assert "Compliment over Acme Hosting B.V.: bewijs van verbetering?" in question[0].subject
    assert "AKKOORD of ONVOLDOENDE" in question[0].text and "eindelijk stabiel" in question[0].text
    assert cases(story)["ESC-2026-0001"].state == "active", "nothing is decided automatically"
    compliment = cases(story)["CMP-2026-0001"]
    assert compliment.supplier_id == "acme"
    assert compliment.data["suppliers"] == [
        {
            "supplier": "acme",
            "how": "name",
            "evidence": "Acme Hosting B.V.",
            "cases": ["ESC-2026-0001"],
        }
    ]

    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {question[0].subject}",
            body="AKKOORD",
            in_reply_to=question[0].mail.message_id,
        )
    )
    story.run(at(3))
    out = story.new_mail()
    assert any(SM in m.to and "afgesloten" in m.subject for m in out)
    assert cases(story)["ESC-2026-0001"].state == "resolved"
    assert pending_deadlines(story, "ESC-2026-0001") == [], "the deadline stopped"


def test_it_attaches_a_compliment_naming_two_suppliers_to_each_and_says_so(
    make_config: Callable[..., Config],
) -> None:
    config = make_config(
        suppliers=[
            {
                "id": "acme",
                "name": "Acme Hosting B.V.",
                "domains": ["acme.example"],
                "sla_reference": "SLA A",
                "counterpart": SM,
            },
            {
                "id": "globex",
                "name": "Globex Facilitair",
                "domains": ["globex.example"],
                "sla_reference": "DVO G",
                "counterpart": "sm@globex.example",
            },
        ]
    )
    story = Story(config, ManualClock(at(1, hour=8)))
    story.run()
    for supplier in ("acme", "globex"):
        story.drop(mail(sender=ANNA, subject=f"Escalatie {supplier}: traag", body="x"))
    story.run(at(1))
    story.new_mail()
    story.drop(
        mail(
            sender="klant@klant.example",
            subject="Compliment",
            body="Zowel Acme Hosting als Globex Facilitair deden het deze maand prima.",
        ),
        folder="complimenten",
    )
    story.run(at(2))
    questions = [m for m in story.new_mail() if "bewijs van verbetering" in m.subject]
    assert len(questions) == 2
    assert any("ESC-2026-0002" in q.text for q in questions if "ESC-2026-0001" in q.subject)
    assert all("Ik beslis dit nooit zelf" in q.text for q in questions)


def test_it_links_a_compliment_about_a_supplier_without_open_cases_and_asks_nobody(
    story: Story,
) -> None:
    story.drop(
        mail(
            sender="klant@klant.example",
            subject="Compliment",
            body="Jan van servicemanager@acme.example hielp ons geweldig.",
        ),
        folder="complimenten",
    )
    story.run(at(2))
    out = story.new_mail()
    assert not any(ANNA in m.to for m in out)
    compliment = cases(story)["CMP-2026-0001"]
    assert compliment.supplier_id == "acme"
    assert compliment.data["suppliers"][0]["how"] == "contact"
    assert compliment.data["suppliers"][0]["cases"] == []


def only(mails: list[Sent], to: str) -> Sent:
    found = [m for m in mails if to in m.to]
    assert len(found) == 1, [(m.to, m.subject) for m in mails]
    return found[0]


def test_it_passes_praise_to_a_suppliers_person_and_the_reaction_back_to_the_maker(
    story: Story,
) -> None:
    maker, manager = "klant@klant.example", "manager@acme.example"
    story.drop(
        mail(
            sender=maker,
            sender_name="Mevr. De Groot",
            subject="Compliment",
            body="Jan Pietersen van Acme loste onze storing op zondag op. Top!",
        )
    )
    story.run(at(2))
    notice = only(story.new_mail(), KARIN)
    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body=f"ONTVANGER: {SM}",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(3))
    ask = only(story.new_mail(), manager)
    assert ask.text.startswith("Geachte") and "GEGEVEN" in ask.text, (
        "the counterpart's manager gives it"
    )

    story.drop(
        mail(
            sender=manager,
            subject=f"RE: {ask.subject}",
            body="Gegeven, met taart.",
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(4))
    out = story.new_mail()
    given = only(out, SM)
    assert "Een compliment voor u" in given.subject and "Geachte" in given.text
    assert not any(manager in m.to for m in out), "no automatic confirmation across the boundary"

    story.drop(
        mail(
            sender=SM,
            subject=f"RE: {given.subject}",
            body="Wat leuk, dank u!",
            in_reply_to=given.mail.message_id,
        )
    )
    story.run(at(7))
    out = story.new_mail()
    assert "Wat leuk, dank u!" in only(out, maker).text, "the reaction goes back to the maker"
    cap = only(out, manager)
    assert "CAP:" in cap.text and cap.text.startswith("Geachte")
    story.drop(
        mail(
            sender=manager,
            subject=f"RE: {cap.subject}",
            body="GEEN CAP",
            in_reply_to=cap.mail.message_id,
        )
    )
    story.run(at(8))
    assert cases(story)["CMP-2026-0001"].state == "closed"


def test_a_suppliers_person_praised_by_our_staff_reacts_and_the_maker_hears_back(
    story: Story,
) -> None:
    """SPEC §5: across the boundary the maker still hears back, also one of our own; and
    the supplier's person is told exactly that."""
    manager = "manager@acme.example"
    story.drop(
        mail(
            sender=ANNA,
            sender_name="Anna Jansen",
            subject="Compliment",
            body="Jan Pietersen van Acme loste onze storing op zondag op. Top!",
        )
    )
    story.run(at(2))
    notice = only(story.new_mail(), KARIN)
    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body=f"ONTVANGER: {SM}",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(3))
    ask = only(story.new_mail(), manager)
    story.drop(
        mail(
            sender=manager,
            subject=f"RE: {ask.subject}",
            body="GEGEVEN",
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(4))
    given = only(story.new_mail(), SM)
    assert "geven wij uw reactie door aan Anna Jansen" in given.text
    story.drop(
        mail(
            sender=SM,
            subject=f"RE: {given.subject}",
            body="Wat leuk, dank u!",
            in_reply_to=given.mail.message_id,
        )
    )
    story.run(at(7))
    assert "Wat leuk, dank u!" in only(story.new_mail(), ANNA).text


@pytest.mark.parametrize(
    ("answer", "given"),
    [
        ("Given the holidays, I will only see Jan in January. I will give it then.", False),
        ("Given, with cake.", True),
        ("GIVEN", True),
    ],
)
def test_a_supplier_side_provider_gives_it_only_with_a_plain_command(
    story: Story, answer: str, given: bool
) -> None:
    """Across the boundary nobody confirms a command back: a sentence that opens with the
    word is no GEGEVEN; the word alone, in capitals or with a separator is."""
    maker, manager = "klant@klant.example", "manager@acme.example"
    story.drop(
        mail(
            sender=maker,
            subject="Compliment",
            body="Jan Pietersen van Acme loste onze storing op zondag op. Top!",
        )
    )
    story.run(at(2))
    notice = only(story.new_mail(), KARIN)
    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body=f"ONTVANGER: {SM}",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(3))
    ask = only(story.new_mail(), manager)
    story.drop(
        mail(
            sender=manager,
            subject=f"RE: {ask.subject}",
            body=answer,
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(4))
    assert (cases(story)["CMP-2026-0001"].state == "given") is given


def test_a_supplier_sides_question_on_praise_reaches_the_coordinator_unanswered(
    story: Story,
) -> None:
    """SPEC §6: on praise across the boundary, what the supplier's side writes that is no
    command of the provider's (nor a receiver's reaction) is passed on to the coordinator,
    with its text; nobody on the supplier's side gets an automatic answer."""
    manager = "manager@acme.example"
    story.drop(
        mail(
            sender="klant@klant.example",
            subject="Compliment",
            body="Jan Pietersen van Acme loste onze storing op zondag op. Top!",
        )
    )
    story.run(at(2))
    notice = only(story.new_mail(), KARIN)
    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body=f"ONTVANGER: {SM}",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(3))
    ask = only(story.new_mail(), manager)
    story.drop(
        mail(
            sender=manager,
            sender_name="Mr. Manager",
            subject=f"RE: {ask.subject}",
            body="Mag ik het compliment ook in onze nieuwsbrief zetten?",
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(4))
    (forward,) = story.new_mail()
    assert forward.to == [KARIN] and "[CMP-2026-0001]" in forward.subject
    assert "Mr. Manager (manager@acme.example) van Acme Hosting" in forward.text
    assert "> Mag ik het compliment ook in onze nieuwsbrief zetten?" in forward.text
    assert cases(story)["CMP-2026-0001"].state == "assigned"


def test_a_suppliers_person_who_praises_us_hears_back_in_the_suppliers_language(
    story: Story,
) -> None:
    """SPEC §12: `language` may be set per supplier (Globex: English); a maker from the
    supplier's domain is thanked, and later told the reaction, in that language."""
    maker, piet = "sam@globex.example", "p.devries@gemeente.example"
    story.drop(
        mail(
            sender=maker,
            sender_name="Sam Miles",
            subject="Compliment",
            body="Piet de Vries of your service desk helped us brilliantly.",
        )
    )
    story.run(at(2))
    out = story.new_mail()
    thanks = only(out, maker)
    assert thanks.subject.endswith("Thank you for your compliment")
    assert thanks.text.startswith("Dear Sam Miles,")
    notice = only(out, KARIN)
    assert "Nieuw compliment" in notice.subject, "the coordinator still reads Dutch"
    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body=f"ONTVANGER: {piet}",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(3))
    ask = only(story.new_mail(), "m.smit@gemeente.example")
    story.drop(
        mail(
            sender="m.smit@gemeente.example",
            subject=f"Re: {ask.subject}",
            body="GEGEVEN",
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(4))
    given = only(story.new_mail(), piet)
    story.drop(
        mail(
            sender=piet,
            subject=f"Re: {given.subject}",
            body="Graag gedaan!",
            in_reply_to=given.mail.message_id,
        )
    )
    story.run(at(7))
    response = only(story.new_mail(), maker)
    assert response.subject.endswith("The response to your compliment")
    assert "> Graag gedaan!" in response.text
