"""Reconciling open tickets with DataMiner: a clear that never reached us still reaches the ticket.

A clear is sent by a Correlation rule or a script (``POST /alarms/events``); if the rule was off or the
intake was down, the ticket would stay open forever and nobody would know. Beat runs :func:`run` every
``OCEANE_RECONCILE_INTERVAL`` seconds: it takes the open tickets (created, Oceane's status not final)
whose alarm has no known clear, asks DataMiner which alarms of each element are active
(oceane_ticket/alarm_state.py: Web Services v1 ``GetElement`` and ``GetActiveAlarmsForElement``), and for
each alarm DataMiner no longer lists it records a ``cleared`` event through the one event path
(oceane_ticket/events.py), whose id is ``reconcile:<instance>``.

**Reconcile, and show.** Which of the two the issue asked: both, for different reasons. Reconcile,
because a clear found is a clear: as an event it follows ``OCEANE_ON_ALARM_CLEARED`` like any other
(nothing, a note, resolve), with the exactly-once rules, the retries, the Failed Ticket Requests rows
and the audit trail (``history``) of a real one, rather than a second way of changing tickets. And show,
because whatever that policy is (``none`` by default: the connector never touched a ticket on a clear),
``status`` and the metrics count the tickets "alarm gone, ticket open": a known clear (a real event or
the reconcile's) while Oceane's status is not final. Showing alone would have left someone to compare
DataMiner's Alarm Console with the Tickets table by hand.

Exactly once: the event id is the ticket request's, so the next run (or two runs at once) finds it
recorded; a ticket with a known clear is not asked about again; and a real clear beside the
reconcile's (either first) changes the ticket once: the second is applied as ``already_cleared``
(worker/events.py), an alarm tree clearing only once in DataMiner.

Proof only: DataMiner unreachable, a fault, an element it does not name or that is not active, an
answer we cannot read: nothing is recorded, and the tickets are counted ``unknown`` in the run's
summary (``status``, the metrics). With ``OCEANE_ALARM_WRITER=none`` (no DataMiner account) or ``udapi``
(no documented way for a User-Defined API to list active alarms) the reconcile is off and ``status``
says why. No Celery here (worker/event_tasks.py schedules it).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from oceane_ticket import events, keys
from oceane_ticket.alarm_state import AlarmStateReader, AlarmStateUnknown, unavailable_reason
from oceane_ticket.settings import Settings
from oceane_ticket.storage import alarm_events
from oceane_ticket.storage.alarm_events import EventKind, OpenAlarm

log = logging.getLogger(__name__)

# Open tickets asked about per run; the next run goes on after the last one (keys.RECONCILE_LAST).
BATCH = 500
# Reasons kept in the summary (the first ones: enough to act on, never a growing value).
MAX_REASONS = 5
NOTE = "DataMiner no longer lists the alarm as active (found by the reconcile; its clear never reached us)"


def event_id(instance: str) -> str:
    """The id of the clear the reconcile records for one ticket request: one per ticket, ever."""
    return events.RECONCILE_PREFIX + instance


@dataclass
class Summary:
    """One run: tickets asked about, and what DataMiner said of their alarms."""

    at: str
    checked: int = 0
    active: int = 0
    gone: int = 0  # DataMiner no longer lists the alarm: a clear recorded (or found recorded)
    unknown: int = 0  # DataMiner could not say: nothing done
    recorded: int = 0  # clears this run recorded (gone minus those a concurrent run or a repeat had)
    reasons: list[str] = field(default_factory=list)
    cursor: str = ""  # the next run starts after this instance ("": from the first)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (what ``status --json`` shows)."""
        return asdict(self)


def run(
    settings: Settings, reader: AlarmStateReader, redis: Any, now: datetime | None = None, batch: int = BATCH
) -> Summary:
    """One reconcile pass; the summary is also kept in Redis for ``status`` and the metrics.

    Raises:
        sqlalchemy.exc.OperationalError: the database is down (nothing recorded by this pass's rest).
    """
    from oceane_ticket.storage import db

    now = now or datetime.now(UTC)
    previous = last_run(redis) or {}
    after = str(previous.get("cursor") or "")
    with db.get_engine(settings.database_url).connect() as conn:
        candidates = alarm_events.reconcile_candidates(conn, after, batch)
    summary = Summary(at=now.isoformat(), cursor=candidates[-1].instance if len(candidates) >= batch else "")
    by_element: dict[tuple[int, int], list[OpenAlarm]] = defaultdict(list)
    for ticket in candidates:
        by_element[(ticket.dma_id, ticket.element_id)].append(ticket)
    for (dma_id, element_id), tickets in by_element.items():
        summary.checked += len(tickets)
        try:
            active = reader.active_alarm_ids(dma_id, element_id)
        except AlarmStateUnknown as exc:
            summary.unknown += len(tickets)
            if len(summary.reasons) < MAX_REASONS:
                summary.reasons.append(str(exc)[:300])
            continue
        for ticket in tickets:
            if ticket.alarm_id in active:
                summary.active += 1
            else:
                summary.gone += 1
                summary.recorded += _record_clear(settings, ticket, redis, now)
    _keep(redis, summary)
    if summary.checked:
        log.info(
            "reconcile: %d open tickets asked about, %d active, %d gone (%d cleared events recorded), %d unknown",
            summary.checked,
            summary.active,
            summary.gone,
            summary.recorded,
            summary.unknown,
        )
    return summary


def _record_clear(settings: Settings, ticket: OpenAlarm, redis: Any, now: datetime) -> bool:
    event = events.AlarmEventIn(
        ticket.dma_id,
        ticket.element_id,
        ticket.alarm_id,
        EventKind.CLEARED,
        time=now,
        severity=None,
        value=None,
        text=NOTE,
        user=None,
        event_id=event_id(ticket.instance),
    )
    recorded = events.record(settings, event, redis=redis, now=now, instance=ticket.instance)
    return recorded.result == "recorded"


def _keep(redis: Any, summary: Summary) -> None:
    try:
        redis.set(keys.RECONCILE_LAST, json.dumps(summary.as_dict()))
    except Exception as exc:  # the events are recorded; only the summary (and the rotation) is lost
        log.warning("reconcile summary not kept in Redis: %s", type(exc).__name__)


def last_run(redis: Any) -> dict[str, Any] | None:
    """The last run's summary, None when there was none (or Redis lost it)."""
    raw = redis.get(keys.RECONCILE_LAST)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def status_block(settings: Settings, redis: Any) -> dict[str, Any]:
    """The ``reconcile`` block of ``status --json``: on or off (and why), the interval, the last run."""
    reason = unavailable_reason(settings)
    block: dict[str, Any] = {
        "enabled": reason is None,
        "off_reason": reason,
        "interval_s": settings.reconcile_interval,
        "last_run": None,
    }
    try:
        block["last_run"] = last_run(redis)
    except Exception as exc:
        block["error"] = f"redis unavailable: {type(exc).__name__}"
    return block
