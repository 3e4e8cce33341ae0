"""Read-side queries for the weekly digest: a few bounded, set-based reads.

Two years of history must build in well under 2 s on SQLite and PostgreSQL,
so nothing here walks the whole history row by row or loads whole cases:
- counts per supplier are a GROUP BY;
- the timestamps the trend and the 12-month table need are narrow column
  reads, bounded by `closed_at IS NULL OR closed_at >= since` (open cases
  plus the last year), and bucketed in one Python pass by the caller;
- JSON state is read only for bounded sets (open escalations, compliments of
  the last 12 weeks, open CAPs), and only its `escalation` / `compliment` /
  `maker` members (`data["…"]` compiles to `json_extract` on SQLite and `->`
  on PostgreSQL), never the mail texts stored next to them.

Rows come back as small frozen dataclasses of plain values; the digest
service turns them into figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailbot.store.tables import Case, OutboundMessage

ESCALATION = "escalation"
COMPLIMENT = "compliment"


@dataclass(frozen=True)
class EscalationSpan:
    """One escalation's life, without its JSON state."""

    ref: str
    supplier_id: str | None
    state: str
    step: int
    opened_at: datetime
    closed_at: datetime | None
    owner: str | None
    title: str


@dataclass(frozen=True)
class OpenEscalation:
    ref: str
    supplier_id: str | None
    state: str
    step: int
    owner: str | None
    title: str
    opened_at: datetime
    escalation: dict[str, Any]  # mailbot.domain.ladder.to_data()


@dataclass(frozen=True)
class ComplimentRow:
    ref: str
    supplier_id: str | None
    state: str
    opened_at: datetime
    closed_at: datetime | None
    compliment: dict[str, Any]  # mailbot.domain.compliments.to_data(); {} before registration
    maker_external: bool


def escalation_spans(session: Session, since: datetime) -> list[EscalationSpan]:
    """Every escalation open now or closed at or after `since` (the last 12 months)."""
    query = (
        select(
            Case.ref,
            Case.supplier_id,
            Case.state,
            Case.step,
            Case.opened_at,
            Case.closed_at,
            Case.owner,
            Case.title,
        )
        .where(Case.kind == ESCALATION)
        .where(or_(Case.closed_at.is_(None), Case.closed_at >= since))
        .order_by(Case.opened_at, Case.id)
    )
    return [
        EscalationSpan(
            ref=row.ref,
            supplier_id=row.supplier_id,
            state=row.state,
            step=row.step or 0,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            owner=row.owner,
            title=row.title,
        )
        for row in session.execute(query)
    ]


def open_escalations(session: Session) -> list[OpenEscalation]:
    """Open escalations with their ladder state (a bounded set: open cases only)."""
    query = (
        select(
            Case.ref,
            Case.supplier_id,
            Case.state,
            Case.step,
            Case.owner,
            Case.title,
            Case.opened_at,
            Case.data["escalation"].label("escalation"),
        )
        .where(Case.kind == ESCALATION, Case.closed_at.is_(None))
        .order_by(Case.opened_at, Case.id)
    )
    return [
        OpenEscalation(
            ref=row.ref,
            supplier_id=row.supplier_id,
            state=row.state,
            step=row.step or 0,
            owner=row.owner,
            title=row.title,
            opened_at=row.opened_at,
            escalation=row.escalation or {},
        )
        for row in session.execute(query)
    ]


def compliments_since(session: Session, since: datetime) -> list[ComplimentRow]:
    """Compliments received at or after `since` (the trend window), with their lifecycle."""
    return _compliments(session, Case.opened_at >= since)


def open_caps(session: Session) -> list[ComplimentRow]:
    """Compliments whose CAP is being carried out now, however old."""
    return _compliments(session, Case.state == "cap", Case.closed_at.is_(None))


def _compliments(session: Session, *where: Any) -> list[ComplimentRow]:
    query = (
        select(
            Case.ref,
            Case.supplier_id,
            Case.state,
            Case.opened_at,
            Case.closed_at,
            Case.data["compliment"].label("compliment"),
            Case.data["maker"]["external"].label("external"),
        )
        .where(Case.kind == COMPLIMENT, *where)
        .order_by(Case.opened_at, Case.id)
    )
    return [
        ComplimentRow(
            ref=row.ref,
            supplier_id=row.supplier_id,
            state=row.state,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            compliment=row.compliment or {},
            maker_external=bool(row.external),
        )
        for row in session.execute(query)
    ]


def compliments_per_supplier(session: Session, since: datetime) -> dict[str, int]:
    """How many compliments about each supplier arrived at or after `since`."""
    query = (
        select(Case.supplier_id, func.count())
        .where(Case.kind == COMPLIMENT, Case.supplier_id.is_not(None), Case.opened_at >= since)
        .group_by(Case.supplier_id)
    )
    return {supplier: count for supplier, count in session.execute(query) if supplier}


def outbox_has(session: Session, dedup_key: str) -> bool:
    """Whether a mail with this dedup key was ever queued (sent, pending or failed)."""
    found = session.scalar(
        select(OutboundMessage.id).where(OutboundMessage.dedup_key == dedup_key).limit(1)
    )
    return found is not None
