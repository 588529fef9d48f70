"""The time of stored rows: aware UTC, also for what SQLite hands back naive, and as ISO 8601 text."""

from __future__ import annotations

from datetime import UTC, datetime

from oceane_ticket.request import format_time


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything we store is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | float | None) -> str | None:
    """ISO 8601 UTC with ``Z`` from a datetime (naive = UTC, as SQLite hands it back) or epoch seconds."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return format_time(moment)
