"""Noticing that the owner sent a step's draft from the shared mailbox.

With the `draft` policy the letter waits in Drafts; the owner may edit it and
send it from Outlook. It then appears in Sent: recognised by the draft's
Message-ID (kept by Exchange and most clients) or, failing that, by the case
tag in its subject or our X-Mailbot-Case header while that case waits for a
draft. Then the step counts as sent, and its deadline starts.

mailbot never moves or changes anything in Sent; it only remembers how far
it has read (a marker in the `meta` table).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from mailbot.domain import ladder
from mailbot.domain.ladder import Policy
from mailbot.domain.subjects import subject_tags
from mailbot.mail.port import SentCopy
from mailbot.service import escalations
from mailbot.service.app import App
from mailbot.store.tables import Case, OutboundMessage

log = logging.getLogger(__name__)
MARKER = "sent_marker"
_GROUP = 500  # copies looked up per query and transaction


def notice_sent_drafts(app: App) -> int:
    marker = app.db.get_meta(MARKER)
    if marker is None:
        # first look at Sent: what is there already is history, not news
        # ("" when Sent is empty: every later copy counts)
        app.db.set_meta(MARKER, app.mailbox.sent_marker() or "")
        return 0
    copies, newest = app.mailbox.sent_messages(marker)
    noticed = 0
    for start in range(0, len(copies), _GROUP):
        noticed += _notice(app, copies[start : start + _GROUP])
    if newest is not None and newest != marker:
        app.db.set_meta(MARKER, newest)
    return noticed


def _notice(app: App, copies: list[SentCopy]) -> int:
    """One transaction for a group of copies: after a backlog nearly all of them are
    mailbot's own sends, recognised by one query instead of one transaction each."""
    noticed = 0
    with app.db.session() as session:
        ours = {
            message_id: (mode, case_id)
            for message_id, mode, case_id in session.execute(
                select(
                    OutboundMessage.message_id, OutboundMessage.mode, OutboundMessage.case_id
                ).where(
                    OutboundMessage.message_id.in_({c.message_id for c in copies if c.message_id})
                )
            )
        }
        for copy in copies:
            mode, case_id = ours.get(copy.message_id or "", (None, None))
            if mode == "send":
                continue  # a mail mailbot itself sent
            refs = [copy.case_ref] if copy.case_ref else subject_tags(copy.subject)
            case = (
                session.get(Case, case_id)
                if case_id
                else session.scalar(select(Case).where(Case.ref.in_(refs)))
                if refs
                else None
            )
            if case is None or case.kind != "escalation":
                continue
            state = escalations.state_of(case)
            if state.pending is None or state.pending.mode is not Policy.DRAFT:
                continue
            owner = case.owner or "owner"
            escalations.apply(
                session, app, case, ladder.StepDelivered(state.pending.step), actor=owner
            )
            noticed += 1
            log.info("%s: step %s draft was sent by hand", case.ref, state.pending.step)
    return noticed
