"""The mailbox contract, shared by every backend (see `mailbot.mail.port`).

A backend joins by adding a `MailboxHarness` factory to `tests/mail/backends.py`:
the harness gives the mailbox under test plus ways to act *outside* it (deliver
a mail as if it arrived, look at a folder, see what was delivered).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.mail.port import Envelope, Mailbox


@dataclass
class MailboxHarness:
    """A backend under test and its outside view."""

    name: str
    mailbox: Mailbox
    deliver: Callable[[str, bytes], None]  # put a message into a folder from outside
    folder_messages: Callable[[str], list[bytes]]  # raw messages now in a folder
    delivered: Callable[[], list[tuple[Envelope, bytes]]]  # what left via send()
    is_unread: Callable[[str], bool]  # every message in the folder is still unread/unflagged


def make_mail(
    subject: str,
    *,
    sender: str = "jan@acme.example",
    body: str = "Hallo",
    message_id: str | None = None,
    extra: str = "",
) -> bytes:
    mid = message_id or f"{abs(hash(subject + body))}@acme.example"
    return (
        f"From: Jan <{sender}>\r\n"
        "To: leveranciers@gemeente.example\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{mid}>\r\n"
        "Date: Mon, 14 Dec 2026 10:00:00 +0100\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


def same_message(a: bytes, b: bytes) -> bool:
    """Equal up to line endings (servers may store LF or CRLF)."""
    return a.replace(b"\r\n", b"\n").rstrip(b"\n") == b.replace(b"\r\n", b"\n").rstrip(b"\n")
