"""``oceane-ticket status``: the connector's debug values.

The Ticket Queue Processing Lock (holder, request, since, time left) and the Pending Ticket
Creation Queue (Redis messages, unacked, queued/processing requests, the oldest), requests per
status and per write-back state, alarm events per state, the latest failure, and the tickets
"alarm gone, ticket open" with the reconcile's state and last run. The reading itself is
:mod:`oceane_ticket.queue_state`, shared with the metrics gauges.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cli.common import OK, UNAVAILABLE, Add, print_json
from oceane_ticket.statuses import Status

if TYPE_CHECKING:
    from rich.console import Console

    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``status``."""
    add("status", run, "the processing lock, the pending queue, requests per status, the latest failure").add_argument(
        "--json", action="store_true"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket status [--json]``: exit 0, or 4 when Redis or the database could not be read."""
    from cli import rendering
    from oceane_ticket import queue_state

    data = queue_state.collect_status(settings)
    code = UNAVAILABLE if data["errors"] else OK
    if args.json:
        print_json(data)
        return code
    console = rendering.console()
    _print_lock(console, data["lock"])
    _print_queue(console, data["queue"])
    if data["counts"] is not None:
        for title, header, counts in (
            ("Requests by status", "Status", data["counts"]),
            ("Requests by write-back state", "Write-back", data["writeback_counts"]),
            ("Alarm events by state", "Event", data.get("events", {}).get("counts") or {}),
        ):
            table = rendering.table(title, header, "Count")
            table.columns[1].justify = "right"
            table.min_width = 40  # the title on one line
            for name, count in counts.items():
                table.add_row(name, str(count))
            table.add_row("total", str(sum(counts.values())), style="bold")
            console.print(table)
        _print_failure(console, data["latest_failure"])
    _print_reconcile(console, data.get("events") or {})
    for error in data["errors"]:
        console.print(f"[bold red]{error}[/]")
    return code


def _print_lock(console: Console, lock: dict[str, Any]) -> None:
    from cli.rendering import duration, fields

    if lock["state"] == "held":
        rows = [
            ("State", "held"),
            ("Worker", lock["worker"]),
            ("Request", lock["instance"]),
            ("Since", f"{lock['since']} ({duration(lock['held_for_s'])} ago)"),
            ("Time left", duration(lock["ttl_s"])),
        ]
    else:
        rows = [("State", lock["state"])]
    if "alarm_locks_held" in lock:  # OCEANE_LOCK_SCOPE=alarm: the alarms' own locks
        rows.append(("Alarm locks held", str(lock["alarm_locks_held"])))
    console.print(fields("Ticket Queue Processing Lock", rows))


def _print_queue(console: Console, q: dict[str, Any]) -> None:
    from cli.rendering import duration, fields

    oldest = None
    if q.get("oldest_open_instance"):
        oldest = f"{q['oldest_open_instance']}, {duration(q['oldest_open_age_s'])} old (since {q['oldest_open_since']})"
    console.print(
        fields(
            "Pending Ticket Creation Queue",
            [
                ("Redis server", q.get("redis_server")),  # under Sentinel: the master it reached
                ("Redis queue", q["redis_queue"]),
                ("Messages waiting in Redis", q["redis_messages"]),
                ("Delivered, not acknowledged", q["redis_unacked"]),
                ("Requests queued (database)", q.get(Status.QUEUED)),
                ("Requests processing (database)", q.get(Status.PROCESSING)),
                ("Rule requests waiting for the cap", q.get("rule_requests_waiting")),
                ("Rule requests released, last minute", _released(q)),
                ("Oldest open request", oldest or ("none" if Status.QUEUED in q else None)),
            ],
        )
    )


def _print_reconcile(console: Console, events: dict[str, Any]) -> None:
    from cli.rendering import duration, fields

    block = events.get("reconcile") or {}
    every = duration(block.get("interval_s"))
    state = f"on, every {every}" if block.get("enabled") else f"off: {block.get('off_reason')}"
    rows: list[tuple[str, Any]] = [
        ("Alarm gone, ticket open", events.get("alarm_gone_ticket_open")),
        ("Reconcile", state),
    ]
    last = block.get("last_run")
    if last:
        rows.append(("Last run", last.get("at")))
        rows.append(
            (
                "Asked about",
                f"{last.get('checked', 0)}: {last.get('active', 0)} active, {last.get('gone', 0)} gone, "
                f"{last.get('unknown', 0)} unknown",
            )
        )
        for reason in last.get("reasons") or []:
            rows.append(("Unknown because", reason))
    elif block.get("enabled"):
        rows.append(("Last run", block.get("error", "none yet")))
    console.print(fields("Alarms and tickets (reconcile with DataMiner)", rows))


def _released(q: dict[str, Any]) -> str | None:
    """``N of CAP`` (the rule cap, OCEANE_AUTO_TICKETS_PER_MINUTE), ``N (no cap)``; None when unread."""
    released = q.get("rule_requests_released_last_minute")
    if released is None:
        return None
    cap = q.get("auto_tickets_per_minute") or 0
    return f"{released} of {cap}" if cap > 0 else f"{released} (no cap)"


def _print_failure(console: Console, failure: dict[str, Any] | None) -> None:
    from cli.rendering import fields

    if failure is None:
        console.print("Latest failure: none")
        return
    console.print(
        fields(
            "Latest failure",
            [
                ("Instance", failure["instance"]),
                ("Request now", failure["request_status"]),
                ("Ticket ID", failure["ticket_id"]),
                ("Failed at", failure["failed_at"]),
                ("Attempt", failure["attempt"]),
                ("HTTP error code", failure["http_error_code"]),
                ("App error code", failure["app_error_code"]),
                ("Error message", failure["error_message"]),
                ("Error description", failure["error_description"]),
            ],
        )
    )
