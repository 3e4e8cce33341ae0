"""The daily `Te beoordelen` notice: what matched no case, batched, at most once a day.

Mail that no rule claims goes to the triage folder; the people in `triage_to`
(default: the admins) hear about it once a working day at 09:00, with each
message quoted so they can act without opening the shared mailbox. Mail from
our own organisation comes with its original attached; attachments of mail
from outsiders are never forwarded (SPEC §12). Each message records when it was
reported: mail can reach triage long after it arrived (an owner answers NIET to
a tentative match), so "everything after the last one reported" would skip it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from mailbot.domain.message import Address, Attachment
from mailbot.domain.replytext import html_to_text
from mailbot.mail.compose import OutgoingMail
from mailbot.mail.parse import parse
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.outbox import enqueue
from mailbot.store.tables import InboundMessage, OutboundMessage

log = logging.getLogger(__name__)
LIMIT = 50  # messages listed in one notice; the rest are counted


def send_triage_notice(app: App) -> int:
    """Queue today's notice if it is time and there is news; returns how many were reported."""
    now = app.clock.now()
    calendar = app.calendar
    today = calendar.local_date(now)
    if not calendar.is_working_day(today) or now < calendar.at_send_hour(today):
        return 0
    dedup_key = f"triage:{today.isoformat()}"
    with app.db.session() as session:
        if session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedup_key == dedup_key)):
            return 0  # today's notice went out; the rest waits for tomorrow
        rows = list(
            session.scalars(
                select(InboundMessage)
                .where(
                    InboundMessage.destination == "triage",
                    InboundMessage.triage_reported_at.is_(None),
                )
                .order_by(InboundMessage.id)
            )
        )
        if not rows:
            return 0
        directory = Directory(app.config)
        items: list[dict[str, Any]] = []
        attachments: list[Attachment] = []
        for row in rows[:LIMIT]:
            mail = parse(row.raw or b"")
            text = mail.text if mail.text.strip() else html_to_text(mail.html or "")
            inside = directory.is_organisation(row.from_addr)
            items.append(
                {
                    "id": row.id,
                    "from": row.from_addr,
                    "subject": row.subject or "",
                    "date": mail.date or row.received_at,
                    "why": row.outcome or "",
                    "excerpt": "\n".join(text.strip().splitlines()[:20]),
                    "inside": inside,
                }
            )
            if inside and row.raw:
                attachments.append(Attachment(f"bericht-{row.id}.eml", "message/rfc822", row.raw))
        language = app.config.mailbot.language
        rendered = app.renderer.render(
            "triage_notice",
            language,
            items=items,
            more=max(0, len(rows) - LIMIT),
            folder=app.folders.triage,
        )
        to = app.config.mailbot.triage_to or app.config.mailbot.admins
        enqueue(
            session,
            app,
            dedup_key=dedup_key,
            purpose="triage",
            mail=OutgoingMail(
                to=tuple(Address(a) for a in to),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                from_name="mailbot",
                attachments=tuple(attachments),
            ),
        )
        for row in rows:  # with the notice, or not at all
            row.triage_reported_at = now
    log.info("triage notice: %d message(s)", len(rows))
    return len(rows)
