"""The Celery tasks of a ticket's life: its alarm events applied, lost jobs re-sent, the reconcile, the hub listener."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Task

from oceane_ticket import events as event_intake
from oceane_ticket import hub, jobs, reconcile
from oceane_ticket.alarm_state import AlarmStateReader, make_reader, unavailable_reason
from oceane_ticket.logs import describe_exception
from oceane_ticket.oceane.errors import OceaneError
from oceane_ticket.storage import alarm_events
from worker import events, retries
from worker.celery_app import app, settings
from worker.tasks import _enqueue_writeback, _valid_instance, context, redis_client

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


@lru_cache(maxsize=1)
def events_context() -> events.Context:
    """What applying events needs, built once per worker process (the create's connections, shared)."""
    ctx = context()
    return events.Context(
        settings=settings,
        session_factory=ctx.session_factory,
        lock=ctx.lock,
        oceane=events.ClientUpdater(ctx.client),
        enqueue_writeback=_enqueue_writeback,
    )


@app.task(bind=True, name=jobs.TASK_APPLY_EVENTS, max_retries=None)
def apply_events(self: Task, instance: str) -> int:
    """Apply one ticket request's pending alarm events in Oceane (the budget lives in the database)."""
    if not _valid_instance(instance):
        log.error("ignoring an events job with an invalid instance id: %r", str(instance)[:80])
        return 0
    try:
        return events.apply(events_context(), instance)
    except retries.RetryLater as later:
        raise self.retry(countdown=later.countdown, max_retries=None) from None


@app.task(name=jobs.TASK_EVENTS_SWEEP)
def events_sweep() -> int:
    """Re-send the job of every ticket with pending events (a job lost with Redis, or never queued)."""
    with context().session_factory() as session:
        instances = alarm_events.instances_with_pending(session, SWEEP_BATCH)
    return sum(event_intake.enqueue(settings, i, redis_client()) for i in instances)


@app.task(name=jobs.TASK_HUB_REGISTER)
def hub_register() -> str:
    """Register our listener at Oceane's hub when none is known (OCEANE_HUB_ENABLED); what happened."""
    if not settings.hub_enabled:
        return "disabled"
    try:
        registration = hub.ensure_registered(settings, context().client, redis_client())
    except ValueError as problem:  # a setting is missing: say so at every run until it is fixed
        log.warning("hub listener not registered: %s", problem)
        return "misconfigured"
    except OceaneError as error:
        log.warning("hub listener not registered (the next run tries again): %s", describe_exception(error))
        return "refused"
    return "registered" if registration else "busy"


@lru_cache(maxsize=1)
def alarm_state_reader() -> AlarmStateReader | None:
    """DataMiner's alarm state over its own Web Services connection, one per worker process."""
    return make_reader(settings)


@app.task(name=jobs.TASK_RECONCILE)
def reconcile_alarms() -> dict[str, Any]:
    """Ask DataMiner which open tickets' alarms are still active; a gone one becomes a cleared event."""
    reader = alarm_state_reader()
    if reader is None:  # a beat started with other settings than this worker's
        log.warning("reconcile skipped: %s", unavailable_reason(settings))
        return {}
    return reconcile.run(settings, reader, redis_client()).as_dict()
