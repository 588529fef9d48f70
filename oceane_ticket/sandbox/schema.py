"""A small structural checker for the TMF621 bodies, and the schemas the sandbox holds them to.

The schemas are our own, written from the facts of TM Forum's specifications (repository
``tmforum-apis/TMF621_TroubleTicket``): ``TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json``
(definitions ``TroubleTicket_Create``, ``TroubleTicket_Update``, ``Note``, ``RelatedEntity``,
``RelatedParty``, ``ChannelRef``, ``EventSubscriptionInput``) and ``TMF621-Trouble_Ticket-v5.0.1.oas.yaml``
(schemas ``TroubleTicket_FVO``, ``TroubleTicket_MVO``, ``Extensible``, ``Note_FVO``, ``RelatedEntity_FVO``,
``EntityRef``, ``RelatedPartyRefOrPartyRoleRef_FVO``, ``ExternalIdentifier_FVO``, ``Characteristic_FVO``,
``StringCharacteristic_FVO``, ``Hub_FVO``). Only what a validator of those documents checks is
checked: required members, JSON types, ``date-time`` formats, the status enumeration, and the
``@type`` discriminator of the ticket. Neither specification forbids extra members, so, as a
conformant server would, members a schema does not declare are dropped rather than refused (that is
how a v4 server loses a ``characteristic`` without a word). A hand-written checker rather than
``jsonschema``: these are a dozen small shapes, and the errors must name the member in the
sandbox's own words (``relatedParty[0].@referredType``) for the Failed Ticket Requests table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oceane_ticket.sandbox.protocol import STATUSES, ApiError

MAX_TEXT = 100_000
MAX_ITEMS = 1000


@dataclass(frozen=True)
class Obj:
    """A JSON object: its declared members (name -> kind) and the required ones.

    ``open`` objects keep every member as sent (``attachment``, ``channel``: shapes the sandbox
    stores without reading).
    """

    props: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    open: bool = False
    type_value: str | None = None  # the only ``@type`` the discriminator maps (the ticket itself)


@dataclass(frozen=True)
class Arr:
    """A JSON array of ``items``."""

    items: Any


# Scalar kinds.
TEXT = "string"
DATE_TIME = "date-time"
STATUS = "status"
ANY = "any"
OPEN = Obj(open=True)


def check(value: Any, kind: Any, where: str) -> Any:
    """``value`` checked against ``kind``: the value to store (undeclared members dropped).

    Raises:
        ApiError: 400 code 23 for a missing required member, 24 for a wrong type or format; the
            description names the member (``note[1].text``).
    """
    if isinstance(kind, Obj):
        return _check_object(value, kind, where)
    if isinstance(kind, Arr):
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            raise ApiError(400, 24, f"Field {where!r} must be an array (at most {MAX_ITEMS} items).")
        return [check(item, kind.items, f"{where}[{index}]") for index, item in enumerate(value)]
    if kind == ANY:
        return value
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ApiError(400, 24, f"Field {where!r} must be a string of at most {MAX_TEXT} characters.")
    if kind == DATE_TIME and not _is_date_time(value):
        raise ApiError(400, 24, f"Field {where!r} must be an RFC 3339 date-time, got {value[:40]!r}.")
    if kind == STATUS and value not in STATUSES:
        raise ApiError(400, 24, f"Field {where!r} must be one of {', '.join(STATUSES)}, got {value[:40]!r}.")
    return value


def _check_object(value: Any, kind: Obj, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, 24, f"Field {where!r} must be an object.")
    prefix = f"{where}." if where else ""
    missing = [name for name in kind.required if value.get(name) is None]
    if missing:
        raise ApiError(400, 23, f"Missing body field(s): {', '.join(prefix + name for name in missing)}.")
    if kind.type_value is not None and value.get("@type") != kind.type_value:
        raise ApiError(400, 24, f"Field {prefix}@type must be {kind.type_value!r}.")
    if kind.open:
        return dict(value)
    return {
        name: check(member, kind.props[name], prefix + name)
        for name, member in value.items()
        if name in kind.props and member is not None
    }


def _is_date_time(text: str) -> bool:
    # RFC 3339 needs a date, a time and an offset (``Z`` or ``+hh:mm``).
    if "T" not in text.upper():
        return False
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _with(base: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    return {**base, **more}


# --- TMF621 v4 (swagger 2.0, definitions) ---

_V4_BASE = {"@baseType": TEXT, "@schemaLocation": TEXT, "@type": TEXT}
V4_NOTE = Obj(_with(_V4_BASE, id=TEXT, author=TEXT, date=DATE_TIME, text=TEXT))
V4_RELATED_ENTITY = Obj(
    _with(_V4_BASE, id=TEXT, href=TEXT, name=TEXT, role=TEXT, **{"@referredType": TEXT}),
    required=("@referredType", "id", "role"),
)
V4_RELATED_PARTY = Obj(
    _with(_V4_BASE, id=TEXT, href=TEXT, name=TEXT, role=TEXT, **{"@referredType": TEXT}),
    required=("@referredType", "id"),
)
V4_CHANNEL = Obj(_with(_V4_BASE, id=TEXT, href=TEXT, name=TEXT, **{"@referredType": TEXT}), required=("id",))
_V4_UPDATABLE = _with(
    _V4_BASE,
    description=TEXT,
    expectedResolutionDate=DATE_TIME,
    externalId=TEXT,
    name=TEXT,
    priority=TEXT,
    requestedResolutionDate=DATE_TIME,
    resolutionDate=DATE_TIME,
    severity=TEXT,
    statusChangeReason=TEXT,
    ticketType=TEXT,
    attachment=Arr(OPEN),
    channel=V4_CHANNEL,
    note=Arr(V4_NOTE),
    relatedEntity=Arr(V4_RELATED_ENTITY),
    relatedParty=Arr(V4_RELATED_PARTY),
    status=STATUS,
    troubleTicketRelationship=Arr(OPEN),
)
V4_UPDATE = Obj(_V4_UPDATABLE)
V4_CREATE = Obj(
    _with(
        _V4_UPDATABLE, creationDate=DATE_TIME, lastUpdate=DATE_TIME, statusChangeDate=DATE_TIME, statusChange=Arr(OPEN)
    ),
    required=("description", "severity", "ticketType"),
)
V4_HUB = Obj({"callback": TEXT, "query": TEXT}, required=("callback",))

# --- TMF621 v5 (OpenAPI 3, components/schemas); Extensible makes ``@type`` required everywhere ---

_V5_EXT = {"@baseType": TEXT, "@schemaLocation": TEXT, "@type": TEXT}
_V5_REQ = ("@type",)
V5_NOTE = Obj(_with(_V5_EXT, id=TEXT, author=TEXT, date=DATE_TIME, text=TEXT), required=_V5_REQ)
V5_ENTITY_REF = Obj(_with(_V5_EXT, id=TEXT, href=TEXT, name=TEXT, **{"@referredType": TEXT}), required=("id", "@type"))
V5_PARTY_REF = Obj(
    _with(_V5_EXT, id=TEXT, href=TEXT, name=TEXT, partyId=TEXT, partyName=TEXT, **{"@referredType": TEXT}),
    required=("id", "@type"),
)
V5_RELATED_ENTITY = Obj(_with(_V5_EXT, role=TEXT, entity=V5_ENTITY_REF), required=("role", "entity", "@type"))
V5_RELATED_PARTY = Obj(_with(_V5_EXT, role=TEXT, partyOrPartyRole=V5_PARTY_REF), required=("role", "@type"))
V5_EXTERNAL_IDENTIFIER = Obj(_with(_V5_EXT, id=TEXT, owner=TEXT, externalIdentifierType=TEXT), required=("id", "@type"))
V5_CHARACTERISTIC = Obj(
    _with(_V5_EXT, id=TEXT, name=TEXT, valueType=TEXT, value=ANY, characteristicRelationship=Arr(OPEN)),
    required=("name", "@type"),
)
_V5_COMMON = _with(
    _V5_EXT,
    name=TEXT,
    description=TEXT,
    severity=TEXT,
    ticketType=TEXT,
    attachment=Arr(OPEN),
    channel=OPEN,
    requestedResolutionDate=DATE_TIME,
    expectedResolutionDate=DATE_TIME,
    resolutionDate=DATE_TIME,
    externalIdentifier=Arr(V5_EXTERNAL_IDENTIFIER),
    note=Arr(V5_NOTE),
    priority=TEXT,
    relatedEntity=Arr(V5_RELATED_ENTITY),
    relatedParty=Arr(V5_RELATED_PARTY),
    status=STATUS,
    statusChangeReason=TEXT,
    troubleTicketRelationship=Arr(OPEN),
    troubleTicketSpecification=OPEN,
    troubleTicketCharacteristic=Arr(V5_CHARACTERISTIC),
)
V5_CREATE = Obj(
    _with(_V5_COMMON, statusChangeDate=DATE_TIME),
    required=("description", "severity", "ticketType", "@type"),
    type_value="TroubleTicket",
)
V5_UPDATE = Obj(_with(_V5_COMMON, statusChangeHistory=Arr(OPEN)), required=_V5_REQ, type_value="TroubleTicket")
V5_HUB = Obj(_with(_V5_EXT, callback=TEXT, query=TEXT), required=("callback", "@type"))


def check_characteristic_values(ticket: Mapping[str, Any]) -> None:
    """v5 ``StringCharacteristic_FVO`` requires a string ``value`` (the typed subclasses require one)."""
    for index, item in enumerate(ticket.get("troubleTicketCharacteristic") or []):
        where = f"troubleTicketCharacteristic[{index}]"
        if "value" not in item:
            raise ApiError(400, 23, f"Missing body field(s): {where}.value.")
        if item.get("@type") == "StringCharacteristic" and not isinstance(item["value"], str):
            raise ApiError(400, 24, f"Field {where}.value must be a string for a StringCharacteristic.")
