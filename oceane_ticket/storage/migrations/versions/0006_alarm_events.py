"""Alarm events (clear, change, note) recorded for a ticket, and the update failures' event id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"  # 0004 at first; 0005 (dialect) merged in since
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create alarm_events; add failed_ticket_requests.event_id."""
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("instance", sa.String(32), nullable=False),
        sa.Column("dma_id", sa.BigInteger, nullable=False),
        sa.Column("element_id", sa.BigInteger, nullable=False),
        sa.Column("alarm_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("event_time", TZ, nullable=False),
        sa.Column("severity", sa.String(64), nullable=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("user", sa.String(255), nullable=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("retries_used", sa.Integer, nullable=False),
        sa.Column("not_before", TZ, nullable=True),
        sa.Column("lock_token", sa.String(64), nullable=True),
        sa.Column("done_at", TZ, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.CheckConstraint("kind IN ('cleared', 'updated', 'note')", name="ck_alarm_events_kind"),
        sa.CheckConstraint("action IN ('none', 'note', 'resolve')", name="ck_alarm_events_action"),
        sa.CheckConstraint(
            "state IN ('pending', 'applied', 'skipped', 'refused', 'not_applicable')", name="ck_alarm_events_state"
        ),
    )
    op.create_index("ix_alarm_events_work", "alarm_events", ["instance", "state", "event_time", "id"])
    with op.batch_alter_table("failed_ticket_requests") as batch:
        batch.add_column(sa.Column("event_id", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("failed_ticket_requests") as batch:
        batch.drop_column("event_id")
    op.drop_index("ix_alarm_events_work", table_name="alarm_events")
    op.drop_table("alarm_events")
