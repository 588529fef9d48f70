"""What a route needs from the app (its settings and its producer), as FastAPI dependencies.

Routers in ``intake.routes`` (and any router added with ``include_router``) take these instead of closing
over ``create_app``'s locals, so a new router is one module and one line in ``intake.app``. The hot route
(POST /tickets) reads them with :func:`settings_of` and :func:`producer_of` instead: resolving a FastAPI
dependency costs about as much as the route's own validation (docs/performance.md, "The run of 2026-12-02").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oceane_ticket.settings import Settings
from producer.core import Producer


def settings_of(request: Request) -> Settings:
    """The intake's settings."""
    settings: Settings = request.app.state.settings
    return settings


def producer_of(request: Request) -> Producer:
    """The intake's producer (its database pool and Redis client)."""
    producer: Producer = request.app.state.producer
    return producer


# Both dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the
# threadpool, and that thread hop per dependency per request was the largest part of the intake's
# regression (docs/performance.md, "The run of 2026-12-02"). They only read app.state: nothing blocks.
async def get_settings(request: Request) -> Settings:
    """The intake's settings, as a dependency."""
    return settings_of(request)


async def get_producer(request: Request) -> Producer:
    """The intake's producer, as a dependency."""
    return producer_of(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ProducerDep = Annotated[Producer, Depends(get_producer)]
