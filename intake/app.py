"""The HTTP intake: DataMiner's C# Automation scripts create and look up tickets over HTTP.

``create_app`` assembles the parts: the guard (``intake.guard``: token, body size), the error answers
(``intake.errors``), and one router per concern (``intake.routes``). A new router is a module and its
entry in ``ROUTERS``; its routes take the settings and the producer from ``intake.deps``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from intake import errors, events, listener
from intake.guard import MAX_BODY_BYTES, UNAUTHENTICATED, Guard, parse_tokens
from intake.models import EXAMPLE_REQUEST
from intake.routes import service, tables, tickets
from oceane_ticket.settings import Settings
from producer.core import Producer

__all__ = ["EXAMPLE_REQUEST", "MAX_BODY_BYTES", "ROUTERS", "create_app"]

# What people read in /docs and /openapi.json: plain words, no Python markup.
DESCRIPTION = """\
DataMiner's Automation scripts create Oceane tickets for alarms here, and read them back.

- POST /tickets[?wait=SECONDS]: 201 a new request, 200 the alarm's open request (existing: true). With wait
  (at most 60 s) the answer comes once the ticket is created or failed, else with what is known then.
- GET /tickets?dmaId=&elementId=&alarmId=: the alarm's ticket (404 when none).
- GET /tickets/{instance}: one request, for polling.
- GET /form: the allowed value of every dialog field, and who writes the ticket onto the alarm.
- GET /tables/tickets, GET /tables/failed-requests: the Tickets and Failed Ticket Requests tables, page by page.
- GET /status: the debug values (404 unless OCEANE_DEBUG_PAGE).
- GET /health, /docs, /openapi.json: no token.

Every other route needs Authorization: Bearer <token>, one of OCEANE_INTAKE_TOKEN's tokens. Without a token
configured only loopback clients are served. Bodies over 64 KB get 413 before anything is read. JSON keys are
camelCase. Invalid input gets 422 naming every wrong field; Redis or the database down gets 503 with
Retry-After, and nothing is recorded.
"""

# The routers, in the order their routes are matched.
ROUTERS: tuple[APIRouter, ...] = (tickets.router, tables.router, service.router)


def create_app(settings: Settings, producer: Producer | None = None) -> FastAPI:
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
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",  # Swagger UI: "Authorize" takes the bearer token for the calls it makes
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.producer = own
    app.add_middleware(Guard, tokens=parse_tokens(settings.intake_token.get_secret_value()))
    errors.install(app)
    for router in ROUTERS:
        _add_routes(app, router)
    # The ticket's life after the click: routers built with the settings and the producer they need.
    app.include_router(events.router(settings, own))  # POST /alarms/events
    app.include_router(listener.router(settings, own))  # POST /hub/{secret}/listener/{event}
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes straight on the app, in order (their prefix and tags are already in them).

    Not ``include_router``: since FastAPI 0.137 it keeps a node per included router that every request
    walks through, matching the router's routes twice (fastapi/fastapi#15745). On POST /tickets that was
    about 2 % of the intake's instructions, which the floor (a route on the app) does not pay
    (docs/performance.md, "The run of 2026-12-02"). A router with more than plain routes is refused.
    """
    if router.dependencies or not all(isinstance(route, APIRoute) for route in router.routes):
        raise TypeError(f"{router!r}: only plain routes, without router dependencies, can be added flat")
    app.router.routes.extend(router.routes)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "one of OCEANE_INTAKE_TOKEN's tokens"}
        }
        schema["security"] = [{"bearer": []}]
        for path in UNAUTHENTICATED:
            for operation in schema["paths"].get(path, {}).values():
                operation["security"] = []
        app.openapi_schema = schema
    return app.openapi_schema
