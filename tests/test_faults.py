"""Faults injected into a running daemon: it backs off, keeps running and catches up (issue 8)."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from mailbot.daemon import Daemon, run_once
from mailbot.mail.port import MailboxError
from mailbot.service.app import App
from tests.scenario import mail

pytestmark = [pytest.mark.database, pytest.mark.slow]


@pytest.fixture
def app(app: App) -> App:
    """An app whose first start (on an empty mailbox) is behind it: mail dropped
    from now on is new, not mail that was already there."""
    run_once(app)
    return app


@contextmanager
def running(app: App) -> Iterator[Daemon]:
    daemon = Daemon(app, backoff_start=0.2, backoff_max=0.5)
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stop.set()
        app.stop.set()
        daemon.wake()
        thread.join(30)
        assert not thread.is_alive(), "the daemon stops when asked"


def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def drop(app: App, n: int) -> None:
    path = Path(app.config.mailbox.path) / "new"
    path.mkdir(parents=True, exist_ok=True)
    (path / f"m{n}.eml").write_bytes(
        mail(sender=f"x{n}@elders.example", subject=f"vraag {n}", body="?")
    )


def triaged(app: App) -> int:
    cur = Path(app.config.mailbox.path) / ".Te beoordelen" / "cur"
    return len(list(cur.iterdir())) if cur.is_dir() else 0


class Switch:
    """A fault that is on until switched off."""

    def __init__(self) -> None:
        self.on = True
        self.hits = 0

    def __call__(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def maybe_fail(*args: Any, **kwargs: Any) -> Any:
            if self.on:
                self.hits += 1
                raise self.error()
            return real(*args, **kwargs)

        return maybe_fail

    def error(self) -> Exception:
        return MailboxError("connection refused")


def test_it_rides_out_a_mailbox_outage(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    fault = Switch()
    monkeypatch.setattr(app.mailbox, "scan", fault(app.mailbox.scan))
    drop(app, 1)
    with running(app) as daemon:
        assert eventually(lambda: fault.hits >= 3), "passes keep trying"
        assert triaged(app) == 0
        fault.on = False
        assert eventually(lambda: triaged(app) == 1), "and catch up when the mailbox is back"
        assert daemon.pass_state().failures == 0


class DatabaseDown(Switch):
    def error(self) -> Exception:
        return OperationalError("BEGIN", {}, Exception("could not connect to server"))


def test_it_rides_out_a_database_outage(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    fault = DatabaseDown()
    real_session = app.db.session
    monkeypatch.setattr(app.db, "session", fault(real_session))
    drop(app, 1)
    with running(app):
        assert eventually(lambda: fault.hits >= 3)
        fault.on = False
        assert eventually(lambda: triaged(app) == 1)


def test_it_keeps_waking_up_after_the_database_failed_right_after_a_pass(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet mailbox: only the schedule wakes the daemon for deadlines and digests.
    Asking the database when the next deadline falls fails once, after a pass that
    worked; the passes must go on (they used to stop for good)."""
    from mailbot import daemon as daemon_module

    asked: list[int] = []
    real_next_due = daemon_module.next_due

    def next_due(app: App) -> Any:
        asked.append(1)
        if len(asked) == 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real_next_due(app)

    monkeypatch.setattr(daemon_module, "next_due", next_due)
    with running(app) as daemon:
        assert eventually(lambda: len(asked) >= 3), "passes go on, after a back-off"
        assert eventually(lambda: daemon.pass_state().failures == 0)


def test_it_waits_while_the_disk_is_full_and_loses_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from mailbot.mail import maildir

    disk = Switch()
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if disk.on:
            disk.hits += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    # the real write path turns ENOSPC into a temporary MailboxError
    monkeypatch.setattr(maildir.os, "fsync", full)
    (Path(app.config.mailbox.path) / "new").mkdir(parents=True, exist_ok=True)
    (Path(app.config.mailbox.path) / "new" / "open.eml").write_bytes(
        mail(sender="a.jansen@gemeente.example", subject="Escalatie acme: traag", body="Traag.")
    )
    spool = Path(app.config.mailbox.path) / ".Uitgaand" / "cur"
    with running(app):
        assert eventually(lambda: disk.hits >= 2), "sending is tried and fails"
        assert not spool.exists() or not list(spool.iterdir())
        disk.on = False
        assert eventually(lambda: spool.is_dir() and len(list(spool.iterdir())) == 2), (
            "then goes out"
        )
