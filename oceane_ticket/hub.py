"""Registering our listener at Oceane's hub (TMF621 ``POST {base}/hub``), where Oceane offers one.

The registration's id is kept in Redis (``keys.HUB_REGISTRATION``) so that ``unregister`` can
``DELETE {base}/hub/{id}``. The callback carries the secret path segment (intake/listener.py):
it is never printed, logged or stored here, only sent to Oceane.

With ``OCEANE_HUB_ENABLED`` the worker's scheduler registers on its own (:func:`ensure_registered`,
at beat's start and then every status-poll interval) whenever no registration is known, so that
nobody has to remember ``oceane-ticket hub register`` after a deployment or after Redis lost the
id. TMF621 defines no way to ask a hub whether it still holds a registration (only ``POST /hub`` and
``DELETE /hub/{id}``), so a registration Oceane itself dropped is not noticed: the status poll stays
the safety net, and ``hub unregister`` then ``hub register`` renews it by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from oceane_ticket import keys
from oceane_ticket.oceane.errors import OceaneError, parse_json
from oceane_ticket.settings import Settings

if TYPE_CHECKING:
    # A type only: the intake's guard reads LISTENER_PREFIX from here on every start, and the client
    # would load requests and oauthlib into the intake (docs/performance.md, row 8).
    from oceane_ticket.oceane.client import OceaneClient

MIN_SECRET = 32
# The intake's listener routes live under this path (intake/listener.py), then the secret segment.
LISTENER_PREFIX = "/hub/"
# How long a registration in the making keeps others from starting one: longer than one POST can
# take (the client's timeout), short enough that a worker that died mid-POST does not block the next.
REGISTERING_TTL = 120


def callback_url(settings: Settings) -> str:
    """The callback registered at the hub; Oceane appends ``/listener/<eventName>``."""
    return f"{settings.hub_callback_base}{LISTENER_PREFIX}{settings.hub_callback_secret.get_secret_value()}"


def problem(settings: Settings) -> str | None:
    """What stops a registration, naming the setting; None when it can be made."""
    if not settings.hub_enabled:
        return "OCEANE_HUB_ENABLED is false"
    if not settings.hub_callback_base:
        return "OCEANE_HUB_CALLBACK_BASE is empty: give the intake's URL as Oceane reaches it"
    if len(settings.hub_callback_secret.get_secret_value()) < MIN_SECRET:
        return f"OCEANE_HUB_CALLBACK_SECRET must be at least {MIN_SECRET} characters (openssl rand -hex 32)"
    return None


def hub_url(settings: Settings) -> str:
    """``{base}/hub``."""
    return f"{settings.base_url}/hub"


def register(settings: Settings, client: OceaneClient, redis: Any) -> str:
    """Register the listener; returns the hub's registration id (also kept in Redis).

    Raises:
        ValueError: a setting is missing (the message names it).
        OceaneError: the hub refused or could not be reached.
    """
    reason = problem(settings)
    if reason is not None:
        raise ValueError(reason)
    body = client.dialect.hub_body(callback_url(settings))
    response = client.send("POST", hub_url(settings), what="POST hub", body=body)
    try:
        registration = client.dialect.read_hub(parse_json(response.content))
    except ValueError as exc:
        raise OceaneError(response.status_code, "", "Malformed answer", f"hub answered with {exc}") from None
    redis.set(keys.HUB_REGISTRATION, registration)
    return registration


def unregister(settings: Settings, client: OceaneClient, redis: Any) -> str | None:
    """Delete our registration; its id, or None when none is known."""
    raw = redis.get(keys.HUB_REGISTRATION)
    if not raw:
        return None
    registration = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        client.send("DELETE", f"{hub_url(settings)}/{quote(registration, safe='')}", what="DELETE hub/{id}")
    except OceaneError as error:
        if error.http_status != 404:  # gone already: forgotten below like a deleted one
            raise
    redis.delete(keys.HUB_REGISTRATION)
    return registration


def ensure_registered(settings: Settings, client: OceaneClient, redis: Any) -> str | None:
    """Register the listener if no registration is known; the known or new id, None if not made.

    Only one caller registers at a time (``keys.HUB_REGISTERING``): two registrations would make
    Oceane push every change twice (harmless, the listener is idempotent, but wasteful). A caller
    that finds another registering returns None; the next scheduled run sees the id.

    Raises:
        ValueError: a setting is missing (the message names it).
        OceaneError: the hub refused or could not be reached; the next scheduled run tries again.
    """
    known = redis.get(keys.HUB_REGISTRATION)
    if known:
        return known.decode() if isinstance(known, bytes) else str(known)
    if not redis.set(keys.HUB_REGISTERING, "1", nx=True, ex=REGISTERING_TTL):
        return None
    try:
        return register(settings, client, redis)
    finally:
        redis.delete(keys.HUB_REGISTERING)
