"""The read side: the tables and counts that reports, ``status``, ``retry`` and the intake show.

Core statements on the tables, built once at import (the style of the whole package, see
storage/__init__.py); the models they return are detached copies the caller only reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.statuses import PENDING_STATUSES, WritebackState
from oceane_ticket.storage.holds import NOT_HELD
from oceane_ticket.storage.models import (
    FAILURES,
    OPEN_REQUEST_SQL,
    TICKETS,
    FailedTicketRequest,
    Status,
    Ticket,
    failure_from,
    ticket_from,
)

_T = TICKETS
_F = FAILURES
_PENDING = [s.value for s in PENDING_STATUSES]

_GET = sa.select(_T).where(_T.c.instance == sa.bindparam("key"))
_NEWEST_FIRST = (_T.c.created_at.desc(), _T.c.instance)
_PAGE: dict[str, sa.BindParameter[int]] = {"offset": sa.bindparam("offset"), "limit": sa.bindparam("limit")}
_LIST = sa.select(_T).order_by(*_NEWEST_FIRST).offset(_PAGE["offset"]).limit(_PAGE["limit"])
_LIST_STATUS = _LIST.where(_T.c.status == sa.bindparam("status"))
# The failure's own ticket_id is a column of FAILURES too: the request's is selected under another name.
_LIST_FAILED = (
    sa.select(_F, _T.c.ticket_id.label("request_ticket_id"))
    .join(_T, _T.c.instance == _F.c.instance)
    .order_by(_F.c.failed_at.desc(), _F.c.id.desc())
    .offset(_PAGE["offset"])
    .limit(_PAGE["limit"])
)
_FAILURES_FOR = sa.select(_F).where(_F.c.instance == sa.bindparam("key")).order_by(_F.c.id)
_CREATED_AS = sa.select(_T).where(_T.c.ticket_id == sa.bindparam("ticket_id"), _T.c.status == Status.CREATED.value)
_BY_STATUS = sa.select(_T.c.status, sa.func.count()).group_by(_T.c.status)
_BY_WRITEBACK_STATE = sa.select(_T.c.writeback_state, sa.func.count()).group_by(_T.c.writeback_state)
# A rule request the cap holds is not waiting for a worker but for its turn (counted apart as
# rule_waiting): left out, so that an alert on the oldest open request does not fire through a storm.
_OLDEST_OPEN = (
    sa.select(_T).where(_T.c.status.in_(_PENDING), NOT_HELD).order_by(_T.c.created_at, _T.c.instance).limit(1)
)
_OPEN_FOR_ALARM = sa.select(_T).where(
    _T.c.dma_id == sa.bindparam("dma_id"),
    _T.c.element_id == sa.bindparam("element_id"),
    _T.c.alarm_id == sa.bindparam("alarm_id"),
    sa.text(OPEN_REQUEST_SQL),
)


def _retryable_failed() -> sa.Select[tuple[str]]:
    # Per alarm only its newest request, and only while the alarm has no request that is not failed.
    other = _T.alias("other")
    superseded = (
        sa.select(other.c.instance)
        .where(
            other.c.dma_id == _T.c.dma_id,
            other.c.element_id == _T.c.element_id,
            other.c.alarm_id == _T.c.alarm_id,
            other.c.instance != _T.c.instance,
            sa.or_(
                other.c.status != Status.FAILED.value,
                other.c.created_at > _T.c.created_at,
                sa.and_(other.c.created_at == _T.c.created_at, other.c.instance > _T.c.instance),
            ),
        )
        .exists()
    )
    return (
        sa.select(_T.c.instance)
        .where(_T.c.status == Status.FAILED.value, ~superseded)
        .order_by(_T.c.created_at, _T.c.instance)
    )


_RETRYABLE_FAILED = _retryable_failed()


def get(session: Session, instance: str) -> Ticket | None:
    """One request by instance."""
    return ticket_from(session.connection().execute(_GET, {"key": instance}).first())


def list_tickets(
    session: Session, limit: int = 50, status: Status | None = None, *, offset: int = 0
) -> Sequence[Ticket]:
    """The Tickets table, newest first (from ``offset``: the intake's pages)."""
    page = {"offset": offset, "limit": limit}
    if status:
        rows = session.connection().execute(_LIST_STATUS, {**page, "status": Status(status).value})
    else:
        rows = session.connection().execute(_LIST, page)
    return [Ticket(**row._mapping) for row in rows]


def list_failed(
    session: Session, limit: int = 50, *, offset: int = 0
) -> Sequence[tuple[FailedTicketRequest, str | None]]:
    """The Failed Ticket Requests table with each request's Oceane ticket id, newest first (from ``offset``)."""
    rows = session.connection().execute(_LIST_FAILED, {"offset": offset, "limit": limit})
    return [(failure_from(row), row.request_ticket_id) for row in rows]


def failures_for(session: Session, instance: str) -> Sequence[FailedTicketRequest]:
    """One request's failed attempts, oldest first (the worker reads them to judge an incomplete lookup)."""
    return [failure_from(row) for row in session.connection().execute(_FAILURES_FOR, {"key": instance})]


def created_as(session: Session, ticket_id: str) -> Sequence[Ticket]:
    """Our created requests whose Oceane ticket is ``ticket_id`` (a hub event names only the ticket)."""
    return [Ticket(**row._mapping) for row in session.connection().execute(_CREATED_AS, {"ticket_id": ticket_id})]


# --- Operations: ``oceane-ticket status``, ``retry`` and the metrics gauges ---


def count_by_status(session: Session) -> dict[str, int]:
    """How many requests are in each status; every status is present, zero when none."""
    counts = {status.value: 0 for status in Status}
    for status, count in session.connection().execute(_BY_STATUS).all():
        counts[str(status)] = int(count)
    return counts


def count_by_writeback_state(session: Session) -> dict[str, int]:
    """How many requests are in each write-back state; every state is present, zero when none."""
    counts = {state.value: 0 for state in WritebackState}
    for state, count in session.connection().execute(_BY_WRITEBACK_STATE).all():
        counts[str(state)] = int(count)
    return counts


def oldest_open(session: Session) -> Ticket | None:
    """The queued or processing request waiting longest for a worker (held rule requests aside)."""
    return ticket_from(session.connection().execute(_OLDEST_OPEN).first())


def open_request_for_alarm(session: Session, dma_id: int, element_id: int, alarm_id: int) -> Ticket | None:
    """The alarm's request that is not failed, if any (what the partial unique index protects)."""
    values = {"dma_id": dma_id, "element_id": element_id, "alarm_id": alarm_id}
    return ticket_from(session.connection().execute(_OPEN_FOR_ALARM, values).first())


def retryable_failed(session: Session, limit: int | None = None) -> list[str]:
    """Failed requests worth replaying (``oceane-ticket retry --all-failed``), oldest first.

    Per alarm only its newest request, and only while the alarm has no request that is not
    failed: an older failure was superseded by a later click, and an alarm with an open or
    created request would be refused by the partial unique index anyway.
    """
    query = _RETRYABLE_FAILED if limit is None else _RETRYABLE_FAILED.limit(limit)
    return [str(instance) for instance in session.connection().execute(query).scalars()]


# --- Alarm write-back (worker/writeback.py) and the Oceane status poll (worker/status_sync.py) ---
