"""Answers to staff that both processes give: confirmations, errors, STATUS.

Every automatic answer threads under the mail it answers and goes out at most
once per inbound message (its dedup key names the message and the template).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain.commands import Command, CommandError, NearMiss
from mailbot.domain.message import InboundMail
from mailbot.service import cases, compliments, escalations
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.ingest import Disposition
from mailbot.store.tables import Case, InboundMessage, TimelineEvent


def staff_language(app: App, command: Command | None = None) -> str:
    """Answer in English when the sender used an English command word."""
    if command is not None and command.english:
        return "en"
    return app.config.mailbot.language


def reply_to_sender(
    session: Session,
    app: App,
    *,
    row: InboundMessage,
    mail: InboundMail,
    template: str,
    context: dict[str, Any],
    case: Case | None = None,
    language: str | None = None,
    cc: list[str] | None = None,
) -> None:
    """An automatic answer to a staff mail, threaded under it, at most once per mail."""
    sender = mail.sender_email or ""
    cases.send_rendered(
        session,
        app,
        case=case,
        template=template,
        language=language or app.config.mailbot.language,
        to=[sender],
        cc=cc or [],
        dedup_key=f"reply:{row.id}:{template}",
        purpose="reply",
        context={
            "sender": {"email": sender, "name": Directory(app.config).name_of(sender)},
            "subject": mail.subject,
            **context,
        },
        in_reply_to=mail.message_id,
    )


def send_status(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case, language: str
) -> Disposition:
    """STATUS: read-only, for any staff member (a manager replying to the digest)."""
    if case.kind == "escalation":
        ctx = escalations.context(app, case, language=language)
        template = "esc_status"
    else:
        ctx = compliments.context(app, case)
        template = "cmp_status"
    events = [
        {"at": e["at"], "summary": e["summary"], "actor": e["actor"]}
        for e in _timeline(session, case)[-10:]
    ]
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template=template,
        language=language,
        context={**ctx, "timeline": events, "state": case.state, "title": case.title},
    )
    return Disposition("processed", f"{case.ref}: status sent", case_id=case.id)


def send_status_of(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, ref: str, language: str
) -> Disposition:
    """STATUS <ref>: the case named, whatever mail or case the question came in on
    (SPEC §12: a manager replies to the digest or to another case's mail)."""
    case = session.scalar(select(Case).where(Case.ref == ref))
    if case is None:
        reply_to_sender(
            session,
            app,
            row=row,
            mail=mail,
            template="unknown_case",
            language=language,
            context={"ref": ref},
        )
        return Disposition("processed", f"status asked for unknown {ref}")
    return send_status(session, app, row, mail, case, language)


def send_help(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case, language: str
) -> Disposition:
    """HELP: the commands of this kind of case, in reply to the mail that asked."""
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template="esc_help" if case.kind == "escalation" else "cmp_help",
        language=language,
        context={"ref": case.ref},
    )
    return Disposition("processed", f"{case.ref}: help sent", case_id=case.id)


def _timeline(session: Session, case: Case) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(TimelineEvent).where(TimelineEvent.case_id == case.id).order_by(TimelineEvent.id)
    )
    return [{"at": e.at, "summary": e.summary, "actor": e.actor} for e in rows]


def answer_unclear_command(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    parsed: NearMiss | CommandError,
) -> Disposition:
    """A near miss ("AKOORD") asks what was meant; a command with arguments that could
    not be read says what was wrong. Both processes answer alike, and neither acts."""
    if isinstance(parsed, NearMiss):
        template = "near_miss"
        context: dict[str, Any] = {"word": parsed.word, "suggestion": parsed.suggestion.value}
        summary = f"unclear command {parsed.word!r}; asked whether {parsed.suggestion} was meant"
    else:
        template = "command_error"
        context = {
            "verb": parsed.verb.value,
            "message_nl": parsed.message_nl,
            "message_en": parsed.message_en,
        }
        summary = f"{parsed.verb} could not be understood; told the sender why"
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template=template,
        context={**context, "ref": case.ref},
    )
    cases.record(
        session, case, app.clock.now(), "note", mail.sender_email or "", summary, inbound_id=row.id
    )
    return Disposition("processed", f"{case.ref}: {summary}", case_id=case.id)


def refuse_command(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    command: Command,
    language: str,
    reason: str,
    **details: Any,
) -> Disposition:
    """Tell the sender why a command was not carried out, and put it on the timeline:
    a refusal is part of the case's story (who tried what, and why it did not apply)."""
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template="command_refused",
        language=language,
        context={
            "reason": reason,
            "verb": command.word or command.verb.value,
            "ref": case.ref,
            "owner": case.owner,
            **details,
        },
    )
    cases.record(
        session,
        case,
        app.clock.now(),
        "refused",
        mail.sender_email or "",
        f"{command.verb} refused: {reason.replace('_', ' ')}",
        inbound_id=row.id,
    )
    return Disposition(
        "processed", f"{case.ref}: {command.verb} refused ({reason})", case_id=case.id
    )
