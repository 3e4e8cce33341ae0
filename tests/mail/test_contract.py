"""Every backend keeps the same promises (see `mailbot.mail.port`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.mail.parse import parse
from mailbot.mail.port import INBOX, Envelope, Mailbox, MailboxError
from tests.mail import backends, backends_exchange
from tests.mail.contract import MailboxHarness, make_mail, same_message

FOLDERS = ["complimenten", "Verwerkt", "Te beoordelen", "Quarantaine", "mailbot/Archief"]


def all_keys(mailbox: Mailbox, folder: str) -> list[str]:
    """Every key in a folder: a scan from scratch, page by page."""
    keys: list[str] = []
    since = None
    while True:
        listing = mailbox.scan(folder, since)
        keys += listing.keys
        since = listing.checkpoint
        if not listing.more:
            return keys


@pytest.fixture(
    params=["maildir", pytest.param("imap", marks=pytest.mark.integration), "ews", "graph"]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailboxHarness]:
    name = f"{request.param}_harness"
    factory = getattr(backends, name, None) or getattr(backends_exchange, name)
    yield from factory(tmp_path)


@pytest.fixture
def opened(harness: MailboxHarness) -> MailboxHarness:
    harness.mailbox.open(FOLDERS)
    return harness


def test_it_creates_missing_folders_and_opening_twice_is_harmless(harness: MailboxHarness) -> None:
    harness.mailbox.open(FOLDERS)
    harness.mailbox.open(FOLDERS)
    for folder in [INBOX, *FOLDERS]:
        assert all_keys(harness.mailbox, folder) == []


def test_it_lists_delivered_mail_oldest_first_without_marking_it_read(
    opened: MailboxHarness,
) -> None:
    first, second = make_mail("een"), make_mail("twee")
    opened.deliver(INBOX, first)
    time.sleep(0.01)
    opened.deliver(INBOX, second)
    keys = all_keys(opened.mailbox, INBOX)
    assert len(keys) == 2
    assert all_keys(opened.mailbox, INBOX) == keys, "keys must be stable between calls"
    assert parse(opened.mailbox.fetch(INBOX, keys[0])).subject == "een"
    assert same_message(opened.mailbox.fetch(INBOX, keys[1]), second)
    assert opened.is_unread(INBOX)


def test_it_keeps_eight_bit_and_binary_content_byte_for_byte(opened: MailboxHarness) -> None:
    raw = make_mail("Ünïcode", body="Groetjes — Zoë\r\n\x01\x02 binair")
    opened.deliver("complimenten", raw)
    (key,) = all_keys(opened.mailbox, "complimenten")
    assert same_message(opened.mailbox.fetch("complimenten", key), raw)


def test_it_moves_a_message_and_moving_it_again_is_not_an_error(opened: MailboxHarness) -> None:
    opened.deliver(INBOX, make_mail("verplaats mij"))
    (key,) = all_keys(opened.mailbox, INBOX)
    new_key = opened.mailbox.move(INBOX, key, "Te beoordelen")
    assert all_keys(opened.mailbox, INBOX) == []
    if new_key is not None:
        assert parse(opened.mailbox.fetch("Te beoordelen", new_key)).subject == "verplaats mij"
    assert [parse(m).subject for m in opened.folder_messages("Te beoordelen")] == ["verplaats mij"]
    opened.mailbox.move(INBOX, key, "Te beoordelen")
    opened.mailbox.move(INBOX, "no-such-key", "Verwerkt")
    assert len(opened.folder_messages("Te beoordelen")) == 1


def test_it_moves_into_nested_folders(opened: MailboxHarness) -> None:
    opened.deliver(INBOX, make_mail("genest"))
    (key,) = all_keys(opened.mailbox, INBOX)
    opened.mailbox.move(INBOX, key, "mailbot/Archief")
    assert len(all_keys(opened.mailbox, "mailbot/Archief")) == 1


def test_it_refuses_to_fetch_a_message_that_is_gone(opened: MailboxHarness) -> None:
    with pytest.raises(MailboxError) as gone:
        opened.mailbox.fetch(INBOX, "no-such-key")
    assert gone.value.permanent, "asking again cannot bring it back (unlike an outage)"


def test_it_sends_keeps_a_copy_in_sent_and_finds_it_again(opened: MailboxHarness) -> None:
    raw = make_mail(
        "=?utf-8?q?Stap_1_=E2=80=94_herstel?=",
        sender="leveranciers@gemeente.example",
        message_id="out-1@gemeente.example",
        extra="X-Mailbot-Case: ESC-2026-0001\r\n",
    )
    used = opened.mailbox.send(
        raw,
        Envelope("leveranciers@gemeente.example", ["jan@acme.example"]),
        "out-1@gemeente.example",
    )
    assert used
    assert opened.mailbox.was_sent(used)
    assert not opened.mailbox.was_sent("never-sent@gemeente.example")
    assert any(same_message(r, raw) for _, r in opened.delivered())
    copies, marker = opened.mailbox.sent_messages(None)
    assert [(c.message_id, c.case_ref, c.subject) for c in copies] == [
        (used, "ESC-2026-0001", "Stap 1 — herstel")
    ]
    assert marker is not None
    again, _ = opened.mailbox.sent_messages(marker)
    assert again == []


def test_it_reads_back_many_sent_copies(opened: MailboxHarness) -> None:
    """After a backlog: more copies than a backend reads in one group (Graph, EWS: 25)."""
    marker = opened.mailbox.sent_marker()
    for i in range(60):
        opened.mailbox.send(
            make_mail(f"stap {i}", sender="leveranciers@gemeente.example", message_id=f"s{i}@x"),
            Envelope("leveranciers@gemeente.example", ["jan@acme.example"]),
            f"s{i}@x",
        )
    copies, _ = opened.mailbox.sent_messages(marker)
    assert sorted((c.message_id or "", c.subject) for c in copies) == sorted(
        (f"s{i}@x", f"stap {i}") for i in range(60)
    )


def test_it_saves_drafts_without_sending_them(opened: MailboxHarness) -> None:
    raw = make_mail("Concept", message_id="draft-1@gemeente.example")
    opened.mailbox.save_draft(raw, "draft-1@gemeente.example")
    assert opened.mailbox.has_draft("draft-1@gemeente.example")
    assert not opened.mailbox.has_draft("other@gemeente.example")
    assert opened.delivered() == []
    assert not opened.mailbox.was_sent("draft-1@gemeente.example")


def test_it_wakes_a_waiter_when_mail_arrives(opened: MailboxHarness) -> None:
    watch = getattr(opened.mailbox, "watch", None)
    if callable(watch):
        watch([INBOX, "complimenten"])
    assert opened.mailbox.wait(0.2) is False
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(opened.mailbox.wait(10)))
    waiter.start()
    time.sleep(0.3)
    opened.deliver("complimenten", make_mail("Compliment!"))
    waiter.join(12)
    assert woke == [True]


def test_it_lists_only_what_came_after_a_checkpoint_and_again_from_an_older_one(
    opened: MailboxHarness,
) -> None:
    opened.deliver(INBOX, make_mail("eerste"))
    first = opened.mailbox.scan(INBOX, None)
    assert len(first.keys) == 1
    opened.deliver(INBOX, make_mail("tweede"))
    later = all_keys(opened.mailbox, INBOX)
    after = opened.mailbox.scan(INBOX, first.checkpoint)
    assert set(after.keys) <= set(later) and later[-1] in after.keys
    assert first.keys[0] in all_keys(opened.mailbox, INBOX), "an older checkpoint lists it again"
