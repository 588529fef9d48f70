"""``/tickets``: queue a ticket for an alarm, look an alarm's up, poll one request."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from intake.deps import ProducerDep, producer_of, settings_of
from intake.errors import InputErrors, all_problems, error_response
from intake.models import AUTH, INVALID, UNAVAILABLE, TicketIn, TicketOut, error_doc
from oceane_ticket.request import MAX_ID, InputError, build_alarm, build_details
from oceane_ticket.settings import Settings
from producer import core
from producer.core import Producer, TicketStatus, Unavailable

MAX_WAIT = 60.0
POLL_SECONDS = 0.2
_INSTANCE = re.compile(r"[0-9a-f]{32}")

router = APIRouter(tags=["tickets"])


def ticket_json(status: TicketStatus) -> dict[str, Any]:
    """The camelCase object of a request (``error`` always present)."""
    data = {**status.as_dict(), "error": status.error}
    return {to_camel(key): value for key, value in data.items()}


def _check_all(settings: Settings, raw: dict[str, Any]) -> None:
    """Refuse every wrong field at once, in the producer's own words (its rules, not a copy of them)."""
    allowed = core.allowed_values(settings)
    alarm_stand_ins = {"dma_id": 1, "element_id": 1, "alarm_id": 1, "element_name": "-", "alarm_value": None}
    detail_stand_ins = {
        "priority": allowed.priorities[0] if allowed.priorities else None,
        "urgency": allowed.urgencies[0] if allowed.urgencies else None,
        "technical_impact": allowed.technical_impacts[0] if allowed.technical_impacts else None,
        "client_impact": None,
        "description": None,
        "user": None,
        "origin": None,
    }
    problems = all_problems(build_alarm, raw, alarm_stand_ins | {"root_time": None})
    problems += all_problems(lambda data: build_details(data, allowed), raw, detail_stand_ins)
    if problems:
        raise InputErrors(problems)


async def _wait(request: Request, producer: Producer, status: TicketStatus, timeout: float) -> TicketStatus:
    """Poll the request's row between asynchronous sleeps until it is final or ``timeout`` runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not status.final:
        left = deadline - loop.time()
        if left <= 0 or await request.is_disconnected():
            break
        await asyncio.sleep(min(POLL_SECONDS, left))
        try:
            found = await run_in_threadpool(producer.get, status.instance, existing=status.existing)
        except Unavailable:
            break  # the request is recorded; the caller polls GET /tickets/{instance} later
        if found is None:  # removed by retention meanwhile
            break
        status = found
    return status


@router.post(
    "/tickets",
    status_code=201,
    response_model=TicketOut,
    responses={
        200: {"model": TicketOut, "description": "the alarm's open request (existing: true)"},
        **AUTH,
        413: error_doc("body over 64 KB"),
        **INVALID,
        **UNAVAILABLE,
    },
    summary="Queue a ticket for an alarm, or report its open one",
)
async def create_ticket(
    request: Request,
    body: TicketIn,
    wait: float = Query(
        0.0, ge=0, le=MAX_WAIT, description="seconds to wait for the ticket to be created or failed (at most 60)"
    ),
) -> JSONResponse:
    """A new request (201), or the alarm's open one (200); with wait the answer comes once it is final."""
    # Read from the app, not as dependencies: this is the hot route, and solving two dependencies cost
    # about 5 % of its instructions (docs/performance.md, "The run of 2026-12-02").
    settings, producer = settings_of(request), producer_of(request)
    if not 0 <= wait <= MAX_WAIT:  # NaN passes the schema's bounds
        raise InputError("wait", f"must be from 0 to {MAX_WAIT:g} seconds")
    raw = body.model_dump()
    if isinstance(raw["priority"], int):
        raw["priority"] = str(raw["priority"])
    try:
        alarm, details = core.validate(settings, raw, raw)  # each builder reads its own fields
    except InputError:
        # Only a refused body pays for naming every wrong field: a valid one is validated once.
        _check_all(settings, raw)
        raise
    status = await run_in_threadpool(producer.submit, alarm, details)
    if wait > 0 and not status.final:
        status = await _wait(request, producer, status, wait)
    return JSONResponse(
        ticket_json(status),
        status_code=200 if status.existing else 201,
        headers={"Location": f"/tickets/{status.instance}"},
    )


@router.get(
    "/tickets",
    response_model=TicketOut,
    responses={404: error_doc("the alarm has no ticket"), **AUTH, **INVALID, **UNAVAILABLE},
    summary="The alarm's open request, else its newest one",
)
async def lookup(
    producer: ProducerDep,
    dma_id: int = Query(alias="dmaId", ge=0, le=MAX_ID),
    element_id: int = Query(alias="elementId", ge=0, le=MAX_ID),
    alarm_id: int = Query(alias="alarmId", ge=0, le=MAX_ID),
) -> JSONResponse:
    """The alarm's request, by its three ids."""
    alarm = build_alarm({"dma_id": dma_id, "element_id": element_id, "alarm_id": alarm_id, "element_name": "-"})
    status = await run_in_threadpool(producer.lookup, alarm.dma_id, alarm.element_id, alarm.alarm_id)
    if status is None:
        return error_response(404, f"no ticket for alarm {alarm.external_id}")
    return JSONResponse(ticket_json(status))


@router.get(
    "/tickets/{instance}",
    response_model=TicketOut,
    responses={404: error_doc("no such request"), **AUTH, **UNAVAILABLE},
    summary="One request, for polling",
)
async def get_ticket(instance: str, producer: ProducerDep) -> JSONResponse:
    """One request by its instance id."""
    found = await run_in_threadpool(producer.get, instance) if _INSTANCE.fullmatch(instance) else None
    if found is None:
        return error_response(404, "no such request")
    return JSONResponse(ticket_json(found))
