"""Polling Oceane for the status of our open tickets (beat, every OCEANE_STATUS_POLL_INTERVAL).

Bounded so it never starves ticket creation: at most OCEANE_STATUS_POLL_BATCH tickets per run,
never-checked first then the oldest check, a time budget per run, and the run stops at the first
transient Oceane failure (Oceane is in trouble; the creates' retries come first). It runs outside
the processing lock: it only reads from Oceane, and the lock is for creates.

A ticket is matched by our exact externalId (``DMA/Element/Alarm``) and our ticket id, nothing
looser; when the list does not show it, it is read by its id (see :func:`read_ticket`). A changed
status is stored in ``tickets.oceane_status`` and, with an alarm writer configured, makes the
write-back pending again in the same commit (a third property, ``Oceane Ticket Status``), then the
write-back job is queued. A ticket Oceane reports closed is not polled again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy.exc
from sqlmodel import Session

from oceane_ticket import request
from oceane_ticket.logs import describe_exception
from oceane_ticket.oceane.errors import OceaneError
from oceane_ticket.oceane.ticket import OceaneTicket, TicketLookup
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import OCEANE_CLOSED_STATUSES
from oceane_ticket.storage import clock, writebacks

log = logging.getLogger(__name__)

# One run stops starting new lookups after this many seconds, whatever is left of the batch.
RUN_BUDGET_SECONDS = 30.0


class TicketFinder(Protocol):
    """The part of the Oceane client the poll uses."""

    def find_tickets(self, external_id: str) -> TicketLookup:
        """The tickets whose externalId is exactly this one (never a stranger's)."""

    def get_ticket(self, ticket_id: str) -> OceaneTicket | None:
        """The ticket with this id (``GET /troubleTicket/{id}``), None if the server has none."""


@dataclass
class Context:
    """What the poll needs; built once per worker process."""

    settings: Settings
    session_factory: Callable[[], AbstractContextManager[Session]]
    client: TicketFinder
    enqueue_writeback: Callable[[str], None] = lambda instance: None
    now: Callable[[], datetime] = clock.utcnow
    clock: Callable[[], float] = time.monotonic


@dataclass
class PollResult:
    """What one run did."""

    checked: int = 0
    changed: list[str] = field(default_factory=list)
    not_found: int = 0
    stopped: str | None = None  # why the run ended before its batch

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the task's return value)."""
        return {
            "checked": self.checked,
            "changed": len(self.changed),
            "not_found": self.not_found,
            "stopped": self.stopped,
        }


def our_ticket(found: list[OceaneTicket], external_id: str, ticket_id: str) -> OceaneTicket | None:
    """Our ticket among a lookup's answer: exact externalId and our ticket id, nothing looser."""
    return next((t for t in found if t.external_id == external_id and t.id == ticket_id), None)


def read_ticket(client: TicketFinder, external_id: str, ticket_id: str) -> OceaneTicket | None:
    """Our ticket as the server holds it now, read through the client's dialect.

    The lookup by external identifier first; when it does not list ours (a TMF621 v5 server need
    not keep ``externalIdentifier``, a list may ignore the filter), the ticket by its id: the id is
    the one the server gave our create, so it is ours unless it names another alarm.
    """
    ticket = our_ticket(client.find_tickets(external_id).tickets, external_id, ticket_id)
    if ticket is not None:
        return ticket
    retrieved = client.get_ticket(ticket_id)
    if retrieved is None or retrieved.id != ticket_id or retrieved.external_id not in (None, external_id):
        return None
    return retrieved


def poll(ctx: Context) -> PollResult:
    """Check up to OCEANE_STATUS_POLL_BATCH open tickets' status in Oceane; store changes."""
    result = PollResult()
    limit = ctx.settings.status_poll_batch
    if limit <= 0:
        return result
    writer = ctx.settings.alarm_writer != "none"
    started = ctx.clock()
    budget = min(RUN_BUDGET_SECONDS, ctx.settings.status_poll_interval / 2)
    try:
        with ctx.session_factory() as session:
            rows = writebacks.tickets_to_poll(
                session, limit, sorted(OCEANE_CLOSED_STATUSES)
            )  # never polled again (docs/oceane-api.md §4)
            for row in rows:
                if ctx.clock() - started > budget:
                    result.stopped = "time budget"
                    break
                assert row.ticket_id is not None
                external_id = request.external_id(row.dma_id, row.element_id, row.alarm_id)
                try:
                    ticket = read_ticket(ctx.client, external_id, row.ticket_id)
                except OceaneError as error:
                    if error.transient:
                        result.stopped = f"Oceane: {error.message}"
                        log.warning("status poll stopped after %d ticket(s): %s", result.checked, error)
                        break
                    # Not worth repeating at once: note the check so the next run moves on.
                    log.warning("status of ticket %s not available: %s", row.ticket_id, error)
                    writebacks.record_oceane_status(session, row.instance, None, ctx.now(), writeback=False)
                    result.checked += 1
                    continue
                result.checked += 1
                if ticket is None:
                    result.not_found += 1
                    log.warning("ticket %s (externalId %s) not found in Oceane", row.ticket_id, external_id)
                    writebacks.record_oceane_status(session, row.instance, None, ctx.now(), writeback=False)
                    continue
                if writebacks.record_oceane_status(session, row.instance, ticket.status, ctx.now(), writeback=writer):
                    log.info("ticket %s is now %s in Oceane (was %s)", row.ticket_id, ticket.status, row.oceane_status)
                    result.changed.append(row.instance)
    except sqlalchemy.exc.OperationalError as exc:
        log.warning("status poll stopped, database unavailable: %s", describe_exception(exc))
        result.stopped = "database unavailable"
    if writer:
        for instance in result.changed:
            try:
                ctx.enqueue_writeback(instance)
            except Exception as exc:
                # Pending in the database: the write-back sweep sends it.
                log.warning("write-back of %s not queued (the sweep sends it): %s", instance, describe_exception(exc))
    return result
