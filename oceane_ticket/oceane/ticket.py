"""A trouble ticket as the server answered it, and what one lookup of ours saw.

Dialect-neutral: each dialect (``oceane_ticket.oceane.dialects``) says where a ticket carries our
external identifier; everything after that reads these two types only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oceane_ticket.statuses import OCEANE_CLOSED_STATUSES, OCEANE_OPEN_STATUSES

MAX_TICKET_ID = 64  # the tickets.ticket_id column


def plain_external_id(data: dict[str, Any]) -> str | None:
    """``externalId`` as a string, None when absent or not text (our contract and TMF621 v4)."""
    value = data.get("externalId")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class OceaneTicket:
    """A trouble ticket as the server returned it."""

    id: str
    status: str
    external_id: str | None
    href: str | None
    creation_date: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(
        cls, data: Any, external_id: Callable[[dict[str, Any]], str | None] = plain_external_id
    ) -> OceaneTicket:
        """Parse one ticket; ``ValueError`` if it is not a ticket.

        ``external_id`` reads our identifier out of the ticket (the dialect's way; ``externalId`` by default).
        """
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("the answer is not a ticket (no string 'id')")
        if not usable_id(data["id"]):
            # It is stored (tickets.ticket_id is 64 characters) and put in a URL: an id the database
            # refuses would leave the request neither created nor failed.
            raise ValueError(
                f"the answer's ticket id is unusable: 1 to {MAX_TICKET_ID} printable characters without spaces expected"
            )
        href = data.get("href")
        return cls(
            id=data["id"],
            status=str(data.get("status") or ""),
            external_id=external_id(data),
            href=href if isinstance(href, str) else None,
            creation_date=parse_date(data.get("creationDate")),
            raw=data,
        )

    @property
    def is_open(self) -> bool:
        """Whether the ticket may still be worked: any status but a closed one (case-insensitive)."""
        return self.status.strip().lower() not in OCEANE_CLOSED_STATUSES

    @property
    def known_status(self) -> bool:
        """Whether the status is one of TMF621's (case-insensitive)."""
        return self.status.strip().lower() in OCEANE_OPEN_STATUSES | OCEANE_CLOSED_STATUSES


@dataclass(frozen=True)
class TicketLookup:
    """What a find saw.

    Attributes:
        tickets: The tickets whose external identifier is exactly the one asked for, newest first.
            A ticket without one, or with another one, is never among them.
        complete: Whether the lookup saw every ticket the server holds for the query: the total it
            announced (``X-Total-Count``) or, without one, a last page shorter than a full page.
        pages: List requests sent.
        seen: Distinct tickets listed, ours or not.
        total: The server's ``X-Total-Count``, if it sent a readable one.
        reason: Why the lookup is incomplete ("" when complete).
    """

    tickets: list[OceaneTicket]
    complete: bool
    pages: int
    seen: int
    total: int | None
    reason: str = ""

    def open_ticket(self) -> OceaneTicket | None:
        """The newest open ticket among ours, if any."""
        return next((t for t in self.tickets if t.is_open), None)


def usable_id(ticket_id: str) -> bool:
    """Whether a server's ticket id can be stored and put in a URL."""
    return 0 < len(ticket_id) <= MAX_TICKET_ID and ticket_id.isprintable() and not any(c.isspace() for c in ticket_id)


def parse_date(value: Any) -> datetime | None:
    """An ISO 8601 date-time as an aware datetime (UTC when it names no zone), None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
