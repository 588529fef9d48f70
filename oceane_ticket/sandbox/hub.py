"""The sandbox's notification hub: listener registrations and the pushing of ticket events.

TMF621 (v4 swagger ``EventSubscription``/``EventSubscriptionInput``, v5 OAS ``Hub`` and the
``/listener/<eventName>`` paths) lets a client register a callback; the server then POSTs each
event to ``{callback}/listener/<eventName>``. The sandbox pushes from one background thread, so that
a slow or absent listener never holds up the request that changed the ticket; each event is tried a
bounded number of times, then dropped and counted. Pushes go to loopback callbacks only: the sandbox
must never become a way to make this machine call somewhere else.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import itertools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oceane_ticket.loopback import is_loopback
from oceane_ticket.sandbox.tickets import now_iso

logger = logging.getLogger("oceane_ticket.sandbox")

# Event names as both TMF621 versions spell them: the type in the body, and the listener path.
CREATE_EVENT = "TroubleTicketCreateEvent"
STATUS_CHANGE_EVENT = "TroubleTicketStatusChangeEvent"
RESOLVED_EVENT = "TroubleTicketResolvedEvent"
ATTRIBUTE_CHANGE_EVENT = "TroubleTicketAttributeValueChangeEvent"
EVENT_TYPES = (CREATE_EVENT, STATUS_CHANGE_EVENT, RESOLVED_EVENT, ATTRIBUTE_CHANGE_EVENT)

MAX_SUBSCRIPTIONS = 100
MAX_QUEUED = 10_000
PUSH_ATTEMPTS = 3
PUSH_TIMEOUT = 2.0  # seconds per attempt: a listener on loopback that takes longer is broken
RETRY_DELAYS = (0.2, 0.5)  # between attempts
MAX_REMEMBERED_DELIVERIES = 1000


class CallbackError(ValueError):
    """A callback URL the sandbox refuses to push to; the message says why."""


@dataclass(frozen=True)
class Subscription:
    """One registered listener."""

    id: str
    callback: str
    query: str

    def wants(self, event_type: str) -> bool:
        """Whether the registration's query lets this event through.

        An empty query means every event; ``eventType=A,B`` (the TMF design guidelines' attribute
        filter on the event) keeps only those.
        """
        name, _, values = self.query.partition("=")
        if name.strip() != "eventType":
            return True
        return event_type in {v.strip() for v in values.split(",")}


def check_callback(callback: Any) -> str:
    """The callback URL if the sandbox may push to it (http(s), loopback host); raises :class:`CallbackError`."""
    if not isinstance(callback, str) or not callback.strip():
        raise CallbackError("callback must be a non-empty URL string")
    try:
        parts = urlsplit(callback)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise CallbackError("callback is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise CallbackError("callback must be an http:// or https:// URL with a host")
    if not is_loopback(host):
        raise CallbackError("the sandbox pushes only to loopback callbacks (127.0.0.0/8, ::1, localhost)")
    return callback


def redacted(callback: str) -> str:
    """The callback without its path: the path may carry the listener's secret."""
    parts = urlsplit(callback)
    return f"{parts.scheme}://{parts.netloc}/…"


class Hub:
    """Registrations, and a daemon thread that delivers queued events to them."""

    def __init__(
        self, stopping: threading.Event, shape: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: body
    ) -> None:
        self._lock = threading.Lock()
        self._shape = shape  # the dialect's event form
        self._subscriptions: dict[str, Subscription] = {}
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._queue: queue.Queue[tuple[Subscription, str, dict[str, Any]]] = queue.Queue(MAX_QUEUED)
        self._stopping = stopping
        self._thread: threading.Thread | None = None
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=MAX_REMEMBERED_DELIVERIES)
        self._counters = {"events_pushed": 0, "events_failed": 0, "events_dropped": 0}

    # --- registrations ---

    def register(self, callback: Any, query: Any) -> Subscription:
        """Add a listener; raises :class:`CallbackError` for a refused callback, query or too many."""
        url = check_callback(callback)
        if query is None:
            query = ""
        if not isinstance(query, str):
            raise CallbackError("query must be a string")
        with self._lock:
            if len(self._subscriptions) >= MAX_SUBSCRIPTIONS:
                raise CallbackError(f"at most {MAX_SUBSCRIPTIONS} listeners may be registered")
            subscription = Subscription(str(next(self._ids)), url, query)
            self._subscriptions[subscription.id] = subscription
        return subscription

    def unregister(self, subscription_id: str) -> bool:
        """Remove a listener; whether it existed."""
        with self._lock:
            return self._subscriptions.pop(subscription_id, None) is not None

    def get(self, subscription_id: str) -> Subscription | None:
        """One registration, or ``None``."""
        with self._lock:
            return self._subscriptions.get(subscription_id)

    def reset(self) -> None:
        """Forget registrations, queued events, deliveries and counters."""
        with self._lock:
            self._subscriptions.clear()
            self._deliveries.clear()
            self._counters = dict.fromkeys(self._counters, 0)
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
                self._queue.task_done()

    # --- events ---

    def publish(self, event_type: str, ticket: dict[str, Any]) -> None:
        """Queue one event about ``ticket`` (copied: the caller may go on using it) for every listener that wants it.

        Never blocks; with no listener it costs nothing.
        """
        with self._lock:
            targets = [s for s in self._subscriptions.values() if s.wants(event_type)]
            event_id = f"sbx-{next(self._events)}"
        if not targets:
            return
        ticket = copy.deepcopy(ticket)
        body = self._shape(
            {"eventId": event_id, "eventTime": now_iso(), "eventType": event_type, "event": {"troubleTicket": ticket}}
        )
        for subscription in targets:
            try:
                self._queue.put_nowait((subscription, event_type, body))
            except queue.Full:
                with self._lock:
                    self._counters["events_dropped"] += 1
        self._ensure_thread()

    def idle(self, timeout: float) -> bool:
        """Wait until every queued event has been delivered or given up on; whether that happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Queue.unfinished_tasks: put and not yet task_done(), i.e. queued or being delivered.
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def snapshot(self) -> dict[str, Any]:
        """Registrations (callbacks without their path), counters and the last deliveries."""
        with self._lock:
            return {
                "subscriptions": [
                    {"id": s.id, "callback": redacted(s.callback), "query": s.query}
                    for s in self._subscriptions.values()
                ],
                **self._counters,
                "deliveries": list(self._deliveries),
            }

    # --- delivery ---

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="oceane-sandbox-hub", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                subscription, event_type, body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            status: int | None = None
            try:
                status = self._deliver(subscription, event_type, body)
            finally:
                # Counted before the event is marked done, so that idle() means "all accounted for".
                with self._lock:
                    self._counters["events_pushed" if status is not None else "events_failed"] += 1
                    self._deliveries.append(
                        {
                            "subscription": subscription.id,
                            "eventId": body["eventId"],
                            "eventType": event_type,
                            "ticketId": body["event"]["troubleTicket"].get("id"),
                            "status": status,
                        }
                    )
                self._queue.task_done()

    def _deliver(self, subscription: Subscription, event_type: str, body: dict[str, Any]) -> int | None:
        """POST the event; the listener's HTTP status, or ``None`` after every attempt failed."""
        url = subscription.callback.rstrip("/") + "/listener/" + event_type[0].lower() + event_type[1:]
        payload = json.dumps(body).encode()
        for attempt in range(PUSH_ATTEMPTS):
            if attempt and self._stopping.wait(RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)]):
                return None
            status = _post(url, payload)
            if status is not None and status < 500:
                # A 4xx is the listener's refusal: repeating the same event would not change it.
                return status
        logger.info("hub: event %s to listener %s not delivered", body["eventId"], subscription.id)
        return None


def _post(url: str, payload: bytes) -> int | None:
    parts = urlsplit(url)
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = factory(parts.hostname or "", parts.port, timeout=PUSH_TIMEOUT)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, payload, {"Content-Type": "application/json", "Accept": "*/*"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
