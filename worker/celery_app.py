"""The Celery app and every reliability setting, in one place, each with why.

Start a worker with ``celery -A worker worker`` and the scheduler with ``celery -A worker beat``.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, beat_init, worker_init, worker_process_init

from oceane_ticket import connections, jobs, liveness, logs
from oceane_ticket.alarm_state import unavailable_reason
from oceane_ticket.settings import SettingsError, get_settings
from worker import transport
from worker.release import RELEASE_INTERVAL

try:
    settings = get_settings()
except SettingsError as exc:  # a clear line, not a traceback, for a bad setting
    sys.exit(str(exc))

# kombu's Redis transport re-delivers a message that was delivered but not acked within the
# visibility timeout, even if the worker is still busy with it. It must therefore exceed the
# longest a message can legitimately stay unacked: a retry's countdown (the worker holds ETA
# messages unacked), the wait for the processing lock and the processing itself. It is only the
# last resort after a crash: a dead worker's messages are put back seconds after its heartbeat
# lapses (worker.sweep.recover_dead_workers), and the sweep re-sends what Redis lost.
VISIBILITY_TIMEOUT = int(settings.retry_after_max + settings.retry_backoff_max + 4 * settings.lock_timeout) + 60

# One malformed entry on the queue must not stop the worker (kombu would raise in its event loop).
transport.install()

app = Celery("oceane", broker=connections.broker_url(settings), include=["worker.tasks", "worker.event_tasks"])
app.conf.update(
    task_default_queue=settings.queue,
    # Ack after the task ran, not when it was received: a worker that dies mid-task leaves the
    # message in Redis to be delivered again (processing is idempotent, so a re-run is safe).
    task_acks_late=True,
    # ...and when a prefork child is killed mid-task (SIGKILL, OOM), put the message back rather
    # than acking it as failed, which acks_late alone would do.
    task_reject_on_worker_lost=True,
    # A task that raised (a bug) is acked: re-running a bug forever helps nobody, and the sweep
    # still finds the request open in the database.
    task_acks_on_failure_or_timeout=True,
    # Take one message at a time per process: the processing lock serialises the work anyway,
    # and prefetched messages would sit unacked in one worker while another is idle.
    worker_prefetch_multiplier=1,
    # The broker's connections time out like the worker's own Redis clients (connections.py),
    # and under Sentinel name the master to ask for (kombu's sentinel:// transport).
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        **connections.broker_transport_options(settings, "worker"),
    },
    broker_connection_retry_on_startup=True,
    # No result backend: outcomes live in PostgreSQL, and results would only duplicate them.
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    # Task events feed Flower's task pages and nothing else. Sending them costs the worker's main
    # process three publishes per ticket, each building a new Redis client in kombu: 40 % of its
    # CPU, measured (bench row 4). So they are off until a Flower asks for them: Flower turns them
    # on in every worker at start and every 5 s (its enable_events), `celery -A worker worker -E`
    # turns them on from the start. Our task arguments are only instance ids, never secrets.
    worker_send_task_events=False,
    task_send_sent_event=False,
    # SIGTERM (warm shutdown) lets the running ticket finish; unstarted and ETA messages stay
    # unacked in Redis and are delivered to the next worker.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    beat_schedule={
        "sweep": {"task": jobs.TASK_SWEEP, "schedule": settings.sweep_interval},
        "cleanup": {"task": jobs.TASK_CLEANUP, "schedule": settings.cleanup_interval},
        # The rule cap (worker/release.py): every few seconds, also with no cap, so that requests held
        # while a cap was set are sent once it is lifted. A cheap indexed read when nothing is held.
        "release-rules": {"task": jobs.TASK_RELEASE, "schedule": RELEASE_INTERVAL},
        # Pending alarm write-backs whose job was lost, and Oceane's ticket status. The
        # poll goes at the lowest priority so that waiting ticket jobs are taken first.
        "events-sweep": {"task": jobs.TASK_EVENTS_SWEEP, "schedule": settings.sweep_interval},
        "writeback-sweep": {"task": jobs.TASK_WRITEBACK_SWEEP, "schedule": settings.sweep_interval},
        "status-poll": {
            "task": jobs.TASK_STATUS_POLL,
            "schedule": settings.status_poll_interval,
            "options": {"priority": jobs.LOW_PRIORITY},
        },
        # Only with OCEANE_HUB_ENABLED: the listener registered whenever none is known (oceane_ticket/hub.py).
        **(
            {"hub-register": {"task": jobs.TASK_HUB_REGISTER, "schedule": settings.status_poll_interval}}
            if settings.hub_enabled
            else {}
        ),
        # A clear that never reached us (oceane_ticket/reconcile.py); only where DataMiner can be asked.
        **(
            {
                "reconcile": {
                    "task": jobs.TASK_RECONCILE,
                    "schedule": settings.reconcile_interval,
                    "options": {"priority": jobs.LOW_PRIORITY},
                }
            }
            if unavailable_reason(settings) is None
            else {}
        ),
    },
    timezone="UTC",
)


@beat_init.connect
def _register_hub_at_start(**_: Any) -> None:
    # Beat runs an interval entry only once its first interval has passed: without this, pushed
    # changes would start up to a status-poll interval (5 minutes by default) after a deployment.
    if settings.hub_enabled:
        app.send_task(jobs.TASK_HUB_REGISTER, queue=settings.queue)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # A forked child must not reuse its parent's pooled database sockets.
    from oceane_ticket.storage import db

    db.dispose_all()


@worker_init.connect
def _start_heartbeat(**_: Any) -> None:
    # In the worker's main process, before the pool forks: the children inherit the node and name
    # it in the locks they take; the main process (which also holds the unacked messages) beats.
    from worker import sweep

    node = liveness.new_node()
    liveness.set_node(node)
    client = connections.redis_client(settings, purpose="worker")

    def recover(heartbeat: liveness.Heartbeat) -> None:
        if heartbeat.steady():
            sweep.recover_dead_workers(settings, client, own_node=node)

    liveness.Heartbeat(client, node, on_beat=recover).start()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _protect_logs(logger: Any, **_: Any) -> None:
    secrets = [settings.client_secret, settings.dataminer_token, settings.dataminer_password]
    secrets.append(settings.redis_sentinel_password)
    logs.protect(logger.handlers, secrets=[s.get_secret_value() for s in secrets])
