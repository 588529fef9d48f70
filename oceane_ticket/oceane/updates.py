"""Updating a ticket in Oceane: read it, add a note, resolve it (docs/oceane-api.md §6).

The wire form of an update lives here and only here (``note_patch``, ``resolve_patch``), so that the
dialect modules' builders replace these two functions and nothing else changes. The calls are one
attempt each, like the create; the worker decides when to try again.

TMF621 v4 ``PATCH /troubleTicket/{id}`` (tmforum-apis/TMF621_TroubleTicket,
TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json): the body is a partial TroubleTicket,
``note`` an array of ``{id, author, date, text}``, and under JSON merge-patch an array is replaced
whole, hence the notes as last read plus the new one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oceane_ticket.oceane.client import OceaneClient, OceaneTicket
from oceane_ticket.oceane.errors import OceaneError, parse_json

MERGE_PATCH = "application/merge-patch+json"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def notes_of(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The ticket's notes as read (``note``), only the well-formed ones' shape kept as sent."""
    notes = ticket.get("note")
    return [n for n in notes if isinstance(n, dict)] if isinstance(notes, list) else []


def has_note(ticket: dict[str, Any], note_id: str) -> bool:
    """Whether the ticket already carries our note ``note_id`` (a repeat of an applied event)."""
    return any(n.get("id") == note_id for n in notes_of(ticket))


def note_patch(ticket: dict[str, Any], note_id: str, text: str, author: str, date: datetime) -> dict[str, Any]:
    """The merge-patch adding one note: every note as read, plus ours, in date order."""
    new = {"id": note_id, "author": author, "date": _iso(date), "text": text}
    notes = [*notes_of(ticket), new]
    # Events for one ticket may arrive out of order; the ticket's notes read in the alarm's order.
    notes.sort(key=lambda n: str(n.get("date") or ""))
    return {"note": notes}


def resolve_patch(reason: str, date: datetime) -> dict[str, Any]:
    """The merge-patch resolving the ticket."""
    return {"status": "resolved", "statusChangeReason": reason, "resolutionDate": _iso(date)}


def ticket_url(client: OceaneClient, ticket_id: str) -> str:
    """``{base}/troubleTicket/{id}``."""
    from urllib.parse import quote

    return f"{client.settings.ticket_endpoint}/{quote(ticket_id, safe='')}"


def _ticket(response_status: int, content: bytes, what: str) -> OceaneTicket:
    try:
        return OceaneTicket.from_json(parse_json(content))
    except ValueError as exc:
        raise OceaneError(
            response_status, 0, "Malformed answer", f"{what} answered {response_status} with {exc}"
        ) from None


def get_ticket(client: OceaneClient, ticket_id: str) -> OceaneTicket:
    """``GET /troubleTicket/{id}``: the ticket as Oceane holds it now."""
    response = client._request("GET", ticket_url(client, ticket_id), what="GET troubleTicket")
    return _ticket(response.status_code, response.content, "GET troubleTicket")


def patch_ticket(client: OceaneClient, ticket_id: str, patch: dict[str, Any]) -> OceaneTicket | None:
    """``PATCH /troubleTicket/{id}`` with a merge-patch; the ticket after it (None if the answer has none).

    ``creates=True``: an unanswered PATCH may have been applied, which is why every update reads first.
    """
    response = client._request(
        "PATCH",
        ticket_url(client, ticket_id),
        what="PATCH troubleTicket",
        creates=True,
        json=patch,
        extra_headers={"Content-Type": MERGE_PATCH},
    )
    if not response.content:
        return None
    return _ticket(response.status_code, response.content, "PATCH troubleTicket")
