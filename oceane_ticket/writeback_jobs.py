"""The operator's re-send of alarm write-backs (``oceane-ticket retry --writeback``).

The job itself (its task name, message and low priority) is built in :mod:`oceane_ticket.jobs`
like every other job.
"""

from __future__ import annotations

from typing import Any

from oceane_ticket import jobs
from oceane_ticket.settings import Settings


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
    from oceane_ticket.storage import clock, db, reads, writebacks

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
                row = writebacks.request_writeback(s, instance, clock.utcnow())
                if row is None:
                    current = reads.get(s, instance)
                    if current is None:
                        entry.update(result="not_found", detail="no such request (removed by retention?)")
                    else:
                        entry.update(result="not_created", detail=f"it is {current.status}: no ticket to write back")
                    results.append(entry)
                    continue
            try:
                entry["task_id"] = jobs.enqueue_writeback(redis, instance, settings.queue, settings.stale_after)
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
