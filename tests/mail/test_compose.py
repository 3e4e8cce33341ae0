"""Outgoing mail: the headers SPEC §6 asks for, and user text never becomes a header."""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.header import decode_header

import pytest

from mailbot.domain.message import Address, Attachment
from mailbot.mail.compose import (
    _CRLF,
    OutgoingMail,
    _mime_body,
    _text_body,
    compose,
    encoded_words,
    header_safe,
    make_message_id,
)
from mailbot.mail.parse import parse
from mailbot.mail.port import SentCopy

WHEN = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


def build(mail: OutgoingMail) -> bytes:
    return compose(
        mail,
        from_address="leveranciers@gemeente.example",
        message_id="mailbot.abc@gemeente.example",
        date=WHEN,
        reply_to="leveranciers@gemeente.example",
    )


def test_it_marks_notifications_as_automated_and_tags_the_case() -> None:
    raw = build(
        OutgoingMail(
            to=(Address("a.jansen@gemeente.example", "Anna Jansen"),),
            subject="[ESC-2026-0007] Bevestiging",
            text="Hallo",
            case_ref="ESC-2026-0007",
        )
    )
    mail = parse(raw)
    assert mail.header("Auto-Submitted") == "auto-generated"
    assert mail.header("X-Auto-Response-Suppress") == "OOF, AutoReply"
    assert mail.header("X-Mailbot-Case") == "ESC-2026-0007"
    assert mail.message_id == "mailbot.abc@gemeente.example"
    assert mail.header("Reply-To") == "leveranciers@gemeente.example"
    assert b"\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"")


def test_it_says_so_when_a_mail_belongs_to_no_case_and_reads_that_back_as_none() -> None:
    raw = build(
        OutgoingMail(to=(Address("beheer@gemeente.example"),), subject="Te beoordelen", text="x")
    )
    assert parse(raw).header("X-Mailbot-Case") == "none"
    assert SentCopy.from_header("k", raw).case_ref is None


def test_it_leaves_automation_headers_off_letters_to_suppliers() -> None:
    raw = build(
        OutgoingMail(
            to=(Address("servicemanager@acme.example"),),
            subject="Stap 1",
            text="Geachte heer",
            automated=False,
            case_ref="ESC-2026-0007",
            from_name="Anna Jansen via Leveranciersmanagement",
        )
    )
    mail = parse(raw)
    assert mail.header("Auto-Submitted") is None
    assert mail.header("X-Auto-Response-Suppress") is None
    assert mail.header("X-Mailbot-Case") == "ESC-2026-0007"
    assert mail.from_ is not None and mail.from_.name == "Anna Jansen via Leveranciersmanagement"


@pytest.mark.parametrize(
    "evil",
    [
        "Storing\r\nBcc: attacker@evil.example",
        "Storing\nBcc: attacker@evil.example",
        "Storing\rBcc: attacker@evil.example",
        "Storing\u2028Bcc: attacker@evil.example",
        "Storing\x0bBcc: attacker@evil.example",
    ],
)
def test_it_never_lets_user_text_become_a_header(evil: str) -> None:
    raw = build(
        OutgoingMail(
            to=(Address("servicemanager@acme.example", evil),),
            cc=(Address("a.jansen@gemeente.example", evil),),
            subject=f"[ESC-2026-0007] {evil}",
            text=evil,
            html=f"<p>{evil}</p>",
            case_ref=evil,
            from_name=evil,
            in_reply_to=evil,
            references=(evil,),
            attachments=(Attachment(evil, "application/pdf", b"%PDF"),),
        )
    )
    mail = parse(raw)
    assert mail.header("Bcc") is None
    assert all(name.lower() != "bcc" for name, _ in mail.headers)
    assert "attacker@evil.example" not in [a.email for a in (*mail.to, *mail.cc)]


def test_it_makes_message_ids_stable_per_dedup_key_and_installation() -> None:
    one = make_message_id("inst-1", "escalation:ESC-2026-0007:step-2", "gemeente.example")
    assert one == make_message_id("inst-1", "escalation:ESC-2026-0007:step-2", "gemeente.example")
    assert one != make_message_id("inst-2", "escalation:ESC-2026-0007:step-2", "gemeente.example")
    assert one != make_message_id("inst-1", "escalation:ESC-2026-0007:step-3", "gemeente.example")
    assert one.endswith("@gemeente.example")


def test_it_adds_html_alternative_and_attachments() -> None:
    raw = build(
        OutgoingMail(
            to=(Address("a@gemeente.example"),),
            subject="s",
            text="tekst",
            html="<p>tekst</p>",
            attachments=(Attachment("plan.pdf", "application/pdf", b"%PDF-1.4"),),
        )
    )
    mail = parse(raw)
    assert mail.text.strip() == "tekst"
    assert mail.html is not None and "<p>tekst</p>" in mail.html
    assert [(a.filename, a.content) for a in mail.attachments] == [("plan.pdf", b"%PDF-1.4")]


def test_it_chooses_boundaries_no_part_can_contain() -> None:
    """Our own boundaries are safe only because every leaf part is base64 (no line of it
    starts with "--"), even for text that contains what looks like a boundary."""
    sneaky = "--=_mailbot_\n--=_mailbot_0123456789abcdef01234567_alt--\nAlleen ASCII."
    raw = build(
        OutgoingMail(
            to=(Address("a@gemeente.example"),),
            subject="s",
            text=sneaky,
            html=f"<pre>{sneaky}</pre>",
            attachments=(Attachment("x.eml", "message/rfc822", sneaky.encode()),),
        )
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    leaves = [p for p in message.walk() if not p.is_multipart()]
    assert len(leaves) == 3
    assert {p["Content-Transfer-Encoding"] for p in leaves} == {"base64"}
    boundaries = [p.get_boundary() for p in message.walk() if p.is_multipart()]
    assert len(set(boundaries)) == 2 and all(b and b.startswith("=_mailbot_") for b in boundaries)
    mail = parse(raw)
    assert mail.text.replace("\r\n", "\n").strip() == sneaky
    assert [a.content for a in mail.attachments] == [sneaky.encode()]


def test_header_safe_bounds_length_and_strips_controls() -> None:
    assert header_safe("a\x00b\tc\x7f") == "ab\tc"
    assert len(header_safe("x" * 5000)) == 900


@pytest.mark.parametrize(
    "text",
    [
        "Reactie op stap 2 – corrigerend actieplan",
        "Compliment voor Zoë én François: “geweldig” ✓",
        "€" * 40,  # three bytes each: words must split between characters
        "a" * 62 + "é" + "b" * 70,
        " ".join(["😀 emoji buiten het BMP"] * 6),
        "ë =?utf-8?q?geen_echte?= _underscores_ en =gelijktekens= ?",
    ],
)
def test_it_encodes_non_ascii_subjects_as_words_any_reader_decodes(text: str) -> None:
    words = encoded_words(text)
    assert words.isascii()
    assert all(len(word) <= 75 for word in words.split(" "))
    raw = build(OutgoingMail(to=(Address("a.jansen@gemeente.example"),), subject=text, text="x"))
    assert parse(raw).subject == text
    header_lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in header_lines)
    decoded = "".join(
        part.decode(charset) if charset else part.decode() if isinstance(part, bytes) else part
        for part, charset in decode_header(words)
    )
    assert decoded == text


def test_it_folds_long_headers_without_changing_them() -> None:
    people = tuple(Address(f"persoon{i}@gemeente.example", f"Persoon {i} Ëffe") for i in range(7))
    people += (Address("lang@gemeente.example", "Zoë van der Berg-Ëmmerik " * 7),)
    references = tuple(f"{'r' * 40}.{i}@acme.example" for i in range(10))
    long_ascii = "Stap 2: " + "x" * 120 + " einde"  # one token longer than a line
    raw = build(
        OutgoingMail(
            to=people[:4],
            cc=people[4:],
            subject=long_ascii,
            text="x",
            references=references,
            in_reply_to=references[-1],
        )
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = head.split("\r\n")
    assert all(len(line) <= 78 for line in lines if "x" * 120 not in line), lines
    assert all(line.strip() for line in lines), "no whitespace-only continuation lines"
    mail = parse(raw)
    assert mail.subject == long_ascii
    assert [(a.email, a.name) for a in (*mail.to, *mail.cc)] == [
        (p.email, p.name.strip()) for p in people
    ]
    assert all(len(word) <= 75 for word in re.findall(r"=\?[^?]+\?[qb]\?[^?]*\?=", head, re.I))
    assert mail.references == references
    assert mail.in_reply_to == (references[-1],)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Kort.",
        "Geachte heer Öztürk,\n\nDe storing van 14 december — € 1.250 boete.\n" * 40,
        "x" * 57,  # exactly one base64 line
        "x" * 58,
        "From the start\r\n.\r\n--=_mailbot_ looks like a boundary\n",
    ],
)
@pytest.mark.parametrize("html", [None, "", "<p>Geachte heer Öztürk,</p>" * 30])
def test_a_mail_without_attachments_is_written_as_the_stdlib_generator_would(
    text: str, html: str | None
) -> None:
    """The direct writer of text bodies against the generator it replaced."""
    mail = OutgoingMail(to=(Address("a@gemeente.example"),), subject="S", text=text, html=html)
    boundary = "=_mailbot_0123456789abcdef01234567"
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=_CRLF).flatten(_mime_body(mail, boundary))

    assert _text_body(mail, boundary) == buffer.getvalue()
    parsed = email.message_from_bytes(build(mail), policy=email.policy.default)
    assert parsed.get_body(("plain",)).get_content() == text  # type: ignore[union-attr]
    if html is not None:
        assert parsed.get_body(("html",)).get_content() == html  # type: ignore[union-attr]
