"""Send again what an operator asks to: failed requests, and created tickets' alarm write-backs.

``oceane-ticket retry`` and ``oceane-ticket retry --writeback``. Each is recorded in the database first,
then its job is sent. The producer's business because it is the producer's two steps again (record, enqueue) for a
request that already exists. The jobs themselves are built in :mod:`oceane_ticket.jobs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oceane_ticket import jobs
from oceane_ticket.logs import describe_exception
from oceane_ticket.request import external_id
from oceane_ticket.statuses import Origin

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings

# What became of each instance given to :func:`retry`.
REQUEUED = "requeued"
REFUSED = "refused"
NOT_FAILED = "not_failed"
NOT_FOUND = "not_found"
NOT_QUEUED = "not_queued"
# Write-backs only: the request has no ticket yet; no worker-side writer is configured.
NOT_CREATED = "not_created"
NO_WRITER = "no_writer"


def retry(settings: Settings, instances: list[str], redis: Any) -> list[dict[str, Any]]:
    """Re-queue failed requests as a new attempt each, and queue their jobs.

    A request keeps its instance, attempt count and failure history; its retry budget starts
    over. Because ``attempts`` stays above zero, the worker looks the alarm's externalId up in
    Oceane before creating, so a create that did reach Oceane earlier is adopted, not repeated.
    If the alarm got another request meanwhile (not failed), the partial unique index refuses the
    re-queue: still one ticket per alarm. While the rule cap is set, a Correlation rule's request is
    held again instead of sent, and the cap's release sends it (no ``task_id`` then).

    Returns:
        One dict per instance: ``instance``, ``result`` (``requeued``, ``refused``, ``not_failed``,
        ``not_found``, ``not_queued``), ``detail`` and, when queued, ``task_id``.
    """
    import sqlalchemy.exc
    from sqlmodel import Session

    from oceane_ticket.storage import claims, clock, db, reads

    results = []
    engine = db.get_engine(settings.database_url)
    for instance in instances:
        entry: dict[str, Any] = {"instance": instance}
        with Session(engine, expire_on_commit=False) as s:
            try:
                row = claims.requeue_failed(s, instance, clock.utcnow(), capped=settings.auto_tickets_per_minute > 0)
            except sqlalchemy.exc.IntegrityError:
                s.rollback()
                failed = reads.get(s, instance)
                other = failed and reads.open_request_for_alarm(s, failed.dma_id, failed.element_id, failed.alarm_id)
                alarm = external_id(failed.dma_id, failed.element_id, failed.alarm_id) if failed else "?"
                entry.update(
                    result=REFUSED,
                    detail=f"alarm {alarm} already has request "
                    + (f"{other.instance} ({other.status})" if other else "that is not failed")
                    + "; still one ticket per alarm",
                )
                results.append(entry)
                continue
            if row is None:
                current = reads.get(s, instance)
                if current is None:
                    entry.update(result=NOT_FOUND, detail="no such request (removed by retention?)")
                else:
                    entry.update(result=NOT_FAILED, detail=f"it is {current.status}: only failed ones retry")
                results.append(entry)
                continue
        if row.origin == Origin.RULE and row.released_at is None:
            # Held again under the rule cap: the cap's release sends its job (see claims.requeue_failed).
            entry.update(
                result=REQUEUED, detail="held by the rule cap (OCEANE_AUTO_TICKETS_PER_MINUTE) until it is released"
            )
            results.append(entry)
            continue
        try:
            entry["task_id"] = jobs.enqueue_create(redis, instance, settings.queue, settings.stale_after)
        except Exception as exc:
            # The request is queued in the database: the sweep sends its job once it is stale.
            entry.update(
                result=NOT_QUEUED,
                detail=f"re-queued in the database but the job was not sent "
                f"({describe_exception(exc)}); the sweep sends it within {settings.stale_after:g} s",
            )
        else:
            entry.update(result=REQUEUED, detail=f"job {entry['task_id']} on {settings.queue!r}")
        results.append(entry)
    return results


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

    from oceane_ticket.storage import clock, db, reads, writebacks

    if settings.alarm_writer == "none":
        detail = "OCEANE_ALARM_WRITER is none: the calling script sets the alarm properties"
        return [{"instance": i, "result": NO_WRITER, "detail": detail} for i in instances]
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
                        entry.update(result=NOT_FOUND, detail="no such request (removed by retention?)")
                    else:
                        entry.update(result=NOT_CREATED, detail=f"it is {current.status}: no ticket to write back")
                    results.append(entry)
                    continue
            try:
                entry["task_id"] = jobs.enqueue_writeback(redis, instance, settings.queue, settings.stale_after)
            except Exception as exc:
                entry.update(
                    result=NOT_QUEUED,
                    detail=f"pending in the database but the job was not sent ({describe_exception(exc)}); "
                    f"the write-back sweep sends it within {settings.stale_after + settings.sweep_interval:g} s",
                )
            else:
                entry.update(result=REQUEUED, detail=f"write-back job {entry['task_id']} on {settings.queue!r}")
            results.append(entry)
    finally:
        if own_redis:
            redis.close()
    return results
