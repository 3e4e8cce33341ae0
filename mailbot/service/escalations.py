"""Escalation cases: open them from a staff mail, feed them events, carry out the effects.

The ladder itself (`mailbot.domain.ladder`) decides; this module loads the
state from the case row, stores the new state, and turns effects into rows:
outbox mails (step letters, notices), deadlines and timeline lines, all in
the caller's transaction.

Step letters are the owner's letters: From the shared mailbox with the
owner's name ("Anna Jansen via Leveranciersmanagement"), signed by the owner,
without the automation headers (their out-of-office replies are wanted).
Their dedup key is per step (`escalation:ESC-2026-0007:step-2`), so a step is
sent at most once in a case's life; notices carry the decision number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailbot.config import Supplier
from mailbot.domain import ladder
from mailbot.domain.ladder import (
    STEP_NAMES_EN,
    STEP_NAMES_NL,
    CancelSchedules,
    Decision,
    Escalation,
    Event,
    Notify,
    Parties,
    Policy,
    Profile,
    Rules,
    Schedule,
    SendClosing,
    SendStep,
    SendWithdrawal,
    step_recipients,
)
from mailbot.domain.message import Address
from mailbot.domain.requests import EscalationRequest
from mailbot.domain.subjects import tagged
from mailbot.mail.compose import OutgoingMail
from mailbot.render import RenderedMail
from mailbot.service import cases
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.outbox import enqueue
from mailbot.service.threads import thread_index
from mailbot.store.tables import Case, Participant

log = logging.getLogger(__name__)

KIND = "escalation"


def profile_for(app: App, supplier: Supplier) -> Profile:
    configured = app.config.ladder_for(supplier)
    return Profile(
        deadlines=configured.deadlines,
        policies=tuple(Policy(p) for p in configured.policies),  # type: ignore[arg-type]
        reminder_before=configured.reminder_before,
    )


def rules_for(app: App, supplier: Supplier) -> Rules:
    return Rules(now=app.clock.now(), calendar=app.calendar, profile=profile_for(app, supplier))


def state_of(case: Case) -> Escalation:
    return ladder.from_data(case.data["escalation"])


def supplier_of(app: App, case: Case) -> Supplier:
    supplier = app.config.supplier(case.supplier_id or "")
    if supplier is None:
        raise LookupError(f"{case.ref}: supplier {case.supplier_id!r} is no longer in the config")
    return supplier


def parties_of(app: App, case: Case, supplier: Supplier) -> Parties:
    owner = case.owner or ""
    return Parties(
        owner=owner,
        owner_manager=Directory(app.config).manager_of(owner),
        counterpart=supplier.counterpart,
        counterpart_manager=supplier.counterpart_manager,
        our_directors=tuple(app.config.organisation.directors),
        their_directors=tuple(supplier.directors),
    )


def supplier_language(app: App, supplier: Supplier) -> str:
    return supplier.language or app.config.mailbot.language


# -- opening --------------------------------------------------------------------


def open_case(
    session: Session,
    app: App,
    *,
    request: EscalationRequest,
    supplier: Supplier,
    owner: str,
    inbound_id: int | None,
) -> tuple[Case, Decision]:
    """Create the case and carry out its first step."""
    now = app.clock.now()
    ref = cases.next_ref(session, KIND, now, app.calendar.tz)
    case = Case(
        ref=ref,
        kind=KIND,
        state="new",
        step=0,
        supplier_id=supplier.id,
        owner=owner,
        title=request.shortfall[:500],
        language=supplier_language(app, supplier),
        thread_root=thread_index(app.instance_id, ref),
        data={
            "request": {
                "description": request.description,
                "kpi": request.kpi,
                "incident": request.incident,
                "deadline_days": request.deadline_days,
                "start_step": request.start_step,
            },
            "decisions": 0,
        },
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    _add_participants(session, app, case, supplier)
    cases.record(session, case, now, "opened", owner, f"opened by {owner}", inbound_id=inbound_id)
    event = ladder.Opened(start_step=request.start_step, deadline_days=request.deadline_days)
    decision = apply(session, app, case, event, actor=owner, inbound_id=inbound_id, state=None)
    return case, decision


def _add_participants(session: Session, app: App, case: Case, supplier: Supplier) -> None:
    parties = parties_of(app, case, supplier)
    directory = Directory(app.config)
    roles: list[tuple[str, str]] = [("owner", parties.owner), ("counterpart", parties.counterpart)]
    if parties.owner_manager:
        roles.append(("owner_manager", parties.owner_manager))
    if parties.counterpart_manager:
        roles.append(("counterpart_manager", parties.counterpart_manager))
    roles += [("director", d) for d in parties.our_directors]
    roles += [("supplier_director", d) for d in parties.their_directors]
    seen: set[tuple[str, str]] = set()
    for role, email in roles:
        if (role, email) in seen:
            continue
        seen.add((role, email))
        name = directory.name_of(email) if role in ("owner", "owner_manager", "director") else ""
        if role == "counterpart":
            name = supplier.counterpart_name
        session.add(Participant(case_id=case.id, email=email, role=role, name=name))


# -- applying events ----------------------------------------------------------------


def apply(
    session: Session,
    app: App,
    case: Case,
    event: Event,
    *,
    actor: str,
    inbound_id: int | None = None,
    state: Escalation | bool | None = True,
) -> Decision:
    """Decide and carry out. Raises `ladder.Refused` (nothing changed then)."""
    supplier = supplier_of(app, case)
    rules = rules_for(app, supplier)
    current = state_of(case) if state is True else state
    assert current is None or isinstance(current, Escalation)
    decision = ladder.decide(current, event, rules)
    cases.save_state(
        case,
        "escalation",
        ladder.to_data(decision.state),
        decision.state.phase.value,
        rules.now,
        closed=decision.state.phase.closed,
    )
    case.step = decision.state.step
    cases.record(session, case, rules.now, "state", actor, decision.summary, inbound_id=inbound_id)
    for effect in decision.effects:
        _carry_out(session, app, case, supplier, decision.state, effect, rules.now)
    log.info("%s: %s", case.ref, decision.summary)
    return decision


def _carry_out(
    session: Session,
    app: App,
    case: Case,
    supplier: Supplier,
    state: Escalation,
    effect: Any,
    now: datetime,
) -> None:
    number = case.data["decisions"]
    if isinstance(effect, CancelSchedules):
        cases.cancel(session, case, effect.kinds)
    elif isinstance(effect, Schedule):
        cases.schedule(session, case, effect.kind, effect.at, effect.payload, now)
    elif isinstance(effect, SendStep):
        _send_step(session, app, case, supplier, state, effect, number)
    elif isinstance(effect, Notify):
        notify(
            session,
            app,
            case,
            effect.template,
            to_role=effect.to,
            dedup=f"escalation:{case.ref}:d{number}:{effect.template}",
            extra=effect.context,
        )
    elif isinstance(effect, SendClosing):
        _send_letter(
            session, app, case, supplier, state, "closing", f"escalation:{case.ref}:closing"
        )
    elif isinstance(effect, SendWithdrawal):
        _send_letter(
            session, app, case, supplier, state, "withdrawal", f"escalation:{case.ref}:withdrawal"
        )
    else:  # pragma: no cover - the domain has no other effects
        raise TypeError(f"unknown effect {effect!r}")


# -- context for templates -------------------------------------------------------------


def context(
    app: App,
    case: Case,
    state: Escalation | None = None,
    step: int | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Plain data for templates (no ORM objects: templates must not reach the database)."""
    supplier = supplier_of(app, case)
    state = state or state_of(case)
    directory = Directory(app.config)
    owner = directory.person(case.owner)
    request = case.data.get("request", {})
    if step is None:
        step = state.pending.step if state.pending else state.step
    deadline_day = state.deadline and app.calendar.local_date(state.deadline) - ladder.ONE_DAY
    language = language or app.config.mailbot.language
    names = STEP_NAMES_NL if language == "nl" else STEP_NAMES_EN
    step_to, step_cc = step_recipients(step, parties_of(app, case, supplier)) if step else ((), ())
    return {
        "step_to": list(step_to),
        "step_cc": list(step_cc),
        "ref": case.ref,
        "title": case.title,
        "shortfall": case.title,
        "description": request.get("description") or "",
        "kpi": request.get("kpi"),
        "incident": request.get("incident"),
        "supplier": {
            "id": supplier.id,
            "name": supplier.name,
            "sla_reference": supplier.sla_reference,
            "counterpart": supplier.counterpart,
            "counterpart_name": supplier.counterpart_name,
        },
        "owner": {
            "email": case.owner,
            "name": owner.name if owner else case.owner,
            "title": owner.title if owner else "",
        },
        "organisation": app.config.organisation.name,
        "mailbox": app.config.mailbox.address,
        "step": step,
        "step_name": names.get(step or 0, ""),
        "step_names": names,
        "steps": [
            {"number": s.number, "name": names[s.number], "sent_at": s.sent_at, "via": s.via}
            for s in state.steps
        ],
        "phase": state.phase.value,
        "deadline": state.deadline,
        "deadline_day": deadline_day,
        "pending": (
            {
                "step": state.pending.step,
                "mode": state.pending.mode.value,
                "held_for_verdict": state.pending.held_for_verdict,
            }
            if state.pending
            else None
        ),
        "awaiting_verdict": len(state.awaiting_verdict),
        "outcome": state.outcome,
    }


# -- letters to the supplier --------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    rendered: RenderedMail
    to: tuple[str, ...]
    cc: tuple[str, ...]
    language: str


def step_letter(app: App, case: Case, supplier: Supplier, state: Escalation, step: int) -> Letter:
    """The letter of `step` as it would go out now (also shown to the owner for approval)."""
    parties = parties_of(app, case, supplier)
    to, cc = step_recipients(step, parties)
    language = supplier_language(app, supplier)
    ctx = context(app, case, state, step, language=language)
    record = next((r for r in state.steps if r.number == step and r.via != "outside"), None)
    if record is not None:  # sent now: the deadline the step just started
        letter_deadline = record.deadline
        days = rules_for(app, supplier).profile.deadline_days(step)
    else:  # shown for approval or saved as a draft: as if it went out now
        days = profile_for(app, supplier).deadline_days(step)
        if not state.mail_went_out and state.first_deadline_days and days:
            days = state.first_deadline_days
        letter_deadline = app.calendar.deadline(app.clock.now(), days) if days else None
    ctx["letter_deadline_day"] = (
        app.calendar.local_date(letter_deadline) - ladder.ONE_DAY if letter_deadline else None
    )
    ctx["deadline_days"] = days
    ctx["previous_steps"] = [s for s in ctx["steps"] if s["number"] < step]
    ctx["recipients"] = {"to": list(to), "cc": list(cc)}
    rendered = app.renderer.render(f"step{step}", language, **ctx)
    return Letter(rendered, to, cc, language)


def _owner_from_name(app: App, case: Case) -> str:
    name = Directory(app.config).name_of(case.owner or "")
    return f"{name} via {app.config.mailbox.display_name}"


def _send_step(
    session: Session,
    app: App,
    case: Case,
    supplier: Supplier,
    state: Escalation,
    effect: SendStep,
    number: int,
) -> None:
    letter = step_letter(app, case, supplier, state, effect.step)
    if effect.mode is Policy.APPROVE:
        notify(
            session,
            app,
            case,
            "approval_request",
            dedup=f"escalation:{case.ref}:d{number}:approval-{effect.step}",
            extra={
                "letter_subject": letter.rendered.subject,
                "letter_text": letter.rendered.text,
                "letter_to": list(letter.to),
                "letter_cc": list(letter.cc),
                "held_for_verdict": effect.held_for_verdict,
            },
        )
        return
    names = {p.email: p.name for p in app.config.people}
    names[supplier.counterpart] = supplier.counterpart_name
    mail = OutgoingMail(
        to=tuple(Address(a, names.get(a, "")) for a in letter.to),
        cc=tuple(Address(a, names.get(a, "")) for a in letter.cc),
        subject=tagged(case.ref, letter.rendered.subject),
        text=letter.rendered.text,
        html=letter.rendered.html,
        case_ref=case.ref,
        from_name=_owner_from_name(app, case),
        automated=False,
    )
    draft = effect.mode is Policy.DRAFT
    suffix = "-draft" if draft else ""
    enqueue(
        session,
        app,
        dedup_key=f"escalation:{case.ref}:step-{effect.step}{suffix}",
        mail=mail,
        purpose="step",
        case_id=case.id,
        draft=draft,
    )
    if draft:
        notify(
            session,
            app,
            case,
            "draft_ready",
            dedup=f"escalation:{case.ref}:d{number}:draft-{effect.step}",
            extra={"letter_subject": tagged(case.ref, letter.rendered.subject)},
        )


def _send_letter(
    session: Session,
    app: App,
    case: Case,
    supplier: Supplier,
    state: Escalation,
    template: str,
    dedup: str,
) -> None:
    """Closing or withdrawal: to everyone the last step mail went to."""
    last = max((s.number for s in state.steps if s.via != "outside"), default=0)
    if not last:
        return
    to, cc = step_recipients(last, parties_of(app, case, supplier))
    ctx = context(app, case, state, language=supplier_language(app, supplier))
    ctx["last_step"] = last
    cases.send_rendered(
        session,
        app,
        case=case,
        template=template,
        language=supplier_language(app, supplier),
        to=to,
        cc=cc,
        dedup_key=dedup,
        purpose=template,
        context=ctx,
        automated=False,
        from_name=_owner_from_name(app, case),
    )


# -- notices to our people -------------------------------------------------------------------


def notify(
    session: Session,
    app: App,
    case: Case,
    template: str,
    *,
    dedup: str,
    to_role: str = "owner",
    extra: dict[str, Any] | None = None,
    in_reply_to: str | None = None,
) -> None:
    """A notice about the case to the owner (or the owner's manager), in the staff language."""
    owner = case.owner or ""
    recipient = owner
    if to_role == "owner_manager":
        recipient = Directory(app.config).manager_of(owner) or owner
    ctx = context(app, case)
    ctx.update(extra or {})
    ctx["recipient"] = {"email": recipient, "name": Directory(app.config).name_of(recipient)}
    cases.send_rendered(
        session,
        app,
        case=case,
        template=f"esc_{template}",
        language=app.config.mailbot.language,
        to=[recipient],
        dedup_key=dedup,
        purpose="notice",
        context=ctx,
        in_reply_to=in_reply_to or cases.last_message_id(session, case),
    )
