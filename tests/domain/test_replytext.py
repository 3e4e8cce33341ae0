"""new_text / html_to_text against hand-written cases and the shared reply corpora.

The corpora live beside the repository (../shared/corpora) and are never
copied in. A missing corpus folder fails loudly: nothing here is skipped.
"""

from __future__ import annotations

import email
import email.iterators
import re
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from mailbot.domain.replytext import html_to_text, new_text, quote_start

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
DISCOURSE = CORPORA / "discourse-email_reply_trimmer" / "test"
TALON = CORPORA / "mailgun-talon" / "tests" / "fixtures"


def _missing(folder: Path) -> str:
    return (
        f"corpus folder {folder} is missing: the tests expect the shared corpora checked "
        f"out as ../shared/corpora beside the repository"
    )


def _files(folder: Path, pattern: str, minimum: int) -> list[Any]:
    """Parametrisation that turns a missing/shrunken corpus into a failing case."""
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if len(found) < minimum:
        return [pytest.param(None, id=f"MISSING:{folder.name}/{pattern}")]
    return [pytest.param(path, id=path.name) for path in found]


def _require(path: Path | None, folder: Path) -> Path:
    if path is None:
        pytest.fail(_missing(folder))
    return path


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- #
# The Dutch/English contract, by hand
# --------------------------------------------------------------------------- #

OUTLOOK_NL = """\
AKKOORD

Met vriendelijke groet,
Piet de Vries

Van: Jan Jansen <jan@acme.example>
Verzonden: maandag 14 december 2026 10:12
Aan: Mailbot <mailbot@example.nl>
CC: Kees <kees@example.nl>
Onderwerp: RE: [ESC-2026-0001] Levering te laat

ONVOLDOENDE
Dit is de oorspronkelijke tekst.
"""

OUTLOOK_NL_BOLD = """\
Onvoldoende, de analyse ontbreekt.

________________________________
*Van:* Jan Jansen [mailto:jan@acme.example]
*Verzonden:* maandag 14 december 2026 10:12
*Aan:* mailbot@example.nl
*Onderwerp:* ESC-2026-0001
"""

OUTLOOK_NEW_EN_HEADERS_IN_NL_MAIL = """\
PAUZE 5 werkdagen

From: Jan Jansen <jan@acme.example>
Sent: Monday, December 14, 2026 10:12 AM
To: Mailbot <mailbot@example.nl>
Subject: RE: ESC-2026-0001
"""

GMAIL_NL = """\
AKKOORD, prima werk

Op ma 14 dec. 2026 om 10:12 schreef Jan Jansen <jan@acme.example>:

> Beste leverancier,
> AKKOORD
"""

GMAIL_NL_WRAPPED = """\
Hervat
Op ma 14 dec. 2026 om 10:12 schreef Jan Jansen <
jan@acme.example>:
> ONVOLDOENDE
"""

GMAIL_NL_WRAPPED_AFTER_VERB = """\
VERLENG 3

Op ma 14 dec. 2026 om 10:12 schreef
Jan Jansen <jan@acme.example>:

> tekst
"""

APPLE_MAIL_NL = """\
Opgelost

Verstuurd vanaf mijn iPhone

> Op 14 dec. 2026 om 10:12 heeft Jan Jansen <jan@acme.example> het volgende geschreven:
>
> AKKOORD
"""

HTML_OUTLOOK_NL = """\
<html><head><style>p.MsoNormal {margin:0cm}</style></head>
<body lang="NL"><div class="WordSection1">
<div>AKKOORD</div>
<div><p class="MsoNormal">&nbsp;</p></div>
<div><hr tabindex="-1">
<p class="MsoNormal"><b>Van:</b> Jan Jansen &lt;jan@acme.example&gt;<br>
<b>Verzonden:</b> maandag 14 december 2026 10:12<br>
<b>Aan:</b> mailbot@example.nl<br>
<b>Onderwerp:</b> RE: ESC-2026-0001</p></div>
<p class="MsoNormal">ONVOLDOENDE</p>
</div></body></html>
"""

HTML_GMAIL_NL = """\
<div dir="ltr">Akkoord</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">
Op ma 14 dec. 2026 om 10:12 schreef Jan Jansen &lt;<a href="mailto:jan@acme.example">
jan@acme.example</a>&gt;:<br></div><blockquote class="gmail_quote">
<div>ONVOLDOENDE</div></blockquote></div>
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            OUTLOOK_NL, "AKKOORD\n\nMet vriendelijke groet,\nPiet de Vries", id="outlook-nl"
        ),
        pytest.param(OUTLOOK_NL_BOLD, "Onvoldoende, de analyse ontbreekt.", id="outlook-nl-bold"),
        pytest.param(
            OUTLOOK_NEW_EN_HEADERS_IN_NL_MAIL, "PAUZE 5 werkdagen", id="outlook-from-sent"
        ),
        pytest.param(GMAIL_NL, "AKKOORD, prima werk", id="gmail-nl"),
        pytest.param(GMAIL_NL_WRAPPED, "Hervat", id="gmail-nl-wrapped-address"),
        pytest.param(GMAIL_NL_WRAPPED_AFTER_VERB, "VERLENG 3", id="gmail-nl-wrapped-after-verb"),
        pytest.param(APPLE_MAIL_NL, "Opgelost", id="apple-mail-nl-iphone"),
        pytest.param(
            "AKKOORD\n-----Oorspronkelijk bericht-----\nVan: x\nAKKOORD", "AKKOORD", id="oorspr"
        ),
        pytest.param("Ok\n\n-----Original Message-----\nFrom: x", "Ok", id="original-message"),
        pytest.param(
            "Hoi\n\nOn Mon, Dec 14, 2026 at 10:12 AM Jan Jansen <jan@acme.example> wrote:\n> x",
            "Hoi",
            id="gmail-en",
        ),
        pytest.param(
            "Hoi\n\nOn Mon, Dec 14, 2026 at 10:12 AM, Jan Jansen wrote:\n\nunquoted original",
            "Hoi",
            id="on-wrote-unquoted",
        ),
        pytest.param(
            "Danke\n\nAm 14.12.2026 um 10:12 schrieb Jan Jansen <jan@acme.example>:\n> x",
            "Danke",
            id="german",
        ),
        pytest.param(
            "Merci\n\nLe lun. 14 déc. 2026 à 10:12, Jan <jan@acme.example> a écrit\u00a0:\n> x",
            "Merci",
            id="french",
        ),
        pytest.param(
            "Zie onder.\n\nBegin doorgestuurd bericht:\n\nVan: Klant <k@example.com>\n",
            "Zie onder.",
            id="apple-forward-nl",
        ),
        pytest.param(
            "Kijk\n\nBegin forwarded message:\n\n> From: Klant <k@example.com>",
            "Kijk",
            id="apple-forward-en",
        ),
        pytest.param(
            "Compliment!\n\n---------- Doorgestuurd bericht ---------\nVan: Klant <k@x.com>",
            "Compliment!",
            id="gmail-forward-nl",
        ),
        pytest.param(
            "Compliment!\n\n---------- Forwarded message ---------\nFrom: Klant <k@x.com>",
            "Compliment!",
            id="gmail-forward-en",
        ),
        pytest.param("AKKOORD\n\nVerzonden vanaf mijn iPhone", "AKKOORD", id="verzonden-iphone"),
        pytest.param("AKKOORD\n\nVerstuurd vanaf mijn iPad\n", "AKKOORD", id="verstuurd-ipad"),
        pytest.param("AKKOORD\n\nSent from my iPhone\n\nold stuff", "AKKOORD", id="sent-iphone"),
        pytest.param(
            "AKKOORD\n\nGet Outlook for iOS<https://aka.ms/o0ukef>", "AKKOORD", id="get-outlook"
        ),
        pytest.param(
            "CAP: nieuwe leverancier\nVerzonden met DHL naar de klant",
            "CAP: nieuwe leverancier\nVerzonden met DHL naar de klant",
            id="verzonden-met-prose-is-kept",
        ),
        pytest.param(
            "> AKKOORD\n> Oude tekst\n\nONVOLDOENDE, nog niet goed\n\n> meer quote",
            "ONVOLDOENDE, nog niet goed",
            id="bottom-post",
        ),
        pytest.param("> AKKOORD\n> alleen quote\n", "", id="quote-only"),
        pytest.param(
            "Van: Klant <k@example.com>\nVerzonden: vandaag\nAan: x\nOnderwerp: y\n\nAKKOORD",
            "",
            id="forward-without-comment-has-no-new-text",
        ),
        pytest.param(
            "Op 3 mei hebben we gebeld.\nHet leverdatum is 12-01-2027 10:00.\n\nGroet, Jan",
            "Op 3 mei hebben we gebeld.\nHet leverdatum is 12-01-2027 10:00.\n\nGroet, Jan",
            id="op-prose-is-kept",
        ),
        pytest.param(
            "ONTVANGER: jan@acme.example\nGEVER: piet@acme.example\n",
            "ONTVANGER: jan@acme.example\nGEVER: piet@acme.example",
            id="command-lines-with-colons-are-kept",
        ),
        pytest.param("\r\n\r\nAKKOORD\r\n\r\n", "AKKOORD", id="crlf-and-blank-lines"),
        pytest.param("\ufeffAKKOORD\u200b", "AKKOORD", id="invisible-characters"),
    ],
)
def test_it_keeps_only_what_the_sender_wrote(body: str, expected: str) -> None:
    assert new_text(body) == expected


def test_it_uses_html_when_the_plain_part_is_empty() -> None:
    assert new_text("", HTML_OUTLOOK_NL) == "AKKOORD"
    assert new_text("  \n ", HTML_OUTLOOK_NL) == "AKKOORD"
    assert new_text("", HTML_GMAIL_NL) == "Akkoord"


def test_it_prefers_the_plain_part_when_it_has_text() -> None:
    assert new_text("ONVOLDOENDE", "<p>AKKOORD</p>") == "ONVOLDOENDE"


def test_it_returns_empty_text_for_an_empty_mail() -> None:
    assert new_text("") == ""
    assert new_text("", None) == ""
    assert new_text("", "<html><head><title>x</title></head><body> </body></html>") == ""


def test_it_never_lets_a_quoted_command_through() -> None:
    for body in (GMAIL_NL, APPLE_MAIL_NL, OUTLOOK_NL):
        assert "ONVOLDOENDE" not in new_text(body)
        assert "AKKOORD\n" not in new_text(body).replace("AKKOORD\n\nMet", "")
    assert "ONVOLDOENDE" not in new_text("", HTML_OUTLOOK_NL)
    assert "ONVOLDOENDE" not in new_text("", HTML_GMAIL_NL)


def test_it_reports_where_the_quote_starts() -> None:
    assert quote_start(GMAIL_NL.splitlines()) == 2
    assert quote_start(OUTLOOK_NL.splitlines()) == 5
    assert quote_start(["just text", "more"]) is None


# --------------------------------------------------------------------------- #
# html_to_text
# --------------------------------------------------------------------------- #


def test_it_turns_blocks_and_breaks_into_lines() -> None:
    html = "<div>een</div><div><br></div><p>twee<br>drie</p><ul><li>a</li><li>b</li></ul>"
    assert html_to_text(html) == "een\n\ntwee\ndrie\na\nb"


def test_it_drops_head_script_and_style() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head>"
        "<body><script>alert(1)</script><p>tekst</p><!-- comment --></body></html>"
    )
    assert html_to_text(html) == "tekst"


def test_it_unescapes_entities_and_collapses_whitespace() -> None:
    html = "<p>  Jan &amp;\n   Piet &lt;jan@x.nl&gt;&nbsp;&euro;5 </p>"
    assert html_to_text(html) == "Jan & Piet <jan@x.nl> €5"


def test_it_prefixes_blockquotes_per_level() -> None:
    html = "<p>boven</p><blockquote>een<blockquote>twee<br>drie</blockquote>vier</blockquote>na"
    assert html_to_text(html) == "boven\n> een\n> > twee\n> > drie\n> vier\nna"


def test_it_renders_tables_row_by_row() -> None:
    html = "<table><tr><td>Zaak</td><td>ESC-2026-0001</td></tr><tr><td>Status</td></tr></table>"
    assert html_to_text(html) == "Zaak ESC-2026-0001\nStatus"


def test_it_keeps_preformatted_text() -> None:
    assert html_to_text("<pre>  a\n    b</pre>") == "  a\n    b"


def test_it_keeps_outlook_empty_paragraphs_as_one_blank_line() -> None:
    html = "<p>een</p><p>&nbsp;</p><p>&nbsp;</p><p>twee</p><p> </p><p>drie</p>"
    assert html_to_text(html) == "een\n\ntwee\ndrie"


def test_it_survives_broken_html() -> None:
    assert html_to_text("<head><title>x<body><p>tekst</div></b>") == "tekst"
    assert html_to_text("<p>open <b>bold") == "open bold"


# --------------------------------------------------------------------------- #
# Corpora
# --------------------------------------------------------------------------- #

# Where the discourse trimmer's convention and our contract genuinely differ.
DISCOURSE_XFAIL = {
    "embedded_email_17.txt": "an 'On … wrote:' line on top followed by unquoted text: the "
    "trimmer reads the text below as the reply, we treat it as the quoted original (safe side)",
    "embedded_email_18.txt": "same as embedded_email_17: attribution on top, unquoted text below",
    "forwarded_message.txt": "a forward without any comment: the trimmer returns the forwarded "
    "body, our contract says the sender wrote nothing (find_forwarded reads the body)",
}


def _discourse_cases() -> list[Any]:
    cases = _files(DISCOURSE / "emails", "*.txt", 60)
    marked = []
    for case in cases:
        path = case.values[0]
        if path is not None and path.name in DISCOURSE_XFAIL:
            reason = DISCOURSE_XFAIL[path.name]
            case = pytest.param(
                path, id=path.name, marks=pytest.mark.xfail(strict=True, reason=reason)
            )
        marked.append(case)
    return marked


def _until_signature_delimiter(lines: list[str]) -> list[str]:
    """Our lines up to an RFC 3676 "-- " delimiter: we keep signatures, the trimmer does not."""
    return lines[: lines.index("--")] if "--" in lines else lines


@pytest.mark.parametrize("path", _discourse_cases())
def test_it_matches_the_discourse_trimmer(path: Path | None) -> None:
    source = _require(path, DISCOURSE / "emails")
    trimmed = (DISCOURSE / "trimmed" / source.name).read_text(encoding="utf-8")
    # The trimmer keeps ">" lines of interleaved replies; our new text never has quotes.
    expected = [line for line in _lines(trimmed) if not line.startswith(">")]
    got = _lines(new_text(source.read_text(encoding="utf-8")))

    assert got[:1] == expected[:1]
    leaked = [line for line in _until_signature_delimiter(got) if line not in expected]
    assert leaked == [], "quoted or header lines survived"
    assert not any(line.startswith(">") for line in got)


def _talon_plain_text(path: Path) -> str:
    message: Message = email.message_from_bytes(path.read_bytes())
    part = next(email.iterators.typed_subpart_iterator(message, "text", "plain"))
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


@pytest.mark.parametrize("path", _files(TALON / "standard_replies", "*.eml", 12))
def test_it_matches_talon_standard_replies(path: Path | None) -> None:
    source = _require(path, TALON / "standard_replies")
    expected_file = source.with_name(source.stem + "_reply_text")
    expected_text = expected_file.read_text("utf-8") if expected_file.exists() else "Hello"
    expected = _lines(expected_text)
    got = _lines(new_text(_talon_plain_text(source)))

    assert got[:1] == expected[:1]
    # We may cut a trailing "Sent from my iPhone" that talon keeps, never add lines.
    assert [line for line in got if line not in expected] == []


@pytest.mark.parametrize("path", _files(TALON / "html_replies", "*.html", 9))
def test_it_matches_talon_html_replies(path: Path | None) -> None:
    source = _require(path, TALON / "html_replies")
    got = new_text("", source.read_text(encoding="utf-8"))
    assert re.sub(r"\s", "", got) == "Hi.Iamfine.Thanks,Alex"


def test_it_cuts_talon_html_header_blocks() -> None:
    if not TALON.is_dir():
        pytest.fail(_missing(TALON))
    separated = new_text("", (TALON / "reply-separated-by-hr.html").read_text("utf-8"))
    assert _lines(separated)[:2] == ["Hi", "there"]
    assert "From" not in separated
    assert new_text("", (TALON / "OLK_SRC_BODY_SECTION.html").read_text("utf-8")) == "Reply"


LOREM_FIRST = "Fusce bibendum, quam hendrerit"
LOREM_LAST = "et mollis ligula rutrum quis."
CRISP = "crisp-email-reply-parser/test/fixtures/"
ALFONSRV = "alfonsrv-mail-parser-reply/test/emails/"
WEBRIDGE = "webridge-email-reply-parser/dataset/"

# Hand-labelled: first and last line (prefixes) of the new text, "" for none.
LABELLED: dict[str, tuple[str, str]] = {
    **{
        CRISP + name: (LOREM_FIRST, LOREM_LAST)
        for name in [
            "email_7.txt",  # Italian Gmail attribution wrapped over two lines
            "email_8.txt",  # Dutch Gmail "Op … schreef Company <\naddr>:"
            "email_9.txt",  # French "Message du :" block under "===="
            "email_10.txt",  # French Outlook "De : / Envoyé le : / À : / Objet :"
            "email_11.txt",  # the same, indented
            "email_12.txt",  # Dutch Outlook "Van: / Verzonden: / Aan: / Onderwerp:"
            "email_13.txt",  # Italian Outlook
            "email_14.txt",  # Polish "W dniu … napisał:"
            "email_15.txt",  # "Sent from my Wiko RIDGE FAB 4G"
            "email_16.txt",  # Polish "Dnia … napisał(a):"
            "email_18.txt",  # Outlook "From: / Date: / To: / Subject:"
            "email_22.txt",  # "30.09.2017, 18.30, "John" <addr>:"
            "email_23.txt",  # "2017-11-24 16:32 GMT+01:00 Name <addr>:"
            "email_24.txt",  # "On … wrote" without colon
            "email_25.txt",  # "11:00 AM, November 17, 2021, "John" <addr>:"
            "email_26.txt",  # "… from john@… <john@…>:"
            "email_danish_dash_separator.txt",
            "email_en_multiline_2.txt",
            "email_finnish.txt",
            "email_fr_multiline.txt",
            "email_french_2.txt",
            "email_french_dash_separator.txt",
            "email_german.txt",
            "email_german_2.txt",
            "email_german_3.txt",  # "Gesendet von Outlook für Android"
            "email_german_outlook.txt",
            "email_gmail_split_line_from.txt",
            "email_ios_outlook.txt",
            "email_ios_outlook_fr.txt",
            "email_italian.txt",
            "email_msn.txt",
            "email_norwegian_gmail.txt",  # address wrapped before ">:"
            "email_original_message.txt",
            "email_original_message_2.txt",
            "email_outlook_split_line_from.txt",
            "email_portuguese.txt",
            "email_russian.txt",
            "email_tricky_10_special_chars_in_name.txt",
            "email_tricky_12_no_space_after_header.txt",
            "email_tricky_14_long_quote_header.txt",
            "email_tricky_15_original_message_variations.txt",
            "email_tricky_5_mixed_languages.txt",
        ]
    },
    CRISP + "email_2.txt": ("Hi,", "Hi,"),
    CRISP + "email_2_1.txt": ("Outlook with a reply", "Outlook with a reply"),
    CRISP + "email_3.txt": ("Oh thanks.", "-Abhishek Kona"),
    CRISP + "email_4.txt": ("Awesome!", "Awesome!"),
    CRISP + "email_6.txt": ("I get proper rendering as well.", "Sent a magnificent torch"),
    CRISP + "email_19.txt": ("On Thursday, I get proper rendering.", "On Thursday, I get"),
    CRISP + "email_20.txt": ("On Thursday.", "On Thursday."),
    CRISP + "email_blackberry.txt": ("Here is another email", "Here is another email"),
    CRISP + "email_iphone.txt": ("Here is another email", "Here is another email"),
    CRISP + "email_custom_quote_header.txt": ("Thank you!", "Thank you!"),
    CRISP + "email_customer_quote_header_2.txt": ("Thank you very much.", "Thank you very"),
    CRISP + "email_customer_quote_header_3.txt": ("bonjour,", "merci d'avance"),
    CRISP + "email_sent_from.txt": ("Hi it can happen", "Hi it can happen"),
    CRISP + "email_sent_from_my_not_signature.txt": ("Here is another", "Sent from my desk,"),
    CRISP + "email_thread.txt": ("This is new email reply", "This is new email reply"),
    CRISP + "email_tricky_1_on_false_positive.txt": ("On the surface,", "On a separate note,"),
    CRISP + "email_tricky_2_url_with_wrote.txt": ("Hi there,", "John"),
    CRISP + "email_tricky_4_from_in_body.txt": ("I need to parse", "This is the actual message"),
    CRISP + "email_tricky_8_sent_from_in_content.txt": ("The notification was", "All messages"),
    CRISP + "email_tricky_9_nested_quotes.txt": ("I agree with the points", "I agree with"),
    CRISP + "email_tricky_13_timestamp_variations.txt": ("Here are different", "All of these"),
    CRISP + "email_tricky_17_forward_header.txt": ("See the forwarded", "See the forwarded"),
    CRISP + "email_tricky_18_inline_reply.txt": ("I think option A", "I think option A"),
    CRISP + "email_tricky_19_quote_without_header.txt": ("I wanted to respond", "I wanted to"),
    CRISP + "email_tricky_20_html_entities.txt": ("The data should be", "We need to ensure"),
    CRISP + "email_unquoted_reply.txt": ("This is my reply.", "This is my reply."),
    CRISP + "email_zoho.txt": ("What is the best way", "running a test?"),
    ALFONSRV + "begins_with_signature.txt": ("Thank you, Sonya", "Christopher Edwards"),
    ALFONSRV + "email_1_7.txt": (":+1:", ":+1:"),
    ALFONSRV + "email_1_8.txt": ("I will reply under this one", "I will reply under this one"),
    ALFONSRV + "email_2_2.txt": ("Outlook with a reply directly", "Outlook with a reply directly"),
    ALFONSRV + "email_2_3.txt": ("Outlook with a reply above", "Outlook with a reply above"),
    ALFONSRV + "email_3_1.txt": ("First reply.", "This is fairly common"),
    ALFONSRV + "email_danish_2.txt": ("Hej Hanne,", "Søren"),
    ALFONSRV + "email_headers_no_delimiter.txt": ("And another reply!", "And another reply!"),
    ALFONSRV + "email_ja_1_2.txt": ("田中様", "以上、よろしくお願いいたします"),
    ALFONSRV + "email_nl_1_2.txt": ("Outlook met een antwoord", "Outlook met een antwoord"),
    ALFONSRV + "email_pl_1_2.txt": ("", ""),
    ALFONSRV + "email_swedish_2.txt": ("Hello Anna,", "/John"),
    ALFONSRV + "multi_header.txt": ("No problem.", "No problem."),
    ALFONSRV + "multiline_on_de.txt": ("Am heutigen Tage", "Am heutigen Tage"),
    ALFONSRV + "pathological.txt": ("I think you're onto something.", "get back to a computer."),
    **{
        WEBRIDGE + "quoted_reply/" + name: ("", "")
        for name in [
            "android.txt",
            "dutch.txt",
            "english.txt",
            "long.txt",
            "other.txt",
            "other_break.txt",
            "polymail.txt",
            "quoted_reply.txt",
            "short.txt",
            "split_line_from.txt",
            "yahoo.txt",
        ]
    },
    **{
        WEBRIDGE + "signatures/" + name: ("", "")
        for name in ["iphone.txt", "iphone_nl.txt", "blackberry.txt", "mailbox.txt"]
    },
    WEBRIDGE + "signatures/windows_mail.txt": ("", ""),
    WEBRIDGE + "signatures/greetings_dutch.txt": ("Met vriendelijke groeten,", "Richard Lindhout"),
    WEBRIDGE + "basemail/0.txt": ("Nice email!", "Jow how are you?"),
    WEBRIDGE + "TODO/forward.txt": ("Hey, check out the joke below.", "Hey, check out the joke"),
}


@pytest.mark.parametrize(("relative", "first", "last"), [(k, *v) for k, v in LABELLED.items()])
def test_it_cuts_the_labelled_corpus_samples(relative: str, first: str, last: str) -> None:
    path = CORPORA / relative
    if not path.is_file():
        pytest.fail(_missing(path.parent))
    got = _lines(new_text(path.read_text(encoding="utf-8")))
    if not first:
        assert got == []
        return
    assert got, "new text is empty"
    assert got[0].startswith(first)
    assert got[-1].startswith(last)
