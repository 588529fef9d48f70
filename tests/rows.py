"""Rows for the two tables, for tests that load the database directly (retention, operations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def ticket_row(n: int, created_at: datetime, status: str = "created", alarm_id: int | None = None) -> dict[str, Any]:
    """A ``tickets`` row numbered ``n`` (instance ``n`` in hex; alarm ``n`` unless given)."""
    return {
        "instance": f"{n:032x}",
        "alarm_id": n if alarm_id is None else alarm_id,
        "dma_id": 1,
        "element_id": 2,
        "element_name": "el",
        "created_at": created_at,
        "priority": "2",
        "urgency": "Major",
        "technical_impact": "Major",
        "root_cause": "rc",
        "status": status,
        "oceane_user_id": "U",
        "updated_at": created_at,
        "attempts": 1,
        "retries_used": 0,
        "adopted": False,
    }


def failure_row(n: int, at: datetime, *, http: int = 500, code: int = 1, final: bool = True) -> dict[str, Any]:
    """A ``failed_ticket_requests`` row for ticket ``n``."""
    return {
        "instance": f"{n:032x}",
        "http_error_code": http,
        "app_error_code": str(code),
        "error_message": "m",
        "error_description": "d",
        "failed_at": at,
        "attempt": 1,
        "final": final,
    }


def failures_for(session: Any, instance: str) -> list[Any]:
    """One request's Failed Ticket Requests rows, oldest first (what the tests check the history with)."""
    from oceane_ticket.storage import reads

    return list(reads.failures_for(session, instance))
