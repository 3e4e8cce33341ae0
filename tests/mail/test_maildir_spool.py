"""The local outgoing spool of the Maildir backend (no SMTP relay): each mail once."""

from __future__ import annotations

from pathlib import Path

from mailbot.mail.maildir import MaildirMailbox
from mailbot.mail.port import Envelope
from tests.mail.contract import make_mail


def files(root: Path, folder: str) -> list[Path]:
    return list((root / f".{folder}" / "cur").iterdir())


def test_it_spools_a_mail_once_when_a_crash_came_before_its_sent_copy(tmp_path: Path) -> None:
    mailbox = MaildirMailbox(tmp_path, outgoing_folder="Uitgaand")
    mailbox.open([])
    raw = make_mail("Stap 1", message_id="step-1@gemeente.example")
    envelope = Envelope(sender="leveranciers@gemeente.example", recipients=["sm@acme.example"])
    mailbox.send(raw, envelope, "<step-1@gemeente.example>")
    (sent_copy,) = files(tmp_path, "Sent")
    sent_copy.unlink()  # as if killed between the spool and the Sent copy
    assert not mailbox.was_sent("<step-1@gemeente.example>")

    mailbox.send(raw, envelope, "<step-1@gemeente.example>")  # the outbox tries again

    assert len(files(tmp_path, "Uitgaand")) == 1
    assert len(files(tmp_path, "Sent")) == 1
    assert mailbox.was_sent("<step-1@gemeente.example>")
