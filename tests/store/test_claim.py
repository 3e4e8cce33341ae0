"""Claiming rows: exactly one claimer wins, and on PostgreSQL nobody waits for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailbot.service.app import App
from mailbot.store.claim import claim, claim_many
from mailbot.store.tables import Case, Deadline

pytestmark = pytest.mark.database

NOW = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
FIRED = {"status": "fired", "fired_at": NOW}


def a_deadline(app: App) -> int:
    return some_deadlines(app, 1)[0]


def some_deadlines(app: App, count: int) -> list[int]:
    with app.db.session() as session:
        case = Case(
            ref="ESC-2026-0001",
            kind="escalation",
            state="open",
            title="t",
            language="nl",
            opened_at=NOW,
            updated_at=NOW,
        )
        session.add(case)
        session.flush()
        deadlines = [
            Deadline(case_id=case.id, kind="step", due_at=NOW, status="pending", created_at=NOW)
            for _ in range(count)
        ]
        session.add_all(deadlines)
        session.flush()
        return [d.id for d in deadlines]


def test_it_lets_only_the_first_claim_win(app: App) -> None:
    row = a_deadline(app)
    pending = Deadline.status == "pending"
    with app.db.session() as session:
        assert claim(session, Deadline, row, where=pending, values=FIRED)
    with app.db.session() as session:
        assert not claim(session, Deadline, row, where=pending, values=FIRED)
        assert session.scalars(select(Deadline.status)).one() == "fired"


def test_it_leaves_a_row_alone_when_the_condition_does_not_hold(app: App) -> None:
    row = a_deadline(app)
    with app.db.session() as session:
        assert not claim(session, Deadline, row, where=Deadline.status == "fired", values=FIRED)
        assert not claim(
            session, Deadline, row + 1, where=Deadline.status == "pending", values=FIRED
        )
        assert session.scalars(select(Deadline.status)).one() == "pending"


def test_it_skips_a_row_another_transaction_is_working_on(app: App) -> None:
    """PostgreSQL: FOR UPDATE SKIP LOCKED passes a locked row at once instead of waiting."""
    if app.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has a single writer: the second claim waits, then finds the row moved")
    row = a_deadline(app)
    pending = Deadline.status == "pending"
    with app.db.sessions() as first:
        assert claim(first, Deadline, row, where=pending, values=FIRED)  # not committed yet
        with app.db.sessions() as second:
            started = time.monotonic()
            assert not claim(second, Deadline, row, where=pending, values=FIRED)
            assert time.monotonic() - started < 1.0
            second.rollback()
        first.rollback()  # the work failed: the row is pending again …
    with app.db.session() as session:  # … and the next claimer gets it
        assert claim(session, Deadline, row, where=pending, values=FIRED)


def test_it_claims_a_group_of_rows_that_are_still_free(app: App) -> None:
    rows = some_deadlines(app, 4)
    pending = Deadline.status == "pending"
    with app.db.session() as session:
        assert claim(session, Deadline, rows[1], where=pending, values=FIRED)
    with app.db.session() as session:
        won = claim_many(session, Deadline, [*rows, rows[-1] + 1], where=pending, values=FIRED)
        assert sorted(won) == [rows[0], rows[2], rows[3]]  # not the taken one, not the missing one
    with app.db.session() as session:
        assert claim_many(session, Deadline, rows, where=pending, values=FIRED) == []
        assert claim_many(session, Deadline, [], where=pending, values=FIRED) == []
        assert set(session.scalars(select(Deadline.status))) == {"fired"}


def test_it_skips_the_rows_of_a_group_another_transaction_is_working_on(app: App) -> None:
    if app.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has a single writer: the second claim waits, then finds the rows moved")
    rows = some_deadlines(app, 3)
    pending = Deadline.status == "pending"
    with app.db.sessions() as first:
        assert claim(first, Deadline, rows[0], where=pending, values=FIRED)  # not committed yet
        with app.db.sessions() as second:
            started = time.monotonic()
            won = claim_many(second, Deadline, rows, where=pending, values=FIRED)
            assert sorted(won) == rows[1:]
            assert time.monotonic() - started < 1.0
            second.commit()
        first.rollback()
    with app.db.session() as session:
        assert claim_many(session, Deadline, rows, where=pending, values=FIRED) == [rows[0]]
