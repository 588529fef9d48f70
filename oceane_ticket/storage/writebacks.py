"""The alarm write-back's statements (worker/writeback.py) and the Oceane status poll's (worker/status_sync.py).

A write-back may only settle the values it wrote, so each outcome is conditional on them. Core
statements built once at import, like every statement in storage (see storage/__init__.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.statuses import WritebackState
from oceane_ticket.storage.models import TICKETS, Status, Ticket, ticket_from

_T = TICKETS
_CREATED = Status.CREATED.value
_PENDING = WritebackState.PENDING.value
_KEY = _T.c.instance == sa.bindparam("key")

# A write-back may only settle the values it wrote: if the poll stored a new status meanwhile,
# the row is pending again for the new values and this outcome must not touch it.
_SAME_PENDING_VALUES = sa.and_(
    _KEY,
    _T.c.writeback_state == _PENDING,
    _T.c.ticket_id.is_not_distinct_from(sa.bindparam("written_ticket_id")),
    _T.c.oceane_status.is_not_distinct_from(sa.bindparam("written_status")),
)
_WRITEBACK_DONE = (
    sa.update(_T)
    .where(_SAME_PENDING_VALUES)
    .values(writeback_state=WritebackState.DONE.value, writeback_error=None, writeback_at=sa.bindparam("now"))
)
_FAILED_ATTEMPT: dict[str, Any] = {
    "writeback_attempts": _T.c.writeback_attempts + 1,
    "writeback_error": sa.bindparam("failure"),
}
_WRITEBACK_FAILED_FINAL = (
    sa.update(_T)
    .where(_SAME_PENDING_VALUES)
    .values(**_FAILED_ATTEMPT, writeback_state=WritebackState.FAILED.value, writeback_at=sa.bindparam("now"))
)
_WRITEBACK_FAILED_AGAIN = (
    sa.update(_T).where(_SAME_PENDING_VALUES).values(**_FAILED_ATTEMPT, writeback_at=sa.bindparam("due"))
)
_WRITEBACK_NONE = (
    sa.update(_T).where(_KEY, _T.c.writeback_state == _PENDING).values(writeback_state=WritebackState.NONE.value)
)
# The write-back pending again for the current values, with a fresh budget.
_FRESH_WRITEBACK: dict[str, Any] = {
    "writeback_state": _PENDING,
    "writeback_attempts": 0,
    "writeback_error": None,
    "writeback_at": sa.bindparam("now"),
}
_REQUEST_WRITEBACK = sa.update(_T).where(_KEY, _T.c.status == _CREATED).values(**_FRESH_WRITEBACK).returning(*_T.c)
_WRITEBACK_DUE = sa.func.coalesce(_T.c.writeback_at, _T.c.updated_at)
_STALE_WRITEBACKS = (
    sa.select(_T.c.instance)
    .where(_T.c.status == _CREATED, _T.c.writeback_state == _PENDING, sa.bindparam("cutoff") > _WRITEBACK_DUE)
    .order_by(_WRITEBACK_DUE)
    .limit(sa.bindparam("limit"))
)
_TO_POLL = (
    sa.select(_T)
    .where(
        _T.c.status == _CREATED,
        _T.c.ticket_id.is_not(None),
        sa.or_(_T.c.oceane_status.is_(None), _T.c.oceane_status.not_in(sa.bindparam("closed", expanding=True))),
    )
    .order_by(sa.nulls_first(_T.c.oceane_status_checked_at.asc()), _T.c.created_at)
    .limit(sa.bindparam("limit"))
)
_STATUS_CHANGED = sa.and_(_KEY, _T.c.status == _CREATED, _T.c.oceane_status.is_distinct_from(sa.bindparam("polled")))
_STATUS_CHANGE: dict[str, Any] = {
    "oceane_status": sa.bindparam("polled"),
    "oceane_status_checked_at": sa.bindparam("now"),
}
_RECORD_STATUS = sa.update(_T).where(_STATUS_CHANGED).values(**_STATUS_CHANGE)
_RECORD_STATUS_WRITEBACK = sa.update(_T).where(_STATUS_CHANGED).values(**_STATUS_CHANGE, **_FRESH_WRITEBACK)
_RECORD_CHECK = sa.update(_T).where(_KEY).values(oceane_status_checked_at=sa.bindparam("now"))
_FAILED_WRITEBACKS = (
    sa.select(_T.c.instance)
    .where(_T.c.status == _CREATED, _T.c.writeback_state == WritebackState.FAILED.value)
    .order_by(_T.c.created_at, _T.c.instance)
)


def writeback_done(session: Session, instance: str, ticket_id: str, oceane_status: str | None, now: datetime) -> bool:
    """Mark a pending write-back of these values done; False if the values changed or it is not pending."""
    values = {"key": instance, "written_ticket_id": ticket_id, "written_status": oceane_status, "now": now}
    result = session.connection().execute(_WRITEBACK_DONE, values)
    session.commit()
    return bool(result.rowcount == 1)


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
    values: dict[str, Any] = {"key": instance, "written_ticket_id": ticket_id, "written_status": oceane_status}
    values["failure"] = error[:1000]
    if final:
        result = session.connection().execute(_WRITEBACK_FAILED_FINAL, {**values, "now": now})
    else:
        result = session.connection().execute(_WRITEBACK_FAILED_AGAIN, {**values, "due": due})
    session.commit()
    return bool(result.rowcount == 1)


def writeback_none(session: Session, instance: str) -> None:
    """A pending write-back with no writer configured any more: nothing will write it."""
    session.connection().execute(_WRITEBACK_NONE, {"key": instance})
    session.commit()


def request_writeback(session: Session, instance: str, now: datetime) -> Ticket | None:
    """Make a created ticket's write-back pending again with a fresh budget (``retry --writeback``).

    Returns None when the request is not created (or gone).
    """
    row = session.connection().execute(_REQUEST_WRITEBACK, {"key": instance, "now": now}).first()
    session.commit()
    return ticket_from(row)


def stale_writebacks(session: Session, now: datetime, stale_after: float, limit: int = 500) -> list[str]:
    """Created tickets whose write-back is pending and was due more than ``stale_after`` seconds ago.

    Their job may be lost (a crash between the created commit and the enqueue, Redis restarted
    empty); the write-back sweep sends them again. Oldest due first.
    """
    cutoff = now - timedelta(seconds=stale_after)
    rows = session.connection().execute(_STALE_WRITEBACKS, {"cutoff": cutoff, "limit": limit})
    return [str(instance) for instance in rows.scalars()]


def tickets_to_poll(session: Session, limit: int, closed_statuses: Sequence[str]) -> Sequence[Ticket]:
    """Created tickets Oceane has not reported closed, never-checked first, then the oldest check."""
    rows = session.connection().execute(_TO_POLL, {"limit": limit, "closed": list(closed_statuses)})
    tickets = [Ticket(**row._mapping) for row in rows]
    session.commit()  # no transaction stays open while Oceane answers
    return tickets


def record_oceane_status(
    session: Session, instance: str, status: str | None, now: datetime, *, writeback: bool
) -> bool:
    """Store a polled Oceane status; returns whether it changed.

    ``status`` None records the check only (the ticket was not found). A change with ``writeback``
    makes the write-back pending again, with a fresh budget, in the same commit.
    """
    connection = session.connection()
    changed = 0
    if status is not None:
        statement = _RECORD_STATUS_WRITEBACK if writeback else _RECORD_STATUS
        changed = connection.execute(statement, {"key": instance, "polled": status, "now": now}).rowcount
    if not changed:
        connection.execute(_RECORD_CHECK, {"key": instance, "now": now})
    session.commit()
    return changed == 1


def failed_writebacks(session: Session, limit: int | None = None) -> list[str]:
    """Created tickets whose write-back ran out of budget (``retry --writeback --all-failed``), oldest first."""
    query = _FAILED_WRITEBACKS if limit is None else _FAILED_WRITEBACKS.limit(limit)
    return [str(instance) for instance in session.connection().execute(query).scalars()]
