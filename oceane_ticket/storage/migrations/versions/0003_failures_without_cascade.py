"""Failed ticket requests without a foreign key: retention deletes them itself, set-based.

PostgreSQL runs a foreign key's ON DELETE CASCADE as a trigger per deleted ticket: on a cleanup of
about a million tickets, that was half the time (bench/retention.py). Retention now deletes a
ticket's failures in the same statement as the ticket (storage/retention.py), and the only writer
of failures (the worker, fenced on a processing row, which retention never deletes) cannot orphan
one. The index on ``instance`` stays: reports and retention join on it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# 0001 declared the foreign key without a name: PostgreSQL named it by its own convention, and
# SQLite's batch mode names the reflected one by this convention so that it can be dropped.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    """Drop the foreign key from failed_ticket_requests.instance to tickets.instance."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("failed_ticket_requests_instance_fkey", "failed_ticket_requests", type_="foreignkey")
        return
    with op.batch_alter_table("failed_ticket_requests", naming_convention=NAMING) as batch:
        batch.drop_constraint("fk_failed_ticket_requests_instance_tickets", type_="foreignkey")


def downgrade() -> None:
    """Restore the foreign key (existing orphans must be deleted first)."""
    op.execute("DELETE FROM failed_ticket_requests WHERE instance NOT IN (SELECT instance FROM tickets)")
    with op.batch_alter_table("failed_ticket_requests") as batch:
        batch.create_foreign_key(
            "failed_ticket_requests_instance_fkey", "tickets", ["instance"], ["instance"], ondelete="CASCADE"
        )
