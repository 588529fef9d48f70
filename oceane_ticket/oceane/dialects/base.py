"""What every dialect provides, and the parts TMF621 v4, v5 and our Oceane contract share.

A dialect is pure: it builds bodies and reads answers, and never does I/O. The client
(``oceane_ticket.oceane.client``) sends what it builds; the worker asks the client. Sources:
``docs/oceane-api.md`` (our contract, assumed) and TM Forum's TMF621 specifications in
``tmforum-apis/TMF621_TroubleTicket``: ``TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json``
(called "v4" below) and ``TMF621-Trouble_Ticket-v5.0.1.oas.yaml`` ("v5").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from oceane_ticket.oceane.ticket import OceaneTicket, plain_external_id
from oceane_ticket.request import RequestRecord

# The business type of every ticket we open (v4/v5 TroubleTicket.ticketType: "incident, complain, request").
TICKET_TYPE = "incident"
# Who adds the create's note and the notes of alarm events (Note.author is free text in v4 and v5).
NOTE_AUTHOR = "DataMiner"


def note_id(event_id: str) -> str:
    """The id of the note an alarm event adds: ours, so a repeat is recognisable by reading first."""
    return f"evt-{event_id}"


def iso(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC (v4/v5 ``format: date-time``)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ListenerEvent:
    """A hub notification, as far as we act on it.

    From v4/v5 ``TroubleTicket*Event``: ``eventId``, ``eventType``, ``event.troubleTicket``.
    """

    ticket_id: str
    external_id: str | None
    status: str | None
    event_id: str
    event_type: str


class Dialect:
    """One wire dialect. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    # Content-Type of the JSON we send: the create, the hub registration (Accept is application/json).
    media_type: ClassVar[str] = "application/json"
    # Content-Type of a PATCH.
    patch_media_type: ClassVar[str] = "application/merge-patch+json"
    # The list endpoint's query parameter that filters on our external identifier.
    lookup_parameter: ClassVar[str] = "externalId"

    def __init__(self, priority_map: Mapping[str, str] | None = None) -> None:
        self.priority_map = dict(priority_map or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # --- create ---

    def priority(self, value: str) -> str:
        """The form's priority as the server expects it (``OCEANE_PRIORITY_MAP``, else unchanged)."""
        return self.priority_map.get(str(value), str(value))

    def create_body(self, request: RequestRecord) -> dict[str, Any]:
        """The create body for a recorded request (the same body on every attempt)."""
        raise NotImplementedError

    def sent_external_id(self, body: Mapping[str, Any]) -> str | None:
        """Our external identifier in a create body we built (None if it has none)."""
        return plain_external_id(dict(body))

    def read_created(self, http_status: int, content: bytes, data: Any) -> OceaneTicket | None:
        """The created ticket, or None for ``202 Accepted`` without a body.

        v5 createTroubleTicket declares a 202 with no schema: the outcome must be looked up.
        """
        if http_status == 202 and not content.strip():
            return None
        return self.read_ticket(data)

    # --- reading tickets (create answer, list items, retrieve, listener events) ---

    def external_id_of(self, ticket: dict[str, Any]) -> str | None:
        """Our external identifier as the ticket carries it, None when it carries none."""
        return plain_external_id(ticket)

    def read_ticket(self, data: Any) -> OceaneTicket:
        """One ticket; ``ValueError`` if it is not one."""
        return OceaneTicket.from_json(data, external_id=self.external_id_of)

    def lookup_params(self, external_id: str, offset: int, limit: int) -> dict[str, str | int]:
        """Query of one page of ``GET {base}/troubleTicket`` for our external identifier.

        ``offset`` and ``limit`` are declared by v4 and v5 listTroubleTicket; the filter is an
        attribute filter of TMF's design guidelines, which a conformant server may ignore: the
        caller keeps only exact matches.
        """
        return {self.lookup_parameter: external_id, "offset": offset, "limit": limit}

    # --- updates (PATCH {base}/troubleTicket/{id}), pure: the worker reads the ticket first ---

    def _typed(self, body: dict[str, Any], type_name: str) -> dict[str, Any]:
        # v5 objects are Extensible ('@type' required); v4 and our contract have no such rule.
        return body

    def note(self, event_id: str, text: str, author: str, date: datetime) -> dict[str, Any]:
        """One note (v4 ``Note``, v5 ``Note_MVO``: ``id, author, date, text``)."""
        return self._typed({"id": note_id(event_id), "author": author, "date": iso(date), "text": text}, "Note")

    def note_patch(
        self, ticket: OceaneTicket | Mapping[str, Any], event_id: str, text: str, author: str, date: datetime
    ) -> dict[str, Any] | None:
        """The merge patch that adds one note to ``ticket`` as last read; None if it is already there.

        Under merge-patch an array is replaced whole, so the notes as read travel with the new one.
        """
        raw = ticket.raw if isinstance(ticket, OceaneTicket) else ticket
        existing = raw.get("note")
        notes = [n for n in existing if isinstance(n, dict)] if isinstance(existing, list) else []
        wanted = note_id(event_id)
        if any(n.get("id") == wanted for n in notes):
            return None
        notes = [self._typed(dict(n), "Note") if "@type" not in n else dict(n) for n in notes]
        return self._typed({"note": [*notes, self.note(event_id, text, author, date)]}, "TroubleTicket")

    def resolve_patch(self, reason: str, when: datetime) -> dict[str, Any]:
        """The patch that resolves a ticket.

        v4 ``TroubleTicket_Update``, v5 ``TroubleTicket_MVO``: ``status``, ``statusChangeReason``, ``resolutionDate``.
        """
        body = {"status": "resolved", "statusChangeReason": reason, "resolutionDate": iso(when)}
        return self._typed(body, "TroubleTicket")

    def severity_patch(self, severity: str | None = None, priority: str | None = None) -> dict[str, Any] | None:
        """The patch that changes severity and/or priority (both free strings in v4 and v5); None if neither."""
        body: dict[str, Any] = {}
        if severity is not None:
            body["severity"] = severity
        if priority is not None:
            body["priority"] = self.priority(priority)
        return self._typed(body, "TroubleTicket") if body else None

    # --- the hub and its listener events ---

    def hub_body(self, callback: str, query: str = "") -> dict[str, Any]:
        """``POST {base}/hub`` (v4 ``EventSubscriptionInput``, v5 ``Hub_FVO``: ``callback`` required)."""
        return self._typed({"callback": callback, "query": query}, "Hub")

    def read_hub(self, data: Any) -> str:
        """The registration's id from the hub's 201 (v4 ``EventSubscription``, v5 ``Hub``); ``ValueError``."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("the hub's answer carries no string 'id'")
        return str(data["id"])

    def read_event(self, data: Any, event_name: str | None = None) -> ListenerEvent:
        """A listener event (``{eventId, eventTime, eventType, event: {troubleTicket}}``); ``ValueError``.

        ``event_name`` is the listener path's last segment, used when the body names no ``eventType``.
        """
        if not isinstance(data, dict):
            raise ValueError("the event is not a JSON object")
        event_id = data.get("eventId")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("the event carries no string 'eventId'")
        event_type = data.get("eventType") or event_name
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("the event carries no 'eventType'")
        payload = data.get("event")
        ticket = payload.get("troubleTicket") if isinstance(payload, dict) else None
        if not isinstance(ticket, dict) or not isinstance(ticket.get("id"), str) or not ticket["id"]:
            raise ValueError("the event carries no 'event.troubleTicket' with a string 'id'")
        status = ticket.get("status")
        return ListenerEvent(
            ticket_id=ticket["id"],
            external_id=self.external_id_of(ticket),
            status=status if isinstance(status, str) else None,
            event_id=event_id,
            event_type=event_type,
        )


def characteristics(request: RequestRecord) -> list[tuple[str, str]]:
    """The form's values no TMF621 attribute holds, as (name, value), in a fixed order."""
    values: list[tuple[str, str]] = [
        ("urgency", request.urgency),
        ("technicalImpact", request.technical_impact),
    ]
    if request.client_impact:
        values.append(("clientImpact", request.client_impact))
    if request.alarm_value:
        values.append(("alarmValue", request.alarm_value))
    if request.root_time is not None:
        values.append(("rootTime", iso(request.root_time)))
    return values


def v4_parties(request: RequestRecord) -> dict[str, Any]:
    """``relatedParty`` (the reporter) and ``relatedEntity`` (the element) in TMF621 v4's flat shape.

    Our ``oceane`` contract and v4 share it (v4 swagger: ``RelatedParty``, ``RelatedEntity``); v5
    wraps each in ``partyOrPartyRole`` / ``entity`` and builds its own.
    """
    return {
        "relatedParty": [{"id": request.oceane_user_id, "role": "reporter", "@referredType": "Individual"}],
        "relatedEntity": [
            {
                "id": f"{request.dma_id}/{request.element_id}",
                "name": request.element_name,
                "role": "impactedResource",
                "@referredType": "Resource",
            }
        ],
    }
