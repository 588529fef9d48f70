"""The ticket job message, written straight to the Redis list the Celery worker reads.

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
