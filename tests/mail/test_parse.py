"""The parser never raises, whatever the bytes, and decodes what real clients send."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.mail.parse import decode_header_value, parse, summarize
from tests.corpora import corpus_id, corpus_messages

CORPUS = corpus_messages()


@pytest.mark.parametrize("path", CORPUS, ids=corpus_id)
def test_it_parses_every_corpus_message_without_raising(path: Path) -> None:
    raw = path.read_bytes()
    mail = parse(raw)
    assert mail.size == len(raw)
    assert isinstance(mail.subject, str) and "\n" not in mail.subject
    assert isinstance(mail.text, str)
    for attachment in mail.attachments:
        assert isinstance(attachment.content, bytes)


def test_it_summarizes_the_header_exactly_as_the_full_parse_reads_it() -> None:
    """Ingest stores these three fields from `summarize()`; matching and the duplicate check
    later compare them with `parse()` results, so they must never differ."""
    extra = [
        b"",
        b"Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: =?iso-8859-1?q?Z=F6e?= <z@x.example>\r\n",
        b"Message-ID: <a@x>\r\nMessage-ID: <b@x>\r\nFrom: a@x, b@y\r\n\r\nbody",
        b"From: \xff\xfe <broken@x.example>\r\nSubject: \xe9t\xe9\r\n\r\n",
    ]
    raws = [path.read_bytes() for path in CORPUS] + extra
    for raw in raws:
        full = parse(raw)
        summary = summarize(raw)
        assert (summary.message_id, summary.sender_email, summary.subject) == (
            full.message_id,
            full.sender_email,
            full.subject,
        ), raw[:200]
    assert len(raws) > 1000


def test_it_survives_the_known_stdlib_traps() -> None:
    """The corpora README lists these as raising in CPython's policy.default."""
    for relative in [
        "mikel-mail/spec/fixtures/emails/plain_emails/raw_email10.eml",
        "flufl-bounce/flufl/bounce/tests/data/simple_38.txt",
        "zbateson-mail-mime-parser/tests/_data/emails/invalid-charset.txt",
        "django-mailbox/django_mailbox/tests/messages/message_with_invalid_encoding.eml",
    ]:
        matches = [p for p in CORPUS if str(p).endswith(relative)]
        assert matches, f"corpus file {relative} not found"
        mail = parse(matches[0].read_bytes())
        assert mail.from_ is not None or mail.subject or mail.text


def test_it_decodes_encoded_words_and_eight_bit_headers() -> None:
    assert decode_header_value("=?utf-8?q?Compliment_voor_Zo=C3=AB?=") == "Compliment voor Zoë"
    assert decode_header_value("=?iso-8859-1?b?R3JvZXRlbiB1aXQgQmVsZ2nr?=") == "Groeten uit België"
    assert decode_header_value("Re: =?utf-8?q?caf=C3=A9?= en meer") == "Re: café en meer"
    raw = "Subject: Prijs €5 voor Zoë\r\nFrom: a@b.example\r\n\r\nbody".encode()
    assert parse(raw).subject == "Prijs €5 voor Zoë"
    latin = "Subject: Belgi\xeb\r\n\r\nx".encode("latin-1")
    assert parse(latin).subject == "België"


def test_it_reads_addresses_ids_and_dates() -> None:
    raw = (
        b'From: "Jansen, Jan" <Jan.Jansen@ACME.example>\r\n'
        b"To: a@gemeente.example, Bert <b@gemeente.example>\r\n"
        b"Cc: undisclosed-recipients:;\r\n"
        b"Message-ID: <abc@acme.example>\r\n"
        b"In-Reply-To: <mailbot.123@gemeente.example>\r\n"
        b"References: <x@y> <mailbot.123@gemeente.example>\r\n"
        b"Date: Mon, 14 Dec 2026 10:12:00 +0100\r\n\r\nHoi"
    )
    mail = parse(raw)
    assert mail.from_ is not None and mail.from_.email == "jan.jansen@acme.example"
    assert mail.from_.name == "Jansen, Jan"
    assert [a.email for a in mail.to] == ["a@gemeente.example", "b@gemeente.example"]
    assert mail.cc == ()
    assert mail.message_id == "abc@acme.example"
    assert mail.in_reply_to == ("mailbot.123@gemeente.example",)
    assert mail.references == ("x@y", "mailbot.123@gemeente.example")
    assert mail.date == datetime(2026, 12, 14, 9, 12, tzinfo=UTC)


def test_it_handles_empty_and_headerless_input() -> None:
    for raw in (b"", b"\r\n", b"just some text without headers", b"\x00\xff\xfe" * 100):
        mail = parse(raw)
        assert mail.from_ is None and mail.message_id is None and mail.date is None


def test_it_finds_text_html_and_attachments_in_nested_multipart() -> None:
    raw = (
        b"From: a@b.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\n"
        b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
        b"--inner\r\nContent-Type: text/plain; charset=windows-1252\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nAKKOORD =80 5\r\n"
        b"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>AKKOORD</p>\r\n"
        b"--inner--\r\n"
        b"--outer\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?q?plan_v=C3=A9=2Epdf?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n"
        b"--outer\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all!!!\r\n"
        b"--outer--\r\n"
    )
    mail = parse(raw)
    assert mail.text.strip() == "AKKOORD € 5"
    assert mail.html is not None and "<p>AKKOORD</p>" in mail.html
    names = [a.filename for a in mail.attachments]
    assert names == ["plan vé.pdf", "winmail.dat"]
    assert mail.attachments[0].content.startswith(b"%PDF")


def test_it_falls_back_on_unknown_charsets() -> None:
    raw = (
        b"From: a@b.example\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n"
        b"Bedankt \xc3\xa9\r\n"
    )
    mail = parse(raw)
    assert mail.text.strip() == "Bedankt é"
    assert any("charset" in d for d in mail.defects)
