"""The HTTP intake: DataMiner's C# Automation scripts create and look up tickets over HTTP.

A thin layer over the producer (:class:`producer.core.Producer`): the same validation
(:func:`producer.core.validate`, whose :class:`InputError` becomes a 422 naming the field), the same
insert and enqueue, the same user mapping. JSON keys are camelCase in and out (C# callers).

* ``POST /tickets[?wait=SECONDS]``: 201 a new request, 200 the alarm's open request
  (``existing: true``); with ``wait`` (at most 60 s) the answer comes once the ticket is created
  or failed, else with what is known then.
* ``GET /tickets?dmaId=&elementId=&alarmId=``: the alarm's ticket (404 when none).
* ``GET /tickets/{instance}``: one request, for polling.
* ``GET /form``: the allowed value of every dialog field, from settings.
* ``GET /status``: the debug values (``status --json``); 404 unless ``OCEANE_DEBUG_PAGE``.
* ``GET /health`` (no token), ``GET /openapi.json``.

Every route but ``/health`` needs ``Authorization: Bearer <OCEANE_INTAKE_TOKEN>``; without a token
configured only loopback peers are served. Bodies over 64 KB get 413 before anything is parsed.

Blocking database and Redis calls run in the threadpool; ``wait`` sleeps asynchronously between
polls, so requests waiting for their ticket hold no thread and never delay a new one.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake import events, listener
from oceane_ticket.request import MAX_ID, InputError, build_alarm
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import Status
from producer import core
from producer.core import Producer, TicketStatus, Unavailable

MAX_BODY_BYTES = 64 * 1024
MAX_WAIT = 60.0
POLL_SECONDS = 0.2
_INSTANCE = re.compile(r"[0-9a-f]{32}")
_UNAUTHENTICATED = frozenset({"/health"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# What the Automation script sends for one alarm, as the OpenAPI document's example.
EXAMPLE_REQUEST: dict[str, Any] = {
    "dmaId": 12,
    "elementId": 345,
    "alarmId": 6789,
    "elementName": "Core router; site=PAR-1",
    "alarmValue": "Link down",
    "rootTime": "2026-11-27T08:12:00Z",
    "priority": "2",
    "urgency": "Major",
    "technicalImpact": "Major",
    "clientImpact": "Minor",
    "description": "Fibre cut between PAR-1 and PAR-2",
    "user": "CORP/alice",
}


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TicketRequest(_Camel):
    """What the Automation script sends: the alarm (from the hyperlink) and the dialog's fields.

    Types only; every value rule (id ranges, allowed values, lengths) is the producer's, and a
    value it refuses comes back as 422 naming the field.
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
    root_time: StrictStr | None = Field(default=None, description="yyyy-MM-ddTHH:mm:ssZ")
    priority: StrictStr = Field(description="one of GET /form's priority values")
    urgency: StrictStr = Field(description="one of GET /form's urgency values")
    technical_impact: StrictStr = Field(description="one of GET /form's technicalImpact values")
    client_impact: StrictStr | None = Field(default=None, description="one of GET /form's clientImpact values")
    description: StrictStr | None = Field(default=None, description="empty: a summary of the alarm is sent")
    user: StrictStr | None = Field(default=None, description="the DataMiner user (mapped to an Oceane User ID)")


class TicketOut(_Camel):
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


class FormOut(_Camel):
    """The dialog's fields: allowed values and which are required."""

    priority: list[str]
    urgency: list[str]
    technical_impact: list[str]
    client_impact: list[str]
    description_max_length: int
    required: list[str]


class HealthOut(BaseModel):
    """Whether this intake can take requests: Redis and the database answer."""

    status: Literal["ok", "unavailable"]
    redis: str
    database: str


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


Responses = dict[int | str, dict[str, Any]]
AUTH: Responses = {401: _err("no or wrong bearer token")}
UNAVAILABLE: Responses = {503: _err("Redis or the database is down; nothing was recorded")}
INVALID: Responses = {422: _err("invalid input; names the fields")}


def ticket_json(status: TicketStatus) -> dict[str, Any]:
    """The camelCase object of a request (``error`` always present)."""
    data = {**status.as_dict(), "error": status.error}
    return {to_camel(key): value for key, value in data.items()}


def _error(status_code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = ErrorOut(error=message, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _input_error(exc: InputError) -> JSONResponse:
    field = to_camel(exc.field)
    return _error(422, f"{field}: {exc.message}", field=field, fields=[field])


_BODY_FIELDS = sorted(to_camel(name) for name in TicketRequest.model_fields)
_OPTIONAL_BODY = {to_camel(n) for n, f in TicketRequest.model_fields.items() if not f.is_required()}
_ID_FIELDS = {"dmaId", "elementId", "alarmId"}


def _describe(field: str, errors: list[dict[str, Any]]) -> str:
    """One field's problem in words (a union type reports one error per member: one message here)."""
    kinds = {e.get("type") for e in errors}
    if "missing" in kinds:
        return "is required"
    if "extra_forbidden" in kinds:
        return "is not a field of this request; allowed: " + ", ".join(_BODY_FIELDS)
    if "json_invalid" in kinds:
        return "must be valid JSON"
    if kinds & {"model_attributes_type", "dict_type", "model_type"}:
        return "must be a JSON object"
    if field in _ID_FIELDS:
        return f"must be a whole number from 0 to {MAX_ID} (a JSON number or a string of digits)"
    if kinds == {"string_type"}:
        return "must be a string" + (" or null" if field in _OPTIONAL_BODY else "")
    return str(errors[0].get("msg", "is invalid"))  # pydantic's words; never the input itself


def _validation_error(exc: RequestValidationError) -> JSONResponse:
    by_field: dict[str, list[dict[str, Any]]] = {}
    for err in exc.errors():
        loc = list(err.get("loc", ()))[1:]  # drop "body" / "query" / "path"
        field = str(loc[0]) if loc and isinstance(loc[0], str) else "body"
        by_field.setdefault(field, []).append(err)
    parts = [f"{field}: {_describe(field, errors)}" for field, errors in by_field.items()]
    fields = list(by_field)
    return _error(422, "; ".join(parts), field=fields[0] if fields else None, fields=fields)


def _is_loopback_peer(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0])).is_loopback
    except ValueError:
        return False


class Guard:
    """Pure ASGI middleware: the bearer token, then the body size, before any route or parser runs.

    The token is compared in constant time (``hmac.compare_digest``). Without a token configured,
    only loopback peers are served (``serve`` refuses any other address then). A body is buffered up
    to 64 KB (the intake's requests are a few hundred bytes) and refused beyond, whether or not a
    Content-Length announced it.
    """

    def __init__(self, app: ASGIApp, token: str, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.token = token.encode()
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or pass the request on with its body buffered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Listener calls come from Oceane's hub, without our token: proven by their path's secret (intake/listener.py).
        exempt = scope["path"] in _UNAUTHENTICATED or listener.is_listener_path(scope["path"])
        if not exempt and not self._authorized(scope):
            hint = "Authorization: Bearer <OCEANE_INTAKE_TOKEN>" if self.token else "a loopback client"
            response = _error(401, f"missing or wrong credentials: this intake needs {hint}")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        if self._announced_length(scope) > self.max_body:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left while sending
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > self.max_body:
                await self._too_large(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # later calls: the disconnect, for a waiting request

        await self.app(scope, replay, send)

    def _authorized(self, scope: Scope) -> bool:
        if not self.token:
            return _is_loopback_peer(scope)
        given = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
        if given is None:
            return False
        scheme, _, credential = bytes(given).partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self.token)

    @staticmethod
    def _announced_length(scope: Scope) -> int:
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the server refuses a bad Content-Length itself
        return 0

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        kb = self.max_body // 1024
        await _error(413, f"body: larger than {kb} KB")(scope, receive, send)


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


def create_app(settings: Settings, producer: Producer | None = None) -> FastAPI:  # noqa: C901 (split pending: models, guard, routes)
    """The intake for ``settings``; ``producer`` (tests) else one of its own, closed at shutdown."""
    own = producer or Producer(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if producer is None:
            await run_in_threadpool(own.close)

    app = FastAPI(
        title="oceane-ticket intake",
        version="1",
        description=__doc__,
        lifespan=lifespan,
        docs_url=None,  # a browser page cannot send the bearer token; the document is /openapi.json
        redoc_url=None,
    )
    app.add_middleware(Guard, token=settings.intake_token.get_secret_value())

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc)

    @app.exception_handler(InputError)
    async def _on_input(_request: Request, exc: InputError) -> JSONResponse:
        return _input_error(exc)

    @app.exception_handler(Unavailable)
    async def _on_unavailable(_request: Request, exc: Unavailable) -> JSONResponse:
        return _error(503, str(exc), headers={"Retry-After": "5"}, service=exc.service)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8, not JSON): that is invalid
            # input like any other, so it gets the documented 422 naming the field.
            return _error(422, "the body must be a JSON object in UTF-8", field="body", fields=["body"])
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.post(
        "/tickets",
        status_code=201,
        response_model=TicketOut,
        responses={
            200: {"model": TicketOut, "description": "the alarm's open request (existing: true)"},
            **AUTH,
            413: _err("body over 64 KB"),
            **INVALID,
            **UNAVAILABLE,
        },
        summary="Queue a ticket for an alarm, or report its open one",
    )
    async def create_ticket(
        request: Request,
        body: TicketRequest,
        wait: float = Query(
            0.0, ge=0, le=MAX_WAIT, description="seconds to wait for the ticket to be created or failed (at most 60)"
        ),
    ) -> JSONResponse:
        if not 0 <= wait <= MAX_WAIT:  # NaN passes the schema's bounds
            raise InputError("wait", f"must be from 0 to {MAX_WAIT:g} seconds")
        raw = body.model_dump()
        alarm, details = core.validate(settings, raw, raw)  # each builder reads its own fields
        status = await run_in_threadpool(own.submit, alarm, details)
        if wait > 0 and not status.final:
            status = await _wait(request, own, status, wait)
        return JSONResponse(
            ticket_json(status),
            status_code=200 if status.existing else 201,
            headers={"Location": f"/tickets/{status.instance}"},
        )

    @app.get(
        "/tickets",
        response_model=TicketOut,
        responses={404: _err("the alarm has no ticket"), **AUTH, **INVALID, **UNAVAILABLE},
        summary="The alarm's open request, else its newest one",
    )
    async def lookup(
        dma_id: int = Query(alias="dmaId", ge=0, le=MAX_ID),
        element_id: int = Query(alias="elementId", ge=0, le=MAX_ID),
        alarm_id: int = Query(alias="alarmId", ge=0, le=MAX_ID),
    ) -> JSONResponse:
        alarm = build_alarm({"dma_id": dma_id, "element_id": element_id, "alarm_id": alarm_id, "element_name": "-"})
        status = await run_in_threadpool(own.lookup, alarm.dma_id, alarm.element_id, alarm.alarm_id)
        if status is None:
            return _error(404, f"no ticket for alarm {alarm.external_id}")
        return JSONResponse(ticket_json(status))

    @app.get(
        "/tickets/{instance}",
        response_model=TicketOut,
        responses={404: _err("no such request"), **AUTH, **UNAVAILABLE},
        summary="One request, for polling",
    )
    async def get_ticket(instance: str) -> JSONResponse:
        found = await run_in_threadpool(own.get, instance) if _INSTANCE.fullmatch(instance) else None
        if found is None:
            return _error(404, "no such request")
        return JSONResponse(ticket_json(found))

    @app.get("/form", response_model=FormOut, responses={**AUTH}, summary="The dialog's fields and allowed values")
    async def form() -> JSONResponse:
        required = ["priority", "urgency", "technicalImpact"] + (["user"] if settings.require_user_mapping else [])
        data = FormOut(
            priority=list(settings.priorities),
            urgency=list(settings.urgencies),
            technical_impact=list(settings.technical_impacts),
            client_impact=list(settings.client_impacts),
            description_max_length=settings.description_max_length,
            required=required,
        )
        return JSONResponse(data.model_dump(by_alias=True))

    @app.get(
        "/status",
        responses={404: _err("OCEANE_DEBUG_PAGE is false"), **AUTH},
        summary="The debug values (as `oceane-ticket status --json`)",
    )
    async def status() -> JSONResponse:
        if not settings.debug_page:
            return _error(404, "the debug values are off (OCEANE_DEBUG_PAGE=false)")
        from oceane_ticket import queue_state  # loaded only when asked for

        data = await run_in_threadpool(queue_state.collect_status, settings)
        return JSONResponse(jsonable_encoder(data))

    @app.get(
        "/health",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "Redis or the database is down"}},
        summary="For probes; no token",
    )
    async def health() -> JSONResponse:
        # Unauthenticated: says what is down, not the error text (host names, ports).
        checks = {name: "ok" if v == "ok" else "unavailable" for name, v in (await run_in_threadpool(own.ping)).items()}
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)

    app.include_router(events.router(settings, own))  # POST /alarms/events (intake/events.py)
    app.include_router(listener.router(settings, own))  # POST /hub/{secret}/listener/{event} (intake/listener.py)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "OCEANE_INTAKE_TOKEN"}
            }
            schema["security"] = [{"bearer": []}]
            for path in _UNAUTHENTICATED:
                for operation in schema["paths"].get(path, {}).values():
                    operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
