"""Prometheus metrics: what the worker did (counters, histograms) and the queue now (gauges at scrape).

**Multiprocess mode.** Celery's prefork pool runs tasks in child processes, each with its own
memory, so the worker's counters use prometheus-client's multiprocess mode: with
``PROMETHEUS_MULTIPROC_DIR`` set in the worker's environment, every process writes its values to
memory-mapped files in that directory, and ``oceane-ticket metrics`` (which must see the same
directory) sums them at scrape time with ``MultiProcessCollector``. Files are named by host name
and pid rather than pid alone, so several worker containers may share one volume without their
pids colliding. The directory should be emptied before the workers start (a tmpfs, or
``rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db``); if it is not, counters simply keep summing across
restarts, which Prometheus treats like any counter. Without the variable the counters live in
each process's memory and nobody scrapes them: set it wherever the worker runs.

**Scraping.** ``oceane-ticket metrics --port 9808`` serves ``/metrics``: the workers' counters and
histograms from the directory, plus gauges read from Redis and the database at each scrape (queue
depth, requests per status, age of the oldest open request, the processing lock). The gauges need
no worker, so they are right even when every worker is down. ``--once`` prints one scrape.

Metrics (all prefixed ``oceane_``):

* ``tickets_created_total``, ``tickets_adopted_total`` (an existing Oceane ticket recorded instead
  of a new one), ``tickets_failed_total`` (final failures), ``tickets_retried_total`` (transient
  failures that scheduled another attempt);
* ``call_duration_seconds{operation, outcome}``: Oceane calls as the worker sees them: ``token``,
  ``create`` and ``find`` (a whole externalId lookup, every page); a create that needs a new token
  includes it. ``outcome`` is ``ok``, ``http_4xx``, ``http_5xx`` or ``no_answer``;
* ``lock_wait_seconds{lock, outcome}``: waiting for a processing lock: ``lock`` is ``global`` (the
  Ticket Queue Processing Lock, held around the Oceane call under lock scope global), ``alarm``
  (the alarm's, held from the claim to the record under both scopes) or ``events`` (a ticket's
  alarm events); ``outcome`` is ``acquired`` or ``timeout``;
* gauges: ``queue_messages`` (waiting in the Redis list), ``queue_unacked_messages`` (delivered to
  a worker and not acknowledged: running, or held for a retry's countdown), ``requests{status}``,
  ``requests_writeback{writeback_state}``,
  ``oldest_open_request_age_seconds``, ``processing_lock_held``, ``scrape_source_up{source}``;
* the rule cap (``OCEANE_AUTO_TICKETS_PER_MINUTE``): gauges ``rule_requests_waiting`` (held, job not
  sent), ``rule_requests_released_last_minute``, ``auto_tickets_per_minute`` (the cap, 0: none), and the
  counter ``rule_requests_released_total`` (the release's sends).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from oceane_ticket.settings import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_PORT = 9808
_HOST = socket.gethostname().replace("_", "-")  # "_" separates the parts of the file names


def _process_identifier() -> str:
    # Host and pid: pids repeat across containers that share the directory.
    return f"{_HOST}-{os.getpid()}"


def multiproc_dir() -> str | None:
    """The shared directory when multiprocess mode is on."""
    return os.environ.get(MULTIPROC_ENV) or None


if multiproc_dir():
    os.makedirs(str(multiproc_dir()), exist_ok=True)
    # Must happen before the metrics below are built: each one picks its value class then.
    values.ValueClass = values.MultiProcessValue(_process_identifier)  # type: ignore[no-untyped-call]  # prometheus_client: untyped

TICKETS_CREATED = Counter("oceane_tickets_created", "Tickets created in Oceane")
TICKETS_ADOPTED = Counter("oceane_tickets_adopted", "Existing Oceane tickets recorded instead of a new one")
TICKETS_FAILED = Counter("oceane_tickets_failed", "Requests that failed for good")
TICKETS_RETRIED = Counter("oceane_tickets_retried", "Transient failures that scheduled another attempt")
# A worker found a processing lock whose holder's heartbeat had lapsed, broke it and re-sent its
# request: how a crashed worker's ticket resumes within seconds instead of the lock's TTL.
DEAD_HOLDER_LOCKS_BROKEN = Counter(
    "oceane_dead_holder_locks_broken", "Processing locks of dead workers broken, their request re-sent"
)

# The rule cap's release sent these held Correlation-rule requests' jobs (worker/release.py).
RULE_REQUESTS_RELEASED = Counter(
    "oceane_rule_requests_released", "Held Correlation-rule requests whose job the rule cap's release sent"
)

# Oceane answers in tens of milliseconds to seconds; the top buckets show calls near the timeout.
CALL_DURATION = Histogram(
    "oceane_call_duration_seconds",
    "Oceane calls as the worker sees them",
    ["operation", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
# Usually zero; a queue of clicks waits one create call per ticket ahead of it (on the global lock).
LOCK_WAIT = Histogram(
    "oceane_lock_wait_seconds",
    "Waiting for a processing lock: the global one, an alarm's, or a ticket's events lock",
    ["lock", "outcome"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

_EVENTS = {
    "created": TICKETS_CREATED,
    "adopted": TICKETS_ADOPTED,
    "failed": TICKETS_FAILED,
    "retried": TICKETS_RETRIED,
}


def on_event(name: str, data: dict[str, Any]) -> None:
    """``processing.Context.on_event``: count what happened. Never raises (metrics must not fail a ticket)."""
    counter = _EVENTS.get(name)
    if counter is None:  # "oceane_call" and future events: latency comes from MeteredClient
        return
    try:
        counter.inc()
    except Exception:  # a full disk or a removed directory must not fail the task
        log.debug("could not count %s", name, exc_info=True)


class QueueCollector(Collector):
    """Gauges read from Redis and the database at scrape time: no worker needed to be right."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One reading of the queue, the requests and the lock."""
        from oceane_ticket import queue_state

        up = GaugeMetricFamily("oceane_scrape_source_up", "Whether the source answered this scrape", labels=["source"])
        queue = self.settings.queue
        try:
            redis_view = queue_state.redis_view(self.settings)
        except Exception as exc:
            log.warning("metrics: redis unavailable: %s", type(exc).__name__)
            up.add_metric(["redis"], 0)
        else:
            up.add_metric(["redis"], 1)
            yield _gauge(
                "oceane_queue_messages", "Ticket jobs waiting in the Redis queue", redis_view["messages"], queue
            )
            yield _gauge(
                "oceane_queue_unacked_messages",
                "Ticket jobs delivered to a worker and not acknowledged",
                redis_view["unacked"],
                queue,
            )
            yield GaugeMetricFamily(
                "oceane_processing_lock_held",
                "Processing locks held: the global one (0 or 1), plus one per alarm in flight under lock scope alarm",
                value=(0 if redis_view["lock"] is None else 1) + redis_view.get("alarm_locks_held", 0),
            )
        try:
            db_view = queue_state.database_view(self.settings)
        except Exception as exc:
            log.warning("metrics: database unavailable: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
            requests = GaugeMetricFamily("oceane_requests", "Requests per status", labels=["status"])
            for status, count in db_view["counts"].items():
                requests.add_metric([status], count)
            yield requests
            writeback = GaugeMetricFamily(
                "oceane_requests_writeback", "Requests per write-back state", labels=["writeback_state"]
            )
            for state, count in db_view["writeback_counts"].items():
                writeback.add_metric([state], count)
            yield writeback
            yield GaugeMetricFamily(
                "oceane_rule_requests_waiting",
                "Correlation-rule requests held by the rule cap, their job not sent yet",
                value=db_view["rule_waiting"],
            )
            yield GaugeMetricFamily(
                "oceane_rule_requests_released_last_minute",
                "Correlation-rule requests whose job was sent within the last 60 s (the rule cap compares this)",
                value=db_view["rule_released_last_minute"],
            )
            yield GaugeMetricFamily(
                "oceane_auto_tickets_per_minute",
                "The rule cap, OCEANE_AUTO_TICKETS_PER_MINUTE (0: none)",
                value=self.settings.auto_tickets_per_minute,
            )
            yield GaugeMetricFamily(
                "oceane_oldest_open_request_age_seconds",
                "Age of the oldest queued or processing request (0 when none)",
                value=db_view["oldest_open_age_s"] or 0.0,
            )
        yield up


def _gauge(name: str, text: str, value: float, queue: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=["queue"])
    family.add_metric([queue], value)
    return family


def build_registry(settings: Settings, path: str | None = None) -> CollectorRegistry:
    """The registry ``oceane-ticket metrics`` serves: the workers' files plus the scrape-time gauges."""
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    path = path or multiproc_dir()
    if path:
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]  # prometheus_client: untyped
    registry.register(QueueCollector(settings))
    from oceane_ticket.lifecycle_view import EventsCollector  # alarm events (the ticket's life after the click)

    registry.register(EventsCollector(settings))
    return registry


def render(settings: Settings, path: str | None = None) -> bytes:
    """One scrape, in the text exposition format."""
    from prometheus_client import generate_latest

    return generate_latest(build_registry(settings, path))


def serve(settings: Settings, port: int = DEFAULT_PORT, address: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on a background thread; returns the server (``shutdown()`` stops it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=address, registry=build_registry(settings))
    return server
