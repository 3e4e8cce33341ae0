"""Mail about compliments: intake, the coordinator's and provider's commands, reactions.

Intake: everything in the `complimenten` folder, and Inbox mail whose subject
starts with "Compliment". When staff forwarded it, the maker is the original
sender from the forwarded header block (Outlook, Gmail, Apple Mail, in Dutch
or English); otherwise the sender. External makers are thanked once, unless
the mail's DMARC failed (thanking a forged sender would be backscatter).

Commands are accepted only from the role that may give them: ONTVANGER/GEVER
and SLUITEN from a coordinator, GEGEVEN and the CAP words from the provider;
admins may do everything. A receiver's reply without a command is their
reaction.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from mailbot.domain import authresults, compliments
from mailbot.domain.commands import Command, CommandError, NearMiss, Verb, parse_command
from mailbot.domain.compliments import Stage
from mailbot.domain.forwarded import find_forwarded
from mailbot.domain.message import InboundMail
from mailbot.domain.replytext import html_to_text, new_text
from mailbot.domain.subjects import strip_prefixes
from mailbot.domain.suggest import Person, suggest
from mailbot.service import cases, supplier_praise
from mailbot.service import compliments as service
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.escalation_mail import READ_ONLY, refuse_unknown_sender
from mailbot.service.ingest import Disposition
from mailbot.service.replies import (
    answer_unclear_command,
    refuse_command,
    reply_to_sender,
    send_help,
    send_status_of,
    staff_language,
)
from mailbot.store.tables import Case, InboundMessage

COORDINATOR_VERBS = {Verb.RECEIVER, Verb.PROVIDER, Verb.CLOSE}
PROVIDER_VERBS = {Verb.GIVEN, Verb.CAP, Verb.NO_CAP, Verb.DONE}


def is_compliment(app: App, row: InboundMessage, mail: InboundMail) -> bool:
    if row.folder == app.folders.compliments:
        return True
    text, _, _ = strip_prefixes(mail.subject)
    return text.lower().startswith(("compliment", "complimenten"))


def intake(session: Session, app: App, row: InboundMessage, mail: InboundMail) -> Disposition:
    directory = Directory(app.config)
    sender = mail.sender_email
    body = mail.text if mail.text.strip() else html_to_text(mail.html or "")
    forwarded = find_forwarded(mail.text, mail.html) if directory.is_organisation(sender) else None
    if forwarded is not None and (forwarded.sender_email or forwarded.sender_name):
        maker_email = forwarded.sender_email.lower() or None
        maker_name = forwarded.sender_name
        text = forwarded.body.strip() or body
        subject = forwarded.subject or mail.subject
        forwarded_by = sender
        note = new_text(mail.text, mail.html).strip()
    else:
        maker_email = sender
        maker_name = mail.from_.name if mail.from_ else ""
        text = body.strip()
        subject = mail.subject
        forwarded_by = None
        note = ""
    subject = strip_prefixes(subject)[0]
    maker_external = bool(maker_email) and not directory.is_organisation(maker_email)
    forged = authresults.check(mail, app.config.mailbot.trusted_authserv_id)
    thank = (
        bool(maker_email)
        and not (forged.forged and forwarded_by is None)
        and (
            (maker_external and app.config.compliments.thank_makers)
            or (not maker_external and app.config.compliments.thank_staff_makers)
        )
    )
    people = [Person(p.email, p.name, p.team) for p in app.config.people]
    exclude = [maker_email] if maker_email else []  # the forwarder may well be the receiver
    suggestions = [asdict(s) for s in suggest(text, people, exclude=exclude)[:5]]
    links = supplier_praise.links_for(session, app, subject, text)
    case, _ = service.register(
        session,
        app,
        maker_email=maker_email,
        maker_name=maker_name,
        maker_external=maker_external,
        text=text,
        subject=subject,
        forwarded_by=forwarded_by,
        suggestions=suggestions,
        thank=thank,
        inbound_id=row.id,
        supplier_links=[asdict(link) for link in links],
    )
    if links:
        data = dict(case.data)
        data["suppliers"] = supplier_praise.offer_as_proof(
            session, app, row, mail, case, links, text
        )
        case.data = data
    if forged.forged:
        cases.record(
            session,
            case,
            app.clock.now(),
            "note",
            "mailbot",
            f"sender authentication failed ({forged.reason}); maker not thanked",
        )
    if note:
        cases.record(
            session, case, app.clock.now(), "note", forwarded_by or "", f"note: {note[:500]}"
        )
    return Disposition("processed", f"compliment registered as {case.ref}", case_id=case.id)


# -- mail on a compliment case ------------------------------------------------------------


def case_mail(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case
) -> Disposition:
    directory = Directory(app.config)
    sender = mail.sender_email or ""
    parsed = parse_command(new_text(mail.text, mail.html))
    state = service.state_of(case)
    coordinators = service.coordinators(app)
    # a coordinator may be a team mailbox outside the directory: still staff here, and
    # never sent their own mail back
    staff = directory.is_staff(sender) or sender in coordinators
    if not staff and directory.supplier_of(sender) is not None:
        handled = _supplier_side(session, app, row, mail, case, parsed)
        if handled is not None:
            return handled
    if not staff and directory.is_organisation(sender):
        # one of ours outside the directory: ONTVANGER accepts any address of ours, so a
        # receiver's reply is their reaction; a command is refused and explained (SPEC §12)
        if sender in state.receivers and state.stage is Stage.GIVEN:
            return _reaction(session, app, row, mail, case)
        if parsed is not None:
            return refuse_unknown_sender(
                session, app, row, mail, action="give a command", case=case
            )
    if not staff:
        # the maker, a supplier's person or an outsider writing back: never a command and
        # never answered; the coordinator reads it (SPEC §6)
        cases.record(
            session,
            case,
            app.clock.now(),
            "note",
            sender,
            f"mail from {sender}: {mail.subject}",
            inbound_id=row.id,
        )
        forward_to_coordinators(session, app, row, mail, case)
        return Disposition(
            "processed", f"{case.ref}: mail from {sender} passed on", case_id=case.id
        )
    # a receiver's reply is their reaction, also when it opens with a word that is a
    # command ("Help, wat een verrassing!"), unless it is one they may give here
    commands_here = isinstance(parsed, Command) and may(app, case, sender, parsed.verb)
    if sender in state.receivers and state.stage is Stage.GIVEN and not commands_here:
        return _reaction(session, app, row, mail, case)
    # as on an escalation (escalation_mail._staff_on_case): a colleague who may not give
    # the command hears so, and a sentence that opens with it still reaches the coordinator
    steers = sender in coordinators or directory.is_admin(sender) or sender == state.provider
    if isinstance(parsed, Command):
        done = run_command(session, app, row, mail, case, parsed)
        if (
            sender in coordinators
            or not parsed.remark
            or (commands_here and parsed.verb not in READ_ONLY)
        ):
            return done
    elif isinstance(parsed, NearMiss | CommandError) and steers:
        return answer_unclear_command(session, app, row, mail, case, parsed)
    cases.record(
        session, case, app.clock.now(), "note", sender, f"note: {mail.subject}", inbound_id=row.id
    )
    if sender not in coordinators:
        forward_to_coordinators(session, app, row, mail, case)
    return Disposition("processed", f"{case.ref}: note from {sender}", case_id=case.id)


def _supplier_side(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    parsed: Command | NearMiss | CommandError | None,
) -> Disposition | None:
    """SPEC §4's one exception: on praise for a supplier's people, the named supplier-side
    provider may answer GEGEVEN / CAP, and the named receiver's reply is the reaction.
    Never when the sender fails authentication; never with an automatic answer."""
    sender = mail.sender_email or ""
    state = service.state_of(case)
    if authresults.check(mail, app.config.mailbot.trusted_authserv_id).forged:
        cases.record(
            session,
            case,
            app.clock.now(),
            "refused",
            sender,
            "supplier-side mail failed authentication; ignored",
            inbound_id=row.id,
        )
        return Disposition("triage", f"{case.ref}: forged supplier-side sender", case_id=case.id)
    if (
        isinstance(parsed, Command)
        and parsed.verb in PROVIDER_VERBS
        and sender == state.provider
        and parsed.plain  # nobody confirms a command back across the boundary
    ):
        try:
            service.apply(
                session, app, case, _event(app, case, parsed), actor=sender, inbound_id=row.id
            )
        except compliments.Refused as refused:
            cases.record(
                session,
                case,
                app.clock.now(),
                "refused",
                sender,
                f"{parsed.verb} refused: {refused.reason}",
                inbound_id=row.id,
            )
        return Disposition("processed", f"{case.ref}: {parsed.verb} by {sender}", case_id=case.id)
    if sender in state.receivers and state.stage is Stage.GIVEN:
        return _reaction(session, app, row, mail, case)
    return None


def _reaction(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case
) -> Disposition:
    """A receiver's reply to the given compliment: what they wrote goes back to the maker."""
    sender = mail.sender_email or ""
    reaction = new_text(mail.text, mail.html).strip() or mail.text.strip()
    service.apply(
        session, app, case, compliments.Reacted(sender, reaction), actor=sender, inbound_id=row.id
    )
    return Disposition("processed", f"{case.ref}: reaction of {sender}", case_id=case.id)


def forward_to_coordinators(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case
) -> None:
    """SPEC §6: for a compliment the owner is the coordinator; what the coordinator did not
    write (the maker's afterthought, a supplier's question, a colleague's note) reaches
    them under the case's tag with its text and attachments, the compliment's counterpart
    of `escalation_mail.forward_to_owner`. Who wrote decides the wording: staff are
    colleagues, anyone else was not answered."""
    directory = Directory(app.config)
    sender = mail.sender_email or ""
    original, attachments = cases.passed_on(mail, row.id)
    supplier = None if directory.is_organisation(sender) else directory.supplier_of(sender)
    person = directory.person(sender)  # a colleague is named as the directory knows them
    name = (mail.from_.name if mail.from_ else "") or (person.name if person else "")
    if directory.is_organisation(sender) or directory.is_staff(sender):
        kind = "colleague"
    elif sender == case.data.get("maker", {}).get("email"):
        kind = "maker"
    elif supplier is not None:
        kind = "supplier"
    else:
        kind = "outsider"
    ctx = service.context(app, case)
    ctx.update(
        {
            "kind": kind,
            "supplier": {"id": supplier.id, "name": supplier.name} if supplier else None,
            "from": {"email": sender, "name": name},
            **original,
        }
    )
    cases.send_rendered(
        session,
        app,
        case=case,
        template="cmp_forward",
        language=app.config.mailbot.language,
        to=service.coordinators(app),
        dedup_key=f"compliment:{case.ref}:forward:{row.id}",
        purpose="forward",
        context=ctx,
        attachments=attachments,
    )


def may(app: App, case: Case, sender: str, verb: Verb) -> bool:
    directory = Directory(app.config)
    if directory.is_admin(sender):
        return True
    if verb in COORDINATOR_VERBS:
        return sender in service.coordinators(app)
    if verb in PROVIDER_VERBS:
        return sender == service.state_of(case).provider
    return False


def run_command(
    session: Session, app: App, row: InboundMessage, mail: InboundMail, case: Case, command: Command
) -> Disposition:
    sender = mail.sender_email or ""
    language = staff_language(app, command)
    if command.verb is Verb.STATUS:
        return send_status_of(session, app, row, mail, command.case_ref or case.ref, language)
    if command.verb is Verb.HELP:
        return send_help(session, app, row, mail, case, language)
    if command.verb not in COORDINATOR_VERBS | PROVIDER_VERBS:
        return _refuse(session, app, row, mail, case, command, language, "wrong_case_kind")
    if not may(app, case, sender, command.verb):
        return _refuse(session, app, row, mail, case, command, language, "not_allowed_compliment")
    if command.verb is Verb.PROVIDER and not command.provider:
        reply_to_sender(
            session,
            app,
            row=row,
            mail=mail,
            case=case,
            template="command_error",
            language=language,
            context={
                "verb": command.verb.value,
                "ref": case.ref,
                "message_nl": "zet het e-mailadres van de gever achter GEVER:",
                "message_en": "put the provider's email address after PROVIDER:",
            },
        )
        return Disposition("processed", f"{case.ref}: GEVER without an address", case_id=case.id)
    if command.provider and not may_provide(app, command.provider.lower()):
        return _refuse(
            session,
            app,
            row,
            mail,
            case,
            command,
            language,
            "provider_not_staff",
            new_provider=command.provider,
        )
    try:
        event = _event(app, case, command)
    except LookupError as missing:
        reply_to_sender(
            session,
            app,
            row=row,
            mail=mail,
            case=case,
            template="cmp_unknown_receiver",
            language=language,
            context={"ref": case.ref, "unknown": list(missing.args)},
        )
        return Disposition("processed", f"{case.ref}: unknown receiver", case_id=case.id)
    try:
        decision = service.apply(session, app, case, event, actor=sender, inbound_id=row.id)
    except compliments.Refused as refused:
        return _refuse(session, app, row, mail, case, command, language, refused.reason)
    # SPEC §12: confirmed to the sender, and to the coordinator when someone else acted
    coordinators = service.coordinators(app)
    cc = [] if sender in coordinators else coordinators
    reply_to_sender(
        session,
        app,
        row=row,
        mail=mail,
        case=case,
        template="cmp_command_done",
        language=language,
        cc=cc,
        context={
            **service.context(app, case, decision.state),
            "verb": command.verb.value,
            "coordinator_copy": bool(cc),
        },
    )
    return Disposition("processed", f"{case.ref}: {command.verb} by {sender}", case_id=case.id)


def _refuse(
    session: Session,
    app: App,
    row: InboundMessage,
    mail: InboundMail,
    case: Case,
    command: Command,
    language: str,
    reason: str,
    **context: Any,
) -> Disposition:
    state = service.state_of(case)
    return refuse_command(
        session,
        app,
        row,
        mail,
        case,
        command,
        language,
        reason,
        stage=state.stage.value,
        provider=state.provider or "",
        coordinators=service.coordinators(app),
        **context,
    )


def _event(app: App, case: Case, command: Command) -> compliments.Event:
    verb = command.verb
    state = service.state_of(case)
    if verb is Verb.RECEIVER:
        receivers = resolve_receivers(app, command.receivers)
        kept = _kept_provider(app, state)
        provider = command.provider or kept or default_provider(app, receivers)
        return compliments.Assign(receivers=tuple(receivers), provider=provider)
    if verb is Verb.PROVIDER:
        return compliments.Assign(receivers=state.receivers, provider=command.provider or "")
    if verb is Verb.GIVEN:
        return compliments.Given(record=command.record)
    if verb is Verb.CAP:
        return compliments.CapSubmitted(command.text or command.argument, command.due)
    if verb is Verb.NO_CAP:
        return compliments.NoCap()
    if verb is Verb.DONE:
        return compliments.CapDone()
    return compliments.Close()


def _kept_provider(app: App, state: compliments.Compliment) -> str | None:
    """When the coordinator corrects the receivers, a provider named with GEVER stays;
    one mailbot chose (the old receivers' manager) is chosen again for the new ones."""
    if not state.provider or not state.receivers:
        return state.provider
    if state.provider == default_provider(app, list(state.receivers)):
        return None
    return state.provider


def may_provide(app: App, email: str) -> bool:
    """A provider must be able to answer GEGEVEN: someone in the directory (SPEC §12:
    command givers are), or a supplier's person on praise across the boundary."""
    directory = Directory(app.config)
    if directory.is_staff(email):
        return True
    return not directory.is_organisation(email) and directory.supplier_of(email) is not None


def resolve_receivers(app: App, wanted: tuple[str, ...]) -> list[str]:
    """Emails, names or team names from the directory; unknown ones raise LookupError."""
    people = app.config.people
    directory = Directory(app.config)
    found: list[str] = []
    unknown: list[str] = []
    for item in wanted:
        key = item.strip().lower()
        if not key:
            continue
        by_email = [p.email for p in people if p.email == key]
        by_name = [p.email for p in people if p.name.lower() == key]
        by_team = [p.email for p in people if p.team and p.team.lower() == key]
        match = by_email or by_name or by_team
        supplier = directory.supplier(key)
        if match:
            found.extend(match)
        elif "@" in key and (app.config.is_organisation_address(key) or directory.supplier_of(key)):
            found.append(key)  # one of ours, or a supplier's person: praise across the boundary
        elif supplier is not None:
            found.append(supplier.counterpart)  # the supplier itself: its service manager
        else:
            unknown.append(item.strip())
    if unknown or not found:
        raise LookupError(*(unknown or list(wanted)))
    return list(dict.fromkeys(found))


def default_provider(app: App, receivers: list[str]) -> str:
    """The receivers' manager (the one most of them share); the coordinator when none.

    Across the boundary (SPEC §5): the supplier's counterpart gives it, or the
    counterpart's manager when the counterpart is the one praised.
    """
    directory = Directory(app.config)
    supplier = directory.supplier_of(receivers[0]) if receivers else None
    if supplier is not None and not directory.is_organisation(receivers[0]):
        if supplier.counterpart in receivers:
            return supplier.counterpart_manager or supplier.counterpart
        return supplier.counterpart
    managers = [m for m in (directory.manager_of(r) for r in receivers) if m]
    if managers:
        return max(dict.fromkeys(managers), key=managers.count)
    return service.coordinators(app)[0]
