"""``oceane-ticket tickets`` and ``failed``: the connector's two tables (see :mod:`cli.reports`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cli.common import OK, Add, is_database_outage, positive_int, print_json, unavailable
from oceane_ticket.statuses import Status

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``tickets`` and ``failed``."""
    p = add("tickets", run_tickets, "the Tickets table, newest first")
    _common(p)
    p.add_argument("--status", choices=[s.value for s in Status], help="only requests in this status")
    _common(add("failed", run_failed, "the Failed Ticket Requests table, newest first"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=positive_int, default=50, help="at most this many rows (default 50)")
    parser.add_argument("--json", action="store_true", help="every column, as a JSON array")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="every column (the default keeps what fits 80 columns readable; "
        "a terminal too narrow for them gets one block per row)",
    )


def run_tickets(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket tickets [--limit N] [--status S] [--wide] [--json]``."""
    from cli import reports

    status = Status(args.status) if args.status else None
    return _show(
        args,
        lambda: reports.ticket_rows(settings, args.limit, status),
        lambda rows: reports.tickets_table(rows, wide=args.wide),
    )


def run_failed(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket failed [--limit N] [--json]``."""
    from cli import reports

    return _show(
        args, lambda: reports.failed_rows(settings, args.limit), lambda rows: reports.failed_table(rows, wide=args.wide)
    )


def _show(args: argparse.Namespace, fetch: Callable[[], list[Any]], table: Callable[[list[Any]], Any]) -> int:
    """Read the rows (a database outage is exit 4), then print them as JSON or as a table."""
    from cli import rendering

    try:
        rows = fetch()
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    if args.json:
        print_json(rows)
    else:
        print_view(table(rows), rendering.console(), wide=args.wide)
    return OK


def print_view(table: Table, console: Console, *, wide: bool = False) -> None:
    """Print ``table``; a ``wide`` one too wide for the console as one block per row instead.

    The default views fit 80 columns by folding their free text; the wide ones cannot.

    A table squeezed below its columns' natural width cuts or folds every value (``tickets --wide``
    at 80 columns was mostly ``…``); one block per row, a field on each line, keeps every value readable.
    """
    from rich.measure import Measurement

    # Measured as if the console had no edge: rich clamps a measurement to the console's width.
    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    if not wide or natural <= console.width:
        console.print(table)
    elif not table.row_count:
        console.print(table.title)  # "... (0 shown ...)": headers cut to "…" would say nothing more
    else:
        console.print(records(table))


def records(table: Table) -> Table:
    """``table`` as one Field/Value block per row, under the table's title."""
    from rich import box
    from rich.table import Table

    headers = [str(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    out = Table(title=table.title, title_justify="left", box=box.SIMPLE, show_header=False, show_edge=False)
    out.add_column(no_wrap=True, style="bold")
    out.add_column(overflow="fold")
    for index in range(table.row_count):
        if index:
            out.add_section()
        for header, column in zip(headers, cells, strict=True):
            out.add_row(header, column[index])
    return out
