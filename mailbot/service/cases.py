"""Case bookkeeping shared by both processes: numbers, timeline, deadlines, replies.

Every function works inside the caller's transaction, so a state change, its
timeline line, its deadlines and the mail it causes commit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbot.domain.message import Address, Attachment, InboundMail
from mailbot.domain.replytext import html_to_text, new_text
from mailbot.domain.subjects import tagged, topic
from mailbot.mail.compose import OutgoingMail
from mailbot.service.app import App
from mailbot.service.outbox import enqueue
from mailbot.store.tables import Case, CaseCounter, Deadline, OutboundMessage, TimelineEvent

PREFIXES = {"escalation": "ESC", "compliment": "CMP"}


def next_ref(session: Session, kind: str, now: datetime, tz: Any) -> str:
    """ESC-2026-0007: per prefix and (local) year, never reused."""
    prefix = PREFIXES[kind]
    year = now.astimezone(tz).year
    counter = session.scalar(
        select(CaseCounter)
        .where(CaseCounter.prefix == prefix, CaseCounter.year == year)
        .with_for_update()
    )
    if counter is None:
        counter = CaseCounter(prefix=prefix, year=year, last=0)
        session.add(counter)
    counter.last += 1  # written by the flush that stores the case
    return f"{prefix}-{year}-{counter.last:04d}"


def save_state(
    case: Case, key: str, data: dict[str, Any], state: str, now: datetime, *, closed: bool
) -> None:
    """A decision's outcome on the case row: the state machine's data under `key`, the
    state name queries filter on, the decision count, and the closing time (once)."""
    stored = dict(case.data)
    stored[key] = data
    stored["decisions"] = int(stored.get("decisions", 0)) + 1
    case.data = stored
    case.state = state
    case.updated_at = now
    if closed and case.closed_at is None:
        case.closed_at = now


def record(
    session: Session,
    case: Case,
    at: datetime,
    kind: str,
    actor: str,
    summary: str,
    *,
    inbound_id: int | None = None,
    outbound_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        TimelineEvent(
            case_id=case.id,
            at=at,
            kind=kind,
            actor=actor,
            summary=summary[:2000],
            data=data or {},
            inbound_id=inbound_id,
            outbound_id=outbound_id,
        )
    )


def schedule(
    session: Session, case: Case, kind: str, at: datetime, payload: dict[str, Any], now: datetime
) -> None:
    session.add(
        Deadline(
            case_id=case.id, kind=kind, due_at=at, status="pending", payload=payload, created_at=now
        )
    )


def cancel(session: Session, case: Case, kinds: Iterable[str]) -> None:
    session.execute(
        update(Deadline)
        .where(
            Deadline.case_id == case.id,
            Deadline.status == "pending",
            Deadline.kind.in_(tuple(kinds)),
        )
        .values(status="cancelled")
    )


def last_message_id(session: Session, case: Case) -> str | None:
    """The newest mail of ours on this case: replies thread under it."""
    return session.scalar(
        select(OutboundMessage.message_id)
        .where(OutboundMessage.case_id == case.id)
        .order_by(OutboundMessage.id.desc())
        .limit(1)
    )


def send_rendered(
    session: Session,
    app: App,
    *,
    case: Case | None,
    template: str,
    language: str,
    to: Sequence[str],
    dedup_key: str,
    purpose: str,
    context: dict[str, Any],
    cc: Sequence[str] = (),
    in_reply_to: str | None = None,
    attachments: Sequence[Attachment] = (),
    automated: bool = True,
    from_name: str | None = None,
) -> OutboundMessage:
    """Render a template and put the mail in the outbox, tagged with the case."""
    rendered = app.renderer.render(template, language, **context)
    subject = tagged(case.ref, rendered.subject) if case is not None else rendered.subject
    directory_names = {p.email: p.name for p in app.config.people}
    mail = OutgoingMail(
        to=tuple(Address(a, directory_names.get(a, "")) for a in dict.fromkeys(to)),
        cc=tuple(Address(a, directory_names.get(a, "")) for a in dict.fromkeys(cc) if a not in to),
        subject=subject,
        text=rendered.text,
        html=rendered.html,
        case_ref=case.ref if case is not None else None,
        from_name=from_name or app.config.mailbox.display_name,
        in_reply_to=in_reply_to,
        references=(in_reply_to,) if in_reply_to else (),
        automated=automated,
        attachments=tuple(attachments),
    )
    return enqueue(
        session,
        app,
        dedup_key=dedup_key,
        mail=mail,
        purpose=purpose,
        case_id=case.id if case is not None else None,
    )


FORWARD_LIMIT = 15_000_000  # bytes of attachments passed on in one mail


def passed_on(
    mail: InboundMail, inbound_id: int, text: str | None = None
) -> tuple[dict[str, Any], list[Attachment]]:
    """What a forward to the owner or the coordinator says about the mail it passes on,
    and the attachments it carries (up to FORWARD_LIMIT; the rest are named).

    The new part comes first, so the reader sees at once what was said; when that is
    not the whole mail, the full text follows (SPEC §6: "with the original text"). What
    sits below a reply is often the point: a colleague's forward of the supplier's
    mail, answers typed between the quoted lines, a report forwarded inside it."""
    text = text or new_text(mail.text, mail.html) or mail.text or html_to_text(mail.html or "")
    full = (mail.text if mail.text.strip() else html_to_text(mail.html or "")) or text
    kept: list[Attachment] = []
    skipped: list[dict[str, Any]] = []
    total = 0
    for attachment in mail.attachments:
        if total + attachment.size > FORWARD_LIMIT:
            skipped.append({"name": attachment.filename, "size": attachment.size})
            continue
        total += attachment.size
        kept.append(attachment)
    context = {
        "original_subject": mail.subject,
        "original_topic": topic(mail.subject),
        # new_text() tidies trailing spaces; only a real cut repeats the whole mail
        "trimmed": bool(text.strip()) and text.split() != full.split(),
        "original_date": mail.date,
        "reply_text": text,
        "full_text": full,
        "attachments_skipped": skipped,
        "inbound_id": inbound_id,
    }
    return context, kept
