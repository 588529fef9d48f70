"""``oceane-ticket event`` (an alarm's clear, change or note for its ticket) and ``history`` (a ticket's trail).

``event`` exits 0 when the event is recorded (or was already), 1 when the alarm has no ticket
(nothing changes), 2 on bad input naming the field (nothing stored), 4 when the database is down.
``event --retry EVENT_ID`` sends a refused event again with a fresh budget.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cli.common import OK, PROBLEM, USAGE, Add, is_database_outage, print_json, unavailable

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``event`` and ``history``."""
    p = add("event", run_event, "record an alarm event (clear, change, note) for the alarm's ticket")
    p.add_argument(
        "--alarm", metavar="PARAMS", help="the hyperlink's parameters: 'DMA ID=..;Element ID=..;Alarm ID=..'"
    )
    p.add_argument("--dma-id")
    p.add_argument("--element-id")
    p.add_argument("--alarm-id", help="the alarm's root key")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--cleared", action="store_true", help="the alarm cleared")
    kind.add_argument("--updated", action="store_true", help="the alarm changed (severity, value)")
    kind.add_argument("--note", metavar="TEXT", help="an operator's note for the ticket")
    kind.add_argument("--retry", metavar="EVENT_ID", help="send a refused event again")
    p.add_argument("--severity")
    p.add_argument("--value")
    p.add_argument("--time", help="when it happened, ISO 8601 (default: now)")
    p.add_argument("--user", help="the DataMiner user")
    p.add_argument("--event-id", help="the caller's id for the event (default: derived from its content)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    h = add("history", run_history, "a ticket's audit trail: who asked, each event applied or refused, and when")
    h.add_argument("instance", help="the request's instance id")
    h.add_argument("--json", action="store_true", help="print one JSON object")


def _raw(args: argparse.Namespace) -> dict[str, Any]:
    from oceane_ticket.request import InputError, parse_alarm_params

    raw: dict[str, Any] = parse_alarm_params(args.alarm) if args.alarm else {}
    for name in ("dma_id", "element_id", "alarm_id"):
        if getattr(args, name) is not None:
            raw[name] = getattr(args, name)
    if not raw:
        raise InputError("alarm", "is required: give --alarm 'DMA ID=..;Element ID=..;Alarm ID=..' or the id flags")
    kind = "cleared" if args.cleared else "updated" if args.updated else "note" if args.note is not None else None
    if kind is None:
        raise InputError("event", "is required: give --cleared, --updated or --note TEXT")
    raw.update(
        event=kind,
        text=args.note,
        severity=args.severity,
        value=args.value,
        time=args.time,
        user=args.user,
        event_id=args.event_id,
    )
    return raw


def _refused(args: argparse.Namespace, field: str, message: str) -> int:
    text = f"{field.replace('_', '-')}: {message}"
    if args.json:
        print_json({"ok": False, "error": text, "field": field})
    else:
        print(f"oceane-ticket event: {text}", file=sys.stderr)
    return USAGE


def run_event(args: argparse.Namespace, settings: Settings) -> int:
    """Record one event, or re-send a refused one."""
    from oceane_ticket import events
    from oceane_ticket.request import InputError

    if args.retry is not None:
        return _run_retry(args, settings)
    try:
        event = events.validate(_raw(args))
    except InputError as exc:
        return _refused(args, exc.field, exc.message)
    try:
        recorded = events.record(settings, event)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    data = {"ok": recorded.result != "no_ticket", **recorded.as_dict()}
    if args.json:
        print_json(data)
    elif recorded.result == "no_ticket":
        print(f"alarm {event.alarm} has no ticket: nothing changes")
    else:
        print(f"event {recorded.event_id} {recorded.result} for request {recorded.instance} ({recorded.action})")
    return OK if recorded.result != "no_ticket" else PROBLEM


def _run_retry(args: argparse.Namespace, settings: Settings) -> int:
    return retry_events([args.retry], settings, as_json=args.json)


def retry_events(event_ids: list[str], settings: Settings, *, as_json: bool) -> int:
    """Make refused events pending again with a fresh budget and queue their jobs (``retry --event``).

    0 when every one was sent again, 1 when one was not refused (or unknown).
    """
    from oceane_ticket import events
    from oceane_ticket.storage import alarm_events, db

    results = []
    for event_id in event_ids:
        with db.session(settings.database_url) as session:
            event = alarm_events.requeue(session, event_id)
        if event is None:
            results.append({"event_id": event_id, "result": "not_refused", "instance": None})
            continue
        queued = events.enqueue(settings, event.instance)
        results.append(
            {"event_id": event_id, "result": "requeued" if queued else "not_queued", "instance": event.instance}
        )
    ok = all(r["result"] != "not_refused" for r in results)
    if as_json:
        print_json({"ok": ok, "events": results})
    else:
        for r in results:
            where = f" for request {r['instance']}" if r["instance"] else " (no refused event with this id)"
            print(f"event {r['event_id']}: {r['result']}{where}")
    return OK if ok else PROBLEM


def render_history(entries: list[Any]) -> str:
    """The trail as aligned text lines."""
    lines = []
    for e in entries:
        at = e.at.strftime("%Y-%m-%d %H:%M:%S") if e.at else "(pending)          "
        lines.append(f"{at}  {e.what:<22} {e.detail}")
    return "\n".join(lines)


def run_history(args: argparse.Namespace, settings: Settings) -> int:
    """Print one request's audit trail."""
    from oceane_ticket.history import history
    from oceane_ticket.storage import db

    try:
        with db.session(settings.database_url) as session:
            entries = history(session, args.instance)
    except Exception as exc:
        if is_database_outage(exc):
            return unavailable("database", exc, args.json)
        raise
    if entries is None:
        print_json({"ok": False, "error": "no such request"}) if args.json else print(
            "no such request", file=sys.stderr
        )
        return PROBLEM
    if args.json:
        print_json({"ok": True, "instance": args.instance, "history": [e.as_dict() for e in entries]})
    else:
        print(f"request {args.instance}")
        print(render_history(entries))
    return OK
