"""The rule cap's release: send the jobs of held Correlation-rule requests, at most the cap per minute.

``OCEANE_AUTO_TICKETS_PER_MINUTE`` (> 0) makes the producer record a rule's request without sending its
job (``tickets.released_at`` NULL). Beat runs :func:`release` every ``RELEASE_INTERVAL`` seconds: it marks
released, in one committed statement, the oldest waiting rule requests the cap still allows in the last
60 s (storage/holds.py), then sends their jobs. An operator's click is never held, so it is never behind
a storm, and a held request is never dropped: it is a queued row until its turn.

Why this design rather than Celery's ``rate_limit``: that one is per worker process and keeps the
excess in the worker's memory, as unacked messages past the visibility timeout; the cap would grow with
the worker count and a storm would sit in Redis and in RAM. Here the hold is the database row, global
across workers and restarts, visible to ``status`` and the metrics, and the queue only ever carries what
may run now. Why mark, then send: a request marked but not sent (the worker died between the two, Redis
was down) is an ordinary queued request untouched since its release, which the sweep re-sends after
``OCEANE_STALE_AFTER``, once (the job's marker). Sending first could send a job whose marking then failed,
which the next run would send again, past the cap. The sweep and the claim skip held requests, so
nothing but this release sends one. A cap of 0 releases whatever is still held (a cap that was lifted).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from oceane_ticket import jobs, metrics
from oceane_ticket.settings import Settings
from oceane_ticket.storage import clock, db, holds

log = logging.getLogger(__name__)

# Beat's period for the release, in seconds: a few seconds' delay for a rule's ticket, and a cap's
# minute reached in steps of at most this.
RELEASE_INTERVAL = 5.0
# At most this many requests per statement (and per Redis transaction).
BATCH = 500


def release(settings: Settings, redis: Any, now: datetime | None = None) -> list[str]:
    """Release what the cap allows at ``now`` (default: the clock) and send the jobs; returns the instances."""
    moment = now or clock.utcnow()
    cap = settings.auto_tickets_per_minute
    sent: list[str] = []
    with Session(db.get_engine(settings.database_url)) as session:
        while True:
            batch = holds.release(session, moment, cap, BATCH)
            if not batch:
                break
            # A failure here leaves the batch marked and unsent: the sweep's (see above).
            jobs.enqueue_creates(redis, batch, settings.queue, settings.stale_after)
            sent += batch
            metrics.RULE_REQUESTS_RELEASED.inc(len(batch))
            if len(batch) < BATCH:
                break
    if sent:
        log.info("released %d held rule request(s) (cap %d per minute)", len(sent), cap)
    return sent
