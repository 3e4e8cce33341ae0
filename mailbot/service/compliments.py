"""Compliment cases: register them, feed them events, carry out the effects.

The lifecycle itself is `mailbot.domain.compliments`; this module keeps its
state on the case row and turns effects into mail to the right people (by
role: maker, coordinator, provider, receivers), deadlines for the KPI norms,
and timeline lines, inside the caller's transaction.

Mail to the maker is formal (`u`), mail inside the organisation informal
(`je`); the thank-you to an external maker goes out at most once per case.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain import compliments
from mailbot.domain.compliments import (
    ACTOR,
    CancelSchedules,
    Compliment,
    Decision,
    Event,
    Mail,
    Norms,
    Rules,
    Schedule,
    Stage,
)
from mailbot.domain.subjects import topic
from mailbot.service import cases
from mailbot.service.app import App
from mailbot.service.directory import Directory
from mailbot.service.threads import thread_index
from mailbot.store.tables import Case, Deadline, OutboundMessage, Participant

log = logging.getLogger(__name__)

KIND = "compliment"


def norms(app: App) -> Norms:
    c = app.config.compliments
    return Norms(
        registered=c.norm_registered,
        assigned=c.norm_assigned,
        given=c.norm_given,
        reacted=c.norm_reacted,
        cap_days=c.cap_default_days,
        cap_answer=c.norm_cap_answer,
    )


def coordinators(app: App) -> list[str]:
    return list(app.config.organisation.compliment_coordinators) or list(app.config.mailbot.admins)


def state_of(case: Case) -> Compliment:
    return compliments.from_data(case.data["compliment"])


def register(
    session: Session,
    app: App,
    *,
    maker_email: str | None,
    maker_name: str,
    maker_external: bool,
    text: str,
    subject: str,
    forwarded_by: str | None,
    suggestions: list[dict[str, Any]],
    thank: bool,
    inbound_id: int,
    supplier_links: list[dict[str, Any]] | None = None,
) -> tuple[Case, Decision]:
    now = app.clock.now()
    ref = cases.next_ref(session, KIND, now, app.calendar.tz)
    title = " ".join(subject.split())[:200] or " ".join(text.split())[:80] or ref
    case = Case(
        ref=ref,
        kind=KIND,
        state="new",
        step=None,
        supplier_id=(supplier_links or [{}])[0].get("supplier") if supplier_links else None,
        owner=coordinators(app)[0],
        title=title[:500],
        language=app.config.mailbot.language,
        thread_root=thread_index(app.instance_id, ref),
        data={
            "maker": {"email": maker_email, "name": maker_name, "external": maker_external},
            "text": text,
            "subject": subject,
            "forwarded_by": forwarded_by,
            "suggestions": suggestions,
            "suppliers": supplier_links or [],
            "thanked": thank,
            "decisions": 0,
        },
        opened_at=now,
        updated_at=now,
    )
    # through the relationship, so that `_sync_participants` below finds them loaded
    # instead of flushing and querying for what was just added
    if maker_email:
        case.participants.append(Participant(email=maker_email, role="maker", name=maker_name))
    for email in coordinators(app):
        case.participants.append(
            Participant(email=email, role="coordinator", name=Directory(app.config).name_of(email))
        )
    session.add(case)
    session.flush()
    who = maker_email or maker_name or "unknown maker"
    via = f" (forwarded by {forwarded_by})" if forwarded_by else ""
    cases.record(
        session,
        case,
        now,
        "opened",
        forwarded_by or who,
        f"compliment from {who}{via}",
        inbound_id=inbound_id,
    )
    decision = apply(
        session,
        app,
        case,
        compliments.Registered(thank_maker=thank),
        actor=forwarded_by or who,
        inbound_id=inbound_id,
        state=None,
    )
    return case, decision


def apply(
    session: Session,
    app: App,
    case: Case,
    event: Event,
    *,
    actor: str,
    inbound_id: int | None = None,
    state: Compliment | bool | None = True,
) -> Decision:
    rules = Rules(now=app.clock.now(), calendar=app.calendar, norms=norms(app))
    current = state_of(case) if state is True else state
    assert current is None or isinstance(current, Compliment)
    decision = compliments.decide(current, event, rules)
    cases.save_state(
        case,
        "compliment",
        compliments.to_data(decision.state),
        decision.state.stage.value,
        rules.now,
        closed=decision.state.stage is Stage.CLOSED,
    )
    _sync_participants(session, case, decision.state)
    cases.record(session, case, rules.now, "state", actor, decision.summary, inbound_id=inbound_id)
    for effect in decision.effects:
        _carry_out(session, app, case, decision.state, effect, rules.now)
    log.info("%s: %s", case.ref, decision.summary)
    return decision


def _sync_participants(session: Session, case: Case, state: Compliment) -> None:
    """Receivers and provider are participants (matching trusts their replies)."""
    have = {(p.email, p.role) for p in case.participants}
    wanted = [(r, "receiver") for r in state.receivers]
    if state.provider:
        wanted.append((state.provider, "provider"))
    for email, role in wanted:
        if (email, role) not in have:
            case.participants.append(Participant(email=email, role=role))


def _carry_out(
    session: Session, app: App, case: Case, state: Compliment, effect: Any, now: datetime
) -> None:
    if isinstance(effect, CancelSchedules):
        cases.cancel(session, case, effect.kinds)
    elif isinstance(effect, Schedule):
        cases.schedule(session, case, effect.kind, effect.at, effect.payload, now)
    elif isinstance(effect, Mail):
        send(session, app, case, state, effect)
    else:  # pragma: no cover
        raise TypeError(f"unknown effect {effect!r}")


def recipients_for(app: App, case: Case, state: Compliment, role: str) -> list[str]:
    if role == "maker":
        maker = case.data.get("maker", {})
        return [maker["email"]] if maker.get("email") else []
    if role == "coordinator":
        return coordinators(app)
    if role == "provider":
        return [state.provider] if state.provider else coordinators(app)
    if role == "receivers":
        return list(state.waiting_for or state.receivers)
    raise ValueError(f"unknown role {role!r}")


def send(session: Session, app: App, case: Case, state: Compliment, effect: Mail) -> None:
    to = recipients_for(app, case, state, effect.to)
    directory = Directory(app.config)
    supplier = next(
        (
            directory.supplier_of(a)
            for a in to
            if not directory.is_organisation(a)
            and directory.supplier_of(a) is not None
            and effect.to in ("provider", "receivers")
        ),
        None,
    )
    if effect.template == "cmp_reaction" and effect.to == "maker":
        _reaction_mails(session, app, case, state, effect)
        return
    if not to:
        return
    number = case.data["decisions"]
    dedup = (
        f"compliment:{case.ref}:thanks"
        if effect.template == "cmp_thanks"
        else f"compliment:{case.ref}:d{number}:{effect.template}:{effect.to}"
    )
    ctx = context(app, case, state)
    ctx.update(effect.context)
    ctx["to_role"] = effect.to
    ctx["actor_role"] = (
        ACTOR.get(Stage(effect.context["stage"])) if "stage" in effect.context else None
    )
    template = effect.template
    language = maker_language(app, case) if effect.to == "maker" else app.config.mailbot.language
    if supplier is not None:
        # praise across the boundary: formal letters in the supplier's language
        template = f"{effect.template}_supplier"
        language = supplier.language or language
        ctx["supplier"] = {"id": supplier.id, "name": supplier.name}
    cases.send_rendered(
        session,
        app,
        case=case,
        template=template,
        language=language,
        to=to,
        dedup_key=dedup,
        purpose="compliment",
        context=ctx,
        in_reply_to=cases.last_message_id(session, case),
    )


def maker_language(app: App, case: Case) -> str:
    """SPEC §12: a maker who is one of a supplier's people (an address on its domains, or
    one of its contacts) hears back in that supplier's language, as the supplier's
    providers and receivers do. No `_supplier` letters are needed: the mails to an
    external maker are formal already."""
    email = case.data.get("maker", {}).get("email")
    directory = Directory(app.config)
    supplier = None if directory.is_organisation(email) else directory.supplier_of(email)
    return (supplier.language if supplier else None) or app.config.mailbot.language


def reaction_goes_to_maker(app: App, case: Case, state: Compliment) -> bool:
    """SPEC §5: a receiver's reaction goes back to an external maker (the config can turn
    that off); on praise for a supplier's people the maker hears back whoever they are.
    The receivers are told exactly this, so the mail and the promise share this rule."""
    maker = case.data.get("maker", {})
    if not maker.get("email") or not app.config.compliments.reaction_to_maker:
        return False
    directory = Directory(app.config)
    across_the_boundary = any(
        directory.supplier_of(r) is not None and not directory.is_organisation(r)
        for r in state.receivers
    )
    return bool(maker.get("external")) or across_the_boundary


def _reaction_mails(
    session: Session, app: App, case: Case, state: Compliment, effect: Mail
) -> None:
    """A receiver's reaction: to the maker (see `reaction_goes_to_maker`) and the coordinator."""
    number = case.data["decisions"]
    ctx = context(app, case, state)
    ctx.update(effect.context)
    ctx["receiver_name"] = Directory(app.config).name_of(effect.context["receiver"])
    maker = case.data.get("maker", {})
    if reaction_goes_to_maker(app, case, state):
        cases.send_rendered(
            session,
            app,
            case=case,
            template="cmp_reaction_maker",
            language=maker_language(app, case),
            to=[maker["email"]],
            dedup_key=f"compliment:{case.ref}:d{number}:reaction-maker",
            purpose="compliment",
            context=ctx,
        )
    cases.send_rendered(
        session,
        app,
        case=case,
        template="cmp_reaction_coordinator",
        language=app.config.mailbot.language,
        to=coordinators(app),
        dedup_key=f"compliment:{case.ref}:d{number}:reaction-coordinator",
        purpose="compliment",
        context=ctx,
        in_reply_to=cases.last_message_id(session, case),
    )


def bounced(
    session: Session,
    app: App,
    case: Case,
    *,
    failed: Sequence[str],
    bounce_subject: str,
    quoted: Sequence[str],
    inbound_id: int,
) -> None:
    """A mail of this compliment could not be delivered: the coordinator hears which mail
    and to whom (SPEC §6: bounces reach the owner), once per bounced mail, so a delay
    warning followed by the failure makes one alert. The bounced mail is the one of ours
    the report quotes that went to a failed address (else the newest quoted: the older
    ones are merely its References). An alert that bounced itself is only recorded,
    or an unreachable coordinator would be alerted about the alert forever."""
    ours = (
        list(
            session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.message_id.in_(quoted), OutboundMessage.case_id == case.id)
                .order_by(OutboundMessage.id.desc())
            )
        )
        if quoted
        else []
    )
    lost = next((o for o in ours if set(failed) & set(o.recipients)), ours[0] if ours else None)
    if lost is not None and ":bounce:" in lost.dedup_key:
        return
    state = state_of(case)
    ctx = context(app, case, state)
    ctx.update(
        {
            "bounced": {"topic": topic(lost.subject), "to": list(lost.recipients)}
            if lost
            else None,
            "failed": list(failed),
            "failed_role": _role_of(case, state, set(failed or (lost.recipients if lost else ()))),
            "bounce_subject": bounce_subject,
        }
    )
    which = f"bounce:{lost.id}" if lost else f"bounce:in-{inbound_id}"
    cases.send_rendered(
        session,
        app,
        case=case,
        template="cmp_bounce_alert",
        language=app.config.mailbot.language,
        to=coordinators(app),
        dedup_key=f"compliment:{case.ref}:{which}",
        purpose="notice",
        context=ctx,
    )


def _role_of(case: Case, state: Compliment, addresses: set[str]) -> str | None:
    """Whom a mail failed to reach, in the compliment's words (the alert's advice follows)."""
    if case.data.get("maker", {}).get("email") in addresses:
        return "maker"
    if state.provider in addresses:
        return "provider"
    if addresses & set(state.receivers):
        return "receivers"
    return None


def context(app: App, case: Case, state: Compliment | None = None) -> dict[str, Any]:
    state = state or state_of(case)
    directory = Directory(app.config)
    maker = case.data.get("maker", {})

    def person(email: str | None) -> dict[str, Any]:
        found = directory.person(email)
        return {
            "email": email,
            "name": found.name if found else (email or ""),
            "team": found.team if found else "",
        }

    reached = {name: datetime.fromisoformat(moment) for name, moment in state.reached}
    return {
        "ref": case.ref,
        "title": case.title,
        "stage": state.stage.value,
        "compliment_text": case.data.get("text", ""),
        "compliment_subject": case.data.get("subject", ""),
        "maker": {
            "email": maker.get("email"),
            "name": maker.get("name") or maker.get("email") or "",
            "external": bool(maker.get("external")),
        },
        "forwarded_by": person(case.data["forwarded_by"])
        if case.data.get("forwarded_by")
        else None,
        "suggestions": case.data.get("suggestions", []),
        "receivers": [person(r) for r in state.receivers],
        "waiting_for": [person(r) for r in state.waiting_for],
        "provider": person(state.provider) if state.provider else None,
        "record": state.record,
        "reactions": [{"receiver": person(r), "text": t} for r, t in state.reactions],
        "cap": state.cap,
        "cap_due": state.cap_due,
        "opened_at": case.opened_at,
        "reached": reached,
        "norms": {s.value: norms(app).of(s) for s in Stage if norms(app).of(s)},
        "cap_days": norms(app).cap_days,
        "thanked": bool(case.data.get("thanked")),
        "reaction_to_maker": reaction_goes_to_maker(app, case, state),
        "coordinators": [person(c) for c in coordinators(app)],
    }


def deadline_due(session: Session, app: App, case: Case, deadline: Deadline) -> None:
    """A norm or CAP check fell due (called by the deadline sweep)."""
    if deadline.kind == "norm":
        event: Event = compliments.NormPassed(
            Stage(deadline.payload["stage"]), int(deadline.payload["count"])
        )
    elif deadline.kind == "cap_check":
        event = compliments.CapCheckDue()
    else:
        raise ValueError(f"unknown compliment deadline {deadline.kind!r}")
    try:
        apply(session, app, case, event, actor="mailbot")
    except compliments.Refused as refused:
        cases.record(
            session,
            case,
            app.clock.now(),
            "deadline",
            "mailbot",
            f"{deadline.kind} did not apply: {refused.reason}",
        )
