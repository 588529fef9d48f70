"""Migration 0007: every existing request is an operator's and none is held, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.storage import db, holds
from tests.integration.test_migration_0005 import database  # noqa: F401 - the fixture is used by name
from tests.rows import ticket_row


def test_existing_rows_become_operator_requests_and_nothing_is_held(database: str) -> None:  # noqa: F811
    from alembic import command
    from alembic.config import Config

    now = datetime.now(UTC)
    db.upgrade(database, "0006")
    with db.get_engine(database).begin() as conn:
        tickets = sa.Table("tickets", sa.MetaData(), autoload_with=conn)
        conn.execute(sa.insert(tickets), [ticket_row(1, now, "queued"), ticket_row(2, now)])

    db.upgrade(database)
    with db.get_engine(database).connect() as conn:
        rows = conn.execute(sa.text("SELECT origin, released_at FROM tickets ORDER BY instance")).all()
    assert [tuple(r) for r in rows] == [("operator", None), ("operator", None)]
    with Session(db.get_engine(database)) as session:
        assert holds.waiting(session) == 0
        assert holds.release(session, now, 5, 100) == []  # an old queued request is not the cap's

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.sqlalchemy_url(database))
    db.dispose_all()
    command.downgrade(cfg, "0006")
    with db.get_engine(database).connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("tickets")}
    assert "origin" not in columns and "released_at" not in columns
