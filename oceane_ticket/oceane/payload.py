"""The create-ticket body of a recorded request, in a dialect (``oceane``, docs/oceane-api.md §3, by default)."""

from __future__ import annotations

from typing import Any

from oceane_ticket.oceane.dialects import Dialect
from oceane_ticket.oceane.dialects.oceane import OceaneDialect
from oceane_ticket.request import RequestRecord


def ticket_payload(request: RequestRecord, dialect: Dialect | None = None) -> dict[str, Any]:
    """The create body for a recorded request (``RequestRecord.from_row`` reads one from a row)."""
    return (dialect or OceaneDialect()).create_body(request)
