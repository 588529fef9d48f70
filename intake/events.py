"""POST /alarms/events: an alarm's clear, change or an operator's note, for the alarm's ticket.

camelCase like POST /tickets and behind the same bearer token (the app's guard). The event is
committed before the answer: 202 recorded (or already known: the same event sent twice is one
event), 200 when the alarm has no ticket (nothing changes), 422 naming the field, 503 when the
database is down (nothing recorded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from oceane_ticket.logs import describe_exception
from oceane_ticket.settings import Settings
from producer.core import Producer, Unavailable

if TYPE_CHECKING:
    from oceane_ticket import events

EXAMPLE_EVENT: dict[str, Any] = {
    "dmaId": 12,
    "elementId": 345,
    "alarmId": 6789,
    "event": "cleared",
    "time": "2026-11-27T09:40:00Z",
    "severity": "Normal",
    "value": "Link up",
    "user": "CORP/alice",
}


class AlarmEventRequest(BaseModel):
    """One alarm event. Types only; the value rules are oceane_ticket.events.validate's."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_EVENT]},
    )

    dma_id: StrictInt | StrictStr = Field(description="DataMiner agent id (whole number)")
    element_id: StrictInt | StrictStr = Field(description="element id (whole number)")
    alarm_id: StrictInt | StrictStr = Field(description="the alarm's root key (whole number)")
    event: StrictStr = Field(description="cleared, updated or note")
    time: StrictStr | None = Field(default=None, description="when it happened, ISO 8601 (default: now)")
    severity: StrictStr | None = None
    value: StrictStr | None = None
    text: StrictStr | None = Field(default=None, description="the note (required for event=note)")
    user: StrictStr | None = Field(default=None, description="the DataMiner user")
    event_id: StrictStr | None = Field(
        default=None, description="the caller's id for the event; without it one is derived from the content"
    )


class AlarmEventOut(BaseModel):
    """What became of the event."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    result: Literal["recorded", "duplicate", "no_ticket"]
    event_id: str | None
    instance: str | None
    state: str | None
    action: str | None


def router(settings: Settings, producer: Producer) -> APIRouter:
    """The events route over the intake's producer connections."""
    routes = APIRouter()

    def _record(raw: dict[str, Any]) -> events.Recorded:
        # Loaded at the first event, not at start: the events' storage is SQLAlchemy's ORM, most of
        # the intake's memory, which POST /tickets never needs (docs/performance.md, row 8).
        import sqlalchemy.exc

        from oceane_ticket import events

        event = events.validate(raw)
        try:
            return events.record(settings, event, redis=producer.connections.redis())
        except sqlalchemy.exc.OperationalError as exc:
            raise Unavailable("database", describe_exception(exc)) from None

    @routes.post(
        "/alarms/events",
        status_code=202,
        response_model=AlarmEventOut,
        responses={
            200: {"model": AlarmEventOut, "description": "the alarm has no ticket: nothing changes"},
            401: {"description": "no or wrong bearer token"},
            422: {"description": "invalid input; names the fields"},
            503: {"description": "the database is down; nothing was recorded"},
        },
        summary="Record an alarm event (clear, change, note) for the alarm's ticket",
    )
    async def post_event(body: AlarmEventRequest) -> JSONResponse:
        recorded = await run_in_threadpool(_record, body.model_dump())
        data = {to_camel(k): v for k, v in recorded.as_dict().items()}
        return JSONResponse(data, status_code=200 if recorded.result == "no_ticket" else 202)

    return routes
