"""`mailbot import`: process mail that was already in the mailbox at first start.

At first start such mail is only recorded (SPEC §12: no cases, replies or
thank-yous for last year's praise). When the organisation wants it processed
after all, import fetches it, stores its bytes like new mail, and the next
pass handles it. `--since` keeps older mail where it is (judged by its Date
header: that is what a person means by "since").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from mailbot.mail.parse import parse
from mailbot.mail.port import MailboxError
from mailbot.service.app import App
from mailbot.service.ingest import PREEXISTING, STORED
from mailbot.store.tables import InboundMessage


@dataclass
class ImportSummary:
    found: int = 0
    queued: int = 0
    too_old: int = 0
    gone: int = 0


def queue_existing(
    app: App,
    *,
    folder: str | None = None,
    since: date | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> ImportSummary:
    """Turn pre-existing rows into stored mail; the next pass processes them.

    A message someone moved away meanwhile is counted as gone and the import goes
    on; a mailbox that cannot be reached stops it (MailboxError), keeping what was
    fetched so far, so that running it again carries on.
    """
    summary = ImportSummary()
    with app.db.session() as session:
        query = select(InboundMessage.id).where(InboundMessage.status == PREEXISTING)
        if folder:
            query = query.where(InboundMessage.folder == folder)
        ids = list(session.scalars(query.order_by(InboundMessage.id)))
    summary.found = len(ids)
    for row_id in ids:
        with app.db.session() as session:
            row = session.get_one(InboundMessage, row_id)
            try:
                raw = app.mailbox.fetch(row.folder, row.location_key or row.backend_key)
            except MailboxError as exc:
                if not exc.permanent:
                    raise
                summary.gone += 1
                row.outcome = "present at first start; gone before import"
                progress(1)
                continue
            mail = parse(raw)
            if since is not None and (mail.date is None or mail.date.date() < since):
                summary.too_old += 1
                progress(1)
                continue
            row.raw = raw
            row.size = len(raw)
            row.sha256 = hashlib.sha256(raw).hexdigest()
            row.message_id = (mail.message_id or "")[:998] or None
            row.from_addr = (mail.sender_email or "")[:320] or None
            row.subject = mail.subject[:998]
            row.status = STORED
            row.outcome = "imported"
            summary.queued += 1
        progress(1)
    return summary
