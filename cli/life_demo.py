"""The ticket's life after the click, shown once by ``make run``: a note, a clear that resolves, the trail.

After the sample ticket is created, the demo sends what DataMiner's scripts would (an operator's
note, then the alarm's clear), waits for the worker to apply each in the sandbox, and prints the
ticket's history, whose last lines show Oceane's status written back (``oceane_status``), then where
that status goes on the alarm: the demo has no DataMiner, so unless ``OCEANE_ALARM_WRITER`` names one
it says what the alarm's ``Oceane Ticket Status`` would read.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from oceane_ticket.settings import Settings

WAIT = 30.0


def demo_overrides(settings: Settings) -> dict[str, Any]:
    """The demo's clear resolves the ticket, unless the operator chose otherwise."""
    return {} if settings.is_set("on_alarm_cleared") else {"on_alarm_cleared": "resolve"}


def _ended(settings: Settings, event_id: str) -> str | None:
    from oceane_ticket.storage import alarm_events, db

    with db.session(settings.database_url) as session:
        event = alarm_events.get(session, event_id)
    return None if event is None or event.state == alarm_events.EventState.PENDING.value else event.state


def _send(settings: Settings, alarm: dict[str, Any], event: str, **fields: Any) -> str | None:
    from oceane_ticket import events

    recorded = events.record(settings, events.validate({**alarm, "event": event, **fields}))
    print(f"alarm event {event}: {recorded.result} ({recorded.action}), event {recorded.event_id}", file=sys.stderr)
    deadline = time.monotonic() + WAIT
    while recorded.event_id and time.monotonic() < deadline:
        state = _ended(settings, recorded.event_id)
        if state is not None:
            print(f"  -> {state}", file=sys.stderr)
            return state
        time.sleep(0.2)
    print(f"  -> still pending after {WAIT:g} s (the worker's log says why)", file=sys.stderr)
    return None


def show_life(settings: Settings, status: Any) -> bool:
    """Send a note and a clear for the sample ticket, wait for each, print its history; whether all applied."""
    from cli.event import render_history
    from oceane_ticket.history import history
    from oceane_ticket.storage import db, reads

    alarm = {k: status.alarm[k] for k in ("dma_id", "element_id", "alarm_id")}
    note = _send(settings, alarm, "note", text="Field team dispatched to PAR-1", user="demo")
    clear = _send(settings, alarm, "cleared", value="Link up", user="demo")
    with db.session(settings.database_url) as session:
        entries = history(session, status.instance) or []
        row = reads.get(session, status.instance)
    print(f"history of request {status.instance}:")
    print(render_history(entries))
    oceane_status = row.oceane_status if row is not None else None
    if settings.alarm_writer == "none":
        print(
            f"alarm write-back: off (no DataMiner in the demo, OCEANE_ALARM_WRITER=none); with one, the alarm's "
            f"Oceane Ticket Status would now read {oceane_status or 'unknown'}",
            file=sys.stderr,
        )
    elif row is not None:
        print(f"alarm write-back ({settings.alarm_writer}): {row.writeback_state}", file=sys.stderr)
    return note == clear == "applied"
