"""The database schema: the one place where mailbot's memory is defined.

Design choices that the guarantees rest on:
- inbound mail is stored (raw bytes, unique backend key) *before* anything
  else happens, so a crash at any moment loses nothing and the key tells us
  on the next pass that a message was already seen;
- outgoing mail is an outbox row with a unique dedup key, written in the same
  transaction as the state change that caused it;
- deadlines are rows with an indexed `due_at`, claimed by a conditional UPDATE;
  the scheduler only wakes us up;
- a case keeps its domain state as JSON (`data`) next to the few columns that
  queries need (state, step, owner, supplier), so the state machines can grow
  without a migration for every field.

All timestamps are timezone-aware UTC in Python; SQLite stores them naive.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    deferred,
    mapped_column,
    relationship,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python on every database (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def _fit_text_to_columns(_mapper: Mapper[Any], _connection: Connection, target: Base) -> None:
    """Clip text to its column's length, on every database.

    SQLite ignores VARCHAR lengths; PostgreSQL refuses a longer value and the
    whole transaction with it, so a 1,000-character display name would send
    a compliment to quarantine on PostgreSQL only. Text taken from mail
    (names, titles, subjects) is clipped instead. Keys (primary key, unique
    columns) never are: a clipped key could collide, so it fails loudly.
    """
    state = inspect(target)
    for key, length in _clipped_columns(state.mapper):
        value = state.dict.get(key)  # only what is loaded: never a lazy load here
        if isinstance(value, str) and len(value) > length:
            setattr(target, key, value[:length])


_CLIPPED: dict[Mapper[Any], tuple[tuple[str, int], ...]] = {}


def _clipped_columns(mapper: Mapper[Any]) -> tuple[tuple[str, int], ...]:
    """(attribute, length) of the clippable text columns; looked up once per table
    because this runs for every row written."""
    found = _CLIPPED.get(mapper)
    if found is None:
        found = tuple(
            (attribute.key, length)
            for attribute in mapper.column_attrs
            if (length := getattr(attribute.columns[0].type, "length", None))
            and not attribute.columns[0].primary_key
            and not attribute.columns[0].unique
        )
        _CLIPPED[mapper] = found
    return found


class Case(Base):
    """An escalation (ESC-…) or a compliment (CMP-…)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    step: Mapped[int | None] = mapped_column(Integer)
    supplier_id: Mapped[str | None] = mapped_column(String(64), index=True)
    owner: Mapped[str | None] = mapped_column(String(320), index=True)
    title: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(2))
    # Outlook conversation root (Thread-Index, base64) of every mail of this case
    thread_root: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    participants: Mapped[list[Participant]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Participant.id"
    )

    __table_args__ = (Index("ix_cases_kind_state", "kind", "state"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own idiom


class CaseCounter(Base):
    """Last number handed out per prefix and year: ESC-2026-0007."""

    __tablename__ = "case_counters"

    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Participant(Base):
    """Who plays which role in a case (owner, counterpart, receiver, maker, …)."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")

    case: Mapped[Case] = relationship(back_populates="participants")

    __table_args__ = (UniqueConstraint("case_id", "email", "role"),)


class InboundMessage(Base):
    """Every message that entered a watched folder, with its raw bytes."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    backend_key: Mapped[str] = mapped_column(String(512), unique=True)
    # where the message is now: folder and its key there (moves may change the key)
    folder: Mapped[str] = mapped_column(String(200))
    location_key: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str | None] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    from_addr: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    classification: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    # when the daily `Te beoordelen` notice told about it; a row can reach triage long
    # after it arrived (an owner's NIET), so arrival order cannot say what was reported
    triage_reported_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_inbound_messages_status", "status"),
        Index("ix_inbound_messages_triage", "destination", "triage_reported_at"),
    )


class OutboundMessage(Base):
    """The outbox: one row per mail mailbot means to send or draft, exactly once."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(998))
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    backend_ref: Mapped[str | None] = mapped_column(String(512))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbound_messages_status", "status", "id"),)


class OutboundRecipient(Base):
    """One address a sent mail went to: what the per-recipient caps count."""

    __tablename__ = "outbound_recipients"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbound_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime]

    __table_args__ = (Index("ix_outbound_recipients_email_sent_at", "email", "sent_at"),)


class Deadline(Base):
    """A moment at which a case needs attention (next step, reminder, KPI norm)."""

    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_deadlines_status_due_at", "status", "due_at"),)


class TimelineEvent(Base):
    """Everything that happened to a case: mail in and out, state changes, who and when."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(320))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_messages.id"))


class FolderState(Base):
    """Per-folder backend bookkeeping (first-start marker, UIDVALIDITY, sync state)."""

    __tablename__ = "folder_states"

    folder: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class Meta(Base):
    """Small installation-wide facts: instance id, install time, last digest week."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Lease(Base):
    """The leader lock: only the holder of an unexpired lease ingests and sends."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
