"""Tickets and failed ticket requests, as in the connector.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create both tables and their indexes."""
    op.create_table(
        "tickets",
        sa.Column("instance", sa.String(32), primary_key=True),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("alarm_id", sa.BigInteger, nullable=False),
        sa.Column("dma_id", sa.BigInteger, nullable=False),
        sa.Column("element_id", sa.BigInteger, nullable=False),
        sa.Column("element_name", sa.String(500), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("priority", sa.String(64), nullable=False),
        sa.Column("urgency", sa.String(64), nullable=False),
        sa.Column("technical_impact", sa.String(64), nullable=False),
        sa.Column("client_impact", sa.String(64), nullable=True),
        sa.Column("root_cause", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ticket_url", sa.String(1000), nullable=True),
        sa.Column("user", sa.String(255), nullable=True),
        sa.Column("oceane_user_id", sa.String(255), nullable=False),
        sa.Column("alarm_value", sa.Text, nullable=True),
        sa.Column("root_time", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("ticket_created_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retries_used", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", TZ, nullable=True),
        sa.Column("lock_token", sa.String(64), nullable=True),
        sa.Column("adopted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("error", sa.Text, nullable=True),
        sa.CheckConstraint("status IN ('queued', 'processing', 'created', 'failed')", name="ck_tickets_status"),
    )
    op.create_index("ix_tickets_ticket_id", "tickets", ["ticket_id"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_status_updated_at", "tickets", ["status", "updated_at"])
    # One alarm, one open request, enforced by the database (partial unique index).
    op.create_index(
        "uq_tickets_open_alarm",
        "tickets",
        ["dma_id", "element_id", "alarm_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'failed'"),
        sqlite_where=sa.text("status <> 'failed'"),
    )
    op.create_table(
        "failed_ticket_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instance", sa.String(32), sa.ForeignKey("tickets.instance", ondelete="CASCADE"), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("http_error_code", sa.Integer, nullable=False),
        sa.Column("app_error_code", sa.Integer, nullable=False),
        sa.Column("error_message", sa.Text, nullable=False),
        sa.Column("error_description", sa.Text, nullable=False),
        sa.Column("failed_at", TZ, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_failed_ticket_requests_instance", "failed_ticket_requests", ["instance"])
    op.create_index("ix_failed_ticket_requests_failed_at", "failed_ticket_requests", ["failed_at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("failed_ticket_requests")
    op.drop_table("tickets")
