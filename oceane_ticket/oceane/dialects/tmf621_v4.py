"""TMF621 Trouble Ticket v4.0.0 as TM Forum publishes it.

Source: ``tmforum-apis/TMF621_TroubleTicket``, ``TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json``:

- ``TroubleTicket_Create`` requires ``description``, ``severity``, ``ticketType``; it has ``externalId``
  (string), ``priority`` (string, examples Critical/High/Medium/Low), ``note``, ``relatedParty``,
  ``relatedEntity``, and **no characteristic at all**: urgency, client impact, alarm value and root
  time would be dropped by a conformant server, so they travel in a ``note`` a person can read.
- ``Note``: ``id, author, date (date-time), text``, nothing required.
- ``RelatedParty`` requires ``id`` and ``@referredType`` (``role`` optional).
- ``RelatedEntity`` requires ``id``, ``role`` and ``@referredType``.
- ``consumes``/``produces``: ``application/json;charset=utf-8``, for every operation, PATCH included
  (``patchTroubleTicket`` takes ``TroubleTicket_Update`` and declares no other media type).
- ``listTroubleTicket`` declares ``fields``, ``offset``, ``limit`` only; ``externalId`` is an attribute
  filter (TMF design guidelines), which a server may ignore.
- ``EventSubscriptionInput`` (``POST /hub``): ``callback`` required, ``query``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from oceane_ticket.oceane.dialects.base import NOTE_AUTHOR, TICKET_TYPE, Dialect, characteristics, iso, v4_parties
from oceane_ticket.request import RequestRecord

# Labels of the create's note, for the person who opens the ticket.
_LABELS = {
    "urgency": "Urgency",
    "technicalImpact": "Technical impact",
    "clientImpact": "Client impact",
    "alarmValue": "Alarm value",
    "rootTime": "Root time",
}
# The create's note id (ours; an event's notes are evt-<eventId>, so they never collide).
DETAILS_NOTE_ID = "dataminer-details"


def details_text(request: RequestRecord) -> str:
    """The form's values without a v4 attribute, one "Label: value" line each."""
    return "\n".join(f"{_LABELS[name]}: {value}" for name, value in characteristics(request))


class Tmf621V4Dialect(Dialect):
    """``OCEANE_API_DIALECT=tmf621-v4``."""

    name: ClassVar[str] = "tmf621-v4"
    media_type: ClassVar[str] = "application/json;charset=utf-8"
    patch_media_type: ClassVar[str] = "application/json;charset=utf-8"

    def create_body(self, request: RequestRecord) -> dict[str, Any]:
        """A ``TroubleTicket_Create``."""
        return {
            "externalId": request.external_id,
            "ticketType": TICKET_TYPE,
            "description": request.root_cause,
            "priority": self.priority(request.priority),
            "severity": request.technical_impact,
            "note": [
                {
                    "id": DETAILS_NOTE_ID,
                    "author": NOTE_AUTHOR,
                    "date": iso(request.created_at),
                    "text": details_text(request),
                }
            ],
            **v4_parties(request),
        }
