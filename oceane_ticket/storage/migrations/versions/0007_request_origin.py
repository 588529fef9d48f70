"""Where a request comes from (an operator's click or a Correlation rule) and when its job was released.

``origin`` is ``operator`` (every existing row, and the default) or ``rule``. ``released_at`` is when
the request's job was first sent: the producer sets it for what it sends at once; a rule request held
by ``OCEANE_AUTO_TICKETS_PER_MINUTE`` keeps it NULL until the release task sends it (worker/release.py).
Two partial indexes serve the release: the waiting rule requests oldest first, and the rule requests
released within the last minute.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
# Spelled out rather than imported: a migration keeps what it meant when it was written.
HELD = "origin = 'rule' AND released_at IS NULL"
RULE = "origin = 'rule'"


def upgrade() -> None:
    """Add tickets.origin (existing rows: operator) and tickets.released_at, and the release's indexes."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="operator"))
        batch.add_column(sa.Column("released_at", TZ, nullable=True))
        batch.create_check_constraint("ck_tickets_origin", "origin IN ('operator', 'rule')")
    op.create_index(
        "ix_tickets_held",
        "tickets",
        ["created_at", "instance"],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )
    op.create_index(
        "ix_tickets_rule_released",
        "tickets",
        ["released_at"],
        postgresql_where=sa.text(RULE),
        sqlite_where=sa.text(RULE),
    )


def downgrade() -> None:
    """Drop them again (held rule requests become ordinary queued ones: the sweep sends them)."""
    op.drop_index("ix_tickets_rule_released", table_name="tickets")
    op.drop_index("ix_tickets_held", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("ck_tickets_origin", type_="check")
        batch.drop_column("released_at")
        batch.drop_column("origin")
