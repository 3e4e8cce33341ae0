"""Compliments by mail: the whole lifecycle, and hundreds at once (kill -9 included)."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.domain.digest_schedule import Week
from mailbot.service import digest
from mailbot.store.tables import Case
from tests.scenario import Sent, Story, mail

pytestmark = pytest.mark.database

AMS = ZoneInfo("Europe/Amsterdam")
PIET = "p.devries@gemeente.example"
MARIEKE = "m.smit@gemeente.example"
ANNA = "a.jansen@gemeente.example"
KARIN = "kwaliteit@gemeente.example"
MAKER = "j.degroot@klant.example"


def at(day: int, month: int = 12, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=AMS)


@pytest.fixture
def story(make_config: Callable[..., Config]) -> Story:
    story = Story(make_config(organisation={"digest_to": []}), ManualClock(at(7, hour=8)))
    story.run()
    return story


def only(mails: list[Sent], to: str) -> Sent:
    found = [m for m in mails if to in m.to]
    assert len(found) == 1, [(m.to, m.subject) for m in mails]
    return found[0]


FORWARD = """Zie hieronder, leuk!

Van: Mevr. J. de Groot <j.degroot@klant.example>
Verzonden: vrijdag 4 december 2026 16:40
Aan: Servicedesk <servicedesk@gemeente.example>
Onderwerp: Dank voor de snelle hulp

Beste mensen,

Wat was ik blij met de hulp van Piet de Vries en het hele team van de Servicedesk.
Binnen een uur werkte mijn account weer.

Met vriendelijke groet,
Mevr. J. de Groot
"""


def test_it_runs_a_forwarded_compliment_for_a_team_through_its_whole_life(story: Story) -> None:
    story.drop(
        mail(sender=PIET, subject="FW: Dank voor de snelle hulp", body=FORWARD),
        folder="complimenten",
    )
    story.run(at(7))
    out = story.new_mail()
    thanks = only(out, MAKER)
    assert "Dank u wel" in thanks.subject and "Geachte Mevr. J. de Groot" in thanks.text
    notice = only(out, KARIN)
    assert notice.subject.startswith("[CMP-2026-0001] Nieuw compliment")
    assert "Piet de Vries" in notice.text and "zeker" in notice.text
    assert "Servicedesk (team)" in notice.text and "ONTVANGER:" in notice.text

    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body="ONTVANGER: Servicedesk",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(8))
    out = story.new_mail()
    ask = only([m for m in out if "Wil je dit compliment" in m.subject], MARIEKE)
    assert "Piet de Vries" in ask.subject and "GEGEVEN" in ask.text
    only([m for m in out if "Uitgevoerd" in m.subject], KARIN)

    story.drop(
        mail(
            sender=MARIEKE,
            subject=f"Re: {ask.subject}",
            body="GEGEVEN DOSSIER\n\nMarieke",
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(9))
    out = story.new_mail()
    given = [m for m in out if "Een compliment voor jullie" in m.subject]
    assert len(given) == 1 and sorted(given[0].to) == sorted([PIET, MARIEKE])
    assert "Binnen een uur werkte mijn account weer." in given[0].text
    assert "personeelsdossier" in only([m for m in out if "Uitgevoerd" in m.subject], MARIEKE).text

    story.drop(
        mail(
            sender=PIET,
            subject=f"Re: {given[0].subject}",
            body="Wat een leuke verrassing!",
            in_reply_to=given[0].mail.message_id,
        )
    )
    story.run(at(10))
    out = story.new_mail()
    to_maker = only(out, MAKER)
    assert "De reactie op uw compliment" in to_maker.subject and "leuke verrassing" in to_maker.text
    assert "Marieke Smit" in only(out, KARIN).text  # still waiting for her reaction

    # Marieke never reacts: the norm (5 working days from Wed 9 Dec) runs to the end of
    # Wed 16 Dec; at 09:00 the next working day the CAP request goes with the reactions
    # there are (SPEC §12)
    story.run(at(16, hour=9))
    assert story.new_mail() == []
    story.run(at(17, hour=9))
    cap_request = only(story.new_mail(), MARIEKE)
    assert "blijvend" in cap_request.subject and "GEEN CAP" in cap_request.text

    story.drop(
        mail(
            sender=MARIEKE,
            subject=f"Re: {cap_request.subject}",
            body="Geen CAP",
            in_reply_to=cap_request.mail.message_id,
        )
    )
    story.run(at(17))
    done = only(story.new_mail(), MARIEKE)
    assert "afgesloten" in done.text
    for moment in (at(18), at(5, 1), at(1, 2)):
        story.clock.set(moment.replace(year=2027) if moment.month < 12 else moment)
        story.run()
    assert story.new_mail() == []


def test_it_reminds_and_warns_on_a_missed_norm_then_follows_a_cap_to_the_end(story: Story) -> None:
    story.drop(
        mail(
            sender=MAKER,
            sender_name="Mevr. J. de Groot",
            subject="Compliment voor Anna",
            body="Anna Jansen heeft ons contract heel goed begeleid.",
        )
    )
    story.run(at(7))
    out = story.new_mail()
    only(out, MAKER)
    notice = only(out, KARIN)
    # norm for the coordinator: 2 working days, to the end of Wed 9 Dec; a reminder at
    # 09:00 the next working day (SPEC §12), not on the norm's last day …
    story.run(at(9, hour=9))
    assert story.new_mail() == []
    story.run(at(10, hour=9))
    reminder = only(story.new_mail(), KARIN)
    assert "Herinnering" in reminder.subject
    # … and when 2 more working days (to the end of Mon 14 Dec) passed, a notice
    story.run(at(14, hour=9))
    assert story.new_mail() == []
    story.run(at(15, hour=9))
    warning = only(story.new_mail(), KARIN)
    assert "loopt achter" in warning.subject

    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body="ONTVANGER: Anna Jansen, p.devries@gemeente.example\n"
            "GEVER: b.bakker@gemeente.example",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(15, hour=11))
    ask = only([m for m in story.new_mail() if "Wil je" in m.subject], "b.bakker@gemeente.example")
    story.drop(
        mail(
            sender="b.bakker@gemeente.example",
            subject=f"Re: {ask.subject}",
            body="Gegeven",
            in_reply_to=ask.mail.message_id,
        )
    )
    story.run(at(16))
    (given,) = [m for m in story.new_mail() if "compliment voor jullie" in m.subject]
    for who, text in ((ANNA, "Dank je wel!"), (PIET, "Leuk om te horen.")):
        story.drop(
            mail(
                sender=who,
                subject=f"Re: {given.subject}",
                body=text,
                in_reply_to=given.mail.message_id,
            )
        )
    story.run(at(17))
    out = story.new_mail()
    assert len([m for m in out if MAKER in m.to]) == 2, "each reaction reaches the maker"
    cap_request = only([m for m in out if "blijvend" in m.subject], "b.bakker@gemeente.example")
    story.drop(
        mail(
            sender="b.bakker@gemeente.example",
            subject=f"Re: {cap_request.subject}",
            body="CAP: We maken van de contractbegeleiding een vast werkproces.\n"
            "Gereed: 15 januari 2027",
            in_reply_to=cap_request.mail.message_id,
        )
    )
    story.run(at(18))
    story.new_mail()
    # asked after the due date (Fri 15 Jan): at 09:00 on Monday
    story.run(datetime(2027, 1, 15, 9, tzinfo=AMS))
    assert story.new_mail() == []
    story.run(datetime(2027, 1, 18, 9, tzinfo=AMS))
    check = only(story.new_mail(), "b.bakker@gemeente.example")
    assert "uitgevoerd" in check.subject.lower() and "contractbegeleiding" in check.text
    story.drop(
        mail(
            sender="b.bakker@gemeente.example",
            subject=f"Re: {check.subject}",
            body="UITGEVOERD",
            in_reply_to=check.mail.message_id,
        )
    )
    story.run(datetime(2027, 1, 18, 11, tzinfo=AMS))
    assert "afgesloten" in only(story.new_mail(), "b.bakker@gemeente.example").text


def test_it_sends_a_norm_reminder_missed_in_downtime_at_nine_the_next_working_day(
    story: Story,
) -> None:
    story.drop(mail(sender=MAKER, subject="Compliment voor Anna", body="Anna Jansen was geweldig."))
    story.run(at(7))
    story.new_mail()
    # the coordinator's norm passed (its reminder was due Thu 10 Dec 09:00) while mailbot
    # was down until Saturday evening: nothing at night or at the weekend
    story.run(at(12, hour=20))
    assert story.new_mail() == [], "no reminder on a Saturday evening"
    story.run(at(14, hour=8))
    assert story.new_mail() == [], "nor before nine"
    story.run(at(14, hour=9))
    assert "Herinnering" in only(story.new_mail(), KARIN).subject


def test_it_refuses_compliment_commands_from_the_wrong_role(story: Story) -> None:
    story.drop(mail(sender=MAKER, subject="Compliment", body="Piet de Vries was geweldig."))
    story.run(at(7))
    notice = only(story.new_mail(), KARIN)
    story.drop(
        mail(
            sender=ANNA,
            subject=f"Re: {notice.subject}",
            body="ONTVANGER: Piet de Vries",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.drop(
        mail(
            sender=MAKER,
            subject=f"Re: {notice.subject}",
            body="GEGEVEN",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(8))
    out = story.new_mail()
    refusal = only(out, ANNA)
    assert "complimentcoördinator" in refusal.text
    # the maker's GEGEVEN is no command and gets no answer; the coordinator reads it (SPEC §6),
    # and also Anna's suggestion of a receiver, which she may not give as a command
    assert [m.to for m in out if m is not refusal] == [[KARIN], [KARIN]]


def test_it_answers_help_on_a_compliment_with_the_compliment_commands(story: Story) -> None:
    story.drop(mail(sender=MAKER, subject="Compliment", body="Piet de Vries was geweldig."))
    story.run(at(7))
    notice = only(story.new_mail(), KARIN)
    story.drop(
        mail(
            sender=KARIN,
            subject=f"Re: {notice.subject}",
            body="HULP",
            in_reply_to=notice.mail.message_id,
        )
    )
    story.run(at(8))
    (answer,) = story.new_mail()
    assert answer.to == [KARIN] and "Opdrachten voor complimenten" in answer.subject
    assert "ONTVANGER" in answer.text


def test_it_never_thanks_a_forged_sender(make_config: Callable[..., Config]) -> None:
    story = Story(
        make_config(mailbot={"trusted_authserv_id": "mx.gemeente.example"}),
        ManualClock(at(7, hour=8)),
    )
    story.run()
    story.drop(
        mail(
            sender="ceo@bank.example",
            subject="Compliment",
            body="Geweldig team!",
            extra_headers=(
                "Authentication-Results: mx.gemeente.example; dmarc=fail header.from=bank.example"
            ),
        )
    )
    story.run(at(7))
    out = story.new_mail()
    assert [m.to for m in out] == [[KARIN]], (
        "the coordinator hears of it; the forged maker is not thanked"
    )


def test_it_makes_one_case_and_one_thank_you_per_compliment_in_a_burst(story: Story) -> None:
    for n in range(150):
        story.drop(
            mail(
                sender=f"klant{n}@klant.example",
                subject="Compliment",
                body=f"Dank voor hulp nummer {n}.",
            ),
            folder="complimenten",
        )
    story.run(at(7))
    out = story.new_mail()
    thanks = Counter(m.to[0] for m in out if "Dank u wel" in m.subject)
    assert len(thanks) == 150 and set(thanks.values()) == {1}
    story.run(at(8))
    assert [m for m in story.new_mail() if "Dank u wel" in m.subject] == []


CONFIG = """
[mailbot]
admins = ["beheer@gemeente.example"]
database = "sqlite:///mailbot.db"
lease_seconds = 2
[mailbox]
address = "leveranciers@gemeente.example"
path = "mailbox"
[organisation]
name = "Gemeente Voorbeeld"
domains = ["gemeente.example"]
compliment_coordinators = ["kwaliteit@gemeente.example"]
[[people]]
email = "kwaliteit@gemeente.example"
name = "Karin de Wit"
"""


@pytest.mark.slow
def test_it_thanks_each_maker_exactly_once_through_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(CONFIG)
    run = [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"]
    assert subprocess.run(run, capture_output=True, timeout=60).returncode == 0
    folder = tmp_path / "mailbox" / ".complimenten" / "new"
    for n in range(200):
        (folder / f"c{n}.eml").write_bytes(
            mail(sender=f"klant{n}@klant.example", subject="Compliment", body=f"Dank {n}!")
        )
    rng = random.Random(7)
    for _ in range(25):
        if not any(folder.parent.glob("*/*.eml")) and not any((folder.parent / "cur").glob("*")):
            break
        process = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 1.8))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(60)
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    with sqlite3.connect(tmp_path / "mailbot.db") as db:
        assert db.execute("select count(*) from cases where kind='compliment'").fetchone() == (200,)
        thanks = db.execute(
            "select count(*) from outbound_messages where dedup_key like '%:thanks'"
        ).fetchone()
        assert thanks == (200,)
    sent = [p.read_bytes() for p in (tmp_path / "mailbox" / ".Uitgaand" / "cur").iterdir()]
    makers = Counter(
        line.split(b"<")[-1].split(b">")[0] if b"<" in line else line.split(b": ")[1]
        for raw in sent
        for line in raw.split(b"\r\n")
        if line.startswith(b"To: ") and b"klant" in line
    )
    assert len(makers) == 200 and set(makers.values()) == {1}


BERT = "b.bakker@gemeente.example"  # Anna's manager


def answer(story: Story, sender: str, original: Sent, body: str) -> None:
    story.drop(
        mail(
            sender=sender,
            subject=f"Re: {original.subject}",
            body=body,
            in_reply_to=original.mail.message_id,
        )
    )


def praise(story: Story) -> Sent:
    """Mon 7 Dec 10:00: an outside maker praises two colleagues; the coordinator's notice."""
    story.drop(
        mail(
            sender=MAKER,
            sender_name="Mevr. J. de Groot",
            subject="Compliment",
            body="Piet de Vries en Anna Jansen hebben ons geweldig geholpen.",
        )
    )
    story.run(at(7))
    return only(story.new_mail(), KARIN)


def asks_to_give(story: Story) -> list[list[str]]:
    return [m.to for m in story.new_mail() if "Wil je" in m.subject]


def test_correcting_the_receiver_asks_the_new_receivers_manager(story: Story) -> None:
    """SPEC §5: provider = the receiver's manager unless given; a correction of the
    receivers chooses again, but a provider named with GEVER stays."""
    notice = praise(story)
    answer(story, KARIN, notice, "ONTVANGER: Piet de Vries")
    story.run(at(7, hour=11))
    assert asks_to_give(story) == [[MARIEKE]]
    answer(story, KARIN, notice, "ONTVANGER: Anna Jansen")
    story.run(at(7, hour=12))
    assert asks_to_give(story) == [[BERT]], "Anna's manager, not Piet's"
    answer(story, KARIN, notice, "ONTVANGER: Piet de Vries\nGEVER: kwaliteit@gemeente.example")
    story.run(at(7, hour=13))
    assert asks_to_give(story) == [[KARIN]]
    answer(story, KARIN, notice, "ONTVANGER: Anna Jansen")
    story.run(at(7, hour=14))
    assert asks_to_give(story) == [[KARIN]], "the provider named with GEVER stays"


def test_a_late_reaction_after_the_reminder_sends_the_cap_request(story: Story) -> None:
    """SPEC §12: with several receivers the CAP request goes when all reacted or the norm
    passed. Nobody reacted within the norm (a reminder went); one reacts later: the CAP
    request goes then, and the digest counts the reaction norm as missed."""
    notice = praise(story)
    answer(story, KARIN, notice, f"ONTVANGER: {PIET}, {ANNA}\nGEVER: {BERT}")
    story.run(at(7, hour=11))
    (ask,) = [m for m in story.new_mail() if "Wil je" in m.subject]
    answer(story, BERT, ask, "GEGEVEN")
    story.run(at(7, hour=12))
    (given,) = [m for m in story.new_mail() if "compliment voor" in m.subject.lower()]
    story.run(at(15, hour=9))  # 5 working days ran to the end of Mon 14 Dec
    (reminder,) = story.new_mail()
    assert sorted(reminder.to) == sorted([PIET, ANNA])
    answer(story, PIET, given, "Wat leuk, dank!")
    story.run(at(15, hour=14))
    out = story.new_mail()
    assert any("blijvend" in m.subject for m in out if BERT in m.to), "the CAP request goes"
    assert "Wat leuk" in only(out, MAKER).text
    app = story.app()
    try:
        figures = digest.build(app, Week(2026, 51), now=at(21, hour=8))
    finally:
        app.mailbox.close()
        app.db.close()
    (given_norm,) = [n for n in figures.norms_by_stage if n.stage == "given"]
    assert (given_norm.met, given_norm.counted) == (0, 1)


def test_a_receiver_of_ours_outside_the_directory_can_react(story: Story) -> None:
    """ONTVANGER takes any address of ours; such a receiver's reply is their reaction."""
    newcomer = "n.nieuw@gemeente.example"
    notice = praise(story)
    answer(story, KARIN, notice, f"ONTVANGER: {newcomer}\nGEVER: {BERT}")
    story.run(at(7, hour=11))
    (ask,) = [m for m in story.new_mail() if "Wil je" in m.subject]
    answer(story, BERT, ask, "GEGEVEN")
    story.run(at(7, hour=12))
    given = only(story.new_mail(), newcomer)
    answer(story, newcomer, given, "Wat een leuke verrassing!")
    story.run(at(8))
    out = story.new_mail()
    assert "leuke verrassing" in only(out, MAKER).text
    assert any("blijvend" in m.subject for m in out if BERT in m.to)


def test_a_provider_outside_the_directory_is_refused_and_explained(story: Story) -> None:
    """SPEC §12: command givers must be in the directory; a provider answers GEGEVEN."""
    notice = praise(story)
    answer(story, KARIN, notice, "ONTVANGER: Anna Jansen\nGEVER: n.nieuw@gemeente.example")
    story.run(at(7, hour=11))
    refusal = only(story.new_mail(), KARIN)
    assert "n.nieuw@gemeente.example staat niet in de lijst van medewerkers" in refusal.text
    assert cases_of(story)["CMP-2026-0001"] == "registered"


def test_receivers_are_promised_what_happens_to_their_reaction(
    make_config: Callable[..., Config],
) -> None:
    """The promise in the mail to the receivers follows the same rule as the sending:
    with `reaction_to_maker = false` nobody is told their reaction goes to the maker."""
    story = Story(
        make_config(organisation={"digest_to": []}, compliments={"reaction_to_maker": False}),
        ManualClock(at(7, hour=8)),
    )
    story.run()
    notice = praise(story)
    answer(story, KARIN, notice, f"ONTVANGER: {ANNA}")
    story.run(at(7, hour=11))
    (ask,) = [m for m in story.new_mail() if "Wil je" in m.subject]
    answer(story, BERT, ask, "GEGEVEN")
    story.run(at(7, hour=12))
    given = only(story.new_mail(), ANNA)
    assert "Wat vind je ervan?" in given.text
    assert "J. de Groot" not in given.text.split("Wat vind je ervan?")[1]
    answer(story, ANNA, given, "Dank je!")
    story.run(at(8))
    assert not any(MAKER in m.to for m in story.new_mail())


def cases_of(story: Story) -> dict[str, str]:
    app = story.app()
    try:
        with app.db.session() as session:
            return {c.ref: c.state for c in session.scalars(select(Case))}
    finally:
        app.mailbox.close()
        app.db.close()


def test_a_providers_command_is_confirmed_to_the_coordinator_too(story: Story) -> None:
    """SPEC §12: each command is confirmed to its sender, and to the owner (for a compliment:
    the coordinator) when someone else acted."""
    notice = praise(story)
    answer(story, KARIN, notice, f"ONTVANGER: {ANNA}")
    story.run(at(7, hour=11))
    out = story.new_mail()
    assert only(out, KARIN).cc == [], "the coordinator's own command: no copy to herself"
    ask = only([m for m in out if "Wil je" in m.subject], BERT)
    answer(story, BERT, ask, "Gegeven, net in het teamoverleg")
    story.run(at(7, hour=12))
    (done,) = [m for m in story.new_mail() if BERT in m.to]
    assert done.cc == [KARIN] and "De complimentcoördinator krijgt een kopie." in done.text


def test_a_receiver_whose_reaction_opens_with_a_command_word_still_reacts(story: Story) -> None:
    notice = praise(story)
    answer(story, KARIN, notice, f"ONTVANGER: {ANNA}")
    story.run(at(7, hour=11))
    ask = only([m for m in story.new_mail() if "Wil je" in m.subject], BERT)
    answer(story, BERT, ask, "GEGEVEN")
    story.run(at(7, hour=12))
    given = only(story.new_mail(), ANNA)
    answer(story, ANNA, given, "Help, wat een verrassing! Dank jullie wel.")
    story.run(at(8))
    assert "wat een verrassing" in only(story.new_mail(), MAKER).text


def test_status_with_a_case_number_answers_for_that_case_on_a_compliment_too(
    story: Story,
) -> None:
    notice = praise(story)
    story.drop(mail(sender=ANNA, subject="Compliment voor Piet", body="Piet de Vries was top."))
    story.run(at(7, hour=11))
    story.new_mail()
    answer(story, KARIN, notice, "STATUS CMP-2026-0002")
    story.run(at(7, hour=12))
    status = only(story.new_mail(), KARIN)
    assert "CMP-2026-0002" in status.subject


def test_a_makers_reply_reaches_the_coordinator_with_its_text_and_attachments(
    story: Story,
) -> None:
    """SPEC §6: what the owner (for a compliment: the coordinator) did not write is passed
    on under the case's tag with the original text; the maker gets no answer."""
    praise(story)
    thanks = only(story.outgoing(), MAKER)
    reply = EmailMessage()
    reply["From"] = f"Mevr. J. de Groot <{MAKER}>"
    reply["To"] = "leveranciers@gemeente.example"
    reply["Subject"] = f"Re: {thanks.subject}"
    reply["In-Reply-To"] = f"<{thanks.mail.message_id}>"
    reply["Message-ID"] = "<ook-marieke@klant.example>"
    reply.set_content("Vergeten te melden: ook Marieke Smit hielp mee, zij verdient het ook!")
    reply.add_attachment(b"\x89PNG foto", maintype="image", subtype="png", filename="team.png")
    story.drop(reply.as_bytes())
    story.run(at(7, hour=11))
    (forward,) = story.new_mail()  # to the coordinator only: the maker is never answered
    assert forward.to == [KARIN]
    assert forward.subject.startswith("[CMP-2026-0001] Bericht van Mevr. J. de Groot")
    assert "> Vergeten te melden: ook Marieke Smit hielp mee" in forward.text
    assert [(a.filename, a.content) for a in forward.mail.attachments] == [
        ("team.png", b"\x89PNG foto")
    ]


def test_a_colleagues_note_on_a_compliment_reaches_the_coordinator(story: Story) -> None:
    """A staff member's reply without a command is a note; the coordinator reads it too
    (the coordinator's own notes stay on the timeline only)."""
    notice = praise(story)
    answer(story, PIET, notice, "Leuk! Anna deed eigenlijk het meeste werk.")
    story.run(at(7, hour=11))
    forward = only(story.new_mail(), KARIN)
    assert "Je collega Piet de Vries" in forward.text
    assert "> Leuk! Anna deed eigenlijk het meeste werk." in forward.text
    answer(story, KARIN, notice, "Even nagevraagd bij de servicedesk.")
    story.run(at(7, hour=12))
    assert story.new_mail() == []


def bounce_of(original: Sent, failed: str) -> bytes:
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.klant.example>"
    report["To"] = "leveranciers@gemeente.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content(f"<{failed}>: host said: 550 5.1.1 User unknown\n")
    report.add_attachment(original.raw, maintype="message", subtype="rfc822")
    report.replace_header("Content-Type", "multipart/report; report-type=delivery-status")
    return report.as_bytes()


def test_a_bounced_thank_you_is_told_to_the_coordinator_once(story: Story) -> None:
    """SPEC §6: a bounce on a case reaches its owner (for a compliment: the coordinator),
    saying which mail did not arrive and where; a second report on the same mail adds
    nothing."""
    praise(story)
    thanks = only(story.outgoing(), MAKER)
    story.drop(bounce_of(thanks, MAKER))
    story.run(at(7, hour=11))
    (alert,) = story.new_mail()
    assert alert.to == [KARIN]
    assert alert.subject == "[CMP-2026-0001] Niet bezorgd: Dank u wel voor uw compliment"
    assert f"kon niet worden bezorgd bij {MAKER}" in alert.text
    assert "Het compliment loopt gewoon door" in alert.text
    story.drop(bounce_of(thanks, MAKER))
    story.run(at(7, hour=12))
    assert story.new_mail() == [], "one alert per bounced mail"


def test_a_bounced_bounce_alert_is_only_recorded(story: Story) -> None:
    """An unreachable coordinator must not be alerted about each alert, forever: a mail to
    one of our own addresses that bounces is recorded, and the admins hear of it once."""
    notice = praise(story)
    story.drop(bounce_of(notice, KARIN))
    story.run(at(7, hour=11))
    (told,) = story.new_mail()
    assert told.to == ["beheer@gemeente.example"] and KARIN in told.subject
    story.drop(bounce_of(notice, KARIN))
    story.run(at(7, hour=12))
    assert story.new_mail() == []


FORWARDED_AFTERTHOUGHT = """Zie onder, dit kwam bij mij binnen.

Van: Mevr. J. de Groot <j.degroot@klant.example>
Verzonden: maandag 7 december 2026 10:40
Aan: Piet de Vries <p.devries@gemeente.example>
Onderwerp: Nog iets

Ook Marieke Smit verdient een pluim, zij bleef tot laat.
"""


def test_a_colleagues_forward_reaches_the_coordinator_with_the_full_text(story: Story) -> None:
    """SPEC §6: passed on "with the original text", not only what is above the forward."""
    notice = praise(story)
    answer(story, PIET, notice, FORWARDED_AFTERTHOUGHT)
    story.run(at(7, hour=11))
    forward = only(story.new_mail(), KARIN)
    assert "Marieke Smit verdient een pluim" in forward.text


def test_a_colleagues_note_opening_with_a_command_word_reaches_the_coordinator(
    story: Story,
) -> None:
    notice = praise(story)
    answer(story, PIET, notice, "Ontvanger moet eigenlijk Anna zijn, zij deed het meeste werk.")
    story.run(at(7, hour=11))
    out = story.new_mail()
    assert "Niet uitgevoerd" in only(out, PIET).subject
    assert "zij deed het meeste werk" in only(out, KARIN).text


def test_a_coordinator_mailbox_outside_the_directory_never_gets_its_own_mail_back(
    make_config: Callable[..., Config],
) -> None:
    """A team mailbox as coordinator (not in [[people]]) that forwards everything to the
    shared mailbox must not be sent its own mail, or the two would loop."""
    team = "kwaliteitsteam@gemeente.example"
    story = Story(
        make_config(organisation={"digest_to": [], "compliment_coordinators": [team]}),
        ManualClock(at(7, hour=8)),
    )
    story.run()
    story.drop(mail(sender=MAKER, subject="Compliment", body="Piet de Vries hielp geweldig."))
    story.run(at(7))
    notice = only(story.new_mail(), team)
    answer(story, team, notice, "Ik bel de klant zelf even.")
    story.run(at(7, hour=11))
    assert story.new_mail() == []
