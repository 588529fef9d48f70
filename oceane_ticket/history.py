"""A ticket's audit trail: who asked, each create attempt's failure, each alarm event and its fate, and when.

Read from what is recorded anyway (the request row, the Failed Ticket Requests rows, the alarm
events), so the trail cannot disagree with what the service did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from oceane_ticket.events import RECONCILE_PREFIX
from oceane_ticket.request import external_id
from oceane_ticket.storage import alarm_events, clock, reads
from oceane_ticket.storage.models import Ticket


@dataclass(frozen=True)
class Entry:
    """One line of the trail."""

    at: datetime | None
    what: str
    detail: str
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "at": None if self.at is None else self.at.isoformat(),
            "what": self.what,
            "detail": self.detail,
            "event_id": self.event_id,
        }


def _stamp(moment: datetime | None) -> datetime | None:
    return clock.as_utc(moment)


def _request_entries(row: Ticket) -> list[Entry]:
    asked = f"by DataMiner user {row.user or '(none)'}, Oceane user {row.oceane_user_id}"
    entries = [
        Entry(
            _stamp(row.created_at),
            "requested",
            f"alarm {external_id(row.dma_id, row.element_id, row.alarm_id)} {asked}",
        )
    ]
    if row.ticket_id is not None:
        how = "adopted" if row.adopted else "created"
        at = _stamp(row.ticket_created_at) or _stamp(row.updated_at)
        entries.append(Entry(at, how, f"ticket {row.ticket_id} after {row.attempts} attempt(s)"))
    if row.oceane_status:
        entries.append(Entry(_stamp(row.oceane_status_checked_at), "oceane_status", row.oceane_status))
    return entries


def _failure_entries(session: Session, instance: str) -> list[Entry]:
    return [
        Entry(
            _stamp(f.failed_at),
            "update_failed" if f.event_id else "create_failed",
            f"attempt {f.attempt}{' (final)' if f.final else ''}: HTTP {f.http_error_code}/{f.app_error_code} "
            f"{f.error_message}",
            f.event_id,
        )
        for f in reads.failures_for(session, instance)
    ]


def _event_entries(session: Session, instance: str) -> list[Entry]:
    entries = []
    for e in alarm_events.for_ticket(session, instance):
        # A clear the reconcile found (DataMiner no longer lists the alarm) says so: nobody sent it.
        sender = "the reconcile" if e.event_id.startswith(RECONCILE_PREFIX) else (e.user or "DataMiner")
        source = f"{e.kind} from {sender} at {_stamp(e.event_time).isoformat()}"  # type: ignore[union-attr]
        entries.append(Entry(_stamp(e.received_at), f"event_{e.kind}", f"{source}, action {e.action}", e.event_id))
        if e.state != alarm_events.EventState.PENDING.value:
            result = e.outcome or e.error or ""
            entries.append(Entry(_stamp(e.done_at), f"event_{e.state}", result, e.event_id))
        else:
            entries.append(Entry(None, "event_pending", f"attempts {e.attempts}", e.event_id))
    return entries


def history(session: Session, instance: str) -> list[Entry] | None:
    """The trail of one request, oldest first (pending events last); None if there is no such request."""
    row = session.get(Ticket, instance)
    if row is None:
        return None
    entries = _request_entries(row) + _failure_entries(session, instance) + _event_entries(session, instance)
    dated = sorted((e for e in entries if e.at is not None), key=lambda e: e.at)  # type: ignore[arg-type,return-value]
    return dated + [e for e in entries if e.at is None]
