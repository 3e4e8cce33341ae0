"""Claiming one row for one worker: a due deadline, an outbox row.

A claim moves a row out of the state that makes it work (`pending`) in the
transaction that does the work, so it is done exactly once: whoever changes
the row owns it, anyone else finds nothing to do.

On SQLite the conditional UPDATE alone decides (`WHERE status = 'pending'`,
then exactly one row changed): SQLite has one writer at a time, so a second
claimer waits and then sees the row already moved. On PostgreSQL a second
claimer of a row that is locked by an unfinished transaction would also wait
for that transaction (it may run a whole step: render, enqueue, record)
before finding nothing; `SELECT … FOR UPDATE SKIP LOCKED` lets it pass the
row at once instead. The conditional UPDATE still follows, so the outcome is
the same on both databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, inspect, select, update
from sqlalchemy.orm import Session

from mailbot.store.tables import Base


def claim(
    session: Session,
    table: type[Base],
    row_id: int,
    *,
    where: ColumnElement[bool],
    values: dict[str, Any],
) -> bool:
    """Change row `row_id` of `table` with `values` if `where` holds; True when we did."""
    key = inspect(table).primary_key[0]
    if session.get_bind().dialect.name == "postgresql":
        free = session.scalar(
            select(key).where(key == row_id, where).with_for_update(skip_locked=True)
        )
        if free is None:
            return False
    result = session.execute(update(table).where(key == row_id, where).values(**values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_many(
    session: Session,
    table: type[Base],
    row_ids: list[int],
    *,
    where: ColumnElement[bool],
    values: dict[str, Any],
) -> list[int]:
    """`claim()` for a group of rows in two statements instead of two per row.

    The rows that still satisfy `where` are found and changed in one
    transaction: on SQLite it holds the write lock from its start (BEGIN
    IMMEDIATE), on PostgreSQL the found rows are locked (rows another worker
    holds are skipped), so nobody can change them in between.
    """
    if not row_ids:
        return []
    key = inspect(table).primary_key[0]
    query = select(key).where(key.in_(row_ids), where)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    free = list(session.scalars(query))
    if free:
        session.execute(
            update(table)
            .where(key.in_(free), where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return free
