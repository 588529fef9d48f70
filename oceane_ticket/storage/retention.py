"""Retention: the connector's "Ticket Storage Duration Limit" and "Ticket Storage Count Limit".

celery beat runs :func:`cleanup` every ``OCEANE_CLEANUP_INTERVAL`` seconds (``oceane.cleanup``) and
``oceane-ticket cleanup`` runs it on demand. It keeps the newest ``OCEANE_TICKET_MAX_COUNT``
finished tickets created within ``OCEANE_TICKET_RETENTION_DAYS`` and deletes every other finished
one: those created before the cutoff are "expired", the rest "over the limit".

"Finished" is created or failed. Requests still queued or processing are never deleted, whatever
their age, and do not count toward the maximum: they are work in flight, not history, and a burst
of clicks must not push recorded tickets out (nor can it grow without bound: one open request per
alarm). So after a run at most ``max_count`` finished tickets remain, plus every open request.

"Newest" is by ``created_at`` (when the operator asked: the Tickets table's Created At), ties broken
by instance so the boundary is exact. Both limits draw one line in that order: the
``max_count``-th newest finished ticket, or the cutoff if that ticket is older. One ``DELETE`` removes
the finished tickets below the line (one pass over the table; two steps, one per limit, dirtied
every page twice). Partial index ``ix_tickets_finished_created_at`` (migration 0004) serves the line,
read backward ``max_count`` entries, and the counts, as index-only ranges.

Each ticket's ``failed_ticket_requests`` rows go with it: after the tickets' ``DELETE``, in the same
transaction, a second statement deletes the failures whose ticket no longer exists. That statement
sees the first one's deletes and today's tickets, so a ticket a concurrent ``retry`` re-queued (the
``DELETE`` re-checks each row and skips it) still exists and keeps its failures. Only the worker
writes failures, for a request it holds in processing, which retention never deletes: no failure can
be orphaned behind the cleanup's back. (Returning the deleted instances and joining the failures on
them, in one statement, cost more than the ``DELETE`` itself: every returned row stored and probed.)

Idempotent: a second run, or two beats by mistake, finds nothing more to delete.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from oceane_ticket.settings import Settings
from oceane_ticket.storage import clock, db
from oceane_ticket.storage.models import FAILURES, TICKETS, Status

log = logging.getLogger(__name__)

FINISHED = (Status.CREATED.value, Status.FAILED.value)
OPEN = (Status.QUEUED.value, Status.PROCESSING.value)
# The statuses as SQL literals, not bound parameters: the partial index's predicate must be provable
# from the query text, also in a cached generic plan. Our own constants, never input.
IS_FINISHED: sa.ColumnElement[bool] = TICKETS.c.status.in_([sa.literal_column(f"'{s}'") for s in FINISHED])
IS_OPEN: sa.ColumnElement[bool] = TICKETS.c.status.in_([sa.literal_column(f"'{s}'") for s in OPEN])


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

    ``kept`` and ``open_requests`` are counted before the delete, in the same transaction: a request a
    concurrent ``retry`` re-queues meanwhile is neither removed nor counted as open.
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
    moment = (now or clock.utcnow()).astimezone(UTC)
    cutoff = moment - timedelta(days=settings.ticket_retention_days)
    engine = db.get_engine(settings.database_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The failures' anti-join hashes the surviving tickets; JIT compiling costs more than
            # it saves on these few statements (tens of ms on a run with nothing to do).
            conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))
            conn.execute(sa.text("SET LOCAL jit = off"))
        below, at_or_above, binds = _line(conn, cutoff, settings.ticket_max_count)
        doomed = sa.and_(IS_FINISHED, below)
        # Counted before the delete, which clears the table pages' all-visible bits: index-only scans.
        # Only the over-the-limit side is counted (none when the maximum does not bind): in a large
        # cleanup the expired side is usually the larger one, and it is the rest of the delete.
        over_limit = _count(conn, TICKETS, sa.and_(doomed, TICKETS.c.created_at >= cutoff)) if binds else 0
        kept = _count(conn, TICKETS, sa.and_(IS_FINISHED, at_or_above))
        open_requests = _count(conn, TICKETS, IS_OPEN)
        if dry_run:
            expired = _count(conn, TICKETS, sa.and_(IS_FINISHED, TICKETS.c.created_at < cutoff))
            removed = expired + over_limit
            failed_requests = _count(conn, FAILURES, _failures_without_survivor(doomed)) if removed else 0
        else:
            removed = int(conn.execute(sa.delete(TICKETS).where(doomed)).rowcount)
            failed_requests = (
                int(conn.execute(sa.delete(FAILURES).where(_failures_without_survivor())).rowcount) if removed else 0
            )
            # A concurrent retry may have saved a ticket counted above.
            over_limit = min(over_limit, removed)
            expired = removed - over_limit
    result = CleanupResult(
        dry_run=dry_run,
        retention_days=settings.ticket_retention_days,
        max_count=settings.ticket_max_count,
        cutoff=cutoff,
        expired=expired,
        over_limit=over_limit,
        failed_requests=failed_requests,
        kept=kept,
        open_requests=open_requests,
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


def _line(
    conn: sa.Connection, cutoff: datetime, max_count: int
) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool], bool]:
    """``(below, at or above, the maximum binds)`` for the line under which a finished ticket goes.

    The line is the ``max_count``-th newest finished ticket's ``(created_at, instance)`` when it is
    within the retention days; when it is older (fewer than ``max_count`` recent ones) or missing,
    the cutoff alone. Both sides are spelled as plain ranges, so each is an index range.
    """
    boundary = _oldest_kept(conn, max_count)
    if boundary is None or boundary[0] < cutoff:
        return TICKETS.c.created_at < cutoff, TICKETS.c.created_at >= cutoff, False
    key = sa.tuple_(TICKETS.c.created_at, TICKETS.c.instance)
    line = sa.tuple_(
        sa.literal(boundary[0], TICKETS.c.created_at.type), sa.literal(boundary[1], TICKETS.c.instance.type)
    )
    return key < line, key >= line, True


def _oldest_kept(conn: sa.Connection, max_count: int) -> tuple[datetime, str] | None:
    """``(created_at, instance)`` of the ``max_count``-th newest finished ticket; None if fewer exist."""
    row = conn.execute(
        sa.select(TICKETS.c.created_at, TICKETS.c.instance)
        .where(IS_FINISHED)
        .order_by(TICKETS.c.created_at.desc(), TICKETS.c.instance.desc())
        .offset(max_count - 1)
        .limit(1)
    ).first()
    if row is None:
        return None
    created_at = clock.as_utc(row[0])
    assert created_at is not None
    # SQLite compares the stored text: bind the boundary in UTC, as it was written.
    return created_at.astimezone(UTC), str(row[1])


def _failures_without_survivor(doomed: sa.ColumnElement[bool] | None = None) -> sa.ColumnElement[bool]:
    """Failures whose ticket is gone (or, for a dry run, would be: ``doomed``)."""
    survivor = sa.select(TICKETS.c.instance).where(TICKETS.c.instance == FAILURES.c.instance)
    if doomed is not None:
        survivor = survivor.where(sa.not_(doomed))
    return ~sa.exists(survivor)


def _count(conn: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one())
