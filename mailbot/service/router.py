"""Deciding what one inbound message is, and handing it to the right process.

The order follows SPEC §6 and §12:
1. classify (our own mail is done; automated mail is never answered);
2. a second delivery of a message already handled is done;
3. automated mail is recorded on the case whose mail it quotes (or whose tag
   it carries from the case's supplier's domains), or triaged; a supplier's
   ticket system reaches the owner as a reply;
4. matching rules 1–5 (also for the `complimenten` folder: replies to a
   compliment case may be moved there by a mail rule); list mail from our own
   side that matched a case is recorded on it, never obeyed or answered;
5. unmatched staff mail: a new escalation, a STATUS question, a compliment; a
   command that names no case is answered with how to name one, then triaged;
6. what nobody claims goes to `Te beoordelen`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain import authresults
from mailbot.domain.classify import Classification, MailClass, classify
from mailbot.domain.commands import Command, Verb, parse_command
from mailbot.domain.message import InboundMail
from mailbot.domain.replytext import new_text
from mailbot.domain.requests import is_opening
from mailbot.service import cases, compliment_mail, escalation_mail, replies
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.ingest import FINISHED, Disposition, might_be_repeated
from mailbot.service.matching import Match, match, match_automated, match_supplier_tag
from mailbot.service.outbox import notify_admins
from mailbot.store.tables import InboundMessage


def _duplicate_of(session: Session, row: InboundMessage, mail: InboundMail) -> int | None:
    """The same message delivered twice (To and Cc, a resend): same id, same sender."""
    if not mail.message_id or not might_be_repeated(session, row, mail.message_id):
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
    directory = Directory(app.config)
    sender = mail.sender_email

    if result.kind in (MailClass.BOUNCE, MailClass.AUTO_REPLY):
        return _automated(session, app, row, mail, result)

    if (directory.is_organisation(sender) or directory.is_staff(sender)) and (
        forged := authresults.check(mail, app.config.mailbot.trusted_authserv_id)
    ).forged:
        return _spoofed(session, app, row, mail, forged.reason)

    found = match(session, app, mail)
    if found is not None and found.tentative and compliment_mail.is_compliment(app, row, mail):
        found = None  # praise from a supplier's domain is a compliment, not a reply
    if (
        found is not None
        and result.kind is MailClass.LIST
        and (directory.is_organisation(sender) or directory.is_staff(sender))
    ):
        return _list_mail_on_case(session, app, row, mail, found)
    if found is not None:
        if found.case.kind == "compliment":
            disposition = compliment_mail.case_mail(session, app, row, mail, found.case)
        else:
            disposition = escalation_mail.case_mail(session, app, row, mail, found, result)
        return Disposition(disposition.destination, disposition.outcome, kind, disposition.case_id)

    if result.kind is MailClass.LIST:
        return Disposition("triage", "list mail that matched no case", kind)

    if compliment_mail.is_compliment(app, row, mail) and not is_opening(mail.subject):
        registered = compliment_mail.intake(session, app, row, mail)
        return Disposition(registered.destination, registered.outcome, kind, registered.case_id)

    if directory.is_organisation(sender) or directory.is_staff(sender):
        handled = _unmatched_staff(session, app, row, mail)
        if handled is not None:
            return Disposition(handled.destination, handled.outcome, kind, handled.case_id)
    elif is_opening(mail.subject):
        return escalation_mail.refuse_unknown_sender(
            session, app, row, mail, action="open an escalation"
        )
    return Disposition("triage", "matched no case and is no command", kind)


def _automated(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, result: Classification
) -> Disposition:
    """Automated mail is recorded on its case and never answered (SPEC §6).

    The one kind that reaches the owner is a supplier's ticket system (SPEC §12),
    asked first: ticket systems usually thread to our mail, and the quoted
    Message-ID must not turn their update into a mere "automatic reply". It is
    passed on for information, not as the supplier's reply (see
    `escalation_mail.ticket_update`).
    A bounce or an out-of-office says nothing about the shortfall: it takes the
    automated path (owner alerted, or told once per absence) also when only its
    case tag found the case, and never counts as the supplier's reply.
    """
    kind = result.kind.value
    tagged = match_supplier_tag(session, app, mail)
    if tagged is not None and _ticket_update(result, mail, tagged):
        return escalation_mail.ticket_update(session, app, row, mail, result, tagged.case)
    found = match_automated(session, app, mail, row.raw or b"") or tagged
    if found is not None:
        return escalation_mail.automated_mail(session, app, row, mail, result, found)
    return Disposition("triage", f"{kind} that matched no case", kind)


def _list_mail_on_case(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, found: Match
) -> Disposition:
    """SPEC §8: list mail is never answered. A colleague's list (one that rewrites From to
    the list's own address, or a colleague writing to it) can carry a case's tag or thread:
    it is recorded on the case, never read as a command, and nobody gets a reply. List
    mail from a supplier's side still reaches the owner through the normal path: some
    support desks answer through a list (List-Id) and nothing goes back to them."""
    case = found.case
    sender = mail.sender_email or "(no sender)"
    cases.record(
        session,
        case,
        app.clock.now(),
        "note",
        sender,
        f"list mail: {mail.subject}",
        inbound_id=row.id,
    )
    return Disposition(
        "processed", f"{case.ref}: list mail from {sender} recorded", MailClass.LIST.value, case.id
    )


def _ticket_update(result: Classification, mail: InboundMail, found: Match) -> bool:
    """What a supplier's ticket system writes about an escalation, as opposed to what
    merely carries the tag: an absence notice, a failed delivery, or a receipt (a
    `multipart/report` says the letter was read or delivered, nothing about the case)."""
    return (
        result.kind is MailClass.AUTO_REPLY
        and not result.out_of_office
        and mail.content_type != "multipart/report"
        and found.case.kind == "escalation"
    )


def _spoofed(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, reason: str
) -> Disposition:
    """SPEC §8: a staff From that fails authentication is refused and the admins alerted."""
    notify_admins(
        session,
        app,
        dedup_key=f"spoof:{row.id}",
        template="admin_spoof",
        sender=mail.sender_email or "",
        subject=mail.subject,
        reason=reason,
        inbound_id=row.id,
    )
    return Disposition("triage", f"forged staff sender ({reason}); refused, admins told")


def _unmatched_staff(
    session: Session, app: App, row: InboundMessage, mail: InboundMail
) -> Disposition | None:
    """SPEC §6: a staff mail that matched no case may open one or be a command."""
    if is_opening(mail.subject):
        return escalation_mail.open_from_mail(session, app, row, mail)
    parsed = parse_command(new_text(mail.text, mail.html))
    if not isinstance(parsed, Command):
        return None
    staff = Directory(app.config).is_staff(mail.sender_email)
    if parsed.verb is Verb.STATUS and parsed.case_ref:
        if not staff:
            return escalation_mail.refuse_unknown_sender(
                session, app, row, mail, action="ask for a status"
            )
        return replies.send_status_of(
            session, app, row, mail, parsed.case_ref, replies.staff_language(app, parsed)
        )
    if staff:
        return _command_without_case(session, app, row, mail, parsed)
    return None


def _command_without_case(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, command: Command
) -> Disposition:
    """SPEC §4: every command is answered. One with no case to act on is told how to
    name the case, and nothing changes. The mail still goes to triage: the first word
    of an ordinary mail can read as a command ("Help, de printer…")."""
    word = command.word or command.verb.value
    replies.reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        template="command_without_case",
        language=replies.staff_language(app, command),
        context={"verb": word, "folder": app.folders.triage},
    )
    return Disposition("triage", f"{word} without a case; asked the sender which case")
