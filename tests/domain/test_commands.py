"""parse_command: the command word of a staff reply and its arguments."""

from __future__ import annotations

from datetime import date

import pytest

from mailbot.domain.commands import (
    Command,
    CommandError,
    NearMiss,
    Verb,
    find_case_refs,
    parse_command,
    parse_date,
)
from mailbot.domain.replytext import new_text


def command(text: str) -> Command:
    result = parse_command(text)
    assert isinstance(result, Command), f"{text!r} gave {result!r}"
    return result


def error(text: str) -> CommandError:
    result = parse_command(text)
    assert isinstance(result, CommandError), f"{text!r} gave {result!r}"
    assert result.message_nl
    assert result.message_en
    return result


# --------------------------------------------------------------------------- #
# Vocabulary
# --------------------------------------------------------------------------- #

VOCABULARY = [
    ("OPGELOST", "RESOLVED", Verb.RESOLVED),
    ("AKKOORD", "ACCEPT", Verb.ACCEPT),
    ("ONVOLDOENDE", "REJECT", Verb.REJECT),
    ("PAUZE", "PAUSE", Verb.PAUSE),
    ("HERVAT", "RESUME", Verb.RESUME),
    ("VERLENG 5", "EXTEND 5", Verb.EXTEND),
    ("ESCALEER", "ESCALATE", Verb.ESCALATE),
    ("VERSTUUR", "SEND", Verb.SEND),
    ("STATUS", "STATUS", Verb.STATUS),
    ("INTREKKEN", "WITHDRAW", Verb.WITHDRAW),
    ("HULP", "HELP", Verb.HELP),
    ("BEEINDIGD", "TERMINATED", Verb.TERMINATED),
    ("VOORTGEZET", "CONTINUED", Verb.CONTINUED),
    ("ONTVANGER: a@b.nl", "RECEIVER: a@b.nl", Verb.RECEIVER),
    ("GEVER: a@b.nl", "PROVIDER: a@b.nl", Verb.PROVIDER),
    ("GEGEVEN", "GIVEN", Verb.GIVEN),
    ("CAP: plan", "CAP: plan", Verb.CAP),
    ("GEEN CAP", "NO CAP", Verb.NO_CAP),
    ("UITGEVOERD", "DONE", Verb.DONE),
    ("KOPPEL", "LINK", Verb.LINK),
    ("NIET", "UNLINK", Verb.UNLINK),
    ("OVERDRAGEN a@b.nl", "HANDOVER a@b.nl", Verb.HANDOVER),
    ("SLUITEN", "CLOSE", Verb.CLOSE),
]


@pytest.mark.parametrize(
    ("dutch", "english", "verb"), VOCABULARY, ids=[v[2].name for v in VOCABULARY]
)
def test_it_accepts_the_dutch_and_the_english_word(dutch: str, english: str, verb: Verb) -> None:
    assert command(dutch).verb is verb
    assert command(english).verb is verb
    assert command(dutch.lower()).verb is verb
    assert command(english.title()).verb is verb


def test_it_covers_every_verb() -> None:
    assert {verb for _, _, verb in VOCABULARY} == set(Verb)


def test_it_uses_dutch_values_and_english_names() -> None:
    assert Verb.ACCEPT.value == "AKKOORD"
    assert str(Verb.ACCEPT) == "AKKOORD"
    assert Verb.NO_CAP.value == "GEEN CAP"
    assert Verb.ACCEPT.english == "ACCEPT"
    assert Verb.TERMINATED.value == "BEEINDIGD"


def test_it_tells_which_language_was_used() -> None:
    assert command("ACCEPT").english
    assert command("NO CAP").english
    assert not command("AKKOORD").english
    assert not command("HELP").english  # the same word in both languages
    assert not command("HULP").english
    assert command("ACCEPT").word == "ACCEPT"


@pytest.mark.parametrize(
    "text",
    [
        "AKKOORD",
        "akkoord",
        "Akkoord",
        "AKKOORD.",
        "Akkoord!",
        "Akkoord!!!",
        "**AKKOORD**",
        "*Akkoord*",
        "  AKKOORD  ",
        "\n\n\nAKKOORD\n",
        "akkoord graag",
        "Akkoord, dank je wel",
        "AKKOORD \u2013 bedankt",
    ],
)
def test_it_ignores_case_decoration_punctuation_and_politeness(text: str) -> None:
    assert command(text).verb is Verb.ACCEPT


@pytest.mark.parametrize("text", ["BEËINDIGD", "Beëindigd", "BEEINDIGD", "beeindigd."])
def test_it_folds_accents(text: str) -> None:
    assert command(text).verb is Verb.TERMINATED


@pytest.mark.parametrize("text", ["GEEN CAP", "Geen cap", "geen  CAP", "GEEN-CAP", "GEENCAP"])
def test_it_understands_the_two_word_command(text: str) -> None:
    assert command(text).verb is Verb.NO_CAP


def test_it_does_not_read_no_capacity_as_no_cap() -> None:
    assert parse_command("No capacity left this week") is None


# --------------------------------------------------------------------------- #
# Free text after the command
# --------------------------------------------------------------------------- #


def test_it_keeps_the_rest_of_the_line_as_argument() -> None:
    result = command("AKKOORD, prima werk")
    assert result.verb is Verb.ACCEPT
    assert result.argument == "prima werk"
    assert result.text == "prima werk"


def test_it_keeps_the_following_lines_as_body() -> None:
    result = command("ONVOLDOENDE\nDe analyse ontbreekt.\n\nMet vriendelijke groet,\nPiet")
    assert result.verb is Verb.REJECT
    assert result.argument == ""
    assert result.body == "De analyse ontbreekt.\n\nMet vriendelijke groet,\nPiet"
    assert result.text == "De analyse ontbreekt."


def test_it_accepts_free_text_after_a_command_in_capitals() -> None:
    result = command("ONVOLDOENDE de analyse ontbreekt")
    assert result.verb is Verb.REJECT
    assert result.argument == "de analyse ontbreekt"


@pytest.mark.parametrize("separator", [",", ";", ":", ".", "!", " -", " \u2013", " \u2014", ""])
def test_it_accepts_free_text_after_a_separator_or_none(separator: str) -> None:
    result = command(f"Opgelost{separator} nieuwe levering is binnen")
    assert result.verb is Verb.RESOLVED
    assert result.argument == "nieuwe levering is binnen"


@pytest.mark.parametrize(
    ("text", "verb", "argument"),
    [
        # SPEC §12: the first word is the command, case-insensitive; free text may follow
        ("Akkoord met het verbeterplan", Verb.ACCEPT, "met het verbeterplan"),
        ("Akkoord met het herstel, dank.", Verb.ACCEPT, "met het herstel, dank."),
        ("Opgelost sinds vanochtend", Verb.RESOLVED, "sinds vanochtend"),
        ("Escaleer maar", Verb.ESCALATE, "maar"),
        ("onvoldoende analyse aangeleverd", Verb.REJECT, "analyse aangeleverd"),
        ("Hervat de escalatie maar weer", Verb.RESUME, "de escalatie maar weer"),
        ("Verstuur hem maar", Verb.SEND, "hem maar"),
        ("Intrekken want het is dubbel", Verb.WITHDRAW, "want het is dubbel"),
        ("Beëindigd per 1 maart", Verb.TERMINATED, "per 1 maart"),
        ("Voortgezet onder nieuwe voorwaarden", Verb.CONTINUED, "onder nieuwe voorwaarden"),
        ("Uitgevoerd zoals gepland", Verb.DONE, "zoals gepland"),
        ("Gegeven tijdens het teamoverleg", Verb.GIVEN, "tijdens het teamoverleg"),
        ("Geen cap nodig, het was eenmalig", Verb.NO_CAP, "nodig, het was eenmalig"),
        ("Sluiten want niemand reageert", Verb.CLOSE, "want niemand reageert"),
        ("Accept the plan, good work", Verb.ACCEPT, "the plan, good work"),
        ("resolved since this morning", Verb.RESOLVED, "since this morning"),
        ("Escalate now, nothing has improved", Verb.ESCALATE, "now, nothing has improved"),
        ("reject the plan, it has no root cause", Verb.REJECT, "the plan, it has no root cause"),
        ("Withdraw it, duplicate case", Verb.WITHDRAW, "it, duplicate case"),
        ("no cap needed this time", Verb.NO_CAP, "needed this time"),
        ("Unlink this one, wrong supplier", Verb.UNLINK, "this one, wrong supplier"),
    ],
)
def test_it_reads_a_lower_case_command_word_followed_by_free_text(
    text: str, verb: Verb, argument: str
) -> None:
    result = command(text + "\n\nGroet, Anna")
    assert result.verb is verb
    assert result.argument == argument


def test_it_keeps_the_free_text_of_a_sentence_command() -> None:
    result = command("Akkoord met het verbeterplan\nDe planning is haalbaar.\n\nGroet,\nAnna")
    assert result.verb is Verb.ACCEPT
    assert result.text == "met het verbeterplan\nDe planning is haalbaar."


@pytest.mark.parametrize(
    ("text", "verb"),
    [
        # The first word decides even where the sentence was not meant as one (SPEC §12);
        # read-only verbs just answer, and verbs that act mostly need the case to be in
        # the state they belong to (the service refuses and says why otherwise).
        ("Help me understand what happened", Verb.HELP),
        ("Status update: de leverancier heeft gebeld", Verb.STATUS),
        ("STATUS UPDATE: leverancier belde", Verb.STATUS),
        ("Status van de levering is onduidelijk", Verb.STATUS),
        ("Send me the file please", Verb.SEND),
        ("Close call, but it worked", Verb.CLOSE),
        ("Given the circumstances I agree", Verb.GIVEN),
        ("Link naar het rapport: https://example.com", Verb.LINK),
        ("Ontvanger is nog onbekend", Verb.RECEIVER),
        ("Cap is te hoog", Verb.CAP),
    ],
)
def test_it_reads_the_first_word_as_the_command_whatever_follows(text: str, verb: Verb) -> None:
    result = command(text)
    assert result.verb is verb
    assert result.case_ref is None


# --------------------------------------------------------------------------- #
# Traps: sentences that start with a command word
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "text",
    [
        "Niet akkoord",
        "NIET AKKOORD",
        "Niet akkoord.",
        "niet akkoord met het verbeterplan",
        "Niet akkoord, de analyse ontbreekt",
        "niet mee eens",
        "Niet goed genoeg",
        "Akkoord?",
        "AKKOORD?",
        "Akkoord? Ik twijfel nog",
        "Opgelost? Volgens mij niet",
        "Beste Jan,\nAKKOORD",
        "Hallo",
        "",
        "   \n  ",
        "12345",
    ],
)
def test_it_treats_prose_as_a_note(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize("text", ["NIET", "Niet", "niet.", "NIET!", "Niet, bedankt", "NIET graag"])
def test_it_unlinks_only_on_a_bare_niet(text: str) -> None:
    assert command(text).verb is Verb.UNLINK


@pytest.mark.parametrize(
    "text", ["Niet akkoord", "niet akkoord met het herstel", "NIET AKKOORD", "Niet, akkoord"]
)
def test_it_never_reads_niet_akkoord_as_akkoord(text: str) -> None:
    """SPEC §12: "Niet akkoord" is not AKKOORD (whatever else it may be)."""
    result = parse_command(text)
    assert not (isinstance(result, Command) and result.verb is Verb.ACCEPT)


def test_it_answers_questions_for_help_and_status() -> None:
    assert command("Help?").verb is Verb.HELP
    assert command("Status?").verb is Verb.STATUS
    assert command("HELP PAUZE").argument == "PAUZE"


def test_it_does_not_see_a_command_in_quoted_text() -> None:
    reply = (
        "Dank voor je bericht.\n\n"
        "Op ma 14 dec. 2026 om 10:12 schreef Jan <jan@acme.example>:\n"
        "> AKKOORD"
    )
    assert parse_command(new_text(reply)) is None


def test_it_reads_commands_from_html_only_replies() -> None:
    html = (
        "<html><body><div>AKKOORD</div><div><hr>"
        "<b>Van:</b> Jan Jansen &lt;jan@acme.example&gt;<br>"
        "<b>Verzonden:</b> maandag 14 december 2026 10:12<br>"
        "<b>Aan:</b> mailbot@example.nl<br><b>Onderwerp:</b> RE: ESC-2026-0001</div>"
        "<div>ONVOLDOENDE</div></body></html>"
    )
    assert command(new_text("", html)).verb is Verb.ACCEPT


def test_it_reads_commands_in_outlook_bold_plain_text() -> None:
    reply = (
        "**ONVOLDOENDE**\n\n*Van:* Jan\n*Verzonden:* maandag\n*Aan:* x\n*Onderwerp:* y\n\nAKKOORD"
    )
    assert command(new_text(reply)).verb is Verb.REJECT


# --------------------------------------------------------------------------- #
# Near misses
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "word", "suggestion"),
    [
        ("AKOORD", "AKOORD", Verb.ACCEPT),
        ("Akord", "Akord", Verb.ACCEPT),
        ("akkord, prima", "akkord", Verb.ACCEPT),
        ("Akord met de planning", "Akord", Verb.ACCEPT),  # a typo in a sentence still asks
        ("akoord met het verbeterplan", "akoord", Verb.ACCEPT),
        ("Opgelsot sinds vanochtend", "Opgelsot", Verb.RESOLVED),
        ("ONVOLDENDE", "ONVOLDENDE", Verb.REJECT),
        ("ONVOLDOEDNE", "ONVOLDOEDNE", Verb.REJECT),  # swapped letters
        ("OPGELSOT", "OPGELSOT", Verb.RESOLVED),
        ("PAUSED", "PAUSED", Verb.PAUSE),
        ("ESCALEREN", "ESCALEREN", Verb.ESCALATE),
        ("SLUIT", "SLUIT", Verb.CLOSE),
        ("ACCEPTED", "ACCEPTED", Verb.ACCEPT),
        ("BEËINDIG", "BEEINDIG", Verb.TERMINATED),
    ],
)
def test_it_spots_near_misses(text: str, word: str, suggestion: Verb) -> None:
    assert parse_command(text) == NearMiss(word, suggestion)


@pytest.mark.parametrize(
    "text",
    [
        "Hello",
        "Please",
        "Dank",
        "Hoi",
        "Ontvangen, dank je",  # "received" is one letter from ONTVANGER
        "Gegevens volgen",
        "Verstuurd!",
        "Gekoppeld.",
        "Linked the answer below",  # two letters from LINK: too far for a short word
        "Niets aan de hand",  # one letter from NIET
        "Hele fijne analyse",  # one letter from HELP
        "Opgelet: de leverancier belt morgen",  # two letters from OPGELOST
        "Links hieronder het rapport",
        "None of this is new",  # one letter from DONE
        "Akord?",
        "CAT",  # too short to guess
        "Piet belde net",  # one letter from NIET, which counts only alone
        "Ziet er slecht uit",
        "Cause of the outage: a full disk",  # one letter from PAUSE
        "Except for the backups, all is well",  # two letters from ACCEPT
        "Result: nothing changed",  # two letters from RESUME
        "Doen we!",  # one letter from DONE
    ],
)
def test_it_does_not_guess_at_ordinary_words(text: str) -> None:
    assert parse_command(text) is None


# --------------------------------------------------------------------------- #
# Arguments
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("PAUZE 5 werkdagen", 5),
        ("PAUZE 1 werkdag", 1),
        ("pauze 3", 3),
        ("PAUSE 4 working days", 4),
        ("Pause 2 business days please", 2),
        ("PAUZE: 10 werkdagen", 10),
        ("VERLENG 5", 5),
        ("Verleng met vijf werkdagen", 5),
        ("EXTEND 10 working days, thanks", 10),
        ("VERLENG twintig", 20),
    ],
)
def test_it_reads_working_days(text: str, days: int) -> None:
    assert command(text).days == days


def test_it_allows_pause_without_days() -> None:
    result = command("PAUZE")
    assert result.verb is Verb.PAUSE
    assert result.days is None
    assert command("Pauze, graag").days is None
    assert command("PAUZE\nDe leverancier is met vakantie.").days is None


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Verleng 5 werkdagen, ze wachten op onderdelen", 5),
        ("pauze 3 werkdagen. De leverancier is met vakantie", 3),
        ("Extend 10 working days - parts are on the way", 10),
        ("VERLENG met vijf werkdagen; planning volgt", 5),
    ],
)
def test_it_reads_working_days_followed_by_free_text(text: str, days: int) -> None:
    assert command(text).days == days


@pytest.mark.parametrize(
    "text",
    [
        "VERLENG abc",
        "VERLENG",
        "EXTEND",
        "VERLENG 0",
        "VERLENG 999",
        "PAUZE 5 dagen",
        "PAUZE x",
        "Pauze tot maandag",  # a pause without end would be a guess: ask for working days
        "Pauze is voorbij",
        "verleng met een week",
        "Pauze 2.5 werkdagen",
    ],
)
def test_it_reports_bad_day_counts(text: str) -> None:
    result = error(text)
    assert result.verb in {Verb.EXTEND, Verb.PAUSE}
    assert "werkdagen" in result.message_nl
    assert "working days" in result.message_en


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("STATUS ESC-2026-0001", "ESC-2026-0001"),
        ("status cmp-2026-0042", "CMP-2026-0042"),
        ("Status van ESC-2026-0001?", "ESC-2026-0001"),
        ("STATUS: ESC-2026-0001, graag", "ESC-2026-0001"),
        ("status ESC-2026-0001, de leverancier belde net", "ESC-2026-0001"),
    ],
)
def test_it_reads_the_case_of_a_status_request(text: str, ref: str) -> None:
    result = command(text)
    assert result.verb is Verb.STATUS
    assert result.case_ref == ref


def test_it_allows_status_without_a_case() -> None:
    assert command("STATUS").case_ref is None
    assert command("Status: hoe staat het ervoor?").case_ref is None


@pytest.mark.parametrize("text", ["STATUS ESC-26-1", "STATUS ESC-2026-12345", "status cmp 2026"])
def test_it_reports_malformed_case_numbers(text: str) -> None:
    assert error(text).verb is Verb.STATUS


def test_it_links_to_a_named_case() -> None:
    assert command("KOPPEL aan ESC-2026-0003").case_ref == "ESC-2026-0003"
    assert command("LINK").case_ref is None


@pytest.mark.parametrize(
    ("text", "receivers"),
    [
        ("ONTVANGER: jan@acme.nl", ("jan@acme.nl",)),
        ("ONTVANGER:jan@acme.nl", ("jan@acme.nl",)),
        ("ONTVANGER : jan@acme.nl", ("jan@acme.nl",)),
        ("Ontvanger: Piet Jansen", ("Piet Jansen",)),
        (
            "ONTVANGER: jan@acme.nl, Team Inkoop; Piet Jansen",
            ("jan@acme.nl", "Team Inkoop", "Piet Jansen"),
        ),
        ("RECEIVER: Jan <jan@acme.nl>", ("Jan <jan@acme.nl>",)),
        ("**ONTVANGER:** jan@acme.nl.", ("jan@acme.nl",)),
    ],
)
def test_it_reads_receivers(text: str, receivers: tuple[str, ...]) -> None:
    result = command(text)
    assert result.verb is Verb.RECEIVER
    assert result.receivers == receivers
    assert result.provider is None


def test_it_reads_the_provider_line_below_receivers() -> None:
    result = command("ONTVANGER: jan@acme.nl\nGEVER: Piet <Piet@Acme.nl>\n\nGroet, Kees")
    assert result.receivers == ("jan@acme.nl",)
    assert result.provider == "piet@acme.nl"
    english = command("RECEIVER: jan@acme.nl\nProvider: piet@acme.nl")
    assert english.provider == "piet@acme.nl"


@pytest.mark.parametrize(
    "text", ["ONTVANGER:", "ONTVANGER", "ONTVANGER: jan@", "ONTVANGER: a@b.nl\nGEVER: Piet"]
)
def test_it_reports_bad_receivers(text: str) -> None:
    assert error(text).verb is Verb.RECEIVER


def test_it_reads_a_provider_command() -> None:
    assert command("GEVER: jan@acme.nl").provider == "jan@acme.nl"
    assert command("Provider jan@acme.nl").provider == "jan@acme.nl"
    assert command("gever wordt jan@acme.nl").provider == "jan@acme.nl"
    assert command("GEVER").provider is None
    assert error("GEVER: Jan Jansen").verb is Verb.PROVIDER
    assert error("Gever is nog niet bekend").verb is Verb.PROVIDER


@pytest.mark.parametrize(
    ("text", "record"),
    [
        ("GEGEVEN", False),
        ("GEGEVEN DOSSIER", True),
        ("Gegeven dossier", True),
        ("GEGEVEN\nDOSSIER", True),
        ("GEGEVEN\n\ndossier.", True),
        ("GIVEN RECORD", True),
        ("GEGEVEN, mondeling", False),
    ],
)
def test_it_reads_whether_a_compliment_goes_on_record(text: str, record: bool) -> None:
    result = command(text)
    assert result.verb is Verb.GIVEN
    assert result.record is record


def test_it_reads_a_corrective_action_plan_over_several_lines() -> None:
    result = command(
        "CAP: We passen de planning aan\nen voeren een extra controle in.\n"
        "Gereed: 12 januari 2027\n\nMet vriendelijke groet,\nJan"
    )
    assert result.verb is Verb.CAP
    assert result.text == "We passen de planning aan\nen voeren een extra controle in."
    assert result.due == date(2027, 1, 12)


def test_it_reads_a_cap_without_due_date_and_in_english() -> None:
    assert command("CAP\nExtra training for the drivers").text == "Extra training for the drivers"
    result = command("CAP: retrain staff\nDue: January 12, 2027")
    assert result.due == date(2027, 1, 12)
    assert result.text == "retrain staff"


@pytest.mark.parametrize(
    "text", ["CAP", "CAP:", "CAP: plan\nGereed: morgen", "CAP: x\nDue: 31-02-2027"]
)
def test_it_reports_bad_caps(text: str) -> None:
    assert error(text).verb is Verb.CAP


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("OVERDRAGEN piet@acme.nl", "piet@acme.nl"),
        ("Overdragen aan Piet <Piet@Acme.nl>", "piet@acme.nl"),
        ("HANDOVER to mailto:kees@acme.nl", "kees@acme.nl"),
        ("OVERDRAGEN: piet@acme.nl, graag", "piet@acme.nl"),
    ],
)
def test_it_reads_the_handover_address(text: str, email: str) -> None:
    result = command(text)
    assert result.verb is Verb.HANDOVER
    assert result.email == email


@pytest.mark.parametrize(
    "text",
    [
        "OVERDRAGEN not-an-email",
        "OVERDRAGEN",
        "OVERDRAGEN a@b.nl c@d.nl",
        "HANDOVER: Piet",
        "Overdragen aan Piet",
    ],
)
def test_it_reports_bad_handover_addresses(text: str) -> None:
    assert error(text).verb is Verb.HANDOVER


def test_it_keeps_the_text_of_continued() -> None:
    result = command("VOORTGEZET: de leverancier werkt mee\nVolgende week meer.")
    assert result.verb is Verb.CONTINUED
    assert result.text == "de leverancier werkt mee\nVolgende week meer."
    assert command("Voortgezet met de leverancier").text == "met de leverancier"


def test_it_reads_a_cap_and_a_record_in_lower_case() -> None:
    cap = command("cap we geven het team een extra training\nGereed: 12-01-2027")
    assert cap.text == "we geven het team een extra training"
    assert cap.due == date(2027, 1, 12)
    assert command("gegeven, gaat in het dossier\ndossier").record


# --------------------------------------------------------------------------- #
# Dates and case references
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "text",
    [
        "12-01-2027",
        "12/01/2027",
        "12.1.2027",
        "2027-01-12",
        "12 januari 2027",
        "12 jan 2027",
        "12 jan. 2027",
        "dinsdag 12 januari 2027",
        "January 12, 2027",
        "Jan 12 2027",
        "12 January 2027",
        "12th January 2027",
    ],
)
def test_it_parses_due_dates(text: str) -> None:
    assert parse_date(text) == date(2027, 1, 12)


@pytest.mark.parametrize(
    "text", ["", "morgen", "12 januari", "31-02-2027", "13 smarch 2027", "01-13-2027"]
)
def test_it_rejects_non_dates(text: str) -> None:
    assert parse_date(text) is None


def test_it_finds_case_references_in_order_once_upper_case() -> None:
    text = "Re: [esc-2026-0001] zie CMP-2026-0002 en ESC-2026-0001 (ESC-2026-00012, XESC-2026-0003)"
    assert find_case_refs(text) == ["ESC-2026-0001", "CMP-2026-0002"]
    assert find_case_refs("geen zaak") == []


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Gegeven", True),
        ("GIVEN the holidays came first", True),
        ("Gegeven, met taart.", True),
        ("Gegeven!", True),
        ("Given the holidays, I will give it in January.", False),
        ("Geen cap nodig", False),
        ("geen cap", True),
    ],
)
def test_it_tells_a_plain_command_from_a_sentence_that_opens_with_one(
    text: str, plain: bool
) -> None:
    """Across the supplier boundary nobody confirms a command back: only a plain one acts."""
    parsed = parse_command(text)
    assert isinstance(parsed, Command) and parsed.plain is plain


@pytest.mark.parametrize(
    ("text", "remark"),
    [
        ("STATUS ESC-2026-0007\n\nBert", ""),
        ("status?", ""),
        ("Status update: bij ons faalt het ook.", "update: bij ons faalt het ook"),
        ("Akkoord met Anna, de leverancier belde", "met Anna, de leverancier belde"),
        ("OPGELOST", ""),
    ],
)
def test_it_keeps_what_the_command_line_says_besides_the_word(text: str, remark: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, Command) and parsed.remark == remark
