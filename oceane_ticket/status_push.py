"""A ticket's status pushed by Oceane's hub (the intake's listener): stored and written to the alarm at once.

Idempotent by construction: the status is set to what the event says (a repeat changes nothing),
and a change makes the alarm's write-back pending in the same commit, then queues its job (a job
that cannot be queued is sent by the write-back sweep). Only our ticket is touched: the event's
ticket id must be one we created, and when the event carries an external identifier it must be
that ticket's alarm.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from oceane_ticket import jobs
from oceane_ticket.oceane.dialects import ListenerEvent
from oceane_ticket.request import external_id
from oceane_ticket.settings import Settings
from oceane_ticket.storage import db, reads, writebacks
from oceane_ticket.storage.models import Ticket

log = logging.getLogger(__name__)


def apply(settings: Settings, event: ListenerEvent, redis: Any, now: datetime | None = None) -> str:
    """Store the pushed status; ``changed``, ``unchanged``, ``no_status`` or ``not_ours``."""
    now = now or datetime.now(UTC)
    writer = settings.alarm_writer != "none"
    with Session(db.get_engine(settings.database_url), expire_on_commit=False) as session:
        rows = [r for r in reads.created_as(session, event.ticket_id) if _same_alarm(r, event)]
        if not rows:
            log.info("hub event %s names ticket %s, not one of ours: ignored", event.event_id, event.ticket_id)
            return "not_ours"
        if not event.status:
            return "no_status"
        changed = [
            r.instance
            for r in rows
            if writebacks.record_oceane_status(session, r.instance, event.status, now, writeback=writer)
        ]
    for instance in changed if writer else []:
        try:
            jobs.enqueue_writeback(redis, instance, settings.queue, settings.stale_after)
        except Exception as exc:  # pending in the database: the write-back sweep sends it
            log.warning("write-back of %s not queued (the sweep sends it): %s", instance, type(exc).__name__)
    if changed:
        log.info("hub event %s: ticket %s is now %s", event.event_id, event.ticket_id, event.status)
    return "changed" if changed else "unchanged"


def _same_alarm(row: Ticket, event: ListenerEvent) -> bool:
    return event.external_id is None or event.external_id == external_id(row.dma_id, row.element_id, row.alarm_id)
