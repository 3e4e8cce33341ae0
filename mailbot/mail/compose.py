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

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailbot.domain.message import Address, Attachment

_LINEBREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")


def header_safe(text: str, limit: int = 900) -> str:
    """One line of header text: no line breaks, no control characters, bounded length."""
    cleaned = _LINEBREAKS.sub(" ", text)
    cleaned = "".join(ch for ch in cleaned if ch == "\t" or (ord(ch) >= 32 and ord(ch) != 127))
    return cleaned.strip()[:limit]


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


def _header_address(address: Address) -> HeaderAddress:
    local, _, domain = address.email.partition("@")
    return HeaderAddress(display_name=header_safe(address.name, 200), username=local, domain=domain)


def compose(
    mail: OutgoingMail,
    *,
    from_address: str,
    message_id: str,
    date: datetime,
    reply_to: str | None = None,
) -> bytes:
    """The complete RFC 5322 message, CRLF line endings."""
    if not mail.to:
        raise ValueError("an outgoing mail needs at least one To recipient")
    message = EmailMessage(policy=SMTP)
    message["From"] = _header_address(Address(from_address, mail.from_name or ""))
    message["To"] = [_header_address(a) for a in mail.to]
    if mail.cc:
        message["Cc"] = [_header_address(a) for a in mail.cc]
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = header_safe(mail.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{message_id}>"
    if mail.in_reply_to:
        message["In-Reply-To"] = f"<{header_safe(mail.in_reply_to, 500)}>"
    if mail.references:
        message["References"] = " ".join(f"<{header_safe(r, 500)}>" for r in mail.references[-10:])
    if mail.case_ref:
        message["X-Mailbot-Case"] = header_safe(mail.case_ref, 40)
    if mail.automated:
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    for name, value in mail.extra_headers:
        message[header_safe(name, 60)] = header_safe(value)
    message.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in mail.attachments:
        main, _, sub = attachment.content_type.partition("/")
        if main == "message" and sub == "rfc822":
            main, sub = "application", "octet-stream"
        message.add_attachment(
            attachment.content,
            maintype=main or "application",
            subtype=sub or "octet-stream",
            filename=header_safe(attachment.filename, 200) or "attachment",
        )
    return message.as_bytes()
