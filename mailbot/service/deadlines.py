"""Firing due deadlines: the rows are the truth, the scheduler only wakes us.

A due row is claimed (pending -> fired; `mailbot.store.claim`) in the same
transaction as the decision it causes, so it fires exactly once: a crash
before the commit leaves it pending, a second instance finds nothing to claim.
A deadline whose decision fails is marked `failed` and reported to the admins
instead of being retried forever; trouble with the database is no such failure:
the deadline stays pending for the next sweep.

Deadlines only fire inside the send window (SPEC §12: a next step and every
reminder go out at 09:00 on a working day, never at night or at weekends).
They are scheduled there, but after downtime, or from a `run --once` that cron
starts at night, a due deadline waits for the next send moment; the step it
causes then counts from the moment it actually went out. Mail that answers an
incoming mail is not held back: it is not sent from here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.domain import ladder
from mailbot.service import cases, compliments, escalations
from mailbot.service.app import App
from mailbot.service.outbox import notify_admins
from mailbot.store.claim import claim
from mailbot.store.db import DatabaseUnavailable, each_in_savepoint, is_database_trouble
from mailbot.store.tables import Case, Deadline

log = logging.getLogger(__name__)
BATCH = 500
_GROUP = 50  # deadlines fired per transaction


def _event(deadline: Deadline) -> Any:
    payload = deadline.payload
    if deadline.kind == "step":
        return ladder.DeadlinePassed(datetime.fromisoformat(payload["deadline"]))
    if deadline.kind == "reminder":
        return ladder.ReminderDue(datetime.fromisoformat(payload["deadline"]))
    if deadline.kind == "approval":
        return ladder.ApprovalReminderDue(int(payload["step"]), int(payload["count"]))
    if deadline.kind == "resume":
        return ladder.Resume()
    raise ValueError(f"unknown deadline kind {deadline.kind!r}")


def due_ids(app: App, now: datetime) -> list[int]:
    """The pending deadlines due at `now`, oldest first (at most BATCH): an indexed
    query on (status, due_at), so its cost does not grow with the open cases."""
    with app.db.session() as session:
        return list(
            session.scalars(
                select(Deadline.id)
                .where(Deadline.status == "pending", Deadline.due_at <= now)
                .order_by(Deadline.due_at, Deadline.id)
                .limit(BATCH)
            )
        )


def fire_due(app: App) -> int:
    """Fire every deadline that is due now; returns how many fired (none outside the send
    window: they wait for `next_due`)."""
    now = app.clock.now()
    if app.calendar.next_send_moment(now) > now:
        return 0
    fired = 0
    due = due_ids(app, now)
    for start in range(0, len(due), _GROUP):
        if not app.still_working():
            break
        fired += _fire_group(app, due[start : start + _GROUP], now)
    return fired


def _fire_group(app: App, ids: list[int], now: datetime) -> int:
    """One transaction for a group, a SAVEPOINT per deadline (as ingest does with mail):
    a commit per deadline was a sixth of a sweep. A decision that fails rolls back alone
    and is reported; trouble with the database leaves the whole group pending."""
    try:
        with app.db.session() as session:
            done, failed = each_in_savepoint(
                session,
                ids,
                lambda deadline_id: _fire(session, app, deadline_id, now),
                stop=app.stop,
            )
    except Exception as exc:
        if is_database_trouble(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise
    for deadline_id, error in failed:
        log.error("deadline %s failed", deadline_id, exc_info=error)
        _failed(app, deadline_id, error)
    return sum(fired for _, fired in done)


def _fire(session: Session, app: App, deadline_id: int, now: datetime) -> bool:
    fired = {"status": "fired", "fired_at": now}
    if not claim(session, Deadline, deadline_id, where=Deadline.status == "pending", values=fired):
        return False
    deadline = session.get_one(Deadline, deadline_id)
    case = session.get_one(Case, deadline.case_id)
    if case.kind == "compliment":
        compliments.deadline_due(session, app, case, deadline)
        return True
    try:
        escalations.apply(session, app, case, _event(deadline), actor="mailbot")
    except ladder.Refused as refused:
        cases.record(
            session,
            case,
            now,
            "deadline",
            "mailbot",
            f"{deadline.kind} deadline did not apply: {refused.reason}",
        )
    return True


def _failed(app: App, deadline_id: int, exc: Exception) -> None:
    with app.db.session() as session:
        deadline = session.get(Deadline, deadline_id)
        if deadline is None or deadline.status != "pending":
            return
        deadline.status = "failed"
        case = session.get_one(Case, deadline.case_id)
        notify_admins(
            session,
            app,
            dedup_key=f"deadline-failed:{deadline_id}",
            template="deadline_failed",
            ref=case.ref,
            kind=deadline.kind,
            due_at=deadline.due_at,
            error=f"{type(exc).__name__}: {exc}",
        )


def next_due(app: App) -> datetime | None:
    """When the next pending deadline may fire: when it falls, or the send moment after that
    (the daemon sleeps until then at most). A deadline already due outside the send window
    gives the next send moment, so the daemon neither polls it all night nor oversleeps."""
    with app.db.session() as session:
        due = session.scalar(select(func.min(Deadline.due_at)).where(Deadline.status == "pending"))
    if due is None:
        return None
    return app.calendar.next_send_moment(max(due, app.clock.now()))
