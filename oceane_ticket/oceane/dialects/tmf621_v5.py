"""TMF621 Trouble Ticket v5.0.1 as TM Forum publishes it.

Source: ``tmforum-apis/TMF621_TroubleTicket``, ``TMF621-Trouble_Ticket-v5.0.1.oas.yaml``, components:

- ``TroubleTicket_FVO`` (createTroubleTicket's body) is an ``Entity``, hence ``Extensible``: ``@type``
  is required, beside ``description``, ``severity`` and ``ticketType``. There is no ``externalId``;
  ``externalIdentifier`` is an array of ``ExternalIdentifier_FVO`` (``id`` and ``@type`` required;
  ``owner``, ``externalIdentifierType``). Characteristics are ``troubleTicketCharacteristic``, an array
  of ``Characteristic_FVO`` (``name`` and ``@type`` required; ``StringCharacteristic_FVO`` also
  requires ``value``; ``valueType``).
- ``RelatedPartyRefOrPartyRoleRef_FVO``: ``role`` and ``@type`` required, the party in
  ``partyOrPartyRole`` (``PartyRef_FVO``, an ``EntityRef``: ``id`` and ``@type`` required, ``@referredType``).
- ``RelatedEntity_FVO``: ``role``, ``entity`` and ``@type`` required; ``entity`` an ``EntityRef``
  (``id``, ``@type``; ``name``, ``@referredType``).
- ``Note_FVO``/``Note_MVO``: ``id, author, date, text`` and the required ``@type``.
- createTroubleTicket answers ``201`` (``TroubleTicket_RES``) or ``202 Accepted`` with no body.
- patchTroubleTicket (``TroubleTicket_MVO``) accepts ``application/json``,
  ``application/merge-patch+json``, ``application/json-patch+json`` and ``application/json-patch-query+json``;
  we send a merge patch. Other bodies and answers: ``application/json``.
- listTroubleTicket declares ``fields, offset, limit, before, after, sort, filter``; our
  ``externalIdentifier.id`` is an attribute filter in TMF's dot notation, which a server may ignore.
- ``Hub_FVO``: ``callback`` and ``@type`` required, ``query``. Events (``Event``): ``@type``, ``eventId``,
  ``eventTime``, ``eventType``, ``event.troubleTicket``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from oceane_ticket.oceane.dialects.base import TICKET_TYPE, Dialect, characteristics
from oceane_ticket.request import RequestRecord

# Our external identifier's owner and type (CONTRACTS.md): who made the id, and what it names.
OWNER = "DataMiner"
IDENTIFIER_TYPE = "alarmTreeId"


class Tmf621V5Dialect(Dialect):
    """``OCEANE_API_DIALECT=tmf621-v5``."""

    name: ClassVar[str] = "tmf621-v5"
    media_type: ClassVar[str] = "application/json"
    patch_media_type: ClassVar[str] = "application/merge-patch+json"
    lookup_parameter: ClassVar[str] = "externalIdentifier.id"

    def _typed(self, body: dict[str, Any], type_name: str) -> dict[str, Any]:
        return {"@type": type_name, **body}

    def create_body(self, request: RequestRecord) -> dict[str, Any]:
        """A ``TroubleTicket_FVO``."""
        return {
            "@type": "TroubleTicket",
            "ticketType": TICKET_TYPE,
            "description": request.root_cause,
            "priority": self.priority(request.priority),
            "severity": request.technical_impact,
            "externalIdentifier": [
                {
                    "@type": "ExternalIdentifier",
                    "id": request.external_id,
                    "owner": OWNER,
                    "externalIdentifierType": IDENTIFIER_TYPE,
                }
            ],
            "troubleTicketCharacteristic": [
                {"@type": "StringCharacteristic", "name": name, "value": value, "valueType": "string"}
                for name, value in characteristics(request)
            ],
            "relatedParty": [
                {
                    "@type": "RelatedPartyRefOrPartyRoleRef",
                    "role": "reporter",
                    "partyOrPartyRole": {
                        "@type": "PartyRef",
                        "id": request.oceane_user_id,
                        "@referredType": "Individual",
                    },
                }
            ],
            "relatedEntity": [
                {
                    "@type": "RelatedEntity",
                    "role": "impactedResource",
                    "entity": {
                        "@type": "EntityRef",
                        "id": f"{request.dma_id}/{request.element_id}",
                        "@referredType": "Resource",
                        "name": request.element_name,
                    },
                }
            ],
        }

    def sent_external_id(self, body: Mapping[str, Any]) -> str | None:
        """Our identifier in a body we built."""
        return self.external_id_of(dict(body))

    def external_id_of(self, ticket: dict[str, Any]) -> str | None:
        """The ``id`` of the ticket's ``externalIdentifier`` owned by us.

        Ours is the entry whose ``owner`` is :data:`OWNER`; an entry without an owner counts when its
        type is ours or absent (a server may drop attributes it does not store). Another system's
        identifier, whatever its id, is never ours.
        """
        entries = ticket.get("externalIdentifier")
        if not isinstance(entries, list):
            return None
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            owner, kind = entry.get("owner"), entry.get("externalIdentifierType")
            if owner == OWNER or (owner is None and kind in (None, IDENTIFIER_TYPE)):
                return str(entry["id"])
        return None
