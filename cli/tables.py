"""``oceane-ticket tickets`` and ``failed``: the connector's two tables (see :mod:`oceane_ticket.reports`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cli.common import OK, Add, is_database_outage, positive_int, print_json, unavailable
from oceane_ticket.statuses import Status

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``tickets`` and ``failed``."""
    p = add("tickets", run_tickets, "the Tickets table, newest first")
    _common(p)
    p.add_argument("--status", choices=[s.value for s in Status], help="only requests in this status")
    p.add_argument("--wide", action="store_true", help="every column (the default keeps what fits 80 columns readable)")
    _common(add("failed", run_failed, "the Failed Ticket Requests table, newest first"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=positive_int, default=50, help="at most this many rows (default 50)")
    parser.add_argument("--json", action="store_true", help="every column, as a JSON array")


def run_tickets(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket tickets [--limit N] [--status S] [--wide] [--json]``."""
    from oceane_ticket import reports

    status = Status(args.status) if args.status else None
    return _show(
        args,
        lambda: reports.ticket_rows(settings, args.limit, status),
        lambda rows: reports.tickets_table(rows, wide=args.wide),
    )


def run_failed(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket failed [--limit N] [--json]``."""
    from oceane_ticket import reports

    return _show(args, lambda: reports.failed_rows(settings, args.limit), reports.failed_table)


def _show(args: argparse.Namespace, fetch: Callable[[], list[Any]], table: Callable[[list[Any]], Any]) -> int:
    """Read the rows (a database outage is exit 4), then print them as JSON or as a table."""
    from oceane_ticket import reports

    try:
        rows = fetch()
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    if args.json:
        print_json(rows)
    else:
        reports.print_table(table(rows))
    return OK
