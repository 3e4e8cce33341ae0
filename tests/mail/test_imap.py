"""The IMAP backend against a real, private Dovecot (see tests/servers/dovecot.py).

The shared contract (test_contract.py) runs on IMAP too; these tests cover
what only IMAP has: flags, MOVE, UIDVALIDITY, folder-name encoding, IDLE,
servers that go away, and the whole ingest path over IMAP.
"""

from __future__ import annotations

import imaplib
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from mailbot.clock import ManualClock
from mailbot.config import Config, ConfigError
from mailbot.daemon import Daemon, build_app, make_mailbox
from mailbot.mail import imap
from mailbot.mail.imap import ImapKey, ImapMailbox, from_config
from mailbot.mail.parse import parse
from mailbot.mail.port import INBOX, Envelope, MailboxError
from mailbot.mail.smtp import SmtpRelay
from mailbot.service.app import App
from mailbot.service.importing import queue_existing
from mailbot.service.ingest import ingest
from mailbot.service.router import process
from mailbot.store.tables import InboundMessage, OutboundMessage
from tests.mail.contract import make_mail
from tests.servers.dovecot import TOKEN, Account, dovecot_account, tls_account
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

FOLDERS = ["complimenten", "Verwerkt", "Te beoordelen", "Quarantaine"]
PASSWORD_ENV = "MAILBOT_TEST_IMAP_PASSWORD"


@pytest.fixture
def dovecot() -> Iterator[Account]:
    yield from dovecot_account()


@pytest.fixture
def dovecot_tls() -> Iterator[Account]:
    yield from tls_account()


@pytest.fixture
def relay(smtp_server: SmtpServer) -> SmtpRelay:
    return SmtpRelay(smtp_server.host, smtp_server.port, security="none")


@pytest.fixture
def make_mailbox_for(dovecot: Account, relay: SmtpRelay) -> Iterator[Callable[..., ImapMailbox]]:
    made: list[ImapMailbox] = []

    def factory(**options: Any) -> ImapMailbox:
        settings = dovecot.settings(**options.pop("settings", {}))
        mailbox = ImapMailbox(settings, relay, **options)
        made.append(mailbox)
        return mailbox

    yield factory
    for mailbox in made:
        mailbox.close()


@pytest.fixture
def mailbox(make_mailbox_for: Callable[..., ImapMailbox]) -> ImapMailbox:
    mailbox = make_mailbox_for(poll_interval=0.3)
    mailbox.open(FOLDERS)
    return mailbox


@pytest.fixture
def imap_config(
    make_config: Callable[..., Config],
    dovecot: Account,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Config]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)

    def factory(**override: Any) -> Config:
        mailbox = {
            "backend": "imap",
            "imap": {
                "host": dovecot.host,
                "port": dovecot.port,
                "security": "none",
                "username": dovecot.user,
                "password_env": PASSWORD_ENV,
            },
        }
        mailbox.update(override.pop("mailbox", {}))
        smtp = {"host": smtp_server.host, "port": smtp_server.port, "security": "none"}
        return make_config(mailbox=mailbox, smtp=smtp, **override)

    return factory


@pytest.fixture
def imap_app(imap_config: Callable[..., Config], clock: ManualClock) -> Iterator[Callable[[], App]]:
    apps: list[App] = []

    def factory() -> App:
        app = build_app(imap_config(), clock=clock)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.mailbox.close()
        app.db.close()


def assert_each_once(app: App, dovecot: Account, count: int) -> None:
    """Every message in exactly one end folder and one database row; none left, none twice."""
    assert dovecot.messages(INBOX) == []
    ids = Counter(
        parse(raw).message_id
        for folder in ("Verwerkt", "Te beoordelen", "Quarantaine")
        for raw in dovecot.messages(folder)
    )
    assert len(ids) == count and set(ids.values()) == {1}
    with app.db.session() as session:
        rows = session.execute(
            select(InboundMessage.message_id, func.count()).group_by(InboundMessage.message_id)
        ).all()
    assert len(rows) == count and {n for _, n in rows} == {1}
    assert set(ids) == {mid for mid, _ in rows}


def subjects(raws: list[bytes]) -> list[str]:
    return [parse(raw).subject for raw in raws]


# -- flags, MOVE, folders --------------------------------------------------------


def test_it_never_marks_mail_seen(mailbox: ImapMailbox, dovecot: Account) -> None:
    dovecot.append(INBOX, make_mail("een"))
    dovecot.append(INBOX, make_mail("twee"))
    keys = mailbox.keys(INBOX)
    for key in keys:
        mailbox.fetch(INBOX, key)
    mailbox.keys(INBOX)
    mailbox.move(INBOX, keys[0], "Verwerkt")
    for folder in (INBOX, "Verwerkt"):
        lines = dovecot.flags(folder)
        assert lines, folder
        assert not any("\\Seen" in line for line in lines), lines


def test_it_uses_move_because_it_reads_capabilities_again_after_login(
    mailbox: ImapMailbox, dovecot: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    greeting = imaplib.IMAP4(dovecot.host, dovecot.port)
    try:
        assert "MOVE" not in greeting.capabilities, "the trap: Dovecot hides MOVE before login"
    finally:
        greeting.logout()
    assert {"MOVE", "UIDPLUS", "IDLE", "SPECIAL-USE"} <= mailbox.capabilities

    dovecot.append(INBOX, make_mail("verplaats"))
    (key,) = mailbox.keys(INBOX)
    commands: list[str] = []
    original = imaplib.IMAP4._command  # type: ignore[attr-defined]

    def spy(client: imaplib.IMAP4, name: str, *args: Any) -> Any:
        commands.append(" ".join([name, *[str(a) for a in args[:1]]]).upper())
        return original(client, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", spy)
    new_key = mailbox.move(INBOX, key, "Verwerkt")
    assert commands == ["UID MOVE"]
    assert subjects(dovecot.messages("Verwerkt")) == ["verplaats"]
    assert new_key is not None and ImapKey.parse(new_key) is not None
    assert parse(mailbox.fetch("Verwerkt", new_key)).subject == "verplaats"


def test_it_falls_back_to_copy_and_expunges_only_that_message_without_move(
    mailbox: ImapMailbox, dovecot: Account
) -> None:
    dovecot.append(INBOX, make_mail("door iemand verwijderd"), r"(\Deleted)")
    dovecot.append(INBOX, make_mail("verplaats"))
    (key,) = mailbox.keys(INBOX)  # a message flagged \Deleted is not listed
    conn = mailbox._conn
    assert conn is not None
    conn.capabilities = conn.capabilities - {"MOVE"}
    new_key = mailbox.move(INBOX, key, "Verwerkt")
    assert new_key is not None, "COPYUID gives the new key"
    assert mailbox.move(INBOX, key, "Verwerkt") is None  # again: harmless
    assert parse(mailbox.fetch("Verwerkt", new_key)).subject == "verplaats"
    assert subjects(dovecot.messages("Verwerkt")) == ["verplaats"]
    assert subjects(dovecot.messages(INBOX)) == ["door iemand verwijderd"]


def test_it_maps_folder_names_with_spaces_nesting_and_accents(
    mailbox: ImapMailbox, dovecot: Account
) -> None:
    mailbox.open(["Te beoordelen", "mailbot/Archief", "Geëxporteerd"])
    listed = "\n".join(dovecot.folders())
    assert '"Te beoordelen"' in listed
    assert "mailbot/Archief" in listed
    assert "Ge&AOs-xporteerd" in listed  # modified UTF-7 (RFC 3501 5.1.3)
    for folder in ("Te beoordelen", "mailbot/Archief", "Geëxporteerd"):
        dovecot.append(INBOX, make_mail(f"naar {folder}"))
        (key,) = mailbox.keys(INBOX)
        mailbox.move(INBOX, key, folder)
        assert subjects(dovecot.messages(folder)) == [f"naar {folder}"]
        assert len(mailbox.keys(folder)) == 1


def test_it_creates_a_missing_destination_when_moving(
    mailbox: ImapMailbox, dovecot: Account
) -> None:
    dovecot.append(INBOX, make_mail("nieuwe map"))
    (key,) = mailbox.keys(INBOX)
    mailbox.move(INBOX, key, "Archief 2026")
    assert subjects(dovecot.messages("Archief 2026")) == ["nieuwe map"]


def test_it_finds_sent_and_drafts_by_special_use(mailbox: ImapMailbox) -> None:
    assert mailbox._layout is not None
    assert (mailbox._layout.sent, mailbox._layout.drafts) == ("Sent", "Drafts")
    key = mailbox.save_draft(
        make_mail("concept", message_id="d1@gemeente.example"), "d1@gemeente.example"
    )
    parsed = ImapKey.parse(key)
    assert parsed is not None and parsed.folder == "Drafts" and parsed.uid == 1


def test_it_lists_incrementally_from_a_checkpoint_page_by_page(
    mailbox: ImapMailbox, dovecot: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "PAGE", 2)
    dovecot.append_many(INBOX, [make_mail(f"oud {i}") for i in range(3)])
    first = mailbox.scan(INBOX, None)
    assert len(first.keys) == 2 and first.more
    second = mailbox.scan(INBOX, first.checkpoint)
    assert len(second.keys) == 1 and not second.more
    assert mailbox.scan(INBOX, second.checkpoint).keys == []
    dovecot.append(INBOX, make_mail("nieuw"))
    (new,) = mailbox.scan(INBOX, second.checkpoint).keys
    assert parse(mailbox.fetch(INBOX, new)).subject == "nieuw"
    assert mailbox.scan(INBOX, first.checkpoint).keys == [*second.keys, new]
    assert second.checkpoint is not None
    stale = {**second.checkpoint, "uidvalidity": 1}  # another UIDVALIDITY: from the start
    assert mailbox.scan(INBOX, stale).keys == first.keys


def test_it_gives_new_keys_when_uidvalidity_changes(
    mailbox: ImapMailbox, dovecot: Account, caplog: pytest.LogCaptureFixture
) -> None:
    raw = make_mail("compliment")
    dovecot.append("complimenten", raw)
    before = mailbox.scan("complimenten", None)
    (old,) = before.keys
    dovecot.delete_folder("complimenten")
    dovecot.create_folder("complimenten")
    dovecot.append("complimenten", raw)
    (new,) = mailbox.scan("complimenten", before.checkpoint).keys  # UID 1 again: listed
    old_key, new_key = ImapKey.parse(old), ImapKey.parse(new)
    assert old_key is not None and new_key is not None
    assert new_key.validity != old_key.validity
    assert "UIDVALIDITY" in caplog.text
    with pytest.raises(MailboxError) as gone:
        mailbox.fetch("complimenten", old)
    assert gone.value.permanent
    mailbox.move("complimenten", old, "Verwerkt")  # gone: nothing happens
    assert dovecot.messages("Verwerkt") == []
    assert parse(mailbox.fetch("complimenten", new)).subject == "compliment"


@pytest.mark.database
def test_it_does_not_answer_old_mail_again_when_a_folder_is_renumbered(
    imap_app: Callable[[], App], dovecot: Account
) -> None:
    """A restored or migrated mailbox gets a new UIDVALIDITY: the praise left in place at
    first start must not now be thanked for; the admins hear how to import the rest."""
    old = [make_mail(f"compliment {i}", body="Top geholpen!") for i in range(2)]
    dovecot.create_folder("complimenten")
    dovecot.append_many("complimenten", old)
    app = imap_app()
    first = ingest(app, process)
    assert first.preexisting == 2 and first.stored == 0
    dovecot.append("complimenten", make_mail("nieuw compliment", body="Heel fijn!"))
    assert ingest(app, process).stored == 1
    with app.db.session() as session:
        before = session.scalar(select(func.count()).select_from(OutboundMessage))
    dovecot.delete_folder("complimenten")  # what a restore from backup looks like
    dovecot.create_folder("complimenten")
    dovecot.append_many("complimenten", old)
    renumbered = ingest(app, process)
    assert (renumbered.stored, renumbered.preexisting, renumbered.errors) == (0, 2, [])
    assert len(dovecot.messages("complimenten")) == 2, "left in place"
    with app.db.session() as session:
        (notice,) = session.scalars(select(OutboundMessage).where(OutboundMessage.id > before))
        assert notice.purpose == "admin" and notice.recipients == list(app.config.mailbot.admins)
        assert "complimenten" in notice.subject
        text = parse(notice.raw).text
        assert "2 berichten" in text and 'mailbot import --folder "complimenten"' in text
    again = ingest(app, process)  # the new checkpoint holds: nothing happens twice
    assert (again.stored, again.preexisting) == (0, 0)
    imported = queue_existing(app, folder="complimenten")
    assert (imported.found, imported.queued, imported.gone) == (4, 2, 2)  # old keys are gone
    assert ingest(app, process).applied == 2


def test_it_keeps_keys_short_and_readable(mailbox: ImapMailbox, dovecot: Account) -> None:
    dovecot.append("Te beoordelen", make_mail("x"))
    (key,) = mailbox.keys("Te beoordelen")
    match = re.fullmatch(r"Te beoordelen;UIDVALIDITY=(\d+)/;UID=1", key)
    assert match is not None, key
    assert ImapKey.parse(key) == ImapKey("Te beoordelen", int(match.group(1)), 1)


# -- logging in -----------------------------------------------------------------------


def test_it_reports_a_wrong_password_as_permanent_without_the_password(
    make_mailbox_for: Callable[..., ImapMailbox],
) -> None:
    mailbox = make_mailbox_for(settings={"password": SecretStr("fout-wachtwoord-123")})
    with pytest.raises(MailboxError) as refused:
        mailbox.open(FOLDERS)
    assert refused.value.permanent
    assert "AUTHENTICATIONFAILED" in str(refused.value)
    assert "fout-wachtwoord-123" not in str(refused.value)


def test_it_logs_in_with_an_oauth2_token(make_mailbox_for: Callable[..., ImapMailbox]) -> None:
    good = make_mailbox_for(settings={"password": None, "oauth2_token": SecretStr(TOKEN)})
    good.open(FOLDERS)
    assert good.keys(INBOX) == []
    bad = make_mailbox_for(settings={"password": None, "oauth2_token": SecretStr("expired")})
    with pytest.raises(MailboxError) as refused:
        bad.open(FOLDERS)
    assert refused.value.permanent and "XOAUTH2" in str(refused.value)
    assert "expired" not in str(refused.value)


def test_it_speaks_tls_and_starttls_and_refuses_an_untrusted_certificate(
    dovecot_tls: Account, relay: SmtpRelay
) -> None:
    server = dovecot_tls.server
    assert server.cert is not None and server.tls_port is not None
    trusting = ssl.create_default_context(cafile=str(server.cert))
    for security, port in (("tls", server.tls_port), ("starttls", server.port)):
        mailbox = ImapMailbox(
            dovecot_tls.settings(security=security, port=port, ssl_context=trusting), relay
        )
        try:
            mailbox.open(FOLDERS)
            dovecot_tls.append(INBOX, make_mail(f"via {security}"))
            assert len(mailbox.keys(INBOX)) == (1 if security == "tls" else 2)
        finally:
            mailbox.close()
    stranger = ImapMailbox(dovecot_tls.settings(security="tls", port=server.tls_port), relay)
    with pytest.raises(MailboxError) as untrusted:
        stranger.open(FOLDERS)
    assert untrusted.value.permanent and "certificate" in str(untrusted.value)


# -- servers that go away ------------------------------------------------------------------


def test_it_raises_mailbox_error_while_the_server_is_down_and_recovers(
    mailbox: ImapMailbox, dovecot: Account
) -> None:
    dovecot.append(INBOX, make_mail("voor"))
    assert len(mailbox.keys(INBOX)) == 1
    mailbox.watch([INBOX])
    assert mailbox.wait(0.1) is False
    dovecot.stop()
    with pytest.raises(MailboxError) as down:
        mailbox.keys(INBOX)
    assert not down.value.permanent
    with pytest.raises(MailboxError):
        mailbox.wait(0.5)
    dovecot.start()
    dovecot.append(INBOX, make_mail("na"))
    # the watcher comes back after its back-off and notices what arrived meanwhile
    assert mailbox.wait(5.0) is True
    assert subjects([mailbox.fetch(INBOX, k) for k in mailbox.keys(INBOX)]) == ["voor", "na"]


def test_it_keeps_the_copy_for_sent_until_the_server_is_back(
    mailbox: ImapMailbox, dovecot: Account, smtp_server: SmtpServer
) -> None:
    raw = make_mail("stap 1", message_id="step-1@gemeente.example")
    dovecot.stop()
    used = mailbox.send(
        raw,
        Envelope("leveranciers@gemeente.example", ["jan@acme.example"]),
        "step-1@gemeente.example",
    )
    assert used == "step-1@gemeente.example"
    assert len(smtp_server.sink.wait_for(1)) == 1, "the mail went out"
    assert mailbox.was_sent(used), "sent, so the outbox must not send it again"
    dovecot.start()
    copies, _ = mailbox.sent_messages(None)
    assert [c.message_id for c in copies] == [used]
    assert len(dovecot.messages("Sent")) == 1


@pytest.mark.database
@pytest.mark.parametrize("during", ["fetch", "move"])
def test_it_survives_a_restart_in_the_middle_of_an_ingest_pass(
    imap_app: Callable[[], App],
    dovecot: Account,
    monkeypatch: pytest.MonkeyPatch,
    during: str,
) -> None:
    app = imap_app()
    ingest(app, process)  # first start: nothing there yet
    deliver_ten(dovecot)
    interrupt_on_call(monkeypatch, app, during, 4, dovecot.restart)
    report = ingest(app, process)
    assert report.errors == []
    assert report.moved == 10
    assert_each_once(app, dovecot, 10)


@pytest.mark.database
@pytest.mark.parametrize("during", ["fetch", "move"])
def test_it_finishes_a_pass_cut_short_by_an_outage_on_the_next_pass(
    imap_app: Callable[[], App],
    dovecot: Account,
    monkeypatch: pytest.MonkeyPatch,
    during: str,
) -> None:
    app = imap_app()
    ingest(app, process)
    deliver_ten(dovecot)
    interrupt_on_call(monkeypatch, app, during, 4, dovecot.kill)
    if during == "move":
        with pytest.raises(MailboxError):  # a failed move ends the pass; the daemon backs off
            ingest(app, process)
    else:
        assert ingest(app, process).errors, "a folder that cannot be read is reported"
    monkeypatch.undo()
    dovecot.start()
    second = ingest(app, process)
    assert second.errors == []
    assert_each_once(app, dovecot, 10)


def deliver_ten(dovecot: Account) -> None:
    dovecot.append_many(
        INBOX, [make_mail(f"bericht {i}", message_id=f"m{i}@acme.example") for i in range(10)]
    )


def interrupt_on_call(
    monkeypatch: pytest.MonkeyPatch, app: App, method: str, call: int, action: Callable[[], None]
) -> None:
    """Run `action` (server restart or crash) just before the `call`-th `method` call."""
    original = getattr(app.mailbox, method)
    calls: list[int] = []

    def wrapper(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == call:
            action()
        return original(*args)

    monkeypatch.setattr(app.mailbox, method, wrapper)


@pytest.mark.slow
@pytest.mark.database
def test_it_ingests_a_backlog_of_1000_messages(
    imap_app: Callable[[], App], dovecot: Account
) -> None:
    app = imap_app()
    ingest(app, process)
    dovecot.append_many(
        INBOX, [make_mail(f"achterstand {i}", message_id=f"b{i}@acme.example") for i in range(1000)]
    )
    started = time.monotonic()
    report = ingest(app, process)
    elapsed = time.monotonic() - started
    assert report.errors == [] and report.moved == 1000
    assert_each_once(app, dovecot, 1000)
    assert elapsed < 60, f"1,000 messages took {elapsed:.1f} s"


# -- waiting ---------------------------------------------------------------------------------


def test_it_wakes_within_two_seconds_by_idle(mailbox: ImapMailbox, dovecot: Account) -> None:
    mailbox.watch([INBOX, "complimenten"])
    assert mailbox.wait(0.2) is False
    assert set(mailbox._idlers) == {INBOX, "complimenten"}
    assert woken_by(mailbox, lambda: dovecot.append(INBOX, make_mail("inbox"))) < 2.0
    assert woken_by(mailbox, lambda: dovecot.append("complimenten", make_mail("c"))) < 2.0


def test_it_wakes_within_two_seconds_by_polling_without_idle(
    make_mailbox_for: Callable[..., ImapMailbox], dovecot: Account
) -> None:
    mailbox = make_mailbox_for(idle=False, poll_interval=0.5)
    mailbox.open(FOLDERS)
    mailbox.watch([INBOX, "complimenten"])
    assert mailbox.wait(0.2) is False
    assert mailbox._idlers == {}
    assert woken_by(mailbox, lambda: dovecot.append("complimenten", make_mail("c"))) < 2.0


def test_it_is_not_woken_by_its_own_moves(mailbox: ImapMailbox, dovecot: Account) -> None:
    dovecot.append(INBOX, make_mail("al verwerkt"))
    (key,) = mailbox.keys(INBOX)
    mailbox.watch([INBOX])
    assert mailbox.wait(0.1) is False
    mailbox.move(INBOX, key, "Verwerkt")  # EXPUNGE on the watcher's connection
    assert mailbox.wait(0.5) is False


def test_it_wakes_for_mail_that_arrived_while_the_watcher_was_away(
    mailbox: ImapMailbox, dovecot: Account
) -> None:
    mailbox.keys(INBOX)  # a pass saw the folder
    dovecot.append(INBOX, make_mail("tussendoor"))
    mailbox.watch([INBOX])
    assert mailbox.wait(0.5) is True


def test_it_renews_idle_before_the_server_ends_it(
    mailbox: ImapMailbox, dovecot: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "IDLE_RENEW", 0.2)
    mailbox.watch([INBOX])
    assert mailbox.wait(1.0) is False
    assert mailbox._idlers[INBOX].counter >= 3, "IDLE was re-issued"
    assert woken_by(mailbox, lambda: dovecot.append(INBOX, make_mail("na verlenging"))) < 2.0


def test_it_stops_waiting_when_closed(mailbox: ImapMailbox) -> None:
    mailbox.watch([INBOX])
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(mailbox.wait(30)))
    waiter.start()
    time.sleep(0.3)
    started = time.monotonic()
    mailbox.close()
    waiter.join(5)
    assert result == [False] and time.monotonic() - started < 2.0
    assert mailbox._idlers == {}


def woken_by(mailbox: ImapMailbox, deliver: Callable[[], None]) -> float:
    """Seconds from `deliver()` until `wait()` returns True (fails after 10 s)."""
    result: list[tuple[bool, float]] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        woke = mailbox.wait(10)
        result.append((woke, time.monotonic()))

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    time.sleep(0.2)  # let wait() settle into IDLE / its poll cycle
    delivered = time.monotonic()
    deliver()
    thread.join(12)
    assert result and result[0][0] is True, "wait() was not woken"
    return result[0][1] - delivered


# -- wiring ------------------------------------------------------------------------


def test_it_is_built_from_the_config(imap_config: Callable[..., Config]) -> None:
    config = imap_config()
    mailbox = make_mailbox(config)
    assert isinstance(mailbox, ImapMailbox)
    assert mailbox.settings.password is not None and mailbox.idle is True
    with pytest.raises(ConfigError, match="smtp"):
        from_config(config.model_copy(update={"smtp": None}))


@pytest.mark.database
def test_it_runs_the_daemon_over_imap_through_an_outage(
    imap_app: Callable[[], App], dovecot: Account
) -> None:
    app = imap_app()
    daemon = Daemon(app)
    runner = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    runner.start()
    try:
        time.sleep(0.5)  # first start recorded
        dovecot.append(INBOX, make_mail("eerste", message_id="d1@acme.example"))
        wait_until(lambda: len(dovecot.messages("Te beoordelen")) == 1, 5)
        dovecot.kill()  # a crash: no BYE, connections reset
        time.sleep(1.0)
        dovecot.start()
        dovecot.append(INBOX, make_mail("tweede", message_id="d2@acme.example"))
        wait_until(lambda: len(dovecot.messages("Te beoordelen")) == 2, 15)
        assert runner.is_alive()
    finally:
        daemon.stop.set()
        runner.join(10)
    assert_each_once(app, dovecot, 2)


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, imaplib.IMAP4.error):
            pass  # the outside view may race a restart
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")
