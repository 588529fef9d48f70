"""What a route needs from the app (its settings and its producer), as FastAPI dependencies.

Routers in ``intake.routes`` (and any router added with ``include_router``) take these instead of closing
over ``create_app``'s locals, so a new router is one module and one line in ``intake.app``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oceane_ticket.settings import Settings
from producer.core import Producer


def get_settings(request: Request) -> Settings:
    """The intake's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_producer(request: Request) -> Producer:
    """The intake's producer (its database pool and Redis client)."""
    producer: Producer = request.app.state.producer
    return producer


SettingsDep = Annotated[Settings, Depends(get_settings)]
ProducerDep = Annotated[Producer, Depends(get_producer)]
