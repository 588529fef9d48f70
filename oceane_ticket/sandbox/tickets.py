"""Validation of a create body and of find query parameters, with the contract's 400 codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from oceane_ticket.sandbox.protocol import STATUSES, ApiError

REQUIRED_FIELDS = ("externalId", "description", "severity", "ticketType", "priority")
# The receiver owns these (contract §3); a client sending them has a bug worth surfacing.
READ_ONLY_FIELDS = ("id", "href", "status", "creationDate", "lastUpdate")
MAX_TEXT = 100_000
FIND_PARAMS = ("externalId", "status", "offset", "limit")
DEFAULT_LIMIT = 40
MAX_LIMIT = 1000


def now_iso() -> str:
    """The current time as ISO 8601 UTC with a ``Z``, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ticket_body(raw: bytes) -> dict[str, Any]:
    """Decode and validate a create body.

    Args:
        raw: The request body.

    Returns:
        The decoded JSON object, unchanged.

    Raises:
        ApiError: 400 with code 21 (missing), 22 (not a JSON object), 23 (missing field) or 24 (bad field).
    """
    body = decode_object(raw)
    validate_ticket(body)
    return body


def decode_object(raw: bytes) -> dict[str, Any]:
    """Decode a body that must be one JSON object; 400 code 21 (empty) or 22 (not a JSON object)."""
    if not raw.strip():
        raise ApiError(400, 21, "The request body is empty; a JSON object is expected.")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, 22, f"The request body is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, 22, f"The request body must be a JSON object, got {type(body).__name__}.")
    return body


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the real service) does not.
    raise ValueError(f"{name} is not valid JSON")


def validate_ticket(body: Mapping[str, Any]) -> None:
    """Check the fields of a create body (see :func:`parse_ticket_body`)."""
    missing = [name for name in REQUIRED_FIELDS if body.get(name) is None]
    if missing:
        raise ApiError(400, 23, f"Missing body field(s): {', '.join(missing)}.")
    for name in REQUIRED_FIELDS:
        _require_text(name, body[name])
    for name in READ_ONLY_FIELDS:
        if name in body:
            raise ApiError(400, 24, f"Field {name!r} is set by the server and must not be sent.")
    if "characteristic" in body:
        check_characteristics(body["characteristic"])
    for name in ("relatedParty", "relatedEntity"):
        if name in body:
            check_references(name, body[name])


def _require_text(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ApiError(400, 24, f"Field {name!r} must be a string, got {type(value).__name__}.")
    if not value.strip():
        raise ApiError(400, 24, f"Field {name!r} must not be empty.")
    if len(value) > MAX_TEXT:
        raise ApiError(400, 24, f"Field {name!r} is longer than {MAX_TEXT} characters.")


def check_characteristics(value: Any) -> None:
    """``characteristic`` must be an array of ``{name, value}`` with a scalar value; 400 code 24."""
    if not isinstance(value, list):
        raise ApiError(400, 24, "Field 'characteristic' must be an array of {name, value} objects.")
    for index, item in enumerate(value):
        where = f"characteristic[{index}]"
        if not isinstance(item, dict) or "name" not in item or "value" not in item:
            raise ApiError(400, 24, f"{where} must be an object with 'name' and 'value'.")
        if not isinstance(item["name"], str) or not item["name"].strip():
            raise ApiError(400, 24, f"{where}.name must be a non-empty string.")
        if isinstance(item["value"], dict | list) or item["value"] is None:
            raise ApiError(400, 24, f"{where}.value must be a string, number or boolean.")


def check_references(name: str, value: Any) -> None:
    """``relatedParty``/``relatedEntity`` must be arrays of objects with a string ``id``; 400 code 24."""
    if not isinstance(value, list):
        raise ApiError(400, 24, f"Field {name!r} must be an array of objects.")
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"].strip():
            raise ApiError(400, 24, f"{name}[{index}] must be an object with a non-empty string 'id'.")


Getter = Callable[[Mapping[str, Any]], list[str]]


class FindQuery:
    """The validated query of ``GET /troubleTicket``.

    ``attributes`` are TMF attribute filters: (values of the ticket, accepted values) pairs, each of
    which must match. ``fields`` is the TMF attribute selection (``None``: every attribute).
    """

    def __init__(
        self,
        external_id: str | None,
        statuses: tuple[str, ...],
        offset: int,
        limit: int,
        attributes: tuple[tuple[Getter, frozenset[str]], ...] = (),
        fields: tuple[str, ...] | None = None,
    ) -> None:
        self.external_id = external_id
        self.statuses = statuses
        self.offset = offset
        self.limit = limit
        self.attributes = attributes
        self.fields = fields

    def unfiltered(self) -> FindQuery:
        """The same query without its identifier and attribute filters (the ``find_ignores_filter`` fault)."""
        return FindQuery(None, self.statuses, self.offset, self.limit, (), self.fields)

    def matches(self, ticket: Mapping[str, Any]) -> bool:
        """Whether a ticket passes the filters."""
        if self.external_id is not None and ticket.get("externalId") != self.external_id:
            return False
        if self.statuses and ticket.get("status") not in self.statuses:
            return False
        return all(accepted.intersection(values(ticket)) for values, accepted in self.attributes)


def parse_find_query(query: str) -> FindQuery:
    """Validate the query string of a find.

    Unknown parameters are refused rather than ignored: a misspelt ``externalId`` would otherwise
    list every ticket, and a client adopting the first one would attach the wrong ticket.

    Raises:
        ApiError: 400 code 28 for an unknown, repeated, empty or out-of-range parameter.
    """
    try:
        params = parse_qs(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, 28, f"The query string does not decode: {exc}") from None
    for name, values in params.items():
        if name not in FIND_PARAMS:
            raise ApiError(400, 28, f"Unsupported query parameter {name!r}; supported: {', '.join(FIND_PARAMS)}.")
        if len(values) != 1 or not values[0].strip():
            raise ApiError(400, 28, f"Query parameter {name!r} must be given once, with a value.")
    single = {name: values[0] for name, values in params.items()}
    statuses = tuple(s.strip() for s in single.get("status", "").split(",") if s.strip())
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ApiError(400, 28, f"Unknown status {', '.join(bad)}; allowed: {', '.join(STATUSES)}.")
    offset = _int_param(single, "offset", 0, 0, 10**9)
    limit = _int_param(single, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    return FindQuery(single.get("externalId"), statuses, offset, limit)


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if len(text) > 10 or not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ApiError(400, 28, f"Query parameter {name!r} must be an integer from {low} to {high}.")
    return int(text)


# TMF621 v5 OAS list parameters the sandbox does not implement (cursor paging, sorting, JSONPath):
# answered 501, which the specification lists, rather than silently ignored.
TMF_UNIMPLEMENTED = ("before", "after", "sort", "filter")


def parse_tmf_find_query(query: str, filters: Mapping[str, Getter], extra: tuple[str, ...] = ()) -> FindQuery:
    """Validate a TMF621 list query: ``fields``, ``offset``, ``limit`` and attribute filters.

    Attribute filters follow the TMF design guidelines: ``name=value`` (dot notation into arrays of
    objects, ``externalIdentifier.id=...``), a comma meaning "any of". A parameter that is neither is
    refused, as in the oceane dialect: a misspelt filter must not list every ticket.

    Raises:
        ApiError: 400 code 28 for a bad parameter, 501 for a declared one the sandbox does not implement.
    """
    try:
        params = parse_qs(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, 28, f"The query string does not decode: {exc}") from None
    attributes: list[tuple[Getter, frozenset[str]]] = []
    single: dict[str, str] = {}
    for name, values in params.items():
        if len(values) != 1 or not values[0].strip():
            raise ApiError(400, 28, f"Query parameter {name!r} must be given once, with a value.")
        if name in extra:
            raise ApiError(501, 1, f"Query parameter {name!r} is not implemented by the sandbox.")
        if name in ("fields", "offset", "limit"):
            single[name] = values[0]
        elif name in filters:
            if name == "status":
                bad = [s for s in values[0].split(",") if s.strip() not in STATUSES]
                if bad:
                    raise ApiError(400, 28, f"Unknown status {', '.join(bad)}; allowed: {', '.join(STATUSES)}.")
            attributes.append((filters[name], frozenset(v.strip() for v in values[0].split(","))))
        else:
            allowed = ", ".join(("fields", "offset", "limit", *filters))
            raise ApiError(400, 28, f"Unsupported query parameter {name!r}; supported: {allowed}.")
    offset = _int_param(single, "offset", 0, 0, 10**9)
    limit = _int_param(single, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    return FindQuery(None, (), offset, limit, tuple(attributes), parse_fields(single.get("fields")))


def parse_fields(text: str | None) -> tuple[str, ...] | None:
    """The attribute names of a ``fields`` parameter (``None`` when absent)."""
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ApiError(400, 28, "Query parameter 'fields' must name at least one attribute.")
    return names
