"""Failed ticket requests: the App Error Code as text, as the server sent it.

Orange's errors carry a numeric ``code``; TMF621's ``Error`` (v4 and v5) a string one ("ERR401"),
which an integer column turned into 0. The column keeps what the server said; "" where it said
nothing (the old 0).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """app_error_code INTEGER -> TEXT, 0 -> ''."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE failed_ticket_requests ALTER COLUMN app_error_code TYPE text "
            "USING CASE WHEN app_error_code = 0 THEN '' ELSE app_error_code::text END"
        )
        return
    with op.batch_alter_table("failed_ticket_requests") as batch:
        batch.alter_column("app_error_code", type_=sa.Text, existing_nullable=False)
    op.execute("UPDATE failed_ticket_requests SET app_error_code = '' WHERE app_error_code IN ('0', 0)")


def downgrade() -> None:
    """Back to INTEGER: numeric codes kept, any other text (a TMF code) becomes 0."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE failed_ticket_requests ALTER COLUMN app_error_code TYPE integer "
            "USING CASE WHEN app_error_code ~ '^[0-9]{1,9}$' THEN app_error_code::integer ELSE 0 END"
        )
        return
    op.execute(
        "UPDATE failed_ticket_requests SET app_error_code = '0' "
        "WHERE app_error_code = '' OR app_error_code GLOB '*[^0-9]*' OR length(app_error_code) > 9"
    )
    with op.batch_alter_table("failed_ticket_requests") as batch:
        batch.alter_column("app_error_code", type_=sa.Integer, existing_nullable=False)
