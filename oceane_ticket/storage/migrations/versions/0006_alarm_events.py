"""Alarm events, the update failures' event id, and a closed ticket no longer holding its alarm.

Alarm events (clear, change, note) are recorded for a ticket. The one-open-per-alarm index now
also skips tickets Oceane reported resolved, closed, cancelled or rejected, so a new Create Ticket
on the alarm makes a new ticket.

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
# Spelled out rather than imported: a migration keeps what it meant when it was written.
OPEN_BEFORE = "status <> 'failed'"
OPEN_NOW = (
    "status <> 'failed' AND (oceane_status IS NULL OR lower(oceane_status) NOT IN "
    "('cancelled', 'closed', 'rejected', 'resolved'))"
)


def _one_open_per_alarm(predicate: str) -> None:
    op.drop_index("uq_tickets_open_alarm", table_name="tickets")
    op.create_index(
        "uq_tickets_open_alarm",
        "tickets",
        ["dma_id", "element_id", "alarm_id"],
        unique=True,
        postgresql_where=sa.text(predicate),
        sqlite_where=sa.text(predicate),
    )


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
    _one_open_per_alarm(OPEN_NOW)


def downgrade() -> None:
    """Drop them again (fails if an alarm has a closed and an open ticket: the old index cannot hold both)."""
    _one_open_per_alarm(OPEN_BEFORE)
    with op.batch_alter_table("failed_ticket_requests") as batch:
        batch.drop_column("event_id")
    op.drop_index("ix_alarm_events_work", table_name="alarm_events")
    op.drop_table("alarm_events")
