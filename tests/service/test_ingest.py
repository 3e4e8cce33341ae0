"""Ingest: every message ends in the database and in exactly one end folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.domain.message import InboundMail
from mailbot.mail.port import INBOX, MailboxError
from mailbot.service.app import App
from mailbot.service.ingest import Disposition, ingest, retry_quarantined
from mailbot.service.outbox import flush
from mailbot.service.router import process
from mailbot.store.db import DatabaseUnavailable
from mailbot.store.tables import InboundMessage, OutboundMessage
from tests.corpora import corpus_messages
from tests.mail.contract import make_mail

pytestmark = pytest.mark.database


def drop(app: App, folder: str, raw: bytes, name: str) -> None:
    path = app.mailbox.folder_path(folder) / "new"  # type: ignore[attr-defined]
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(raw)


def folder_count(app: App, folder: str) -> int:
    return len(app.mailbox.keys(folder))


def rows(app: App) -> list[InboundMessage]:
    with app.db.session() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def start(app: App) -> None:
    """The first pass on an empty mailbox: marks the folders as known."""
    ingest(app, process)


def test_it_takes_every_corpus_message_to_an_end_folder_and_the_database(app: App) -> None:
    start(app)
    files = corpus_messages()
    for index, path in enumerate(files):
        folder = INBOX if index % 2 else app.folders.compliments
        drop(app, folder, path.read_bytes(), f"corpus-{index}.eml")
    report = ingest(app, process)
    assert report.errors == []
    assert report.stored == report.applied == len(files)
    assert folder_count(app, INBOX) == folder_count(app, app.folders.compliments) == 0
    ends = sum(folder_count(app, f) for f in app.folders.end_folders)
    assert ends == len(files)
    with app.db.session() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == len(files)
        assert session.scalar(select(func.count()).where(InboundMessage.status != "moved")) == 0


def test_it_leaves_mail_found_at_first_start_where_it_is(make_app: Callable[..., App]) -> None:
    app = make_app()
    app.mailbox.open([INBOX])
    drop(app, INBOX, make_mail("Escalatie acme: oud"), "old-1.eml")
    drop(app, app.folders.compliments, make_mail("Compliment van vorig jaar"), "old-2.eml")
    report = ingest(app, process)
    assert report.preexisting == 2 and report.applied == 0
    assert folder_count(app, INBOX) == 1 and folder_count(app, app.folders.compliments) == 1
    drop(app, INBOX, make_mail("nieuw"), "new-1.eml")
    report = ingest(app, process)
    assert report.applied == 1 and report.preexisting == 0
    assert folder_count(app, INBOX) == 1, "the old mail stays, the new one moved"
    assert [r.status for r in rows(app)] == ["preexisting", "preexisting", "moved"]


def test_it_processes_existing_mail_when_asked(make_app: Callable[..., App]) -> None:
    app = make_app(mailbox={"process_existing": True})
    drop(app, INBOX, make_mail("al aanwezig"), "old.eml")
    report = ingest(app, process)
    assert report.applied == 1 and folder_count(app, INBOX) == 0


def test_it_quarantines_after_max_attempts_and_tells_the_admins(app: App) -> None:
    start(app)
    calls: list[int] = []

    def broken(session: Session, app: App, row: InboundMessage, mail: InboundMail) -> Disposition:
        calls.append(row.id)
        raise ValueError("unexpected structure")

    drop(app, INBOX, make_mail("breekt alles"), "bad.eml")
    for _ in range(app.config.mailbot.max_attempts - 1):
        report = ingest(app, broken)
        assert report.quarantined == 0 and folder_count(app, INBOX) == 1
    report = ingest(app, broken)
    assert report.quarantined == 1
    assert folder_count(app, INBOX) == 0 and folder_count(app, app.folders.quarantine) == 1
    assert len(calls) == app.config.mailbot.max_attempts
    (row,) = rows(app)
    assert row.destination == "quarantine" and "unexpected structure" in (row.last_error or "")
    with app.db.session() as session:
        (notice,) = session.scalars(select(OutboundMessage)).all()
        assert notice.recipients == ["beheer@gemeente.example"]
        assert "breekt alles" in notice.subject

    assert retry_quarantined(app, row.id)
    report = ingest(app, process)
    assert report.applied == 1
    assert folder_count(app, app.folders.quarantine) == 0
    assert folder_count(app, app.folders.triage) == 1
    assert not retry_quarantined(app, row.id), "only quarantined mail can be retried"


def test_it_does_not_count_database_trouble_as_an_attempt(app: App) -> None:
    start(app)

    def db_down(session: Session, app: App, row: InboundMessage, mail: InboundMail) -> Disposition:
        raise DatabaseUnavailable("database is locked")

    drop(app, INBOX, make_mail("wacht op de database"), "m.eml")
    for _ in range(5):
        with pytest.raises(DatabaseUnavailable):
            ingest(app, db_down)
    (row,) = rows(app)
    assert row.attempts == 0 and row.status == "stored"
    assert ingest(app, process).applied == 1


def test_it_recognises_a_second_delivery_of_the_same_message(app: App) -> None:
    start(app)
    raw = make_mail("dubbel", message_id="same@acme.example")
    drop(app, INBOX, raw, "a.eml")
    ingest(app, process)
    drop(app, INBOX, raw, "b.eml")
    ingest(app, process)
    first, second = rows(app)
    assert first.destination == "triage"
    assert second.destination == "processed"
    assert second.outcome == f"second delivery of #{first.id}"


def test_it_recognises_a_second_delivery_applied_in_the_same_batch(app: App) -> None:
    """The To and the Cc copy arrive together: one batch, one row finished before the other."""
    start(app)
    raw = make_mail("dubbel", message_id="same@acme.example")
    drop(app, INBOX, make_mail("ander", message_id="other@acme.example"), "0.eml")
    drop(app, INBOX, raw, "a.eml")
    drop(app, INBOX, raw, "b.eml")
    assert ingest(app, process).applied == 3
    other, first, second = rows(app)
    assert (other.outcome, first.destination) == ("matched no case and is no command", "triage")
    assert second.outcome == f"second delivery of #{first.id}"


def test_it_keeps_going_when_one_folder_fails(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    start(app)
    real_keys = app.mailbox.keys

    def keys(folder: str) -> list[str]:
        if folder == app.folders.compliments:
            raise MailboxError("folder is being rebuilt")
        return real_keys(folder)

    monkeypatch.setattr(app.mailbox, "keys", keys)
    drop(app, INBOX, make_mail("gewoon"), "m.eml")
    report = ingest(app, process)
    assert report.applied == 1
    assert report.errors == ["complimenten: folder is being rebuilt"]


def test_it_finishes_the_move_after_a_crash_between_commit_and_move(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(app)
    drop(app, INBOX, make_mail("half verwerkt"), "m.eml")
    real_move = app.mailbox.move

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # stands in for the process dying here

    monkeypatch.setattr(app.mailbox, "move", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(app, process)
    assert folder_count(app, INBOX) == 1
    monkeypatch.setattr(app.mailbox, "move", real_move)
    applied: list[int] = []

    def counting(session: Session, app: App, row: InboundMessage, mail: InboundMail) -> Disposition:
        applied.append(row.id)
        return process(session, app, row, mail)

    report = ingest(app, counting)
    assert applied == [] and report.moved == 1, "moved, not applied a second time"
    assert folder_count(app, INBOX) == 0 and folder_count(app, app.folders.triage) == 1


def test_it_gives_files_with_clashing_names_their_own_keys(app: App, tmp_path: Path) -> None:
    start(app)
    drop(app, INBOX, make_mail("eerste"), "mail.eml")
    ingest(app, process)
    drop(app, INBOX, make_mail("tweede"), "mail.eml")
    assert ingest(app, process).applied == 1
    assert {r.subject for r in rows(app)} == {"eerste", "tweede"}


def test_it_sends_the_admin_notice_of_a_quarantined_message(app: App) -> None:
    start(app)

    def broken(session: Session, app: App, row: InboundMessage, mail: InboundMail) -> Disposition:
        raise RuntimeError("boom")

    drop(app, INBOX, make_mail("x"), "x.eml")
    for _ in range(app.config.mailbot.max_attempts):
        ingest(app, broken)
    assert flush(app).sent == 1
    spool = Path(app.config.mailbox.path) / ".Uitgaand" / "cur"
    (notice,) = list(spool.iterdir())
    assert b"beheer@gemeente.example" in notice.read_bytes()
    shutil.rmtree(spool)


def test_it_applies_batches_while_another_connection_keeps_committing(app: App) -> None:
    """A deferred SQLite transaction that read first cannot become a writer after another
    connection committed; every transaction therefore takes the write lock at its start."""
    import threading
    from datetime import timedelta

    from mailbot.service.lease import Lease

    start(app)
    for n in range(300):
        drop(app, INBOX, make_mail(f"bericht {n}", body=f"tekst {n}"), f"m{n}.eml")
    lease = Lease(app.db, "heartbeat-test", "other", timedelta(seconds=0.03))
    lost = threading.Event()
    with lease.heartbeat(lost):  # renews (commits) every 10 ms from its own connection
        report = ingest(app, process)
    assert report.errors == [] and report.applied == 300


def test_it_logs_no_message_body_and_no_secret(
    make_app: Callable[..., App], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from mailbot.daemon import run_once

    monkeypatch.setenv("MAILBOT_TEST_SMTP_PASSWORD", "geheim-wachtwoord-42")
    app = make_app(
        smtp={
            "host": "127.0.0.1",
            "port": 1,
            "security": "none",
            "username": "u",
            "password_env": "MAILBOT_TEST_SMTP_PASSWORD",
        }
    )
    start(app)
    drop(
        app,
        INBOX,
        make_mail(
            "Escalatie acme: storing",
            sender="a.jansen@gemeente.example",
            body="Vertrouwelijk: het BSN 123456782 staat in dit bericht.",
        ),
        "m.eml",
    )
    with caplog.at_level(logging.INFO):
        run_once(app)  # sending fails (nothing listens on port 1): errors are logged too
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "mail in: #" in logged, "the log does say what happened"
    assert "123456782" not in logged and "Vertrouwelijk" not in logged
    assert "geheim-wachtwoord-42" not in logged
