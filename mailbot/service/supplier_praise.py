"""Where compliments and suppliers meet (SPEC §5, issue 11).

A compliment about a supplier is linked to it (and says how that link was
found). When that supplier has open escalations, the compliment is attached
to each of them as *possible* proof of improvement: the owner is asked, and
AKKOORD / ONVOLDOENDE on that mail act exactly as on a supplier reply. mailbot
never decides that itself.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain import ladder
from mailbot.domain.commands import find_case_refs
from mailbot.domain.message import InboundMail
from mailbot.domain.supplier_links import Link, SupplierRef, find_links
from mailbot.service import cases, escalations
from mailbot.service.app import App
from mailbot.service.escalation_mail import forward_to_owner
from mailbot.store.tables import Case, InboundMessage


def links_for(session: Session, app: App, subject: str, text: str) -> list[Link]:
    refs = find_case_refs(f"{subject}\n{text}")
    tagged = (
        {
            c.ref: c.supplier_id
            for c in session.scalars(
                select(Case).where(Case.ref.in_(refs), Case.kind == "escalation")
            )
            if c.supplier_id
        }
        if refs
        else {}
    )
    suppliers = [
        SupplierRef(
            s.id,
            s.name,
            tuple(s.domains),
            tuple(
                c for c in (s.counterpart, s.counterpart_manager, *s.directors, *s.contacts) if c
            ),
        )
        for s in app.config.suppliers
    ]
    return find_links(f"{subject}\n{text}", suppliers, tagged)


def offer_as_proof(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    compliment: Case,
    links: list[Link],
    text: str,
) -> list[dict[str, Any]]:
    """Attach the compliment to every open escalation of the linked suppliers; ask each owner."""
    found: list[tuple[Link, Case]] = []
    for link in links:
        query = select(Case).where(Case.kind == "escalation", Case.closed_at.is_(None))
        if link.how == "case tag":
            query = query.where(Case.ref == link.evidence)
        else:
            query = query.where(Case.supplier_id == link.supplier)
        found += [(link, case) for case in session.scalars(query.order_by(Case.id))]
    refs = [case.ref for _, case in found]
    for link, case in found:
        escalations.apply(
            session,
            app,
            case,
            ladder.SupplierReplied(row.id),
            actor=mail.sender_email or "mailbot",
            inbound_id=row.id,
        )
        cases.record(
            session,
            case,
            app.clock.now(),
            "compliment",
            "mailbot",
            f"compliment {compliment.ref} about this supplier ({link.how}: {link.evidence})",
        )
        forward_to_owner(
            session,
            app,
            row,
            mail,
            case,
            kind="compliment",
            text=text,
            extra={
                "compliment_ref": compliment.ref,
                "link": asdict(link),
                "other_cases": [r for r in refs if r != case.ref],
            },
        )
    return [{**asdict(link), "cases": [c.ref for lk, c in found if lk == link]} for link in links]
