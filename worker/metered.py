"""The worker's own instrumentation: the Oceane client and the processing lock, timed into the metrics.

Only the worker uses these (``worker/tasks.py`` builds its processing context with them); the
metric definitions stay in :mod:`oceane_ticket.metrics`, where the exporter registers them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from oceane_ticket import keys
from oceane_ticket.locking import Held, ProcessingLock
from oceane_ticket.metrics import CALL_DURATION, LOCK_WAIT
from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.errors import OceaneError
from oceane_ticket.oceane.ticket import OceaneTicket, TicketLookup
from oceane_ticket.oceane.tokens import Token
from oceane_ticket.request import RequestRecord

log = logging.getLogger(__name__)


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    status = getattr(error, "http_status", 0) or 0
    if status == 0:
        return "no_answer"
    return "http_4xx" if status < 500 else "http_5xx"


@contextmanager
def timed_call(operation: str) -> Iterator[None]:
    """Observe the duration of one Oceane call under ``operation``."""
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except OceaneError as exc:
        error = exc
        raise
    finally:
        try:
            CALL_DURATION.labels(operation, _outcome(error)).observe(time.perf_counter() - started)
        except Exception:
            log.debug("could not observe an Oceane call", exc_info=True)


class MeteredClient(OceaneClient):
    """The Oceane client, timing each call into ``oceane_call_duration_seconds``."""

    def fetch_token(self) -> Token:
        """See :meth:`OceaneClient.fetch_token`."""
        with timed_call("token"):
            return super().fetch_token()

    def create_ticket(self, request: RequestRecord | Mapping[str, Any]) -> OceaneTicket:
        """See :meth:`OceaneClient.create_ticket`."""
        with timed_call("create"):
            return super().create_ticket(request)

    def find_tickets(self, external_id: str) -> TicketLookup:
        """See :meth:`OceaneClient.find_tickets`."""
        with timed_call("find"):
            return super().find_tickets(external_id)


KINDS = ("global", "alarm", "events")


def lock_kind(key: str) -> str:
    """The ``lock`` label of a wait: ``global``, ``alarm`` (keys.alarm_lock) or ``events`` (worker.events)."""
    if key == keys.PROCESSING_LOCK:
        return "global"
    return "alarm" if key.startswith(keys.ALARM_LOCK) else "events"


class MeteredLock(ProcessingLock):
    """The processing lock, timing each wait into ``oceane_lock_wait_seconds``.

    Labelled by lock: under OCEANE_LOCK_SCOPE=global a ticket waits twice, for its alarm's lock
    (a copy of its job ahead of it, rarely) and for the global one (every other alarm's call ahead
    of it); one histogram for both would mix a near-zero wait with the one that queues.
    """

    def acquire(
        self, instance: str, wait: float, poll: float = 0.05, token: str | None = None, inside: Held | None = None
    ) -> str:
        """See :meth:`ProcessingLock.acquire`."""
        started = time.perf_counter()
        outcome = "timeout"
        try:
            token = super().acquire(instance, wait, poll, token, inside)
            outcome = "acquired"
            return token
        finally:
            try:
                LOCK_WAIT.labels(lock_kind(self.key), outcome).observe(time.perf_counter() - started)
            except Exception:
                log.debug("could not observe a lock wait", exc_info=True)
