"""The queue as it stands: the processing lock, the Redis side, the requests in the database.

One reading shared by ``oceane-ticket status`` (which renders it) and the metrics collector (which
turns it into gauges), so both always agree. Each ``*_view`` raises its source's error when the
source cannot be reached; :func:`collect_status` names an unreachable source in ``errors``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from oceane_ticket import connections, keys
from oceane_ticket.logs import describe_exception
from oceane_ticket.statuses import PENDING_STATUSES
from oceane_ticket.storage.clock import iso
from oceane_ticket.storage.schema import schema_problem

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings

# The unacked hash is shared by every queue of the Redis database; stop counting after this many
# entries so that a huge backlog from another app cannot stall a scrape.
UNACKED_SCAN_LIMIT = 10_000


def redis_view(settings: Settings) -> dict[str, Any]:
    """The lock and the Redis side of the queue. Raises the Redis client's error when unreachable."""
    from oceane_ticket.locking import all_locks

    client = connections.redis_client(settings, purpose="command")
    try:
        # The global lock (under OCEANE_LOCK_SCOPE=global, the one ticket in flight against Oceane),
        # then under alarm scope every alarm's lock present (each an alarm in flight). Under global
        # scope alarms' locks are held too (claim to record), but the global one is what the
        # connector showed, and the SCAN is not paid for them.
        locks = all_locks(client, settings.lock_timeout)
        lock = next(locks).info()
        alarm_locks = locks if settings.lock_scope == "alarm" else iter(())
        alarms_held = sum(1 for alarm_lock in alarm_locks if alarm_lock.info() is not None)
        pipe = client.pipeline(transaction=False)
        for key in keys.queue_lists(settings.queue):
            pipe.llen(key)
        messages = sum(int(n) for n in pipe.execute())
        return {
            "lock": lock,
            "alarm_locks_held": alarms_held,
            "messages": messages,
            "unacked": _unacked(client, settings.queue),
            "server": connections.redis_location(settings, client),  # under Sentinel: the master reached
        }
    finally:
        client.close()


def _unacked(client: Any, queue: str) -> int:
    """Messages of ``queue`` delivered to a worker and not acknowledged (running or waiting for an ETA)."""
    count = 0
    for seen, (_tag, raw) in enumerate(client.hscan_iter(keys.KOMBU_UNACKED, count=500)):
        if seen >= UNACKED_SCAN_LIMIT:
            break
        try:
            _message, _exchange, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if routing_key == queue:
            count += 1
    return count


def database_view(settings: Settings) -> dict[str, Any]:
    """Requests per status and per write-back state, the oldest open one, the latest failure.

    Raises:
        Exception: the database's error when it cannot be read.
    """
    from oceane_ticket.storage import clock, db, holds, reads

    now = clock.utcnow()
    with db.session(settings.database_url) as s:
        counts = reads.count_by_status(s)
        # The rule cap: held rule requests (queued, job not sent) and what it released this minute.
        rule_waiting = holds.waiting(s)
        rule_released = holds.released_within_window(s, now)
        writeback = reads.count_by_writeback_state(s)
        oldest = reads.oldest_open(s)
        latest = reads.list_failed(s, 1)
        # What became of the failed request since (a retry may have created its ticket).
        request = reads.get(s, latest[0][0].instance) if latest else None
        now_status = request.status if request is not None else None
    oldest_at = clock.as_utc(oldest.created_at) if oldest else None
    failure = None
    if latest:
        row, ticket_id = latest[0]
        failure = {
            "instance": row.instance,
            "ticket_id": row.ticket_id or ticket_id,
            "failed_at": iso(row.failed_at),
            "http_error_code": row.http_error_code,
            "app_error_code": row.app_error_code,
            "error_message": row.error_message,
            "error_description": row.error_description,
            "attempt": row.attempt,
            "final": row.final,
            "request_status": now_status,
        }
    return {
        "counts": counts,
        "writeback_counts": writeback,
        "oldest_open_instance": oldest.instance if oldest else None,
        "oldest_open_status": oldest.status if oldest else None,
        "oldest_open_since": iso(oldest_at),
        "oldest_open_age_s": round((now - oldest_at).total_seconds(), 3) if oldest_at else None,
        "latest_failure": failure,
        "rule_waiting": rule_waiting,
        "rule_released_last_minute": rule_released,
    }


def collect_status(settings: Settings) -> dict[str, Any]:
    """Everything ``status`` shows; a source that cannot be reached is named in ``errors``."""
    from oceane_ticket import lifecycle_view

    errors: list[str] = []
    lock: dict[str, Any] = {"state": "unknown"}
    queue: dict[str, Any] = {"redis_queue": settings.queue, "redis_messages": None, "redis_unacked": None}
    try:
        view = redis_view(settings)
    except Exception as exc:
        errors.append(f"redis unavailable: {describe_exception(exc)}")
    else:
        info = view["lock"]
        if info is None:
            lock = {"state": "free"}
        else:
            lock = {
                "state": "held",
                "worker": info.worker,
                "instance": info.instance,
                "since": iso(info.since),
                "held_for_s": round(max(0.0, time.time() - info.since), 3),
                "ttl_s": round(info.ttl_seconds, 3),
            }
        if settings.lock_scope == "alarm":
            # One lock per alarm: how many alarms have a ticket in flight against Oceane now.
            lock["alarm_locks_held"] = view["alarm_locks_held"]
        queue.update(redis_messages=view["messages"], redis_unacked=view["unacked"], redis_server=view["server"])
    counts: dict[str, int] | None = None
    writeback: dict[str, int] | None = None
    latest = None
    try:
        dbv = database_view(settings)
    except Exception as exc:
        errors.append(schema_problem(exc) or f"database unavailable: {describe_exception(exc)}")
    else:
        counts = dbv["counts"]
        writeback = dbv["writeback_counts"]
        latest = dbv["latest_failure"]
        queue.update(
            {status.value: counts[status] for status in PENDING_STATUSES},
            oldest_open_instance=dbv["oldest_open_instance"],
            oldest_open_since=dbv["oldest_open_since"],
            oldest_open_age_s=dbv["oldest_open_age_s"],
            # Among the queued: Correlation rules' requests the cap holds (OCEANE_AUTO_TICKETS_PER_MINUTE).
            rule_requests_waiting=dbv["rule_waiting"],
            rule_requests_released_last_minute=dbv["rule_released_last_minute"],
            auto_tickets_per_minute=settings.auto_tickets_per_minute,
        )
    return {
        "lock": lock,
        "queue": queue,
        "counts": counts,
        "writeback_counts": writeback,
        "latest_failure": latest,
        "events": lifecycle_view.status_block(settings),  # alarm events per state (lifecycle_view.py)
        "errors": errors,
    }
