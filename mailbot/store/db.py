"""Connecting to the database, migrating it, and the leader lease.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`: mail
is moved out of the Inbox only after the commit that stored it returns, so
that commit must survive a power cut, not just a crashed process. A busy
timeout lets the CLI read while the daemon writes.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.resources import migrations_dir
from mailbot.store.tables import Lease, Meta

log = logging.getLogger(__name__)

# pg_advisory_lock key that serialises `upgrade()` between instances ("mailbot" + 1)
MIGRATION_LOCK_KEY = 0x6D61696C626F7401


K = TypeVar("K")
V = TypeVar("V")


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or used; the caller retries later."""


def is_database_trouble(exc: BaseException) -> bool:
    """An outage or a lock, not a fault of the work being done: retried later, never
    counted against a mail or a deadline."""
    return isinstance(exc, OperationalError | DatabaseUnavailable) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def each_in_savepoint(
    session: Session,
    items: Iterable[K],
    work: Callable[[K], V],
    *,
    stop: threading.Event,
) -> tuple[list[tuple[K, V]], list[tuple[K, Exception]]]:
    """Work on many items in one transaction, each in a SAVEPOINT of its own.

    One commit per item costs an fsync each on SQLite; this way a whole group costs
    one, and an item that fails still rolls back alone: it comes back with its error
    for the caller to report. Database trouble is raised (the transaction is lost; the
    caller retries the group later). Stops early when `stop` is set: inside the
    transaction the leader lease cannot be renewed.
    """
    done: list[tuple[K, V]] = []
    failed: list[tuple[K, Exception]] = []
    for item in items:
        if stop.is_set():
            break
        savepoint = session.begin_nested()
        try:
            result = work(item)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            if is_database_trouble(exc):
                raise
            failed.append((item, exc))
            continue
        done.append((item, result))
    return done, failed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe for real SAVEPOINTs on SQLite: the driver's own
    # transaction handling is switched off and we emit BEGIN ourselves (below)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE: take the write lock now (waiting up to busy_timeout). A deferred
    # transaction that read first cannot become a writer after another connection
    # (the lease heartbeat, a second instance) committed: SQLite refuses at once.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


def _drop_nul_characters(
    _connection: Any,
    _cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    """Remove NUL characters from every text parameter, on every database.

    PostgreSQL cannot store U+0000 in text (SQLite can), and mail is full of
    them: a subject with a stray NUL, a binary attachment read as a title.
    The raw message bytes are kept intact (bytes are not text), so dropping
    NUL from what is derived from them loses nothing; doing it on SQLite too
    keeps both databases holding the same data.
    """

    def clean(params: Any) -> Any:
        if isinstance(params, dict):
            return {key: _without_nul(value) for key, value in params.items()}
        if isinstance(params, list | tuple):
            return type(params)(_without_nul(value) for value in params)
        return params

    if executemany and isinstance(parameters, list | tuple):
        return statement, type(parameters)(clean(params) for params in parameters)
    return statement, clean(parameters)


def make_engine(url: str) -> Engine:
    engine = _make_engine(url)
    event.listen(engine, "before_cursor_execute", _drop_nul_characters, retval=True)
    return engine


def _make_engine(url: str) -> Engine:
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
        event.listen(engine, "begin", _sqlite_begin)
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
        """Bring the schema to the newest migration (idempotent).

        Every instance upgrades at start, and the two of a hot standby pair
        often start together (after a reboot, or a release rolled out to
        both). Unserialised, the second one runs the same CREATE/ALTER TABLE
        and fails: on PostgreSQL with an IntegrityError that ends the daemon.
        So one upgrades at a time, and the other then finds nothing to do.
        """
        try:
            with self._migration_lock():
                command.upgrade(self._alembic(), "head")
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc.orig)) from exc

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """PostgreSQL: a session advisory lock (freed by the server if we die).
        SQLite: an flock on a file next to the database (freed by the kernel)."""
        url = self.engine.url
        if url.get_backend_name() == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
                connection.commit()
                try:
                    yield
                finally:
                    try:
                        connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
                        connection.commit()
                    except SQLAlchemyError as exc:  # a lost connection took the lock with it
                        log.debug("migration lock not released: %s", exc)
                        connection.invalidate()
        elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            lock_path = Path(f"{url.database}.migrate-lock")
            try:
                handle = lock_path.open("a")
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot create {lock_path}: {exc.strerror}") from exc
            with handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
        else:
            yield

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

    def try_lease(self, name: str, holder: str, now: datetime | None, ttl: timedelta) -> bool:
        """Take or renew the lease `name`; True when `holder` holds it afterwards.

        A conditional UPDATE (free, expired, or already ours) works the same on
        SQLite and PostgreSQL; the INSERT path covers the very first start.
        `now=None` reads the lease clock (`_lease_now`) once the write lock is ours:
        a renewal that waited seconds for a busy database must not write a stale
        expiry. A renewal never shortens our own lease (two threads may renew at once).
        """
        with self.session() as session:
            session.connection()  # SQLite: BEGIN IMMEDIATE, i.e. wait for the write lock now
            now = now or _lease_now(session)
            expires = now + ttl
            result = session.execute(
                update(Lease)
                .where(Lease.name == name)
                .where(
                    ((Lease.holder == holder) & (Lease.expires_at < expires))
                    | (Lease.expires_at <= now)
                )
                .values(holder=holder, expires_at=expires)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
            current = session.execute(
                select(Lease.holder, Lease.expires_at).where(Lease.name == name)
            ).first()
            if current is not None:
                return bool(current.holder == holder and current.expires_at > now)
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


def _lease_now(session: Session) -> datetime:
    """The clock leases are judged by. On PostgreSQL the database server's: instances on
    different machines then agree on who holds the lease whatever their own clocks say
    (a standby whose clock ran ahead would otherwise take a live leader's lease). SQLite
    is a file on one machine, so every instance shares that machine's clock."""
    if session.get_bind().dialect.name == "postgresql":
        server_now: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
        return server_now.astimezone(UTC)
    return datetime.now(UTC)
