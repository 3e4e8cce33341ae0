"""Harness factories for every backend in the contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from aiosmtpd.controller import Controller

from mailbot.mail.imap import ImapMailbox
from mailbot.mail.maildir import MaildirMailbox
from mailbot.mail.port import Envelope
from mailbot.mail.smtp import SmtpRelay
from tests.mail.contract import MailboxHarness
from tests.servers import free_port
from tests.servers.dovecot import new_account
from tests.servers.smtp import SmtpSink


def maildir_harness(tmp_path: Path) -> Iterator[MailboxHarness]:
    root = tmp_path / "mailbox"
    mailbox = MaildirMailbox(root, outgoing_folder="Uitgaand")

    def deliver(folder: str, raw: bytes) -> None:
        path = mailbox.folder_path(folder)
        (path / "new").mkdir(parents=True, exist_ok=True)
        name = f"external-{len(list((path / 'new').iterdir()))}-{abs(hash(raw))}.eml"
        (path / "new" / name).write_bytes(raw)

    def messages(folder: str) -> list[bytes]:
        path = mailbox.folder_path(folder)
        files = sorted((*path.glob("new/*"), *path.glob("cur/*")))
        return [f.read_bytes() for f in files if f.is_file()]

    def delivered() -> list[tuple[Envelope, bytes]]:
        # no relay: the local spool folder holds what "left"
        return [(Envelope("", []), raw) for raw in messages("Uitgaand")]

    def is_unread(folder: str) -> bool:
        path = mailbox.folder_path(folder)
        return all("S" not in f.name.partition(":2,")[2] for f in path.glob("cur/*"))

    yield MailboxHarness("maildir", mailbox, deliver, messages, delivered, is_unread)
    mailbox.close()


def imap_harness(tmp_path: Path) -> Iterator[MailboxHarness]:
    """A fresh account on the shared private Dovecot, sending through an aiosmtpd sink."""
    account = new_account()  # skips (fails under CI=true) when Dovecot is missing
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    relay = SmtpRelay(controller.hostname, controller.port, security="none")
    mailbox = ImapMailbox(account.settings(), relay, poll_interval=0.5)

    def delivered() -> list[tuple[Envelope, bytes]]:
        return [(Envelope(m.sender, m.recipients), m.data) for m in sink.messages]

    def is_unread(folder: str) -> bool:
        return not any("\\Seen" in line for line in account.flags(folder))

    try:
        yield MailboxHarness(
            "imap", mailbox, account.append, account.messages, delivered, is_unread
        )
    finally:
        mailbox.close()
        controller.stop()
