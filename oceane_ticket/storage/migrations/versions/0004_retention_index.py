"""An index for retention: finished tickets in (created_at, instance) order.

Retention keeps the newest ``OCEANE_TICKET_MAX_COUNT`` finished tickets created within
``OCEANE_TICKET_RETENTION_DAYS``: its boundary is the N-th newest finished ticket by
``(created_at, instance)``, and it counts and deletes the finished tickets below it. On
``ix_tickets_created_at`` alone the boundary query sorted each run of equal ``created_at`` by
instance and, to close the last run, read on past the boundary: right after a large cleanup, through
every dead entry of the index and every open request (0.56 s on the benchmark's million rows, for
1000 tickets). This index holds the full order, so the boundary is N entries read backward, and the
counts are index-only scans of a range. Partial: queued and processing requests, which retention
never deletes nor counts, are not in it, and a new request costs no entry until it is finished.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FINISHED = sa.text("status IN ('created', 'failed')")


def upgrade() -> None:
    """Create ix_tickets_finished_created_at."""
    op.create_index(
        "ix_tickets_finished_created_at",
        "tickets",
        ["created_at", "instance"],
        postgresql_where=FINISHED,
        sqlite_where=FINISHED,
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_tickets_finished_created_at", table_name="tickets")
