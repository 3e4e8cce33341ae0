"""Deciding what one inbound message is, and handing it to the right process.

The order follows SPEC §6: classify first (automated mail is never answered),
then recognise a second delivery of a message already handled, then the
processes (matching, commands, new cases, compliments). What nobody claims
goes to `Te beoordelen`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain.classify import MailClass, classify
from mailbot.domain.message import InboundMail
from mailbot.service.app import App
from mailbot.service.ingest import FINISHED, Disposition
from mailbot.store.tables import InboundMessage


def _duplicate_of(session: Session, row: InboundMessage, mail: InboundMail) -> int | None:
    """The same message delivered twice (To and Cc, a resend): same id, same sender."""
    if not mail.message_id:
        return None
    return session.scalar(
        select(InboundMessage.id)
        .where(
            InboundMessage.message_id == mail.message_id,
            InboundMessage.from_addr == row.from_addr,
            InboundMessage.id != row.id,
            InboundMessage.status.in_(FINISHED),
            InboundMessage.destination != "quarantine",
        )
        .limit(1)
    )


def process(session: Session, app: App, row: InboundMessage, mail: InboundMail) -> Disposition:
    """See module docstring. Runs inside the ingest transaction."""
    result = classify(mail, own_addresses=frozenset({app.own_address}))
    kind = result.kind.value
    if result.kind is MailClass.OWN:
        return Disposition("processed", "mailbot's own mail", kind)
    duplicate = _duplicate_of(session, row, mail)
    if duplicate is not None:
        return Disposition("processed", f"second delivery of #{duplicate}", kind)
    if result.kind is not MailClass.NORMAL:
        return Disposition("triage", f"{kind} that matched no case", kind)
    return Disposition("triage", "matched no case and is no command", kind)
