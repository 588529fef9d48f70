"""The jobs' task names and messages, written straight to the Redis lists the Celery worker reads.

The producer runs once per click and must start fast, so it does not import Celery (or kombu):
it writes Celery's message protocol v2 itself, exactly as ``app.send_task`` would for an
anonymous-exchange queue on the Redis transport (``tests/unit/test_jobs.py`` compares the two).
The job carries only the request's instance id: the database holds the request, so no operator
text or secret ever sits in Redis or shows in Flower.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from typing import Any

from oceane_ticket import keys

TASK_CREATE = "oceane.create_ticket"
TASK_SWEEP = "oceane.sweep"
TASK_CLEANUP = "oceane.cleanup"
# The rule cap's release (worker/release.py): sends the jobs of held Correlation-rule requests.
TASK_RELEASE = "oceane.release_rules"

# Alarm write-back jobs carry only the request's instance id, like a ticket job; the database holds
# the values to write and the state (``tickets.writeback_state``). They go on the ticket queue at
# kombu's lowest Redis priority, so that a worker with both waiting takes ticket creations first: a
# write-back is idempotent and can wait, an operator waiting for a ticket cannot.
TASK_WRITEBACK = "oceane.writeback"
TASK_WRITEBACK_SWEEP = "oceane.writeback_sweep"
TASK_STATUS_POLL = "oceane.status_poll"

# Alarm events (a clear, a change, a note) are applied per ticket, in order, by one job per ticket
# carrying its instance id; the database holds the events and their state (``alarm_events``).
TASK_APPLY_EVENTS = "oceane.apply_events"
TASK_EVENTS_SWEEP = "oceane.events_sweep"
# Registers our listener at Oceane's hub when none is known (OCEANE_HUB_ENABLED), from the scheduler.
TASK_HUB_REGISTER = "oceane.hub_register"
# Beat's reconcile with DataMiner (oceane_ticket/reconcile.py): open tickets whose alarm is gone.
TASK_RECONCILE = "oceane.reconcile"

# kombu keeps each priority band in its own list (keys.priority_list), and a worker pops band 0
# (ticket jobs) before 9: write-backs and the status poll never delay a ticket creation.
LOW_PRIORITY = 9


def task_message(task: str, args: list[Any], queue: str, task_id: str | None = None) -> dict[str, Any]:
    """A Celery protocol-2 message for the Redis transport."""
    task_id = task_id or str(uuid.uuid4())
    body = json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    return {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": repr(args),
            "kwargsrepr": "{}",
            "origin": f"{os.getpid()}@{socket.gethostname()}",
            "ignore_result": True,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


def enqueue_create(redis: Any, instance: str, queue: str, marker_ttl: float) -> str:
    """Queue one ticket job and set its marker, atomically (MULTI); returns the task id.

    The marker lives ``marker_ttl`` seconds (OCEANE_STALE_AFTER): the sweep sends a request at
    most once per that period, however long it stays stale.
    """
    message = task_message(TASK_CREATE, [instance], queue)
    pipe = redis.pipeline(transaction=True)
    pipe.lpush(queue, json.dumps(message))
    pipe.set(keys.enqueued_marker(instance), "1", ex=max(1, int(marker_ttl)))
    pipe.execute()
    return str(message["headers"]["id"])


def enqueue_creates(redis: Any, instances: list[str], queue: str, marker_ttl: float) -> None:
    """:func:`enqueue_create` for many requests in one MULTI (one round trip for a release's batch)."""
    if not instances:
        return
    pipe = redis.pipeline(transaction=True)
    for instance in instances:  # oldest first: the worker pops from the other end, so oldest is taken first
        pipe.lpush(queue, json.dumps(task_message(TASK_CREATE, [instance], queue)))
        pipe.set(keys.enqueued_marker(instance), "1", ex=max(1, int(marker_ttl)))
    pipe.execute()


def queue_for(queue: str, priority: int = LOW_PRIORITY) -> str:
    """The Redis list kombu reads for ``priority`` on ``queue``."""
    return keys.priority_list(queue, priority)


def enqueue_writeback(redis: Any, instance: str, queue: str, marker_ttl: float) -> str:
    """Queue one write-back job (low priority) and set its marker, atomically; returns the task id."""
    message = task_message(TASK_WRITEBACK, [instance], queue)
    message["properties"]["priority"] = LOW_PRIORITY
    pipe = redis.pipeline(transaction=True)
    pipe.lpush(queue_for(queue), json.dumps(message))
    pipe.set(keys.writeback_marker(instance), "1", ex=max(1, int(marker_ttl)))
    pipe.execute()
    return str(message["headers"]["id"])
