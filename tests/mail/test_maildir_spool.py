"""The local outgoing spool of the Maildir backend (no SMTP relay): each mail once."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

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


ENVELOPE = Envelope(sender="leveranciers@gemeente.example", recipients=["sm@acme.example"])


def send_step_one(root: Path) -> tuple[MaildirMailbox, bytes]:
    """A mailbox without relay that has just sent one mail (spool and Sent)."""
    mailbox = MaildirMailbox(root, outgoing_folder="Uitgaand")
    mailbox.open([])
    raw = make_mail("Stap 1", message_id="step-1@gemeente.example")
    mailbox.send(raw, ENVELOPE, "<step-1@gemeente.example>")
    return mailbox, raw


def test_the_sent_copy_is_a_second_name_of_the_spooled_file(tmp_path: Path) -> None:
    _, raw = send_step_one(tmp_path)

    (spooled,) = files(tmp_path, "Uitgaand")
    (sent,) = files(tmp_path, "Sent")
    assert spooled.stat().st_ino == sent.stat().st_ino
    assert sent.read_bytes() == raw
    assert sent.name.endswith(":2,S")
    spooled.unlink()  # whatever empties the spool leaves the Sent copy alone
    assert sent.read_bytes() == raw


def test_the_sent_copy_is_written_where_the_file_system_cannot_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    mailbox, raw = send_step_one(tmp_path)

    (spooled,) = files(tmp_path, "Uitgaand")
    (sent,) = files(tmp_path, "Sent")
    assert spooled.stat().st_ino != sent.stat().st_ino
    assert sent.read_bytes() == raw
    assert mailbox.was_sent("<step-1@gemeente.example>")


def test_folders_removed_behind_its_back_are_made_again(tmp_path: Path) -> None:
    mailbox = MaildirMailbox(tmp_path, outgoing_folder="Uitgaand")
    mailbox.open(["Verwerkt"])
    inbox_mail = tmp_path / "new" / "a.eml"
    inbox_mail.write_bytes(make_mail("Vraag", message_id="q@acme.example"))
    (key,) = mailbox.scan("INBOX", None).keys
    for folder in ("Uitgaand", "Sent", "Verwerkt"):
        shutil.rmtree(tmp_path / f".{folder}")  # an admin cleaning up, a restore

    mailbox.send(make_mail("Stap 1", message_id="s@gemeente.example"), ENVELOPE, "<s@g.example>")
    moved = mailbox.move("INBOX", key, "Verwerkt")

    assert moved == key
    assert len(files(tmp_path, "Uitgaand")) == 1
    assert mailbox.was_sent("<s@g.example>")
    assert len(files(tmp_path, "Verwerkt")) == 1
    assert mailbox.move("INBOX", key, "Verwerkt") is None  # gone: not an error
