"""Retention on a million rows in PostgreSQL, as ratios to floors measured in the same run.

Load (server side, generate_series): ``--rows`` tickets (default 1,000,000), 60 % older than
90 days, 40 % within them, 1 % of all still queued or processing (never removed), every fifth
finished one failed with one failed_ticket_requests row. The cleanup then removes everything but
the newest 1000 finished tickets and the open requests: about 989,000 tickets and 200,000 failures.

Floors, on the same data and the same server, each after a CHECKPOINT like the cleanup:

* ``count``: ``SELECT count(*) FROM tickets``, one sequential read of the table;
* ``delete``: a plain ``DELETE`` of as many rows from ``scratch``, a copy of ``tickets`` with no
  index, no foreign key and no cascade: the cost of deleting that many rows at all.

The cleanup deletes the failures too (about 20 % more rows than the floor): one DELETE of the
tickets, then one of the failures whose ticket is gone (an anti-join on the surviving tickets, a
second read of the table), and index-only counts on ``ix_tickets_finished_created_at`` (migration
0004) before them. Until migration 0003 a foreign key's ON DELETE CASCADE ran as a trigger per
deleted ticket, about half the time.

"cleanup again" runs right after, on a table of 989,000 dead rows that nothing has vacuumed (the
benchmark's server runs with autovacuum off): the first statement to read them sets their hint bits
and prunes their pages, whichever statement it is. After a VACUUM, the same run is a few index
probes.
"""

from __future__ import annotations

import time
import uuid

import psycopg

from bench.common import ADMIN, Row, make_settings
from oceane_ticket.storage import db, retention

LOAD_TICKETS = """
INSERT INTO tickets (instance, ticket_id, alarm_id, dma_id, element_id, element_name, created_at, priority,
                     urgency, technical_impact, client_impact, root_cause, status, ticket_url, "user",
                     oceane_user_id, alarm_value, root_time, updated_at, ticket_created_at, attempts,
                     retries_used, adopted)
SELECT lpad(to_hex(g), 32, '0'),
       CASE WHEN mod(g, 100) = 0 THEN NULL ELSE 'TT' || g END,
       g, 12, 345, 'Encoder ' || mod(g, 500),
       now() - make_interval(secs => CASE WHEN mod(g, 10) < 6 THEN 91 * 86400 + mod(g, 23000000)
                                          ELSE mod(g, 7700000) END),
       '2', 'Major', 'Major', 'Minor', 'LOS on input ' || g || ' since the root time of the alarm',
       CASE WHEN mod(g, 100) = 0 THEN (CASE WHEN mod(g, 200) = 0 THEN 'queued' ELSE 'processing' END)
            WHEN mod(g, 5) = 3 THEN 'failed' ELSE 'created' END,
       'http://oceane.example/ticket/TT' || g, 'operator', 'U1', 'LOS', now(), now(), now(), 1, 0, false
FROM generate_series(1, %(rows)s) AS g
"""
LOAD_FAILURES = """
INSERT INTO failed_ticket_requests (instance, http_error_code, app_error_code, error_message, error_description,
                                    failed_at, attempt, final)
SELECT instance, 400, 24, 'Invalid body field', 'priority is not valid', now(), 1, true
FROM tickets WHERE status = 'failed'
"""


def timed(conn: psycopg.Connection, sql: str, runs: int = 1) -> float:
    best = float("inf")
    for _ in range(runs):
        conn.execute("CHECKPOINT")
        start = time.perf_counter()
        conn.execute(sql)
        best = min(best, time.perf_counter() - start)
    return best


def run(size: str) -> list[Row]:
    """Row 7: the cleanup against a plain DELETE of as many rows from an unindexed copy."""
    rows = 1_000_000 if size == "full" else 5_000
    admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    name = f"oceane_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    try:
        db.upgrade(url)
        with psycopg.connect(url, autocommit=True) as conn:
            start = time.perf_counter()
            conn.execute(LOAD_TICKETS, {"rows": rows})
            conn.execute(LOAD_FAILURES)
            conn.execute("CREATE TABLE scratch AS SELECT row_number() OVER () AS n, t.* FROM tickets t")
            conn.execute("VACUUM ANALYZE")
            load = time.perf_counter() - start
            failures = conn.execute("SELECT count(*) FROM failed_ticket_requests").fetchone()[0]  # type: ignore[index]

            count_floor = timed(conn, "SELECT count(*) FROM tickets", runs=3)
            settings = make_settings(database_url=url)
            dry = retention.cleanup(settings, dry_run=True)
            conn.execute("CHECKPOINT")
            real = retention.cleanup(settings)
            assert (real.removed, real.failed_requests) == (dry.removed, dry.failed_requests)
            second = retention.cleanup(settings)
            assert second.removed == 0, "a second run must remove nothing"
            delete_floor = timed(conn, f"DELETE FROM scratch WHERE n <= {real.removed}")
            left = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]  # type: ignore[index]
    finally:
        db.dispose_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    what = (
        f"loaded {rows:,} tickets and {failures:,} failures in {load:.1f} s; removed {real.removed:,} tickets "
        f"({real.expired:,} expired, {real.over_limit:,} over the limit) and {real.failed_requests:,} failures; "
        f"kept {real.kept:,} + {real.open_requests:,} open ({left:,} rows)"
    )
    return [
        Row(
            "7",
            f"retention: cleanup of {rows:,} tickets",
            real.seconds,
            "s",
            floor=delete_floor,
            target=2.0,
            note=f"floor = plain DELETE of {real.removed:,} rows from an unindexed copy without foreign keys; {what}",
        ).judge(),
        Row("7", "retention: cleanup --dry-run (counts)", dry.seconds, "s", floor=delete_floor).judge(),
        Row(
            "7",
            "retention: cleanup again (nothing to do)",
            second.seconds,
            "s",
            floor=count_floor,
            note="floor = SELECT count(*) FROM tickets",
        ).judge(),
    ]
