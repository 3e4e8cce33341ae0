"""Firing due deadlines in groups: a failing decision stays alone, an outage fails none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from mailbot.clock import ManualClock
from mailbot.config import Config
from mailbot.daemon import Daemon
from mailbot.domain import ladder
from mailbot.service import escalations
from mailbot.service.deadlines import fire_due, next_due
from mailbot.store.db import DatabaseUnavailable
from mailbot.store.tables import Case, Deadline, OutboundMessage
from tests.scenario import Story, mail
from tests.service.test_escalation_mail import ANNA, at

pytestmark = pytest.mark.database  # savepoints and group transactions: also on PostgreSQL

LATER = at(8, month=1, year=2027)  # every step-1 deadline of 7 December has passed


@pytest.fixture
def story(make_config: Callable[..., Config]) -> Story:
    started = Story(make_config(), ManualClock(at(7, hour=8)))
    started.run()
    return started


def open_cases(story: Story) -> None:
    for supplier in ("acme", "globex"):
        story.drop(mail(sender=ANNA, subject=f"Escalatie {supplier}: storing", body="Storing."))
    story.run(at(7))


def deadlines(story: Story) -> dict[str, set[str]]:
    """Supplier id -> statuses of its case's step deadlines."""
    with story.app().db.session() as session:
        found: dict[str, set[str]] = {}
        for supplier_id, status in session.execute(
            select(Case.supplier_id, Deadline.status)
            .join(Deadline, Deadline.case_id == Case.id)
            .where(Deadline.kind == "step")
        ):
            found.setdefault(supplier_id or "", set()).add(status)
        return found


def admin_notices(story: Story) -> list[str]:
    with story.app().db.session() as session:
        return list(
            session.scalars(
                select(OutboundMessage.dedup_key).where(OutboundMessage.purpose == "admin")
            )
        )


def failing_for(supplier_id: str, error: Exception) -> Callable[..., Any]:
    real = escalations.apply

    def apply(session: Any, app: Any, case: Case, event: Any, **kwargs: Any) -> Any:
        if case.supplier_id == supplier_id and isinstance(event, ladder.DeadlinePassed):
            raise error
        return real(session, app, case, event, **kwargs)

    return apply


def test_one_failing_decision_does_not_hold_up_the_others(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_cases(story)
    assert deadlines(story) == {"acme": {"pending"}, "globex": {"pending"}}
    monkeypatch.setattr(escalations, "apply", failing_for("acme", ValueError("kapot")))
    story.clock.set(LATER)

    fired = fire_due(story.app())

    assert fired >= 1
    assert deadlines(story) == {"acme": {"failed"}, "globex": {"fired", "pending"}}
    assert [key for key in admin_notices(story) if key.startswith("deadline-failed:")]


def test_database_trouble_leaves_every_deadline_of_the_group_pending(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_cases(story)
    locked = OperationalError("UPDATE cases", {}, Exception("database is locked"))
    monkeypatch.setattr(escalations, "apply", failing_for("globex", locked))
    story.clock.set(LATER)

    with pytest.raises(DatabaseUnavailable):
        fire_due(story.app())

    assert deadlines(story) == {"acme": {"pending"}, "globex": {"pending"}}
    assert admin_notices(story) == []
    monkeypatch.undo()
    assert fire_due(story.app()) >= 2  # the next sweep fires them
    assert deadlines(story) == {"acme": {"fired", "pending"}, "globex": {"fired", "pending"}}


def test_it_lets_a_deadline_due_at_night_wait_and_wakes_the_daemon_at_nine(
    make_config: Callable[..., Config],
) -> None:
    """Back after downtime on a Tuesday at 23:00, with step 1's deadlines passed: nothing
    fires at night, and the daemon sleeps until Wednesday 09:00 rather than polling the
    overdue rows every half second."""
    story = Story(make_config(mailbot={"poll_interval": 7 * 86400}), ManualClock(at(7, hour=8)))
    story.run()
    open_cases(story)
    story.clock.set(at(22, hour=23))
    app = story.app()
    try:
        assert fire_due(app) == 0
        assert deadlines(story) == {"acme": {"pending"}, "globex": {"pending"}}
        assert next_due(app) == at(23, hour=9)
        assert Daemon(app)._pass() == pytest.approx(10 * 3600 + 0.5)
        story.clock.set(at(23, hour=9))
        assert fire_due(app) >= 2
    finally:
        app.mailbox.close()
        app.db.close()
