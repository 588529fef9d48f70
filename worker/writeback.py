"""Writing a created ticket back onto its DataMiner alarm, at least once. No Celery in here.

The job runs after the ticket is committed as created, outside the processing lock: the alarm write
has nothing to do with Oceane's one-at-a-time rule, and a slow DataMiner must not hold up creates.

- At least once, never lost: the write-back is ``pending`` in the same commit that makes the ticket
  created (``claims.mark_created``), so a crash before the job was queued, or a job lost with
  Redis, is found by :func:`sweep` and sent again. Writing the same properties twice is harmless.
- A failing write-back never fails the ticket: it spends its own budget
  (``OCEANE_WRITEBACK_RETRY_COUNT``, backoff capped by ``OCEANE_WRITEBACK_BACKOFF_MAX``), then
  becomes ``failed``; ``oceane-ticket retry --writeback`` sends it again.
- Each outcome is recorded only if the row still holds the values this run wrote: when the status
  poll stores a new Oceane status meanwhile, the row stays pending for the new values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from sqlmodel import Session

from oceane_ticket import jobs, keys
from oceane_ticket.alarm_writer import (
    PROPERTY_ID,
    PROPERTY_STATUS,
    PROPERTY_URL,
    AlarmRef,
    AlarmWriter,
    WritebackError,
)
from oceane_ticket.logs import describe_exception
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import Status, WritebackState
from oceane_ticket.storage import clock, db, reads, writebacks
from oceane_ticket.storage.models import Ticket
from worker.retries import RetryLater, our_outage_delay, writeback_backoff

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """How one run of the write-back job ended."""

    DONE = "done"
    FAILED = "failed"  # the write-back's budget ran out (the ticket stays created)
    NOTHING_TO_DO = "nothing_to_do"  # not pending, not created, gone, or no writer
    SUPERSEDED = "superseded"  # the values changed while writing; a newer job writes them


@dataclass
class Context:
    """What the write-back needs; built once per worker process."""

    settings: Settings
    session_factory: Callable[[], AbstractContextManager[Session]]
    writer: AlarmWriter | None
    now: Callable[[], datetime] = clock.utcnow
    on_event: Callable[[str, dict[str, Any]], None] = lambda name, data: None


def properties_of(row: Ticket) -> dict[str, str]:
    """The alarm properties for a created ticket; the status only once Oceane reported one."""
    assert row.ticket_id is not None
    properties = {PROPERTY_ID: row.ticket_id, PROPERTY_URL: row.ticket_url or ""}
    if row.oceane_status:
        properties[PROPERTY_STATUS] = row.oceane_status
    return properties


def run(ctx: Context, instance: str) -> Outcome:
    """Write one ticket's properties onto its alarm if its write-back is pending.

    Raises:
        RetryLater: DataMiner failed transiently (budget left), or our own database is unavailable.
    """
    try:
        with ctx.session_factory() as session:
            return _run(ctx, session, instance)
    except sqlalchemy.exc.OperationalError as exc:
        log.warning("database unavailable during write-back of %s: %s", instance, describe_exception(exc))
        raise RetryLater("database unavailable", our_outage_delay()) from None


def _run(ctx: Context, session: Session, instance: str) -> Outcome:
    row = reads.get(session, instance)
    session.commit()  # no transaction stays open while DataMiner answers
    if row is None or row.status != Status.CREATED or row.writeback_state != WritebackState.PENDING:
        return Outcome.NOTHING_TO_DO
    if ctx.writer is None:
        # OCEANE_ALARM_WRITER was switched to none since this was queued: nobody will write it.
        writebacks.writeback_none(session, instance)
        return Outcome.NOTHING_TO_DO
    assert row.ticket_id is not None
    ticket_id, oceane_status = row.ticket_id, row.oceane_status
    alarm = AlarmRef(row.dma_id, row.element_id, row.alarm_id)
    try:
        ctx.writer.write(alarm, properties_of(row))
    except WritebackError as error:
        return _failed(ctx, session, row, error)
    if not writebacks.writeback_done(session, instance, ticket_id, oceane_status, ctx.now()):
        log.info("write-back of %s: values changed while writing; the newer job writes them", instance)
        return Outcome.SUPERSEDED
    log.info(
        "request %s: ticket %s written onto alarm %s/%s/%s (%s)",
        instance,
        ticket_id,
        row.dma_id,
        row.element_id,
        row.alarm_id,
        ctx.writer.name,
    )
    ctx.on_event("writeback_done", {"instance": instance})
    return Outcome.DONE


def _failed(ctx: Context, session: Session, row: Ticket, error: WritebackError) -> Outcome:
    assert row.ticket_id is not None
    used = row.writeback_attempts  # attempts before this one
    final = not error.transient or used >= ctx.settings.writeback_retry_count
    now = ctx.now()
    # DataMiner's Retry-After (a 429 from the User-Defined API's rate limit, a 503 while it starts) is
    # honoured: never sooner than it asked, and never sooner than our own backoff.
    delay = None if final else max(writeback_backoff(ctx.settings, used), error.retry_after or 0.0)
    written = writebacks.writeback_failed(
        session,
        row.instance,
        row.ticket_id,
        row.oceane_status,
        error=str(error),
        final=final,
        due=None if delay is None else now + timedelta(seconds=delay),
        now=now,
    )
    if not written:
        return Outcome.SUPERSEDED
    if final:
        log.warning("write-back of %s failed for good (the ticket stays created): %s", row.instance, error)
        ctx.on_event("writeback_failed", {"instance": row.instance})
        return Outcome.FAILED
    assert delay is not None
    log.info(
        "write-back of %s: %s; retry %d/%d in %.1f s",
        row.instance,
        error,
        used + 1,
        ctx.settings.writeback_retry_count,
        delay,
    )
    raise RetryLater(str(error), delay)


def sweep(settings: Settings, redis_client: Any) -> list[str]:
    """Re-send pending write-backs whose job may be lost; returns the instances sent.

    A write-back becomes stale OCEANE_STALE_AFTER seconds after it was due: its job never ran
    (crash between the created commit and the enqueue, Redis restarted empty) or was lost.
    """
    if settings.alarm_writer == "none":
        return []
    try:
        with Session(db.get_engine(settings.database_url)) as session:
            stale = writebacks.stale_writebacks(session, clock.utcnow(), settings.stale_after)
        sent = []
        for instance in stale:
            if redis_client.exists(keys.writeback_marker(instance)):
                continue
            jobs.enqueue_writeback(redis_client, instance, settings.queue, settings.stale_after)
            sent.append(instance)
    except (sqlalchemy.exc.OperationalError, redis.exceptions.RedisError) as exc:
        # The next run tries again: the database still says pending.
        log.warning("write-back sweep skipped: %s", describe_exception(exc))
        return []
    if sent:
        log.warning("write-back sweep re-sent %d pending write-back(s): %s", len(sent), ", ".join(sent[:10]))
    return sent
