"""Retention: the connector's "Ticket Storage Duration Limit" and "Ticket Storage Count Limit".

celery beat runs :func:`cleanup` every ``OCEANE_CLEANUP_INTERVAL`` seconds (``oceane.cleanup``) and
``oceane-ticket cleanup`` runs it on demand. Two set-based steps, each one transaction:

1. delete finished tickets created before now - ``OCEANE_TICKET_RETENTION_DAYS``;
2. delete finished tickets older than the ``OCEANE_TICKET_MAX_COUNT``-th newest finished one.

"Finished" is created or failed. Requests still queued or processing are never deleted, whatever
their age, and do not count toward the maximum: they are work in flight, not history, and a burst
of clicks must not push recorded tickets out (nor can it grow without bound: one open request per
alarm). So after a run at most ``max_count`` finished tickets remain, plus every open request.

"Newest" is by ``created_at`` (when the operator asked: the Tickets table's Created At, indexed by
``ix_tickets_created_at``), ties broken by instance so the boundary is exact. Each ticket's
``failed_ticket_requests`` rows go with it. On PostgreSQL one statement deletes the tickets and
their failures (two data-modifying CTEs on one snapshot; there is no foreign key cascade since
migration 0003, which ran as a trigger per deleted ticket). On SQLite the failures are deleted
first, in the same transaction; SQLite's single writer makes the two statements see the same rows.

Both steps are idempotent: a second run, or two beats by mistake, finds nothing more to delete.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from oceane_ticket.settings import Settings
from oceane_ticket.storage import db, queries
from oceane_ticket.storage.models import FailedTicketRequest, Status, Ticket

log = logging.getLogger(__name__)

TICKETS: sa.Table = Ticket.__table__  # type: ignore[attr-defined]
FAILURES: sa.Table = FailedTicketRequest.__table__  # type: ignore[attr-defined]
FINISHED = (Status.CREATED.value, Status.FAILED.value)
OPEN = (Status.QUEUED.value, Status.PROCESSING.value)


@dataclass(frozen=True)
class CleanupResult:
    """What one cleanup removed (or, in a dry run, would remove) and what it left.

    Attributes:
        dry_run: nothing was deleted; the counts say what a real run would delete.
        retention_days: ``OCEANE_TICKET_RETENTION_DAYS`` used.
        max_count: ``OCEANE_TICKET_MAX_COUNT`` used.
        cutoff: finished tickets created before this moment are expired.
        expired: tickets removed for their age.
        over_limit: tickets removed because newer ones fill the maximum.
        failed_requests: failed ticket request rows removed with those tickets.
        kept: finished tickets left.
        open_requests: queued or processing requests left (never removed).
        seconds: how long the run took.
    """

    dry_run: bool
    retention_days: int
    max_count: int
    cutoff: datetime
    expired: int
    over_limit: int
    failed_requests: int
    kept: int
    open_requests: int
    seconds: float

    @property
    def removed(self) -> int:
        """Tickets removed, for age and for count."""
        return self.expired + self.over_limit

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the Celery task's result and ``cleanup --json``)."""
        return {
            "dry_run": self.dry_run,
            "retention_days": self.retention_days,
            "max_count": self.max_count,
            "cutoff": self.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expired": self.expired,
            "over_limit": self.over_limit,
            "removed": self.removed,
            "failed_requests": self.failed_requests,
            "kept": self.kept,
            "open_requests": self.open_requests,
            "seconds": round(self.seconds, 3),
        }


def cleanup(settings: Settings, *, dry_run: bool = False, now: datetime | None = None) -> CleanupResult:
    """Apply the storage limits once.

    Args:
        settings: supplies the database URL and the two limits.
        dry_run: count what would go, delete nothing.
        now: the reference time (tests); defaults to the current time.

    Returns:
        The counts of what was removed and kept.
    """
    started = time.perf_counter()
    moment = (now or queries.utcnow()).astimezone(UTC)
    cutoff = moment - timedelta(days=settings.ticket_retention_days)
    engine = db.get_engine(settings.database_url)
    finished = TICKETS.c.status.in_(FINISHED)
    expired_where = sa.and_(finished, TICKETS.c.created_at < cutoff)
    with engine.connect() as conn:
        # The boundary does not move when step 1 runs: step 1 only removes rows older than the
        # cutoff, and step 2 only ever touches rows at or after it.
        boundary = _oldest_kept(conn, settings.ticket_max_count)
    over_where: sa.ColumnElement[bool] = sa.false()
    if boundary is not None:
        over_where = sa.and_(finished, TICKETS.c.created_at >= cutoff, _older_than(*boundary))
    counts = [_count(engine, where) if dry_run else _delete(engine, where) for where in (expired_where, over_where)]
    with engine.connect() as conn:
        # Both counts in one pass over the table.
        kept, open_requests = conn.execute(
            sa.select(
                sa.func.count().filter(finished),
                sa.func.count().filter(TICKETS.c.status.in_(OPEN)),
            ).select_from(TICKETS)
        ).one()
    if dry_run:
        kept -= counts[0][0] + counts[1][0]
    result = CleanupResult(
        dry_run=dry_run,
        retention_days=settings.ticket_retention_days,
        max_count=settings.ticket_max_count,
        cutoff=cutoff,
        expired=counts[0][0],
        over_limit=counts[1][0],
        failed_requests=counts[0][1] + counts[1][1],
        kept=int(kept),
        open_requests=int(open_requests),
        seconds=time.perf_counter() - started,
    )
    if result.removed and not dry_run:
        log.info(
            "retention removed %d ticket(s) (%d older than %d days, %d beyond the newest %d) and %d failed "
            "ticket request(s) in %.2f s",
            result.removed,
            result.expired,
            result.retention_days,
            result.over_limit,
            result.max_count,
            result.failed_requests,
            result.seconds,
        )
    return result


def _oldest_kept(conn: sa.Connection, max_count: int) -> tuple[datetime, str] | None:
    """``(created_at, instance)`` of the ``max_count``-th newest finished ticket; None if fewer exist."""
    row = conn.execute(
        sa.select(TICKETS.c.created_at, TICKETS.c.instance)
        .where(TICKETS.c.status.in_(FINISHED))
        .order_by(TICKETS.c.created_at.desc(), TICKETS.c.instance.desc())
        .offset(max_count - 1)
        .limit(1)
    ).first()
    if row is None:
        return None
    created_at = queries.as_utc(row[0])
    assert created_at is not None
    # SQLite compares the stored text: bind the boundary in UTC, as it was written.
    return created_at.astimezone(UTC), str(row[1])


def _older_than(created_at: datetime, instance: str) -> sa.ColumnElement[bool]:
    """Strictly before ``(created_at, instance)`` in newest-first order."""
    return sa.or_(
        TICKETS.c.created_at < created_at,
        sa.and_(TICKETS.c.created_at == created_at, TICKETS.c.instance < instance),
    )


def _failures_of(where: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return FAILURES.c.instance.in_(sa.select(TICKETS.c.instance).where(where))


def _count(engine: sa.Engine, where: sa.ColumnElement[bool]) -> tuple[int, int]:
    """``(tickets, failures)`` a delete of ``where`` would remove."""
    with engine.connect() as conn:
        return _count_on(conn, where)


def _count_on(conn: sa.Connection, where: sa.ColumnElement[bool]) -> tuple[int, int]:
    tickets = conn.execute(sa.select(sa.func.count()).select_from(TICKETS).where(where)).scalar_one()
    failures = conn.execute(sa.select(sa.func.count()).select_from(FAILURES).where(_failures_of(where))).scalar_one()
    return int(tickets), int(failures)


def _delete(engine: sa.Engine, where: sa.ColumnElement[bool]) -> tuple[int, int]:
    """Delete the tickets matching ``where`` and their failures, in one transaction."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # One statement, two data-modifying CTEs on one snapshot: the tickets go, and their
            # failures with them, set-based (no per-row cascade trigger: migration 0003). A ticket
            # another transaction changed meanwhile (a retry re-queued it) is re-checked by the
            # DELETE itself and skipped, and so are its failures, which are chosen from what the
            # tickets' DELETE returned.
            # DELETE ... USING gone: a hash join. ``IN (SELECT ...)`` was planned as one index probe
            # per removed ticket, and at the default work_mem the hash spilled to disk: together
            # three times the tickets' own delete (EXPLAIN ANALYZE, bench/retention.py).
            conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))
            gone = sa.delete(TICKETS).where(where).returning(TICKETS.c.instance).cte("gone")
            failures = (
                sa.delete(FAILURES)
                .where(FAILURES.c.instance == gone.c.instance)
                .returning(FAILURES.c.id)
                .cte("failures_gone")
            )
            row = conn.execute(
                sa.select(
                    sa.select(sa.func.count()).select_from(gone).scalar_subquery(),
                    sa.select(sa.func.count()).select_from(failures).scalar_subquery(),
                )
            ).one()
            return int(row[0]), int(row[1])
        failures_n = conn.execute(sa.delete(FAILURES).where(_failures_of(where))).rowcount
        tickets = conn.execute(sa.delete(TICKETS).where(where)).rowcount
        return int(tickets), int(failures_n)
