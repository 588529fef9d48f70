"""Retention against the real PostgreSQL: one beat run applies the connector's 90 days / 1000 tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from oceane_ticket.storage import db, retention
from tests.conftest import make_settings
from tests.rows import failure_row, ticket_row

TICKETS = retention.TICKETS
FAILURES = retention.FAILURES


def snapshot(url: str, where: Any = None) -> dict[str, tuple[Any, ...]]:
    query = sa.select(TICKETS) if where is None else sa.select(TICKETS).where(where)
    with db.get_engine(url).connect() as conn:
        return {r[0]: tuple(r) for r in conn.execute(query).all()}


@pytest.fixture
def populated(clean_pg: str) -> dict[str, Any]:
    """Tickets older than 90 days, 1300 recent finished ones, open requests old and new, failures."""
    now = datetime.now(UTC)
    old = [
        ticket_row(n, now - timedelta(days=91 + n % 200, minutes=n), "failed" if n % 4 == 0 else "created")
        for n in range(1, 401)
    ]
    # Recent ones a minute apart, newest first by n: the newest 1000 are n = 1301 .. 2300.
    recent = [
        ticket_row(n, now - timedelta(minutes=3 * (2300 - n)), "failed" if n % 5 == 0 else "created")
        for n in range(1001, 2301)
    ]
    open_requests = [
        ticket_row(5001, now - timedelta(days=200), "queued"),
        ticket_row(5002, now - timedelta(days=95), "processing"),
        ticket_row(5003, now - timedelta(days=10), "queued"),
        ticket_row(5004, now - timedelta(seconds=5), "queued"),
    ]
    failures = [failure_row(n, now, http=503, code=5, final=False) for n in (4, 8, 1005, 1300, 1301, 2300, 5001, 5003)]
    with db.get_engine(clean_pg).begin() as conn:
        conn.execute(sa.insert(TICKETS), old + recent + open_requests)
        conn.execute(sa.insert(FAILURES), failures)
    newest = sorted(recent, key=lambda r: r["created_at"], reverse=True)[:1000]
    return {"url": clean_pg, "keep": {r["instance"] for r in newest}, "open": {r["instance"] for r in open_requests}}


def test_one_beat_run_leaves_the_newest_1000_within_90_days_and_no_open_request_touched(
    populated: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import tasks

    url = populated["url"]
    monkeypatch.setattr(tasks, "settings", make_settings(database_url=url))  # 90 days, 1000 tickets: defaults
    open_before = snapshot(url, TICKETS.c.status.in_(retention.OPEN))

    result = tasks.cleanup_task()  # what beat's tick runs in the worker

    left = snapshot(url)
    assert set(left) - populated["open"] == populated["keep"]
    assert snapshot(url, TICKETS.c.status.in_(retention.OPEN)) == open_before  # not a column changed
    assert set(open_before) == populated["open"]
    assert result["expired"] == 400 and result["over_limit"] == 300 and result["kept"] == 1000
    assert result["open_requests"] == 4
    # Failures of removed tickets went with them (4, 8 old; 1005, 1300 beyond the newest 1000).
    with db.get_engine(url).connect() as conn:
        failed_of = sorted(conn.execute(sa.select(FAILURES.c.instance)).scalars())
    assert failed_of == sorted(f"{n:032x}" for n in (1301, 2300, 5001, 5003))
    assert result["failed_requests"] == 4

    second = tasks.cleanup_task()
    assert second["removed"] == 0 and second["failed_requests"] == 0 and second["kept"] == 1000
    assert snapshot(url) == left


def test_dry_run_on_postgres_predicts_the_real_run(populated: dict[str, Any]) -> None:
    s = make_settings(database_url=populated["url"])
    dry = retention.cleanup(s, dry_run=True).as_dict()
    assert len(snapshot(populated["url"])) == 1704
    real = retention.cleanup(s).as_dict()
    for key in ("expired", "over_limit", "failed_requests", "kept", "open_requests", "removed"):
        assert dry[key] == real[key], key


def test_a_ticket_retried_while_the_cleanup_deletes_keeps_its_failures(clean_pg: str) -> None:
    # The operator's `retry` re-queues an expired failed ticket while the cleanup's DELETE is under
    # way: the DELETE waits for the row, re-checks it (no longer finished) and skips it, and the
    # failures are deleted only for tickets that no longer exist, so this one keeps its history.
    import threading
    import time

    now = datetime.now(UTC)
    old = now - timedelta(days=200)
    retried, other = f"{1:032x}", f"{2:032x}"
    with db.get_engine(clean_pg).begin() as conn:
        conn.execute(sa.insert(TICKETS), [ticket_row(1, old, "failed"), ticket_row(2, old, "failed")])
        conn.execute(sa.insert(FAILURES), [failure_row(1, old), failure_row(1, old), failure_row(2, old)])
    s = make_settings(database_url=clean_pg)
    results: list[Any] = []

    with db.get_engine(clean_pg).connect() as retry:
        # What requeue_failed does, held open so that the cleanup meets the row lock.
        retry.execute(
            sa.update(TICKETS)
            .where(TICKETS.c.instance == retried, TICKETS.c.status == "failed")
            .values(status="queued", retries_used=0)
        )
        runner = threading.Thread(target=lambda: results.append(retention.cleanup(s)))
        runner.start()
        deadline = time.monotonic() + 20
        with db.get_engine(clean_pg).connect() as watch:
            while not _waits_on_a_lock(watch, "DELETE FROM tickets"):
                assert time.monotonic() < deadline, "the cleanup never waited for the retried row"
                time.sleep(0.05)
        retry.commit()
        runner.join(20)
    assert not runner.is_alive() and results

    result = results[0]
    assert (result.removed, result.failed_requests) == (1, 1)
    assert snapshot(clean_pg)[retried][TICKETS.c.keys().index("status")] == "queued"
    assert other not in snapshot(clean_pg)
    with db.get_engine(clean_pg).connect() as conn:
        assert sorted(conn.execute(sa.select(FAILURES.c.instance)).scalars()) == [retried, retried]


def _waits_on_a_lock(conn: sa.Connection, statement: str) -> bool:
    """Whether a backend of this database is waiting for a lock while running ``statement...``."""
    waiting = conn.execute(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND starts_with(query, :statement)"
        ),
        {"statement": statement},
    ).scalar_one()
    conn.rollback()  # pg_stat_activity is read once per transaction
    return bool(waiting)


@pytest.fixture
def fresh_pg(pg_url: str) -> Any:
    """A database of its own for this test (migrated step by step), dropped afterwards."""
    import uuid

    import psycopg

    from tests.conftest import PG_ADMIN_URL

    name = f"oceane_test_mig_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        db.dispose_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_migration_0004_upgrades_and_downgrades_a_database_with_tickets(fresh_pg: str) -> None:
    from alembic import command
    from alembic.config import Config

    now = datetime.now(UTC)
    db.upgrade(fresh_pg, "0003")
    with db.get_engine(fresh_pg).begin() as conn:
        conn.execute(sa.insert(TICKETS), [ticket_row(1, now - timedelta(days=200)), ticket_row(2, now, "queued")])
        # Through the table as 0003 had it (app_error_code an integer; the model's is text since 0005).
        failures_0003 = sa.Table("failed_ticket_requests", sa.MetaData(), autoload_with=conn)
        conn.execute(sa.insert(failures_0003), [failure_row(1, now) | {"app_error_code": 1}])

    db.upgrade(fresh_pg)

    with db.get_engine(fresh_pg).connect() as conn:
        indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("tickets")}
        assert indexes["ix_tickets_finished_created_at"]["column_names"] == ["created_at", "instance"]
        # Partial: open requests are not in it.
        assert "status" in str(indexes["ix_tickets_finished_created_at"]["dialect_options"]["postgresql_where"])
    result = retention.cleanup(make_settings(database_url=fresh_pg))
    assert (result.removed, result.failed_requests, result.open_requests) == (1, 1, 1)

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.sqlalchemy_url(fresh_pg))
    command.downgrade(cfg, "0003")
    with db.get_engine(fresh_pg).connect() as conn:
        assert "ix_tickets_finished_created_at" not in {i["name"] for i in sa.inspect(conn).get_indexes("tickets")}
    db.upgrade(fresh_pg)
