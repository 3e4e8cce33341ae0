"""Ingest: every message in a watched folder ends in the database and an end folder.

A pass has three phases, each safe to interrupt with kill -9:
1. **scan and store**: list what is new in each watched folder, fetch the raw
   bytes and commit them under the backend key (a batch at a time), then
   persist the backend's checkpoint — only after what it covers is stored;
2. **apply**: per stored message, one transaction understands it, changes
   cases, writes timeline and outbox rows, and marks it `done` with its
   destination;
3. **move** every `done` message to Verwerkt / Te beoordelen / Quarantaine
   and mark it `moved`.

Phases 2 and 3 work from the database, not from the folder listing, so a
message stored before a crash is applied after it even when an incremental
backend does not list it again; a crash after 2 only repeats the move, which
is idempotent. An exception in 2 rolls back, counts an attempt, and after
`max_attempts` sends the message to Quarantaine (and tells the admins).
Database trouble is not the message's fault: it stops the pass without
counting an attempt.

At first start a folder's existing messages are recorded as `preexisting` and
left in place (SPEC §12) unless `process_existing = true`. The same happens
when a backend renames every message of a folder (an IMAP server that changed
the folder's UIDVALIDITY after a migration or restore): otherwise years of mail
left in place would look new and be answered; the admins are told how to
import what arrived meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, undefer

from mailbot.domain.message import InboundMail
from mailbot.mail.parse import parse, summarize
from mailbot.mail.port import MailboxError
from mailbot.service.app import App
from mailbot.service.outbox import notify_admins
from mailbot.store.db import DatabaseUnavailable, each_in_savepoint, is_database_trouble
from mailbot.store.tables import FolderState, InboundMessage

log = logging.getLogger(__name__)

# `Session.info` key: the Message-IDs of the batch being applied that more than one
# stored row carries. Only those can be a second delivery (see `might_be_repeated`).
_REPEATED_IDS = "mailbot.repeated_message_ids"

STORED = "stored"
DONE = "done"
MOVED = "moved"
PREEXISTING = "preexisting"
RETRY = "retry"
FINISHED = (DONE, MOVED)
_KEY_CHUNK = 500
_STORE_BATCH = 50
_APPLY_BATCH = 50  # messages per transaction when applying
_FETCH_GROUP = 25  # messages per fetch request: few round trips, bounded memory
_MOVE_GROUP = 100
_STORE_BATCH_BYTES = 20_000_000


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


def ingest(app: App, process: Processor) -> IngestReport:
    """One pass. A folder that cannot be read does not stop the others."""
    report = IngestReport()
    for folder in app.folders.watched:
        if not app.still_working():
            return report
        try:
            _scan_folder(app, folder, report)
        except MailboxError as exc:
            report.errors.append(f"{folder}: {exc}")
            log.warning("folder %r skipped this pass: %s", folder, exc)
    _apply_stored(app, process, report)
    _move_done(app, report)
    return report


# -- phase 1: scan and store ---------------------------------------------------


def _folder_state(app: App, folder: str) -> dict[str, Any] | None:
    with app.db.session() as session:
        row = session.get(FolderState, folder)
        return dict(row.state) if row is not None else None


def _save_folder_state(app: App, folder: str, state: dict[str, Any]) -> None:
    with app.db.session() as session:
        row = session.get(FolderState, folder)
        if row is None:
            session.add(FolderState(folder=folder, state=state, updated_at=app.clock.now()))
        else:
            row.state = state
            row.updated_at = app.clock.now()


def _scan_folder(app: App, folder: str, report: IngestReport) -> None:
    state = _folder_state(app, folder)
    if state is None:
        _first_start(app, folder, report)
        if not app.config.mailbox.process_existing:
            return
        state = _folder_state(app, folder) or {}
        since: Mapping[str, Any] | None = None
    else:
        since = state.get("checkpoint")
    while app.still_working():
        listing = app.mailbox.scan(folder, since)
        if listing.renamed and not app.config.mailbox.process_existing:
            _keys_renamed(app, folder, state, report)
            return
        known = _known(app, listing.keys)
        if not _store_new(app, folder, [k for k in listing.keys if k not in known], report):
            return  # interrupted: the checkpoint must not pass what was not stored
        if listing.checkpoint is not None and listing.checkpoint != since:
            state["checkpoint"] = listing.checkpoint
            _save_folder_state(app, folder, state)
        since = listing.checkpoint
        if not listing.more:
            return


def _first_start(app: App, folder: str, report: IngestReport) -> None:
    """Record what was already there the first time mailbot sees a folder."""
    now = app.clock.now()
    process_existing = app.config.mailbox.process_existing
    existing, checkpoint = _record_present(app, folder, report, record=not process_existing)
    state: dict[str, Any] = {"first_seen": now.isoformat(), "existing": existing}
    if checkpoint is not None and not process_existing:
        state["checkpoint"] = dict(checkpoint)
    _save_folder_state(app, folder, state)
    if existing and not process_existing:
        log.info("first start on %r: %d existing message(s) left in place", folder, existing)


def _record_present(
    app: App, folder: str, report: IngestReport, *, record: bool
) -> tuple[int, Mapping[str, Any] | None]:
    """List the whole folder; with `record`, every unknown key becomes a pre-existing row.
    Returns how many messages are there and the checkpoint after the last page."""
    now = app.clock.now()
    since: Mapping[str, Any] | None = None
    present = 0
    while True:
        listing = app.mailbox.scan(folder, since)
        present += len(listing.keys)
        if record:
            with app.db.session() as session:
                known = _known_in(session, listing.keys)
                for key in listing.keys:
                    if key not in known:
                        session.add(_preexisting_row(folder, key, now))
                        report.preexisting += 1
        since = listing.checkpoint
        if not listing.more:
            return present, since


def _keys_renamed(app: App, folder: str, state: dict[str, Any], report: IngestReport) -> None:
    """The backend gave every message in `folder` a new key (IMAP UIDVALIDITY changed).

    Mail that mailbot processed was moved out of the folder long ago; what is
    still there is mostly mail left in place at first start, which must not
    now be answered as if new. So the folder is recorded again as at a first
    start, and the admins hear of it with the command that processes what
    arrived since mailbot last read the folder (judged by Date header, as
    `mailbot import --since` does).
    """
    with app.db.session() as session:
        row = session.get(FolderState, folder)
        last_read = row.updated_at if row is not None else None
    present, checkpoint = _record_present(app, folder, report, record=True)
    now = app.clock.now()
    state = {**state, "renamed_at": now.isoformat(), "renamed_present": present}
    if checkpoint is not None:
        state["checkpoint"] = dict(checkpoint)
    since = app.calendar.local_date(last_read).isoformat() if last_read else None
    with app.db.session() as session:
        notify_admins(
            session,
            app,
            dedup_key=f"keys-renamed:{folder}:{hashlib.sha256(repr(checkpoint).encode()).hexdigest()[:16]}",
            template="keys_renamed",
            folder=folder,
            present=present,
            since=since,
        )
    _save_folder_state(app, folder, state)
    log.warning(
        "every message in %r has a new key (the server renamed them, e.g. a new UIDVALIDITY): "
        "%d message(s) recorded as already there and left in place; the admins are told",
        folder,
        present,
    )


def _preexisting_row(folder: str, key: str, now: Any) -> InboundMessage:
    return InboundMessage(
        backend_key=key,
        location_key=key,
        folder=folder,
        status=PREEXISTING,
        received_at=now,
        outcome="present at first start; left in place",
    )


def _known_in(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        found.update(
            session.scalars(
                select(InboundMessage.backend_key).where(InboundMessage.backend_key.in_(chunk))
            )
        )
    return found


def _known(app: App, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    with app.db.session() as session:
        return _known_in(session, keys)


def _store_new(app: App, folder: str, keys: list[str], report: IngestReport) -> bool:
    """Fetch and commit new messages, a batch per transaction (cheap and still safe:
    an uncommitted batch is simply listed again, the checkpoint is saved after).
    Returns False when the pass was told to stop before all were stored."""
    batch: list[InboundMessage] = []
    size = 0
    for start in range(0, len(keys), _FETCH_GROUP):
        if not app.still_working():
            break
        group = keys[start : start + _FETCH_GROUP]
        raws = app.mailbox.fetch_many(folder, group)  # gone meanwhile: simply missing
        for key in group:
            raw = raws.get(key)
            if raw is None:
                continue
            batch.append(_inbound_row(app, folder, key, raw))
            size += len(raw)
            if len(batch) >= _STORE_BATCH or size >= _STORE_BATCH_BYTES:
                _commit_batch(app, batch, report)
                batch, size = [], 0
    _commit_batch(app, batch, report)
    return not app.stop.is_set()


def _inbound_row(app: App, folder: str, key: str, raw: bytes) -> InboundMessage:
    mail = summarize(raw)
    return InboundMessage(
        backend_key=key,
        location_key=key,
        folder=folder,
        status=STORED,
        message_id=(mail.message_id or "")[:998] or None,
        from_addr=(mail.sender_email or "")[:320] or None,
        subject=mail.subject[:998],
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        raw=raw,
        received_at=app.clock.now(),
        attempts=0,
    )


def _commit_batch(app: App, batch: list[InboundMessage], report: IngestReport) -> None:
    if not batch:
        return
    with app.db.session() as session:
        session.add_all(batch)
        session.flush()
        for row in batch:
            log.info(
                "mail in: #%s from %s in %r (%d bytes)",
                row.id,
                _mask(row.from_addr),
                row.folder,
                row.size,
            )
    report.stored += len(batch)


def _mask(email: str | None) -> str:
    """Logs name the domain, not the person."""
    if not email:
        return "(no sender)"
    return "…@" + email.rpartition("@")[2]


# -- phase 2: apply ---------------------------------------------------------------


def _apply_stored(app: App, process: Processor, report: IngestReport) -> None:
    """Apply stored messages in batches: one transaction per batch, a SAVEPOINT per message.

    Committing once per batch instead of once per message is what makes a backlog
    fast on a durable (fsync'd) database. Safety is unchanged: a message that fails
    rolls back to its savepoint alone, and a crash before the batch commits means
    the batch is applied again next time, never twice.
    """
    with app.db.session() as session:
        pending = list(
            session.execute(
                select(InboundMessage.id, InboundMessage.size)
                .where(InboundMessage.status.in_((STORED, RETRY)))
                .order_by(InboundMessage.id)
            )
        )
    batch: list[int] = []
    size = 0
    for row_id, row_size in pending:
        batch.append(row_id)
        size += row_size or 0
        if len(batch) >= _APPLY_BATCH or size >= _STORE_BATCH_BYTES:
            if not app.still_working() or not _apply_batch(app, process, batch, report):
                return
            batch, size = [], 0
    if batch:
        _apply_batch(app, process, batch, report)


def _apply_batch(app: App, process: Processor, ids: list[int], report: IngestReport) -> bool:
    """Returns False when the pass was told to stop."""
    try:
        with app.db.session() as session:
            # one query for the batch (bounded to _STORE_BATCH_BYTES of raw mail)
            rows = {
                row.id: row
                for row in session.scalars(
                    select(InboundMessage)
                    .where(InboundMessage.id.in_(ids))
                    .options(undefer(InboundMessage.raw))
                )
            }
            session.info[_REPEATED_IDS] = _repeated_message_ids(session, rows.values())

            def apply(row_id: int) -> Disposition:
                row = rows[row_id]
                disposition = process(session, app, row, parse(row.raw or b""))
                row.status = DONE
                row.destination = disposition.destination
                row.outcome = disposition.outcome
                row.classification = disposition.classification
                row.case_id = disposition.case_id
                row.processed_at = app.clock.now()
                row.last_error = None
                session.expire(row, ["raw"])  # free the bytes as soon as they are applied
                return disposition

            applied, failed = each_in_savepoint(session, ids, apply, stop=app.stop)
    except Exception as exc:
        if is_database_trouble(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise
    for row_id, disposition in applied:
        report.applied += 1
        log.info("mail #%s: %s -> %s", row_id, disposition.outcome, disposition.destination)
    for row_id, error in failed:
        _failed(app, row_id, error, report)
    return not app.stop.is_set()


def _repeated_message_ids(session: Session, rows: Iterable[InboundMessage]) -> frozenset[str]:
    """One query per batch instead of a duplicate lookup per message: a second delivery
    shares its Message-ID with a row stored before it (in this batch or earlier)."""
    ids = {row.message_id for row in rows if row.message_id}
    if not ids:
        return frozenset()
    return frozenset(
        session.scalars(
            select(InboundMessage.message_id)
            .where(InboundMessage.message_id.in_(ids))
            .group_by(InboundMessage.message_id)
            .having(func.count() > 1)
        )
    )


def might_be_repeated(session: Session, row: InboundMessage, message_id: str) -> bool:
    """False when the batch query showed no other row with this Message-ID; True when
    it may have one (or the row is processed outside a batch): then look it up."""
    repeated: frozenset[str] | None = session.info.get(_REPEATED_IDS)
    if repeated is None or row.message_id != message_id:
        return True
    return message_id in repeated


def _failed(app: App, row_id: int, exc: Exception, report: IngestReport) -> None:
    log.error("mail #%s could not be processed", row_id, exc_info=exc)
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with app.db.session() as session:
        row = session.get_one(InboundMessage, row_id)
        row.attempts += 1
        row.last_error = error
        if row.attempts < app.config.mailbot.max_attempts:
            report.errors.append(f"#{row_id}: {error}")
            return
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


# -- phase 3: move -------------------------------------------------------------------


def _move_done(app: App, report: IngestReport) -> None:
    """Move applied messages to their end folders, a group per request and per commit.

    A crash after a move but before its commit only repeats the move next time,
    which finds the message gone and keeps the key it knew.
    """
    with app.db.session() as session:
        pending = list(
            session.execute(
                select(
                    InboundMessage.id,
                    InboundMessage.folder,
                    InboundMessage.location_key,
                    InboundMessage.destination,
                )
                .where(InboundMessage.status == DONE)
                .order_by(InboundMessage.id)
            )
        )
    groups: dict[tuple[str, str], list[tuple[int, str | None, str]]] = {}
    for row_id, folder, key, destination in pending:
        destination = destination or "triage"
        target = app.folders.for_destination(destination)
        groups.setdefault((folder, target), []).append((row_id, key, destination))
    for (folder, target), rows in groups.items():
        for start in range(0, len(rows), _MOVE_GROUP):
            if not app.still_working():
                return
            chunk = rows[start : start + _MOVE_GROUP]
            keys = [key for _, key, _ in chunk if key]
            moved = app.mailbox.move_many(folder, keys, target) if keys and folder != target else {}
            changes: list[dict[str, Any]] = []
            for row_id, key, destination in chunk:
                new_key = moved.get(key) if key and folder != target else key
                changes.append(
                    {
                        "id": row_id,
                        "status": MOVED,
                        "folder": target,
                        "location_key": new_key if new_key is not None else key,
                    }
                )
                report.destinations[destination] = report.destinations.get(destination, 0) + 1
            with app.db.session() as session:
                session.execute(update(InboundMessage), changes)  # by primary key, one batch
            report.moved += len(chunk)


def retry_quarantined(app: App, inbound_id: int) -> bool:
    """`mailbot quarantine retry`: process a quarantined message again on the next pass.

    The stored bytes are processed again; the message then moves from the
    quarantine folder to wherever it belongs.
    """
    with app.db.session() as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None or row.destination != "quarantine" or row.status not in FINISHED:
            return False
        row.status = RETRY
        row.attempts = 0
        row.destination = None
    return True
