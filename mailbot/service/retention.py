"""Purging old personal data while keeping the numbers (issue 8, SPEC §12 "privacy").

Off by default: archives (Archiefwet/Woo) may need the correspondence, so
nothing is purged unless an administrator asks (`mailbot purge --older-than
DAYS`) or sets a retention. Compliments have their own, usually shorter,
retention (`compliment_retention_days`); each works without the other, and
compliments follow `retention_days` when they have none of their own.

What goes: the raw mail bytes, texts, subjects and addresses of cases closed
longer ago than the retention, and of mail that never belonged to a case.
What stays: each case row with its kind, supplier, steps, states and dates
(the digest's twelve-month figures), with names and texts replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from mailbot.service.app import App
from mailbot.store.tables import (
    Case,
    InboundMessage,
    OutboundMessage,
    Participant,
    TimelineEvent,
)

PURGED = "(purged)"


@dataclass
class PurgeReport:
    cases: int = 0
    inbound: int = 0
    outbound: int = 0


def _keep_numbers(app: App, case: Case) -> dict[str, Any]:
    """The case data the digest needs, without texts, names or addresses."""
    data = case.data
    kept: dict[str, Any] = {"purged": True, "decisions": data.get("decisions", 0)}
    if "escalation" in data:
        state = dict(data["escalation"])
        state["awaiting_verdict"] = []
        state["outcome"] = None
        kept["escalation"] = state
        request = data.get("request", {})
        kept["request"] = {
            "start_step": request.get("start_step", 1),
            "deadline_days": request.get("deadline_days"),
        }
    if "compliment" in data:
        state = dict(data["compliment"])
        receivers = state.get("receivers", [])
        state["receivers"] = [f"receiver-{n}" for n, _ in enumerate(receivers, 1)]
        state["reactions"] = [
            [f"receiver-{n}", ""] for n, _ in enumerate(state.get("reactions", []), 1)
        ]
        state["provider"] = "provider" if state.get("provider") else None
        state["cap"] = PURGED if state.get("cap") else None
        kept["compliment"] = state
        kept["maker"] = {"external": bool(data.get("maker", {}).get("external"))}
        kept["suppliers"] = [
            {"supplier": s.get("supplier"), "how": s.get("how")} for s in data.get("suppliers", [])
        ]
        teams = {p.email: p.team for p in app.config.people}
        kept["teams"] = sorted({teams.get(r, "") for r in receivers} - {""})
    return kept


def purge(
    app: App,
    *,
    older_than: timedelta | None,
    compliments_older_than: timedelta | None = None,
    now: datetime | None = None,
) -> PurgeReport:
    """Purge what was closed (or, without a case, received) before the cut-off.

    `older_than` is for escalations and mail without a case, and for compliments
    unless they have their own `compliments_older_than`; None keeps them.
    """
    now = now or app.clock.now()
    report = PurgeReport()
    compliments = compliments_older_than or older_than
    cutoffs = {
        kind: now - retention
        for kind, retention in (("escalation", older_than), ("compliment", compliments))
        if retention is not None
    }
    with app.db.session() as session:
        for kind, cutoff in cutoffs.items():
            old = list(
                session.scalars(
                    select(Case).where(
                        Case.kind == kind,
                        Case.closed_at.is_not(None),
                        Case.closed_at < cutoff,
                        Case.title != PURGED,
                    )
                )
            )
            for case in old:
                case.data = _keep_numbers(app, case)
                case.title = PURGED
                case.owner = None
                session.execute(delete(Participant).where(Participant.case_id == case.id))
                session.execute(
                    update(TimelineEvent)
                    .where(TimelineEvent.case_id == case.id)
                    .values(summary=PURGED, actor=PURGED, data={})
                )
                report.inbound += _purge_inbound(session, InboundMessage.case_id == case.id)
                report.outbound += session.execute(
                    update(OutboundMessage)
                    .where(
                        OutboundMessage.case_id == case.id,
                        OutboundMessage.status.in_(("sent", "drafted", "failed")),
                    )
                    .values(raw=b"", subject=PURGED, recipients=[])
                ).rowcount  # type: ignore[attr-defined]
                report.cases += 1
        if "escalation" in cutoffs:
            report.inbound += _purge_inbound(
                session,
                (InboundMessage.case_id.is_(None))
                & (InboundMessage.received_at < cutoffs["escalation"])
                & (InboundMessage.status == "moved"),
            )
    return report


def _purge_inbound(session: Any, condition: Any) -> int:
    result = session.execute(
        update(InboundMessage)
        .where(condition, InboundMessage.subject != PURGED)
        .values(raw=None, subject=PURGED, from_addr=None, outcome=None, last_error=None)
    )
    return int(result.rowcount)


def purge_due(app: App) -> PurgeReport | None:
    """The daemon's daily purge when `retention_days` or `compliment_retention_days` is
    set (at most once a local day)."""
    days = app.config.mailbot.retention_days
    compliment_days = app.config.mailbot.compliment_retention_days
    if days is None and compliment_days is None:
        return None
    today = app.calendar.local_date(app.clock.now()).isoformat()
    if app.db.get_meta("purged_on") == today:
        return None
    report = purge(
        app,
        older_than=timedelta(days=days) if days else None,
        compliments_older_than=timedelta(days=compliment_days) if compliment_days else None,
    )
    app.db.set_meta("purged_on", today)
    return report
