"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from mailbot.store.db import Database
from mailbot.store.tables import Base

pytestmark = pytest.mark.database


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database.connect(database_url)
    database.upgrade()
    yield database
    database.close()


def test_it_builds_the_models_schema_from_the_migrations(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_it_upgrades_idempotently_and_knows_its_head(db: Database) -> None:
    db.upgrade()
    current, head = db.migration_state()
    assert current == head is not None


def test_it_keeps_what_the_old_triage_marker_reported_but_not_mail_unlinked_later(
    database_url: str,
) -> None:
    """0003: the marker was the last id reported; mail unlinked by NIET may have gone to
    triage after the marker passed it, so it is reported once more rather than never."""
    database = Database.connect(database_url)
    command.upgrade(database._alembic(), "0002")
    at = datetime(2026, 12, 7, 9, tzinfo=UTC)
    with database.engine.begin() as connection:
        for number, destination, outcome in [
            (1, "triage", "matched no case and is no command"),
            (2, "triage", "unlinked from ESC-2026-0001 by a.jansen@gemeente.example"),
            (3, "processed", "ESC-2026-0001: supplier reply"),
            (4, "triage", "matched no case and is no command"),
        ]:
            connection.execute(
                text(
                    "INSERT INTO inbound_messages (id, backend_key, folder, status, destination,"
                    " subject, size, attempts, outcome, received_at)"
                    " VALUES (:id, :key, 'INBOX', 'moved', :destination, '', 0, 0, :outcome, :at)"
                ),
                {"id": number, "key": f"k{number}", "destination": destination}
                | {"outcome": outcome, "at": at},
            )
        connection.execute(text("INSERT INTO meta VALUES ('triage_reported_until', '3')"))
    database.upgrade()
    with database.engine.connect() as connection:
        reported = connection.scalars(
            text("SELECT id FROM inbound_messages WHERE triage_reported_at IS NOT NULL")
        ).all()
    database.close()
    assert reported == [1]


def test_it_lets_one_holder_at_a_time_take_the_lease(db: Database) -> None:
    now = datetime(2026, 12, 14, 9, tzinfo=UTC)
    ttl = timedelta(seconds=30)
    assert db.try_lease("mailbox:x", "a", now, ttl)
    assert not db.try_lease("mailbox:x", "b", now + timedelta(seconds=10), ttl)
    assert db.try_lease("mailbox:x", "a", now + timedelta(seconds=10), ttl), "renewal"
    assert db.try_lease("mailbox:x", "b", now + timedelta(seconds=41), ttl), "expired lease is free"
    db.release_lease("mailbox:x", "b")
    assert db.try_lease("mailbox:x", "a", now + timedelta(seconds=42), ttl)


def test_it_stores_aware_utc_and_refuses_naive_times(db: Database) -> None:
    from mailbot.store.tables import FolderState

    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    with db.session() as session:
        session.add(FolderState(folder="INBOX", state={}, updated_at=moment))
    with db.session() as session:
        assert session.get_one(FolderState, "INBOX").updated_at == moment
    with pytest.raises(Exception, match="naive"), db.session() as session:
        session.add(FolderState(folder="x", state={}, updated_at=datetime(2026, 1, 1)))
