"""The request's state machine in the database: claim, the lock-token fence, outcome, failure, requeue.

State changes are single conditional UPDATEs: ``claim`` only takes a request that is still open,
and every write after it is fenced on the lock token the claim stored, so a worker that lost
its lock (it stalled past the lock's TTL and another worker took over) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.statuses import PENDING_STATUSES, Origin, WritebackState
from oceane_ticket.storage.holds import NOT_HELD
from oceane_ticket.storage.models import FAILURES, TICKETS, Status, Ticket, ticket_from

# The worker's per-ticket statements: prebuilt Core statements (why: storage/__init__.py, bench row 4).
_T = TICKETS
_DUE = sa.or_(_T.c.not_before.is_(None), _T.c.not_before <= sa.bindparam("due"))

# NOT_HELD: a rule request the cap holds is never claimed, whatever job arrives for it (storage/holds.py).
_CLAIM = (
    sa.update(_T)
    .where(_T.c.instance == sa.bindparam("key"), _T.c.status.in_([s.value for s in PENDING_STATUSES]), _DUE, NOT_HELD)
    .values(status=Status.PROCESSING.value, lock_token=sa.bindparam("token"), updated_at=sa.bindparam("now"))
    .returning(*_T.c)
)

_CLAIM_FIRST = (
    sa.update(_T)
    .where(_T.c.instance == sa.bindparam("key"), _T.c.status == Status.QUEUED.value, _T.c.attempts == 0, _DUE, NOT_HELD)
    .values(
        status=Status.PROCESSING.value, lock_token=sa.bindparam("token"), attempts=1, updated_at=sa.bindparam("now")
    )
    .returning(*_T.c)
)

_UNCLAIM_FIRST = (
    sa.update(_T)
    .where(
        _T.c.instance == sa.bindparam("key"),
        _T.c.lock_token == sa.bindparam("token"),
        _T.c.status == Status.PROCESSING.value,
        _T.c.attempts == 1,
    )
    .values(status=Status.QUEUED.value, lock_token=None, attempts=0, updated_at=sa.bindparam("now"))
)

# A claim given back without anything sent (worker.processing: the global lock stayed busy): the row
# no longer names this holder, and one never sent is queued again so that its next run takes the
# one-statement first claim. Attempts are left as they are: none was counted by this claim.
_RELEASE_CLAIM = (
    sa.update(_T)
    .where(
        _T.c.instance == sa.bindparam("key"),
        _T.c.lock_token == sa.bindparam("token"),
        _T.c.status == Status.PROCESSING.value,
    )
    .values(
        status=sa.case((_T.c.attempts == 0, Status.QUEUED.value), else_=_T.c.status),
        lock_token=None,
        updated_at=sa.bindparam("now"),
    )
)

# The fence of every write after the claim: the row is still processing under this holder's token,
# so a worker that outlived its lock (another claimed the request since) changes nothing.
_FENCE = sa.and_(
    _T.c.instance == sa.bindparam("key"),
    _T.c.lock_token == sa.bindparam("token"),
    _T.c.status == Status.PROCESSING.value,
)

_OWNS = sa.select(_T.c.attempts).where(_FENCE)

_ALARM_OF = sa.select(_T.c.dma_id, _T.c.element_id, _T.c.alarm_id).where(_T.c.instance == sa.bindparam("key"))


def _due(now: datetime) -> datetime:
    return now + timedelta(seconds=1)


def claim(session: Session, instance: str, lock_token: str, now: datetime) -> Ticket | None:
    """Mark a queued (or interrupted) request as processing by this lock holder.

    Returns None when the request is finished, gone, or not due yet (``not_before``).
    """
    # UPDATE ... RETURNING: the claimed row comes back with the claim, in one round trip.
    row = (
        session.connection()
        .execute(_CLAIM, {"key": instance, "token": lock_token, "now": now, "due": _due(now)})
        .first()
    )
    # Commit at once: the caller goes on to call Oceane, and a connection idle in transaction for
    # that long holds a lock on the table (blocking TRUNCATE and migrations) and is killed by an
    # idle_in_transaction_session_timeout mid-call.
    session.commit()
    return ticket_from(row)


def claim_first_attempt(session: Session, instance: str, lock_token: str, now: datetime) -> Ticket | None:
    """:func:`claim` and :func:`count_attempt` in one statement, for a request never sent to Oceane.

    Only a queued request with ``attempts = 0`` matches: no create can have reached Oceane, so
    there is nothing to look up first and the next step is the create call, whose attempt is
    counted here (committed before the call, as count_attempt would). Anything else (a retry, an
    interrupted request) returns None and takes the two-step path. One round trip and one commit
    instead of two of each: per ticket, the commits' WAL flushes are most of the database's cost.

    Only one caller can win it (queued -> processing), so the worker runs it before taking the
    processing lock and the commit's flush is not paid inside the lock (worker.processing).
    """
    row = (
        session.connection()
        .execute(_CLAIM_FIRST, {"key": instance, "token": lock_token, "now": now, "due": _due(now)})
        .first()
    )
    session.commit()
    return ticket_from(row)


def unclaim_first_attempt(session: Session, instance: str, lock_token: str, now: datetime) -> bool:
    """Undo :func:`claim_first_attempt` when the create was never sent (the lock stayed busy).

    The request is queued with no attempt again, so its next run creates without a lookup first.
    False if the claim is no longer ours (then nothing changes).
    """
    result = session.connection().execute(_UNCLAIM_FIRST, {"key": instance, "token": lock_token, "now": now})
    session.commit()
    return bool(result.rowcount == 1)


def release_claim(session: Session, instance: str, lock_token: str, now: datetime) -> bool:
    """Undo :func:`claim` when nothing was sent nor counted (the global lock stayed busy).

    The row keeps its attempts and retries; it stops naming this holder, and a request never sent
    is queued again. False if the claim is no longer ours (then nothing changes).
    """
    result = session.connection().execute(_RELEASE_CLAIM, {"key": instance, "token": lock_token, "now": now})
    session.commit()
    return bool(result.rowcount == 1)


def owns(session: Session, instance: str, lock_token: str) -> bool:
    """Whether the request is still processing under ``lock_token`` (nobody re-claimed it)."""
    row = session.connection().execute(_OWNS, {"key": instance, "token": lock_token}).first()
    session.commit()  # ends the read transaction before the caller calls Oceane
    return row is not None


def alarm_of(session: Session, instance: str) -> tuple[int, int, int] | None:
    """``(dma_id, element_id, alarm_id)`` of a request (never changes), or None if it is gone."""
    row = session.connection().execute(_ALARM_OF, {"key": instance}).first()
    session.commit()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


_CREATED_VALUES: dict[str, Any] = {
    "status": Status.CREATED.value,
    "ticket_id": sa.bindparam("ticket_id"),
    "ticket_url": sa.bindparam("ticket_url"),
    "ticket_created_at": sa.bindparam("ticket_created_at"),
    "adopted": sa.bindparam("adopted"),
    "updated_at": sa.bindparam("now"),
    "error": None,
    "not_before": None,
    "lock_token": None,
}
_MARK_CREATED = sa.update(_T).where(_FENCE).values(**_CREATED_VALUES)
_MARK_CREATED_WRITEBACK = (
    sa.update(_T)
    .where(_FENCE)
    .values(
        **_CREATED_VALUES,
        writeback_state=sa.bindparam("writeback_state"),
        writeback_attempts=0,
        writeback_error=None,
        writeback_at=sa.bindparam("now"),
    )
)


_COUNT_ATTEMPT = (
    sa.update(_T)
    .where(_FENCE)
    .values(attempts=_T.c.attempts + 1, updated_at=sa.bindparam("now"))
    .returning(_T.c.attempts)  # one round trip, not UPDATE then SELECT
)


def count_attempt(session: Session, instance: str, lock_token: str, now: datetime) -> int | None:
    """Record that a create call is about to be sent; returns the attempt number, None if fenced out."""
    attempts = session.connection().execute(_COUNT_ATTEMPT, {"key": instance, "token": lock_token, "now": now}).scalar()
    session.commit()  # durable, before the create call; no transaction stays open while Oceane answers
    return None if attempts is None else int(attempts)


def mark_created(
    session: Session,
    instance: str,
    lock_token: str,
    *,
    ticket_id: str,
    ticket_url: str,
    ticket_created_at: datetime | None,
    adopted: bool,
    now: datetime,
    writeback_state: WritebackState | None = None,
) -> bool:
    """Record the Oceane ticket; False if this worker no longer owns the request (fenced out).

    ``writeback_state`` PENDING lands in this same commit, so a crash before the write-back job is
    queued still leaves a pending write-back for :func:`stale_writebacks` to find.

    On PostgreSQL the commit does not wait for its WAL flush (``synchronous_commit = off``; the
    flush follows within ``wal_writer_delay``): a durable commit costs an fsync, measured at 3 to
    8 ms, the largest part of a ticket's time in the processing lock besides Oceane's answer. A
    result lost in a server crash is not a duplicate: the row is back to processing with its
    attempt counted (durably, before the call), so the sweep re-sends it and the worker looks the
    externalId up and adopts this very ticket, as after a worker killed mid-call.
    """
    values: dict[str, Any] = {
        "key": instance,
        "token": lock_token,
        "ticket_id": ticket_id,
        "ticket_url": ticket_url,
        "ticket_created_at": ticket_created_at,
        "adopted": adopted,
        "now": now,
    }
    statement = _MARK_CREATED
    if writeback_state is not None:
        statement = _MARK_CREATED_WRITEBACK
        values["writeback_state"] = writeback_state.value
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
    result = connection.execute(statement, values)
    session.commit()
    return bool(result.rowcount == 1)


@dataclass(frozen=True)
class FailureRecord:
    """The four columns of the Failed Ticket Requests table, plus what the ticket row keeps."""

    http_error_code: int
    app_error_code: str
    error_message: str
    error_description: str


_FAILED_ATTEMPT: dict[str, Any] = {"updated_at": sa.bindparam("now"), "error": sa.bindparam("summary")}
_FAIL_FINAL = (
    sa.update(_T).where(_FENCE).values(**_FAILED_ATTEMPT, status=Status.FAILED.value, lock_token=None, not_before=None)
)
_FAIL_AGAIN = (
    sa.update(_T)
    .where(_FENCE)
    .values(**_FAILED_ATTEMPT, retries_used=_T.c.retries_used + 1, not_before=sa.bindparam("retry_at"))
)
_LOG_FAILURE = sa.insert(FAILURES)


def record_failure(
    session: Session,
    instance: str,
    lock_token: str,
    failure: FailureRecord,
    *,
    attempt: int,
    final: bool,
    retry_at: datetime | None,
    now: datetime,
) -> bool:
    """Log a failed attempt; when ``final`` the ticket becomes failed, else it waits for ``retry_at``.

    One transaction: the failure row and the ticket's state change land together or not at all.
    Returns False if fenced out (then nothing is written).
    """
    summary = f"HTTP {failure.http_error_code}/{failure.app_error_code}: {failure.error_message}"
    connection = session.connection()
    values = {"key": instance, "token": lock_token, "now": now, "summary": summary, "retry_at": retry_at}
    result = connection.execute(_FAIL_FINAL if final else _FAIL_AGAIN, values)
    if result.rowcount != 1:
        session.rollback()
        return False
    connection.execute(
        _LOG_FAILURE,
        {
            "instance": instance,
            "http_error_code": failure.http_error_code,
            "app_error_code": failure.app_error_code,
            "error_message": failure.error_message,
            "error_description": failure.error_description,
            "failed_at": now,
            "attempt": attempt,
            "final": final,
        },
    )
    session.commit()
    return True


_OPEN_DUE = sa.func.coalesce(_T.c.not_before, _T.c.updated_at)
_STALE = (
    sa.select(_T.c.instance)
    .where(
        _T.c.status.in_([s.value for s in PENDING_STATUSES]),
        _T.c.updated_at < sa.bindparam("cutoff"),
        sa.bindparam("cutoff") > _OPEN_DUE,
        NOT_HELD,  # a rule request the cap holds is sent by the release, never by the sweep
    )
    .order_by(_T.c.updated_at)
    .limit(sa.bindparam("limit"))
)
_REQUEUE_FAILED = (
    sa.update(_T)
    .where(_T.c.instance == sa.bindparam("key"), _T.c.status == Status.FAILED.value)
    .values(status=Status.QUEUED.value, retries_used=0, not_before=None, error=None, updated_at=sa.bindparam("now"))
    .returning(*_T.c)
)


def stale_requests(session: Session, now: datetime, stale_after: float, limit: int = 500) -> list[str]:
    """Open requests nobody has touched for ``stale_after`` seconds past when they were due.

    These are the ones whose job may have been lost (Redis restarted empty, a worker died with the
    message, the rule cap's release died between marking a request released and sending it); the sweep
    puts them back on the queue. Oldest first. A rule request the cap still holds never had a job to
    lose: it is the release's, and left out, so that the sweep never sends past the cap.
    """
    cutoff = now - timedelta(seconds=stale_after)
    rows = session.connection().execute(_STALE, {"cutoff": cutoff, "limit": limit})
    return [str(instance) for instance in rows.scalars()]


def requeue_failed(session: Session, instance: str, now: datetime, capped: bool = False) -> Ticket | None:
    """Give a failed request a new attempt on the same instance (``oceane-ticket retry``).

    ``capped``: the rule cap is set. A Correlation rule's request is then held again (``released_at``
    cleared) for the cap's release to send, so that retrying a storm's failures (``retry
    --all-failed`` after an Oceane outage) cannot send past the cap. Its earlier release then leaves
    the cap's count (the count is of ``released_at``): the cap holds from the retry on, the release
    to come superseding the one that failed. The row says whether it was held (``released_at`` None).

    The partial unique index refuses the re-queue if the alarm got another open request meanwhile;
    that surfaces as ``IntegrityError`` for the caller to report.
    """
    statement = _REQUEUE_FAILED
    if capped:
        statement = statement.values(
            released_at=sa.case((_T.c.origin == Origin.RULE.value, None), else_=_T.c.released_at)
        )
    row = session.connection().execute(statement, {"key": instance, "now": now}).first()
    session.commit()
    return ticket_from(row)
