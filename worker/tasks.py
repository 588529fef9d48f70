"""The Celery tasks: thin wrappers over worker.processing, worker.sweep and retention."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import redis
from celery import Task

from oceane_ticket import alarm_writer, connections, jobs, metrics
from oceane_ticket.oceane.tokens import RedisTokenStore
from oceane_ticket.storage import db
from worker import metered, processing, release, retries, status_sync, sweep, writeback
from worker.celery_app import app, settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    """This process's Redis connection pool."""
    return connections.redis_client(settings, purpose="worker")


@lru_cache(maxsize=1)
def context() -> processing.Context:
    """What processing needs, built once per worker process."""
    r = redis_client()
    engine = db.get_engine(settings.database_url)
    from sqlmodel import Session

    @contextmanager
    def one_connection_session() -> Iterator[Session]:
        # One pooled connection for the whole task: each commit would otherwise hand it back and
        # the next statement check one out again, paying the pool's pre-ping (a round trip) each
        # time, three or four times per ticket.
        with engine.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            yield session

    return processing.Context(
        settings=settings,
        session_factory=one_connection_session,
        lock=metered.MeteredLock(r, settings.lock_timeout),
        client=metered.MeteredClient(settings, RedisTokenStore(r)),
        on_event=metrics.on_event,
        enqueue_writeback=_enqueue_writeback,
    )


def _enqueue_writeback(instance: str) -> None:
    jobs.enqueue_writeback(redis_client(), instance, settings.queue, settings.stale_after)


def _valid_instance(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isalnum()


@app.task(bind=True, name=jobs.TASK_CREATE, max_retries=None)
def create_ticket(self: Task, instance: str) -> str:
    """Create the Oceane ticket for one recorded request (autoretry semantics, see processing)."""
    if not _valid_instance(instance):
        # A malformed message: nothing to do, and nothing to retry.
        log.error("ignoring a ticket job with an invalid instance id: %r", str(instance)[:80])
        return "invalid"
    try:
        return processing.process(context(), instance).value
    except retries.RetryLater as later:
        # The retry count lives in the database (retries_used), not in the message, so a copy of
        # the job re-sent by the sweep cannot reset it; Celery's own count is therefore unlimited.
        raise self.retry(countdown=later.countdown, max_retries=None) from None


@app.task(name=jobs.TASK_SWEEP)
def sweep_task() -> int:
    """Re-enqueue requests the database says are open but whose job may be lost."""
    return len(sweep.sweep(settings, redis_client()))


@app.task(name=jobs.TASK_RELEASE)
def release_task() -> int:
    """Send the jobs of held rule requests the cap allows now (OCEANE_AUTO_TICKETS_PER_MINUTE)."""
    return len(release.release(settings, redis_client()))


@app.task(name=jobs.TASK_CLEANUP)
def cleanup_task() -> dict[str, Any]:
    """Retention: the connector's storage duration and count limits."""
    from oceane_ticket.storage import retention

    return retention.cleanup(settings).as_dict()


# --- the alarm write-back (the ticket id, link and status onto the DataMiner alarm) and the Oceane status poll ---


@lru_cache(maxsize=1)
def writeback_context() -> writeback.Context:
    """What the write-back needs, built once per worker process (one writer, one HTTP session)."""
    engine = db.get_engine(settings.database_url)
    from sqlmodel import Session

    return writeback.Context(
        settings=settings,
        session_factory=lambda: Session(engine, expire_on_commit=False),
        writer=alarm_writer.make_writer(settings),
        on_event=metrics.on_event,
    )


@app.task(bind=True, name=jobs.TASK_WRITEBACK, max_retries=None)
def writeback_task(self: Task, instance: str) -> str:
    """Write one created ticket's properties onto its DataMiner alarm (its own retry budget)."""
    if not _valid_instance(instance):
        log.error("ignoring a write-back job with an invalid instance id: %r", str(instance)[:80])
        return "invalid"
    try:
        return writeback.run(writeback_context(), instance).value
    except retries.RetryLater as later:
        # The budget lives in the database (writeback_attempts), as for ticket jobs.
        raise self.retry(countdown=later.countdown, max_retries=None) from None


@app.task(name=jobs.TASK_WRITEBACK_SWEEP)
def writeback_sweep_task() -> int:
    """Re-send pending write-backs whose job may be lost."""
    return len(writeback.sweep(settings, redis_client()))


@app.task(name=jobs.TASK_STATUS_POLL)
def status_poll_task() -> dict[str, Any]:
    """Poll Oceane for a bounded batch of open tickets' status."""
    ctx = context()
    return status_sync.poll(
        status_sync.Context(
            settings=settings,
            session_factory=ctx.session_factory,
            client=ctx.client,
            enqueue_writeback=_enqueue_writeback,
        )
    ).as_dict()
