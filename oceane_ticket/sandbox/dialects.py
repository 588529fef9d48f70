"""What differs between the API dialects the sandbox speaks: paths, media types, bodies, errors, filters.

``oceane`` is our own contract (``docs/oceane-api.md``). ``tmf621-v4`` and ``tmf621-v5`` follow TM
Forum's specifications (see :mod:`oceane_ticket.sandbox.schema` for the files and schema names):
the base path ``/tmf-api/troubleTicket/v4|v5`` (v4 swagger ``basePath``, v5 OAS ``servers``), the
error body ``{"@type", "code", "reason", "message", "status"}`` (v4 ``Error``, v5 ``Error``: ``code``
and ``reason`` strings, required), and the media type each declares (v4: ``consumes``/``produces``
``application/json;charset=utf-8``; v5: ``application/json`` on every request and response body).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oceane_ticket.sandbox.protocol import JSON_TYPE, MERGE_PATCH_TYPE, ApiError, json_bytes
from oceane_ticket.sandbox.schema import (
    V4_CREATE,
    V4_HUB,
    V4_UPDATE,
    V5_CREATE,
    V5_HUB,
    V5_UPDATE,
    Obj,
    check,
    check_characteristic_values,
)
from oceane_ticket.sandbox.tickets import decode_object, parse_ticket_body
from oceane_ticket.sandbox.updates import OCEANE_PATCHABLE, check_patch

DIALECTS = ("oceane", "tmf621-v4", "tmf621-v5")
# Orange codes kept as the TMF ``code`` (as strings), so that a client reading either shape still
# tells an expired token (42) from a bad one (41); other errors get TMF's own "ERR<status>" style.
KEPT_CODES = frozenset({1, 5, 40, 41, 42, 53})
HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not allowed",
    406: "Not Acceptable",
    409: "Conflict",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
# v5 OAS TroubleTicket_MVO: JSON Patch (RFC 6902) is declared too; the sandbox implements merge-patch only.
JSON_PATCH_TYPES = frozenset({"application/json-patch+json", "application/json-patch-query+json"})


@dataclass(frozen=True)
class Dialect:
    """One dialect's wire rules."""

    name: str
    prefix: str  # the API's base path ('' for oceane)
    media_type: str  # Content-Type of the JSON answers of the ticket API
    patch_types: frozenset[str]
    filters: Mapping[str, Callable[[Mapping[str, Any]], list[str]]]  # query name -> ticket values
    create_schema: Obj | None = None
    update_schema: Obj | None = None
    hub_schema: Obj | None = None

    @property
    def tmf(self) -> bool:
        """Whether errors take TMF's shape."""
        return self.name != "oceane"

    # --- bodies ---

    def create_body(self, raw: bytes) -> dict[str, Any]:
        """The ticket fields to store from a create body; raises ``ApiError`` 400."""
        if self.create_schema is None:
            return parse_ticket_body(raw)
        body: dict[str, Any] = check(decode_object(raw), self.create_schema, "")
        for owned in ("id", "href", "status", "creationDate", "lastUpdate", "statusChange", "statusChangeDate"):
            body.pop(owned, None)  # the server sets these; a conformant one ignores what a client sends
        if self.name == "tmf621-v5":
            check_characteristic_values(body)
        return body

    def patch_body(self, patch: dict[str, Any]) -> dict[str, Any]:
        """The checked merge-patch (``null`` members kept: they remove); raises ``ApiError`` 400."""
        if self.update_schema is None:
            check_patch(patch, OCEANE_PATCHABLE, "note")
            return patch
        removals = {name: None for name, value in patch.items() if value is None}
        for name in removals:
            if name in ("description", "severity", "ticketType", "status", "@type"):
                raise ApiError(400, 24, f"Field {name!r} is required and cannot be removed.")
            if name not in self.update_schema.props:
                raise ApiError(400, 24, f"Field {name!r} is not a trouble ticket field that can be patched.")
        kept = {name: value for name, value in patch.items() if value is not None}
        undeclared = sorted(set(kept) - set(self.update_schema.props) - {"@type"})
        if undeclared:
            # Skipped in TroubleTicket_Update (v4) / not in TroubleTicket_MVO (v5): not patchable.
            raise ApiError(400, 24, f"Field {undeclared[0]!r} cannot be patched.")
        if self.name == "tmf621-v5":
            kept.setdefault("@type", None)  # let the schema report a missing @type
            if kept["@type"] is None:
                raise ApiError(400, 23, "Missing body field(s): @type.")
        checked: dict[str, Any] = check(kept, self.update_schema, "")
        return {**checked, **removals}

    def hub_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The checked hub registration (``callback``, ``query``); raises ``ApiError`` 400."""
        if self.hub_schema is None:
            unknown = sorted(set(body) - {"callback", "query"})
            if unknown:
                raise ApiError(400, 24, f"Unknown hub field(s) {', '.join(unknown)}; allowed: callback, query.")
            if "callback" not in body:
                raise ApiError(400, 23, "Missing body field: callback.")
            return body
        checked: dict[str, Any] = check(body, self.hub_schema, "")
        return checked

    # --- tickets ---

    def external_ids(self, ticket: Mapping[str, Any]) -> list[str]:
        """The external identifiers a ticket carries (what a duplicate create collides on)."""
        if self.name == "tmf621-v5":
            return [str(item.get("id")) for item in ticket.get("externalIdentifier") or [] if item.get("id")]
        value = ticket.get("externalId")
        return [value] if isinstance(value, str) else []

    def hand_made(self, external_id: str | None) -> dict[str, Any]:
        """The dialect's fields of a ticket opened by hand (with our identifier when given)."""
        fields: dict[str, Any] = {"ticketType": "incident", "description": "opened by hand in Oceane"}
        fields.update(severity="Minor", priority="4" if self.name == "oceane" else "Low")
        if self.name == "tmf621-v5":
            fields["@type"] = "TroubleTicket"
            if external_id is not None:
                fields["externalIdentifier"] = [
                    {
                        "@type": "ExternalIdentifier",
                        "id": external_id,
                        "owner": "DataMiner",
                        "externalIdentifierType": "alarmTreeId",
                    }
                ]
        elif external_id is not None:
            fields["externalId"] = external_id
        return fields

    def event(self, body: dict[str, Any]) -> dict[str, Any]:
        """A hub event as this dialect sends it (v5 ``Event`` is Extensible: it carries ``@type``)."""
        if self.name == "tmf621-v5":
            return {**body, "@type": body["eventType"]}
        return body

    # --- errors ---

    def error_body(self, error: ApiError) -> bytes:
        """The error in this dialect's shape."""
        if not self.tmf:
            return json_bytes({"code": error.code, "message": error.message, "description": error.description})
        code = str(error.code) if error.code in KEPT_CODES or error.explicit else f"ERR{error.status}"
        body = {
            "@type": "Error",
            "code": code,
            "reason": error.message if error.explicit or error.code in KEPT_CODES else _reason(error),
            "message": error.description,
            "status": str(error.status),
        }
        return json_bytes(body)


def _reason(error: ApiError) -> str:
    return HTTP_REASONS.get(error.status, error.message)


def _v4_external_id(ticket: Mapping[str, Any]) -> list[str]:
    value = ticket.get("externalId")
    return [value] if isinstance(value, str) else []


def _identifier_member(member: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def values(ticket: Mapping[str, Any]) -> list[str]:
        return [str(item[member]) for item in ticket.get("externalIdentifier") or [] if member in item]

    return values


def _attribute(name: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def values(ticket: Mapping[str, Any]) -> list[str]:
        value = ticket.get(name)
        return [value] if isinstance(value, str) else []

    return values


_COMMON_FILTERS = {name: _attribute(name) for name in ("status", "severity", "priority", "ticketType")}
_MERGE_TYPES = frozenset({MERGE_PATCH_TYPE, JSON_TYPE})

OCEANE = Dialect("oceane", "", JSON_TYPE, frozenset({MERGE_PATCH_TYPE}), {})
TMF621_V4 = Dialect(
    "tmf621-v4",
    "/tmf-api/troubleTicket/v4",
    "application/json;charset=utf-8",
    _MERGE_TYPES,
    {"externalId": _v4_external_id, **_COMMON_FILTERS},
    V4_CREATE,
    V4_UPDATE,
    V4_HUB,
)
TMF621_V5 = Dialect(
    "tmf621-v5",
    "/tmf-api/troubleTicket/v5",
    JSON_TYPE,
    _MERGE_TYPES,
    {
        "externalIdentifier.id": _identifier_member("id"),
        "externalIdentifier.owner": _identifier_member("owner"),
        "externalIdentifier.externalIdentifierType": _identifier_member("externalIdentifierType"),
        **_COMMON_FILTERS,
    },
    V5_CREATE,
    V5_UPDATE,
    V5_HUB,
)
_BY_NAME = {d.name: d for d in (OCEANE, TMF621_V4, TMF621_V5)}


def dialect(name: str) -> Dialect:
    """The dialect called ``name``; raises ``ValueError`` naming the allowed ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; allowed: {', '.join(DIALECTS)}") from None


def select_fields(ticket: Mapping[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """The ticket with only the first-level attributes ``fields`` names (TMF attribute selection).

    ``id``, ``href`` and ``@type`` always stay: they identify the resource (v5 ``TroubleTicket_RES``
    requires ``id`` and ``href``; Extensible requires ``@type``).
    The ticket given is already the caller's own copy, so nothing is copied again.
    """
    if fields is None:
        return dict(ticket)
    keep = set(fields) | {"id", "href", "@type"}
    return {name: value for name, value in ticket.items() if name in keep}
