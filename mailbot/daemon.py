"""Wiring: the only place that knows every part and puts them together.

`build_app()` turns a config into an `App` (database migrated, mailbox opened).
`run_once()` is one pass under the leader lease. `Daemon` repeats passes with
APScheduler: an interval job as a safety net, a one-shot job at the next due
deadline, and a watcher thread that wakes a pass as soon as the mailbox
reports new mail. Deadlines live in the database; a scheduler job is never
their only record, so nothing is lost when the process is down at the moment
a job should have run. A leading daemon holds the lease from its first pass
until it stops, also while idle between passes.

Failures of the mailbox or the database never end the daemon: the pass is
logged and retried with exponential back-off (5 s doubling to 5 min).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from mailbot.clock import Clock, SystemClock
from mailbot.config import Config
from mailbot.domain.calendar import WorkingCalendar
from mailbot.health import Health, HealthServer, PassState
from mailbot.mail.maildir import MaildirMailbox
from mailbot.mail.port import Mailbox, MailboxError
from mailbot.mail.smtp import SmtpRelay
from mailbot.render import Renderer
from mailbot.service.app import App
from mailbot.service.cycle import CycleReport, Step, run_cycle
from mailbot.service.deadlines import fire_due, next_due
from mailbot.service.digest import next_digest_moment, send_due_digest
from mailbot.service.drafts import notice_sent_drafts
from mailbot.service.lease import LeaderBusy, Lease
from mailbot.service.outbox import FlushReport, flush
from mailbot.service.retention import purge_due
from mailbot.service.router import process
from mailbot.service.triage import send_triage_notice
from mailbot.store.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

BACKOFF_START = 5.0
BACKOFF_MAX = 300.0


def make_mailbox(config: Config) -> Mailbox:
    """The configured backend. Each backend module offers `from_config(config)`."""
    backend = config.mailbox.backend
    if backend == "maildir":
        return MaildirMailbox(
            Path(config.mailbox.path),
            outgoing_folder=config.mailbox.folders.outgoing,
            relay=SmtpRelay.from_config(config),
        )
    module = importlib.import_module(f"mailbot.mail.{backend}")
    mailbox: Mailbox = module.from_config(config)
    return mailbox


def make_calendar(config: Config) -> WorkingCalendar:
    return WorkingCalendar(
        timezone=config.mailbot.timezone,
        country=config.mailbot.holidays,
        extra_closed_days=tuple(config.mailbot.extra_closed_days),
        working_holidays=tuple(config.mailbot.working_holidays),
    )


def build_app(
    config: Config,
    *,
    clock: Clock | None = None,
    mailbox: Mailbox | None = None,
    migrate: bool = True,
) -> App:
    """Connect everything. Raises DatabaseUnavailable / MailboxError when a side is down."""
    db = Database.connect(config.database_url)
    if migrate:
        db.upgrade()
    instance_id = db.meta_default("instance_id", uuid.uuid4().hex)
    # the first start: no late digest for a week whose moment fell before it (SPEC §12)
    db.meta_default("installed_at", (clock or SystemClock()).now().isoformat())
    app = App(
        config=config,
        db=db,
        mailbox=mailbox or make_mailbox(config),
        clock=clock or SystemClock(),
        renderer=Renderer(
            Path(config.mailbot.templates) if config.mailbot.templates else None,
            config.mailbot.timezone,
            globals={
                "organisation": config.organisation.name,
                "mailbox": config.mailbox.address,
            },
        ),
        calendar=make_calendar(config),
        instance_id=instance_id,
        leader_id=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
    )
    folders = app.folders
    app.mailbox.open([*folders.watched, *folders.end_folders])
    return app


def make_lease(app: App) -> Lease:
    config = app.config
    return Lease(
        app.db,
        f"mailbox:{config.mailbox.address}",
        app.leader_id,
        timedelta(seconds=config.mailbot.lease_seconds),
    )


def cycle_steps() -> dict[str, Step]:
    """The steps between ingest and flush, in order: a draft the owner sent
    counts before a deadline can fire; due deadlines then act."""
    return {
        "drafts": notice_sent_drafts,
        "deadlines": fire_due,
        "triage": send_triage_notice,
        "digest": send_due_digest,  # after deadlines: the digest shows what they changed
        "retention": purge_due,
    }


def run_once(app: App) -> CycleReport:
    """One pass under the leader lease (what `mailbot run --once` does).

    A lease left by a crashed run expires within `lease_seconds`; we wait that
    long (plus a second) before deciding that a live instance holds it.
    """
    lease = make_lease(app)
    if not lease.acquire(wait=lease.ttl.total_seconds() + 1):
        raise LeaderBusy("another mailbot instance is running for this mailbox")
    app.keep_lease = lease.renew_if_due
    try:
        with lease.heartbeat(app.stop):
            report = run_cycle(app, process, cycle_steps())
    finally:
        app.keep_lease = lambda: None
        lease.release()
    log.info(
        "pass done: %d stored, %d processed, %d quarantined; %d sent, %d drafted",
        report.ingest.stored,
        report.ingest.applied,
        report.ingest.quarantined,
        report.flush.sent,
        report.flush.drafted,
    )
    return report


def flush_as_leader(app: App) -> FlushReport | None:
    """Send the outbox now, for a command run next to a daemon; None when another
    instance leads.

    Only the holder of the leader lease may flush: a flush first treats rows in
    `sending` as left over from a crash, and a running daemon's rows in
    `sending` are mail it is delivering at that very moment; recovering them
    would send them twice (SPEC §8). The lease is taken only if it is free now
    (no waiting: the leader sends the mail on its next pass) and given back.
    """
    lease = make_lease(app)
    if not lease.try_acquire():
        return None
    app.keep_lease = lease.renew_if_due
    try:
        with lease.heartbeat(app.stop):
            return flush(app)
    finally:
        app.keep_lease = lambda: None
        lease.release()


@dataclass
class _Backoff:
    start: float = BACKOFF_START
    longest: float = BACKOFF_MAX
    failures: int = 0

    def delay(self) -> float:
        return float(min(self.longest, self.start * 2 ** max(0, self.failures - 1)))


class Daemon:
    """`mailbot run`: passes on a schedule, woken early by new mail; SIGTERM drains."""

    def __init__(
        self, app: App, *, backoff_start: float = BACKOFF_START, backoff_max: float = BACKOFF_MAX
    ) -> None:
        self.app = app
        self.stop = threading.Event()
        self.lease = make_lease(app)
        self._wake = threading.Event()
        self._backoff = _Backoff(backoff_start, backoff_max)
        self._leader = False
        self._last_success: datetime | None = None
        self._last_sync: datetime | None = None
        self._last_error: BaseException | None = None
        self._errors = {"pass": 0, "message": 0, "delivery": 0}  # since start, for /metrics
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- the pass -----------------------------------------------------------

    def _pass(self) -> float:
        """One guarded pass; returns seconds until the next one should run."""
        app = self.app
        try:
            self._leader = self.lease.try_acquire()
            if not self._leader:
                log.debug("standby: another instance holds the lease")
                self._passed()  # a standby's pass is the lease check: it worked
                return min(app.config.mailbot.poll_interval, self.lease.ttl.total_seconds() / 3)
            if not self.stop.is_set():
                app.stop.clear()  # a lease lost in an earlier pass is forgotten
            app.keep_lease = self.lease.renew_if_due
            try:
                with self.lease.heartbeat(app.stop):
                    report = run_cycle(app, process, cycle_steps())
            finally:
                app.keep_lease = lambda: None
        except Exception as exc:
            return self._failed(exc)
        self._record(report)
        try:
            return self._next_wake(report)
        except Exception as exc:  # the database failed right after the pass: retry soon
            return self._failed(exc)

    def _failed(self, exc: Exception) -> float:
        """Count a failed pass; seconds until the next try (back-off)."""
        self._last_error = exc
        self._errors["pass"] += 1
        self._backoff.failures += 1
        delay = self._backoff.delay()
        if isinstance(exc, MailboxError | DatabaseUnavailable | OperationalError):
            log.warning("pass failed (%s); retrying in %.0f s", exc, delay)
        else:
            log.exception("unexpected error in a pass; retrying in %.0f s", delay)
        return delay

    def _next_wake(self, report: CycleReport) -> float:
        """Seconds until the next pass after one that worked: the poll interval, or
        earlier for the next deadline or digest (asks the database)."""
        app = self.app
        delay = app.config.mailbot.poll_interval
        if report.ingest.errors or report.flush.errors:
            delay = min(delay, self._backoff.start * 6)
        due = next_due(app)
        if due is not None:
            # wake up when the next deadline may fire, in the send window (never a job of its
            # own: the row is the truth)
            delay = min(delay, max(0.0, (due - app.clock.now()).total_seconds()) + 0.5)
        # and at the next digest moment (the outbox, not a job, records whether it went)
        digest_at = next_digest_moment(app)
        return min(delay, max(0.0, (digest_at - app.clock.now()).total_seconds()) + 0.5)

    def _passed(self) -> None:
        # wall-clock time, not the app's clock: health is about real seconds (as the lease)
        self._backoff.failures = 0
        self._last_error = None
        self._last_success = datetime.now(UTC)

    def _record(self, report: CycleReport) -> None:
        """What /healthz and /metrics say about a pass that ran to its end."""
        self._backoff.failures = 0
        # "#12: …" is one message that failed; "INBOX: …" a folder that could not be read
        unreadable = [e for e in report.ingest.errors if not e.startswith("#")]
        self._errors["message"] += len(report.ingest.errors) - len(unreadable)
        self._errors["delivery"] += len(report.flush.errors)
        if unreadable:  # the pass went on without the mailbox: no success to report
            self._last_error = MailboxError("; ".join(unreadable))
            self._errors["pass"] += 1
            return
        self._passed()
        self._last_sync = self._last_success

    def pass_state(self) -> PassState:
        """What /healthz and /metrics report about this instance."""
        return PassState(
            leader=self._leader,
            last_success=self._last_success,
            last_sync=self._last_sync,
            failures=self._backoff.failures,
            last_error=self._last_error,
            errors=dict(self._errors),
        )

    def _run_passes(self) -> None:
        """The scheduled job: repeat while mail arrived during the pass. The next one
        is always scheduled: without it a quiet mailbox would never wake the daemon
        again for deadlines and digests."""
        delay = self.app.config.mailbot.poll_interval
        try:
            while not self.stop.is_set():
                self._wake.clear()
                delay = self._pass()
                if not self._wake.is_set() or self._backoff.failures:
                    break
        finally:
            self._schedule_next(delay)

    def _schedule_next(self, delay: float) -> None:
        if self.stop.is_set():
            return
        when = datetime.now(UTC) + timedelta(seconds=delay)
        self.scheduler.add_job(
            self._run_passes, "date", run_date=when, id="pass", replace_existing=True
        )

    def wake(self) -> None:
        """Run a pass now (new mail, a signal, a test)."""
        self._wake.set()
        if self.scheduler.running and not self.stop.is_set():
            self.scheduler.add_job(self._run_passes, id="pass", replace_existing=True)

    # -- the lease between passes ------------------------------------------------

    def _keep_lease(self) -> None:
        """A leader keeps its lease while idle too: passes may be minutes apart
        (`poll_interval`) and the lease lasts `lease_seconds`; a lapsed lease would let
        `run --once` or a command that sends act next to a running daemon (SPEC §12).
        A wake-up every lease/6 and a renewal every lease/3 cost next to nothing. A
        standby does not take the lease here: its passes keep trying."""
        interval = self.lease.ttl.total_seconds() / 6
        while not self.stop.wait(interval):
            if self._leader and not self.lease.renew_if_due():
                log.error("leader lease lost between passes; standing by")
                self._leader = False

    # -- watching -------------------------------------------------------------

    def _watch(self) -> None:
        while not self.stop.is_set():
            try:
                if self.app.mailbox.wait(timeout=60.0):
                    log.debug("mailbox changed; waking a pass")
                    self.wake()
            except MailboxError as exc:
                log.warning("mailbox watcher: %s", exc)
                self.stop.wait(self._backoff.delay())

    # -- life cycle -------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the current message, then stopping", signum)
        self.stop.set()
        self.app.stop.set()

    def run(self, install_signals: bool = True) -> None:
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        watched = [*self.app.folders.watched]
        watch = getattr(self.app.mailbox, "watch", None)
        if callable(watch):
            watch(watched)
        port = self.app.config.mailbot.health_port
        health = HealthServer(Health(self.app, self.pass_state), port) if port else None
        if health:
            health.start()
        self.scheduler.start()
        self.scheduler.add_job(self._run_passes, id="pass", replace_existing=True)
        watcher = threading.Thread(target=self._watch, name="mailbox-watcher", daemon=True)
        watcher.start()
        keeper = threading.Thread(target=self._keep_lease, name="lease-keeper", daemon=True)
        keeper.start()
        log.info("mailbot running for %s", self.app.own_address)
        self.stop.wait()
        self.scheduler.shutdown(wait=True)
        keeper.join()
        self.app.mailbox.close()
        self.lease.release()  # a clean stop hands over at once, without waiting for expiry
        if health:
            health.stop()
        log.info("mailbot stopped")

    @property
    def status(self) -> dict[str, object]:
        return {
            "leader": self._leader,
            "last_success": self._last_success.isoformat() if self._last_success else None,
            "failures": self._backoff.failures,
        }
