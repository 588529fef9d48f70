"""The read side: the tables and counts that reports, ``status``, ``retry`` and the intake show."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from oceane_ticket.statuses import PENDING_STATUSES, WritebackState
from oceane_ticket.storage.models import OPEN_REQUEST_SQL, FailedTicketRequest, Status, Ticket


def get(session: Session, instance: str) -> Ticket | None:
    """One request by instance."""
    return session.get(Ticket, instance)


def list_tickets(session: Session, limit: int = 50, status: Status | None = None) -> Sequence[Ticket]:
    """The Tickets table, newest first."""
    query = select(Ticket).order_by(col(Ticket.created_at).desc(), col(Ticket.instance)).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    return session.exec(query).all()


def list_failed(session: Session, limit: int = 50) -> Sequence[tuple[FailedTicketRequest, str | None]]:
    """The Failed Ticket Requests table with each request's Oceane ticket id, newest first."""
    query = (
        select(FailedTicketRequest, Ticket.ticket_id)
        .join(Ticket, col(Ticket.instance) == col(FailedTicketRequest.instance))
        .order_by(col(FailedTicketRequest.failed_at).desc(), col(FailedTicketRequest.id).desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in session.execute(query).all()]


def failures_for(session: Session, instance: str) -> Sequence[FailedTicketRequest]:
    """One request's failed attempts, oldest first (the worker reads them to judge an incomplete lookup)."""
    query = (
        select(FailedTicketRequest)
        .where(FailedTicketRequest.instance == instance)
        .order_by(col(FailedTicketRequest.id))
    )
    return session.exec(query).all()


# --- Operations: ``oceane-ticket status``, ``retry`` and the metrics gauges ---


def count_by_status(session: Session) -> dict[str, int]:
    """How many requests are in each status; every status is present, zero when none."""
    counts = {status.value: 0 for status in Status}
    query = select(Ticket.status, sa.func.count()).group_by(col(Ticket.status))
    for status, count in session.execute(query).all():
        counts[str(status)] = int(count)
    return counts


def count_by_writeback_state(session: Session) -> dict[str, int]:
    """How many requests are in each write-back state; every state is present, zero when none."""
    counts = {state.value: 0 for state in WritebackState}
    query = select(Ticket.writeback_state, sa.func.count()).group_by(col(Ticket.writeback_state))
    for state, count in session.execute(query).all():
        counts[str(state)] = int(count)
    return counts


def oldest_open(session: Session) -> Ticket | None:
    """The queued or processing request waiting longest (the head of the pending queue)."""
    query = (
        select(Ticket)
        .where(col(Ticket.status).in_(PENDING_STATUSES))
        .order_by(col(Ticket.created_at), col(Ticket.instance))
        .limit(1)
    )
    return session.exec(query).first()


def open_request_for_alarm(session: Session, dma_id: int, element_id: int, alarm_id: int) -> Ticket | None:
    """The alarm's request that is not failed, if any (what the partial unique index protects)."""
    query = select(Ticket).where(
        Ticket.dma_id == dma_id,
        Ticket.element_id == element_id,
        Ticket.alarm_id == alarm_id,
        sa.text(OPEN_REQUEST_SQL),
    )
    return session.exec(query).first()


def retryable_failed(session: Session, limit: int | None = None) -> list[str]:
    """Failed requests worth replaying (``oceane-ticket retry --all-failed``), oldest first.

    Per alarm only its newest request, and only while the alarm has no request that is not
    failed: an older failure was superseded by a later click, and an alarm with an open or
    created request would be refused by the partial unique index anyway.
    """
    from sqlalchemy.orm import aliased

    other = aliased(Ticket)
    superseded = (
        select(other.instance)
        .where(
            col(other.dma_id) == col(Ticket.dma_id),
            col(other.element_id) == col(Ticket.element_id),
            col(other.alarm_id) == col(Ticket.alarm_id),
            col(other.instance) != col(Ticket.instance),
            sa.or_(
                col(other.status) != Status.FAILED,
                col(other.created_at) > col(Ticket.created_at),
                sa.and_(col(other.created_at) == col(Ticket.created_at), col(other.instance) > col(Ticket.instance)),
            ),
        )
        .exists()
    )
    query = (
        select(Ticket.instance)
        .where(col(Ticket.status) == Status.FAILED, ~superseded)
        .order_by(col(Ticket.created_at), col(Ticket.instance))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


# --- Alarm write-back (worker/writeback.py) and the Oceane status poll (worker/status_sync.py) ---
