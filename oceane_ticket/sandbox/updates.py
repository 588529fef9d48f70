"""A ticket update (``PATCH /troubleTicket/{id}``): the merge-patch body, its checks, and the status rules.

Merge-patch is RFC 7396: a member replaces the ticket's, ``null`` removes it, and an array (the
notes) is replaced whole. Which transitions the sandbox allows follows the TMF621 trouble ticket
state machine (v4 and v5 user guides: acknowledged -> inProgress/rejected, inProgress <-> pending/held,
inProgress -> resolved/cancelled, resolved -> closed or back to inProgress); a ticket that is closed,
cancelled or rejected is over and takes no further status. ``docs/oceane-api.md`` §6: a refused
transition is a 409 (code 29 for the oceane dialect), a bad value a 400 code 24.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from oceane_ticket.sandbox.hub import ATTRIBUTE_CHANGE_EVENT, RESOLVED_EVENT, STATUS_CHANGE_EVENT
from oceane_ticket.sandbox.protocol import STATUSES, ApiError
from oceane_ticket.sandbox.tickets import MAX_TEXT, check_characteristics, check_references, now_iso

# Fields the server owns: an update naming them is refused, as a create is.
READ_ONLY = frozenset({"id", "href", "creationDate", "lastUpdate", "@baseType", "@schemaLocation"})
# Fields that name the ticket for the client that made it: changing them would break its lookup.
IDENTITY = frozenset({"externalId", "externalIdentifier"})
TEXT_FIELDS = ("description", "severity", "priority", "statusChangeReason", "name", "ticketType")
DATE_FIELDS = ("resolutionDate", "expectedResolutionDate", "requestedResolutionDate", "statusChangeDate")
MAX_NOTES = 1000
# What an update may carry in the oceane dialect (docs/oceane-api.md §3 and §6).
OCEANE_PATCHABLE = frozenset(
    {"description", "severity", "priority", "status", "statusChangeReason", "note", "characteristic", "name"}
    | {"relatedParty", "relatedEntity", "ticketType", *DATE_FIELDS}
)

_ALLOWED_NEXT: dict[str, frozenset[str]] = {
    "acknowledged": frozenset({"inProgress", "rejected", "pending", "held", "resolved", "cancelled"}),
    "inProgress": frozenset({"pending", "held", "resolved", "cancelled"}),
    "pending": frozenset({"inProgress", "resolved", "cancelled"}),
    "held": frozenset({"inProgress", "resolved", "cancelled"}),
    "resolved": frozenset({"closed", "inProgress"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
    "rejected": frozenset(),
}


def check_patch(patch: Mapping[str, Any], allowed: frozenset[str], notes_field: str) -> None:
    """Check the members of a patch; raises 400 code 24 naming the first bad one.

    Args:
        patch: The decoded merge-patch object.
        allowed: The members this dialect's ticket has (anything else is refused, so a misspelt
            member is never silently ignored).
        notes_field: The name of the notes array in this dialect (``note`` in every TMF621 version).
    """
    for name, value in patch.items():
        if name in READ_ONLY or name in IDENTITY:
            raise ApiError(400, 24, f"Field {name!r} cannot be changed.")
        if name not in allowed:
            raise ApiError(400, 24, f"Field {name!r} is not a trouble ticket field that can be patched.")
        if value is None:
            if name in ("status", "description", "severity"):
                raise ApiError(400, 24, f"Field {name!r} is required and cannot be removed.")
            continue
        if name == notes_field:
            _check_notes(name, value)
        elif name == "status":
            if value not in STATUSES:
                raise ApiError(400, 24, f"status must be one of {', '.join(STATUSES)}, got {str(value)[:50]!r}.")
        elif name == "characteristic":
            check_characteristics(value)
        elif name in ("relatedParty", "relatedEntity"):
            check_references(name, value)
        elif name in TEXT_FIELDS or name in DATE_FIELDS:
            _check_text(name, value)


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ApiError(400, 24, f"Field {name!r} must be a non-empty string of at most {MAX_TEXT} characters.")


def _check_notes(name: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > MAX_NOTES:
        raise ApiError(400, 24, f"Field {name!r} must be an array of at most {MAX_NOTES} notes.")
    seen: set[str] = set()
    for index, note in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(note, dict):
            raise ApiError(400, 24, f"{where} must be an object.")
        # TMF621 Note (v4 swagger and v5 OAS): text is the note; id, author, date are strings.
        _check_text(f"{where}.text", note.get("text"))
        for member in ("id", "author", "date"):
            if member in note:
                _check_text(f"{where}.{member}", note[member])
        note_id = note.get("id")
        if note_id is not None:
            if note_id in seen:
                raise ApiError(400, 24, f"{where}.id {note_id[:50]!r} appears twice.")
            seen.add(note_id)


def apply_patch(
    ticket: dict[str, Any], patch: Mapping[str, Any], conflict_code: int
) -> tuple[dict[str, Any], list[str]]:
    """The ticket after the patch, and the events the change raises; the ticket is not modified.

    Raises:
        ApiError: 409 when the status change is not a transition the state machine allows.
    """
    before = ticket
    after = copy.deepcopy(ticket)
    for name, value in patch.items():
        if value is None:
            after.pop(name, None)
        else:
            after[name] = copy.deepcopy(value)
    old, new = before.get("status"), after.get("status")
    if new != old and new not in _ALLOWED_NEXT.get(str(old), frozenset()):
        raise ApiError(409, conflict_code, f"A ticket that is {old} cannot become {new}.")
    events: list[str] = []
    stamp = now_iso()
    if new != old:
        after["statusChangeDate"] = patch.get("statusChangeDate") or stamp
        events.append(STATUS_CHANGE_EVENT)
        if new == "resolved":
            after.setdefault("resolutionDate", stamp)
            events.append(RESOLVED_EVENT)
    if any(before.get(name) != after.get(name) for name in patch if name != "status"):
        events.append(ATTRIBUTE_CHANGE_EVENT)
    if events:
        after["lastUpdate"] = stamp
    return after, events
