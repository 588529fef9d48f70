"""Updating a ticket in Oceane: read it, then merge-patch it (docs/oceane-api.md §6).

The bodies are the configured dialect's (:mod:`oceane_ticket.oceane.dialects`: ``note_patch``,
``resolve_patch``), sent with its PATCH media type; this module only makes the call. One attempt
each, like the create; the worker decides when to try again.

TMF621 v4 ``PATCH /troubleTicket/{id}`` (tmforum-apis/TMF621_TroubleTicket,
TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json) answers 200 with the ticket.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.errors import OceaneError, parse_json
from oceane_ticket.oceane.ticket import OceaneTicket


def ticket_url(client: OceaneClient, ticket_id: str) -> str:
    """``{base}/troubleTicket/{id}``."""
    return f"{client.settings.ticket_endpoint}/{quote(ticket_id, safe='')}"


def get_ticket(client: OceaneClient, ticket_id: str) -> OceaneTicket:
    """``GET /troubleTicket/{id}``: the ticket as Oceane holds it now.

    Raises:
        OceaneError: the ticket is gone (404, final: there is nothing to update) or the call failed.
    """
    found = client.get_ticket(ticket_id)
    if found is None:
        raise OceaneError(404, "60", "Ticket not found", f"ticket {ticket_id} is not in Oceane any more")
    return found


def patch_ticket(client: OceaneClient, ticket_id: str, patch: dict[str, Any]) -> OceaneTicket | None:
    """``PATCH /troubleTicket/{id}``; the ticket after it (None if the answer carries none).

    ``creates=True``: an unanswered PATCH may have been applied, which is why every update reads first.
    """
    response = client.send(
        "PATCH",
        ticket_url(client, ticket_id),
        what="PATCH troubleTicket/{id}",
        creates=True,
        body=patch,
        media_type=client.dialect.patch_media_type,
    )
    if not response.content.strip():
        return None
    try:
        return client.dialect.read_ticket(parse_json(response.content))
    except ValueError:
        return None  # applied (2xx); the next event reads the ticket anew anyway
