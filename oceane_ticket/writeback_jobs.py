"""Queueing alarm write-back jobs, without Celery (the worker, its sweep and ``retry --writeback``).

A write-back job carries only the request's instance id, like a ticket job; the database holds the
values to write and the state (``tickets.writeback_state``). The job goes on the ticket queue at
kombu's lowest Redis priority, so that a worker with both waiting takes ticket creations first: a
write-back is idempotent and can wait, an operator waiting for a ticket cannot.
"""

from __future__ import annotations

import json
from typing import Any

from oceane_ticket import jobs, keys
from oceane_ticket.settings import Settings

TASK_WRITEBACK = "oceane.writeback"
TASK_WRITEBACK_SWEEP = "oceane.writeback_sweep"
TASK_STATUS_POLL = "oceane.status_poll"

# kombu keeps each priority band in its own list (keys.priority_list), and a worker pops band 0
# (ticket jobs) before 9: write-backs and the status poll never delay a ticket creation.
LOW_PRIORITY = 9


def queue_for(queue: str, priority: int = LOW_PRIORITY) -> str:
    """The Redis list kombu reads for ``priority`` on ``queue``."""
    return keys.priority_list(queue, priority)


def enqueue_writeback(redis: Any, instance: str, queue: str, marker_ttl: float) -> str:
    """Queue one write-back job (low priority) and set its marker, atomically; returns the task id."""
    message = jobs.task_message(TASK_WRITEBACK, [instance], queue)
    message["properties"]["priority"] = LOW_PRIORITY
    pipe = redis.pipeline(transaction=True)
    pipe.lpush(queue_for(queue), json.dumps(message))
    pipe.set(keys.writeback_marker(instance), "1", ex=max(1, int(marker_ttl)))
    pipe.execute()
    return str(message["headers"]["id"])


def retry_writeback(settings: Settings, instances: list[str], redis: Any = None) -> list[dict[str, Any]]:
    """Send created tickets' write-backs again with a fresh budget (``oceane-ticket retry --writeback``).

    Any created ticket qualifies (failed, pending or done: writing the same values again is
    harmless). The state is pending in the database before the job is sent, so a job that cannot
    be sent is picked up by the write-back sweep.

    Returns:
        One dict per instance: ``instance``, ``result`` (``requeued``, ``not_created``, ``not_found``,
        ``no_writer``, ``not_queued``), ``detail`` and, when queued, ``task_id``.
    """
    from sqlmodel import Session

    from oceane_ticket.logs import describe_exception
    from oceane_ticket.storage import db, queries

    if settings.alarm_writer == "none":
        detail = "OCEANE_ALARM_WRITER is none: the calling script sets the alarm properties"
        return [{"instance": i, "result": "no_writer", "detail": detail} for i in instances]
    own_redis = redis is None
    if own_redis:
        from oceane_ticket import connections

        redis = connections.redis_client(settings, purpose="command")
    results = []
    try:
        engine = db.get_engine(settings.database_url)
        for instance in instances:
            entry: dict[str, Any] = {"instance": instance}
            with Session(engine, expire_on_commit=False) as s:
                row = queries.request_writeback(s, instance, queries.utcnow())
                if row is None:
                    current = queries.get(s, instance)
                    if current is None:
                        entry.update(result="not_found", detail="no such request (removed by retention?)")
                    else:
                        entry.update(result="not_created", detail=f"it is {current.status}: no ticket to write back")
                    results.append(entry)
                    continue
            try:
                entry["task_id"] = enqueue_writeback(redis, instance, settings.queue, settings.stale_after)
            except Exception as exc:
                entry.update(
                    result="not_queued",
                    detail=f"pending in the database but the job was not sent ({describe_exception(exc)}); "
                    f"the write-back sweep sends it within {settings.stale_after + settings.sweep_interval:g} s",
                )
            else:
                entry.update(result="requeued", detail=f"write-back job {entry['task_id']} on {settings.queue!r}")
            results.append(entry)
    finally:
        if own_redis:
            redis.close()
    return results
