"""Applying a ticket's recorded alarm events in Oceane, each exactly once, in alarm-time order. No Celery here.

The discipline of the creates, for updates:

* one worker at a time per ticket: the events lock (``keys.events_lock``), and every write after an
  event's claim fenced on the lock token, so a worker that outlived its lock changes nothing;
* read the ticket before every update: our note id (``evt-<eventId>``) already on the ticket, or a
  ticket already resolved, is the update done (a PATCH that timed out after Oceane applied it, a
  worker killed mid-call, a redelivered job);
* the attempt is counted before the call; a transient failure spends one of ``OCEANE_RETRY_COUNT``
  retries and waits (backoff, Retry-After); a refusal, or the last retry, is final: a row in the
  Failed Ticket Requests table (with the event id), the event ``refused``, the next event goes on;
* an event whose ticket is not created yet waits for it; if its request fails, the event is
  ``not_applicable``: never lost, never applied to some other ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import redis.exceptions
import sqlalchemy.exc
from sqlmodel import Session

from oceane_ticket import keys
from oceane_ticket.events import RECONCILE_PREFIX
from oceane_ticket.locking import LockTimeout, ProcessingLock, new_token
from oceane_ticket.logs import describe_exception
from oceane_ticket.oceane import updates
from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.dialects import Dialect
from oceane_ticket.oceane.dialects.base import NOTE_AUTHOR
from oceane_ticket.oceane.errors import OceaneError
from oceane_ticket.oceane.ticket import OceaneTicket
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import OCEANE_CLOSED_STATUSES, Status
from oceane_ticket.storage import alarm_events, clock, writebacks
from oceane_ticket.storage.alarm_events import AlarmEvent, Done, EventAction, EventKind, EventState
from oceane_ticket.storage.models import FailedTicketRequest, Ticket
from worker.retries import RetryLater, backoff, our_outage_delay

log = logging.getLogger(__name__)

# How often an event whose ticket is still being created looks again (not counted as a retry).
WAIT_FOR_CREATE = 3.0


class TicketUpdater(Protocol):
    """What applying needs from Oceane (the client, or a test's stand-in)."""

    dialect: Dialect

    def get_ticket(self, ticket_id: str) -> OceaneTicket:
        """The ticket as Oceane holds it now."""

    def patch_ticket(self, ticket_id: str, patch: dict[str, object]) -> OceaneTicket | None:
        """Apply a merge-patch."""


class ClientUpdater:
    """The Oceane client's update calls (oceane/updates.py)."""

    def __init__(self, client: OceaneClient) -> None:
        self.client = client
        self.dialect = client.dialect

    def get_ticket(self, ticket_id: str) -> OceaneTicket:
        """``GET /troubleTicket/{id}``."""
        return updates.get_ticket(self.client, ticket_id)

    def patch_ticket(self, ticket_id: str, patch: dict[str, object]) -> OceaneTicket | None:
        """``PATCH /troubleTicket/{id}``."""
        return updates.patch_ticket(self.client, ticket_id, dict(patch))


@dataclass
class Context:
    """What applying events needs; built once per worker process."""

    settings: Settings
    session_factory: Callable[[], AbstractContextManager[Session]]
    lock: ProcessingLock
    oceane: TicketUpdater
    now: Callable[[], datetime] = clock.utcnow
    # Queues the alarm write-back after a resolve changed the ticket's Oceane status.
    enqueue_writeback: Callable[[str], None] = lambda instance: None


def apply(ctx: Context, instance: str) -> int:
    """Apply the pending events of one ticket request; how many ended (applied, refused, not applicable).

    Raises:
        RetryLater: the ticket is not created yet, an event waits for its retry, or our own outage.
    """
    try:
        lock = ctx.lock.for_key(keys.events_lock(instance))
        with lock.held(instance, wait=5.0, token=new_token()) as token, ctx.session_factory() as session:
            return _apply_all(ctx, session, instance, token)
    except LockTimeout:
        raise RetryLater("events lock busy", 1.0) from None
    except sqlalchemy.exc.OperationalError as exc:
        log.warning("database unavailable while applying events of %s: %s", instance, describe_exception(exc))
        raise RetryLater("database unavailable", our_outage_delay()) from None
    except redis.exceptions.RedisError as exc:
        log.warning("redis unavailable while applying events of %s: %s", instance, type(exc).__name__)
        raise RetryLater("redis unavailable", our_outage_delay()) from None


def _apply_all(ctx: Context, session: Session, instance: str, token: str) -> int:
    ticket = session.get(Ticket, instance)
    if ticket is None:
        return alarm_events.not_applicable(session, instance, "the ticket request was removed", ctx.now())
    if ticket.status == Status.FAILED:
        reason = f"the ticket was never created: {ticket.error or 'its request failed'}"
        return alarm_events.not_applicable(session, instance, reason[:2000], ctx.now())
    if ticket.status != Status.CREATED or ticket.ticket_id is None:
        raise RetryLater("the ticket is not created yet", WAIT_FOR_CREATE)
    ended = 0
    while (event := alarm_events.next_pending(session, instance)) is not None:
        due = clock.as_utc(event.not_before)
        if due is not None and due > ctx.now():
            raise RetryLater("an event waits for its retry", (due - ctx.now()).total_seconds())
        claimed = alarm_events.claim(session, event.event_id, token)
        if claimed is None:
            continue  # ended meanwhile by another worker
        if _apply_one(ctx, session, ticket, claimed, token):
            ended += 1
    return ended


def _apply_one(ctx: Context, session: Session, ticket: Ticket, event: AlarmEvent, token: str) -> bool:
    """One claimed event; True if it ended (False: fenced out). RetryLater on a transient failure."""
    assert ticket.ticket_id is not None
    if event.kind == EventKind.CLEARED and alarm_events.clear_applied_beside(session, event, RECONCILE_PREFIX):
        # The reconcile's clear and the real one are one clear of one alarm tree: the ticket changes once.
        done = Done(EventState.APPLIED, "already_cleared")
        return alarm_events.finish(session, event.event_id, token, done, ctx.now())
    try:
        current = ctx.oceane.get_ticket(ticket.ticket_id)  # read first: a repeat is recognised here
        outcome = _update(ctx, ticket.ticket_id, event, current)
    except OceaneError as error:
        return _failed(ctx, session, ticket, event, token, error)
    written = alarm_events.finish(session, event.event_id, token, Done(EventState.APPLIED, outcome), ctx.now())
    if written:
        log.info("event %s (%s) on ticket %s: %s", event.event_id, event.kind, ticket.ticket_id, outcome)
        if event.action == EventAction.RESOLVE:
            # Resolved by us, or found closed (our own PATCH whose answer was lost, or a person): the
            # alarm's Oceane Ticket Status follows at once rather than at the next poll.
            _status_changed(ctx, session, ticket, "resolved" if outcome == "resolved" else current.status)
    return written


def _update(ctx: Context, ticket_id: str, event: AlarmEvent, current: OceaneTicket) -> str:
    dialect = ctx.oceane.dialect
    if event.action == EventAction.RESOLVE:
        if current.status.strip().lower() in OCEANE_CLOSED_STATUSES:
            return "already_closed"
        ctx.oceane.patch_ticket(ticket_id, dialect.resolve_patch(note_text(event), event.event_time))
        return "resolved"
    author = event.user or NOTE_AUTHOR
    patch = dialect.note_patch(current, event.event_id, note_text(event), author, event.event_time)
    if patch is None:  # our note evt-<eventId> is already on the ticket
        return "already_noted"
    ctx.oceane.patch_ticket(ticket_id, patch)
    return "noted"


def note_text(event: AlarmEvent) -> str:
    """What the ticket reads for an event: the operator's text, or what the alarm did."""
    if event.kind == EventKind.NOTE and event.text:
        return event.text
    what = "Alarm cleared" if event.kind == EventKind.CLEARED else "Alarm updated"
    details = [f"{label} {value}" for label, value in (("severity", event.severity), ("value", event.value)) if value]
    moment = clock.as_utc(event.event_time)
    line = f"{what} in DataMiner at {moment.isoformat() if moment else '?'}" + (
        f" ({', '.join(details)})" if details else ""
    )
    return f"{line}: {event.text}" if event.text else line


def _failed(ctx: Context, session: Session, ticket: Ticket, event: AlarmEvent, token: str, error: OceaneError) -> bool:
    final = not error.transient or event.retries_used >= ctx.settings.retry_count
    now = ctx.now()
    summary = f"HTTP {error.http_status}/{error.code}: {error.message}"[:2000]
    session.add(
        FailedTicketRequest(
            instance=ticket.instance,
            ticket_id=ticket.ticket_id,
            http_error_code=error.http_status,
            app_error_code=error.code,
            error_message=f"update ({event.kind}): {error.message}"[:500],
            error_description=error.description[:2000],
            failed_at=now,
            attempt=event.attempts,
            final=final,
            event_id=event.event_id,
        )
    )
    if final:
        # The failure row and the event's end land together, or neither (fenced).
        if not alarm_events.finish(session, event.event_id, token, Done(EventState.REFUSED, None, summary), now):
            return False
        log.warning("event %s on ticket %s refused: %s", event.event_id, ticket.ticket_id, error)
        return True
    delay = backoff(ctx.settings, event.retries_used, error.retry_after)
    if not alarm_events.postpone(session, event.event_id, token, summary, now + timedelta(seconds=delay)):
        session.rollback()
        return False
    session.commit()
    log.info(
        "event %s: %s; retry %d/%d in %.1f s",
        event.event_id,
        error,
        event.retries_used + 1,
        ctx.settings.retry_count,
        delay,
    )
    raise RetryLater(f"{error.message} (HTTP {error.http_status})", delay)


def _status_changed(ctx: Context, session: Session, ticket: Ticket, status: str) -> None:
    writer = ctx.settings.alarm_writer != "none"
    if writebacks.record_oceane_status(session, ticket.instance, status, ctx.now(), writeback=writer) and writer:
        try:
            ctx.enqueue_writeback(ticket.instance)
        except Exception as exc:  # pending in the database: the write-back sweep sends it
            log.warning("write-back of %s not queued: %s", ticket.instance, describe_exception(exc))
