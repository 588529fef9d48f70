"""The sweep: the database is the record, Redis only carries work; put lost work back.

Requests that are queued or processing in the database but untouched for OCEANE_STALE_AFTER
seconds past their due time may have lost their job (Redis restarted empty, a worker died with
the message unacked). The sweep sends them again. A copy of a job that was not lost is harmless:
the worker claims a request only while it is open and due, under the processing lock.

:func:`recover_dead_workers` is the fast path for the commonest loss, a worker that died: every
worker runs it at each heartbeat (see ``keys.WORKER_HEARTBEAT``). When the processing lock's holder
is known to be dead, it breaks the lock and re-sends the request the holder was working on, and it
puts back the unacked messages of dead workers; a request resumes seconds after its worker died
instead of after the lock's TTL plus OCEANE_STALE_AFTER. Exactly-once still holds: the dead holder
counted its attempt before calling Oceane, so whoever takes the request next looks the externalId
up before any create, and writes are fenced on the lock token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from oceane_ticket import jobs, keys, metrics
from oceane_ticket.liveness import holder_dead, node_alive
from oceane_ticket.locking import all_locks
from oceane_ticket.settings import Settings
from oceane_ticket.storage import claims, clock, db

log = logging.getLogger(__name__)


def sweep(settings: Settings, redis: Any, now: datetime | None = None) -> list[str]:
    """Re-enqueue stale open requests (as of ``now``, default the clock); returns the instances sent.

    A rule request the cap still holds is not stale, however old: only its release sends it.
    """
    with Session(db.get_engine(settings.database_url)) as session:
        stale = claims.stale_requests(session, now or clock.utcnow(), settings.stale_after)
    if not stale:
        return []
    # Every lock: a request is held by its alarm's under both scopes (while it waits for the
    # global lock, and between Oceane's answer and the record, it holds only that one).
    locks = all_locks(redis, settings.lock_timeout)
    held = {info.instance for info in (lock.info() for lock in locks) if info is not None}
    sent = []
    for instance in stale:
        if instance in held:
            continue  # being worked on right now
        # The marker limits a stuck request to one copy per OCEANE_STALE_AFTER.
        if redis.exists(keys.enqueued_marker(instance)):
            continue
        jobs.enqueue_create(redis, instance, settings.queue, settings.stale_after)
        sent.append(instance)
    if sent:
        log.warning("sweep re-enqueued %d stale request(s): %s", len(sent), ", ".join(sent[:10]))
    return sent


@dataclass
class Recovery:
    """What one :func:`recover_dead_workers` pass did."""

    resent: list[str] = field(default_factory=list)  # requests of a broken dead holder's lock
    restored: int = 0  # unacked messages of dead workers put back on their queue


def recover_dead_workers(settings: Settings, redis: Any, own_node: str | None) -> Recovery:
    """Hand a dead worker's work to the living: its lock, its request, its unacked messages.

    Call it only while the caller's own heartbeat is steady (see ``liveness.holder_dead``).
    """
    from worker import transport  # kombu, only in worker processes

    done = Recovery()
    # The global lock and every alarm's, under both scopes: a dead holder of an alarm's lock would
    # otherwise keep that alarm's request waiting for the lock's TTL (under ``global`` a worker
    # killed between Oceane's answer and the record holds only its alarm's), and a dead holder of
    # the global lock every request. A worker killed mid-call holds both: both are broken, its
    # request re-sent once.
    for lock in all_locks(redis, settings.lock_timeout):
        holder = lock.info()
        # release() deletes the lock only if it still carries that token: a lock re-taken meanwhile
        # by a live worker is left alone.
        if holder is None or not holder_dead(redis, holder, own_node) or not lock.release(holder.token):
            continue
        # Re-sent from the lock rather than found in the database: the row may still say queued
        # (killed before the claim) and its message may be gone with Redis's last second of writes.
        # A second copy (the restored unacked message below) finds the request done or owned.
        metrics.DEAD_HOLDER_LOCKS_BROKEN.inc()
        if holder.instance not in done.resent:
            jobs.enqueue_create(redis, holder.instance, settings.queue, settings.stale_after)
            done.resent.append(holder.instance)
        log.warning(
            "broke the processing lock of dead worker %s and re-sent request %s (%s)",
            holder.worker,
            holder.instance,
            lock.key,
        )
    done.restored = transport.restore_orphans(settings, redis, lambda node: node_alive(redis, node))
    return done
