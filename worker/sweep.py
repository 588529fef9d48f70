"""The sweep: the database is the record, Redis only carries work; put lost work back.

Requests that are queued or processing in the database but untouched for OCEANE_STALE_AFTER
seconds past their due time may have lost their job (Redis restarted empty, a worker died with
the message unacked). The sweep sends them again. A copy of a job that was not lost is harmless:
the worker claims a request only while it is open and due, under the processing lock.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from oceane_ticket import jobs, keys
from oceane_ticket.locking import ProcessingLock
from oceane_ticket.settings import Settings
from oceane_ticket.storage import db, queries

log = logging.getLogger(__name__)


def sweep(settings: Settings, redis: Any) -> list[str]:
    """Re-enqueue stale open requests; returns the instances sent."""
    with Session(db.get_engine(settings.database_url)) as session:
        stale = queries.stale_requests(session, queries.utcnow(), settings.stale_after)
    if not stale:
        return []
    holder = ProcessingLock(redis, settings.lock_timeout).info()
    sent = []
    for instance in stale:
        if holder is not None and holder.instance == instance:
            continue  # being worked on right now
        # The marker limits a stuck request to one copy per OCEANE_STALE_AFTER.
        if redis.exists(keys.enqueued_marker(instance)):
            continue
        jobs.enqueue_create(redis, instance, settings.queue, settings.stale_after)
        sent.append(instance)
    if sent:
        log.warning("sweep re-enqueued %d stale request(s): %s", len(sent), ", ".join(sent[:10]))
    return sent
