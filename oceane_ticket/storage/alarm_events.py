"""Alarm events (a clear, a change, an operator's note) recorded for a ticket, and their fate.

The table is the durable record the intake writes before it answers 202, the worker's work list
(pending events of one ticket, in alarm-time order), and the ticket's audit trail (each event
applied, skipped, refused or not applicable, and when). The event id is unique: the same event
sent twice is one row, so it can be applied once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from oceane_ticket.statuses import Status, sql_in
from oceane_ticket.storage.open_request import OPEN_REQUEST_SQL


class EventKind(StrEnum):
    """What happened to the alarm (the ``event`` field)."""

    CLEARED = "cleared"
    UPDATED = "updated"
    NOTE = "note"


class EventAction(StrEnum):
    """What the event does to the ticket, decided by the settings when it is recorded."""

    NONE = "none"
    NOTE = "note"
    RESOLVE = "resolve"


class EventState(StrEnum):
    """An event's life: pending -> applied | refused | not_applicable; skipped when its action is none."""

    PENDING = "pending"
    APPLIED = "applied"
    SKIPPED = "skipped"
    REFUSED = "refused"
    NOT_APPLICABLE = "not_applicable"


class AlarmEvent(SQLModel, table=True):
    """One alarm event for one ticket request."""

    __tablename__ = "alarm_events"
    __table_args__ = (
        sa.Index("ix_alarm_events_work", "instance", "state", "event_time", "id"),
        sa.CheckConstraint(f"kind IN ({sql_in(EventKind)})", name="ck_alarm_events_kind"),
        sa.CheckConstraint(f"action IN ({sql_in(EventAction)})", name="ck_alarm_events_action"),
        sa.CheckConstraint(f"state IN ({sql_in(EventState)})", name="ck_alarm_events_state"),
    )

    # Arrival order: the tie-breaker of events with the same alarm time.
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    instance: str = Field(max_length=32)
    dma_id: int = Field(sa_type=sa.BigInteger)
    element_id: int = Field(sa_type=sa.BigInteger)
    alarm_id: int = Field(sa_type=sa.BigInteger)
    kind: str = Field(max_length=16)
    action: str = Field(max_length=16)
    event_time: datetime = Field(sa_type=sa.DateTime(timezone=True))
    severity: str | None = Field(default=None, max_length=64)
    value: str | None = Field(default=None, sa_type=sa.Text)
    text: str | None = Field(default=None, sa_type=sa.Text)
    user: str | None = Field(default=None, max_length=255)
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    state: str = Field(max_length=16)
    attempts: int = Field(default=0)
    retries_used: int = Field(default=0)
    not_before: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The events lock's token of the worker applying it: a worker that outlived its lock writes nothing.
    lock_token: str | None = Field(default=None, max_length=64)
    done_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # What applying did: noted, resolved, already_noted, already_closed (a repeat recognised),
    # already_cleared (the reconcile's clear beside the real one: one clear of one alarm tree).
    outcome: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, sa_type=sa.Text)


_E: sa.Table = AlarmEvent.__table__  # type: ignore[attr-defined]
_TICKETS = sa.table(
    "tickets",
    sa.column("instance"),
    sa.column("dma_id"),
    sa.column("element_id"),
    sa.column("alarm_id"),
    sa.column("status"),
    sa.column("created_at"),
)


def derive_event_id(dma_id: int, element_id: int, alarm_id: int, kind: str, parts: Sequence[str | None]) -> str:
    """A deterministic id for an event sent without one: the same event sent twice is one event."""
    text = "\x1f".join([str(dma_id), str(element_id), str(alarm_id), kind, *("" if p is None else p for p in parts)])
    return "d" + hashlib.sha256(text.encode()).hexdigest()[:40]


def note_id(event_id: str) -> str:
    """The id of the note an event adds to the ticket: ours, so a repeat is recognisable."""
    return f"evt-{event_id}"


def ticket_for_alarm(conn: sa.Connection, dma_id: int, element_id: int, alarm_id: int) -> str | None:
    """The instance of the alarm's newest request that is not failed (queued, processing or created)."""
    query = (
        sa.select(_TICKETS.c.instance)
        .where(
            _TICKETS.c.dma_id == dma_id,
            _TICKETS.c.element_id == element_id,
            _TICKETS.c.alarm_id == alarm_id,
            _TICKETS.c.status != Status.FAILED.value,
        )
        .order_by(_TICKETS.c.created_at.desc())
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


def record(conn: sa.Connection, values: dict[str, Any]) -> bool:
    """Insert the event unless its id is known; True if this call recorded it (committed by the caller)."""
    statement = _insert(conn).values(**values).on_conflict_do_nothing(index_elements=["event_id"]).returning(_E.c.id)
    # RETURNING, not rowcount: a driver may report -1 for an INSERT it answered with RETURNING.
    return conn.execute(statement).first() is not None


def _insert(conn: sa.Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(_E)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(_E)


_GET = sa.select(_E).where(_E.c.event_id == sa.bindparam("event_id"))
_IN_ORDER = (_E.c.event_time, _E.c.id)
_NEXT_PENDING = (
    sa.select(_E)
    .where(_E.c.instance == sa.bindparam("key"), _E.c.state == EventState.PENDING.value)
    .order_by(*_IN_ORDER)
    .limit(1)
)
_FOR_TICKET = sa.select(_E).where(_E.c.instance == sa.bindparam("key")).order_by(*_IN_ORDER)


def _event(row: Any) -> AlarmEvent | None:
    # A detached AlarmEvent built from the row (the caller only reads it).
    return None if row is None else AlarmEvent(**row._mapping)


def get(session: Session, event_id: str) -> AlarmEvent | None:
    """One event by id."""
    return _event(session.connection().execute(_GET, {"event_id": event_id}).first())


def next_pending(session: Session, instance: str) -> AlarmEvent | None:
    """The ticket's earliest pending event (alarm time, then arrival)."""
    return _event(session.connection().execute(_NEXT_PENDING, {"key": instance}).first())


def claim(session: Session, event_id: str, token: str) -> AlarmEvent | None:
    """Count an attempt on a pending event and fence it with ``token``; the event, or None if gone."""
    statement = (
        sa.update(_E)
        .where(_E.c.event_id == event_id, _E.c.state == EventState.PENDING.value)
        .values(attempts=_E.c.attempts + 1, lock_token=token)
    )
    if session.connection().execute(statement).rowcount != 1:
        session.rollback()
        return None
    session.commit()
    return get(session, event_id)


@dataclass(frozen=True)
class Done:
    """How an event ended: its state, what was done, the error (one line, never a secret)."""

    state: EventState
    outcome: str | None = None
    error: str | None = None


def finish(session: Session, event_id: str, token: str, done: Done, now: datetime, *, commit: bool = True) -> bool:
    """Record an event's end, fenced on ``token``; False if another worker owns it now."""
    statement = (
        sa.update(_E)
        .where(_E.c.event_id == event_id, _E.c.lock_token == token, _E.c.state == EventState.PENDING.value)
        .values(state=done.state.value, outcome=done.outcome, error=done.error, done_at=now, not_before=None)
    )
    if session.connection().execute(statement).rowcount != 1:
        session.rollback()
        return False
    if commit:
        session.commit()
    return True


def postpone(session: Session, event_id: str, token: str, error: str, retry_at: datetime) -> bool:
    """A transient failure: spend a retry and wait until ``retry_at``; fenced on ``token``."""
    statement = (
        sa.update(_E)
        .where(_E.c.event_id == event_id, _E.c.lock_token == token, _E.c.state == EventState.PENDING.value)
        .values(retries_used=_E.c.retries_used + 1, not_before=retry_at, error=error)
    )
    return session.connection().execute(statement).rowcount == 1


def not_applicable(session: Session, instance: str, reason: str, now: datetime) -> int:
    """Close every pending event of a request that will never have a ticket; how many."""
    statement = (
        sa.update(_E)
        .where(_E.c.instance == instance, _E.c.state == EventState.PENDING.value)
        .values(state=EventState.NOT_APPLICABLE.value, error=reason, done_at=now, not_before=None)
    )
    count = session.connection().execute(statement).rowcount
    session.commit()
    return int(count)


def requeue(session: Session, event_id: str) -> AlarmEvent | None:
    """A refused event made pending again with a fresh budget (``oceane-ticket retry --event``)."""
    statement = (
        sa.update(_E)
        .where(_E.c.event_id == event_id, _E.c.state == EventState.REFUSED.value)
        .values(state=EventState.PENDING.value, retries_used=0, not_before=None, lock_token=None, done_at=None)
    )
    changed = session.connection().execute(statement).rowcount
    session.commit()
    return get(session, event_id) if changed else None


def for_ticket(session: Session, instance: str) -> Sequence[AlarmEvent]:
    """Every event of a request, in the order they are applied."""
    return [AlarmEvent(**row._mapping) for row in session.connection().execute(_FOR_TICKET, {"key": instance})]


def instances_with_pending(session: Session, limit: int) -> list[str]:
    """Requests with pending events (the events sweep re-sends their job)."""
    query = sa.select(_E.c.instance).where(_E.c.state == EventState.PENDING.value).group_by(_E.c.instance).limit(limit)
    return [str(row) for row in session.execute(query).scalars().all()]


_BY_STATE = sa.select(_E.c.state, sa.func.count()).group_by(_E.c.state)


def count_by_state(conn: sa.Connection) -> dict[str, int]:
    """Events per state, every state present (0 when none): ``status`` and the metrics."""
    found = {str(state): int(count) for state, count in conn.execute(_BY_STATE)}
    return {state.value: found.get(state.value, 0) for state in EventState}


def pending_count(conn: sa.Connection) -> int:
    """Events recorded and not yet applied (the status page and the metrics)."""
    query = sa.select(sa.func.count()).select_from(_E).where(_E.c.state == EventState.PENDING.value)
    return int(conn.execute(query).scalar_one())


# --- the reconcile with DataMiner (oceane_ticket/reconcile.py) and "alarm gone, ticket open" ---

_TICKET_ROWS = sa.table(
    "tickets",
    sa.column("instance"),
    sa.column("dma_id"),
    sa.column("element_id"),
    sa.column("alarm_id"),
    sa.column("status"),
    sa.column("oceane_status"),
)


def _known_cleared() -> Any:
    """A cleared event of the ticket exists (pending, applied, skipped or refused): the alarm is known gone."""
    return sa.exists().where(
        _E.c.instance == _TICKET_ROWS.c.instance,
        _E.c.kind == EventKind.CLEARED.value,
        _E.c.state != EventState.NOT_APPLICABLE.value,
    )


def _ticket_open() -> Any:
    """Created, and Oceane has not reported it final (open_request.py's predicate, on the created ones)."""
    return sa.and_(_TICKET_ROWS.c.status == Status.CREATED.value, sa.text(OPEN_REQUEST_SQL))


@dataclass(frozen=True)
class OpenAlarm:
    """An open ticket whose alarm has no known clear: what the reconcile asks DataMiner about."""

    instance: str
    dma_id: int
    element_id: int
    alarm_id: int


def reconcile_candidates(conn: sa.Connection, after: str, limit: int) -> list[OpenAlarm]:
    """Up to ``limit`` open tickets without a known clear, by instance after ``after`` (a rotation)."""
    c = _TICKET_ROWS.c
    query = (
        sa.select(c.instance, c.dma_id, c.element_id, c.alarm_id)
        .select_from(_TICKET_ROWS)
        .where(_ticket_open(), ~_known_cleared(), c.instance > after)
        .order_by(c.instance)
        .limit(limit)
    )
    return [OpenAlarm(str(i), int(d), int(e), int(a)) for i, d, e, a in conn.execute(query)]


def alarm_gone_ticket_open(conn: sa.Connection) -> int:
    """Tickets whose alarm is known cleared (an event, real or the reconcile's) while Oceane's status is not final."""
    query = sa.select(sa.func.count()).select_from(_TICKET_ROWS).where(_ticket_open(), _known_cleared())
    return int(conn.execute(query).scalar_one())


def clear_applied_beside(session: Session, event: AlarmEvent, synthetic_prefix: str) -> bool:
    """Whether another clear of ``event``'s ticket was applied, one of the two being the reconcile's.

    A clear found by the reconcile and the real one arriving too (or the other way round) are one
    clear in DataMiner: an alarm tree clears once. Two real clears keep their own notes, as before.
    """
    others = sa.select(_E.c.event_id).where(
        _E.c.instance == event.instance,
        _E.c.kind == EventKind.CLEARED.value,
        _E.c.state == EventState.APPLIED.value,
        _E.c.event_id != event.event_id,
    )
    if not event.event_id.startswith(synthetic_prefix):
        others = others.where(_E.c.event_id.startswith(synthetic_prefix, autoescape=True))
    return session.execute(others.limit(1)).first() is not None
