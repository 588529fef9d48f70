"""DataMiner integration: alarm write-back state, Oceane's ticket status, per-user Oceane IDs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the write-back and status columns, and the user mapping table."""
    with op.batch_alter_table("tickets") as batch:  # batch: SQLite cannot ALTER a constraint in place
        batch.add_column(sa.Column("writeback_state", sa.String(16), nullable=False, server_default="none"))
        batch.add_column(sa.Column("writeback_attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("writeback_error", sa.Text, nullable=True))
        batch.add_column(sa.Column("writeback_at", TZ, nullable=True))
        batch.add_column(sa.Column("oceane_status", sa.String(64), nullable=True))
        batch.add_column(sa.Column("oceane_status_checked_at", TZ, nullable=True))
        batch.create_check_constraint(
            "ck_tickets_writeback_state", "writeback_state IN ('none', 'pending', 'done', 'failed')"
        )
        batch.create_index("ix_tickets_status_checked", ["status", "oceane_status_checked_at"])
    op.create_table(
        "oceane_users",
        sa.Column("dataminer_user", sa.String(255), primary_key=True),
        sa.Column("oceane_user_id", sa.String(255), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("oceane_users")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_status_checked")
        batch.drop_constraint("ck_tickets_writeback_state", type_="check")
        for column in (
            "oceane_status_checked_at",
            "oceane_status",
            "writeback_at",
            "writeback_error",
            "writeback_attempts",
            "writeback_state",
        ):
            batch.drop_column(column)
