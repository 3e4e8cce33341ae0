"""Mail about escalations: opening requests, commands, supplier replies, bounces.

Every path answers the person who acted (a confirmation or a clear error),
except where answering would be wrong: mail from outside the organisation is
never read as a command and never answered automatically (SPEC §4), and
automated mail is never answered at all.
"""

from __future__ import annotations

import logging
from email.utils import getaddresses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain import ladder
from mailbot.domain.classify import Classification, MailClass, failed_recipients
from mailbot.domain.commands import Command, CommandError, NearMiss, Verb, parse_command
from mailbot.domain.message import InboundMail
from mailbot.domain.replytext import new_text
from mailbot.domain.requests import RequestProblem, parse_request
from mailbot.service import cases, compliments, escalations
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.ingest import Disposition
from mailbot.service.matching import Match, quoted_message_ids, returned_originals
from mailbot.service.outbox import notify_admins
from mailbot.service.replies import (
    answer_unclear_command,
    refuse_command,
    reply_to_sender,
    send_help,
    send_status_of,
    staff_language,
)
from mailbot.store.tables import Case, InboundMessage, OutboundMessage, Participant

log = logging.getLogger(__name__)

EVENTS: dict[Verb, Any] = {
    Verb.RESOLVED: lambda c: ladder.Resolve(),
    Verb.ACCEPT: lambda c: ladder.Verdict(accepted=True),
    Verb.REJECT: lambda c: ladder.Verdict(accepted=False),
    Verb.PAUSE: lambda c: ladder.Pause(days=c.days),
    Verb.RESUME: lambda c: ladder.Resume(),
    Verb.EXTEND: lambda c: ladder.Extend(days=c.days or 0),
    Verb.ESCALATE: lambda c: ladder.EscalateNow(),
    Verb.SEND: lambda c: ladder.Approve(),
    Verb.WITHDRAW: lambda c: ladder.Withdraw(),
    Verb.TERMINATED: lambda c: ladder.OutcomeReported("terminated", c.text or c.argument),
    Verb.CONTINUED: lambda c: ladder.OutcomeReported("continued", c.text or c.argument),
}
READ_ONLY = (Verb.STATUS, Verb.HELP)


# -- opening a case --------------------------------------------------------------------


def open_from_mail(
    session: Session, app: App, row: InboundMessage, mail: InboundMail
) -> Disposition:
    directory = Directory(app.config)
    sender = mail.sender_email or ""
    if not directory.is_staff(sender):
        return refuse_unknown_sender(session, app, row, mail, action="open an escalation")
    body = new_text(mail.text, mail.html)
    request = parse_request(mail.subject, body)
    known = [{"id": s.id, "name": s.name} for s in app.config.suppliers]
    if isinstance(request, RequestProblem):
        reply_to_sender(
            session,
            app,
            row=row,
            mail=mail,
            template="esc_open_refused",
            context={
                "problem": request.code,
                "value": request.value,
                "supplier_given": request.supplier,
                "suppliers": known,
            },
        )
        return Disposition("processed", f"escalation not opened: {request.code}")
    supplier = directory.supplier(request.supplier)
    if supplier is None:
        reply_to_sender(
            session,
            app,
            row=row,
            mail=mail,
            template="esc_open_refused",
            context={
                "problem": "unknown_supplier",
                "value": request.supplier,
                "supplier_given": request.supplier,
                "suppliers": known,
            },
        )
        return Disposition(
            "processed", f"escalation not opened: unknown supplier {request.supplier!r}"
        )
    case, _decision = escalations.open_case(
        session, app, request=request, supplier=supplier, owner=sender, inbound_id=row.id
    )
    first = request.start_step
    to, cc = ladder.step_recipients(first, escalations.parties_of(app, case, supplier))
    escalations.notify(
        session,
        app,
        case,
        "opened",
        dedup=f"escalation:{case.ref}:opened",
        extra={
            "first_step": first,
            "first_to": list(to),
            "first_cc": list(cc),
            "first_policy": escalations.profile_for(app, supplier).policy(first).value,
        },
        in_reply_to=mail.message_id,
    )
    return Disposition("processed", f"opened {case.ref}", case_id=case.id)


def refuse_unknown_sender(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    *,
    action: str,
    case: Case | None = None,
) -> Disposition:
    """SPEC §4/§12: organisation people outside the directory hear why; outsiders never do.

    A command on a case is refused under that case's tag and header, like every mail
    about a case (SPEC §3), and the refused mail stays on the case's record."""
    directory = Directory(app.config)
    sender = mail.sender_email or "(no sender)"
    inside = directory.is_organisation(sender)
    if inside:
        reply_to_sender(
            session,
            app,
            row=row,
            mail=mail,
            case=case,
            template="not_in_directory",
            context={"action": action},
        )
    notify_admins(
        session,
        app,
        dedup_key=f"refused-sender:{row.id}",
        template="admin_refused_sender",
        sender=sender,
        subject=mail.subject,
        action=action,
        inside=inside,
        inbound_id=row.id,
    )
    if inside:
        return Disposition(
            "processed",
            f"{sender} is not in the directory; told, admins told",
            case_id=case.id if case is not None else None,
        )
    return Disposition("triage", "an outsider tried to act; no reply, admins told")


# -- mail on an existing case ------------------------------------------------------------


def case_mail(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    match: Match,
    classification: Classification,
) -> Disposition:
    case = match.case
    directory = Directory(app.config)
    sender = mail.sender_email or ""
    if directory.is_organisation(sender) or directory.is_staff(sender):
        return _staff_on_case(session, app, row, mail, case)
    if match.tentative:
        return _tentative(session, app, row, mail, case, match)
    return _supplier_reply(session, app, row, mail, case, match, classification)


def _staff_on_case(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case
) -> Disposition:
    """Staff on a case: commands from who may give them, notes from everyone.

    The first word of a mail is its command (SPEC §12), so a colleague's note often
    opens with one ("Akkoord met Anna, …", "Status update: …"). Someone who may not
    steer the case hears that it was not carried out (or gets the status asked
    for), and the mail still reaches the owner as the note it also is; they are
    not asked what they meant by a near miss ("Piet belde net")."""
    directory = Directory(app.config)
    sender = mail.sender_email or ""
    parsed = parse_command(new_text(mail.text, mail.html))
    allowed = directory.is_staff(sender) and may_command(app, case, sender)
    if isinstance(parsed, Command):
        if directory.is_staff(sender):
            done = run_command(session, app, row, mail, case, parsed)
        else:
            done = refuse_unknown_sender(
                session, app, row, mail, action="give a command", case=case
            )
        # a bare word was meant as a command; one that opens a sentence also is a note
        if sender == case.owner or not parsed.remark or (allowed and parsed.verb not in READ_ONLY):
            return done
    elif isinstance(parsed, NearMiss | CommandError) and allowed:
        return answer_unclear_command(session, app, row, mail, case, parsed)
    # a note; colleagues' notes are passed on to the owner
    cases.record(
        session, case, app.clock.now(), "note", sender, f"note: {mail.subject}", inbound_id=row.id
    )
    if sender != case.owner:
        forward_to_owner(session, app, row, mail, case, kind="colleague")
    return Disposition("processed", f"{case.ref}: note from {sender}", case_id=case.id)


def may_command(app: App, case: Case, sender: str) -> bool:
    """Owner, owner's manager, our directors and admins (SPEC §8)."""
    directory = Directory(app.config)
    return (
        sender == case.owner
        or sender == directory.manager_of(case.owner or "")
        or directory.is_director(sender)
        or directory.is_admin(sender)
    )


def run_command(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case, command: Command
) -> Disposition:
    sender = mail.sender_email or ""
    language = staff_language(app, command)
    if command.verb is Verb.HELP:
        return send_help(session, app, row, mail, case, language)
    if command.verb is Verb.STATUS:  # `STATUS <ref>` asks about that case, not this one
        return send_status_of(session, app, row, mail, command.case_ref or case.ref, language)
    if not may_command(app, case, sender):
        return refuse_command(session, app, row, mail, case, command, language, "not_allowed")
    if command.verb in (Verb.LINK, Verb.UNLINK):
        return _link(session, app, row, mail, case, command, language)
    if command.verb is Verb.HANDOVER:
        return handover(session, app, row, mail, case, command, language)
    factory = EVENTS.get(command.verb)
    if factory is None:
        return refuse_command(session, app, row, mail, case, command, language, "wrong_case_kind")
    try:
        decision = escalations.apply(
            session, app, case, factory(command), actor=sender, inbound_id=row.id
        )
    except ladder.Refused as refused:
        return refuse_command(
            session, app, row, mail, case, command, language, refused.reason, **refused.details
        )
    cc = [case.owner] if case.owner and case.owner != sender else []
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template="esc_command_done",
        language=language,
        cc=cc,
        context={
            **escalations.context(app, case, decision.state, language=language),
            "verb": command.verb.value,
            "days": command.days,
            "actor": sender,
            "actor_name": Directory(app.config).name_of(sender),
        },
    )
    return Disposition("processed", f"{case.ref}: {command.verb} by {sender}", case_id=case.id)


def handover(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    command: Command,
    language: str,
) -> Disposition:
    """OVERDRAGEN <email>: another staff member owns the case from now on."""
    new_owner = (command.email or "").lower()
    directory = Directory(app.config)
    sender = mail.sender_email or ""
    if not directory.is_staff(new_owner):
        return refuse_command(
            session,
            app,
            row,
            mail,
            case,
            command,
            language,
            "new_owner_not_staff",
            new_owner=new_owner,
        )
    change_owner(session, app, case, new_owner, actor=sender, inbound_id=row.id)
    return Disposition("processed", f"{case.ref}: handed over to {new_owner}", case_id=case.id)


def change_owner(
    session: Session, app: App, case: Case, new_owner: str, *, actor: str, inbound_id: int | None
) -> None:
    """The new owner is told; the old owner and a staff member who handed the case over
    on the owner's behalf (the manager) get a copy, which is their confirmation (SPEC §12).
    An admin at the command line is no mail recipient."""
    directory = Directory(app.config)
    old_owner = case.owner or ""
    case.owner = new_owner
    for participant in case.participants:
        if participant.role == "owner":
            participant.email = new_owner
            participant.name = directory.name_of(new_owner)
    if not any(p.role == "owner" for p in case.participants):
        session.add(Participant(case_id=case.id, email=new_owner, role="owner"))
    now = app.clock.now()
    cases.record(
        session,
        case,
        now,
        "handover",
        actor,
        f"handed over from {old_owner} to {new_owner}",
        inbound_id=inbound_id,
    )
    number = f"{case.ref}:handover:{inbound_id or now.isoformat()}"
    template = "handover"
    cc = [old_owner] if old_owner and old_owner != new_owner else []
    if directory.is_staff(actor) and actor not in (new_owner, *cc):
        cc.append(actor)
    ctx: dict[str, Any] = {
        "ref": case.ref,
        "title": case.title,
        "old_owner": old_owner,
        "new_owner": new_owner,
        "actor": actor,
        "old_owner_name": directory.name_of(old_owner),
        "new_owner_name": directory.name_of(new_owner),
        "copied": [directory.name_of(email) for email in cc],
    }
    cases.send_rendered(
        session,
        app,
        case=case,
        template=template,
        language=app.config.mailbot.language,
        to=[new_owner],
        cc=cc,
        dedup_key=number,
        purpose="notice",
        context=ctx,
    )


# -- supplier side -----------------------------------------------------------------------------


def _supplier_reply(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    match: Match,
    classification: Classification,
) -> Disposition:
    sender = mail.sender_email or ""
    if case.kind == "escalation" and case.closed_at is None:
        escalations.apply(
            session, app, case, ladder.SupplierReplied(row.id), actor=sender, inbound_id=row.id
        )
        forward_to_owner(session, app, row, mail, case, kind="supplier")
    else:
        cases.record(
            session,
            case,
            app.clock.now(),
            "mail-in",
            sender,
            f"mail from {sender} after the case closed",
            inbound_id=row.id,
        )
        forward_to_owner(session, app, row, mail, case, kind="after_close")
    return Disposition(
        "processed",
        f"{case.ref}: reply from {sender} ({match.how})",
        classification.kind.value,
        case.id,
    )


def _tentative(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case, match: Match
) -> Disposition:
    """Rule 5: probably about the supplier's only open case; the owner decides (KOPPEL/NIET)."""
    sender = mail.sender_email or ""
    data = dict(case.data)
    data["tentative"] = [*data.get("tentative", []), row.id]
    case.data = data
    cases.record(
        session,
        case,
        app.clock.now(),
        "tentative",
        sender,
        f"possibly about this case: {mail.subject}",
        inbound_id=row.id,
    )
    forward_to_owner(session, app, row, mail, case, kind="tentative")
    return Disposition(
        "processed", f"{case.ref}: tentatively attached (owner asked)", case_id=case.id
    )


def _link(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    command: Command,
    language: str,
) -> Disposition:
    """KOPPEL / NIET on a tentative match; confirmed to the sender, with a copy to the
    owner when someone else (the owner's manager) decided (SPEC §12)."""
    data = dict(case.data)
    waiting: list[int] = list(data.get("tentative", []))
    if not waiting:
        return refuse_command(session, app, row, mail, case, command, language, "nothing_tentative")
    data["tentative"] = []
    case.data = data
    sender = mail.sender_email or ""
    for inbound_id in waiting:
        original = session.get(InboundMessage, inbound_id)
        if original is None:
            continue
        if command.verb is Verb.LINK:
            escalations.apply(
                session,
                app,
                case,
                ladder.SupplierReplied(inbound_id),
                actor=sender,
                inbound_id=inbound_id,
            )
        else:
            original.case_id = None
            original.outcome = f"unlinked from {case.ref} by {sender}"
            if original.destination != "triage":
                original.destination = "triage"
                original.status = "done"  # moved on from Verwerkt to Te beoordelen
            original.triage_reported_at = None  # the admins hear of it with the next notice
            cases.record(
                session,
                case,
                app.clock.now(),
                "unlinked",
                sender,
                f"mail #{inbound_id} is not about this case",
                inbound_id=inbound_id,
            )
    owner = case.owner or ""
    cc = [owner] if owner and owner != sender else []
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template="esc_link_done",
        language=language,
        cc=cc,
        context={
            "linked": command.verb is Verb.LINK,
            "count": len(waiting),
            "ref": case.ref,
            "owner_copied": bool(cc),
            "owner_name": Directory(app.config).name_of(owner),
        },
    )
    return Disposition("processed", f"{case.ref}: {command.verb} by {sender}", case_id=case.id)


def forward_to_owner(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    *,
    kind: str,
    text: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """SPEC §6: what the owner did not write is passed on with its text and attachments
    (`cases.passed_on`)."""
    original, attachments = cases.passed_on(mail, row.id, text)
    outsider = not Directory(app.config).is_organisation(mail.sender_email)
    state = escalations.state_of(case) if case.kind == "escalation" else None
    ctx: dict[str, Any] = (
        escalations.context(app, case, state) if state else {"ref": case.ref, "title": case.title}
    )
    ctx.update(
        {
            "kind": kind,
            "from": {"email": mail.sender_email, "name": mail.from_.name if mail.from_ else ""},
            **original,
            "outsider": outsider,
            **(extra or {}),
        }
    )
    cases.send_rendered(
        session,
        app,
        case=case,
        template="esc_forward",
        language=app.config.mailbot.language,
        to=[case.owner or ""],
        dedup_key=f"forward:{row.id}:{case.id}",
        purpose="forward",
        context=ctx,
        attachments=attachments,
    )


# -- automated mail ------------------------------------------------------------------------------


def automated_mail(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    classification: Classification,
    match: Match,
) -> Disposition:
    """Recorded on the case, never answered. Bounces alert the owner at once; an
    out-of-office of a step mail's recipient reaches the owner once per absence."""
    case = match.case
    now = app.clock.now()
    sender = mail.sender_email or "(no sender)"
    if classification.kind is MailClass.BOUNCE:
        permanent, temporary = failed_recipients(row.raw or b"")
        failed = tuple(permanent or temporary)
        step = _bounced_step(session, case, mail)
        cases.record(
            session,
            case,
            now,
            "bounce",
            sender,
            f"delivery failed for {', '.join(failed) or 'unknown recipients'}",
            inbound_id=row.id,
            data={"permanent": permanent, "temporary": temporary},
        )
        internal = _failed_inside(app, mail, failed)
        if internal:
            # a mail to one of our own people bounced (an owner's or coordinator's alert,
            # a notice): alerting them again would bounce again, for ever. The admins
            # hear of each address once.
            for address in internal:
                notify_admins(
                    session,
                    app,
                    dedup_key=f"internal-bounce:{address}",
                    template="admin_internal_bounce",
                    address=address,
                    ref=case.ref,
                    subject=mail.subject,
                    inbound_id=row.id,
                )
            return Disposition(
                "processed",
                f"{case.ref}: bounce of a mail to our own {', '.join(internal)} recorded",
                classification.kind.value,
                case.id,
            )
        if case.kind == "escalation":
            escalations.apply(
                session,
                app,
                case,
                ladder.Bounced(step, failed, mail.subject),
                actor=sender,
                inbound_id=row.id,
            )
        else:
            compliments.bounced(
                session,
                app,
                case,
                failed=failed,
                bounce_subject=mail.subject,
                quoted=quoted_message_ids(mail, row.raw or b""),
                inbound_id=row.id,
            )
        return Disposition(
            "processed",
            f"{case.ref}: bounce recorded, owner alerted",
            classification.kind.value,
            case.id,
        )
    cases.record(
        session,
        case,
        now,
        "auto-reply",
        sender,
        f"automatic reply: {mail.subject}",
        inbound_id=row.id,
    )
    if classification.out_of_office and case.kind == "escalation":
        absence = f"oof:{case.id}:{sender}:{case.step}"
        already = session.scalar(
            select(OutboundMessage.id).where(OutboundMessage.dedup_key == absence)
        )
        if already is None:
            escalations.notify(
                session,
                app,
                case,
                "oof_notice",
                dedup=absence,
                extra={"away": sender, "away_text": new_text(mail.text, mail.html)[:2000]},
            )
    return Disposition(
        "processed", f"{case.ref}: automatic reply recorded", classification.kind.value, case.id
    )


def _failed_inside(app: App, mail: InboundMail, failed: tuple[str, ...]) -> list[str]:
    """The addresses of our own organisation a bounce is about, when it is about nobody
    else: the failed recipients it names, or else the returned original's recipients."""
    addresses = [a.lower() for a in failed]
    if not addresses:
        for original in returned_originals(mail):
            for field in ("To", "Cc"):
                addresses += [a.lower() for _, a in getaddresses([str(original.get(field, ""))])]
    addresses = [a for a in dict.fromkeys(addresses) if a]
    if addresses and all(app.config.is_organisation_address(a) for a in addresses):
        return addresses
    return []


def _bounced_step(session: Session, case: Case, mail: InboundMail) -> int | None:
    """Which step mail bounced, from our Message-ID quoted in the bounce."""
    ids = quoted_message_ids(mail, b"")
    if not ids:
        return None
    rows = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.message_id.in_(ids), OutboundMessage.case_id == case.id
        )
    )
    for out in rows:
        if out.purpose == "step" and ":step-" in out.dedup_key:
            return int(out.dedup_key.rsplit("step-", 1)[1].split("-")[0])
    return None


def ticket_update(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    classification: Classification,
    case: Case,
) -> Disposition:
    """SPEC §12: what a supplier's ticket system writes about a case reaches the owner and
    is never answered. It is passed on for information and does not count as the
    supplier's reply: an automated update cannot be told from an automatic receipt
    ("we received your mail"), and a reply waiting for a verdict would hold the next step.
    The owner can still accept it as proof with AKKOORD."""
    sender = mail.sender_email or "(no sender)"
    cases.record(
        session,
        case,
        app.clock.now(),
        "auto-reply",
        sender,
        f"ticket system: {mail.subject}",
        inbound_id=row.id,
    )
    if not escalations.state_of(case).phase.closed:
        forward_to_owner(session, app, row, mail, case, kind="ticket")
    return Disposition(
        "processed",
        f"{case.ref}: ticket system's update passed on to the owner",
        classification.kind.value,
        case.id,
    )
