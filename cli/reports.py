"""What people look at: the connector's Tickets and Failed Ticket Requests tables.

The rows come from the database as dicts with the snake_case column names (what ``--json``
prints); the tables are rich tables drawn by :mod:`cli.rendering`. The default Tickets
view holds what an operator needs to find a ticket (ticket, alarm, element, status, created) and
keeps it whole at 80 columns; ``wide`` adds every other column.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from cli import rendering
from oceane_ticket.request import external_id
from oceane_ticket.storage.clock import iso
from oceane_ticket.storage.columns import FAILED_TICKET_REQUESTS_TABLE, TICKET_REPORT_COLUMNS

if TYPE_CHECKING:
    from rich.table import Table

    from oceane_ticket.settings import Settings
    from oceane_ticket.statuses import Status


# column -> header. NARROW: what an operator needs; values are short, so none is ever folded but
# the element name (it may be long: at 80 columns up to 18 characters stay on one line, the rest
# folds). WIDE: everything, for a wide terminal or a pipe.
NARROW_TICKET_COLUMNS = {
    "ticket_id": "Ticket ID",
    "alarm": "Alarm",
    "element_name": "Element",
    "status": "Status",
    "created": "Created (UTC)",
}
WIDE_TICKET_COLUMNS = {
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
    "writeback_state": "Write-back",
    "oceane_status": "Oceane Status",
    "ticket_url": "Ticket URL",
    "root_cause": "Root Cause",
}
# The Failed view at 80 columns: the instance whole (`retry INSTANCE` needs it) and the message.
NARROW_FAILED_COLUMNS = {
    "instance": "Instance",
    "attempt": "Attempt",
    "http_error_code": "HTTP",
    "app_error_code": "Code",
    "error_message": "Error Message",
}
FAILED_COLUMNS = {
    "instance": "Instance",
    "ticket_id": "Ticket ID",
    "http_error_code": "HTTP Error Code",
    "app_error_code": "App Error Code",
    "error_message": "Error Message",
    "error_description": "Error Description",
    "failed_at": "Failed At",
    "attempt": "Attempt",
    "final": "Final",
}
# Free text that may be long: folded within a bounded width instead of widening the table. Ids and
# URLs are never folded: a ticket URL broken over two lines is a broken link when copied.
_FOLDED = {"element_name", "root_cause", "error_message", "error_description"}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value


def ticket_rows(settings: Settings, limit: int, status: Status | None = None) -> list[dict[str, Any]]:
    """The Tickets table, newest first, as dicts with the snake_case column names."""
    from oceane_ticket.storage import db, reads

    with db.session(settings.database_url) as s:
        return [{c: _value(getattr(t, c)) for c in TICKET_REPORT_COLUMNS} for t in reads.list_tickets(s, limit, status)]


def failed_rows(settings: Settings, limit: int) -> list[dict[str, Any]]:
    """The Failed Ticket Requests table, newest first, as dicts with the snake_case column names."""
    from oceane_ticket.storage import db, reads

    with db.session(settings.database_url) as s:
        rows = []
        for failure, ticket_id in reads.list_failed(s, limit):
            row = {c: _value(getattr(failure, c)) for c in FAILED_TICKET_REQUESTS_TABLE}
            row["ticket_id"] = failure.ticket_id or ticket_id
            row["final"] = failure.final  # the attempt that gave up; earlier rows were retried
            rows.append(row)
        return rows


def _table(title: str, rows: list[dict[str, Any]], columns: dict[str, str]) -> Table:
    from rich import box
    from rich.table import Table

    # No outer edge and one space of padding (plus the blank separator): two characters between
    # columns, which is what lets the operator's columns fit 80.
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        min_width=len(title),  # an empty table keeps its title on one line (a terminal narrower still wraps it)
    )
    for name, header in columns.items():
        if name in _FOLDED:
            # At least the header's longest word: a header may wrap between words, never inside one.
            table.add_column(header, overflow="fold", max_width=60, min_width=max(map(len, header.split())))
        else:
            table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    return table


def tickets_table(rows: list[dict[str, Any]], *, wide: bool = False) -> Table:
    """The Tickets table: the operator's columns, or with ``wide`` every column."""
    shown = [
        row
        | {
            "alarm": external_id(row["dma_id"], row["element_id"], row["alarm_id"]),
            # To the minute, without the "T" and "Z" (the header says UTC): what the narrow view has room for.
            "created": (row["created_at"] or "")[:16].replace("T", " "),
        }
        for row in rows
    ]
    columns = WIDE_TICKET_COLUMNS if wide else NARROW_TICKET_COLUMNS
    hint = "" if wide else "; --wide for every column"
    return _table(f"Tickets ({len(rows)} shown, newest first{hint})", shown, columns)


def failed_table(rows: list[dict[str, Any]], *, wide: bool = False) -> Table:
    """The Failed Ticket Requests table: what fits 80 columns, or with ``wide`` every column."""
    columns = FAILED_COLUMNS if wide else NARROW_FAILED_COLUMNS
    hint = "" if wide else "; --wide for every column"
    return _table(f"Failed Ticket Requests ({len(rows)} shown, newest first{hint})", rows, columns)


def print_table(table: Table) -> None:
    """Print a table on stdout (a terminal's width; wide enough for every column in a pipe)."""
    rendering.console().print(table)
