"""Building the MIME bytes of an outgoing mail.

The message is composed once, when the outbox row is written, so what is sent
after a crash is byte-for-byte what was decided before it. Its Message-ID is
deterministic (a hash of the installation id and the dedup key): a resend in
the tiny window between "the server accepted it" and "we recorded that" carries
the same id, which receiving systems de-duplicate and `was_sent()` recognises.

User text (a supplier's name, a shortfall typed by an owner) can reach the
subject and display names; `header_safe` removes line breaks so it can never
become a header of its own.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import encoders
from email.charset import BASE64, QP, Charset
from email.generator import BytesGenerator
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr
from io import BytesIO

from mailbot.domain.message import Address, Attachment
from mailbot.mail.port import NO_CASE

_LINEBREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")


_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what is left after line breaks; not tab


def header_safe(text: str, limit: int = 900) -> str:
    """One line of header text: no line breaks, no control characters, bounded length."""
    return _CONTROLS.sub("", _LINEBREAKS.sub(" ", text)).strip()[:limit]


def make_message_id(instance_id: str, dedup_key: str, domain: str) -> str:
    """Deterministic Message-ID (without angle brackets) for an outbox row."""
    digest = hashlib.sha256(f"{instance_id}\0{dedup_key}".encode()).hexdigest()[:32]
    return f"mailbot.{digest}@{domain}"


@dataclass(frozen=True)
class OutgoingMail:
    """What the service layer decides to send; `compose()` turns it into bytes."""

    to: tuple[Address, ...]
    subject: str
    text: str
    html: str | None = None
    cc: tuple[Address, ...] = ()
    case_ref: str | None = None
    from_name: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automated: bool = True
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)
    extra_headers: tuple[tuple[str, str], ...] = ()

    @property
    def recipients(self) -> list[str]:
        return list(dict.fromkeys(a.email for a in (*self.to, *self.cc)))


# Headers: quoted-printable words stay readable; bodies: base64, which the stdlib
# encodes in C (its quoted-printable encoder is pure Python and slow on long quotes).
_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = QP
_UTF8_QP.body_encoding = BASE64
_CRLF = compat32.clone(linesep="\r\n", max_line_length=78)


def _encode_header(text: str, name: str) -> str:
    """RFC 2047 only when needed: plain ASCII stays readable in every client."""
    text = header_safe(text)
    if text.isascii():
        return text
    return encoded_words(text, lead=len(name) + 2)


# RFC 2047 §5(3): characters a "Q" encoded-word may carry as themselves
_Q_LITERAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_ROOM = 75 - len("=?utf-8?q??=")  # an encoded-word is at most 75 characters
_FOLD_AT = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters


def encoded_words(text: str, lead: int = 0) -> str:
    """`text` as UTF-8 "Q" encoded-words, split between characters, never inside one.

    The stdlib's `Header.encode()` does the same but searches for split points by
    encoding the text again and again (a millisecond per subject); the words are
    separated by spaces, which decoders drop and `_folded` folds at. `lead` is
    what precedes the first word on its line ("Subject: "), so that line too
    stays within 78 characters.
    """
    words: list[str] = []
    word: list[str] = []
    used = max(0, lead + _Q_ROOM + len("=?utf-8?q??=") - _FOLD_AT)  # room the lead takes
    for char in text:
        if char == " ":
            piece = "_"
        elif char in _Q_LITERAL:
            piece = char
        else:
            piece = "".join(f"={byte:02X}" for byte in char.encode())
        if word and used + len(piece) > _Q_ROOM:
            words.append("".join(word))
            word, used = [], 0
        word.append(piece)
        used += len(piece)
    words.append("".join(word))
    return " ".join(f"=?utf-8?q?{w}?=" for w in words)


def _address(address: Address) -> str:
    """`Name <email>`; a non-ASCII name as encoded-words of at most 75 characters each
    (`formataddr` makes one word of any length, which RFC 2047 does not allow)."""
    name = header_safe(address.name, 200)
    if not name:
        return address.email
    if name.isascii():
        return formataddr((name, address.email))
    return f"{encoded_words(name)} <{address.email}>"


def _text_part(text: str, subtype: str) -> Message:
    part = Message()
    part.set_payload(text, charset=_UTF8_QP)  # base64 UTF-8, headers set to match
    if subtype != "plain":
        part.set_type(f"text/{subtype}")
    return part


def compose(
    mail: OutgoingMail,
    *,
    from_address: str,
    message_id: str,
    date: datetime,
    reply_to: str | None = None,
) -> bytes:
    """The complete RFC 5322 message, CRLF line endings.

    Built from the stdlib's compat32 parts with explicit encoding: the
    `EmailMessage` API re-parses every header through its registry and costs
    several milliseconds per mail, which a backlog of thousands notices.
    """
    if not mail.to:
        raise ValueError("an outgoing mail needs at least one To recipient")
    # Every leaf part is base64, whose lines never start with "--", so a boundary of our
    # own cannot occur in the content; the generator's own search for a free boundary
    # compiles a new regular expression per message (a third of a millisecond).
    boundary = "=_mailbot_" + hashlib.sha256(message_id.encode()).hexdigest()[:24]
    headers: list[tuple[str, str]] = [
        ("From", _address(Address(from_address, mail.from_name or ""))),
        ("To", ", ".join(_address(a) for a in mail.to)),
    ]
    if mail.cc:
        headers.append(("Cc", ", ".join(_address(a) for a in mail.cc)))
    if reply_to:
        headers.append(("Reply-To", header_safe(reply_to, 320)))
    headers += [
        ("Subject", _encode_header(mail.subject, "Subject")),
        ("Date", format_datetime(date)),
        ("Message-ID", f"<{header_safe(message_id, 500)}>"),
    ]
    if mail.in_reply_to:
        headers.append(("In-Reply-To", f"<{header_safe(mail.in_reply_to, 500)}>"))
    if mail.references:
        headers.append(
            ("References", " ".join(f"<{header_safe(r, 500)}>" for r in mail.references[-10:]))
        )
    headers.append(("X-Mailbot-Case", header_safe(mail.case_ref or NO_CASE, 40)))
    if mail.automated:
        headers += [
            ("Auto-Submitted", "auto-generated"),
            ("X-Auto-Response-Suppress", "OOF, AutoReply"),
        ]
    for name, value in mail.extra_headers:
        name = header_safe(name, 60).replace(":", "")
        headers.append((name, _encode_header(value, name)))
    # the envelope headers, folded here; then the body part with its own MIME headers
    # (MIME-Version, Content-Type, Content-Transfer-Encoding) as the generator writes it
    envelope = "".join(_folded(name, value) for name, value in headers).encode("ascii")
    if mail.attachments:
        buffer = BytesIO()
        buffer.write(envelope)
        BytesGenerator(buffer, policy=_CRLF).flatten(_mime_body(mail, boundary))
        return buffer.getvalue()
    return envelope + _text_body(mail, boundary)


def _mime_body(mail: OutgoingMail, boundary: str) -> Message:
    """The body as stdlib parts: text, HTML alternative, attachments."""
    body: Message = _text_part(mail.text, "plain")
    if mail.html is not None:
        alternative = MIMEMultipart("alternative", boundary=boundary + "_alt")
        alternative.attach(body)
        alternative.attach(_text_part(mail.html, "html"))
        body = alternative
    if mail.attachments:
        mixed = MIMEMultipart("mixed", boundary=boundary + "_mix")
        mixed.attach(body)
        for attachment in mail.attachments:
            main, _, sub = attachment.content_type.partition("/")
            if (main == "message" and sub == "rfc822") or not main or not sub or "\n" in sub:
                main, sub = "application", "octet-stream"
            part = MIMEBase(header_safe(main, 40), header_safe(sub, 80))
            part.set_payload(attachment.content)
            encoders.encode_base64(part)
            name = header_safe(attachment.filename, 200) or "attachment"
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
            mixed.attach(part)
        body = mixed
    return body


# The MIME headers of the text parts exactly as the stdlib generator writes them for
# `_text_part` (the HTML part's order follows its `set_type` call).
_PLAIN_HEADERS = (
    b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
)
_HTML_HEADERS = (
    b"Content-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: text/html; charset="utf-8"\r\n\r\n'
)


def _text_body(mail: OutgoingMail, boundary: str) -> bytes:
    """The body of a mail without attachments, byte for byte what the generator makes of
    `_mime_body` (a test holds them equal), written directly: the generator's walk over
    the parts was a sixth of composing a mail and most mail has no attachments."""
    plain = _PLAIN_HEADERS + _base64_lines(mail.text)
    if mail.html is None:
        return plain
    marker = f"--{boundary}_alt".encode("ascii")
    return b"".join(
        (
            b"Content-Type: multipart/alternative;\r\n",
            f' boundary="{boundary}_alt"\r\n'.encode("ascii"),
            b"MIME-Version: 1.0\r\n\r\n",
            marker + b"\r\n" + plain,
            b"\r\n" + marker + b"\r\n" + _HTML_HEADERS + _base64_lines(mail.html),
            b"\r\n" + marker + b"--\r\n",
        )
    )


def _base64_lines(text: str) -> bytes:
    """Base64 in lines of 76 characters, CRLF after each (nothing for an empty text)."""
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def _folded(name: str, value: str) -> str:
    """One header line, folded before spaces so that lines stay within 78 characters
    where a space allows it (unfolding gives back exactly `value`).

    The stdlib generator folds every header through `email.header.Header`, which
    costs more than composing the rest of the message; ours are simple values:
    addresses, encoded-words and ids separated by spaces. Non-ASCII text becomes
    encoded-words, as the generator would do.
    """
    if not value.isascii():
        value = encoded_words(value, lead=len(name) + 2)
    line = f"{name}: {value}"
    if len(line) <= _FOLD_AT:
        return line + "\r\n"
    first, *rest = value.split(" ")
    lines = [f"{name}: {first}"]
    for token in rest:
        if token and len(lines[-1]) + 1 + len(token) > _FOLD_AT and lines[-1].strip():
            lines.append(" " + token)
        else:
            lines[-1] += " " + token
    return "\r\n".join(lines) + "\r\n"
