"""Read-side queries for the CLI (and later the digest): plain dicts, JSON-ready."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.store.tables import Case, Deadline, InboundMessage, OutboundMessage, TimelineEvent


def _iso(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else value


def list_cases(session: Session, include_closed: bool = False) -> list[dict[str, Any]]:
    query = select(Case).order_by(Case.opened_at, Case.id)
    if not include_closed:
        query = query.where(Case.closed_at.is_(None))
    return [
        {
            "ref": case.ref,
            "kind": case.kind,
            "state": case.state,
            "step": case.step,
            "supplier": case.supplier_id,
            "owner": case.owner,
            "title": case.title,
            "opened_at": _iso(case.opened_at),
            "closed_at": _iso(case.closed_at),
        }
        for case in session.scalars(query)
    ]


def case_detail(session: Session, ref: str) -> dict[str, Any] | None:
    case = session.scalar(select(Case).where(Case.ref == ref))
    if case is None:
        return None
    deadlines = session.scalars(
        select(Deadline).where(Deadline.case_id == case.id).order_by(Deadline.due_at)
    )
    events = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.case_id == case.id)
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    return {
        "ref": case.ref,
        "kind": case.kind,
        "state": case.state,
        "step": case.step,
        "supplier": case.supplier_id,
        "owner": case.owner,
        "title": case.title,
        "language": case.language,
        "opened_at": _iso(case.opened_at),
        "closed_at": _iso(case.closed_at),
        "participants": [
            {"role": p.role, "email": p.email, "name": p.name} for p in case.participants
        ],
        "deadlines": [
            {"kind": d.kind, "due_at": _iso(d.due_at), "status": d.status, "payload": d.payload}
            for d in deadlines
        ],
        "timeline": [
            {
                "at": _iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "summary": e.summary,
                "inbound_id": e.inbound_id,
                "outbound_id": e.outbound_id,
            }
            for e in events
        ],
        "data": case.data,
    }


def quarantined(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.destination == "quarantine")
        .order_by(InboundMessage.id)
    )
    return [
        {
            "id": r.id,
            "received_at": _iso(r.received_at),
            "from": r.from_addr,
            "subject": r.subject,
            "error": r.last_error,
            "attempts": r.attempts,
        }
        for r in rows
    ]


def outbox(session: Session, include_sent: bool = False) -> list[dict[str, Any]]:
    query = select(OutboundMessage).order_by(OutboundMessage.id)
    if not include_sent:
        query = query.where(OutboundMessage.status.in_(("pending", "sending", "failed")))
    return [
        {
            "id": r.id,
            "status": r.status,
            "mode": r.mode,
            "purpose": r.purpose,
            "created_at": _iso(r.created_at),
            "sent_at": _iso(r.sent_at),
            "recipients": list(r.recipients),
            "subject": r.subject,
            "error": r.last_error,
            "case_id": r.case_id,
        }
        for r in session.scalars(query)
    ]


def requeue_failed(session: Session, outbound_id: int) -> bool:
    row = session.get(OutboundMessage, outbound_id)
    if row is None or row.status != "failed":
        return False
    row.status = "pending"
    row.attempts = 0
    return True
