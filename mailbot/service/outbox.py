"""The outbox: every mail mailbot sends goes through here, exactly once.

`enqueue()` is called inside the transaction that makes the decision, so the
state change and the mail to send are committed together or not at all. The
row holds the fully composed bytes and a deterministic Message-ID; its dedup
key (`escalation:ESC-2026-0007:step-2`) makes a second enqueue a no-op.

`flush()` delivers pending rows one by one: claim (pending -> sending,
`mailbot.store.claim`), deliver, record. A row found in `sending` at the start of
a flush is a crash between delivery and record: the Sent folder decides
whether it went out. That is only true for the holder of the leader lease
(the daemon's pass, `run --once`, `daemon.flush_as_leader`): anyone else would
take the leader's deliveries in progress for crash leftovers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from mailbot.domain.message import Address
from mailbot.mail.compose import OutgoingMail, compose, make_message_id
from mailbot.mail.port import Envelope, MailboxError
from mailbot.service.app import App
from mailbot.service.threads import thread_index
from mailbot.store.claim import claim_many
from mailbot.store.tables import OutboundMessage, OutboundRecipient, TimelineEvent

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
_DELIVER_GROUP = 20  # rows claimed, and recorded, per transaction


def is_allowed(app: App, email: str) -> bool:
    """Pilot mode: only listed addresses or domains receive real mail."""
    allowed = app.config.mailbot.allowed_recipients
    if allowed is None:
        return True
    email = email.lower()
    domain = email.rpartition("@")[2]
    return email in allowed or domain in allowed


def enqueue(
    session: Session,
    app: App,
    *,
    dedup_key: str,
    mail: OutgoingMail,
    purpose: str,
    case_id: int | None = None,
    draft: bool = False,
) -> OutboundMessage:
    """Add a mail to the outbox (idempotent on `dedup_key`)."""
    # every outbox row is flushed as soon as it is added (below), so the lookup needs no
    # flush of its own: the one flush at the end writes the decision and the row together
    with session.no_autoflush:
        existing = session.scalar(
            select(OutboundMessage).where(OutboundMessage.dedup_key == dedup_key)
        )
    if existing is not None:
        return existing
    now = app.clock.now()
    domain = app.own_address.rpartition("@")[2]
    message_id = make_message_id(app.instance_id, dedup_key, domain)
    mode = "draft" if draft or app.config.mailbot.dry_run else "send"
    held_for = [r for r in mail.recipients if not is_allowed(app, r)]
    if held_for:
        mode = "draft"
    if mail.case_ref:
        # every mail of a case shares one Outlook conversation root (matching rule 3)
        mail = replace(
            mail,
            extra_headers=(
                *mail.extra_headers,
                ("Thread-Index", thread_index(app.instance_id, mail.case_ref)),
            ),
        )
    raw = compose(
        mail,
        from_address=app.own_address,
        message_id=message_id,
        date=now,
        reply_to=app.own_address,
    )
    row = OutboundMessage(
        dedup_key=dedup_key,
        case_id=case_id,
        purpose=purpose,
        mode=mode,
        status="pending",
        recipients=mail.recipients,
        subject=mail.subject[:998],
        message_id=message_id,
        raw=raw,
        created_at=now,
        attempts=0,
    )
    session.add(row)
    session.flush()
    if held_for and case_id is not None and purpose != "pilot":
        _tell_owner_of_hold(session, app, row, case_id, held_for)
        session.add(
            TimelineEvent(
                case_id=case_id,
                at=now,
                kind="pilot-hold",
                actor="mailbot",
                summary=f"pilot mode: saved as draft (not allowed: {', '.join(held_for)})",
                data={"outbound_id": row.id, "held_for": held_for},
                outbound_id=row.id,
            )
        )
    return row


def _tell_owner_of_hold(
    session: Session, app: App, row: OutboundMessage, case_id: int, held_for: list[str]
) -> None:
    """Pilot mode: the owner hears that a mail was kept as a draft, and why."""
    from mailbot.store.tables import Case  # the outbox knows cases only for this notice

    case = session.get(Case, case_id)
    if case is None or not case.owner:
        return
    rendered = app.renderer.render(
        "pilot_hold",
        app.config.mailbot.language,
        ref=case.ref,
        title=case.title,
        held_subject=row.subject,
        held_for=held_for,
        allowed=list(app.config.mailbot.allowed_recipients or ()),
    )
    enqueue(
        session,
        app,
        dedup_key=f"pilot:{row.id}",
        purpose="pilot",
        case_id=case_id,
        mail=OutgoingMail(
            to=(Address(case.owner),),
            subject=f"[{case.ref}] {rendered.subject}",
            text=rendered.text,
            html=rendered.html,
            case_ref=case.ref,
            from_name="mailbot",
        ),
    )


def notify_admins(
    session: Session, app: App, *, dedup_key: str, template: str, **context: object
) -> None:
    """A plain notice to the admins, in the organisation's language."""
    language = app.config.mailbot.language
    rendered = app.renderer.render(template, language, **context)
    enqueue(
        session,
        app,
        dedup_key=dedup_key,
        purpose="admin",
        mail=OutgoingMail(
            to=tuple(Address(a) for a in app.config.mailbot.admins),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            from_name="mailbot",
        ),
    )


@dataclass
class FlushReport:
    sent: int = 0
    drafted: int = 0
    recovered: int = 0
    failed: int = 0
    held: int = 0
    errors: list[str] = field(default_factory=list)


def _recover(app: App, report: FlushReport) -> None:
    """Rows left in `sending` by a crash: Sent (or Drafts) tells whether they went out."""
    with app.db.session() as session:
        stuck = session.scalars(
            select(OutboundMessage).where(OutboundMessage.status == "sending")
        ).all()
        for row in stuck:
            done = app.mailbox.was_sent(row.message_id)
            if row.mode == "draft":
                done = done or app.mailbox.has_draft(row.message_id)
            if done:
                row.status = "sent" if row.mode == "send" else "drafted"
                row.sent_at = row.sent_at or app.clock.now()
                report.recovered += 1
                log.info("outbox %s: found in the mailbox after a crash, not sent again", row.id)
            else:
                row.status = "pending"


def flush(app: App, limit: int | None = None) -> FlushReport:
    """Deliver pending rows, oldest first. Mailbox errors leave them pending.

    Call it only while holding the leader lease (see the module docstring).

    Notices queued by the flush itself (a failed delivery tells the admins)
    go out in the same pass: a few rounds, never an endless loop.
    """
    report = FlushReport()
    _recover(app, report)
    after = 0
    for _round in range(3):
        with app.db.session() as session:
            query = (
                select(OutboundMessage.id)
                .where(OutboundMessage.status == "pending", OutboundMessage.id > after)
                .order_by(OutboundMessage.id)
            )
            ids = list(session.scalars(query.limit(limit) if limit else query))
        if not ids:
            break
        for start in range(0, len(ids), _DELIVER_GROUP):
            if not app.still_working() or not _deliver_group(
                app, ids[start : start + _DELIVER_GROUP], report
            ):
                return report
        after = ids[-1]
    return report


@dataclass(frozen=True)
class _Claimed:
    id: int
    mode: str
    message_id: str
    recipients: list[str]
    raw: bytes = field(repr=False)


def _claim_group(app: App, ids: list[int]) -> list[_Claimed]:
    """Claim a group of rows in one transaction (pending -> sending, attempts + 1)."""
    with app.db.session() as session:
        won = claim_many(
            session,
            OutboundMessage,
            ids,
            where=OutboundMessage.status == "pending",
            values={"status": "sending", "attempts": OutboundMessage.attempts + 1},
        )
        if not won:
            return []
        rows = session.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.mode,
                OutboundMessage.message_id,
                OutboundMessage.recipients,
                OutboundMessage.raw,
            ).where(OutboundMessage.id.in_(won))
        )
        by_id = {
            row_id: _Claimed(row_id, mode, message_id, list(recipients), raw)
            for row_id, mode, message_id, recipients, raw in rows
        }
    return [by_id[row_id] for row_id in ids if row_id in by_id]


class _Caps:
    """Loop protection (SPEC §8): at most so many mails per recipient per hour and per day.

    A mail over a cap is held, never dropped: it stays pending and goes out when
    the window allows; the admins hear of it once per recipient per day.
    """

    def __init__(self, app: App, recipients: set[str]) -> None:
        self.app = app
        now = app.clock.now()
        self.limits = {
            "hour": (now - timedelta(hours=1), app.config.mailbot.max_per_recipient_per_hour),
            "day": (now - timedelta(days=1), app.config.mailbot.max_per_recipient_per_day),
        }
        self.counts: dict[str, dict[str, int]] = {name: {} for name in self.limits}
        if not recipients:
            return
        with app.db.session() as session:
            for name, (since, _) in self.limits.items():
                rows = session.execute(
                    select(OutboundRecipient.email, func.count())
                    .where(
                        OutboundRecipient.email.in_(recipients), OutboundRecipient.sent_at > since
                    )
                    .group_by(OutboundRecipient.email)
                )
                self.counts[name] = {email: count for email, count in rows}

    def over(self, recipients: list[str]) -> tuple[str, str, int] | None:
        """(recipient, window, limit) of the first cap this mail would exceed."""
        for name, (_, limit) in self.limits.items():
            for email in recipients:
                if self.counts[name].get(email, 0) >= limit:
                    return email, name, limit
        return None

    def count(self, recipients: list[str]) -> None:
        for name in self.limits:
            for email in recipients:
                self.counts[name][email] = self.counts[name].get(email, 0) + 1


def _held_by_cap(app: App, item: _Claimed, capped: tuple[str, str, int]) -> None:
    email, window, limit = capped
    today = app.calendar.local_date(app.clock.now()).isoformat()
    with app.db.session() as session:
        row = session.get_one(OutboundMessage, item.id)
        row.status = "pending"
        row.attempts -= 1
        row.last_error = f"held: {email} already had {limit} mails this {window}"
        notify_admins(
            session,
            app,
            dedup_key=f"cap:{email}:{today}",
            template="cap_hit",
            recipient=email,
            window=window,
            limit=limit,
            subject=row.subject,
        )
    log.warning(
        "outbox %s held: %s reached the cap of %s per %s",
        item.id,
        "…@" + email.rpartition("@")[2],
        limit,
        window,
    )


def _deliver_group(app: App, ids: list[int], report: FlushReport) -> bool:
    """Claim, deliver and record a group; False when the mailbox is down and flushing
    should stop. A crash between delivery and record leaves rows in `sending`, which
    the next flush looks up in Sent before anything is sent again."""
    claimed = _claim_group(app, ids)
    caps = _Caps(app, {r for item in claimed if item.mode == "send" for r in item.recipients})
    delivered: list[tuple[_Claimed, str, str | None]] = []
    for index, item in enumerate(claimed):
        if item.mode == "send" and (capped := caps.over(item.recipients)):
            _held_by_cap(app, item, capped)
            report.held += 1
            continue
        try:
            if item.mode == "draft":
                used_id, ref = item.message_id, app.mailbox.save_draft(item.raw, item.message_id)
            else:
                envelope = Envelope(sender=app.own_address, recipients=item.recipients)
                used_id, ref = app.mailbox.send(item.raw, envelope, item.message_id), None
        except MailboxError as exc:
            _record(app, delivered, report)
            delivered = []
            _delivery_failed(app, item.id, exc, report)
            if not exc.permanent:  # the mailbox is down: give the rest back untouched
                _release(app, [c.id for c in claimed[index + 1 :]])
                return False
            continue  # a refused message does not stop the others
        if item.mode == "send":
            caps.count(item.recipients)
        delivered.append((item, used_id, ref))
    _record(app, delivered, report)
    return True


def _release(app: App, ids: list[int]) -> None:
    if not ids:
        return
    with app.db.session() as session:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids), OutboundMessage.status == "sending")
            .values(status="pending", attempts=OutboundMessage.attempts - 1)
        )


def _record(
    app: App, delivered: list[tuple[_Claimed, str, str | None]], report: FlushReport
) -> None:
    if not delivered:
        return
    now = app.clock.now()
    with app.db.session() as session:
        rows = {
            row.id: row
            for row in session.scalars(
                select(OutboundMessage).where(
                    OutboundMessage.id.in_([item.id for item, _, _ in delivered])
                )
            )
        }
        sent_to: list[dict[str, object]] = []
        events: list[dict[str, object]] = []
        for item, used_id, ref in delivered:
            row = rows[item.id]
            row.status = "drafted" if item.mode == "draft" else "sent"
            row.message_id = used_id
            row.backend_ref = ref
            row.sent_at = now
            row.last_error = None
            if item.mode == "send":
                sent_to += (
                    {"outbound_id": row.id, "email": email, "sent_at": now}
                    for email in dict.fromkeys(item.recipients)
                )
            if row.case_id is not None:
                verb = "draft saved" if item.mode == "draft" else "sent"
                events.append(
                    {
                        "case_id": row.case_id,
                        "at": now,
                        "kind": "mail-out" if item.mode == "send" else "draft",
                        "actor": "mailbot",
                        "summary": f"{verb}: {row.subject} → {', '.join(item.recipients)}",
                        "data": {"purpose": row.purpose, "message_id": used_id},
                        "outbound_id": row.id,
                    }
                )
            log.info("mail out: %s %s (%s)", row.status, row.id, row.purpose)
        # plain multi-row INSERTs: nothing reads these rows back in this transaction, and
        # ORM objects would cost one INSERT … RETURNING each on SQLite
        if sent_to:
            session.execute(insert(OutboundRecipient), sent_to)
        if events:
            session.execute(insert(TimelineEvent), events)
    for item, _, _ in delivered:
        if item.mode == "draft":
            report.drafted += 1
        else:
            report.sent += 1


def _delivery_failed(app: App, row_id: int, error: MailboxError, report: FlushReport) -> None:
    """Temporary trouble leaves the row pending for the next pass, however long it lasts;
    a permanent refusal is retried a few times, then the row fails and the admins hear of it."""
    report.errors.append(str(error))
    with app.db.session() as session:
        row = session.get_one(OutboundMessage, row_id)
        row.last_error = str(error)[:2000]
        if not error.permanent:
            row.status = "pending"
            row.attempts -= 1  # an outage is not an attempt
            log.warning("outbox %s not delivered, will retry: %s", row_id, error)
            return
        if row.attempts < MAX_SEND_ATTEMPTS:
            row.status = "pending"
            log.warning("outbox %s refused (attempt %s): %s", row_id, row.attempts, error)
            return
        row.status = "failed"
        report.failed += 1
        log.error("outbox %s failed for good after %s attempts: %s", row_id, row.attempts, error)
        if row.purpose != "admin":
            notify_admins(
                session,
                app,
                dedup_key=f"delivery-failed:{row.id}",
                template="delivery_failed",
                subject=row.subject,
                recipients=list(row.recipients),
                attempts=row.attempts,
                error=str(error),
                outbound_id=row.id,
            )
