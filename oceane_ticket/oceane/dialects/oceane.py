"""Our Oceane contract (``docs/oceane-api.md`` §3, assumed): TMF621 v4 attributes plus ``characteristic``.

What the client spoke before TMF621 was checked; kept as the default because the sandbox, the
fault matrix and the connector's documentation all speak it. Errors are Orange's
``{code: int, message, description}`` (read with the TMF shape in ``oceane_ticket.oceane.errors``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from oceane_ticket.oceane.dialects.base import TICKET_TYPE, Dialect, characteristics, v4_parties
from oceane_ticket.request import RequestRecord


class OceaneDialect(Dialect):
    """``OCEANE_API_DIALECT=oceane``."""

    name: ClassVar[str] = "oceane"

    def create_body(self, request: RequestRecord) -> dict[str, Any]:
        """The create body of docs/oceane-api.md §3."""
        return {
            "externalId": request.external_id,
            "ticketType": TICKET_TYPE,
            "description": request.root_cause,
            "priority": self.priority(request.priority),
            # TMF621 requires a severity; the Technical Impact is the closest field of the form.
            "severity": request.technical_impact,
            "characteristic": [{"name": name, "value": value} for name, value in characteristics(request)],
            **v4_parties(request),
        }
