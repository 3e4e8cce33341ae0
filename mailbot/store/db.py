"""Connecting to the database, migrating it, and the leader lease.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`: mail
is moved out of the Inbox only after the commit that stored it returns, so
that commit must survive a power cut, not just a crashed process. A busy
timeout lets the CLI read while the daemon writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.resources import migrations_dir
from mailbot.store.tables import Lease, Meta

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or used; the caller retries later."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create the database folder {Path(path).parent}: {exc.strerror}"
                ) from exc
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


@dataclass
class Database:
    """An engine plus a session factory; the only way code reaches the database."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = make_engine(url)
        return cls(engine, sessionmaker(engine, expire_on_commit=False))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()

    # -- migrations -----------------------------------------------------

    def _alembic(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(migrations_dir()))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        try:
            command.upgrade(self._alembic(), "head")
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc.orig)) from exc

    def migration_state(self) -> tuple[str | None, str | None]:
        """(current revision, newest revision)."""
        script = ScriptDirectory.from_config(self._alembic())
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc.orig)) from exc
        return current, script.get_current_head()

    # -- small facts ------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.session() as session:
            row = session.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as session:
            session.merge(Meta(key=key, value=value))

    def meta_default(self, key: str, value: str) -> str:
        """Read a fact, storing `value` first if there is none (race-safe)."""
        existing = self.get_meta(key)
        if existing is not None:
            return existing
        try:
            with self.session() as session:
                session.add(Meta(key=key, value=value))
        except IntegrityError:
            pass
        stored = self.get_meta(key)
        assert stored is not None
        return stored

    # -- leader lease -------------------------------------------------------

    def try_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease `name`; True when `holder` holds it afterwards.

        A conditional UPDATE (free, expired, or already ours) works the same on
        SQLite and PostgreSQL; the INSERT path covers the very first start.
        """
        expires = now + ttl
        with self.session() as session:
            result = session.execute(
                update(Lease)
                .where(Lease.name == name)
                .where((Lease.holder == holder) | (Lease.expires_at <= now))
                .values(holder=holder, expires_at=expires)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
            if session.scalar(select(Lease.name).where(Lease.name == name)) is not None:
                return False
        try:
            with self.session() as session:
                session.add(Lease(name=name, holder=holder, expires_at=expires))
        except IntegrityError:
            return False
        return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.session() as session:
            session.execute(
                update(Lease)
                .where(Lease.name == name, Lease.holder == holder)
                .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
            )
