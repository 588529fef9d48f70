"""Validate, record, enqueue: what happens when an operator clicks "Create Ticket".

Imports stay light on purpose (no Celery, SQLAlchemy, requests-oauthlib or HTTP client): this runs
once per click and its start-up is its latency.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oceane_ticket import connections, jobs
from oceane_ticket.request import (
    Alarm,
    AllowedValues,
    TicketDetails,
    TicketRequest,
    alarm_dict,
    build_alarm,
    build_details,
    format_time,
)
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import FINAL_STATUSES, Status
from oceane_ticket.storage import direct


class Unavailable(Exception):
    """Redis or the database could not be reached; nothing was recorded or queued."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail


@dataclass
class TicketStatus:
    """What the producer reports about an alarm's request (the ``--json`` object)."""

    instance: str
    status: str
    ticket_id: str | None
    ticket_url: str | None
    existing: bool
    alarm: dict[str, Any]
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, existing: bool) -> TicketStatus:
        """Build from a ``tickets`` row."""
        return cls(
            instance=row["instance"],
            status=row["status"],
            ticket_id=row.get("ticket_id"),
            ticket_url=row.get("ticket_url"),
            existing=existing,
            alarm={
                "dma_id": row["dma_id"],
                "element_id": row["element_id"],
                "alarm_id": row["alarm_id"],
                "element_name": row["element_name"],
                "alarm_value": row.get("alarm_value"),
                "root_time": format_time(row.get("root_time")),
            },
            error=row.get("error"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The flat JSON object the CLI prints."""
        data: dict[str, Any] = {
            "instance": self.instance,
            "status": self.status,
            "ticket_id": self.ticket_id,
            "ticket_url": self.ticket_url,
            "existing": self.existing,
            **self.alarm,
        }
        if self.error:
            data["error"] = self.error
        return data

    @property
    def final(self) -> bool:
        """Whether the request is created or failed."""
        return self.status in FINAL_STATUSES


def allowed_values(settings: Settings) -> AllowedValues:
    """The form's allowed values from settings."""
    return AllowedValues(
        priorities=settings.priorities,
        urgencies=settings.urgencies,
        technical_impacts=settings.technical_impacts,
        client_impacts=settings.client_impacts,
        description_max_length=settings.description_max_length,
    )


def validate(settings: Settings, alarm: Mapping[str, Any], details: Mapping[str, Any]) -> tuple[Alarm, TicketDetails]:
    """Validate raw input; raises :class:`oceane_ticket.request.InputError` naming the field."""
    return build_alarm(alarm), build_details(details, allowed_values(settings))


def _redis(settings: Settings) -> Any:
    import redis  # deferred: `lookup` and input errors never need it

    client = connections.redis_client(settings.redis_url, purpose="producer")
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Unavailable("redis", f"{type(exc).__name__} at {_where(settings.redis_url)}") from None
    return client


def _where(url: str) -> str:
    from oceane_ticket.settings import mask_url

    return str(mask_url(url))


def submit(settings: Settings, alarm: Alarm, details: TicketDetails) -> TicketStatus:
    """Record the request durably, then queue its job; or report the alarm's open request.

    Raises:
        Unavailable: Redis or the database is down. Nothing is left recorded or queued.
    """
    request = TicketRequest.new(
        uuid.uuid4().hex,
        alarm,
        details,
        oceane_user_id=settings.oceane_user_for(details.user),
        now=datetime.now(UTC),
    )
    instance = request.instance
    try:
        with direct.connect(settings.database_url) as conn:
            # The connector's first step: an alarm with an open request gets that one reported.
            row = direct.find_open(conn, alarm.dma_id, alarm.element_id, alarm.alarm_id)
            if row is not None:
                return TicketStatus.from_row(row, existing=True)
            redis = _redis(settings)  # before recording, so a down Redis leaves nothing behind
            try:
                # The unique index decides, not the read above: a racing caller that loses the
                # insert gets the winner's row.
                direct.insert_request(conn, request)
            except direct.DuplicateOpenRequest:
                row = direct.find_open(conn, alarm.dma_id, alarm.element_id, alarm.alarm_id)
                if row is None:  # the open one failed in between: the operator may try again
                    raise Unavailable("database", "the alarm's request changed meanwhile; try again") from None
                return TicketStatus.from_row(row, existing=True)
            try:
                jobs.enqueue_create(redis, instance, settings.queue, settings.stale_after)
            except Exception as exc:
                direct.delete_unstarted(conn, instance)
                raise Unavailable("redis", f"{type(exc).__name__} while queueing") from None
    except direct.DatabaseUnavailable as exc:
        raise Unavailable("database", str(exc)) from None
    return TicketStatus(instance, Status.QUEUED, None, None, existing=False, alarm=alarm_dict(alarm))


def lookup(settings: Settings, dma_id: int, element_id: int, alarm_id: int) -> TicketStatus | None:
    """The alarm's open request, else its newest one, else None."""
    try:
        with direct.connect(settings.database_url) as conn:
            row = direct.find_open(conn, dma_id, element_id, alarm_id) or direct.find_latest(
                conn, dma_id, element_id, alarm_id
            )
    except direct.DatabaseUnavailable as exc:
        raise Unavailable("database", str(exc)) from None
    return None if row is None else TicketStatus.from_row(row, existing=True)


def wait_for(settings: Settings, status: TicketStatus, timeout: float, poll: float = 0.2) -> TicketStatus:
    """Poll the database until the request is created or failed, or ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    current = status
    with direct.connect(settings.database_url) as conn:
        while not current.final and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            row = direct.get(conn, status.instance)
            if row is None:  # removed by retention: report what we last knew
                break
            current = TicketStatus.from_row(row, existing=status.existing)
    return current


def create_ticket(
    alarm: str | Mapping[str, Any],
    *,
    priority: str,
    urgency: str,
    technical_impact: str,
    client_impact: str | None = None,
    description: str | None = None,
    user: str | None = None,
    wait: float = 0.0,
    settings: Settings | None = None,
) -> TicketStatus:
    """The producer as a function (the CLI wraps it): validate, record, enqueue, optionally wait.

    ``alarm`` is the hyperlink's parameter string or a mapping of the alarm fields.

    Raises:
        InputError: invalid input, naming the field; nothing recorded or queued.
        Unavailable: Redis or the database is down; nothing recorded or queued.
    """
    from oceane_ticket.request import parse_alarm_params
    from oceane_ticket.settings import get_settings

    settings = settings or get_settings()
    raw_alarm = parse_alarm_params(alarm) if isinstance(alarm, str) else alarm
    details = {
        "priority": priority,
        "urgency": urgency,
        "technical_impact": technical_impact,
        "client_impact": client_impact,
        "description": description,
        "user": user,
    }
    valid_alarm, valid_details = validate(settings, raw_alarm, details)
    status = submit(settings, valid_alarm, valid_details)
    if wait > 0 and not status.final:
        try:
            status = wait_for(settings, status, wait)
        except direct.DatabaseUnavailable as exc:
            raise Unavailable("database", str(exc)) from None
    return status
