"""Re-queue failed requests as a new attempt: record it in the database, then send the job.

The producer's business because it is the producer's two steps again (record, enqueue) for a
request that already exists; ``oceane-ticket retry`` calls it.
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
