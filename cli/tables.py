"""``oceane-ticket tickets`` and ``failed``: the connector's two tables (see :mod:`oceane_ticket.reports`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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

    try:
        rows = reports.ticket_rows(settings, args.limit, Status(args.status) if args.status else None)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    if args.json:
        print_json(rows)
    else:
        reports.print_table(reports.tickets_table(rows, wide=args.wide))
    return OK


def run_failed(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket failed [--limit N] [--json]``."""
    from oceane_ticket import reports

    try:
        rows = reports.failed_rows(settings, args.limit)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    if args.json:
        print_json(rows)
    else:
        reports.print_table(reports.failed_table(rows))
    return OK
