"""The EWS backend against the in-process EWS fake: exchangelib's real code over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.daemon import build_app
from mailbot.mail.ews import EwsMailbox, from_config
from mailbot.mail.parse import parse
from mailbot.mail.port import INBOX, Envelope, MailboxError
from mailbot.service.ingest import ingest
from mailbot.service.router import process
from tests.mail.backends_exchange import ews_config, ews_settings, running_ews
from tests.mail.contract import make_mail
from tests.servers.ews_fake import EwsFakeServer

FOLDERS = ["complimenten", "Verwerkt", "Te beoordelen", "Quarantaine"]


@pytest.fixture
def ews() -> Iterator[tuple[EwsMailbox, EwsFakeServer]]:
    with running_ews(page_size=3) as (mailbox, fake):
        mailbox.open(FOLDERS)
        yield mailbox, fake


def all_keys(mailbox: EwsMailbox, folder: str) -> list[str]:
    keys: list[str] = []
    since = None
    while True:
        listing = mailbox.scan(folder, since)
        keys += listing.keys
        since = listing.checkpoint
        if not listing.more:
            return keys


def subjects(mailbox: EwsMailbox, keys: list[str]) -> list[str]:
    raws = mailbox.fetch_many(INBOX, keys)
    return [parse(raws[k]).subject for k in keys]


def test_it_pages_and_resumes_exactly_after_a_crash(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    for i in range(7):
        fake.deliver(INBOX, make_mail(f"oud {i}"))
    first = mailbox.scan(INBOX, None)
    second = mailbox.scan(INBOX, first.checkpoint)
    assert (len(first.keys), first.more, len(second.keys), second.more) == (3, True, 3, True)
    saved = second.checkpoint  # what the core persisted before the crash

    restarted = EwsMailbox(ews_settings(fake), page_size=3)  # the process after the crash
    try:
        rest = restarted.scan(INBOX, saved)
        assert subjects(restarted, rest.keys) == ["oud 6"] and not rest.more
        fake.deliver(INBOX, make_mail("nieuw"))
        later = restarted.scan(INBOX, rest.checkpoint)
        assert subjects(restarted, later.keys) == ["nieuw"]
    finally:
        restarted.close()


def test_it_lists_everything_again_when_the_sync_state_expired(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    fake.deliver(INBOX, make_mail("een"))
    listing = mailbox.scan(INBOX, None)
    fake.deliver(INBOX, make_mail("twee"))
    fake.expire_sync_states()
    again = mailbox.scan(INBOX, listing.checkpoint)
    assert sorted(subjects(mailbox, again.keys)) == ["een", "twee"]
    assert mailbox.scan(INBOX, again.checkpoint).keys == []


def test_it_ignores_read_flags_moves_and_deletes(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, fake = ews
    fake.deliver(INBOX, make_mail("een"))
    fake.deliver(INBOX, make_mail("twee"))
    listing = mailbox.scan(INBOX, None)
    fake.mark_read(fake.folder_items(INBOX)[0].id)
    mailbox.move(INBOX, listing.keys[1], "Verwerkt")
    after = mailbox.scan(INBOX, listing.checkpoint)
    assert after.keys == [] and not after.more


def test_it_gives_a_moved_message_its_new_id(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, fake = ews
    fake.deliver(INBOX, make_mail("verplaats"))
    (key,) = mailbox.scan(INBOX, None).keys
    new_key = mailbox.move(INBOX, key, "Verwerkt")
    assert new_key and new_key != key
    assert parse(mailbox.fetch("Verwerkt", new_key)).subject == "verplaats"
    assert mailbox.move_many(INBOX, [key, "no-such-key"], "Verwerkt") == {
        key: None,
        "no-such-key": None,
    }


def test_it_waits_as_long_as_the_server_asks_and_then_succeeds(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    fake.deliver(INBOX, make_mail("een"))
    fake.counts.clear()
    fake.throttle(times=1, back_off_ms=1000, operation="SyncFolderItems")
    started = time.monotonic()
    listing = mailbox.scan(INBOX, None)
    assert time.monotonic() - started >= 1.0
    assert len(listing.keys) == 1
    assert fake.counts["SyncFolderItems"] == 2


def test_it_gives_up_on_a_server_that_stays_busy(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, fake = ews
    mailbox._policy.max_wait = 2.5
    fake.throttle(times=100, back_off_ms=1000)
    started = time.monotonic()
    with pytest.raises(MailboxError) as refused:
        mailbox.scan(INBOX, None)
    assert not refused.value.permanent
    assert time.monotonic() - started < 6


def test_it_reports_a_wrong_password_at_once_and_for_good() -> None:
    with running_ews() as (_, fake):
        mailbox = EwsMailbox(ews_settings(fake, password="fout"), max_wait=60)
        started = time.monotonic()
        with pytest.raises(MailboxError) as refused:
            mailbox.open(FOLDERS)
        assert refused.value.permanent
        assert "leveranciers@gemeente.example" in str(refused.value)
        assert time.monotonic() - started < 3, "no minutes of retrying a 401"
        assert fake.counts["401"] == 1


def test_it_reports_a_password_changed_while_running_as_permanent(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    mailbox._policy.max_wait = 5  # exchangelib reads a 401 as throttling: bounded all the same
    fake.password = "nieuw"
    with pytest.raises(MailboxError) as refused:
        mailbox.scan(INBOX, None)
    assert refused.value.permanent


def test_it_reports_a_mailbox_the_account_cannot_open() -> None:
    with running_ews() as (_, fake):
        settings = ews_settings(fake)
        wrong = type(settings)(**{**settings.__dict__, "address": "ander@gemeente.example"})
        with pytest.raises(MailboxError) as refused:
            EwsMailbox(wrong).open(FOLDERS)
        assert refused.value.permanent


def test_it_reads_back_the_message_id_the_server_used(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    fake.replace_message_ids = True
    raw = make_mail("Stap 1", message_id="mailbot.abc@gemeente.example")
    used = mailbox.send(raw, Envelope("x", ["jan@acme.example"]), "mailbot.abc@gemeente.example")
    assert used != "mailbot.abc@gemeente.example"
    assert used.endswith("@EXCH01.gemeente.example")
    assert parse(fake.sent[0][1]).message_id == used
    # after a crash the outbox only knows its own id: the named property finds the copy
    assert mailbox.was_sent("mailbot.abc@gemeente.example")
    assert mailbox.was_sent(used)


def test_it_sends_envelope_only_recipients_as_bcc(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, fake = ews
    raw = make_mail("Stap 1", message_id="m1@gemeente.example")
    mailbox.send(raw, Envelope("x", ["leveranciers@gemeente.example", "stil@acme.example"]), "m1")
    recipients, sent = fake.sent[0]
    assert "stil@acme.example" in recipients
    assert sent == raw


def test_it_marks_now_in_sent_without_reading_it(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, fake = ews
    for i in range(4):
        mailbox.send(make_mail(f"oud {i}", message_id=f"o{i}@x"), Envelope("x", []), f"o{i}@x")
    fake.counts.clear()
    marker = mailbox.sent_marker()
    assert fake.counts["GetItem"] == 0
    mailbox.send(make_mail("nieuw", message_id="n@x"), Envelope("x", []), "n@x")
    copies, _ = mailbox.sent_messages(marker)
    assert [c.message_id for c in copies] == ["n@x"]


def test_it_saves_drafts_that_outlook_opens_as_drafts(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    key = mailbox.save_draft(make_mail("Concept", message_id="d1@gemeente.example"), "d1")
    (item,) = fake.folder_items("Drafts")
    assert item.id == key and item.is_draft and item.is_read
    assert mailbox.has_draft("d1") and mailbox.has_draft("d1@gemeente.example")


def test_it_fetches_mime_in_small_requests(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, fake = ews
    mailbox.fetch_max_bytes = 120_000
    for i in range(6):
        fake.deliver(INBOX, make_mail(f"groot {i}", body="x" * 50_000))
    keys = all_keys(mailbox, INBOX)
    fake.counts.clear()
    found = mailbox.fetch_many(INBOX, [*keys, "AAAAAEkAAAAAAAAAAAAAAAAAAAAAAAA="])
    assert len(found) == 6
    assert fake.counts["GetItem"] == 4, "two ~50 KB messages per request, the unknown key alone"


def test_it_finds_folders_created_by_someone_else_after_it_started(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    fake.deliver(INBOX, make_mail("archief"))
    (key,) = mailbox.scan(INBOX, None).keys
    with fake.lock:
        fake._add_folder("Archief 2026", fake.wellknown("msgfolderroot").id)
    fake.counts.clear()
    mailbox.move(INBOX, key, "Archief 2026")
    assert fake.counts["CreateFolder"] == 0
    assert len(fake.folder_messages("Archief 2026")) == 1


def test_it_is_woken_by_new_mail_but_not_by_its_own_moves(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    fake.deliver(INBOX, make_mail("een"))
    (key,) = mailbox.scan(INBOX, None).keys
    mailbox.watch([INBOX, "complimenten"])
    mailbox.move(INBOX, key, "Verwerkt")
    assert mailbox.wait(0.5) is False
    fake.deliver("complimenten", make_mail("Compliment"))
    assert mailbox.wait(5) is True


def test_it_sleeps_when_the_server_offers_no_notifications(
    ews: tuple[EwsMailbox, EwsFakeServer],
) -> None:
    mailbox, fake = ews
    fake.refuse_subscriptions = True
    started = time.monotonic()
    assert mailbox.wait(0.5) is False
    assert time.monotonic() - started >= 0.5


def test_it_tells_check_config_what_it_sees(ews: tuple[EwsMailbox, EwsFakeServer]) -> None:
    mailbox, _ = ews
    mailbox.config_folders = ("complimenten", "Ontbreekt")
    report = "\n".join(mailbox.probe())
    assert "build 15.1" in report
    assert "folder Inbox: found" in report
    assert "folder 'complimenten': found" in report
    assert "folder 'Ontbreekt': missing" in report
    assert "streaming notifications: available" in report


def test_it_builds_the_mailbox_from_the_config(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    with running_ews() as (_, fake):
        mailbox = from_config(make_config(mailbox=ews_config(fake, tmp_path)))
        try:
            mailbox.open(FOLDERS)
            assert mailbox.settings.auth_type == "basic"
            version = mailbox.settings.version
            assert version is not None and version.build.minor_version == 1
        finally:
            mailbox.close()


def test_it_refuses_an_unknown_exchange_version(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    from mailbot.config import ConfigError

    with running_ews() as (_, fake):
        section = ews_config(fake, tmp_path)
        section["ews"]["version"] = "Exchange2003"
        with pytest.raises(ConfigError, match=r"mailbox\.ews\.version"):
            from_config(make_config(mailbox=section))


# -- efficiency -----------------------------------------------------------------------------

BACKLOG = 500


def backlog_requests(
    make_config: Callable[..., Config], clock: ManualClock, tmp_path: Path
) -> tuple[dict[str, int], int]:
    """Requests the fake saw while one pass ingested a backlog of 500 messages."""
    with running_ews() as (mailbox, fake):
        app = build_app(
            make_config(mailbox=ews_config(fake, tmp_path)), clock=clock, mailbox=mailbox
        )
        try:
            ingest(app, process)  # first start: the folders' sync state marks "now"
            for i in range(BACKLOG):
                fake.deliver(INBOX, make_mail(f"Melding {i}", body=f"storing {i}\r\n" * 40))
            fake.counts.clear()
            report = ingest(app, process)
            assert (report.stored, report.moved) == (BACKLOG, BACKLOG)
            assert len(fake.folder_messages("Te beoordelen")) == BACKLOG
            return dict(fake.counts), fake.total_requests()
        finally:
            app.db.close()


@pytest.mark.database
def test_it_ingests_a_backlog_with_few_requests_per_message(
    make_config: Callable[..., Config],
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    counts, total = backlog_requests(make_config, clock, tmp_path)
    print(f"EWS backlog: {counts} = {total / BACKLOG:.3f} per message")
    assert total / BACKLOG < 0.2
    assert counts["GetItem"] <= BACKLOG / 20
    assert counts["MoveItem"] <= BACKLOG / 100 + 1


def test_it_reads_oauth2_and_ntlm_settings_from_the_config(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    from mailbot.mail.ews import settings_from_config

    (tmp_path / "secret").write_text("s3cret")
    oauth = settings_from_config(
        make_config(
            mailbox={
                "backend": "ews",
                "ews": {
                    "auth": "oauth2",
                    "tenant_id": "t",
                    "client_id": "c",
                    "client_secret_file": "secret",
                },
            }
        )
    )
    assert (oauth.auth_type, oauth.access_type) == ("OAuth 2.0", "impersonation")
    assert oauth.service_endpoint == "https://outlook.office365.com/EWS/Exchange.asmx"
    ntlm = settings_from_config(
        make_config(
            mailbox={
                "backend": "ews",
                "ews": {
                    "service_endpoint": "https://mail.gemeente.example/EWS/Exchange.asmx",
                    "username": "GEMEENTE\\svc-mailbot",
                    "password_file": "secret",
                },
            }
        )
    )
    assert (ntlm.auth_type, ntlm.access_type) == ("NTLM", "delegate")
    assert ntlm.version is None, "no version: exchangelib asks the server"
