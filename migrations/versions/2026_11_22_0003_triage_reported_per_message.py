"""triage reported per message

The daily `Te beoordelen` notice used to remember the highest message id it
reported. A message can reach triage long after it arrived (an owner answers
NIET to a tentative match), so each message now records when it was reported.
What the old marker covered counts as reported, except mail unlinked by NIET:
the marker may have passed it before it went to triage, so it is reported
once more rather than never.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:50:39.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("triage_reported_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_inbound_messages_triage", ["destination", "triage_reported_at"], unique=False
        )
    bind = op.get_bind()
    marker = bind.execute(
        sa.text("SELECT value FROM meta WHERE key = 'triage_reported_until'")
    ).scalar()
    if marker is None:
        return
    bind.execute(
        sa.text(
            "UPDATE inbound_messages SET triage_reported_at = received_at"
            " WHERE destination = 'triage' AND id <= :marker"
            " AND (outcome IS NULL OR outcome NOT LIKE 'unlinked from %')"
        ),
        {"marker": int(marker)},
    )
    bind.execute(sa.text("DELETE FROM meta WHERE key = 'triage_reported_until'"))


def downgrade() -> None:
    bind = op.get_bind()
    last = bind.execute(
        sa.text("SELECT max(id) FROM inbound_messages WHERE triage_reported_at IS NOT NULL")
    ).scalar()
    if last is not None:
        bind.execute(
            sa.text("INSERT INTO meta (key, value) VALUES ('triage_reported_until', :last)"),
            {"last": str(last)},
        )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_triage")
        batch_op.drop_column("triage_reported_at")
