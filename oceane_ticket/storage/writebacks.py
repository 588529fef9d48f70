"""The alarm write-back's statements (worker/writeback.py) and the Oceane status poll's (worker/status_sync.py).

A write-back may only settle the values it wrote, so each outcome is conditional on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from oceane_ticket.statuses import WritebackState
from oceane_ticket.storage.models import Status, Ticket


def _same_values(ticket_id: str | None, oceane_status: str | None) -> Any:
    # A write-back may only settle the values it wrote: if the poll stored a new status meanwhile,
    # the row is pending again for the new values and this outcome must not touch it.
    return sa.and_(
        col(Ticket.ticket_id).is_not_distinct_from(ticket_id),
        col(Ticket.oceane_status).is_not_distinct_from(oceane_status),
    )


def writeback_done(session: Session, instance: str, ticket_id: str, oceane_status: str | None, now: datetime) -> bool:
    """Mark a pending write-back of these values done; False if the values changed or it is not pending."""
    result = session.execute(
        sa.update(Ticket)
        .where(
            col(Ticket.instance) == instance,
            col(Ticket.writeback_state) == WritebackState.PENDING,
            _same_values(ticket_id, oceane_status),
        )
        .values(writeback_state=WritebackState.DONE, writeback_error=None, writeback_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def writeback_failed(
    session: Session,
    instance: str,
    ticket_id: str,
    oceane_status: str | None,
    *,
    error: str,
    final: bool,
    due: datetime | None,
    now: datetime,
) -> bool:
    """Count a failed write-back attempt: ``final`` makes it failed, else it is due again at ``due``.

    The ticket itself is never touched. False if the values changed meanwhile (nothing written).
    """
    values: dict[str, Any] = {"writeback_attempts": col(Ticket.writeback_attempts) + 1, "writeback_error": error[:1000]}
    if final:
        values.update(writeback_state=WritebackState.FAILED, writeback_at=now)
    else:
        values.update(writeback_at=due)
    result = session.execute(
        sa.update(Ticket)
        .where(
            col(Ticket.instance) == instance,
            col(Ticket.writeback_state) == WritebackState.PENDING,
            _same_values(ticket_id, oceane_status),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def writeback_none(session: Session, instance: str) -> None:
    """A pending write-back with no writer configured any more: nothing will write it."""
    session.execute(
        sa.update(Ticket)
        .where(col(Ticket.instance) == instance, col(Ticket.writeback_state) == WritebackState.PENDING)
        .values(writeback_state=WritebackState.NONE)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def request_writeback(session: Session, instance: str, now: datetime) -> Ticket | None:
    """Make a created ticket's write-back pending again with a fresh budget (``retry --writeback``).

    Returns None when the request is not created (or gone).
    """
    result = session.execute(
        sa.update(Ticket)
        .where(col(Ticket.instance) == instance, col(Ticket.status) == Status.CREATED)
        .values(writeback_state=WritebackState.PENDING, writeback_attempts=0, writeback_error=None, writeback_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Ticket, instance)


def stale_writebacks(session: Session, now: datetime, stale_after: float, limit: int = 500) -> list[str]:
    """Created tickets whose write-back is pending and was due more than ``stale_after`` seconds ago.

    Their job may be lost (a crash between the created commit and the enqueue, Redis restarted
    empty); the write-back sweep sends them again. Oldest due first.
    """
    cutoff = now - timedelta(seconds=stale_after)
    due = sa.func.coalesce(col(Ticket.writeback_at), col(Ticket.updated_at))
    query = (
        select(Ticket.instance)
        .where(
            col(Ticket.status) == Status.CREATED, col(Ticket.writeback_state) == WritebackState.PENDING, due < cutoff
        )
        .order_by(due)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def tickets_to_poll(session: Session, limit: int, closed_statuses: Sequence[str]) -> Sequence[Ticket]:
    """Created tickets Oceane has not reported closed, never-checked first, then the oldest check."""
    query = (
        select(Ticket)
        .where(
            col(Ticket.status) == Status.CREATED,
            col(Ticket.ticket_id).is_not(None),
            sa.or_(col(Ticket.oceane_status).is_(None), col(Ticket.oceane_status).not_in(list(closed_statuses))),
        )
        .order_by(sa.nulls_first(col(Ticket.oceane_status_checked_at).asc()), col(Ticket.created_at))
        .limit(limit)
    )
    tickets = session.exec(query).all()
    session.commit()  # no transaction stays open while Oceane answers
    return tickets


def record_oceane_status(
    session: Session, instance: str, status: str | None, now: datetime, *, writeback: bool
) -> bool:
    """Store a polled Oceane status; returns whether it changed.

    ``status`` None records the check only (the ticket was not found). A change with ``writeback``
    makes the write-back pending again, with a fresh budget, in the same commit.
    """
    changed = 0
    if status is not None:
        values: dict[str, Any] = {"oceane_status": status, "oceane_status_checked_at": now}
        if writeback:
            values.update(
                writeback_state=WritebackState.PENDING, writeback_attempts=0, writeback_error=None, writeback_at=now
            )
        result = session.execute(
            sa.update(Ticket)
            .where(
                col(Ticket.instance) == instance,
                col(Ticket.status) == Status.CREATED,
                col(Ticket.oceane_status).is_distinct_from(status),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = result.rowcount  # type: ignore[attr-defined]
    if not changed:
        session.execute(
            sa.update(Ticket)
            .where(col(Ticket.instance) == instance)
            .values(oceane_status_checked_at=now)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return changed == 1


def failed_writebacks(session: Session, limit: int | None = None) -> list[str]:
    """Created tickets whose write-back ran out of budget (``retry --writeback --all-failed``), oldest first."""
    query = (
        select(Ticket.instance)
        .where(col(Ticket.status) == Status.CREATED, col(Ticket.writeback_state) == WritebackState.FAILED)
        .order_by(col(Ticket.created_at), col(Ticket.instance))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())
