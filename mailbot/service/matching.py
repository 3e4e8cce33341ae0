"""Which case does an incoming mail belong to? SPEC §6, in this order:

1. In-Reply-To / References contain a Message-ID mailbot sent;
2. a case tag `[ESC-…]`/`[CMP-…]` in the subject (whatever prefixes clients add);
3. Outlook's Thread-Index whose conversation root is one of a case's mails;
4. a case tag in the body;
5. the sender's domain belongs to a supplier with exactly one open case
   (tentative: the owner is asked to confirm; never proof on its own).

The first rule that yields exactly one case wins: two candidates are never
guessed between (the next rule may still decide). A case reference is trusted
only from a participant of that case: our staff (organisation domains) or the
case's supplier (its domains and contacts) or a person named on the case. A
stranger who copies a tag lands in `Te beoordelen`.

Bounces and auto-replies come from machines, not participants: they are
matched through mailbot's own Message-IDs quoted in them (the original
message a DSN returns, or In-Reply-To of an out-of-office), through our
`X-Mailbot-Case` header on the original a DSN returns, or by a case tag
in the subject when they come from one of that case's supplier's domains
(ticket systems, and out-of-office replies that do not thread; SPEC §12).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain.commands import find_case_refs
from mailbot.domain.message import InboundMail
from mailbot.domain.replytext import html_to_text
from mailbot.domain.subjects import subject_tags
from mailbot.mail.parse import message_ids
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.threads import THREAD_ROOT_BYTES
from mailbot.store.tables import Case, OutboundMessage, Participant

OUR_MESSAGE_ID = re.compile(rb"mailbot\.[0-9a-f]{32}@[A-Za-z0-9.-]+")
# how a DSN hands back the mail that failed: whole, or only its header block (RFC 3462)
RETURNED_ORIGINAL = ("message/rfc822", "text/rfc822-headers")


@dataclass(frozen=True)
class Match:
    case: Case
    rule: int
    tentative: bool = False

    @property
    def how(self) -> str:
        return {
            1: "reply to a mail of ours",
            2: "case tag in the subject",
            3: "Outlook conversation",
            4: "case tag in the text",
            5: "supplier's only open case (tentative)",
        }[self.rule]


def _cases_by_ids(session: Session, ids: set[int]) -> list[Case]:
    # `get` answers from the session's identity map when the batch met the case before
    # (replies to one case tend to come together) and only queries for the others
    found = (session.get(Case, case_id) for case_id in sorted(ids))
    return [case for case in found if case is not None]


def _cases_by_refs(session: Session, refs: list[str]) -> list[Case]:
    if not refs:
        return []
    return list(session.scalars(select(Case).where(Case.ref.in_(refs))))


def _by_message_ids(session: Session, ids: list[str]) -> list[Case]:
    if not ids:
        return []
    case_ids = set(
        session.scalars(
            select(OutboundMessage.case_id).where(
                OutboundMessage.message_id.in_(ids), OutboundMessage.case_id.is_not(None)
            )
        )
    )
    return _cases_by_ids(session, {c for c in case_ids if c is not None})


def _by_thread_index(session: Session, mail: InboundMail) -> list[Case]:
    value = mail.header("Thread-Index")
    if not value:
        return []
    try:
        root = base64.b64decode(value.strip() + "==", validate=False)[:THREAD_ROOT_BYTES]
    except ValueError:
        return []
    if len(root) < THREAD_ROOT_BYTES:
        return []
    encoded = base64.b64encode(root).decode()
    return list(session.scalars(select(Case).where(Case.thread_root == encoded)))


def is_participant(session: Session, app: App, case: Case, email: str | None) -> bool:
    """May this sender speak about this case (SPEC §6 trust rule)?"""
    if not email:
        return False
    directory = Directory(app.config)
    if directory.is_organisation(email) or directory.is_staff(email):
        return True
    supplier = directory.supplier_of(email)
    if supplier is not None and supplier.id == case.supplier_id:
        return True
    named = session.scalar(
        select(Participant.id).where(Participant.case_id == case.id, Participant.email == email)
    )
    return named is not None


def match(session: Session, app: App, mail: InboundMail) -> Match | None:
    """The one case this mail belongs to, or None (see module docstring)."""
    sender = mail.sender_email
    # asked in order, and only until one rule decides (most replies: rule 1)
    rules: list[tuple[int, Callable[[], list[Case]]]] = [
        (1, lambda: _by_message_ids(session, [*mail.in_reply_to, *mail.references])),
        (2, lambda: _cases_by_refs(session, subject_tags(mail.subject))),
        (3, lambda: _by_thread_index(session, mail)),
    ]
    for rule, find in rules:
        trusted = [c for c in find() if is_participant(session, app, c, sender)]
        if len(trusted) == 1:
            return Match(trusted[0], rule)
    body = mail.text if mail.text.strip() else html_to_text(mail.html or "")
    found = _cases_by_refs(session, find_case_refs(body))
    trusted = [c for c in found if is_participant(session, app, c, sender)]
    if len(trusted) == 1:
        return Match(trusted[0], 4)
    return _tentative(session, app, sender)


def _tentative(session: Session, app: App, sender: str | None) -> Match | None:
    """Rule 5 counts every open case about the supplier, a compliment as well: with two,
    the mail may be about either and mailbot never guesses. The one case must be an
    escalation, as KOPPEL/NIET is the escalation owner's question."""
    supplier = Directory(app.config).supplier_of(sender)
    if supplier is None:
        return None
    open_cases = list(
        session.scalars(
            select(Case).where(Case.supplier_id == supplier.id, Case.closed_at.is_(None)).limit(2)
        )
    )
    if len(open_cases) != 1 or open_cases[0].kind != "escalation":
        return None
    return Match(open_cases[0], 5, tentative=True)


def returned_originals(mail: InboundMail) -> list[Message]:
    """The header blocks of the mails a bounce hands back (attached, never its own headers)."""
    parser = BytesHeaderParser(policy=compat32)
    return [
        parser.parsebytes(a.content)
        for a in mail.attachments
        if a.content_type in RETURNED_ORIGINAL
    ]


def quoted_message_ids(mail: InboundMail, raw: bytes) -> list[str]:
    """Our Message-IDs a bounce or auto-reply refers to: in its headers, quoted in
    its text, or inside the returned original (plain or encoded attachment).

    The returned original's own Message-ID counts in any form: where the server
    chose it (EWS, Graph) it is not in our format, and it is what we recorded."""
    ids = [*mail.in_reply_to, *mail.references]
    for original in returned_originals(mail):
        ids += message_ids(str(original.get("Message-ID", "")))
    for blob in (raw, mail.text.encode(), *(a.content for a in mail.attachments)):
        ids += [m.decode() for m in OUR_MESSAGE_ID.findall(blob)]
    return list(dict.fromkeys(ids))


def _by_returned_case_header(session: Session, app: App, mail: InboundMail) -> list[Case]:
    """Cases named by the `X-Mailbot-Case` header of a returned original that is ours.

    Only the original a DSN hands back counts, and only when it is From our mailbox:
    the header on a mail's own headers is something any sender can write, so it
    never attaches a mail to a case. A forged DSN could still name a case (refs are
    easy to guess); it would only be recorded as a bounce and alert the owner, never
    be read as a reply or a command.
    """
    own = app.own_address.lower()
    refs: list[str] = []
    for original in returned_originals(mail):
        sender = parseaddr(str(original.get("From", "")))[1].lower()
        if sender == own:
            refs += find_case_refs(str(original.get("X-Mailbot-Case", "")))
    return _cases_by_refs(session, list(dict.fromkeys(refs)))


def match_automated(session: Session, app: App, mail: InboundMail, raw: bytes) -> Match | None:
    """A bounce or auto-reply, by the Message-ID of our mail that it quotes, else by our
    `X-Mailbot-Case` header on the returned original (SPEC §6: the server may have
    given our mail a Message-ID we never learned)."""
    found = _by_message_ids(session, quoted_message_ids(mail, raw))
    if len(found) != 1:
        found = _by_returned_case_header(session, app, mail)
    if len(found) == 1:
        return Match(found[0], 1)
    return None


def match_supplier_tag(session: Session, app: App, mail: InboundMail) -> Match | None:
    """Automated mail from a supplier's domains whose subject tags one of that supplier's
    cases: the domain vouches for the tag as a participant's would (SPEC §12)."""
    supplier = Directory(app.config).supplier_of(mail.sender_email)
    if supplier is None:
        return None
    found = [
        case
        for case in _cases_by_refs(session, subject_tags(mail.subject))
        if case.supplier_id == supplier.id
    ]
    if len(found) == 1:
        return Match(found[0], 2)
    return None
