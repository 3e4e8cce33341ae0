"""Ingest: every message in a watched folder ends in the database and an end folder.

Per message, three steps, each safe to interrupt with kill -9:
1. **store**: fetch the raw bytes and commit them under the backend key (the
   unique key means a second pass knows the message);
2. **apply**: in one transaction, understand the message, change cases, write
   timeline and outbox rows, and mark the row `done` with its destination;
3. **move** it to Verwerkt / Te beoordelen / Quarantaine.

A crash after 1 re-applies from the stored bytes; a crash after 2 only
repeats the move. An exception in 2 rolls back, counts an attempt, and after
`max_attempts` sends the message to Quarantaine (and tells the admins) rather
than retrying forever. Database trouble is not the message's fault: it stops
the pass without counting an attempt.

At first start a folder's existing messages are recorded as `preexisting` and
left in place (SPEC §12) unless `process_existing = true`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from mailbot.domain.message import InboundMail
from mailbot.mail.parse import parse
from mailbot.mail.port import MailboxError
from mailbot.service.app import App
from mailbot.service.outbox import notify_admins
from mailbot.store.db import DatabaseUnavailable
from mailbot.store.tables import FolderState, InboundMessage

log = logging.getLogger(__name__)

STORED = "stored"
DONE = "done"
PREEXISTING = "preexisting"
RETRY = "retry"
_KEY_CHUNK = 500


@dataclass(frozen=True)
class Disposition:
    """Where a processed message goes, and one line on what happened to it."""

    destination: str  # processed | triage | quarantine
    outcome: str
    classification: str | None = None
    case_id: int | None = None


class Processor(Protocol):
    """Understands one stored message inside the caller's transaction."""

    def __call__(
        self, session: Session, app: App, row: InboundMessage, mail: InboundMail
    ) -> Disposition: ...


@dataclass
class IngestReport:
    stored: int = 0
    applied: int = 0
    moved: int = 0
    quarantined: int = 0
    preexisting: int = 0
    errors: list[str] = field(default_factory=list)
    destinations: dict[str, int] = field(default_factory=dict)


def _database_trouble(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | DatabaseUnavailable) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def ingest(app: App, process: Processor, *, limit: int | None = None) -> IngestReport:
    """One pass over every watched folder. One failing folder does not stop the others."""
    report = IngestReport()
    for folder in app.folders.watched:
        if app.stop.is_set():
            break
        try:
            _ingest_folder(app, process, folder, report, limit)
        except MailboxError as exc:
            report.errors.append(f"{folder}: {exc}")
            log.warning("folder %r skipped this pass: %s", folder, exc)
    return report


def _ingest_folder(
    app: App, process: Processor, folder: str, report: IngestReport, limit: int | None
) -> None:
    keys = app.mailbox.keys(folder)
    if _first_start(app, folder, keys, report):
        return
    known = _known(app, keys)
    for key in keys:
        if app.stop.is_set() or (limit is not None and report.applied >= limit):
            return
        state = known.get(key)
        if state is None:
            stored = _store(app, folder, key, report)
            if stored is None:
                continue
            state = stored
        row_id, status, destination = state
        if status == PREEXISTING:
            continue
        if status in (STORED, RETRY):
            destination = _apply(app, process, row_id, report)
        if destination is not None:
            app.mailbox.move(folder, key, app.folders.for_destination(destination))
            report.moved += 1
            report.destinations[destination] = report.destinations.get(destination, 0) + 1


def _first_start(app: App, folder: str, keys: list[str], report: IngestReport) -> bool:
    """Record what was already there the first time mailbot sees a folder."""
    now = app.clock.now()
    with app.db.session() as session:
        if session.get(FolderState, folder) is not None:
            return False
        process_existing = app.config.mailbox.process_existing
        session.add(
            FolderState(
                folder=folder,
                state={"first_seen": now.isoformat(), "existing": len(keys)},
                updated_at=now,
            )
        )
        if process_existing or not keys:
            return False
        known = _known_in(session, keys)
        for key in keys:
            if key in known:
                continue
            session.add(
                InboundMessage(
                    backend_key=key,
                    folder=folder,
                    status=PREEXISTING,
                    received_at=now,
                    outcome="present at first start; left in place",
                )
            )
            report.preexisting += 1
    log.info("first start on %r: %d existing message(s) left in place", folder, len(keys))
    return True


def _known_in(session: Session, keys: list[str]) -> dict[str, tuple[int, str, str | None]]:
    found: dict[str, tuple[int, str, str | None]] = {}
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        rows = session.execute(
            select(
                InboundMessage.backend_key,
                InboundMessage.id,
                InboundMessage.status,
                InboundMessage.destination,
            ).where(InboundMessage.backend_key.in_(chunk))
        )
        for key, row_id, status, destination in rows:
            found[key] = (row_id, status, destination)
    return found


def _known(app: App, keys: list[str]) -> dict[str, tuple[int, str, str | None]]:
    with app.db.session() as session:
        return _known_in(session, keys)


def _store(
    app: App, folder: str, key: str, report: IngestReport
) -> tuple[int, str, str | None] | None:
    try:
        raw = app.mailbox.fetch(folder, key)
    except MailboxError as exc:
        if exc.permanent:
            return None
        raise
    mail = parse(raw)
    with app.db.session() as session:
        row = InboundMessage(
            backend_key=key,
            folder=folder,
            status=STORED,
            message_id=(mail.message_id or "")[:998] or None,
            from_addr=(mail.sender_email or "")[:320] or None,
            subject=mail.subject[:998],
            size=len(raw),
            raw=raw,
            received_at=app.clock.now(),
            attempts=0,
            sha256=hashlib.sha256(raw).hexdigest(),
        )
        session.add(row)
        session.flush()
        row_id = row.id
    report.stored += 1
    log.info(
        "mail in: #%s from %s in %r (%d bytes)", row_id, _mask(mail.sender_email), folder, len(raw)
    )
    return (row_id, STORED, None)


def _mask(email: str | None) -> str:
    """Logs name the domain, not the person."""
    if not email:
        return "(no sender)"
    return "…@" + email.rpartition("@")[2]


def _apply(app: App, process: Processor, row_id: int, report: IngestReport) -> str | None:
    """Apply one stored message; returns its destination, or None to retry next pass."""
    try:
        with app.db.session() as session:
            row = session.get_one(InboundMessage, row_id)
            mail = parse(row.raw or b"")
            disposition = process(session, app, row, mail)
            row.status = DONE
            row.destination = disposition.destination
            row.outcome = disposition.outcome
            row.classification = disposition.classification
            row.case_id = disposition.case_id
            row.processed_at = app.clock.now()
            row.last_error = None
    except Exception as exc:
        if _database_trouble(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        return _failed(app, row_id, exc, report)
    report.applied += 1
    log.info("mail #%s: %s -> %s", row_id, disposition.outcome, disposition.destination)
    return disposition.destination


def _failed(app: App, row_id: int, exc: Exception, report: IngestReport) -> str | None:
    log.exception("mail #%s could not be processed", row_id)
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with app.db.session() as session:
        row = session.get_one(InboundMessage, row_id)
        row.attempts += 1
        row.last_error = error
        if row.attempts < app.config.mailbot.max_attempts:
            report.errors.append(f"#{row_id}: {error}")
            return None
        row.status = DONE
        row.destination = "quarantine"
        row.outcome = "could not be processed"
        row.processed_at = app.clock.now()
        notify_admins(
            session,
            app,
            dedup_key=f"quarantine:{row.id}:{row.attempts}",
            template="quarantine_notice",
            inbound_id=row.id,
            sender=row.from_addr,
            subject=row.subject,
            attempts=row.attempts,
            error=error,
            folder=app.folders.quarantine,
        )
    report.quarantined += 1
    return "quarantine"


def retry_quarantined(app: App, inbound_id: int) -> bool:
    """`mailbot quarantine retry`: process a quarantined message again on the next pass."""
    with app.db.session() as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None or row.destination != "quarantine":
            return False
        row.status = RETRY
        row.attempts = 0
        row.destination = None
        folder, key = row.folder, row.backend_key
    app.mailbox.move(app.folders.quarantine, key, folder)
    return True
