"""What people look at: the two tables, and the result of the Authenticate check."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from oceane_ticket.settings import Settings
from oceane_ticket.storage import db, queries
from oceane_ticket.storage.columns import FAILED_TICKET_REQUESTS_TABLE, TICKETS_TABLE


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = queries.as_utc(value)
        assert moment is not None
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def ticket_rows(settings: Settings, limit: int, status: str | None = None) -> list[dict[str, Any]]:
    """The Tickets table as dicts with the snake_case column names."""
    with db.session(settings.database_url) as s:
        return [{c: _value(getattr(t, c)) for c in TICKETS_TABLE} for t in queries.list_tickets(s, limit, status)]


def failed_rows(settings: Settings, limit: int) -> list[dict[str, Any]]:
    """The Failed Ticket Requests table as dicts with the snake_case column names."""
    with db.session(settings.database_url) as s:
        rows = []
        for failure, ticket_id in queries.list_failed(s, limit):
            row = {c: _value(getattr(failure, c)) for c in FAILED_TICKET_REQUESTS_TABLE}
            row["ticket_id"] = failure.ticket_id or ticket_id
            rows.append(row)
        return rows


def _table(title: str, rows: list[dict[str, Any]], columns: dict[str, str], wrap: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    for name, header in columns.items():
        table.add_column(header, no_wrap=name not in wrap, overflow="fold", max_width=60 if name in wrap else None)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    return table


def _console() -> Console:
    # Not a terminal (a pipe, a log): wide enough that no column is cut.
    return Console() if sys.stdout.isatty() else Console(width=250)


def show_tickets(settings: Settings, *, limit: int, as_json: bool, status: str | None = None) -> int:
    """Print the Tickets table (``--json``: every column)."""
    rows = ticket_rows(settings, limit, status)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        row["alarm"] = f"{row['dma_id']}/{row['element_id']}/{row['alarm_id']}"
    columns = {
        "instance": "Instance",
        "ticket_id": "Ticket ID",
        "alarm": "DMA/Element/Alarm",
        "element_name": "Element Name",
        "created_at": "Created At",
        "priority": "Priority",
        "urgency": "Urgency",
        "technical_impact": "Technical Impact",
        "client_impact": "Client Impact",
        "status": "Status",
        "ticket_url": "Ticket URL",
        "root_cause": "Root Cause",
    }
    _console().print(_table(f"Tickets ({len(rows)} shown, newest first)", rows, columns, ("root_cause",)))
    return 0


def show_failed(settings: Settings, *, limit: int, as_json: bool) -> int:
    """Print the Failed Ticket Requests table."""
    rows = failed_rows(settings, limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    columns = {
        "instance": "Instance",
        "ticket_id": "Ticket ID",
        "http_error_code": "HTTP Error Code",
        "app_error_code": "App Error Code",
        "error_message": "Error Message",
        "error_description": "Error Description",
        "failed_at": "Failed At",
        "attempt": "Attempt",
    }
    _console().print(
        _table(f"Failed Ticket Requests ({len(rows)} shown, newest first)", rows, columns, ("error_description",))
    )
    return 0


def authenticate(settings: Settings, *, as_json: bool) -> int:
    """Fetch a token with the configured credentials and say how it went (never the token)."""
    import time

    from oceane_ticket.oceane.client import OceaneClient
    from oceane_ticket.oceane.errors import OceaneError

    client = OceaneClient(settings)
    try:
        token = client.fetch_token()
    except OceaneError as exc:
        result = {
            "ok": False,
            "token_url": settings.effective_token_url,
            "http_error_code": exc.http_status,
            "app_error_code": exc.code,
            "error_message": exc.message,
            "error_description": exc.description,
        }
        if as_json:
            print(json.dumps(result))
        else:
            print(f"authentication FAILED at {settings.effective_token_url}: {exc}")
        return 1
    finally:
        client.close()
    expires = datetime.fromtimestamp(token.expires_at).astimezone()
    result = {
        "ok": True,
        "token_url": settings.effective_token_url,
        "client_id": settings.client_id,
        "expires_in": round(token.expires_at - time.time()),
        "expires_at": expires.isoformat(timespec="seconds"),
    }
    if as_json:
        print(json.dumps(result))
    else:
        print(
            f"authenticated as {settings.client_id} at {settings.effective_token_url}; "
            f"token valid for {result['expires_in']} s (until {result['expires_at']})"
        )
    return 0
