"""The operator's repairs: ``cleanup`` (retention now), ``retry`` (failed requests), ``sweep`` (lost jobs).

Beat runs cleanup and sweep on a schedule; these commands run them now. The work itself lives
where it belongs: retention in the storage layer, retry in the producer, the sweep in the worker.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.common import OK, PROBLEM, USAGE, Add, is_database_outage, print_json, unavailable

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``cleanup``, ``retry`` and ``sweep``."""
    p = add("cleanup", run_cleanup, "apply the retention limits now (celery beat runs this on a schedule)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.add_argument("--json", action="store_true")

    p = add("retry", run_retry, "re-queue failed requests as a new attempt on the same instance")
    p.add_argument("instances", nargs="*", metavar="INSTANCE", help="the failed request's instance id")
    p.add_argument(
        "--all-failed", action="store_true", help="each alarm's newest failed request, if the alarm has no open request"
    )
    p.add_argument(
        "--writeback", action="store_true", help="re-send tickets' alarm write-back (--all-failed: failed ones)"
    )
    p.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="EVENT_ID",
        help="send a refused alarm event again (cli/event.py)",
    )
    p.add_argument("--json", action="store_true")

    add("sweep", run_sweep, "re-enqueue open requests whose job may be lost (beat runs this)")


def run_cleanup(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket cleanup [--dry-run] [--json]``."""
    from cli import rendering
    from oceane_ticket.storage import retention

    try:
        result = retention.cleanup(settings, dry_run=args.dry_run)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    data = result.as_dict()
    if args.json:
        print_json(data)
        return OK
    verb = "Would remove" if result.dry_run else "Removed"
    table = rendering.table("Cleanup (dry run: nothing removed)" if result.dry_run else "Cleanup", "", "Count")
    table.columns[1].justify = "right"
    table.add_row(
        f"{verb}: tickets older than {result.retention_days} days (created before {data['cutoff']})",
        str(result.expired),
    )
    table.add_row(f"{verb}: tickets beyond the newest {result.max_count}", str(result.over_limit))
    table.add_row(f"{verb}: their failed ticket requests", str(result.failed_requests))
    table.add_row("Tickets kept", str(result.kept))
    table.add_row("Open requests (queued or processing, never removed)", str(result.open_requests))
    rendering.console().print(table)
    return OK


def run_retry(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket retry INSTANCE...`` / ``--all-failed``: 0 when every request was re-queued."""
    import redis as redis_lib

    from cli import rendering
    from oceane_ticket import connections
    from producer import retry

    if args.event and not (args.instances or args.all_failed):
        from cli.event import retry_events

        return retry_events(args.event, settings, as_json=args.json)
    if bool(args.instances) == bool(args.all_failed):
        print("oceane-ticket retry: give instance ids or --all-failed (not both)")
        return USAGE
    client = connections.redis_client(settings, purpose="command")
    try:
        client.ping()  # before touching the database: a request re-queued without its job waits for the sweep
    except redis_lib.RedisError as exc:
        return unavailable("redis", exc, args.json)
    try:
        instances = list(args.instances)
        if args.all_failed:
            from oceane_ticket.storage import db, reads, writebacks

            with db.session(settings.database_url) as s:
                instances = writebacks.failed_writebacks(s) if args.writeback else reads.retryable_failed(s)
        if args.writeback:
            results = retry.retry_writeback(settings, instances, client)
        else:
            results = retry.retry(settings, instances, client)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    finally:
        client.close()
    requeued = sum(1 for r in results if r["result"] == retry.REQUEUED)
    if args.json:
        print_json({"requeued": requeued, "results": results})
    elif not results:
        print("no failed request to retry")
    else:
        table = rendering.table(f"Retry: {requeued} of {len(results)} re-queued", "Instance", "Result", "Detail")
        for r in results:
            style = "green" if r["result"] == retry.REQUEUED else "bold red"
            table.add_row(r["instance"], f"[{style}]{r['result']}[/]", r["detail"])
        rendering.console().print(table)
    return OK if requeued == len(results) else PROBLEM


def run_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket sweep``: what beat's ``oceane.sweep`` does, now."""
    import redis as redis_lib

    from oceane_ticket import connections
    from worker.sweep import sweep

    client = connections.redis_client(settings, purpose="command")
    try:
        sent = sweep(settings, client)
    except redis_lib.RedisError as exc:
        return unavailable("redis", exc, False)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, False)
        raise
    finally:
        client.close()
    print(f"re-enqueued {len(sent)} request(s)" + (": " + ", ".join(sent) if sent else ""))
    return OK
