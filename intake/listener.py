"""Oceane's hub notifications: POST /hub/{secret}/listener/{eventName}, Oceane's changes by push.

TMF621 defines no authentication for listener calls, so the callback URL we register carries a
secret path segment (OCEANE_HUB_CALLBACK_SECRET): a call with another segment gets the same 404
as an unknown route (nothing to probe), and the comparison takes constant time. The segment is
kept out of the access log (RedactListenerSecret). These routes skip the bearer token
(Oceane does not have it); that is the only exemption besides /health.

A call is idempotent: the ticket's oceane_status is set to what the event says, a repeat changes
nothing, and a changed status makes the alarm's write-back (Oceane Ticket Status) pending and
queued at once. An event naming no ticket of ours is acknowledged and ignored, so Oceane does not
retry it. The status poll stays the safety net for an event that never arrives.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from intake.guard import is_listener_path
from oceane_ticket.logs import describe_exception
from oceane_ticket.oceane.dialects import ListenerEvent, dialect
from oceane_ticket.oceane.errors import parse_json
from oceane_ticket.settings import Settings
from producer.core import Producer, Unavailable

log = logging.getLogger(__name__)

# TMF621's listener paths' last segment (v4 and v5 name the same events).
EVENT_NAMES = frozenset(
    {
        "troubleTicketCreateEvent",
        "troubleTicketStatusChangeEvent",
        "troubleTicketResolvedEvent",
        "troubleTicketAttributeValueChangeEvent",
        "troubleTicketDeleteEvent",
        "troubleTicketInformationRequiredEvent",
    }
)


class RedactListenerSecret(logging.Filter):
    """Replace the secret segment of listener paths in uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument of an access record; never drops a record."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and is_listener_path(args[2]):
            parts = args[2].split("/", 3)  # "", "hub", secret, rest
            redacted = "/".join([*parts[:2], "***", *parts[3:]])
            record.args = (*args[:2], redacted, *args[3:])
        return True


def install_redaction() -> None:
    """Put the filter on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactListenerSecret) for f in access.filters):
        access.addFilter(RedactListenerSecret())


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "Not Found"}, status_code=404)


def router(settings: Settings, producer: Producer) -> APIRouter:
    """The listener routes; every call answers 404 unless the hub is configured and the secret matches."""
    routes = APIRouter(include_in_schema=False)  # not for DataMiner's callers: Oceane's side only
    secret = settings.hub_callback_secret.get_secret_value().encode()
    speaks = dialect(settings.api_dialect, settings.priority_map)
    install_redaction()

    def _apply(event: ListenerEvent) -> str:
        # Loaded at the first listener call, not at start: SQLAlchemy and the ORM models are most of
        # the intake's memory, and POST /tickets never needs them (docs/performance.md, row 8).
        import sqlalchemy.exc

        from oceane_ticket import status_push

        try:
            return status_push.apply(settings, event, producer.connections.redis())
        except sqlalchemy.exc.OperationalError as exc:
            raise Unavailable("database", describe_exception(exc)) from None

    @routes.post("/hub/{given}/listener/{event_name}")
    async def listen(given: str, event_name: str, request: Request) -> JSONResponse:
        if not secret or not hmac.compare_digest(given.encode(), secret):
            return _not_found()
        if event_name not in EVENT_NAMES:
            return _not_found()
        try:
            data: Any = parse_json(await request.body())
            event = speaks.read_event(data, event_name)
        except ValueError as exc:
            return JSONResponse({"error": f"body: {exc}", "field": "body"}, status_code=422)
        result = await run_in_threadpool(_apply, event)
        return JSONResponse({"eventId": event.event_id, "result": result}, status_code=201)

    return routes
