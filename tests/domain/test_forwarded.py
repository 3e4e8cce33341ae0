"""find_forwarded: the maker of a forwarded compliment, per mail client."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.domain.forwarded import ForwardedOriginal, find_forwarded

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def found(text: str, html: str | None = None) -> ForwardedOriginal:
    result = find_forwarded(text, html)
    assert result is not None
    return result


# --------------------------------------------------------------------------- #
# One realistic forward per client
# --------------------------------------------------------------------------- #

OUTLOOK_NL = """\
Hoi, zie het compliment hieronder!

Groet, Piet

Van: Marieke de Boer <marieke@klant.example>
Verzonden: maandag 14 december 2026 10:12
Aan: Piet Pietersen <piet@bedrijf.example>
CC: Service <service@bedrijf.example>
Onderwerp: Bedankt voor de snelle levering

Beste Piet,

Wat een geweldige service, de levering was een dag eerder dan beloofd.

Met vriendelijke groet,
Marieke de Boer
"""

OUTLOOK_NL_MAILTO = """\
Ter info.

________________________________
Van: Marieke de Boer [mailto:Marieke@Klant.example]
Verzonden: dinsdag 15 december 2026 09:01
Aan: Piet Pietersen
Onderwerp: Compliment

Top geregeld!
"""

OUTLOOK_NEW_FROM_SENT = """\
Compliment van een klant.

From: Marieke de Boer <marieke@klant.example>
Sent: Monday, December 14, 2026 10:12 AM
To: Piet Pietersen <piet@bedrijf.example>
Subject: Thanks!

Great job on the delivery.
"""

OUTLOOK_EN_BOLD = """\
FYI

*From:* John Smith <john.smith@customer.example>
*Sent:* Monday, December 14, 2026 10:12 AM
*To:* Support <support@company.example>
*Subject:* Kudos to your team

Your driver was extremely helpful.
"""

GMAIL_EN = """\
Nice words from a customer.

---------- Forwarded message ---------
From: John Smith <john.smith@customer.example>
Date: Mon, Dec 14, 2026 at 10:12 AM
Subject: Kudos to your team
To: <support@company.example>


Your driver was extremely helpful.

On Fri, Dec 11, 2026 at 9:00 AM Support <support@company.example> wrote:
> Your order has been shipped.
"""

GMAIL_NL = """\
Een compliment!

---------- Doorgestuurd bericht ---------
Van: Marieke de Boer <marieke@klant.example>
Date: ma 14 dec. 2026 om 10:12
Subject: Bedankt
To: <piet@bedrijf.example>


Heel fijn geholpen, dank jullie wel.
"""

GMAIL_NL_DUTCH_FIELDS = """\
---------- Doorgestuurd bericht ---------
Van: Marieke de Boer <marieke@klant.example>
Datum: ma 14 dec. 2026 om 10:12
Onderwerp: Bedankt
Aan: <piet@bedrijf.example>

Heel fijn geholpen.
"""

APPLE_EN_QUOTED = """\
Forwarding this compliment.

Sent from my iPhone

> Begin forwarded message:
>
> From: John Smith <john.smith@customer.example>
> Subject: Kudos
> Date: 14 December 2026 at 10:12:00 CET
> To: support@company.example
>
> Your driver was extremely helpful.
> Thanks again!
"""

APPLE_NL = """\
Zie onder.

Begin doorgestuurd bericht:

Van: Marieke de Boer <marieke@klant.example>
Onderwerp: Bedankt
Datum: 14 december 2026 om 10:12:00 CET
Aan: piet@bedrijf.example

Wat een goede service.
"""

THUNDERBIRD_EN = """\
See below.


-------- Forwarded Message --------
Subject: \tKudos
Date: \tMon, 14 Dec 2026 10:12:00 +0100
From: \tJohn Smith <john.smith@customer.example>
To: \tsupport@company.example



Your driver was extremely helpful.
"""

THUNDERBIRD_NL = """\
-------- Doorgestuurd bericht --------
Onderwerp: \tBedankt
Datum: \tMon, 14 Dec 2026 10:12:00 +0100
Van: \t"de Boer, Marieke" <marieke@klant.example>
Aan: \tpiet@bedrijf.example

Wat een goede service.
"""

OUTLOOK_HTML_NL = """\
<html><head><style>p.MsoNormal{margin:0}</style></head><body>
<div class="WordSection1"><p class="MsoNormal">Mooi compliment!</p>
<p class="MsoNormal">&nbsp;</p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>Van:</b> Marieke de Boer &lt;marieke@klant.example&gt; <br>
<b>Verzonden:</b> maandag 14 december 2026 10:12<br>
<b>Aan:</b> Piet Pietersen &lt;piet@bedrijf.example&gt;<br>
<b>Onderwerp:</b> Bedankt</p></div>
<p class="MsoNormal">&nbsp;</p>
<p class="MsoNormal">Wat een <b>geweldige</b> service.</p>
</div></body></html>
"""

GMAIL_HTML_EN = """\
<div dir="ltr">Look at this<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">
---------- Forwarded message ---------<br>From: <strong class="gmail_sendername" dir="auto">
John Smith</strong> <span dir="auto">&lt;<a href="mailto:john.smith@customer.example">
john.smith@customer.example</a>&gt;</span><br>Date: Mon, Dec 14, 2026 at 10:12 AM<br>
Subject: Kudos<br>To: &lt;<a href="mailto:support@company.example">support@company.example</a>&gt;
<br></div><br><br><div dir="ltr">Your driver was extremely helpful.</div></div></div>
"""

THUNDERBIRD_HTML_NL = """\
<html><body><p>Zie hieronder</p>
<div class="moz-forward-container"><br><br>-------- Doorgestuurd bericht --------
<table class="moz-email-headers-table"><tbody>
<tr><th>Onderwerp:</th><td>Bedankt</td></tr>
<tr><th>Datum:</th><td>Mon, 14 Dec 2026 10:12:00 +0100</td></tr>
<tr><th>Van:</th><td>Marieke de Boer <a href="mailto:marieke@klant.example">
&lt;marieke@klant.example&gt;</a></td></tr>
<tr><th>Aan:</th><td>piet@bedrijf.example</td></tr>
</tbody></table><br><p>Wat een goede service.</p></div></body></html>
"""


@pytest.mark.parametrize(
    ("text", "html", "email", "name", "subject", "date_text", "body_start"),
    [
        pytest.param(
            OUTLOOK_NL,
            None,
            "marieke@klant.example",
            "Marieke de Boer",
            "Bedankt voor de snelle levering",
            "maandag 14 december 2026 10:12",
            "Beste Piet,\n\nWat een geweldige service",
            id="outlook-nl",
        ),
        pytest.param(
            OUTLOOK_NL_MAILTO,
            None,
            "marieke@klant.example",
            "Marieke de Boer",
            "Compliment",
            "dinsdag 15 december 2026 09:01",
            "Top geregeld!",
            id="outlook-nl-mailto",
        ),
        pytest.param(
            OUTLOOK_NEW_FROM_SENT,
            None,
            "marieke@klant.example",
            "Marieke de Boer",
            "Thanks!",
            "Monday, December 14, 2026 10:12 AM",
            "Great job",
            id="outlook-from-sent",
        ),
        pytest.param(
            OUTLOOK_EN_BOLD,
            None,
            "john.smith@customer.example",
            "John Smith",
            "Kudos to your team",
            "Monday, December 14, 2026 10:12 AM",
            "Your driver",
            id="outlook-en-bold",
        ),
        pytest.param(
            GMAIL_EN,
            None,
            "john.smith@customer.example",
            "John Smith",
            "Kudos to your team",
            "Mon, Dec 14, 2026 at 10:12 AM",
            "Your driver",
            id="gmail-en",
        ),
        pytest.param(
            GMAIL_NL,
            None,
            "marieke@klant.example",
            "Marieke de Boer",
            "Bedankt",
            "ma 14 dec. 2026 om 10:12",
            "Heel fijn geholpen",
            id="gmail-nl",
        ),
        pytest.param(
            GMAIL_NL_DUTCH_FIELDS,
            None,
            "marieke@klant.example",
            "Marieke de Boer",
            "Bedankt",
            "ma 14 dec. 2026 om 10:12",
            "Heel fijn geholpen",
            id="gmail-nl-dutch-fields",
        ),
        pytest.param(
            APPLE_EN_QUOTED,
            None,
            "john.smith@customer.example",
            "John Smith",
            "Kudos",
            "14 December 2026 at 10:12:00 CET",
            "Your driver was extremely helpful.\nThanks again!",
            id="apple-en-quoted",
        ),
        pytest.param(
            APPLE_NL,
            None,
            "marieke@klant.example",
            "Marieke de Boer",
            "Bedankt",
            "14 december 2026 om 10:12:00 CET",
            "Wat een goede service.",
            id="apple-nl",
        ),
        pytest.param(
            THUNDERBIRD_EN,
            None,
            "john.smith@customer.example",
            "John Smith",
            "Kudos",
            "Mon, 14 Dec 2026 10:12:00 +0100",
            "Your driver",
            id="thunderbird-en",
        ),
        pytest.param(
            THUNDERBIRD_NL,
            None,
            "marieke@klant.example",
            "de Boer, Marieke",
            "Bedankt",
            "Mon, 14 Dec 2026 10:12:00 +0100",
            "Wat een goede service.",
            id="thunderbird-nl",
        ),
        pytest.param(
            "",
            OUTLOOK_HTML_NL,
            "marieke@klant.example",
            "Marieke de Boer",
            "Bedankt",
            "maandag 14 december 2026 10:12",
            "Wat een geweldige service.",
            id="outlook-html-nl",
        ),
        pytest.param(
            "",
            GMAIL_HTML_EN,
            "john.smith@customer.example",
            "John Smith",
            "Kudos",
            "Mon, Dec 14, 2026 at 10:12 AM",
            "Your driver",
            id="gmail-html-en",
        ),
        pytest.param(
            "",
            THUNDERBIRD_HTML_NL,
            "marieke@klant.example",
            "Marieke de Boer",
            "Bedankt",
            "Mon, 14 Dec 2026 10:12:00 +0100",
            "Wat een goede service.",
            id="thunderbird-html-nl",
        ),
    ],
)
def test_it_finds_the_original_sender_per_client(
    text: str,
    html: str | None,
    email: str,
    name: str,
    subject: str,
    date_text: str,
    body_start: str,
) -> None:
    original = found(text, html)
    assert original.sender_email == email
    assert original.sender_name == name
    assert original.subject == subject
    assert original.date_text == date_text
    assert original.body.startswith(body_start)


def test_it_keeps_the_whole_original_text_but_not_its_quoted_history() -> None:
    original = found(GMAIL_EN)
    assert original.body == "Your driver was extremely helpful."
    outlook = found(OUTLOOK_NL)
    assert outlook.body.endswith("Met vriendelijke groet,\nMarieke de Boer")
    assert "Groet, Piet" not in outlook.body


# --------------------------------------------------------------------------- #
# Nested forwards
# --------------------------------------------------------------------------- #

NESTED_GMAIL = """\
For the compliments file.

---------- Forwarded message ---------
From: Piet Pietersen <piet@bedrijf.example>
Date: Tue, Dec 15, 2026 at 8:00 AM
Subject: Fwd: Kudos
To: <manager@bedrijf.example>


Look what John wrote!

---------- Forwarded message ---------
From: John Smith <john.smith@customer.example>
Date: Mon, Dec 14, 2026 at 10:12 AM
Subject: Kudos
To: <piet@bedrijf.example>


Your driver was extremely helpful.
"""

NESTED_OUTLOOK = """\
Graag vastleggen.

Van: Piet Pietersen <piet@bedrijf.example>
Verzonden: dinsdag 15 december 2026 08:00
Aan: Manager <manager@bedrijf.example>
Onderwerp: FW: Bedankt

Kijk eens!

Van: Marieke de Boer <marieke@klant.example>
Verzonden: maandag 14 december 2026 10:12
Aan: Piet Pietersen <piet@bedrijf.example>
Onderwerp: Bedankt

Wat een goede service.
"""

APPLE_INSIDE_OUTLOOK = """\
Doorgestuurd vanaf de telefoon van Piet.

From: Piet Pietersen <piet@bedrijf.example>
Sent: Tuesday, December 15, 2026 8:00 AM
To: Manager <manager@bedrijf.example>
Subject: Fwd: Kudos

Sent from my iPhone

Begin forwarded message:

From: John Smith <john.smith@customer.example>
Subject: Kudos
Date: 14 December 2026 at 10:12:00 CET
To: piet@bedrijf.example

Your driver was extremely helpful.
"""

REPLY_FORWARDED = """\
Klant is blij.

Van: Marieke de Boer <marieke@klant.example>
Verzonden: maandag 14 december 2026 10:12
Aan: Piet Pietersen <piet@bedrijf.example>
Onderwerp: RE: Uw levering

Dank u wel, alles is goed aangekomen!

Van: Piet Pietersen <piet@bedrijf.example>
Verzonden: vrijdag 11 december 2026 16:00
Aan: Marieke de Boer <marieke@klant.example>
Onderwerp: Uw levering

Uw levering komt maandag.
"""


@pytest.mark.parametrize(
    ("text", "email", "body"),
    [
        pytest.param(
            NESTED_GMAIL,
            "john.smith@customer.example",
            "Your driver was extremely helpful.",
            id="gmail-in-gmail",
        ),
        pytest.param(
            NESTED_OUTLOOK, "marieke@klant.example", "Wat een goede service.", id="outlook-fw-chain"
        ),
        pytest.param(
            APPLE_INSIDE_OUTLOOK,
            "john.smith@customer.example",
            "Your driver was extremely helpful.",
            id="apple-in-outlook",
        ),
        pytest.param(
            REPLY_FORWARDED,
            "marieke@klant.example",
            "Dank u wel, alles is goed aangekomen!",
            id="reply-history-is-not-descended",
        ),
    ],
)
def test_it_returns_the_innermost_forward(text: str, email: str, body: str) -> None:
    original = found(text)
    assert original.sender_email == email
    assert original.body == body


# --------------------------------------------------------------------------- #
# Edge cases
# --------------------------------------------------------------------------- #


def test_it_returns_none_without_a_forward() -> None:
    assert find_forwarded("Gewoon een mail zonder doorgestuurd bericht.") is None
    assert find_forwarded("") is None
    assert find_forwarded("", None) is None
    assert find_forwarded("The data comes From: our database, not From: elsewhere.") is None
    assert find_forwarded("Van: iemand\nen verder niets") is None


def test_it_accepts_a_sender_without_address() -> None:
    original = found(
        "FYI\n\nVan: Marieke de Boer\nVerzonden: maandag\nAan: Piet\nOnderwerp: Bedankt\n\nTop!"
    )
    assert original.sender_email == ""
    assert original.sender_name == "Marieke de Boer"
    assert original.body == "Top!"


@pytest.mark.parametrize(
    ("value", "email", "name"),
    [
        ("Some One <discuss@foo.bar<mailto:discuss@foo.bar>>", "discuss@foo.bar", "Some One"),
        ('"Jansen, Jan" <Jan@Acme.example>', "jan@acme.example", "Jansen, Jan"),
        ("jan@acme.example", "jan@acme.example", ""),
        ("<jan@acme.example>", "jan@acme.example", ""),
        ("*Jan Jansen* <jan@acme.example>", "jan@acme.example", "Jan Jansen"),
    ],
)
def test_it_reads_the_ways_clients_print_a_sender(value: str, email: str, name: str) -> None:
    text = f"---------- Forwarded message ---------\nFrom: {value}\nDate: x\nSubject: y\n\nHoi"
    original = found(text)
    assert (original.sender_email, original.sender_name) == (email, name)


def test_it_joins_a_sender_wrapped_over_two_lines() -> None:
    text = (
        "FYI\n\nFrom: Human Resources\n<hr@humanresources.example>\n"
        "Sent: Monday, August 26, 2019 4:37 PM\nTo: Jan\nSubject: Hello\n\nBody"
    )
    assert found(text).sender_email == "hr@humanresources.example"


@pytest.mark.parametrize(
    ("relative", "email", "body_start"),
    [
        (
            "discourse-email_reply_trimmer/test/emails/forwarded_apple.txt",
            "foo@discourse.org",
            "Lorem ipsum",
        ),
        (
            "discourse-email_reply_trimmer/test/emails/forwarded_gmail.txt",
            "foo@discourse.org",
            "Lorem ipsum",
        ),
        (
            "discourse-email_reply_trimmer/test/emails/forwarded_message.txt",
            "foo@bar.com",
            "This is a forwarded email. And just that.",
        ),
        (
            "crisp-email-reply-parser/test/fixtures/email_tricky_17_forward_header.txt",
            "john@example.com",
            "This is the forwarded content",
        ),
        ("webridge-email-reply-parser/dataset/TODO/forward.txt", "a.h@t.com", "Schrief jie"),
        (
            "crisp-email-reply-parser/test/fixtures/email_12.txt",
            "questions@company.com",
            "Etiam non sagittis",
        ),
    ],
)
def test_it_reads_forwards_from_the_corpora(relative: str, email: str, body_start: str) -> None:
    path = CORPORA / relative
    if not path.is_file():
        pytest.fail(
            f"corpus file {path} is missing: the tests expect the shared corpora "
            "checked out as ../shared/corpora beside the repository"
        )
    original = found(path.read_text(encoding="utf-8"))
    assert original.sender_email == email
    assert original.body.startswith(body_start)
