"""The two tables of the connector, as SQLModel models.

``tickets`` is both the request record (written by the producer before anything is queued) and
the connector's Tickets table. ``failed_ticket_requests`` is the connector's Failed Ticket
Requests table, one row per failed attempt. The schema itself is owned by the Alembic migrations
in ``migrations/``; a test checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from oceane_ticket.statuses import FINISHED_STATUSES, Origin, Status, WritebackState, sql_in
from oceane_ticket.storage.open_request import OPEN_REQUEST_SQL

__all__ = [
    "FAILURES",
    "FINISHED_BY_AGE",
    "FINISHED_SQL",
    "HELD_SQL",
    "ONE_OPEN_PER_ALARM",
    "OPEN_REQUEST_SQL",
    "RULE_SQL",
    "TICKETS",
    "AlarmEvent",
    "FailedTicketRequest",
    "Status",
    "Ticket",
    "UserMapping",
    "WritebackState",
    "failure_from",
    "ticket_from",
]

# One alarm, one open request: enforced by this partial unique index, not by a read-then-write.
# A failed request no longer blocks the alarm, so the operator can ask again; nor does a ticket that
# Oceane reported closed (resolved, closed, cancelled, rejected: migration 0006), so a new Create
# Ticket on the alarm makes a new ticket. Every query that means "the alarm's open request" spells
# OPEN_REQUEST_SQL, the index's own predicate (PostgreSQL and SQLite match an ON CONFLICT to it).
ONE_OPEN_PER_ALARM = "uq_tickets_open_alarm"
# Finished tickets by (created_at, instance): retention's boundary, counts and deletes. Partial, so
# a query must spell the statuses as these literals (not bound parameters) for the planner to use it.
FINISHED_BY_AGE = "ix_tickets_finished_created_at"
FINISHED_SQL = ", ".join(f"'{status.value}'" for status in FINISHED_STATUSES)
# A Correlation rule's request whose job the rule cap has not sent yet (OCEANE_AUTO_TICKETS_PER_MINUTE,
# worker/release.py): the release takes them oldest first; the sweep and the claim leave them alone.
HELD_SQL = f"origin = '{Origin.RULE.value}' AND released_at IS NULL"
RULE_SQL = f"origin = '{Origin.RULE.value}'"


class Ticket(SQLModel, table=True):
    """A ticket request and, once created, the Oceane ticket (the connector's Tickets table)."""

    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index(
            ONE_OPEN_PER_ALARM,
            "dma_id",
            "element_id",
            "alarm_id",
            unique=True,
            postgresql_where=sa.text(OPEN_REQUEST_SQL),
            sqlite_where=sa.text(OPEN_REQUEST_SQL),
        ),
        sa.Index("ix_tickets_created_at", "created_at"),
        # Retention's order: finished tickets newest first, ties broken by instance (migration 0004).
        sa.Index(
            FINISHED_BY_AGE,
            "created_at",
            "instance",
            postgresql_where=sa.text(f"status IN ({FINISHED_SQL})"),
            sqlite_where=sa.text(f"status IN ({FINISHED_SQL})"),
        ),
        sa.Index("ix_tickets_status_updated_at", "status", "updated_at"),
        sa.CheckConstraint(f"status IN ({sql_in(Status)})", name="ck_tickets_status"),
        sa.CheckConstraint(f"writeback_state IN ({sql_in(WritebackState)})", name="ck_tickets_writeback_state"),
        # The status poll picks created tickets whose Oceane status is not closed, oldest check first.
        sa.Index("ix_tickets_status_checked", "status", "oceane_status_checked_at"),
        sa.CheckConstraint(f"origin IN ({sql_in(Origin)})", name="ck_tickets_origin"),
        # The release's two reads (migration 0007): the held rule requests oldest first, and the rule
        # requests released within the cap's minute.
        sa.Index(
            "ix_tickets_held",
            "created_at",
            "instance",
            postgresql_where=sa.text(HELD_SQL),
            sqlite_where=sa.text(HELD_SQL),
        ),
        sa.Index(
            "ix_tickets_rule_released",
            "released_at",
            postgresql_where=sa.text(RULE_SQL),
            sqlite_where=sa.text(RULE_SQL),
        ),
    )

    instance: str = Field(primary_key=True, max_length=32)
    ticket_id: str | None = Field(default=None, max_length=64, index=True)
    alarm_id: int = Field(sa_type=sa.BigInteger)
    dma_id: int = Field(sa_type=sa.BigInteger)
    element_id: int = Field(sa_type=sa.BigInteger)
    element_name: str = Field(max_length=500)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    priority: str = Field(max_length=64)
    urgency: str = Field(max_length=64)
    technical_impact: str = Field(max_length=64)
    client_impact: str | None = Field(default=None, max_length=64)
    # The description sent to Oceane: the operator's text, or a generated summary of the alarm.
    root_cause: str = Field(sa_type=sa.Text)
    status: Status = Field(sa_type=sa.String(16))
    ticket_url: str | None = Field(default=None, max_length=1000)
    user: str | None = Field(default=None, max_length=255)
    oceane_user_id: str = Field(max_length=255)
    alarm_value: str | None = Field(default=None, sa_type=sa.Text)
    root_time: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    ticket_created_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Create calls sent so far; > 0 means an earlier call may have reached Oceane, so the next
    # attempt looks the externalId up before creating (timeout-safe creates).
    attempts: int = Field(default=0)
    # Transient failures so far, against OCEANE_RETRY_COUNT. Kept here rather than in the Celery
    # message so that a re-enqueued copy (sweep, Redis restart) cannot reset the count.
    retries_used: int = Field(default=0)
    # Earliest time of the next attempt (backoff, Retry-After); an early copy of the job waits.
    not_before: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The processing-lock token of the worker that claimed the request: the fence that stops a
    # holder that outlived its lock from committing a second ticket.
    lock_token: str | None = Field(default=None, max_length=64)
    adopted: bool = Field(default=False)
    error: str | None = Field(default=None, sa_type=sa.Text)
    # --- writing the ticket back onto the DataMiner alarm (OCEANE_ALARM_WRITER) ---
    writeback_state: WritebackState = Field(default=WritebackState.NONE, sa_type=sa.String(16))
    # Write-back calls tried for the current values, against its own budget (not the ticket's).
    writeback_attempts: int = Field(default=0)
    # The last write-back error, one line, never a secret.
    writeback_error: str | None = Field(default=None, sa_type=sa.Text)
    writeback_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # --- the ticket's status in Oceane, polled by beat (None until first polled) ---
    oceane_status: str | None = Field(default=None, max_length=64)
    oceane_status_checked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # --- who asked, and the rule cap (OCEANE_AUTO_TICKETS_PER_MINUTE, migration 0007) ---
    # "operator" (a click, a shell) or "rule" (a Correlation rule's script); only rule requests are held.
    origin: Origin = Field(
        default=Origin.OPERATOR, sa_column=sa.Column(sa.String(16), nullable=False, server_default="operator")
    )
    # When the request's job was first sent: at the insert for what the producer sends at once; for a
    # held rule request NULL until the release sends it (its count per minute is the cap).
    released_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class FailedTicketRequest(SQLModel, table=True):
    """One failed attempt to create a ticket (the connector's Failed Ticket Requests table)."""

    __tablename__ = "failed_ticket_requests"
    __table_args__ = (sa.Index("ix_failed_ticket_requests_failed_at", "failed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key (migration 0003): retention deletes a ticket's failures with it, in one
    # set-based statement, instead of PostgreSQL's per-row cascade trigger.
    instance: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    ticket_id: str | None = Field(default=None, max_length=64)
    # 0 when no HTTP answer came back (timeout, connection refused or reset).
    http_error_code: int
    # The server's application code as it sent it (Orange's number, TMF's string), "" when none (migration 0005).
    app_error_code: str = Field(sa_type=sa.Text)
    error_message: str = Field(sa_type=sa.Text)
    error_description: str = Field(sa_type=sa.Text)
    failed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    attempt: int
    # True on the attempt that gave up (the ticket is failed); earlier rows were retried.
    final: bool = Field(default=False)
    # Set when the failed call was an update for an alarm event (alarm_events.event_id), not the create.
    event_id: str | None = Field(default=None, max_length=64)


class UserMapping(SQLModel, table=True):
    """A DataMiner user's Oceane User ID (the ``relatedParty`` sent), managed by ``oceane-ticket users``.

    The one source of truth at run time; an unmapped user gets ``OCEANE_USER_ID`` (or is refused when
    ``OCEANE_REQUIRE_USER_MAPPING`` is true).
    """

    __tablename__ = "oceane_users"

    # DataMiner user names compare case-insensitively (DOMAIN\\user vs domain\\User): stored lower-cased.
    dataminer_user: str = Field(primary_key=True, max_length=255)
    oceane_user_id: str = Field(max_length=255)
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


# The tables as SQLAlchemy Core sees them: every statement in storage is a Core statement on these,
# built once at import where it can be (see storage/__init__.py), and its rows become detached models.
TICKETS: sa.Table = Ticket.__table__  # type: ignore[attr-defined]
FAILURES: sa.Table = FailedTicketRequest.__table__  # type: ignore[attr-defined]


def ticket_from(row: Any) -> Ticket | None:
    """A detached Ticket from a row of TICKETS' columns (None for no row); the caller only reads it."""
    return None if row is None else Ticket(**row._mapping)


def failure_from(row: Any) -> FailedTicketRequest:
    """A detached FailedTicketRequest from a row holding FAILURES' columns (extra columns are ignored)."""
    return FailedTicketRequest(**{c.name: row._mapping[c] for c in FAILURES.c})


# Registers the alarm events table on the same metadata (the migrations and their check read it).
from oceane_ticket.storage.alarm_events import AlarmEvent  # noqa: E402
