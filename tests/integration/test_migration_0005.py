"""Migration 0005: the App Error Code becomes text, keeping what the server said, on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from oceane_ticket.storage import db
from tests.rows import failure_row, ticket_row


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tickets.db'}"
        return
    import psycopg

    from tests.conftest import PG_ADMIN_URL

    pg_url: str = request.getfixturevalue("pg_url")
    name = f"oceane_test_mig5_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        db.dispose_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def codes(url: str) -> list[object]:
    with db.get_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT app_error_code FROM failed_ticket_requests ORDER BY id"))
        return [r[0] for r in rows]


def test_codes_become_text_and_back(database: str) -> None:
    from alembic import command
    from alembic.config import Config

    now = datetime.now(UTC)
    db.upgrade(database, "0004")
    with db.get_engine(database).begin() as conn:
        conn.execute(sa.insert(sa.Table("tickets", sa.MetaData(), autoload_with=conn)), [ticket_row(1, now)])
        failures = sa.Table("failed_ticket_requests", sa.MetaData(), autoload_with=conn)
        conn.execute(sa.insert(failures), [failure_row(1, now) | {"app_error_code": c} for c in (0, 42)])

    db.upgrade(database)
    assert codes(database) == ["", "42"]  # 0 meant "none": now said as nothing
    with db.get_engine(database).begin() as conn:
        failures = sa.Table("failed_ticket_requests", sa.MetaData(), autoload_with=conn)
        conn.execute(sa.insert(failures), [failure_row(1, now) | {"app_error_code": "ERR401"}])
    assert codes(database) == ["", "42", "ERR401"]

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.sqlalchemy_url(database))
    command.downgrade(cfg, "0004")
    assert codes(database) == [0, 42, 0]  # a TMF code has no integer form
