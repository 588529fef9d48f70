"""An alarm event in: validated, recorded durably for the alarm's ticket, then its job queued.

The HTTP intake (``POST /alarms/events``) and ``oceane-ticket event`` share this. The rule is the
producer's: the row is committed before the caller hears 202, so nothing accepted is lost; a job
that cannot be queued then is sent by the events sweep. An alarm without a ticket changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from oceane_ticket import jobs
from oceane_ticket.request import MAX_ALARM_VALUE, InputError, build_alarm, clean_text, external_id
from oceane_ticket.settings import Settings
from oceane_ticket.storage import alarm_events
from oceane_ticket.storage.alarm_events import EventAction, EventKind, EventState

log = logging.getLogger(__name__)


# The note id is "evt-" + the event id, and tickets' note ids are ours to keep short and plain.
EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,60}")
MAX_TEXT = 4000
MAX_SEVERITY = 64
MAX_USER = 255
KINDS = tuple(k.value for k in EventKind)
# The event ids of the clears the reconcile records (oceane_ticket/reconcile.py): "reconcile:<instance>",
# so every run finds the one it recorded before. Reserved: a caller's eventId may not start with it.
RECONCILE_PREFIX = "reconcile:"


@dataclass(frozen=True)
class AlarmEventIn:
    """One validated event."""

    dma_id: int
    element_id: int
    alarm_id: int
    kind: EventKind
    time: datetime | None
    severity: str | None
    value: str | None
    text: str | None
    user: str | None
    event_id: str | None  # the caller's; None: derived when recorded (event_id_for)

    @property
    def alarm(self) -> str:
        """``DMA/Element/Alarm``."""
        return external_id(self.dma_id, self.element_id, self.alarm_id)


@dataclass(frozen=True)
class Recorded:
    """What recording did: ``result`` is recorded, duplicate (known already) or no_ticket."""

    result: str
    event_id: str | None  # None: no ticket, and the caller gave none
    instance: str | None = None
    state: str | None = None
    action: str | None = None
    queued: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (snake_case; the intake camel-cases it)."""
        return {
            "result": self.result,
            "event_id": self.event_id,
            "instance": self.instance,
            "state": self.state,
            "action": self.action,
        }


def _opt(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(name, "must be a string or null")
    return value


def parse_time(value: str | None) -> datetime | None:
    """``time`` as an aware datetime (ISO 8601; without an offset it is UTC)."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError("time", "must be an ISO 8601 date and time, e.g. 2026-11-27T08:12:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def validate(raw: Mapping[str, Any]) -> AlarmEventIn:
    """Check every field (snake_case names); raises :class:`InputError` naming the first bad one."""
    alarm = build_alarm({**{k: raw.get(k) for k in ("dma_id", "element_id", "alarm_id")}, "element_name": "-"})
    kind = raw.get("event")
    if kind not in KINDS:
        raise InputError("event", "must be one of " + ", ".join(KINDS))
    time = parse_time(_opt(raw, "time"))
    severity = clean_text("severity", _opt(raw, "severity"), max_len=MAX_SEVERITY)
    value = clean_text("value", _opt(raw, "value"), max_len=MAX_ALARM_VALUE)
    text = clean_text("text", _opt(raw, "text"), max_len=MAX_TEXT, multiline=True)
    user = clean_text("user", _opt(raw, "user"), max_len=MAX_USER)
    if kind == EventKind.NOTE and not text:
        raise InputError("text", "is required for a note event")
    given = _opt(raw, "event_id")
    if given is not None and not EVENT_ID.fullmatch(given):
        raise InputError("event_id", "must be 1 to 60 characters of letters, digits and . _ : -")
    if given is not None and given.lower().startswith(RECONCILE_PREFIX):
        raise InputError("event_id", f"must not start with {RECONCILE_PREFIX!r} (the reconcile's own events)")
    return AlarmEventIn(
        alarm.dma_id, alarm.element_id, alarm.alarm_id, EventKind(kind), time, severity, value, text, user, given
    )


def event_id_for(event: AlarmEventIn, instance: str) -> str:
    """The caller's id, else one derived from the ticket request and the event's content.

    The request is part of it: the same clear sent twice for one ticket is one event, while the
    same words for the alarm's next ticket (after someone closed the first) are a new one.
    """
    if event.event_id is not None:
        return event.event_id
    stamp = None if event.time is None else event.time.astimezone(UTC).isoformat()
    parts = (instance, stamp, event.severity, event.value, event.text, event.user)
    return alarm_events.derive_event_id(event.dma_id, event.element_id, event.alarm_id, event.kind, parts)


def action_for(settings: Settings, kind: EventKind) -> EventAction:
    """What the settings make of an event: a note always notes; a clear and a change as configured."""
    if kind is EventKind.NOTE:
        return EventAction.NOTE
    if kind is EventKind.CLEARED:
        return EventAction(settings.on_alarm_cleared)
    return EventAction(settings.on_alarm_updated)


def record(
    settings: Settings,
    event: AlarmEventIn,
    redis: Any = None,
    now: datetime | None = None,
    *,
    instance: str | None = None,
) -> Recorded:
    """Record ``event`` for its alarm's ticket (committed on return), then queue its job.

    ``instance``: the ticket request it is for, when the caller knows (the reconcile); else the alarm's.

    Raises:
        sqlalchemy.exc.OperationalError: the database is down; nothing was recorded.
    """
    from oceane_ticket.storage import db

    now = now or datetime.now(UTC)
    action = action_for(settings, event.kind)
    state = EventState.SKIPPED if action is EventAction.NONE else EventState.PENDING
    with db.get_engine(settings.database_url).begin() as conn:
        if instance is None:
            instance = alarm_events.ticket_for_alarm(conn, event.dma_id, event.element_id, event.alarm_id)
        if instance is None:
            return Recorded("no_ticket", event.event_id)
        event_id = event_id_for(event, instance)
        values = {
            "event_id": event_id,
            "instance": instance,
            "dma_id": event.dma_id,
            "element_id": event.element_id,
            "alarm_id": event.alarm_id,
            "kind": event.kind.value,
            "action": action.value,
            "event_time": event.time or now,
            "severity": event.severity,
            "value": event.value,
            "text": event.text,
            "user": event.user,
            "received_at": now,
            "state": state.value,
            "attempts": 0,
            "retries_used": 0,
            "done_at": now if state is EventState.SKIPPED else None,
        }
        fresh = alarm_events.record(conn, values)
    if not fresh:
        return Recorded("duplicate", event_id, instance)
    queued = state is EventState.PENDING and enqueue(settings, instance, redis)
    return Recorded("recorded", event_id, instance, state.value, action.value, queued)


def enqueue(settings: Settings, instance: str, redis: Any = None) -> bool:
    """Queue the job that applies ``instance``'s pending events; False if Redis refused (the sweep sends it)."""
    try:
        if redis is None:
            from oceane_ticket import connections

            redis = connections.redis_client(settings, purpose="producer")
        message = jobs.task_message(jobs.TASK_APPLY_EVENTS, [instance], settings.queue)
        redis.lpush(settings.queue, json.dumps(message))
    except Exception as exc:  # recorded already: a lost job only delays the update
        log.warning("events job of %s not queued (the events sweep sends it): %s", instance, type(exc).__name__)
        return False
    return True
