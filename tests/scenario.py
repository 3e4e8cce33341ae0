"""A mailbox story for end-to-end tests: drop mails, run passes at set moments, read what left.

Every pass builds a fresh App from the config (new database connection, new
mailbox object), exactly like a cron `mailbot run --once`: so every step of a
story is also a restart.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.daemon import build_app, run_once
from mailbot.domain.message import InboundMail
from mailbot.mail.parse import parse
from mailbot.mail.port import Mailbox
from mailbot.service.app import App
from mailbot.service.cycle import CycleReport

_counter = itertools.count(1)


@dataclass
class Sent:
    """A mail that left (or was drafted), parsed, with its raw bytes."""

    mail: InboundMail
    raw: bytes

    @property
    def to(self) -> list[str]:
        return [a.email for a in self.mail.to]

    @property
    def cc(self) -> list[str]:
        return [a.email for a in self.mail.cc]

    @property
    def subject(self) -> str:
        return self.mail.subject

    @property
    def text(self) -> str:
        return self.mail.text


class Outside(Protocol):
    """The world around the mailbox: people deliver mail into it, and see what left."""

    def deliver(self, folder: str, raw: bytes) -> None: ...

    def sent(self) -> list[bytes]: ...

    def drafts(self) -> list[bytes]: ...

    def count(self, folder: str) -> int: ...


@dataclass
class MaildirOutside:
    """A Maildir tree without SMTP: what "left" is the local outgoing spool."""

    root: Path

    def _path(self, folder: str) -> Path:
        return self.root if folder == "INBOX" else self.root / f".{folder}"

    def deliver(self, folder: str, raw: bytes) -> None:
        path = self._path(folder) / "new"
        path.mkdir(parents=True, exist_ok=True)
        (path / f"story-{next(_counter)}.eml").write_bytes(raw)

    def _read(self, folder: str) -> list[bytes]:
        cur = self._path(folder) / "cur"
        if not cur.is_dir():
            return []
        files = sorted(cur.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in files]

    def sent(self) -> list[bytes]:
        return self._read("Uitgaand")

    def drafts(self) -> list[bytes]:
        return self._read("Drafts")

    def count(self, folder: str) -> int:
        path = self._path(folder)
        return sum(1 for sub in ("new", "cur") for _ in (path / sub).glob("*"))


@dataclass
class ImapOutside:
    """A real IMAP account (private Dovecot) and the SMTP server mailbot submits to."""

    account: Any  # tests.servers.dovecot.Account
    sink: Any  # tests.servers.smtp.SmtpSink

    def deliver(self, folder: str, raw: bytes) -> None:
        self.account.append(folder, raw)

    def sent(self) -> list[bytes]:
        return [m.data for m in self.sink.messages]

    def drafts(self) -> list[bytes]:
        return list(self.account.messages("Drafts"))

    def count(self, folder: str) -> int:
        return len(self.account.messages(folder))


@dataclass
class Story:
    config: Config
    clock: ManualClock
    outside: Outside | None = None
    mailbox_factory: Callable[[Config], Mailbox] | None = None
    reports: list[CycleReport] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.outside is None:
            self.outside = MaildirOutside(Path(self.config.mailbox.path))

    @property
    def world(self) -> Outside:
        assert self.outside is not None
        return self.outside

    @property
    def root(self) -> Path:
        return Path(self.config.mailbox.path)

    def app(self) -> App:
        mailbox = self.mailbox_factory(self.config) if self.mailbox_factory else None
        return build_app(self.config, clock=self.clock, mailbox=mailbox)

    def run(self, at: datetime | None = None) -> CycleReport:
        """One `run --once` pass at `at` (default: now on the story's clock), as a new process."""
        if at is not None:
            self.clock.set(at)
        app = self.app()
        try:
            report = run_once(app)
        finally:
            app.mailbox.close()
            app.db.close()
        self.reports.append(report)
        return report

    def drop(self, raw: bytes, folder: str = "INBOX") -> None:
        self.world.deliver(folder, raw)

    def outgoing(self) -> list[Sent]:
        """Everything that ever left, in order."""
        return [Sent(parse(raw), raw) for raw in self.world.sent()]

    def drafts(self) -> list[Sent]:
        return [Sent(parse(raw), raw) for raw in self.world.drafts()]

    def new_mail(self) -> list[Sent]:
        """Outgoing mail since the last call."""
        fresh = [m for m in self.outgoing() if (m.mail.message_id or "") not in self._seen]
        self._seen.update(m.mail.message_id or "" for m in fresh)
        return fresh

    def folder_count(self, name: str) -> int:
        return self.world.count(name)


def mail(
    *,
    sender: str,
    subject: str,
    body: str,
    to: str = "leveranciers@gemeente.example",
    in_reply_to: str | None = None,
    html: str | None = None,
    date: datetime | None = None,
    sender_name: str = "",
    extra_headers: str = "",
) -> bytes:
    """A plain (or HTML-only) mail as a client would send it."""
    number = next(_counter)
    headers = [
        f"From: {sender_name} <{sender}>" if sender_name else f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <story-{number}@{sender.rpartition('@')[2]}>",
        f"Date: {format_datetime(date) if date else 'Mon, 30 Nov 2026 10:00:00 +0100'}",
        "MIME-Version: 1.0",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    if extra_headers:
        headers += extra_headers.strip().splitlines()
    if html is not None:
        headers += ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        content = html
    else:
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        content = body
    return ("\r\n".join(headers) + "\r\n\r\n" + content.replace("\n", "\r\n") + "\r\n").encode()


def outlook_nl_reply(
    command: str, original: Sent, sender: str, sender_name: str
) -> tuple[str, str]:
    """(subject, body) of an Outlook (Dutch) reply above the quoted original."""
    quoted_from = original.mail.from_
    name, email = (quoted_from.name, quoted_from.email) if quoted_from else ("", "")
    body = (
        f"{command}\n\nMet vriendelijke groet,\n{sender_name}\n\n"
        f"Van: {name} <{email}>\n"
        "Verzonden: maandag 14 december 2026 10:12\n"
        f"Aan: {sender_name} <{sender}>\n"
        f"Onderwerp: {original.subject}\n\n" + "\n".join(original.text.splitlines()[:8])
    )
    return f"RE: {original.subject}", body


def gmail_nl_reply(text: str, original: Sent) -> tuple[str, str]:
    quoted = "\n".join("> " + line for line in original.text.splitlines()[:6])
    frm = original.mail.from_
    who = f"{frm.name} <{frm.email}>" if frm else "iemand"
    return (
        f"Re: {original.subject}",
        f"{text}\n\nOp ma 14 dec. 2026 om 10:12 schreef {who}:\n\n{quoted}\n",
    )
