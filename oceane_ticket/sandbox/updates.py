"""``PATCH /troubleTicket/{id}`` in the sandbox (oceane dialect), a stand-in until the sandbox's own lands.

JSON merge-patch (RFC 7386) at the top level, as docs/oceane-api.md §6 assumes after TMF621 v4's
``patchTroubleTicket`` (tmforum-apis/TMF621_TroubleTicket,
TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json): a key replaces the ticket's value (an
array, such as ``note``, whole), ``null`` removes it; ``id``, ``href`` and ``externalId`` are not
patchable (400 code 22), and a closed ticket refuses a change of status (400 code 24). The
create group's faults apply, including those after the commit (the answer lost once applied).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from oceane_ticket.sandbox.protocol import ApiError
from oceane_ticket.sandbox.state import SandboxState
from oceane_ticket.sandbox.tickets import now_iso

MERGE_PATCH = "application/merge-patch+json"
READ_ONLY = frozenset({"id", "href", "externalId", "creationDate"})
CLOSED = frozenset({"resolved", "closed", "cancelled", "rejected"})


def parse_patch(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The patch document; ApiError 400 on a wrong media type or a body that is not an object."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in (MERGE_PATCH, "application/json"):
        raise ApiError(400, 26, f"Content-Type {kind!r} is not {MERGE_PATCH}.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, 20, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, 20, "A merge patch must be a JSON object.")
    fixed = sorted(READ_ONLY & set(body))
    if fixed:
        raise ApiError(400, 22, f"Not patchable: {', '.join(fixed)}.")
    return body


def patch_ticket(state: SandboxState, ticket_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply ``body`` to the ticket under the state's lock; a copy of the ticket after it."""
    with state._lock:
        ticket = state._tickets.get(ticket_id)
        if ticket is None:
            raise ApiError(404, 60, f"No trouble ticket {ticket_id[:100]!r}.")
        if "status" in body and str(ticket.get("status", "")).lower() in CLOSED and body["status"] != ticket["status"]:
            raise ApiError(400, 24, f"Ticket {ticket_id} is {ticket['status']}: its status cannot change.")
        for key, value in body.items():
            if value is None:
                ticket.pop(key, None)
            else:
                ticket[key] = copy.deepcopy(value)
        ticket["lastUpdate"] = now_iso()
        return copy.deepcopy(ticket)
