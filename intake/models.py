"""The intake's JSON bodies: what DataMiner's scripts send, and every answer (camelCase, for C# callers)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic.alias_generators import to_camel

from oceane_ticket.statuses import Status

# What the Automation script sends for one alarm, as the OpenAPI document's example.
EXAMPLE_REQUEST: dict[str, Any] = {
    "dmaId": 12,
    "elementId": 345,
    "alarmId": 6789,
    "elementName": "Core router; site=PAR-1",
    "alarmValue": "Link down",
    "rootTime": "2026-11-27T08:12:00Z",
    "priority": 2,
    "urgency": "Major",
    "technicalImpact": "Major",
    "clientImpact": "Minor",
    "description": "Fibre cut between PAR-1 and PAR-2",
    "user": "CORP/alice",
}


class Camel(BaseModel):
    """A body whose JSON keys are the camelCase of its fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TicketIn(Camel):
    """What the Automation script sends: the alarm (from the hyperlink) and the dialog's fields.

    Types only; every value rule (id ranges, allowed values, lengths) is the producer's, and each value it
    refuses comes back in one 422 naming every field.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_REQUEST]},
    )

    dma_id: StrictInt | StrictStr = Field(description="DataMiner agent id (whole number)")
    element_id: StrictInt | StrictStr = Field(description="element id (whole number)")
    alarm_id: StrictInt | StrictStr = Field(description="the alarm's root key (whole number)")
    element_name: StrictStr
    alarm_value: StrictStr | None = None
    root_time: StrictStr | None = Field(default=None, description="ISO 8601 with its offset: Z or +hh:mm")
    # A number is what a C# caller sends for "2" as easily as a string: both are the same priority.
    priority: StrictInt | StrictStr = Field(description="one of GET /form's priority values (a string or a number)")
    urgency: StrictStr = Field(description="one of GET /form's urgency values")
    technical_impact: StrictStr = Field(description="one of GET /form's technicalImpact values")
    client_impact: StrictStr | None = Field(default=None, description="one of GET /form's clientImpact values")
    description: StrictStr | None = Field(default=None, description="empty: a summary of the alarm is sent")
    user: StrictStr | None = Field(default=None, description="the DataMiner user (mapped to an Oceane User ID)")
    origin: StrictStr | None = Field(
        default=None,
        description="operator (default: a person's click, never held) or rule (a Correlation rule's: "
        "held by OCEANE_AUTO_TICKETS_PER_MINUTE when set)",
    )


class TicketOut(Camel):
    """A ticket request as the producer knows it."""

    instance: str
    status: Status
    ticket_id: str | None
    ticket_url: str | None
    existing: bool
    dma_id: int
    element_id: int
    alarm_id: int
    element_name: str
    alarm_value: str | None
    root_time: str | None
    error: str | None


class ErrorOut(BaseModel):
    """Every error answer."""

    error: str
    field: str | None = Field(default=None, description="422: the first field named")
    fields: list[str] | None = Field(default=None, description="422: every field named")
    service: str | None = Field(default=None, description="503: redis or database")


class FormOut(Camel):
    """The dialog's fields: allowed values and which are required, and who writes the ticket onto the alarm."""

    priority: list[str]
    urgency: list[str]
    technical_impact: list[str]
    client_impact: list[str]
    description_max_length: int
    required: list[str]
    alarm_writer: Literal["none", "udapi", "webservices"] = Field(
        description="OCEANE_ALARM_WRITER: none means the scripts write the ticket onto the alarm themselves"
    )


class HealthOut(BaseModel):
    """Whether this intake can take requests: Redis and the database answer."""

    status: Literal["ok", "unavailable"]
    redis: str
    database: str


class TablePage(BaseModel):
    """One page of a table, newest first; next is the offset of the following page, null on the last."""

    rows: list[dict[str, Any]]
    offset: int
    limit: int
    next: int | None


def error_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for an error answer."""
    return {"model": ErrorOut, "description": description}


Responses = dict[int | str, dict[str, Any]]
AUTH: Responses = {401: error_doc("no or wrong bearer token")}
UNAVAILABLE: Responses = {503: error_doc("Redis or the database is down; nothing was recorded")}
INVALID: Responses = {422: error_doc("invalid input; names every field")}
