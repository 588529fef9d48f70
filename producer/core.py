"""Validate, record, enqueue: what happens when an operator clicks "Create Ticket".

Imports stay light on purpose (no Celery, SQLAlchemy, requests-oauthlib or HTTP client): this runs
once per click and its start-up is its latency. Connections stay open per process (:class:`Producer`,
:func:`shared_connections`), so repeated calls and the HTTP intake pay one round trip per statement,
not a connect and a handshake.

A little over 400 lines on purpose: the click's whole path (validate, record, hold or queue, wait)
stays in one module, and splitting it would make each click import one more.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oceane_ticket import connections, jobs
from oceane_ticket.request import (
    Alarm,
    AllowedValues,
    RequestRecord,
    TicketDetails,
    alarm_dict,
    build_alarm,
    build_details,
    format_time,
)
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import FINISHED_STATUSES, Origin, Status
from oceane_ticket.storage import direct
from producer import users

# A Redis that answered this recently is taken to be up without another ping (one round trip saved
# per request on a busy path); a failure in between is undone by removing the recorded row.
REDIS_TRUSTED_FOR = 2.0


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
        return self.status in FINISHED_STATUSES


def allowed_values(settings: Settings) -> AllowedValues:
    """The form's allowed values from settings."""
    return AllowedValues(
        priorities=settings.priorities,
        urgencies=settings.urgencies,
        technical_impacts=settings.technical_impacts,
        client_impacts=settings.client_impacts,
        description_max_length=settings.description_max_length,
    )


def held_by_cap(settings: Settings, origin: str) -> bool:
    """Whether a request of this origin waits for the rule cap's release instead of being sent now.

    Only a Correlation rule's, and only while ``OCEANE_AUTO_TICKETS_PER_MINUTE`` is set: an operator's
    click is never held, and with no cap (0) every request is sent at once, as before the cap existed.
    """
    return origin == Origin.RULE and settings.auto_tickets_per_minute > 0


def validate(settings: Settings, alarm: Mapping[str, Any], details: Mapping[str, Any]) -> tuple[Alarm, TicketDetails]:
    """Validate raw input; raises :class:`oceane_ticket.request.InputError` naming the field."""
    return build_alarm(alarm), build_details(details, allowed_values(settings))


def _redis(settings: Settings) -> Any:
    """A Redis client for ``settings.redis_url`` with its own connection pool (tests swap in fakeredis)."""
    return connections.redis_client(settings, purpose="producer")


def _where(url: str) -> str:
    from oceane_ticket.settings import mask_url

    return str(mask_url(url))


class Connections:
    """The producer's open connections: a database pool and one Redis client (redis-py pools its own).

    Opened lazily, kept until :meth:`close`, safe to share between threads.
    """

    def __init__(self, settings: Settings, redis_client: Any = None) -> None:
        self.db = direct.Pool(settings.database_url)
        self._settings = settings
        self._redis: Any = redis_client  # given: a test's fakeredis
        self._lock = threading.Lock()
        # When Redis last answered (monotonic seconds); see Producer._redis_for_write.
        self.redis_answered_at = 0.0

    def redis(self) -> Any:
        """The Redis client, made on first use."""
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    self._redis = _redis(self._settings)
        return self._redis

    def close(self) -> None:
        """Close the idle database connections and the Redis client's pool."""
        self.db.close()
        client, self._redis = self._redis, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a dead client's sockets may fail; nothing to do
                client.close()


# Process-wide connections for create_ticket() and the module functions, per (database, Redis).
# A few only: a process using more configurations than that (a test run) lets the oldest go to the
# garbage collector rather than closing them under a thread that may still use them.
_SHARED: OrderedDict[tuple[str, str], Connections] = OrderedDict()
_SHARED_MAX = 4
_SHARED_LOCK = threading.Lock()


def shared_connections(settings: Settings) -> Connections:
    """The process's open connections for these settings' database and Redis."""
    key = (settings.database_url, settings.redis_url)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = Connections(settings)
            while len(_SHARED) > _SHARED_MAX:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return found


def _forget_shared() -> None:
    # A forked child must not talk over its parent's sockets; it opens its own.
    _SHARED.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared)


class Producer:
    """Validate-record-enqueue over open connections: the warm path.

    ``create_ticket()`` uses one per call over the process's shared connections; the HTTP intake
    holds one for its lifetime. Methods block (database and Redis round trips) and are thread-safe.
    """

    def __init__(self, settings: Settings, connections: Connections | None = None) -> None:
        self.settings = settings
        self._owned = connections is None
        self.connections = connections or Connections(settings)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this producer opened itself (shared ones stay open)."""
        if self._owned:
            self.connections.close()

    def _ready_redis(self) -> Any:
        """The Redis client, pinged first (raises :class:`Unavailable` when Redis does not answer)."""
        import redis

        client = self.connections.redis()
        try:
            client.ping()
        except redis.RedisError as exc:
            raise Unavailable("redis", f"{type(exc).__name__} at {_where(self.settings.redis_url)}") from None
        self.connections.redis_answered_at = time.monotonic()
        return client

    def _redis_for_write(self) -> Any:
        """The Redis client, known to answer: pinged unless it answered within ``REDIS_TRUSTED_FOR``.

        The ping is what keeps a down Redis from leaving a row behind even for a moment; on a busy
        path (the intake, a loop of calls) the previous answer is that proof, and a failure in
        between is still undone by removing the row (:func:`direct.delete_unstarted`).
        """
        if time.monotonic() - self.connections.redis_answered_at < REDIS_TRUSTED_FOR:
            return self.connections.redis()
        return self._ready_redis()

    def ping(self) -> dict[str, str]:
        """``"ok"`` or what failed, for Redis and the database (the intake's ``/health``)."""
        result = {"redis": "ok", "database": "ok"}
        try:
            self._ready_redis()
        except Unavailable as exc:
            result["redis"] = exc.detail
        try:
            with self.connections.db.connection() as conn:
                conn.execute("SELECT 1").fetchone()
        except direct.DatabaseUnavailable as exc:
            result["database"] = str(exc)
        return result

    def submit(self, alarm: Alarm, details: TicketDetails) -> TicketStatus:
        """Record the request durably, then queue its job; or report the alarm's open request.

        Round trips on the warm path: one INSERT (which also resolves the user's Oceane ID and
        yields to an open request) and one Redis transaction. A Correlation rule's request under
        ``OCEANE_AUTO_TICKETS_PER_MINUTE`` is only recorded, held: the release task (worker side)
        sends its job within the cap, so a storm waits in the database, durable, and never in
        front of an operator's click. It needs no Redis here, so it costs the INSERT alone.

        Raises:
            InputError: the user has no Oceane User ID and ``OCEANE_REQUIRE_USER_MAPPING`` is true.
            Unavailable: Redis or the database is down. Nothing is left recorded or queued.
        """
        settings = self.settings
        # The default Oceane user; the INSERT takes the user's mapping from oceane_users when there
        # is one. Resolved now and stored with the request: the worker sends what was true at the click.
        request = RequestRecord.new(
            uuid.uuid4().hex, alarm, details, oceane_user_id=settings.user_id, now=datetime.now(UTC)
        )
        held = held_by_cap(settings, details.origin)
        try:
            with self.connections.db.connection() as conn:
                if settings.require_user_mapping:
                    users.resolve(conn, settings, details.user)  # refuses an unmapped user
                found = self._record(conn, request, users.user_key(details.user), held)
        except direct.DatabaseUnavailable as exc:
            raise Unavailable("database", str(exc)) from None
        if found is not None:
            return found
        return TicketStatus(request.instance, Status.QUEUED, None, None, existing=False, alarm=alarm_dict(alarm))

    def _record(
        self, conn: direct.Connection, request: RequestRecord, user_key: str | None, held: bool
    ) -> TicketStatus | None:
        """Insert and (unless held) queue the request; the alarm's open request instead, if it has one."""
        redis = None
        if not held:
            try:
                redis = self._redis_for_write()  # before recording: a down Redis leaves nothing behind
            except Unavailable:
                # The connector's first step stands even then: an open request is reported.
                row = direct.find_open(conn, request.dma_id, request.element_id, request.alarm_id)
                if row is not None:
                    return TicketStatus.from_row(row, existing=True)
                raise
        # The unique index decides, not a read before: concurrent callers for one alarm all
        # get the one request that won.
        if not direct.insert_unless_open(conn, request, user_key, held=held):
            row = direct.find_open(conn, request.dma_id, request.element_id, request.alarm_id)
            if row is None:  # the open one failed in between: the operator may try again
                raise Unavailable("database", "the alarm's request changed meanwhile; try again")
            return TicketStatus.from_row(row, existing=True)
        if redis is None:
            return None  # held: the release sends its job within the cap
        try:
            jobs.enqueue_create(redis, request.instance, self.settings.queue, self.settings.stale_after)
        except Exception as exc:
            self.connections.redis_answered_at = 0.0
            direct.delete_unstarted(conn, request.instance)
            raise Unavailable("redis", f"{type(exc).__name__} while queueing") from None
        self.connections.redis_answered_at = time.monotonic()
        return None

    def lookup(self, dma_id: int, element_id: int, alarm_id: int) -> TicketStatus | None:
        """The alarm's open request, else its newest one, else None."""
        try:
            with self.connections.db.connection() as conn:
                row = direct.find_open(conn, dma_id, element_id, alarm_id) or direct.find_latest(
                    conn, dma_id, element_id, alarm_id
                )
        except direct.DatabaseUnavailable as exc:
            raise Unavailable("database", str(exc)) from None
        return None if row is None else TicketStatus.from_row(row, existing=True)

    def get(self, instance: str, *, existing: bool = True) -> TicketStatus | None:
        """One request by instance, or None (never made, or removed by retention)."""
        try:
            with self.connections.db.connection() as conn:
                row = direct.get(conn, instance)
        except direct.DatabaseUnavailable as exc:
            raise Unavailable("database", str(exc)) from None
        return None if row is None else TicketStatus.from_row(row, existing=existing)

    def wait_for(self, status: TicketStatus, timeout: float, poll: float = 0.2) -> TicketStatus:
        """Poll the database until the request is created or failed, or ``timeout`` runs out.

        Blocks its thread; the intake polls with :meth:`get` between asynchronous sleeps instead.
        """
        deadline = time.monotonic() + timeout
        current = status
        while not current.final and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            found = self.get(status.instance, existing=status.existing)
            if found is None:  # removed by retention: report what we last knew
                break
            current = found
        return current

    def create_ticket(
        self, raw_alarm: Mapping[str, Any], details: Mapping[str, Any], *, wait: float = 0.0
    ) -> TicketStatus:
        """Validate, record, enqueue, optionally wait (see :func:`create_ticket`)."""
        valid_alarm, valid_details = validate(self.settings, raw_alarm, details)
        status = self.submit(valid_alarm, valid_details)
        if wait > 0 and not status.final:
            status = self.wait_for(status, wait)
        return status


def submit(settings: Settings, alarm: Alarm, details: TicketDetails) -> TicketStatus:
    """:meth:`Producer.submit` over the process's shared connections."""
    return Producer(settings, shared_connections(settings)).submit(alarm, details)


def lookup(settings: Settings, dma_id: int, element_id: int, alarm_id: int) -> TicketStatus | None:
    """The alarm's open request, else its newest one, else None."""
    return Producer(settings, shared_connections(settings)).lookup(dma_id, element_id, alarm_id)


def wait_for(settings: Settings, status: TicketStatus, timeout: float, poll: float = 0.2) -> TicketStatus:
    """Poll the database until the request is created or failed, or ``timeout`` runs out."""
    return Producer(settings, shared_connections(settings)).wait_for(status, timeout, poll)


def create_ticket(
    alarm: str | Mapping[str, Any],
    *,
    priority: str,
    urgency: str,
    technical_impact: str,
    client_impact: str | None = None,
    description: str | None = None,
    user: str | None = None,
    origin: str | None = None,
    wait: float = 0.0,
    settings: Settings | None = None,
) -> TicketStatus:
    """The producer as a function (the CLI wraps it): validate, record, enqueue, optionally wait.

    ``alarm`` is the hyperlink's parameter string or a mapping of the alarm fields; ``origin`` is
    ``operator`` (the default) or ``rule`` (a Correlation rule's: held by the rule cap, if one is set).

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
        "origin": origin,
    }
    return Producer(settings, shared_connections(settings)).create_ticket(raw_alarm, details, wait=wait)
