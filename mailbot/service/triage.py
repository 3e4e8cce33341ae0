"""The daily `Te beoordelen` notice: what matched no case, batched, at most once a day.

Mail that no rule claims goes to the triage folder; the people in `triage_to`
(default: the admins) hear about it once a working day at 09:00, with each
message quoted so they can act without opening the shared mailbox (a long one
says where it was cut and where the whole message is). Mail from our own
organisation comes with its original attached; attachments of mail from
outsiders are never forwarded (SPEC §12). What does not fit in one notice comes
with the next one. Each message records when it was reported: mail can reach
triage long after it arrived (an owner answers NIET to a tentative match), so
"everything after the last one reported" would skip it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select

from mailbot.domain.message import Address, Attachment
from mailbot.domain.replytext import html_to_text
from mailbot.mail.compose import OutgoingMail
from mailbot.mail.parse import parse
from mailbot.service.app import App
from mailbot.service.cases import FORWARD_LIMIT
from mailbot.service.directory import Directory
from mailbot.service.outbox import enqueue
from mailbot.store.tables import InboundMessage, OutboundMessage

log = logging.getLogger(__name__)
# One notice holds at most LIMIT messages and ATTACHED_BYTES of attached originals (as a
# forward to an owner does); what does not fit comes with the next notice, never dropped.
LIMIT = 50
ATTACHED_BYTES = FORWARD_LIMIT
# A message is quoted in full up to this size; a longer one says it was cut and where
# the whole message is.
QUOTE_LINES = 100
QUOTE_CHARS = 8_000


def send_triage_notice(app: App) -> int:
    """Queue today's notice if it is time and there is news; returns how many were reported."""
    now = app.clock.now()
    calendar = app.calendar
    today = calendar.local_date(now)
    if not calendar.is_working_day(today) or now < calendar.at_send_hour(today):
        return 0
    dedup_key = f"triage:{today.isoformat()}"
    waiting = (
        InboundMessage.destination == "triage",
        InboundMessage.triage_reported_at.is_(None),
    )
    with app.db.session() as session:
        if session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedup_key == dedup_key)):
            return 0  # today's notice went out; the rest waits for tomorrow
        rows = list(
            session.scalars(
                select(InboundMessage).where(*waiting).order_by(InboundMessage.id).limit(LIMIT)
            )
        )
        if not rows:
            return 0
        total = session.scalar(select(func.count()).select_from(InboundMessage).where(*waiting))
        directory = Directory(app.config)
        items: list[dict[str, Any]] = []
        attachments: list[Attachment] = []
        attached = 0
        for row in rows:
            raw = row.raw or b""
            inside = directory.is_organisation(row.from_addr)
            name = f"bericht-{row.id}.eml" if inside and 0 < len(raw) <= ATTACHED_BYTES else None
            if name and attached + len(raw) > ATTACHED_BYTES:
                break  # the notice is full: this one and the rest come with the next notice
            if name:
                attached += len(raw)
                attachments.append(Attachment(name, "message/rfc822", raw))
            mail = parse(raw)
            text = mail.text if mail.text.strip() else html_to_text(mail.html or "")
            excerpt, cut = _quote(text)
            items.append(
                {
                    "id": row.id,
                    "from": row.from_addr,
                    "subject": row.subject or "",
                    "date": mail.date or row.received_at,
                    "why": row.outcome or "",
                    "excerpt": excerpt,
                    "cut": cut,
                    "inside": inside,
                    "attachment": name,
                    "too_big": inside and len(raw) > ATTACHED_BYTES,
                }
            )
            row.triage_reported_at = now  # with the notice, or not at all
        more = (total or 0) - len(items)
        language = app.config.mailbot.language
        rendered = app.renderer.render(
            "triage_notice",
            language,
            items=items,
            more=more,
            limit=LIMIT,
            limit_mb=ATTACHED_BYTES // 1_000_000,
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
    log.info("triage notice: %d message(s), %d for the next one", len(items), more)
    return len(items)


def _quote(text: str) -> tuple[str, bool]:
    """The message's text as the notice quotes it, and whether it had to be cut."""
    lines = text.strip().splitlines()
    kept = "\n".join(lines[:QUOTE_LINES])
    if len(kept) > QUOTE_CHARS:
        return kept[:QUOTE_CHARS].rpartition("\n")[0] or kept[:QUOTE_CHARS], True
    return kept, len(lines) > QUOTE_LINES
